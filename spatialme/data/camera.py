"""Two real cameras, not one: the photometric differences between the eyes of a stereo pair.

Why
---
A synthetic scene renders both views from the same photo with the same pixels, so a network
trained on it learns that the right view's colours are exactly the left view's. Real pairs
(a stereo rig, the Middlebury scenes) differ: each camera has its own exposure and colour
gains, its own sensor noise, and the input the product gets has been through a lossy codec.
An inpainter that copies the left view's high-frequency noise into a hole, or a refiner that
trusts a branch only because it matches the left view bit for bit, then loses on real
footage. :func:`camera_pair` makes training pairs differ as real ones do:

* exposure: one gain per eye, ``exp(N(0, 0.03))`` (about 3 %);
* colour: one gain per eye and channel, ``exp(N(0, 0.015))``;
* the *input* (left) view only: Gaussian sensor noise with sigma drawn in ``[0, 2.5]`` grey
  levels, then, with probability 0.7, JPEG at a quality drawn in ``[55, 95]`` (the blocking
  and ringing of a compressed upload; H.264's are alike at these rates).

The right view stays clean apart from its gains: it is the target, what the eye would see.
"""

from __future__ import annotations

import cv2
import numpy as np

from ..checks import check_clip

__all__ = ["camera_pair"]

#: Standard deviations of the log exposure gain and of the log colour gains, per eye.
EXPOSURE_SIGMA = 0.03
COLOUR_SIGMA = 0.015
#: Range of the input view's sensor noise sigma, grey levels.
NOISE_SIGMA = (0.0, 2.5)
#: Probability and quality range of the input view's JPEG compression.
JPEG_P = 0.7
JPEG_QUALITY = (55, 95)


def _gain(frames: np.ndarray, gains: np.ndarray) -> np.ndarray:
    return np.clip(frames.astype(np.float32) * gains.astype(np.float32) + 0.5, 0, 255).astype(np.uint8)


def camera_pair(left: np.ndarray, right: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Give two rendered views the photometric differences of two real cameras.

    Args:
        left: ``(T, H, W, 3) uint8`` left view (becomes the network's input).
        right: ``(T, H, W, 3) uint8`` right view (the target).
        rng: random generator (one draw of gains, noise and codec per clip).

    Returns:
        ``(left, right)``, new ``(T, H, W, 3) uint8`` arrays: both with their own exposure
        and colour gains, the left one also with sensor noise and (mostly) JPEG artefacts.
    """
    left, right = check_clip("left", left), check_clip("right", right)
    if left.shape != right.shape:
        raise ValueError(f"right: expected the shape of left {left.shape}, got {right.shape}")
    gains = np.exp(rng.normal(0.0, EXPOSURE_SIGMA, (2, 1)) + rng.normal(0.0, COLOUR_SIGMA, (2, 3)))
    out_left = left.astype(np.float32) * gains[0].astype(np.float32)
    sigma = float(rng.uniform(*NOISE_SIGMA))
    if sigma > 0:
        out_left += rng.normal(0.0, sigma, out_left.shape).astype(np.float32)
    out_left = np.clip(out_left + 0.5, 0, 255).astype(np.uint8)
    if rng.random() < JPEG_P:
        quality = int(rng.integers(JPEG_QUALITY[0], JPEG_QUALITY[1] + 1))
        for t in range(len(out_left)):
            ok, buf = cv2.imencode(".jpg", out_left[t][..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
            if ok:
                out_left[t] = cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1]
    return out_left, _gain(right, gains[1])
