"""Classical hole fillers: the Poly fill and OpenCV's Telea inpainting (the baseline).

``poly`` re-renders the same geometry with the row-polyline warp (:mod:`.polyline`) and
takes its pixels in the holes: a disocclusion becomes the stretched gradient between the
two edge colours, stable over time and exact for text and flat regions (paper III-B).
``telea`` is ``cv2.inpaint`` with the fast-marching method of Telea (2004), the classical
baseline of the evaluation table; it knows nothing of depth.
"""

from __future__ import annotations

import cv2
import numpy as np

from .base import register_filler
from .polyline import polyline_right_view_clip

__all__ = ["PolyFill", "TeleaFill"]


class PolyFill:
    """Fill holes with the row-polyline render of the same disparity.

    Args:
        variant: polyline variant, ``"sharp"`` or ``"soft"``.
    """

    def __init__(self, variant: str = "sharp") -> None:
        self.variant = variant

    def __call__(
        self, left: np.ndarray, disparity: np.ndarray, warped: np.ndarray, hole_mask: np.ndarray, cuts: np.ndarray | None = None
    ) -> np.ndarray:
        """Shapes as in :class:`spatialme.inpaint.base.Filler` (frame by frame: ``cuts`` do not
        matter); returns ``(T, H, W, 3) uint8``."""
        return polyline_right_view_clip(left, disparity, self.variant)


class TeleaFill:
    """Fill holes by OpenCV Telea inpainting, frame by frame.

    Args:
        radius: inpainting neighbourhood radius in px.
    """

    def __init__(self, radius: float = 3.0) -> None:
        self.radius = radius

    def __call__(
        self, left: np.ndarray, disparity: np.ndarray, warped: np.ndarray, hole_mask: np.ndarray, cuts: np.ndarray | None = None
    ) -> np.ndarray:
        """Shapes as in :class:`spatialme.inpaint.base.Filler` (frame by frame: ``cuts`` do not
        matter); returns ``(T, H, W, 3) uint8``."""
        out = np.empty_like(warped)
        for t in range(len(warped)):
            mask = hole_mask[t].astype(np.uint8)
            out[t] = cv2.inpaint(warped[t], mask, self.radius, cv2.INPAINT_TELEA) if mask.any() else warped[t]
        return out


register_filler("poly")(PolyFill)
register_filler("telea")(TeleaFill)
