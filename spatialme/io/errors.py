"""The errors media input/output raises, and the wording every message shares.

Every failure a person can cause (a missing, empty, truncated or oversized file, an output
name that is taken, a folder that takes no files) is a :class:`VideoError`: a ``ValueError``
whose ``str`` is one line that names the file and the problem. Messages name files without
their folders (:func:`_name`), so a server's paths stay private, and give an ``OSError``'s
reason without its errno or path (:func:`_reason`).
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["OutputExists", "VideoError"]


class VideoError(ValueError):
    """A user-facing problem with a media file; ``str(err)`` is one line naming file and cause."""


class OutputExists(VideoError):
    """An output name is taken: the file exists, or another run has claimed it (see :class:`~spatialme.io.atomic.OutputClaim`)."""


def _name(path: str | os.PathLike[str]) -> str:
    """The file name used in messages (no folders: server paths stay private)."""
    return Path(os.fspath(path)).name or os.fspath(path)


def _reason(err: OSError) -> str:
    """``"permission denied"`` from an OSError: its text without errno or path."""
    return (err.strerror or err.__class__.__name__).lower()


def _check_input_file(path: str | os.PathLike[str]) -> str:
    """Return ``path`` as ``str`` after checking it is a non-empty regular file."""
    if not isinstance(path, (str, os.PathLike)):
        raise ValueError(f"path: expected a str or os.PathLike, got {type(path).__name__}")
    p = os.fspath(path)
    if not os.path.exists(p):
        raise VideoError(f"{_name(p)}: file not found")
    if os.path.isdir(p):
        raise VideoError(f"{_name(p)}: is a folder, not a video or image file")
    if not os.path.isfile(p):
        raise VideoError(f"{_name(p)}: not a regular file")  # a FIFO or device would block ffmpeg
    if os.path.getsize(p) == 0:
        raise VideoError(f"{_name(p)}: empty file (0 bytes)")
    return p
