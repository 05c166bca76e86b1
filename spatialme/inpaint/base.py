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

__all__ = ["Filler", "register_filler", "get_filler", "available_fillers", "composite"]


class Filler(Protocol):
    def __call__(
        self, left: np.ndarray, disparity: np.ndarray, warped: np.ndarray, hole_mask: np.ndarray
    ) -> np.ndarray:
        """Fill holes.

        Args:
            left: ``(T, H, W, 3) uint8`` left view.
            disparity: ``(T, H, W) float32`` disparity px that produced ``warped``.
            warped: ``(T, H, W, 3) uint8`` forward-warped right view (holes are 0).
            hole_mask: ``(T, H, W) bool``, True = hole.

        Returns:
            ``(T, H, W, 3) uint8`` completed right view.
        """


_FILLERS: dict[str, Callable[[], Filler]] = {}


def register_filler(name: str) -> Callable[[Callable[[], Filler]], Callable[[], Filler]]:
    """Decorator registering a filler factory under a short name."""

    def wrap(factory: Callable[[], Filler]) -> Callable[[], Filler]:
        _FILLERS[name] = factory
        return factory

    return wrap


def available_fillers() -> tuple[str, ...]:
    """Names of the registered fillers."""
    return tuple(sorted(_FILLERS))


def get_filler(name: str) -> Filler:
    """Instantiate the filler registered as ``name``."""
    if name not in _FILLERS:
        raise ValueError(f"filler: expected one of {', '.join(available_fillers())}; got {name!r}")
    return _FILLERS[name]()


def composite(warped: np.ndarray, fill: np.ndarray, hole_mask: np.ndarray) -> np.ndarray:
    """Keep warped pixels, take ``fill`` in the holes. Shapes ``(..., H, W, 3)`` and ``(..., H, W)``."""
    return np.where(hole_mask[..., None], fill, warped)
