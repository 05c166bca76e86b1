"""Scale-robust hole filling: every hole pixel is filled at the pyramid level its depth needs.

Why it is built this way
------------------------
A convolutional inpainter learns to fill a hole from the known pixels within its reach. Ours
fills holes up to about 16 px wide well and collapses beyond (speckle noise in the middle of
wide holes), yet the product's holes span 1-100 px: the nearest object's disparity grows
with the frame width and the chosen 3D strength (2 % of 1080p is already 38 px). Training a
network whose reach covers twice the widest hole would make every frame pay for the rare
wide one. Instead the *input* is brought to the network's scale:

* the depth of a hole pixel is its Euclidean distance to the nearest known pixel
  (:func:`hole_depth`, ``cv2.distanceTransform``; the right border band counts from its
  known side only, so it is treated as the one-sided hole it is);
* it needs level ``l = log2(depth / reach)`` (clipped to ``[0, max_level]``), where
  ``reach`` is the depth the network fills well at its own resolution
  (:attr:`PyramidConfig.reach`);
* each level ``l`` halves the frame ``l`` times with a *masked* 2x2 mean (known pixels
  only, so hole zeros never leak into the colours; a coarse pixel is a hole when all four
  of its fine pixels are), fills it with the same network, and upsamples the filled frame
  bilinearly back to full resolution;
* a pixel takes the linear blend of the two levels around its (fractional) ``l``. Depth is
  1-Lipschitz, so the level, and with it the blend, changes smoothly through a hole: sharp
  full-resolution fill along the hole's border, a coarse but coherent one deep inside,
  where any fill is a guess of the background anyway.

The coarse levels cost at most a third of the full one (``1/4 + 1/16 + ...``) and run only
on frames whose holes need them. The filler is a plain function, so the same code serves
the learned inpainter on packed bands (CPU) or whole frames (CUDA), and training builds its
crops with :func:`masked_downsample` to show the network what inference shows it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import cv2
import numpy as np

__all__ = ["PyramidConfig", "hole_depth", "fill_levels", "masked_downsample", "pyramid_fill"]

#: ``fill(rgb (N, h, w, 3) uint8, holes (N, h, w) bool, disparity (N, h, w) float32 px or None)
#: -> (N, h, w, 3) uint8`` with the holes filled.
FillFn = Callable[[np.ndarray, np.ndarray, "np.ndarray | None"], np.ndarray]


@dataclass(frozen=True)
class PyramidConfig:
    """Settings of :func:`pyramid_fill`.

    Attributes:
        reach: depth px (distance to the nearest known pixel) that the network fills well
            at its own resolution; deeper pixels are filled at coarser levels. Chosen by
            measurement (model card): too small blurs holes the network handles, too large
            lets it hallucinate noise in the middle of wide ones.
        max_level: coarsest level (``1 / 2**max_level`` of the frame).
    """

    reach: float = 2.0
    max_level: int = 4

    def __post_init__(self) -> None:
        if isinstance(self.reach, bool) or not isinstance(self.reach, (int, float)) or not 0.5 <= self.reach <= 1024:
            raise ValueError(f"reach: expected a number of px in [0.5, 1024], got {self.reach!r}")
        if isinstance(self.max_level, bool) or not isinstance(self.max_level, (int, np.integer)) or not 0 <= self.max_level <= 8:
            raise ValueError(f"max_level: expected an integer in [0, 8], got {self.max_level!r}")


def hole_depth(holes: np.ndarray) -> np.ndarray:
    """Distance px from each hole pixel to the nearest known pixel of its frame.

    Args:
        holes: ``(T, H, W) bool``, True = hole.

    Returns:
        ``(T, H, W) float32``: 0 at known pixels, ``>= 1`` in holes (L2, 5x5 mask: within
        about 2 % of the exact Euclidean distance); a frame with no known pixel gets
        ``max(H, W)`` everywhere.
    """
    holes = np.asarray(holes, bool)
    if holes.ndim != 3:
        raise ValueError(f"holes: expected a (T, H, W) bool array, got shape {holes.shape}")
    out = np.zeros(holes.shape, np.float32)
    for t in range(len(holes)):
        if not holes[t].any():
            continue
        if holes[t].all():
            out[t] = max(holes.shape[1:])
            continue
        out[t] = cv2.distanceTransform(holes[t].view(np.uint8), cv2.DIST_L2, 5)
    return out


def fill_levels(depth: np.ndarray, config: PyramidConfig = PyramidConfig()) -> np.ndarray:
    """Fractional pyramid level of each pixel: ``clip(log2(depth / reach), 0, max_level)``.

    Args:
        depth: ``(...)`` float px (:func:`hole_depth`).
        config: reach and coarsest level.

    Returns:
        float32 of the same shape; 0 at known pixels and at shallow hole pixels.
    """
    depth = np.asarray(depth, np.float32)
    with np.errstate(divide="ignore"):
        level = np.log2(np.maximum(depth, 1e-6) / np.float32(config.reach))
    return np.clip(level, 0.0, float(config.max_level)).astype(np.float32)


def masked_downsample(rgb: np.ndarray, known: np.ndarray, disparity: np.ndarray | None = None):
    """Halve frames with a 2x2 mean over known pixels only.

    Args:
        rgb: ``(N, H, W, 3) float32`` colours (any range; hole values are ignored).
        known: ``(N, H, W) float32`` weight, 1 = known, 0 = hole.
        disparity: optional ``(N, H, W) float32`` px (hole values ignored).

    Returns:
        ``(rgb, known, disparity)`` at ``ceil(H / 2) x ceil(W / 2)``: colours and disparity
        are means of the known fine pixels (0 where none is known), ``known`` the share of
        known fine pixels (odd sizes are padded with holes).
    """
    n, h, w = known.shape
    ph, pw = h % 2, w % 2
    k = np.pad(known, ((0, 0), (0, ph), (0, pw))) if ph or pw else known
    c = np.pad(rgb * known[..., None], ((0, 0), (0, ph), (0, pw), (0, 0))) if ph or pw else rgb * known[..., None]
    hh, ww = k.shape[1] // 2, k.shape[2] // 2
    ks = k.reshape(n, hh, 2, ww, 2).sum(axis=(2, 4))
    cs = c.reshape(n, hh, 2, ww, 2, 3).sum(axis=(2, 4))
    safe = np.where(ks > 0, ks, 1.0)[..., None]
    out_rgb = np.where(ks[..., None] > 0, cs / safe, 0.0).astype(np.float32)
    out_disp = None
    if disparity is not None:
        d = disparity * known
        d = np.pad(d, ((0, 0), (0, ph), (0, pw))) if ph or pw else d
        ds = d.reshape(n, hh, 2, ww, 2).sum(axis=(2, 4))
        out_disp = np.where(ks > 0, ds / safe[..., 0], 0.0).astype(np.float32)
    return out_rgb, (ks / 4.0).astype(np.float32), out_disp


def _upsample(image: np.ndarray, factor: int, height: int, width: int) -> np.ndarray:
    """``(h, w, 3) uint8`` -> ``(height, width, 3) float32``, bilinear, pixel centres aligned."""
    h, w = image.shape[:2]
    up = cv2.resize(image.astype(np.float32), (w * factor, h * factor), interpolation=cv2.INTER_LINEAR)
    return up[:height, :width]


def pyramid_fill(
    fill: FillFn,
    warped: np.ndarray,
    holes: np.ndarray,
    disparity: np.ndarray | None = None,
    config: PyramidConfig = PyramidConfig(),
) -> np.ndarray:
    """Fill holes with ``fill`` at the pyramid level each hole pixel needs.

    Args:
        fill: the filler at one resolution (see :data:`FillFn`), e.g. the learned
            inpainter on packed bands.
        warped: ``(T, H, W, 3) uint8`` frames with holes.
        holes: ``(T, H, W) bool``, True = fill.
        disparity: ``(T, H, W) float32`` warped disparity px (0 in holes) or None, passed
            to ``fill`` at every level (downsampled like the colours).
        config: reach and coarsest level.

    Returns:
        ``(T, H, W, 3) uint8``: ``warped`` with its holes filled; known pixels unchanged.
    """
    frames, height, width = holes.shape
    level = fill_levels(hole_depth(holes), config)
    top = np.ceil(level.reshape(frames, -1).max(axis=1)).astype(int) if frames else np.zeros(0, int)
    out = fill(warped, holes, disparity)
    if not (top > 0).any():
        return out
    acc = out.astype(np.float32) * np.clip(1.0 - level, 0.0, 1.0)[..., None]
    todo = np.flatnonzero(top > 0)
    rgb = warped[todo].astype(np.float32)
    known = (~holes[todo]).astype(np.float32)
    disp = None if disparity is None else np.asarray(disparity[todo], np.float32)
    for lev in range(1, int(top.max()) + 1):
        rgb, known, disp = masked_downsample(rgb, known, disp)
        keep = top[todo] >= lev
        todo, rgb, known = todo[keep], rgb[keep], known[keep]
        disp = None if disp is None else disp[keep]
        coarse_holes = known <= 0.0
        coarse = fill(np.clip(rgb + 0.5, 0, 255).astype(np.uint8), coarse_holes, disp)
        weight = np.clip(1.0 - np.abs(level[todo] - lev), 0.0, 1.0)
        factor = 2**lev
        for i, t in enumerate(todo):
            if weight[i].any():
                acc[t] += _upsample(coarse[i], factor, height, width) * weight[i][..., None]
    filled = np.clip(acc + 0.5, 0, 255).astype(np.uint8)
    result = warped.copy()
    result[holes] = filled[holes]
    return result
