"""Relative inverse depth to pixel disparity (paper Fig. 2, between depth and warp).

The depth stage delivers a normalised inverse depth ``n`` in [0, 1] (1 = nearest) whose
normalisation is already smoothed over the clip (``spatialme.depth``), so this mapping is a
fixed affine function for the whole clip and never re-normalises per frame:

    d = (divergence / 100) * W * (n - convergence)        [disparity px]

``divergence`` is the total parallax between the nearest and the farthest point in percent
of the frame width (peers use 2-2.5 %); ``convergence`` in [0, 1] is the depth that sits on
the screen plane: points nearer than it get ``d > 0`` (in front of the screen), farther ones
``d < 0`` (behind it). Only the right view is synthesised, so the full parallax applies to
it and the left eye stays the original frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .checks import check_array, check_finite, check_range

__all__ = ["DisparityConfig", "depth_to_disparity", "disparity_range_px"]


@dataclass(frozen=True)
class DisparityConfig:
    """How strong the 3D effect is and where the screen plane sits.

    Attributes:
        divergence: total parallax in percent of the frame width between the nearest
            (normalised inverse depth 1) and the farthest (0) point; 0..10. Default 2.0
            (about 38 px at 1080p), a comfortable strength for headsets and glasses.
        convergence: normalised inverse depth placed on the screen plane, 0..1; 0 puts
            the farthest point on the screen and everything in front of it, 1 puts the
            nearest point on the screen. Default 0.5.
    """

    divergence: float = 2.0
    convergence: float = 0.5

    def __post_init__(self) -> None:
        check_range("divergence", self.divergence, 0.0, 10.0)
        check_range("convergence", self.convergence, 0.0, 1.0)


def disparity_range_px(width: int, config: DisparityConfig = DisparityConfig()) -> tuple[float, float]:
    """Smallest and largest disparity (px) the mapping can produce for a frame ``width`` wide."""
    scale = config.divergence / 100.0 * width
    return -scale * config.convergence, scale * (1.0 - config.convergence)


def depth_to_disparity(inv_depth: np.ndarray, config: DisparityConfig = DisparityConfig()) -> np.ndarray:
    """Map normalised inverse depth to left-view disparity in pixels.

    Args:
        inv_depth: ``(H, W)`` or ``(T, H, W)`` float normalised inverse depth in [0, 1]
            (1 = nearest); values outside are clipped.
        config: divergence and convergence.

    Returns:
        Disparity px, same shape, float32.

    Example:
        >>> depth_to_disparity(np.array([[0.0, 0.5, 1.0]]), DisparityConfig(2.0, 0.5)).tolist()
        [[-0.03, 0.0, 0.03]]
    """
    arr = check_array("inv_depth", inv_depth, (2, 3))
    arr = check_finite("inv_depth", arr.astype(np.float32, copy=False))
    scale = np.float32(config.divergence / 100.0 * arr.shape[-1])
    return (np.clip(arr, 0.0, 1.0) - np.float32(config.convergence)) * scale
