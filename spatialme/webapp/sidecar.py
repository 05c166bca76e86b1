"""Disparity and depth sidecars: turn an uploaded file into the disparity ``.npy`` the pipeline reads."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from .. import video
from ..disparity import DisparityConfig, depth_to_disparity
from ..sidecar import DisparitySource
from .models import SIDECAR_KINDS, AppLimits

def check_kind(kind: str) -> str:
    """Validate a sidecar kind."""
    kinds = tuple(k for _, k in SIDECAR_KINDS)
    if kind not in kinds:
        raise ValueError(f"sidecar_kind: expected one of {', '.join(kinds)}, got {kind!r}")
    return kind


def resize_frame(frame: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resize one ``(H, W, C)`` or ``(H, W)`` frame with area averaging (shrinking) or bilinear."""
    if frame.shape[1] == width and frame.shape[0] == height:
        return frame
    shrink = width < frame.shape[1]
    interpolation = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
    return cv2.resize(np.ascontiguousarray(frame), (width, height), interpolation=interpolation)


# --------------------------------------------------------------------------- sidecars


def prepare_disparity(
    sidecar: str | os.PathLike,
    kind: str,
    info: video.VideoInfo,
    output: str | os.PathLike,
    *,
    size: tuple[int, int],
    first: int,
    total: int,
    offset: int,
    divergence: float = 2.0,
    convergence: float = 0.5,
    start_s: float = 0.0,
    limits: AppLimits = AppLimits(),
) -> str:
    """Turn a sidecar into the disparity ``.npy`` the pipeline reads for the working input.

    Args:
        sidecar: a ``.npy`` (``(T, H, W)``, or ``(H, W)`` for an image) or, for the depth
            kinds, a grey video or image (white = near for ``"nearness"``).
        kind: ``"disparity"`` (px at the sidecar's width), ``"nearness"`` (larger = nearer)
            or ``"distance"`` (larger = farther).
        info: the probed upload.
        output: where to write the prepared ``.npy`` when one is needed.
        size: ``(width, height)`` of the working input, px.
        first: index of the first converted frame in the upload.
        total: frames converted.
        offset: index of the first converted frame in the working input (0 when it was
            trimmed, else ``first``).
        divergence, convergence: mapping of depth kinds to pixels.
        start_s: time of frame ``first``, s (to seek in a depth video).
        limits: probe limits for a sidecar video.

    Returns:
        Path of a ``(offset + total, height, width)`` float32 disparity ``.npy`` (frames
        before ``offset`` are zero and never read); the sidecar itself when it already fits.

    Raises:
        ValueError: wrong kind of file, aspect ratio, or too few frames (the message says which).
    """
    kind = check_kind(kind)
    name = Path(os.fspath(sidecar)).name
    width, height = size
    with _sidecar_frames(sidecar, kind, info, first, total, start_s, limits) as frames:
        src_h, src_w = _check_aspect(frames, name, info)
        is_npy = Path(os.fspath(sidecar)).suffix.lower() == ".npy" and not frames.source.still
        if kind == "disparity" and is_npy and (src_w, src_h) == (width, height) and offset == first:
            return os.fspath(sidecar)  # fits as is: the pipeline memory-maps it
        shape = (offset + total, height, width)
        out = np.lib.format.open_memmap(os.fspath(output), mode="w+", dtype=np.float32, shape=shape)
        if kind == "disparity":
            scale = np.float32(width / src_w)
            for i in range(total):
                out[offset + i] = resize_frame(np.asarray(frames[i], np.float32), width, height) * scale
        else:
            lo, hi = _nearness_range(frames, kind)
            config = DisparityConfig(divergence, convergence)
            for i in range(total):
                near = (_nearness(np.asarray(frames[i], np.float32), kind) - lo) / (hi - lo)
                out[offset + i] = depth_to_disparity(resize_frame(np.clip(near, 0.0, 1.0), width, height), config)
        out.flush()
        del out
        return os.fspath(output)


def prepare_nearness(
    sidecar: str | os.PathLike,
    kind: str,
    info: video.VideoInfo,
    output: str | os.PathLike,
    *,
    size: tuple[int, int],
    first: int,
    total: int,
    offset: int,
    start_s: float = 0.0,
    limits: AppLimits = AppLimits(),
) -> str:
    """Turn a depth sidecar into the nearness ``.npy`` that automatic strength reads (``depth=``).

    Args:
        sidecar: a ``.npy`` (``(T, H, W)``, or ``(H, W)`` for an image) or a grey video/image.
        kind: ``"nearness"`` (larger = nearer) or ``"distance"`` (larger = farther; inverted).
        info, size, first, total, offset, start_s, limits: as for :func:`prepare_disparity`.

    Returns:
        Path of a ``(offset + total, height, width)`` float32 nearness ``.npy`` (larger = nearer,
        the sidecar's own units; frames before ``offset`` are zero and never read).

    Raises:
        ValueError: a disparity kind, or a sidecar that does not fit (the message says why).
    """
    kind = check_kind(kind)
    if kind == "disparity":
        raise ValueError("sidecar_kind: automatic strength needs depth ('nearness' or 'distance'), not disparity")
    name = Path(os.fspath(sidecar)).name
    width, height = size
    with _sidecar_frames(sidecar, kind, info, first, total, start_s, limits) as frames:
        src_h, src_w = _check_aspect(frames, name, info)
        out = np.lib.format.open_memmap(os.fspath(output), mode="w+", dtype=np.float32, shape=(offset + total, height, width))
        for i in range(total):
            near = _nearness(np.asarray(frames[i], np.float32), kind)
            if not np.isfinite(near).all():
                raise ValueError(f"sidecar: {name} holds NaN or infinite values (frame {first + i})")
            out[offset + i] = resize_frame(near, width, height)
        out.flush()
        del out
        return os.fspath(output)


def _check_aspect(frames: _Window, name: str, info: video.VideoInfo) -> tuple[int, int]:
    """The sidecar's ``(height, width)``, px, once its aspect ratio matches the video's (within 2 %)."""
    src_h, src_w = frames.shape[1:3]
    if abs(src_w / src_h - info.width / info.height) > 0.02 * info.width / info.height:
        raise ValueError(
            f"sidecar: {name} is {src_w}x{src_h} but the video is {info.width}x{info.height}; they must have the same "
            "aspect ratio"
        )
    return src_h, src_w


class _Window:
    """Frames ``first : first + total`` of a sidecar file, read one ``(H, W)`` frame at a time."""

    def __init__(self, source: DisparitySource, first: int, total: int) -> None:
        self.source, self.first = source, first
        self.shape = (total, *source.shape[1:])

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, index: int) -> np.ndarray:
        return self.source[self.first + index]

    def __enter__(self) -> "_Window":
        return self

    def __exit__(self, *exc: object) -> None:
        self.source.close()


def _sidecar_frames(sidecar: str | os.PathLike, kind: str, info: video.VideoInfo, first: int, total: int,
                    start_s: float, limits: AppLimits) -> _Window:
    """The sidecar's ``total`` frames from ``first`` (an array file is read a frame at a time; close it after use)."""
    path = Path(os.fspath(sidecar))
    if path.suffix.lower() in (".npy", ".npz"):
        source = DisparitySource(path, name="sidecar", unit="disparity or depth", image=True)
        if len(source) < first + total:
            source.close()
            raise ValueError(f"sidecar: {path.name} has {len(source)} frames but frames up to {first + total} are needed")
        return _Window(source, first, total)
    if kind == "disparity":
        raise ValueError(f"sidecar: a disparity sidecar must be a .npy or .npz array of pixels, got {path.name}")
    side = video.probe(path, limits.video_limits())
    start = 0.0 if side.is_image else start_s
    chunks = video.read_frames(side, start=start, max_frames=total, limits=limits.video_limits())
    grey = np.concatenate([chunk.astype(np.float32) @ np.float32([0.299, 0.587, 0.114]) for chunk in chunks])
    if len(grey) < total:
        raise ValueError(f"sidecar: {path.name} has {len(grey)} frames from {start_s:g} s but {total} are needed")
    return _Window(DisparitySource(grey, name="sidecar"), 0, total)


def _nearness(depth: np.ndarray, kind: str) -> np.ndarray:
    """Larger-is-nearer values of a depth frame (a distance is inverted)."""
    if kind == "distance":
        return 1.0 / np.maximum(depth, np.float32(1e-6))
    return depth


def _nearness_range(frames: np.ndarray, kind: str) -> tuple[float, float]:
    """Robust 2nd..98th percentile range of the nearness over (a sample of) the frames."""
    picks = np.unique(np.linspace(0, len(frames) - 1, min(len(frames), 16)).round().astype(int))
    sample = np.concatenate([_nearness(np.asarray(frames[i][::4, ::4], np.float32), kind).ravel() for i in picks])
    sample = sample[np.isfinite(sample)]
    if sample.size == 0:
        raise ValueError("sidecar: contains no finite depth values")
    lo, hi = np.percentile(sample, [2.0, 98.0])
    if not hi > lo:
        hi = lo + 1.0  # flat depth: everything on one plane
    return float(lo), float(hi)

