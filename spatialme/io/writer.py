"""Encode RGB frames to a browser-playable H.264 file with the source audio, all or nothing.

* **Streaming.** :class:`VideoWriter` pipes chunks into the encoder one frame at a time, so
  memory depends on the frame size, never on the clip length.
* **No partial outputs.** The encoder writes a hidden temp file beside the destination, the
  audio is muxed into a second one, and only the complete file is moved onto the name
  (:mod:`spatialme.io.atomic`); errors, exceptions in a ``with`` block and garbage
  collection kill the encoder and remove the temp files.
* **Within H.264 level 6.2.** Browsers and hardware decoders refuse frames above 139,264
  macroblocks (8192x4352 px); :func:`h264_fit` gives the largest size that fits and
  :class:`VideoWriter` refuses larger frames.
"""

from __future__ import annotations

import contextlib
import math
import os
import subprocess
import tempfile
import weakref
from pathlib import Path
from typing import IO, Any

import numpy as np

from ..checks import check_clip, check_int
from .atomic import _make_folder, _place, _remove_all, _remove_quietly, _reserve_temp
from .errors import VideoError, _check_input_file, _name
from .ffmpeg import (
    _fps_arg,
    _fps_fraction,
    _input_args,
    _last_error_line,
    _run_ffmpeg,
    _x264_memory_args,
    ffmpeg_exe,
)
from .naming import OUTPUT_VIDEO_EXTENSIONS
from .signals import signals_deferred

__all__ = ["H264_MAX_MACROBLOCKS", "VideoWriter", "h264_fit"]

H264_MAX_MACROBLOCKS = 139_264
"""Most 16x16 macroblocks per frame in H.264 level 6.2 (MaxFS, ITU-T H.264 Table A-1),
the highest level; 8192x4352 px. Its rate limit (16,711,680 macroblocks/s) admits such
frames at 120 fps, above :data:`~spatialme.io.probing.MAX_FPS`, so only the frame size can
exceed the level."""

_X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow",
                 "slower", "veryslow", "placebo")
_MUXERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska"}
_FINISH_TIMEOUT_S = 600.0  # encoder flush and audio remux


def h264_fit(width: int, height: int) -> tuple[int, int]:
    """The largest frame size with ``width:height``'s aspect that H.264 level 6.2 allows.

    Args:
        width, height: wanted frame size, px (>= 1).

    Returns:
        ``(width, height)`` unchanged when its macroblock count (each side rounded up to 16 px)
        is at most :data:`H264_MAX_MACROBLOCKS`; else both scaled by one factor and rounded
        down to even px (yuv420p) so that the count fits.
    """
    for name, value in (("width", width), ("height", height)):
        check_int(name, value, 1)

    def blocks(w: int, h: int) -> int:
        return -(-w // 16) * -(-h // 16)

    if blocks(width, height) <= H264_MAX_MACROBLOCKS:
        return width, height
    scale = math.sqrt(H264_MAX_MACROBLOCKS * 256 / (width * height))
    while True:  # a few steps at most: rounding up to whole macroblocks can overshoot slightly
        w, h = max(2, int(width * scale) // 2 * 2), max(2, int(height * scale) // 2 * 2)
        if blocks(w, h) <= H264_MAX_MACROBLOCKS:
            return w, h
        scale *= 0.995


def _cleanup(procs: list[subprocess.Popen[bytes]], temps: list[str]) -> None:
    """Kill encoders and delete temp files (shared by abort, errors and garbage collection)."""
    with signals_deferred():
        while procs:
            proc = procs.pop()
            if proc.poll() is None:
                proc.kill()
            for pipe in (proc.stdin, proc.stdout, proc.stderr):
                if pipe is not None:
                    with contextlib.suppress(OSError):
                        pipe.close()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)
        _remove_all(temps)


class VideoWriter:
    """Encode RGB frames to a browser-playable H.264 file, with the source audio copied over.

    Frames go through a pipe to ffmpeg/libx264 (yuv420p, BT.709 tags) into a hidden temp file
    beside ``path``. :meth:`close` then muxes in the first audio stream of ``audio_source``
    (AAC, starting at ``audio_start``, no longer than the video; a silent source is fine), adds
    ``+faststart``, and renames the result to ``path`` (:meth:`finish` does all but the rename,
    for callers that move several files into place at once). Any failure, an exception inside
    a ``with`` block, or :meth:`abort` leaves no output and no temp file. Frames beyond H.264
    level 6.2 are refused (:func:`h264_fit` gives the size to scale them to).

    Example:
        >>> with VideoWriter("out_LR.mp4", info.fps, audio_source=info.path) as w:  # doctest: +SKIP
        ...     for chunk in read_frames(info):
        ...         w.write(chunk)

    Args:
        path: destination ``.mp4`` (also ``.m4v``, ``.mov``, ``.mkv``); the folder is created.
        fps: frame rate, frames/s (use ``VideoInfo.fps`` so audio stays in sync).
        audio_source: file whose first audio stream is copied, or ``None`` for silence.
        audio_start: offset into ``audio_source`` matching the first written frame, s.
        crf: x264 constant rate factor, 0 (lossless) to 51; 18 is visually transparent.
        preset: x264 speed preset (``"ultrafast"`` ... ``"veryslow"``).
    """

    def __init__(self, path: str | os.PathLike[str], fps: float, *, audio_source: str | os.PathLike[str] | None = None,
                 audio_start: float = 0.0, crf: int = 18, preset: str = "medium") -> None:
        if not isinstance(path, (str, os.PathLike)):
            raise ValueError(f"path: expected a str or os.PathLike, got {type(path).__name__}")
        self.path = os.fspath(path)
        self._suffix = Path(self.path).suffix.lower()
        if self._suffix not in OUTPUT_VIDEO_EXTENSIONS:
            raise ValueError(f"path: unsupported video suffix {self._suffix!r}; use one of "
                             f"{', '.join(OUTPUT_VIDEO_EXTENSIONS)}")
        if isinstance(fps, bool) or not isinstance(fps, (int, float)) or not (0 < fps <= 1000):
            raise ValueError(f"fps: expected a frame rate in (0, 1000], got {fps!r}")
        self.fps = _fps_fraction(float(fps))
        if self.fps <= 0:
            raise ValueError(f"fps: expected a frame rate in (0, 1000], got {fps!r}")
        check_int("crf", crf, 0, 51)
        if preset not in _X264_PRESETS:
            raise ValueError(f"preset: expected one of {', '.join(_X264_PRESETS)}; got {preset!r}")
        if isinstance(audio_start, bool) or not isinstance(audio_start, (int, float)) or not (
                math.isfinite(audio_start) and audio_start >= 0):
            raise ValueError(f"audio_start: expected a finite number of seconds >= 0, got {audio_start!r}")
        self.audio_source = None if audio_source is None else _check_input_file(audio_source)
        self.audio_start = float(audio_start)
        self.crf, self.preset = crf, preset
        self.frames_written = 0
        self.size: tuple[int, int] | None = None  # (H, W) of the frames given to write()
        self._closed = False
        self._procs: list[subprocess.Popen[bytes]] = []
        self._temps: list[str] = []
        self._errfile: IO[bytes] | None = None
        self._finished: str | None = None  # the complete temp file, once finish() ran
        _make_folder(self.path)
        self._finalizer = weakref.finalize(self, _cleanup, self._procs, self._temps)

    # -- context manager -------------------------------------------------------------------

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        if exc_type is not None:
            self.abort()
        elif not self._closed:
            self.close()

    # -- public ----------------------------------------------------------------------------

    def write(self, frames: np.ndarray) -> None:
        """Append frames.

        Args:
            frames: ``(n, H, W, 3)`` or ``(H, W, 3)`` uint8 RGB. ``H, W`` are fixed by the first
                call; odd sizes are padded to even by repeating the last row/column.

        Raises:
            ValueError: bad array, size change, or the writer is closed.
            VideoError: the encoder failed (the writer is then aborted).
        """
        if self._closed or self._finished is not None:
            raise ValueError(f"{_name(self.path)}: VideoWriter is already closed")
        clip = check_clip("frames", frames)
        h, w = clip.shape[1:3]
        if self.size is None:
            if h264_fit(w + w % 2, h + h % 2) != (w + w % 2, h + h % 2):
                fit_w, fit_h = h264_fit(w, h)
                raise ValueError(f"frames: {w}x{h} is beyond H.264 level 6.2 ({H264_MAX_MACROBLOCKS:,} macroblocks "
                                 f"per frame), which players may refuse; scale them to {fit_w}x{fit_h} or less")
            self.size = (h, w)
            self._start_encoder(h + h % 2, w + w % 2)
        elif (h, w) != self.size:
            raise ValueError(f"frames: expected frames of size {self.size[0]}x{self.size[1]} (HxW) "
                             f"like the first ones, got {h}x{w}")
        proc = self._procs[0]
        assert proc.stdin is not None
        pad = ((0, h % 2), (0, w % 2), (0, 0))
        try:
            for frame in clip:  # one frame at a time: a strided view costs one frame's copy, not n
                if h % 2 or w % 2:
                    frame = np.pad(frame, pad, mode="edge")
                proc.stdin.write(memoryview(np.ascontiguousarray(frame).reshape(-1)))
                self.frames_written += 1
        except (BrokenPipeError, OSError, ValueError):
            raise self._fail("the encoder stopped") from None

    def close(self) -> str:
        """Finish encoding, add the audio, move the file into place.

        Returns:
            The final path.

        Raises:
            VideoError: no frames were written, or ffmpeg failed (no output is left).
        """
        if self._closed:
            raise ValueError(f"{_name(self.path)}: VideoWriter is already closed")
        final_tmp = self.finish()
        try:
            _place(final_tmp, self.path, self._temps)
        finally:
            self.abort()  # removes the remaining temp file, closes the log
        return self.path

    def finish(self) -> str:
        """Finish encoding and add the audio, but leave the result in its temp file.

        :meth:`close` then only renames it (or :meth:`abort` removes it). Idempotent.

        Returns:
            The hidden temp file holding the complete video.

        Raises:
            VideoError: no frames were written, or ffmpeg failed (no output is left).
        """
        if self._closed:
            raise ValueError(f"{_name(self.path)}: VideoWriter is already closed")
        if self._finished is not None:
            return self._finished
        if self.frames_written == 0:
            self.abort()
            raise VideoError(f"{_name(self.path)}: no frames were written")
        proc = self._procs[0]
        assert proc.stdin is not None
        with contextlib.suppress(OSError):  # BrokenPipeError if the encoder already died
            proc.stdin.close()
        try:
            rc = proc.wait(timeout=_FINISH_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise self._fail(f"the encoder did not finish within {_FINISH_TIMEOUT_S:g}s") from None
        if rc != 0:
            raise self._fail(f"the encoder failed (exit code {rc})")
        self._procs.clear()
        video_tmp = self._temps[0]
        try:
            self._finished = video_tmp if self.audio_source is None else self._add_audio(video_tmp)
        except VideoError:
            self.abort()
            raise
        return self._finished

    def abort(self) -> None:
        """Kill the encoder and delete temp files; nothing is written to ``path``. Idempotent."""
        self._closed = True
        _cleanup(self._procs, self._temps)
        if self._errfile is not None:
            self._errfile.close()
            self._errfile = None

    # -- internals -------------------------------------------------------------------------

    def _container_args(self) -> list[str]:
        args = ["-movflags", "+faststart"] if self._suffix in (".mp4", ".m4v", ".mov") else []
        return [*args, "-f", _MUXERS[self._suffix]]

    def _start_encoder(self, height: int, width: int) -> None:
        tmp = _reserve_temp(self.path, self._temps)
        # With audio the faststart pass happens in the remux, so skip it here.
        container = self._container_args() if self.audio_source is None else ["-f", _MUXERS[self._suffix]]
        cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
               "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-r", _fps_arg(self.fps),
               "-i", "pipe:0", "-an",
               "-vf", "scale=out_color_matrix=bt709:out_range=tv,"
                      "setparams=colorspace=bt709:color_primaries=bt709:color_trc=bt709:range=tv",
               "-c:v", "libx264", "-preset", self.preset, "-crf", str(self.crf), "-pix_fmt", "yuv420p",
               *_x264_memory_args(height * width), *container, tmp]
        self._errfile = tempfile.TemporaryFile()  # noqa: SIM115 - closed by abort()
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self._errfile)
        self._procs.append(proc)

    def _add_audio(self, video_tmp: str) -> str:
        """Mux ``video_tmp`` with the audio into a second temp file, remove ``video_tmp``, return the new one."""
        assert self.audio_source is not None
        final_tmp = _reserve_temp(self.path, self._temps)
        duration = self.frames_written / float(self.fps)
        cmd = ["-loglevel", "error", "-y", "-i", video_tmp,
               "-ss", f"{self.audio_start:.6f}", "-t", f"{duration:.6f}", *_input_args(self.audio_source),
               "-map", "0:v:0", "-map", "1:a:0?", "-c:v", "copy", "-c:a", "aac", "-b:a", "192k",
               *self._container_args(), final_tmp]
        run = _run_ffmpeg(cmd, _name(self.path), _FINISH_TIMEOUT_S, "adding the audio")
        if run.returncode != 0:
            raise VideoError(f"{_name(self.path)}: could not add the audio from {_name(self.audio_source)} "
                             f"({_last_error_line(run.stderr.decode('utf-8', 'replace'))})")
        with signals_deferred():
            _remove_quietly(video_tmp)
            self._temps.remove(video_tmp)
        return final_tmp

    def _fail(self, what: str) -> VideoError:
        """Abort and build the error, with ffmpeg's last complaint when there is one."""
        detail = ""
        proc = self._procs[0] if self._procs else None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        if self._errfile is not None:
            self._errfile.seek(0)
            text = self._errfile.read().decode("utf-8", "replace")
            detail = f": {_last_error_line(text)}" if text.strip() else ""
        self.abort()
        return VideoError(f"{_name(self.path)}: {what}{detail}")
