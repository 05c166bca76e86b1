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
on frames whose holes need them; each runs only around the hole pixels its upsampling is
read at (``need``: thin holes never reach level 1), and the blend is computed at hole pixels
only. The filler is a plain function, so the same code serves
the learned inpainter on packed bands (CPU) or whole frames (CUDA), and training builds its
crops with :func:`masked_downsample` to show the network what inference shows it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import cv2
import numpy as np

__all__ = ["PyramidConfig", "hole_depth", "fill_levels", "masked_downsample", "pyramid_fill"]

#: ``fill(rgb (N, h, w, 3) uint8, holes (N, h, w) bool, disparity (N, h, w) float32 px or None,
#: need (N, h, w) bool or None) -> (N, h, w, 3) uint8`` with the holes filled. Only the hole
#: pixels inside ``need`` are read back (None: all), so a filler may skip the others; the
#: network still sees every hole as a hole.
FillFn = Callable[[np.ndarray, np.ndarray, "np.ndarray | None", "np.ndarray | None"], np.ndarray]


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
    hh, ww = (h + 1) // 2, (w + 1) // 2
    out_rgb = np.zeros((n, hh, ww, 3), np.float32)
    out_known = np.zeros((n, hh, ww), np.float32)
    out_disp = None if disparity is None else np.zeros((n, hh, ww), np.float32)
    for i in range(n):  # OpenCV's 2x area resize is the 2x2 mean, several times faster than numpy's reshape-sum
        k = _halve(np.asarray(known[i], np.float32))
        # where no fine pixel is known the weighted sums are 0, and so is 0 / tiny
        safe = np.maximum(k, np.float32(1e-12))
        weighted = cv2.multiply(np.asarray(rgb[i], np.float32), cv2.merge([np.asarray(known[i], np.float32)] * 3))
        np.divide(_halve(weighted), safe[..., None], out=out_rgb[i])
        out_known[i] = k
        if out_disp is not None:
            np.divide(_halve(np.asarray(disparity[i], np.float32) * known[i]), safe, out=out_disp[i])
    return out_rgb, out_known, out_disp


def _halve(image: np.ndarray) -> np.ndarray:
    """2x2 means of an ``(H, W[, C]) float32`` image, odd sizes padded with zeros: ``ceil(H / 2) x ceil(W / 2)``."""
    h, w = image.shape[:2]
    if h % 2 or w % 2:
        pad = ((0, h % 2), (0, w % 2)) + ((0, 0),) * (image.ndim - 2)
        image = np.pad(image, pad)
    return cv2.resize(image, (image.shape[1] // 2, image.shape[0] // 2), interpolation=cv2.INTER_AREA)


def _needed(ti: np.ndarray, yi: np.ndarray, xi: np.ndarray, used: np.ndarray, frames: np.ndarray, lev: int,
            shape: tuple[int, int]) -> np.ndarray:
    """Coarse pixels ``(len(frames), h, w) bool`` that the bilinear upsampling reads at level ``lev``.

    ``ti, yi, xi`` are the hole pixels (sorted by frame), ``used`` those blended at this level.
    A fine pixel samples the 2x2 coarse pixels around its centre, so its coarse pixel
    ``(y >> lev, x >> lev)`` is marked and the marks grow by one coarse pixel.
    """
    index = np.full(int(ti.max(initial=0)) + 1, -1)
    index[frames] = np.arange(len(frames))
    slot = index[ti[used]]
    keep = slot >= 0
    need = np.zeros((len(frames), *shape), np.uint8)
    need[slot[keep], yi[used][keep] >> lev, xi[used][keep] >> lev] = 1
    kernel = np.ones((3, 3), np.uint8)
    for i in range(len(frames)):
        need[i] = cv2.dilate(need[i], kernel)
    return need.astype(bool)


def _sample_up(image: np.ndarray, factor: int, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """Bilinear samples ``(K, 3) float32`` of a coarse ``(h, w, 3)`` image upsampled ``factor`` times,
    at full-resolution pixels ``(ys, xs)`` (pixel centres aligned, edges clamped, as
    ``cv2.resize(..., INTER_LINEAR)`` of the whole frame gives)."""
    h, w = image.shape[:2]
    sy = np.clip((ys + 0.5) / factor - 0.5, 0.0, h - 1).astype(np.float32)
    sx = np.clip((xs + 0.5) / factor - 0.5, 0.0, w - 1).astype(np.float32)
    y0, x0 = sy.astype(np.intp), sx.astype(np.intp)
    y1, x1 = np.minimum(y0 + 1, h - 1), np.minimum(x0 + 1, w - 1)
    fy, fx = (sy - y0)[:, None], (sx - x0)[:, None]
    img = image.astype(np.float32, copy=False)
    top = img[y0, x0] * (1 - fx) + img[y0, x1] * fx
    bottom = img[y1, x0] * (1 - fx) + img[y1, x1] * fx
    return top * (1 - fy) + bottom * fy


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
    frames = holes.shape[0]
    out = fill(warped, holes, disparity, None)
    # levels and the blend only at hole pixels: (frame, y, x) of each, grouped by frame
    ti, yi, xi = np.nonzero(holes)
    hole_level = fill_levels(hole_depth(holes)[ti, yi, xi], config)
    bounds = np.searchsorted(ti, np.arange(frames + 1))
    top = np.zeros(frames, int)
    if ti.size:
        np.maximum.at(top, ti, np.ceil(hole_level).astype(int))
    if not (top > 0).any():
        return out
    acc = out[ti, yi, xi].astype(np.float32) * np.clip(1.0 - hole_level, 0.0, 1.0)[:, None]
    todo = np.flatnonzero(top > 0)
    rgb = warped[todo].astype(np.float32)
    known = (~holes[todo]).astype(np.float32)
    disp = None if disparity is None else np.asarray(disparity[todo], np.float32)
    for lev in range(1, int(top.max()) + 1):
        rgb, known, disp = masked_downsample(rgb, known, disp)
        keep = top[todo] >= lev
        todo, rgb, known = todo[keep], rgb[keep], known[keep]
        disp = None if disp is None else disp[keep]
        need = _needed(ti, yi, xi, np.abs(hole_level - lev) < 1.0, todo, lev, known.shape[1:])
        coarse = fill(np.clip(rgb + 0.5, 0, 255).astype(np.uint8), known <= 0.0, disp, need)
        for i, t in enumerate(todo):
            span = slice(bounds[t], bounds[t + 1])
            weight = np.clip(1.0 - np.abs(hole_level[span] - lev), 0.0, 1.0)
            used = np.flatnonzero(weight > 0)
            if used.size:
                at = bounds[t] + used
                acc[at] += _sample_up(coarse[i], 2**lev, yi[at], xi[at]) * weight[used, None]
    result = warped.copy()
    result[ti, yi, xi] = np.clip(acc + 0.5, 0, 255).astype(np.uint8)
    return result
