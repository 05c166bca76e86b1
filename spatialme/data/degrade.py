"""Estimated-like disparity: the exact disparity of a synthetic scene with soft object edges.

Why
---
The product never sees exact disparity: it warps with a monocular depth estimate (Depth
Anything V2), whose object boundaries are smooth ramps a few pixels wide rather than steps
aligned with the colour edges. That is where the foreground bleeds (paper Fig. 3): the
anti-aliased silhouette pixels, half foreground in colour, get an in-between or background
disparity, land on the far side of the hole, and any filler continues them into it. The
disparity expansion of the DE branch (Algorithm 1) exists for exactly this case.

Synthetic scenes give the exact disparity, so they would score the methods in a world
without that failure. This module makes the estimated-like version used alongside it:

* :func:`soften_edges` (evaluation, deterministic): a Gaussian blur of the disparity with
  ``sigma = blur * W / 256`` px, i.e. ``blur`` px at 256 px wide. At the default
  ``blur = 1`` a step becomes a ramp about 4 sigma wide (4 px at 256 px, 20 px at 1280 px),
  the boundary width of a 518 px depth map upsampled to the frame.
* :func:`random_degradation` (training augmentation): the same blur with ``blur`` drawn in
  ``[0.4, 1.6]``, the foreground's boundary first moved by -1 to 3 px (grey dilation, or
  erosion for -1: estimators misplace edges by a pixel or three, mostly outwards), and a
  little temporal jitter (each frame's blur and scale move by a few percent, as an
  estimator's output flickers from frame to frame).

Only edges change: flat regions keep their exact value (a blur of a constant is the
constant, and of a plane is the plane), so the global scale stays right and the true right
view remains the ground truth away from the boundaries.
"""

from __future__ import annotations

import cv2
import numpy as np

from ..checks import check_array, check_finite, check_range

__all__ = ["soften_edges", "random_degradation"]

#: Range of ``blur`` (px at 256 px wide) drawn by :func:`random_degradation`.
TRAIN_BLUR = (0.4, 1.6)

#: Boundary moves (px, negative = erode) drawn by :func:`random_degradation`, and their odds.
TRAIN_GROW = (-1, 0, 1, 2, 3)
TRAIN_GROW_P = (0.1, 0.35, 0.3, 0.15, 0.1)

#: Standard deviation of the per-frame relative jitter of blur and scale.
TRAIN_JITTER = 0.03


def _frames(disparity: np.ndarray) -> tuple[np.ndarray, bool]:
    arr = check_array("disparity", disparity, (2, 3))
    arr = check_finite("disparity", np.asarray(arr, np.float32))
    return (arr[None], True) if arr.ndim == 2 else (arr, False)


def soften_edges(disparity: np.ndarray, blur: float = 1.0, grow: int = 0) -> np.ndarray:
    """Blur a disparity's edges as a monocular estimate's are.

    Args:
        disparity: ``(H, W)`` or ``(T, H, W)`` float disparity px.
        blur: Gaussian sigma in px at a width of 256 px (scaled by ``W / 256``); 0 = none.
        grow: grow the nearer side of every edge by this many px first (grey dilation).

    Returns:
        float32 disparity px, same shape.
    """
    frames, single = _frames(disparity)
    blur = check_range("blur", blur, 0.0, 64.0)
    if isinstance(grow, bool) or not isinstance(grow, (int, np.integer)) or not 0 <= grow <= 16:
        raise ValueError(f"grow: expected an integer in [0, 16], got {grow!r}")
    sigma = blur * frames.shape[-1] / 256.0
    out = np.empty_like(frames)
    for t, frame in enumerate(frames):
        f = cv2.dilate(frame, np.ones((2 * grow + 1, 2 * grow + 1), np.uint8)) if grow else frame
        out[t] = cv2.GaussianBlur(f, (0, 0), sigma, borderType=cv2.BORDER_REPLICATE) if sigma > 0 else f
    return out[0] if single else out


def random_degradation(disparity: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One random estimated-like version of a clip's disparity (training augmentation).

    The estimator's character (blur, boundary move) is drawn once per clip; each frame then
    jitters its blur and its scale by about :data:`TRAIN_JITTER` (temporal flicker).

    Args:
        disparity: ``(H, W)`` or ``(T, H, W)`` float disparity px.
        rng: random generator.

    Returns:
        float32 disparity px, same shape.
    """
    frames, single = _frames(disparity)
    blur = float(rng.uniform(*TRAIN_BLUR))
    grow = int(rng.choice(TRAIN_GROW, p=TRAIN_GROW_P))
    out = np.empty_like(frames)
    for t, frame in enumerate(frames):
        if grow < 0:
            frame = cv2.erode(frame, np.ones((-2 * grow + 1, -2 * grow + 1), np.uint8))
        jitter = rng.normal(0.0, TRAIN_JITTER, 2) if len(frames) > 1 else np.zeros(2)
        out[t] = soften_edges(frame, max(0.0, blur * (1.0 + jitter[0])), max(grow, 0)) * np.float32(1.0 + jitter[1])
    return out[0] if single else out
