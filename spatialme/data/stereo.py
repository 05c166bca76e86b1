"""Real stereo clips (StereoV1K layout): load the two views, and their matched disparity, cached.

Why it is built this way
------------------------
StereoV1K (paper Sec. IV) is a set of side-by-side videos, left half = left eye. To train
and score view synthesis on it, each left frame needs a disparity that drives the warp,
matched from the pair itself (:mod:`.matching`: OpenCV's semi-global matcher by default,
left-right checked, filled from the background side; its names are importable from here
as well).

* **Layouts.** :class:`StereoClipSource` reads a side-by-side video, a folder of
  ``left/`` and ``right/`` frames, or two videos, every Nth frame, shrunk to a size.
* **Caching.** Matching a 1180x1180 pair takes a noticeable fraction of a second, and
  training visits the same clips many times, so :func:`cached_disparity` stores the
  matched disparity and validity per clip in ``<cache_dir>/<clip_id>-<hash>.npz``. The
  hash covers the matcher settings and a fingerprint of the frames themselves, so another
  frame selection, resolution or setting never picks up a stale file.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np

from ..checks import check_clip, check_int
from ..io import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, VideoLimits, atomic_write, read_frames, read_image
from . import matching as _matching
from .matching import (
    SGBM_MODES,
    Matcher,
    StereoMatchConfig,
    available_matchers,
    check_pair,
    fill_invalid,
    get_matcher,
    match_disparity,
    register_matcher,
    search_range,
)

__all__ = [*(name for name in _matching.__all__ if name != "check_pair"), "split_sbs", "StereoClipSource", "cached_disparity"]

_CACHE_VERSION = 1  # bump when the matching itself changes, so old cache files are ignored


# --------------------------------------------------------------------------- clips


def split_sbs(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split side-by-side frames into the two views (left half = left eye).

    Args:
        frames: ``(H, 2W, 3)`` or ``(T, H, 2W, 3)`` uint8.

    Returns:
        ``(left, right)``, each ``(H, W, 3)`` or ``(T, H, W, 3)`` uint8, contiguous copies.
    """
    clip = check_clip("frames", frames)
    width = clip.shape[2]
    if width % 2:
        raise ValueError(f"frames: a side-by-side frame needs an even width, got {width}")
    half = width // 2
    left = np.ascontiguousarray(clip[:, :, :half])
    right = np.ascontiguousarray(clip[:, :, half:])
    if np.ndim(frames) == 3:
        return left[0], right[0]
    return left, right


def _safe_id(name: str) -> str:
    """A clip name usable in a file name."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "clip"


def _downscale(frame: np.ndarray, max_side: int | None, halves: int = 1) -> np.ndarray:
    """Shrink a frame so each of its ``halves`` side-by-side views has a longer side <= ``max_side``.

    Area averaging; a side-by-side frame keeps an even width so it still splits in two.
    """
    h, w = frame.shape[:2]
    view_w = w // halves
    if max_side is None or max(h, view_w) <= max_side:
        return frame
    scale = max_side / max(h, view_w)
    size = (max(1, round(view_w * scale)) * halves, max(1, round(h * scale)))
    return cv2.resize(frame, size, interpolation=cv2.INTER_AREA)


def _media(folder: Path, stem: str) -> list[Path]:
    """Video files named ``<stem>.<video suffix>`` in ``folder``."""
    return sorted(p for p in folder.iterdir() if p.is_file() and p.stem.lower() == stem and p.suffix.lower() in VIDEO_EXTENSIONS)


@dataclass(frozen=True)
class StereoClipSource:
    """One stereo clip on disk, StereoV1K style, loaded as two ``(T, H, W, 3)`` views.

    Accepted layouts of ``path``:

    * a side-by-side video file (left half = left eye), the StereoV1K format;
    * a folder with ``left/`` and ``right/`` subfolders of frames (PNG/JPG/..., paired in
      file-name order);
    * a folder with two videos ``left.<ext>`` and ``right.<ext>``;
    * a left-view video, with the right-view video given as ``right``.

    Attributes:
        path: the clip (see above).
        right: right-view video when ``path`` is the left-view video, else ``None``.
        every: keep every Nth frame, starting with the first (the paper scores every 20th).
        max_frames: keep at most this many frames (after ``every``); ``None`` = all.
        max_side: shrink frames whose longer side (per view) exceeds this, px; ``None`` = keep.
        limits: size and length limits for decoding videos.
    """

    path: str | os.PathLike
    right: str | os.PathLike | None = None
    every: int = 1
    max_frames: int | None = None
    max_side: int | None = None
    limits: VideoLimits = field(default_factory=VideoLimits)

    def __post_init__(self) -> None:
        if not isinstance(self.path, (str, os.PathLike)):
            raise ValueError(f"path: expected a str or os.PathLike, got {type(self.path).__name__}")
        check_int("every", self.every, 1, 1 << 20)
        if self.max_frames is not None:
            check_int("max_frames", self.max_frames, 1, 1 << 30)
        if self.max_side is not None:
            check_int("max_side", self.max_side, 16, 1 << 16)

    @property
    def kind(self) -> str:
        """``"sbs"``, ``"folders"`` or ``"videos"``; raises ``ValueError`` for anything else."""
        p = Path(self.path)
        if not p.exists():
            raise ValueError(f"path: not found: {p}")
        if self.right is not None:
            if not p.is_file() or not Path(self.right).is_file():
                raise ValueError(f"right: expected two video files, got {p} and {self.right}")
            return "videos"
        if p.is_file():
            return "sbs"
        if (p / "left").is_dir() and (p / "right").is_dir():
            return "folders"
        if len(_media(p, "left")) == 1 and len(_media(p, "right")) == 1:
            return "videos"
        raise ValueError(f"path: {p} is neither a side-by-side video nor a folder with left/ and right/ frames or left/right videos")

    @property
    def clip_id(self) -> str:
        """A file-name-safe identifier of the clip (file stem or folder name)."""
        p = Path(self.path)
        return _safe_id(p.stem if p.is_file() else p.resolve().name)

    def load(self) -> tuple[np.ndarray, np.ndarray]:
        """Decode the selected frames of both views.

        Returns:
            ``(left, right)``, each ``(T, H, W, 3) uint8``.

        Raises:
            ValueError: unknown layout, unreadable or mismatched views, no frames.
        """
        kind = self.kind
        p = Path(self.path)
        if kind == "sbs":
            left, right = split_sbs(self._decode(p, halves=2))
        elif kind == "folders":
            left, right = self._read_folders(p / "left", p / "right")
        else:
            lpath, rpath = (p, Path(self.right)) if self.right is not None else (_media(p, "left")[0], _media(p, "right")[0])
            left, right = self._decode(lpath), self._decode(rpath)
            if left.shape[1:] != right.shape[1:]:
                raise ValueError(f"right: frames of {rpath.name} are {right.shape[2]}x{right.shape[1]}, those of {lpath.name} {left.shape[2]}x{left.shape[1]}")
            n = min(len(left), len(right))
            left, right = left[:n], right[:n]
        return left, right

    def _wanted(self) -> int | None:
        """Frames to decode from the start so that ``max_frames`` can be kept."""
        return None if self.max_frames is None else (self.max_frames - 1) * self.every + 1

    def _decode(self, path: Path, halves: int = 1) -> np.ndarray:
        """Decode every ``every``-th frame of a video, up to ``max_frames``, shrunk to ``max_side``.

        ``halves=2`` marks a side-by-side video: ``max_side`` then bounds each half.
        """
        kept: list[np.ndarray] = []
        index = 0
        for chunk in read_frames(str(path), max_frames=self._wanted(), limits=self.limits):
            picks = np.flatnonzero((np.arange(index, index + len(chunk)) % self.every) == 0)
            kept.extend(_downscale(chunk[i], self.max_side, halves).copy() for i in picks)  # copies free the chunk
            index += len(chunk)
        if self.max_frames is not None:
            kept = kept[: self.max_frames]
        if not kept:
            raise ValueError(f"path: no frames decoded from {path.name}")
        return np.stack(kept)

    def _read_folders(self, left_dir: Path, right_dir: Path) -> tuple[np.ndarray, np.ndarray]:
        """Read paired frames from two folders of images, in file-name order."""

        def frames(folder: Path) -> list[Path]:
            return sorted(f for f in folder.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_EXTENSIONS)

        lfiles, rfiles = frames(left_dir), frames(right_dir)
        if not lfiles:
            raise ValueError(f"path: no frames ({', '.join(IMAGE_EXTENSIONS)}) in {left_dir}")
        if len(lfiles) != len(rfiles):
            raise ValueError(f"path: {left_dir.name}/ has {len(lfiles)} frames but {right_dir.name}/ has {len(rfiles)}")
        picks = slice(0, None, self.every)
        lfiles, rfiles = lfiles[picks][: self.max_frames], rfiles[picks][: self.max_frames]
        left = [_downscale(read_image(f), self.max_side) for f in lfiles]
        right = [_downscale(read_image(f), self.max_side) for f in rfiles]
        shapes = {f.shape for f in left + right}
        if len(shapes) != 1:
            raise ValueError(f"path: frames in {left_dir.parent.name} differ in size: {sorted(shapes)}")
        return np.stack(left), np.stack(right)


# --------------------------------------------------------------------------- cache


def _cache_key(left: np.ndarray, right: np.ndarray, config: StereoMatchConfig) -> str:
    """Hash of the matcher settings, the frames' shape and a fingerprint of their pixels."""
    h = hashlib.blake2b(digest_size=8)
    h.update(json.dumps({"version": _CACHE_VERSION, "config": asdict(config), "shape": list(left.shape)}, sort_keys=True).encode())
    for view in (left, right):
        h.update(memoryview(np.ascontiguousarray(view)).cast("B"))
    return h.hexdigest()


def _load_cached(path: Path, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray] | None:
    """The cached ``(disparity, valid)`` if the file is readable and of the right shape."""
    try:
        with np.load(path, allow_pickle=False) as data:
            disp, valid = data["disparity"], data["valid"]
    except (OSError, KeyError, ValueError):
        return None
    if disp.shape != shape or valid.shape != shape or disp.dtype != np.float32 or valid.dtype != np.bool_:
        return None
    return disp, valid


def cached_disparity(
    clip_id: str,
    left: np.ndarray,
    right: np.ndarray,
    cache_dir: str | os.PathLike,
    config: StereoMatchConfig = StereoMatchConfig(),
    *,
    return_valid: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Matched disparity of a clip, computed once and then read from a cache file.

    The file is ``<cache_dir>/<clip_id>-<hash>.npz`` with the raw matched ``disparity``
    and ``valid`` arrays; the hash covers ``config``, the frames' shape and their pixels.
    It is written atomically; an unreadable or mismatched file is recomputed.

    Args:
        clip_id: name of the clip (made file-name safe).
        left: ``(T, H, W, 3) uint8`` left view.
        right: same shape, right view.
        cache_dir: cache folder, created if missing.
        config: matching settings.
        return_valid: also return the left-right check's validity.

    Returns:
        ``(T, H, W) float32`` disparity px with invalid pixels filled from the background
        side (:func:`fill_invalid`), ready to drive a warp; with ``return_valid``, the pair
        ``(disparity, valid)`` where ``valid`` is ``(T, H, W) bool``.
    """
    if not isinstance(clip_id, str) or not clip_id:
        raise ValueError(f"clip_id: expected a non-empty string, got {clip_id!r}")
    if not isinstance(config, StereoMatchConfig):
        raise ValueError(f"config: expected a StereoMatchConfig, got {type(config).__name__}")
    lv, rv = check_pair(left, right)
    folder = Path(cache_dir)
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"cache_dir: not a folder: {folder}")
    path = folder / f"{_safe_id(clip_id)}-{_cache_key(lv, rv, config)}.npz"
    cached = _load_cached(path, lv.shape[:3]) if path.is_file() else None
    if cached is None:
        disp, valid = match_disparity(lv, rv, config)
        folder.mkdir(parents=True, exist_ok=True)
        with atomic_write(path) as tmp:
            np.savez_compressed(tmp, disparity=disp, valid=valid)
    else:
        disp, valid = cached
    filled = fill_invalid(disp, valid)
    return (filled, valid) if return_valid else filled
