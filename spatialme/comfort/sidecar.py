"""A depth sidecar for the comfort pass: ``(T, H, W)`` relative inverse depth read a chunk at a time."""

from __future__ import annotations

import os

import cv2
import numpy as np

__all__ = ["DepthSidecar", "resize_plane"]


def resize_plane(frame: np.ndarray, width: int, height: int) -> np.ndarray:
    """One ``(h, w)`` float32 plane resized to ``height x width`` (area filter shrinking, bilinear growing)."""
    if frame.shape == (height, width):
        return frame
    shrink = width < frame.shape[1]
    return cv2.resize(np.ascontiguousarray(frame), (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


class DepthSidecar:
    """Frames of a ``(T, H, W)`` relative inverse depth file (larger = nearer), at the input's size.

    The file (``.npy``, or a ``.npz`` holding one array; read a chunk at a time, like a
    disparity file) may have any size with the input's aspect ratio (within 2 %); frames are
    resized to the input's size. Its units do not matter: only order and
    ratios of differences are used.

    Args:
        value: path or ``(T, H, W)`` array.
    """

    def __init__(self, value: str | os.PathLike | np.ndarray, name: str = "depth") -> None:
        from ..sidecar import DisparitySource

        self.name = name
        self._source = DisparitySource(value, name, unit="relative inverse depth (larger = nearer)")

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self._source.shape)

    def check(self, first: int, total: int, height: int, width: int) -> None:
        """Check the frame count and aspect ratio against the input before any work."""
        frames, h, w = self.shape
        if abs(w / h - width / height) > 0.02 * width / height:
            raise ValueError(f"{self.name}: is {w}x{h} but the input is {width}x{height}; they must have the same aspect ratio")
        if frames < first + total:
            raise ValueError(f"{self.name}: has {frames} frames but {first + total} are needed")

    def frames(self, lo: int, hi: int, height: int, width: int) -> np.ndarray:
        """Frames ``lo:hi`` of the file as ``(hi - lo, height, width) float32``, finite."""
        raw = self._source.frames(lo, hi)
        if not np.isfinite(raw).all():
            bad = lo + int(np.flatnonzero(~np.isfinite(raw).reshape(len(raw), -1).all(axis=1))[0])
            raise ValueError(f"{self.name}: frame {bad} holds NaN or infinite values")
        if raw.shape[1:] == (height, width):
            return raw
        return np.stack([resize_plane(f, width, height) for f in raw])

    def clip_range(self, first: int, total: int, height: int, width: int) -> tuple[float, float]:
        """Robust ``(lo, hi)`` nearness of the clip: 2nd..98th percentile of up to 16 evenly spaced frames."""
        picks = np.unique(np.linspace(first, first + total - 1, min(total, 16)).round().astype(int))
        sample = np.concatenate([self.frames(int(t), int(t) + 1, height, width)[0, ::4, ::4].ravel() for t in picks])
        lo, hi = (float(v) for v in np.percentile(sample, [2.0, 98.0]))
        return (lo, hi) if hi > lo else (lo, lo + 1.0)

    def close(self) -> None:
        self._source.close()
