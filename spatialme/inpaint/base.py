"""Registry of hole fillers: the inpainting back-ends behind the branches.

A filler completes a warped right view. It gets the left view and the disparity that was
warped (so geometry-aware fills such as the row-polyline one can re-render), the warped
frame and its hole mask, and returns the filled frame. Known pixels are the caller's
business: :func:`composite` keeps every non-hole pixel of the warp untouched.

Fillers are chosen by short name (``"poly"``, ``"telea"``, later the learned one), as iw3
registers its models, so the DE branch and the evaluation can swap them.
"""

from __future__ import annotations

from typing import Callable, Protocol

import numpy as np

from ..registry import Registry

__all__ = ["Filler", "register_filler", "get_filler", "available_fillers", "composite"]


class Filler(Protocol):
    def __call__(
        self, left: np.ndarray, disparity: np.ndarray, warped: np.ndarray, hole_mask: np.ndarray, cuts: np.ndarray | None = None
    ) -> np.ndarray:
        """Fill holes.

        Args:
            left: ``(T, H, W, 3) uint8`` left view.
            disparity: ``(T, H, W) float32`` disparity px that produced ``warped``.
            warped: ``(T, H, W, 3) uint8`` forward-warped right view (holes are 0).
            hole_mask: ``(T, H, W) bool``, True = hole.
            cuts: ``(T,) bool`` scene cuts (True = a frame starts a new shot) or None; a
                filler that borrows pixels from other frames never does so across one.

        Returns:
            ``(T, H, W, 3) uint8`` completed right view.
        """


_FILLERS: Registry[Callable[[], Filler]] = Registry("filler", "filler")


def register_filler(name: str) -> Callable[[Callable[[], Filler]], Callable[[], Filler]]:
    """Decorator registering a filler factory under a short name."""
    return _FILLERS.register(name, overwrite=True)


def available_fillers() -> tuple[str, ...]:
    """Names of the registered fillers."""
    return _FILLERS.names()


def get_filler(name: str) -> Filler:
    """Instantiate the filler registered as ``name``."""
    return _FILLERS.get(name)()


def composite(warped: np.ndarray, fill: np.ndarray, hole_mask: np.ndarray) -> np.ndarray:
    """Keep warped pixels, take ``fill`` in the holes. Shapes ``(..., H, W, 3)`` and ``(..., H, W)``.

    Returns a new array (``np.where``'s dtype); holes are a few percent of a frame, so for
    equal dtypes the hole pixels are copied into a copy of ``warped`` instead.
    """
    warped, fill, hole_mask = np.asarray(warped), np.asarray(fill), np.asarray(hole_mask, bool)
    if warped.dtype != fill.dtype or warped.shape != fill.shape or warped.shape[:-1] != hole_mask.shape:
        return np.where(hole_mask[..., None], fill, warped)
    out = warped.copy()
    out[hole_mask] = fill[hole_mask]
    return out
