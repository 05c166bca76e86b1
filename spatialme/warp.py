"""Depth-warp: forward-warp the left view to the right view (paper Fig. 2, stage one).

Why it is built this way
------------------------
The right view satisfies ``right[y, x - d(y, x)] = left[y, x]`` (the project's disparity convention: positive = nearer, the right view sees a point ``d`` px to the left), so every row
warps on its own and only horizontally. For a row, let ``dst(x) = x - d(x)`` be where
source column ``x`` lands and ``g(x) = min_{x' >= x} dst(x')`` its suffix minimum.
Column ``x`` is visible iff ``dst(x) < g(x + 1)``: any column to its right that lands at
or left of it has ``d(x') >= d(x) + (x' - x) > d(x)``, i.e. it is nearer, so this one
test *is* the z-buffer ("nearer wins") and needs no depth sort or atomics. On ties the
right-hand (nearer) column wins.

Because ``g`` is non-decreasing, the visible columns land in increasing order and tile
the output line: output pixel ``p`` (centre at integer ``p``) lies on the source segment
``[x0, x0 + 1]`` with ``g(x0) <= p < g(x0 + 1)``. A segment whose landed length
``L = dst(x0 + 1) - dst(x0)`` is at most ``max_stretch`` is a surface (slanted or
stretched, never cracked): the pixel is linearly interpolated at sub-pixel position
``t = (p - dst(x0)) / L``. A longer segment is a disocclusion gap: pixels within half a
pixel of a landed column take that column (nearest wins if both), the rest are holes.
Pixels left of the first landed column or right of the last are the border bands a shift
uncovers; they are holes too.

Two kernels give the same result: a numba row-parallel scan for CPU arrays (two passes
over each row, O(W), about 2 ms for 1080p on 2 cores; see ``benchmarks/bench_kernels.py``)
and a torch version (``cummin`` + ``searchsorted`` + ``gather``) that runs wherever the
tensors live, CUDA included. Tests check that the two agree.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numba
import numpy as np
import torch

from .checks import check_array, check_finite, check_int, check_range

__all__ = ["WarpConfig", "WarpResult", "forward_warp", "forward_warp_torch", "speck_mask", "speck_mask_torch"]


@dataclass(frozen=True)
class WarpConfig:
    """Settings of the forward warp.

    Attributes:
        max_stretch: longest landed length (px) of a source segment between two adjacent
            columns that still counts as one surface and is interpolated. ``1`` is an
            unstretched surface; a disparity that falls by ``s`` px per px gives ``1 + s``.
            Longer segments are disocclusions and become holes. The default ``2`` keeps every
            interpolated pixel within one pixel of a real sample.
        speck: landed blobs that fit in a ``speck x speck`` square with holes all round
            them (the ring one pixel outside that square) become holes too (0 = keep them).
            They are stray samples of a noisy or estimated disparity strewn through a
            disocclusion; every filler would treat them as known background, and the
            learned one rings around each (speckle on the Motorcycle pair).
    """

    max_stretch: float = 2.0
    speck: int = 3

    def __post_init__(self) -> None:
        check_range("max_stretch", self.max_stretch, 1.0, 1e6)
        if check_int("speck", self.speck, 0, 15) and self.speck % 2 == 0:
            raise ValueError(f"speck: expected 0 or an odd number of px, got {self.speck!r}")


@dataclass
class WarpResult:
    """Output of :func:`forward_warp`.

    Attributes:
        image: warped right view, same dtype and layout as the input image
            (``(H, W, C)`` or ``(T, H, W, C)``); holes are 0.
        hole_mask: ``(H, W)`` or ``(T, H, W)`` bool, True where nothing landed (disocclusions
            and the uncovered border bands).
        disparity: warped disparity in px in the right view's frame, 0 in holes.
    """

    image: np.ndarray
    hole_mask: np.ndarray
    disparity: np.ndarray


@numba.njit(parallel=True, cache=True, fastmath=True)
def _warp_rows(img, disp, max_stretch, round_off, blocks, out, hole, wdisp):
    """Numba kernel: img (R, W, C) uint8/float32, disp (R, W) float32 px; outputs preallocated.

    ``round_off`` is 0.5 for uint8 outputs (round half up on the truncating cast), else 0.
    Rows are split into a few blocks per thread so scratch buffers are allocated once per block.
    """
    rows, width, chans = img.shape
    for blk in numba.prange(blocks):
        g = np.empty(width + 1, np.float32)  # suffix minimum of landed positions
        gi = np.empty(width + 1, np.int32)  # first visible column at or after x
        for r in range(blk * rows // blocks, (blk + 1) * rows // blocks):
            drow = disp[r]
            irow = img[r]
            orow = out[r]
            g[width] = np.inf
            gi[width] = width
            m = np.float32(np.inf)
            mi = width
            for x in range(width - 1, -1, -1):
                dx = np.float32(x) - drow[x]
                mi = x if dx < m else mi  # strict: on ties the right-hand (nearer) column wins
                m = min(dx, m)
                g[x] = m
                gi[x] = mi
            x0 = -1  # last column landing at or left of p; always visible; -1 = left border band
            for p in range(width):
                pf = np.float32(p)
                while g[x0 + 1] <= pf:
                    x0 += 1
                b = g[x0 + 1]
                near_a = False
                if x0 >= 0:
                    a = g[x0]
                    if x0 + 1 < width:
                        seg = np.float32(x0 + 1) - drow[x0 + 1] - a
                        if seg <= max_stretch:  # one surface: interpolate at sub-pixel position t
                            t = (pf - a) / seg
                            s = np.float32(1.0) - t
                            for c in range(chans):
                                orow[p, c] = s * np.float32(irow[x0, c]) + t * np.float32(irow[x0 + 1, c]) + round_off
                            hole[r, p] = False
                            wdisp[r, p] = s * drow[x0] + t * drow[x0 + 1]
                            continue
                    near_a = pf - a < np.float32(0.5)
                xb = gi[x0 + 1]  # the column landing at b, right of the gap
                near_b = xb < width and b - pf <= np.float32(0.5)
                if near_a and (not near_b or drow[x0] >= drow[xb]):
                    src = x0
                elif near_b:
                    src = xb
                else:
                    src = -1
                if src >= 0:
                    for c in range(chans):
                        orow[p, c] = irow[src, c]
                    hole[r, p] = False
                    wdisp[r, p] = drow[src]
                else:
                    for c in range(chans):
                        orow[p, c] = 0
                    hole[r, p] = True
                    wdisp[r, p] = 0.0


def _check_inputs(image: np.ndarray, disparity: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    image = check_array("image", image, (3, 4), (np.uint8, np.float32))
    disparity = check_array("disparity", disparity, (2, 3))
    if disparity.shape != image.shape[:-1]:
        raise ValueError(f"disparity: expected shape {image.shape[:-1]} to match image, got {disparity.shape}")
    disparity = np.ascontiguousarray(disparity, dtype=np.float32)
    check_finite("disparity", disparity)
    return np.ascontiguousarray(image), disparity


def forward_warp(image: np.ndarray, disparity: np.ndarray, config: WarpConfig = WarpConfig()) -> WarpResult:
    """Forward-warp a left view to the right view with occlusion (CPU, numba).

    Args:
        image: ``(H, W, C)`` or ``(T, H, W, C)`` uint8 or float32 left view.
        disparity: ``(H, W)`` or ``(T, H, W)`` left-view disparity in px (larger = nearer;
            negative values are behind the screen plane and shift right).
        config: warp settings.

    Returns:
        :class:`WarpResult` with the warped image (same dtype), the hole mask and the warped
        disparity.

    Example:
        >>> img = np.zeros((1, 6, 3), np.uint8); img[0, 3:] = 255
        >>> res = forward_warp(img, np.array([[0, 0, 0, 2, 2, 2]], np.float32))
        >>> res.image[0, :, 0].tolist(), res.hole_mask[0].tolist()
        ([0, 255, 255, 255, 0, 0], [False, False, False, False, True, True])
    """
    image, disparity = _check_inputs(image, disparity)
    w, c = image.shape[-2], image.shape[-1]
    img_rows = image.reshape(-1, w, c)
    disp_rows = disparity.reshape(-1, w)
    out = np.empty_like(img_rows)
    hole = np.empty(disp_rows.shape, np.bool_)
    wdisp = np.empty_like(disp_rows)
    round_off = np.float32(0.5 if image.dtype == np.uint8 else 0.0)
    blocks = min(img_rows.shape[0], numba.get_num_threads() * 4)
    _warp_rows(img_rows, disp_rows, np.float32(config.max_stretch), round_off, blocks, out, hole, wdisp)
    out, hole, wdisp = out.reshape(image.shape), hole.reshape(disparity.shape), wdisp.reshape(disparity.shape)
    if config.speck:
        specks = speck_mask(hole, config.speck)
        hole |= specks
        out[specks] = 0
        wdisp[specks] = 0
    return WarpResult(out, hole, wdisp)


def speck_mask(holes: np.ndarray, size: int) -> np.ndarray:
    """Known pixels in blobs that fit in a ``size x size`` square ringed by holes.

    A square window whose one-pixel outer ring is all holes isolates whatever known pixels
    lie inside it; those are marked (``size`` odd, windows centred on every pixel; the ring
    must lie inside the frame, so nothing at the border is touched).

    Args:
        holes: ``(H, W)`` or ``(T, H, W)`` bool.
        size: the square's side, px (odd).

    Returns:
        bool of the same shape, True at the speck pixels (never at a hole).
    """
    flat = holes.reshape(-1, *holes.shape[-2:])
    out = np.zeros(flat.shape, bool)
    outer, ring = size + 2, (size + 2) ** 2 - size**2
    dilate = np.ones((size, size), np.uint8)
    for t, frame in enumerate(flat):
        if frame.all() or not frame.any():
            continue
        h = frame.astype(np.float32)
        count = cv2.boxFilter(h, -1, (outer, outer), normalize=False, borderType=cv2.BORDER_CONSTANT)
        inner = cv2.boxFilter(h, -1, (size, size), normalize=False, borderType=cv2.BORDER_CONSTANT)
        centre = ((count - inner) >= ring - 0.5) & (inner < size * size - 0.5)  # ringed, not all hole
        if centre.any():
            out[t] = (cv2.dilate(centre.astype(np.uint8), dilate) > 0) & ~frame
    return out.reshape(holes.shape)


def speck_mask_torch(holes: torch.Tensor, size: int) -> torch.Tensor:
    """:func:`speck_mask` for ``(B, H, W) bool`` tensors on any device."""
    h = holes.to(torch.float32).unsqueeze(1)
    outer, ring = size + 2, (size + 2) ** 2 - size**2
    count = torch.nn.functional.avg_pool2d(h, outer, stride=1, padding=outer // 2, count_include_pad=True) * outer**2
    inner = torch.nn.functional.avg_pool2d(h, size, stride=1, padding=size // 2, count_include_pad=True) * size**2
    centre = ((count - inner) >= ring - 0.5) & (inner < size * size - 0.5)
    grown = torch.nn.functional.max_pool2d(centre.to(torch.float32), size, stride=1, padding=size // 2) > 0
    return grown[:, 0] & ~holes


def _suffix_visibility(dst: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Suffix minimum ``g`` of landed positions and the index of the column achieving it.

    Args:
        dst: ``(..., W)`` landed positions ``x - d`` in px.

    Returns:
        ``g`` ``(..., W + 1)`` with ``g[..., W] = inf`` and ``gi`` ``(..., W + 1)`` long, the
        first visible column at or after each x (``W`` where none).
    """
    inf = torch.full_like(dst[..., :1], float("inf"))
    g = torch.flip(torch.cummin(torch.flip(dst, [-1]), -1).values, [-1])
    g = torch.cat([g, inf], -1)
    width = dst.shape[-1]
    visible = dst < g[..., 1:]
    cols = torch.arange(width, device=dst.device).expand_as(dst)
    idx = torch.where(visible, cols, torch.full_like(cols, width))
    gi = torch.flip(torch.cummin(torch.flip(idx, [-1]), -1).values, [-1])
    gi = torch.cat([gi, torch.full_like(gi[..., :1], width)], -1)
    return g, gi


def forward_warp_torch(
    image: torch.Tensor, disparity: torch.Tensor, config: WarpConfig = WarpConfig()
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Torch version of :func:`forward_warp`, on whatever device the tensors are (CUDA too).

    Args:
        image: ``(B, C, H, W)`` float in [0, 1] left view.
        disparity: ``(B, H, W)`` float disparity px.
        config: warp settings.

    Returns:
        ``(warped (B, C, H, W), hole_mask (B, H, W) bool, warped_disparity (B, H, W))``.
    """
    if image.ndim != 4 or disparity.ndim != 3 or disparity.shape != (image.shape[0], *image.shape[2:]):
        raise ValueError(f"disparity: expected shape (B, H, W) matching image (B, C, H, W), got {tuple(disparity.shape)} and {tuple(image.shape)}")
    bsz, chans, height, width = image.shape
    disparity = disparity.to(torch.float32)
    cols = torch.arange(width, device=image.device, dtype=torch.float32)
    dst = cols - disparity
    g, gi = _suffix_visibility(dst)
    query = cols.expand(bsz, height, width).contiguous()
    x0 = torch.searchsorted(g.contiguous(), query, right=True) - 1  # last column with g <= p; -1 = left band
    x0c = x0.clamp(min=0)
    x1c = (x0c + 1).clamp(max=width - 1)
    a = torch.where(x0 >= 0, torch.gather(dst, -1, x0c), torch.full_like(query, -float("inf")))
    b = torch.gather(g, -1, x0 + 1)
    e = torch.where(x0 + 1 < width, torch.gather(dst, -1, x1c), torch.full_like(query, float("inf")))
    xb = torch.gather(gi, -1, x0 + 1)
    seg = e - a
    surface = (x0 >= 0) & (seg <= config.max_stretch)
    t = torch.where(surface, (query - a) / seg, torch.zeros_like(query))
    near_a = (x0 >= 0) & (query - a < 0.5)
    near_b = (xb < width) & (b - query <= 0.5)
    xbc = xb.clamp(max=width - 1)
    da = torch.gather(disparity, -1, x0c)
    db = torch.gather(disparity, -1, xbc)
    pick_a = near_a & (~near_b | (da >= db))
    pick_b = near_b & ~pick_a
    src = torch.where(pick_a, x0c, xbc)
    filled = surface | pick_a | pick_b

    def sample(values: torch.Tensor) -> torch.Tensor:
        """values (B, K, H, W) -> warped (B, K, H, W)."""
        k = values.shape[1]
        expand = lambda i: i.unsqueeze(1).expand(bsz, k, height, width)  # noqa: E731
        v0 = torch.gather(values, -1, expand(x0c))
        v1 = torch.gather(values, -1, expand(x1c))
        vs = torch.gather(values, -1, expand(src))
        lerp = v0 + t.unsqueeze(1).to(values.dtype) * (v1 - v0)
        res = torch.where(surface.unsqueeze(1), lerp, vs)
        return torch.where(filled.unsqueeze(1), res, torch.zeros_like(res))

    warped = sample(image)
    wdisp = sample(disparity.unsqueeze(1))[:, 0]
    holes = ~filled
    if config.speck:
        specks = speck_mask_torch(holes, config.speck)
        holes = holes | specks
        warped = warped.masked_fill(specks.unsqueeze(1), 0.0)
        wdisp = wdisp.masked_fill(specks, 0.0)
    return warped, holes, wdisp
