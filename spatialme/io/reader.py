"""Stream-decode a clip: upright 8-bit RGB chunks at the clip's constant rate, with a watchdog.

* **Streaming.** :func:`read_frames` yields ``(n <= chunk, H, W, 3)`` uint8 chunks read from
  ffmpeg's stdout straight into preallocated numpy arrays, so memory depends on the frame
  size and ``chunk``, never on the clip length (``benchmarks/bench_memory.py`` measures it).
* **No hangs.** A decoder that produces no data for ``VideoLimits.timeout_s`` is killed, and
  so is one whose consumer stops early (``break`` closes the generator).
* **Truncated files are errors.** A decoder that stops before the expected frames makes
  :func:`read_frames` raise after the last chunk, so a conversion never silently writes
  fewer frames than the source has.
"""

from __future__ import annotations

import math
import os
import select
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

import numpy as np

from .errors import VideoError, _name
from ..checks import check_int
from .ffmpeg import (
    _TRUNCATION_MARKERS,
    _decode_cmd,
    _fps_fraction,
    _last_error_line,
    ffmpeg_exe,
)
from .images import read_image
from .probing import VideoInfo, VideoLimits, probe

__all__ = ["read_frames"]


def _grow_pipe(fd: int) -> None:
    """Ask Linux for a 1 MiB pipe buffer (fewer wake-ups per frame); harmless elsewhere."""
    try:
        import fcntl

        fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), 1 << 20)
    except (ImportError, OSError):
        pass


def _read_full(stream: IO[bytes], view: memoryview, timeout: float) -> tuple[int, bool]:
    """Fill ``view`` from a pipe; returns ``(bytes read, stalled)``; stops early at EOF.

    ``stalled`` is True when no byte arrived for ``timeout`` s (POSIX only; elsewhere reads block).
    """
    fd = stream.fileno()
    total = 0
    while total < len(view):
        if os.name == "posix":
            ready, _, _ = select.select([fd], [], [], timeout)
            if not ready:
                return total, True
        n = stream.readinto(view[total:])  # type: ignore[attr-defined]
        if not n:
            break
        total += n
    return total, False


def read_frames(
    path_or_info: str | os.PathLike[str] | VideoInfo,
    *,
    start: float = 0.0,
    max_frames: int | None = None,
    chunk: int = 16,
    limits: VideoLimits = VideoLimits(),
) -> Iterator[np.ndarray]:
    """Stream a clip's frames as upright 8-bit RGB chunks at the clip's constant rate.

    Only one chunk is held at a time (plus ffmpeg's pipe buffer), whatever the clip length.
    Closing the generator early (``break``) kills the decoder.

    Args:
        path_or_info: a file (probed with ``limits``) or a :class:`~spatialme.io.probing.VideoInfo`
            from :func:`~spatialme.io.probing.probe`.
        start: first timestamp to deliver, s (ignored for still images).
        max_frames: most frames to deliver (``None`` = to the end).
        chunk: most frames per yielded array.
        limits: used for probing, the frame cap (``limits.max_frames`` and
            ``limits.max_seconds``) and the stall timeout.

    Yields:
        ``(n, H, W, 3)`` uint8 arrays with ``1 <= n <= chunk``, ``H, W = info.height, info.width``.

    Raises:
        VideoError: what :func:`~spatialme.io.probing.probe` raises; ``start`` past the end; no
            frame decodable; ffmpeg stalled for ``limits.timeout_s``.
        ValueError: a bad ``start``, ``max_frames`` or ``chunk``.
    """
    start_s = float(start) if isinstance(start, (int, float)) and not isinstance(start, bool) else math.nan
    if not (math.isfinite(start_s) and start_s >= 0):
        raise ValueError(f"start: expected a finite number of seconds >= 0, got {start!r}")
    check_int("max_frames", max_frames, 1, optional=True)
    check_int("chunk", chunk, 1)
    info = path_or_info if isinstance(path_or_info, VideoInfo) else probe(path_or_info, limits)
    return _iter_frames(info, start_s, max_frames, chunk, limits)


def _frame_cap(info: VideoInfo, max_frames: int | None, limits: VideoLimits) -> int:
    """Most frames to decode: the caller's cap and the limits (a header may lie about length)."""
    caps = [math.ceil(limits.max_seconds * info.fps) + 1]
    if max_frames is not None:
        caps.append(max_frames)
    if limits.max_frames is not None:
        caps.append(limits.max_frames)
    return max(1, min(caps))


@dataclass
class _Decoded:
    """How a decoder run ended: frames delivered, whether it stalled, its exit code and stderr."""

    delivered: int = 0
    stalled: bool = False
    leftover: int = 0  # bytes of a partial last frame
    returncode: int = 0
    stderr: str = ""


def _iter_frames(info: VideoInfo, start: float, max_frames: int | None, chunk: int,
                 limits: VideoLimits) -> Iterator[np.ndarray]:
    if info.is_image:
        yield read_image(info.path)[None]
        return
    if info.duration > 0 and start >= info.duration:
        raise VideoError(f"{_name(info.path)}: start={start:g}s is at or past the end of the video ({info.duration:.2f}s)")
    cap = _frame_cap(info, max_frames, limits)
    end = _Decoded()
    yield from _decode(info, start, cap, chunk, limits, end)
    _check_end(_name(info.path), start, cap, limits, end)


def _decode(info: VideoInfo, start: float, cap: int, chunk: int, limits: VideoLimits,
            end: _Decoded) -> Iterator[np.ndarray]:
    """Run the decoder and yield its chunks; ``end`` records how it ended."""
    h, w = info.height, info.width
    frame_bytes = h * w * 3
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error",
           *_decode_cmd(info.path, _fps_fraction(info.fps), info.video_filter, start, cap, h * w)]
    with tempfile.TemporaryFile() as errfile:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=errfile, bufsize=0)
        assert proc.stdout is not None
        _grow_pipe(proc.stdout.fileno())
        finished = False
        try:
            while end.delivered < cap:
                n = min(chunk, cap - end.delivered)
                buf = np.empty((n, h, w, 3), np.uint8)
                got, end.stalled = _read_full(proc.stdout, memoryview(buf.reshape(-1)), limits.timeout_s)
                k, end.leftover = divmod(got, frame_bytes)
                if k:
                    end.delivered += k
                    yield buf if k == n else buf[:k].copy()
                if k < n:
                    break
            finished = not end.stalled
        finally:
            # Reached only at the end, on an error, or when the consumer stops early
            # (GeneratorExit): in the last two cases ffmpeg is still running and is killed.
            if not finished and proc.poll() is None:
                proc.kill()
            proc.stdout.close()
            try:
                end.returncode = proc.wait(timeout=limits.timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                end.returncode = proc.wait()
        errfile.seek(0)
        end.stderr = errfile.read().decode("utf-8", "replace")


def _check_end(name: str, start: float, cap: int, limits: VideoLimits, end: _Decoded) -> None:
    """Raise when the decoder stalled, delivered nothing, or stopped short of ``cap`` on an error."""
    stderr, delivered = end.stderr, end.delivered
    if end.stalled:
        raise VideoError(f"{name}: ffmpeg stalled (no data for {limits.timeout_s:g}s) after {delivered} frames")
    if delivered == 0:
        where = f" after {start:g}s" if start > 0 else ""
        detail = f": {_last_error_line(stderr)}" if stderr.strip() else ""
        raise VideoError(f"{name}: no frame could be decoded{where} (corrupt or truncated video{detail})")
    if delivered < cap and (end.leftover or end.returncode != 0 or any(m in stderr for m in _TRUNCATION_MARKERS)):
        # Raised after the last chunk, so a writer fed from this generator is aborted, not finished.
        detail = f": {_last_error_line(stderr)}" if stderr.strip() else f" (ffmpeg exit code {end.returncode})"
        raise VideoError(f"{name}: decoding stopped after {delivered} frames (truncated or damaged video{detail})")
