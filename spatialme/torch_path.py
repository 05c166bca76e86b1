"""The device path: stage-one geometry (warp, disparity expansion) as torch kernels on a chunk.

Why
---
On CUDA the pipeline should upload a chunk once and keep the per-pixel work there; the CPU
versions (a numba row scan for the warp, OpenCV Canny + dilation for Algorithm 1) would
each make the GPU wait for a host round trip per frame. These functions take ``(T, ...)``
tensors on any device and reproduce the CPU path:

* :func:`warp_clip`: the forward warp (:func:`spatialme.warp.forward_warp_torch`, the
  suffix-minimum z-buffer) on a whole chunk, with the CPU kernel's uint8 rounding
  (``floor(v + 0.5)``), so holes are identical and colours within a grey level.
* :func:`canny`: OpenCV's Canny (3x3 Sobel with replicated borders, L2 magnitude compared
  squared against the floored squared thresholds, non-maximum suppression in four sectors
  split at 22.5 and 67.5 degrees with OpenCV's tie rules, hysteresis over 8-neighbours),
  written with convolutions, comparisons and a max-pool flood fill.
* :func:`expand_disparity`: Algorithm 1 (paper Sec. III-B) as the CPU path computes it
  (:mod:`spatialme.inpaint.expand`): trigger pixels from Canny and the ``lambda`` jump test,
  then one ``2k x 2k`` grey dilation as a max-pool.

The tests (``tests/test_torch_path.py``) run these on CPU tensors against the CPU path, so
the code that runs on CUDA is checked on any machine.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .inpaint.expand import ExpandConfig
from .warp import WarpConfig, forward_warp_torch

__all__ = ["TorchWarp", "canny", "expand_disparity", "expansion_triggers", "to_clip", "to_numpy_clip", "warp_clip"]

#: ``tan(22.5 deg)`` in OpenCV's 15-bit fixed point (its Canny sector test).
_TG22 = 13573


def to_clip(frames: np.ndarray, device: str | torch.device) -> torch.Tensor:
    """``(T, H, W, 3) uint8`` numpy -> ``(T, 3, H, W) float32`` in 0-255 on ``device`` (one upload)."""
    return torch.from_numpy(np.ascontiguousarray(frames)).to(device).permute(0, 3, 1, 2).float()


def to_numpy_clip(frames: torch.Tensor) -> np.ndarray:
    """``(T, 3, H, W)`` 0-255 tensor (already rounded) -> ``(T, H, W, 3) uint8`` numpy."""
    return frames.clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous().cpu().numpy()


@dataclass
class TorchWarp:
    """:func:`warp_clip` output, tensors on the input's device.

    Attributes:
        image: ``(T, 3, H, W) float32`` warped right view, integer grey levels 0-255, holes 0.
        hole_mask: ``(T, H, W) bool``.
        disparity: ``(T, H, W) float32`` warped disparity px, 0 in holes.
    """

    image: torch.Tensor
    hole_mask: torch.Tensor
    disparity: torch.Tensor


def warp_clip(left: torch.Tensor, disparity: torch.Tensor, config: WarpConfig = WarpConfig()) -> TorchWarp:
    """Forward-warp a chunk on its device, rounded as the CPU kernel rounds uint8.

    Args:
        left: ``(T, 3, H, W) float32`` left view in grey levels 0-255 (:func:`to_clip`).
        disparity: ``(T, H, W) float32`` left-view disparity px.
        config: warp settings.
    """
    warped, holes, wdisp = forward_warp_torch(left, disparity, config)
    return TorchWarp(torch.floor(warped + 0.5).clamp_(0, 255), holes, wdisp)


def _sobel(img: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """3x3 Sobel ``dx``, ``dy`` of ``(T, H, W)`` float images, borders replicated (as OpenCV's Canny)."""
    pad = F.pad(img[:, None], (1, 1, 1, 1), mode="replicate")
    kx = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]], device=img.device)
    kernels = torch.stack([kx, kx.T])[:, None]
    grad = F.conv2d(pad, kernels)
    return grad[:, 0], grad[:, 1]


def _shift(values: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """``out[y, x] = values[y + dy, x + dx]`` with 0 beyond the frame (OpenCV's zero magnitude border)."""
    h, w = values.shape[-2:]
    padded = F.pad(values, (1, 1, 1, 1))
    return padded[..., 1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w]


def canny(image: torch.Tensor, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
    """OpenCV ``Canny(image, low, high, L2gradient=True)`` on ``(T, H, W)`` 8-bit-valued tensors.

    Args:
        image: ``(T, H, W) float32`` integer grey levels 0-255.
        low, high: ``(T,)`` hysteresis thresholds on the gradient magnitude (float64).

    Returns:
        ``(T, H, W) bool`` edges.
    """
    dx, dy = _sobel(image)
    ix, iy = dx.to(torch.int64), dy.to(torch.int64)
    mag = ix * ix + iy * iy  # exact: |dx|, |dy| <= 1020
    lo = torch.floor(low.to(torch.float64) ** 2).to(torch.int64)[:, None, None]
    hi = torch.floor(high.to(torch.float64) ** 2).to(torch.int64)[:, None, None]
    ax, ay = ix.abs(), iy.abs() << 15
    tg22x = ax * _TG22
    tg67x = tg22x + (ax << 16)
    horizontal = ay < tg22x
    vertical = ~horizontal & (ay > tg67x)
    diagonal = ~horizontal & ~vertical
    s = torch.where((ix ^ iy) < 0, -1, 1)
    keep_h = (mag > _shift(mag, 0, -1)) & (mag >= _shift(mag, 0, 1))
    keep_v = (mag > _shift(mag, -1, 0)) & (mag >= _shift(mag, 1, 0))
    # diagonal: previous row at x - s, next row at x + s
    keep_d = torch.where(s < 0, (mag > _shift(mag, -1, 1)) & (mag > _shift(mag, 1, -1)), (mag > _shift(mag, -1, -1)) & (mag > _shift(mag, 1, 1)))
    maximum = (mag > lo) & ((horizontal & keep_h) | (vertical & keep_v) | (diagonal & keep_d))
    edges = maximum & (mag > hi)
    # hysteresis: grow the strong edges through 8-connected weak maxima until nothing changes
    weak = maximum.float()[:, None]
    grown = edges.float()[:, None]
    while True:
        for _ in range(16):
            grown = F.max_pool2d(grown, 3, stride=1, padding=1) * weak
        nxt = F.max_pool2d(grown, 3, stride=1, padding=1) * weak
        if torch.equal(nxt, grown):
            return grown[:, 0] > 0
        grown = nxt


def expansion_triggers(disparity: torch.Tensor, radius: int, threshold: float) -> torch.Tensor:
    """Trigger map of Algorithm 1 (:func:`spatialme.inpaint.expand.expansion_triggers`).

    Args:
        disparity: ``(T, H, W) float32`` px.
        radius: ``k`` px.
        threshold: ``lambda`` px.

    Returns:
        ``(T, H, W) bool``.
    """
    h, w = disparity.shape[1:]
    lo = disparity.amin(dim=(1, 2)).to(torch.float64)
    hi = disparity.amax(dim=(1, 2)).to(torch.float64)
    span = hi - lo
    flat = span <= threshold
    scale = torch.where(flat, torch.ones_like(span), 255.0 / torch.where(flat, torch.ones_like(span), span))
    img8 = torch.round((disparity - lo.to(torch.float32)[:, None, None]) * scale.to(torch.float32)[:, None, None])
    strong = 2.0 * threshold * scale
    trig = canny(img8, strong / 2.0, strong) & ~flat[:, None, None]
    jump = torch.zeros_like(disparity)
    jump[:, :, 1:-1] = disparity[:, :, :-2] - disparity[:, :, 2:]
    trig &= jump > threshold
    inner = torch.zeros((h, w), dtype=torch.bool, device=disparity.device)
    inner[radius : h - radius, radius : w - radius] = True
    return trig & inner


def expand_disparity(disparity: torch.Tensor, config: ExpandConfig = ExpandConfig()) -> torch.Tensor:
    """Algorithm 1 on a ``(T, H, W) float32`` disparity chunk (px) on its device; same shape out."""
    t, h, w = disparity.shape
    radius = config.radius_for(w)
    if 2 * radius >= min(h, w):
        return disparity.clone()
    trig = expansion_triggers(disparity, radius, config.threshold)
    floor = (disparity.amin(dim=(1, 2)) - 1.0)[:, None, None]
    left = torch.cat([disparity[:, :, :1], disparity[:, :, :-1]], dim=2)
    values = torch.where(trig, left, floor.expand_as(disparity))
    # a trigger at row i reaches rows i - k .. i + k - 1 (and the same for columns), as
    # the CPU path's dilation with anchor k - 1 does: pad k - 1 before and k after (-inf:
    # beyond the frame nothing spreads)
    padded = F.pad(values[:, None], (radius - 1, radius, radius - 1, radius), value=float("-inf"))
    spread = F.max_pool2d(padded, 2 * radius, stride=1)[:, 0]
    return torch.where(spread > floor, spread, disparity)
