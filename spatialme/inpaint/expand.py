"""DE-based branch: disparity expansion against foreground bleeding (paper Sec. III-B, Alg. 1).

Why
---
A disocclusion opens on the far side of a foreground edge. An inpainter that fills it from
the surrounding pixels sees only foreground on the hole's near side and smears it into
the hole ("foreground bleeding", paper Fig. 3). Algorithm 1 finds the foreground/background
edges of the disparity (Canny), and where the left neighbour is nearer than the right one by
more than ``lambda`` it paints a ``2k x 2k`` block with the left, nearer disparity. Re-warped
with that expanded disparity, a band of background pixels next to the edge travels with the
foreground, so the hole is bordered by background on both sides and the filler continues
background. The cost (paper, end of III-B): those background pixels sit slightly off their
true place where depth is complex; the refiner arbitrates.

Implementation
--------------
Algorithm 1 loops over edge pixels; here every trigger pixel ``(i, j)`` writes its value
``I[i, j-1]`` into a sparse map, and one grey dilation with a ``2k x 2k`` box (anchored so
that it covers rows ``i-k .. i+k-1`` and columns ``j-k .. j+k-1``, Python's slice
``i-k:i+k``) spreads it: overlapping blocks resolve to the nearest (largest) value, as
required, and no Python loop runs per edge. The exact loop is kept in the tests as the
reference.

Parameters are tied to the warp and the resolution:
- ``lambda`` (px): the warp opens a hole where disparity falls by more than
  ``max_stretch - 1 = 1`` px per px, i.e. by 2 px across the two neighbours Algorithm 1
  compares; so ``lambda = 2`` px expands exactly the edges that open holes.
- ``k`` (px): ``max(2, round(W / 256))`` (8 px at 1080p, 5 at 720p, 2-3 at 480p): wide
  enough to carry several pixels of background context next to a hole, small against the
  frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..checks import check_array, check_finite
from ..warp import WarpConfig, forward_warp
from .base import Filler, composite

__all__ = ["ExpandConfig", "expand_disparity", "expansion_triggers", "de_branch"]


@dataclass(frozen=True)
class ExpandConfig:
    """Settings of Algorithm 1.

    Attributes:
        radius: ``k`` in px, half the block side; ``None`` = ``max(2, round(W / 256))``.
        threshold: ``lambda`` in disparity px; ``I[i, j-1] - I[i, j+1]`` must exceed it.
    """

    radius: int | None = None
    threshold: float = 2.0

    def __post_init__(self) -> None:
        if self.radius is not None and (not isinstance(self.radius, int) or self.radius < 1):
            raise ValueError(f"radius: expected a positive int or None, got {self.radius!r}")
        if not np.isfinite(self.threshold) or self.threshold < 0:
            raise ValueError(f"threshold: expected a non-negative number, got {self.threshold!r}")

    def radius_for(self, width: int) -> int:
        """``k`` for a frame ``width`` px wide."""
        return self.radius if self.radius is not None else max(2, round(width / 256))


def _canny_edges(disparity: np.ndarray, threshold: float) -> np.ndarray:
    """Canny edge map of one ``(H, W)`` disparity, with thresholds tied to ``threshold`` px.

    Canny needs 8 bits: the disparity is scaled by ``s = 255 / range``. A sharp step of
    ``lambda`` px gives a 3x3 Sobel response of ``4 * lambda * s``; hysteresis thresholds of
    half and a quarter of that keep every step that can pass the ``lambda`` test.
    """
    lo, hi = float(disparity.min()), float(disparity.max())
    if hi - lo <= threshold:
        return np.zeros(disparity.shape, bool)
    scale = 255.0 / (hi - lo)
    img8 = np.round((disparity - lo) * scale).astype(np.uint8)
    strong = 2.0 * threshold * scale
    return cv2.Canny(img8, strong / 2.0, strong, L2gradient=True) > 0


def expansion_triggers(disparity: np.ndarray, radius: int, threshold: float) -> np.ndarray:
    """Trigger map of Algorithm 1 for one frame.

    Args:
        disparity: ``(H, W) float32`` px.
        radius: ``k``.
        threshold: ``lambda`` px.

    Returns:
        ``(H, W) bool``: edge pixels with ``I[i, j-1] - I[i, j+1] > lambda`` and
        ``k <= i < H - k``, ``k <= j < W - k``.
    """
    h, w = disparity.shape
    trig = _canny_edges(disparity, threshold)
    jump = np.zeros_like(disparity)
    jump[:, 1:-1] = disparity[:, :-2] - disparity[:, 2:]
    trig &= jump > threshold
    trig[:radius] = False
    trig[h - radius :] = False
    trig[:, :radius] = False
    trig[:, w - radius :] = False
    return trig


def _expand_frame(disparity: np.ndarray, radius: int, threshold: float) -> np.ndarray:
    trig = expansion_triggers(disparity, radius, threshold)
    if not trig.any():
        return disparity.copy()
    floor = np.float32(disparity.min() - 1.0)
    values = np.full_like(disparity, floor)
    left = np.empty_like(disparity)
    left[:, 1:] = disparity[:, :-1]
    left[:, 0] = disparity[:, 0]
    values[trig] = left[trig]
    # dst(y, x) = max over the kernel of src(y + v - anchor, x + u - anchor), u, v in [0, 2k):
    # with anchor k - 1 a trigger at row i reaches rows i - k .. i + k - 1, as i-k:i+k does.
    kernel = np.ones((2 * radius, 2 * radius), np.uint8)
    spread = cv2.dilate(values, kernel, anchor=(radius - 1, radius - 1), borderType=cv2.BORDER_CONSTANT, borderValue=float(floor))
    return np.where(spread > floor, spread, disparity)


def expand_disparity(disparity: np.ndarray, config: ExpandConfig = ExpandConfig()) -> np.ndarray:
    """Algorithm 1: expand foreground disparity across disocclusion edges.

    Args:
        disparity: ``(H, W)`` or ``(T, H, W)`` left-view disparity px.
        config: ``k`` and ``lambda``.

    Returns:
        Expanded disparity px, same shape, float32.
    """
    arr = check_array("disparity", disparity, (2, 3))
    arr = check_finite("disparity", np.asarray(arr, np.float32))
    frames = arr[None] if arr.ndim == 2 else arr
    radius = config.radius_for(arr.shape[-1])
    if 2 * radius >= min(arr.shape[-2:]):
        return arr.copy()
    out = np.stack([_expand_frame(f, radius, config.threshold) for f in frames])
    return out[0] if arr.ndim == 2 else out


def de_branch(
    left: np.ndarray,
    disparity: np.ndarray,
    fill: Filler,
    config: ExpandConfig = ExpandConfig(),
    warp_config: WarpConfig = WarpConfig(),
    cuts: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The DE branch: expand, re-warp, fill the new holes.

    Args:
        left: ``(T, H, W, 3) uint8``.
        disparity: ``(T, H, W) float32`` px.
        fill: the hole filler (the learned inpainter when available, else the Poly fill).
        config: expansion settings.
        warp_config: warp settings.
        cuts: ``(T,) bool`` scene cuts for the filler (nothing propagates across one).

    Returns:
        ``(right (T, H, W, 3) uint8, expanded disparity (T, H, W) float32 px,
        holes of the re-warp (T, H, W) bool)``.
    """
    expanded = expand_disparity(disparity, config)
    warped = forward_warp(left, expanded, warp_config)
    filled = fill(left, expanded, warped.image, warped.hole_mask, cuts=cuts)
    return composite(warped.image, filled, warped.hole_mask), expanded, warped.hole_mask
