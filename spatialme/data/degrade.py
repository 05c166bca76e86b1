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
  ``[0.4, 1.6]``, and half the time the foreground first grown by one pixel (a 3x3 grey
  dilation: estimators also misplace edges by a pixel or so, mostly outwards).

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

#: Probability that :func:`random_degradation` grows the foreground by one pixel first.
TRAIN_GROW = 0.5


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

    The same ``blur`` and ``grow`` apply to every frame of the clip (an estimator's
    character does not change from frame to frame).

    Args:
        disparity: ``(H, W)`` or ``(T, H, W)`` float disparity px.
        rng: random generator.

    Returns:
        float32 disparity px, same shape.
    """
    blur = float(rng.uniform(*TRAIN_BLUR))
    grow = int(rng.random() < TRAIN_GROW)
    return soften_edges(disparity, blur, grow)
