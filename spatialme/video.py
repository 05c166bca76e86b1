"""Video and image input/output: probe, stream-decode and encode clips with the bundled ffmpeg.

Why it is built this way:

* **One ffmpeg, run as a subprocess.** ``imageio-ffmpeg`` ships a static ffmpeg (with
  libx264, zimg and a tonemap filter) that behaves the same on every machine, including a
  Hugging Face Space. There is no ffprobe in it, so :func:`probe` reads what ``ffmpeg -i``
  prints on stderr. We drive the binary ourselves rather than through
  ``imageio_ffmpeg.read_frames`` because we need the exit status and stderr to tell a
  truncated upload from a text file, a watchdog so a stuck decoder cannot hang a worker,
  and to read straight into preallocated numpy chunks.
* **Streaming.** :func:`read_frames` yields ``(n <= chunk, H, W, 3)`` uint8 chunks from a pipe
  and :class:`VideoWriter` pipes chunks into the encoder, so memory depends on the frame size
  and ``chunk``, never on the clip length (``benchmarks/bench_memory.py`` measures it).
* **One constant frame rate.** Phone clips are often variable-frame-rate. Decoding them
  naively duplicates frames up to the container's nominal rate, and writing those at the
  average rate makes the video longer than its audio. We pick one rate ``F`` per clip
  (the average rate, snapped to a broadcast rate when it is one, capped at 60), make ffmpeg
  resample to it on read (``-r F``) and write at ``F``, so ``frames / F`` equals the source
  duration and the copied audio stays in sync.
* **Upright, 8-bit SDR frames.** ffmpeg applies the rotation display matrix, so probe
  reports the displayed size. HDR (PQ or HLG transfer) is tonemapped to BT.709 with a
  zscale/tonemap chain; other 10/12-bit input is simply converted to 8 bits.
* **Hostile input.** Uploads are probed before any decoding: size and duration limits
  (:class:`VideoLimits`) are checked from the header, then one frame is decoded to prove the
  stream is readable. Every failure is a :class:`VideoError` with a one-line message that
  names the file and the problem.
* **No partial outputs.** Every output is written to a hidden temp file in the destination
  folder and moved into place with ``os.replace`` only when complete; errors, exceptions in
  a ``with`` block and garbage collection all remove the temp files. :class:`OutputClaim`
  reserves a run's output names before any work (an exclusive create, so a second run into
  the same path fails at once) and checks the folder is writable. :func:`stop_on_signals`
  turns SIGTERM and SIGHUP (what ``timeout``, a service manager or a closed terminal send)
  into an exception like SIGINT's, so the same clean-up runs; the few steps that create or
  rename a file and record it run with signals deferred (:func:`signals_deferred`), so a
  signal at any point leaves neither a temp file nor an empty claim behind.
* **Truncated files are errors.** A file whose data ends before its index says (a
  ``+faststart`` mp4 cut short still has its index and decodes in part) is refused by
  :func:`probe`, and a decoder that stops early makes :func:`read_frames` raise, so a
  conversion never silently writes fewer frames than the source has.
* **Within H.264 level 6.2.** Browsers and hardware decoders refuse frames above 139,264
  macroblocks (8192x4352 px); :func:`h264_fit` gives the largest size that fits and
  :class:`VideoWriter` refuses larger frames.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import math
import os
import re
import secrets
import select
import signal
import subprocess
import tempfile
import threading
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import IO, Any

import numpy as np

from .checks import check_clip, check_image

__all__ = [
    "IMAGE_EXTENSIONS",
    "VIDEO_EXTENSIONS",
    "OUTPUT_VIDEO_EXTENSIONS",
    "H264_MAX_MACROBLOCKS",
    "OutputClaim",
    "OutputExists",
    "Stopped",
    "VideoError",
    "VideoLimits",
    "VideoInfo",
    "VideoWriter",
    "choose_fps",
    "ffmpeg_exe",
    "h264_fit",
    "is_image_path",
    "output_name",
    "probe",
    "read_frames",
    "read_image",
    "signals_deferred",
    "stop_on_signals",
    "tonemap_filter",
    "write_image",
]

_log = logging.getLogger(__name__)

IMAGE_EXTENSIONS: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")
"""Suffixes (lowercase) treated as still images; they are decoded with OpenCV."""

VIDEO_EXTENSIONS: tuple[str, ...] = (".mp4", ".mov", ".mkv", ".webm", ".gif", ".avi", ".m4v")
"""Suffixes (lowercase) accepted as video input; anything ffmpeg decodes also works."""

OUTPUT_VIDEO_EXTENSIONS: tuple[str, ...] = (".mp4", ".m4v", ".mov", ".mkv")
"""Suffixes :class:`VideoWriter` can produce (H.264 + AAC)."""

MAX_FPS = 60.0
"""Highest frame rate frames are delivered at; faster sources are resampled down."""

_STANDARD_FPS: tuple[Fraction, ...] = (
    Fraction(24000, 1001), Fraction(24), Fraction(25), Fraction(30000, 1001), Fraction(30),
    Fraction(48), Fraction(50), Fraction(60000, 1001), Fraction(60),
)
_SNAP_TOLERANCE = 0.01  # relative distance to a broadcast rate that snaps to it
_HDR_TRANSFERS = ("smpte2084", "arib-std-b67")
_ZIMG_PRIMARIES = ("bt709", "bt470m", "bt470bg", "smpte170m", "smpte240m", "film", "bt2020",
                   "smpte428", "smpte431", "smpte432")
_ZIMG_MATRICES = ("bt709", "fcc", "bt470bg", "smpte170m", "smpte240m", "ycgco", "bt2020nc", "bt2020c")
_X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow",
                 "slower", "veryslow", "placebo")
_MUXERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska"}
_FINISH_TIMEOUT_S = 600.0  # encoder flush and audio remux
# Demuxers untrusted input may use (mov covers mp4/m4v/3gp, matroska covers webm).
_DEMUXERS = ("mov", "matroska", "gif", "avi", "mpegts", "mpeg", "flv", "ogg", "asf", "ivf", "apng",
             "image2", "png_pipe", "jpeg_pipe", "webp_pipe", "bmp_pipe", "tiff_pipe", "gif_pipe",
             "mp3", "wav", "flac", "aac")  # audio-only demuxers: for audio_source files


H264_MAX_MACROBLOCKS = 139_264
"""Most 16x16 macroblocks per frame in H.264 level 6.2 (MaxFS, ITU-T H.264 Table A-1),
the highest level; 8192x4352 px. Its rate limit (16,711,680 macroblocks/s) admits such
frames at 120 fps, above :data:`MAX_FPS`, so only the frame size can exceed the level."""

_TRUNCATION_MARKERS = ("partial file", "File ended prematurely")  # mov/mp4 and matroska demuxers

LARGE_FRAME_PIXELS = 3840 * 2160
"""Frames above this many pixels (4K UHD) are encoded with x264 holding as few frames as it
can (see :func:`_x264_memory_args`)."""


class VideoError(ValueError):
    """A user-facing problem with a media file; ``str(err)`` is one line naming file and cause."""


class OutputExists(VideoError):
    """An output name is taken: the file exists, or another run has claimed it (see :class:`OutputClaim`)."""


class Stopped(KeyboardInterrupt):
    """A termination signal stopped the run inside :func:`stop_on_signals`.

    A ``KeyboardInterrupt`` (so ``except Exception`` does not swallow it, and everything that
    cleans up after Ctrl-C cleans up after it too).

    Attributes:
        signum: the signal number (``signal.SIGTERM``, ``signal.SIGHUP`` or ``signal.SIGINT``).
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = int(signum)


@dataclass(frozen=True)
class VideoLimits:
    """What :func:`probe` and :func:`read_frames` accept; larger inputs raise :class:`VideoError`.

    The defaults admit anything up to 8K and four hours; a web demo should pass tighter ones
    (for example ``VideoLimits(max_side=1920, max_seconds=20)``).

    Attributes:
        max_side: largest allowed width or height, px (displayed size).
        max_pixels: largest allowed ``width * height`` per frame, px.
        max_seconds: longest allowed video duration, s.
        max_frames: most frames allowed at the delivered frame rate (``None`` = no limit);
            :func:`read_frames` also never decodes more than this.
        timeout_s: longest any ffmpeg step may run while probing, and the longest a running
            decoder may go without producing data, s. Stuck processes are killed.
    """

    max_side: int = 8192
    max_pixels: int = 8192 * 4320
    max_seconds: float = 4 * 3600
    max_frames: int | None = None
    timeout_s: float = 120.0

    def __post_init__(self) -> None:
        for name in ("max_side", "max_pixels"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}: expected a positive int, got {value!r}")
        if self.max_frames is not None and (isinstance(self.max_frames, bool) or not isinstance(self.max_frames, int)
                                            or self.max_frames < 1):
            raise ValueError(f"max_frames: expected a positive int or None, got {self.max_frames!r}")
        for name in ("max_seconds", "timeout_s"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not (0 < value < math.inf):
                raise ValueError(f"{name}: expected a positive number of seconds, got {value!r}")


@dataclass(frozen=True)
class VideoInfo:
    """What :func:`probe` learned about a clip or image, and how :func:`read_frames` decodes it.

    Attributes:
        path: the file.
        width, height: displayed frame size after rotation, px; frames are ``(height, width, 3)``.
        fps: the constant rate frames are delivered at, frames/s (1.0 for a still image).
        frames: frames :func:`read_frames` delivers from the start: exact for constant-rate
            sources, an estimate (within a frame or two) for variable-rate or damaged ones;
            1 for an image.
        duration: video duration, s (``frames / fps`` up to rounding; 1.0 for an image).
        has_audio: the file has an audio stream.
        is_image: a still image (decoded with OpenCV, one frame).
        codec: the decoder name ffmpeg reports, e.g. ``"h264"``, ``"png"``.
        pix_fmt: the source pixel format, e.g. ``"yuv420p10le"``.
        hdr: PQ (smpte2084) or HLG (arib-std-b67) transfer; frames are tonemapped to SDR.
        rotation: display rotation ffmpeg applies, degrees counter-clockwise (0, 90, 180, 270).
        transfer: the source transfer characteristic as ffmpeg names it ("" = unknown).
        video_filter: the ffmpeg ``-vf`` chain used when decoding ("" = none).
    """

    path: str
    width: int
    height: int
    fps: float
    frames: int
    duration: float
    has_audio: bool
    is_image: bool
    codec: str
    pix_fmt: str
    hdr: bool
    rotation: int = 0
    transfer: str = ""
    video_filter: str = field(default="", repr=False)


# --------------------------------------------------------------------------- small helpers


def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary bundled with ``imageio-ffmpeg`` (or ``IMAGEIO_FFMPEG_EXE``)."""
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def is_image_path(path: str | os.PathLike[str]) -> bool:
    """True when ``path`` has a still-image suffix (see :data:`IMAGE_EXTENSIONS`)."""
    return Path(os.fspath(path)).suffix.lower() in IMAGE_EXTENSIONS


def _name(path: str | os.PathLike[str]) -> str:
    """The file name used in messages (no folders: server paths stay private)."""
    return Path(os.fspath(path)).name or os.fspath(path)


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


def _fmt_seconds(seconds: float) -> str:
    """``5025.0`` -> ``"1h23m45s"``; short times keep one decimal."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    s = int(round(seconds))
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s"


def choose_fps(reported: float | None, cap: float = MAX_FPS) -> Fraction:
    """Pick the constant delivery rate for a stream whose average rate ffmpeg reported.

    Args:
        reported: average frame rate, frames/s (``None`` or <= 0 when unknown -> 25).
        cap: highest rate returned, frames/s.

    Returns:
        The rate as an exact fraction: the nearest broadcast rate (24000/1001, 24, 25,
        30000/1001, 30, 48, 50, 60000/1001, 60) when ``reported`` is within 1% of one (ffmpeg
        prints 29.97 for 30000/1001; phone VFR clips average 29.8 or so), else ``reported``
        rounded to 0.01; always within ``[1, cap]``.
    """
    if reported is None or not math.isfinite(reported) or reported <= 0:
        reported = 25.0
    value = min(max(float(reported), 1.0), float(cap))
    nearest = min(_STANDARD_FPS, key=lambda std: abs(value - float(std)))
    if abs(value - float(nearest)) <= _SNAP_TOLERANCE * float(nearest) and nearest <= cap:
        return nearest
    return Fraction(f"{value:.2f}")


def _x264_memory_args(pixels: int) -> list[str]:
    """x264 options that bound the encoder's memory for frames of ``pixels`` px.

    x264 keeps dozens of frames in flight (lookahead, B-frames, references, frame threads):
    2.5 GB for 7680x2160 and 3.7 GB for the level-6.2-sized 11202x3150 with the defaults on
    two cores. Above :data:`LARGE_FRAME_PIXELS` it runs two threads without lookahead,
    macroblock tree or B-frames and with one reference: 1.7 GB at 11202x3150 (measured with
    ``/usr/bin/time``; files come out somewhat larger at the same CRF). Smaller frames keep
    the preset's settings.
    """
    if pixels <= LARGE_FRAME_PIXELS:
        return []
    return ["-threads", "2", "-x264-params", "rc-lookahead=0:sync-lookahead=0:mbtree=0:bframes=0:ref=1"]


def _fps_fraction(fps: float) -> Fraction:
    """Exact rational for a float rate (29.97002997 -> 30000/1001, 23.68 -> 592/25)."""
    return Fraction(fps).limit_denominator(1001)


def _fps_arg(fps: Fraction) -> str:
    return f"{fps.numerator}/{fps.denominator}"


def _split_top_level(text: str) -> list[str]:
    """Split on commas that are not inside parentheses or brackets."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth = max(depth - 1, 0)
        elif ch == "," and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
    parts.append(text[start:].strip())
    return [p for p in parts if p]


def _parse_rate(token: str) -> float | None:
    """``"29.97"`` -> 29.97, ``"1k"`` -> 1000.0, junk -> None."""
    token = token.strip()
    scale = 1000.0 if token.endswith("k") else 1.0
    try:
        value = float(token.rstrip("k")) * scale
    except ValueError:
        return None
    return value if math.isfinite(value) and value > 0 else None


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
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name}: expected a positive int, got {value!r}")

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


# --------------------------------------------------------------------------- signals


_SIGNAL_STATE = threading.local()


def _signal_state() -> Any:
    """This thread's deferral depth, pending signal and whether a stop is under way."""
    state = _SIGNAL_STATE
    if not hasattr(state, "depth"):
        state.depth, state.pending, state.stopping = 0, None, False
    return state


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold back :class:`Stopped` until the block ends (no-op outside :func:`stop_on_signals`).

    For the steps that must not be cut in two: create a file and record it for clean-up,
    move a finished file into place and forget its temp name, remove temp files. A signal
    that arrives inside is raised when the outermost such block ends normally.
    """
    state = _signal_state()
    state.depth += 1
    try:
        yield
    finally:
        state.depth -= 1
    if state.depth == 0 and state.pending is not None and not state.stopping:
        state.stopping = True
        raise Stopped(state.pending)


def _on_signal(signum: int, frame: Any) -> None:
    state = _signal_state()
    if state.stopping:  # already unwinding: a repeated signal must not cut the clean-up short
        return
    if state.depth:
        state.pending = state.pending or signum
        return
    state.stopping = True
    raise Stopped(signum)


@contextlib.contextmanager
def stop_on_signals(signums: tuple[int, ...] | None = None) -> Iterator[None]:
    """Inside the block, SIGINT, SIGTERM and SIGHUP raise :class:`Stopped` in the main thread.

    Their default action ends the process at once, leaving temp files and claimed names
    behind; as an exception they unwind through every ``with`` block, which removes them.
    A repeated signal during that clean-up is ignored. The previous handlers come back at
    the end. Outside the main thread (where Python cannot set handlers) this does nothing.

    Args:
        signums: the signals to catch (default: SIGINT, SIGTERM and, where it exists, SIGHUP).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    if signums is None:
        signums = tuple(getattr(signal, n) for n in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, n))
    state = _signal_state()
    state.pending, state.stopping = None, False
    previous = {signum: signal.signal(signum, _on_signal) for signum in signums}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        state.pending, state.stopping = None, False


# --------------------------------------------------------------------------- header parsing


@dataclass(frozen=True)
class _Stream:
    """One ``Stream #0:i`` line of ``ffmpeg -i`` output (plus its side-data lines)."""

    index: int
    kind: str  # "video", "audio", "subtitle", "data", "attachment"
    codec: str = ""
    pix_fmt: str = ""
    color_range: str = ""
    matrix: str = ""
    primaries: str = ""
    transfer: str = ""
    width: int = 0
    height: int = 0
    fps: float | None = None
    tbr: float | None = None
    rotation: int = 0
    attached_pic: bool = False


@dataclass(frozen=True)
class _Header:
    duration: float | None
    streams: tuple[_Stream, ...]

    def video(self) -> _Stream | None:
        """The stream ``-map 0:V:0`` selects: the first video stream that is not cover art."""
        return next((s for s in self.streams if s.kind == "video" and not s.attached_pic), None)

    @property
    def has_audio(self) -> bool:
        return any(s.kind == "audio" for s in self.streams)


_STREAM_RE = re.compile(r"^\s*Stream #\d+:(\d+)\S*: (Video|Audio|Subtitle|Data|Attachment): (.*)$")
_DURATION_RE = re.compile(r"Duration: (\d+):(\d{2}):(\d{2}(?:\.\d+)?)")
_ROTATION_RE = re.compile(r"rotation of (-?\d+(?:\.\d+)?) degrees", re.IGNORECASE)
_SIZE_RE = re.compile(r"^(\d+)x(\d+)")
_FRAME_COUNT_RE = re.compile(r"frame=\s*(\d+)")


def _parse_pix_fmt(token: str) -> dict[str, str]:
    """``"yuv420p10le(tv, bt2020nc/bt2020/smpte2084, progressive)"`` -> name and colour tags."""
    out = {"pix_fmt": token.split("(", 1)[0].strip()}
    if "(" not in token:
        return out
    for item in token.split("(", 1)[1].rstrip(")").split(","):
        item = item.strip()
        if item in ("tv", "pc"):
            out["color_range"] = item
        elif "/" in item:
            matrix, primaries, transfer = (item.split("/") + ["", ""])[:3]
            out.update(matrix=matrix, primaries=primaries, transfer=transfer)
        elif item and item != "progressive" and "first" not in item:
            out.update(matrix=item, primaries=item, transfer=item)  # all three equal
    return {k: ("" if v in ("unknown", "reserved") else v) for k, v in out.items()}


def _parse_stream(index: int, kind: str, body: str, extra: list[str]) -> _Stream:
    """Build a :class:`_Stream` from the text after ``Video:``/``Audio:`` and its side data."""
    kind = kind.lower()
    parts = _split_top_level(body)
    codec = parts[0].split()[0] if parts and parts[0] else ""
    if kind != "video":
        return _Stream(index=index, kind=kind, codec=codec)
    fields: dict[str, Any] = {}
    if len(parts) > 1:
        fields.update(_parse_pix_fmt(parts[1]))
    for part in parts[1:]:
        size = _SIZE_RE.match(part)
        if size and "width" not in fields:
            fields["width"], fields["height"] = int(size.group(1)), int(size.group(2))
        elif part.endswith(" fps"):
            fields["fps"] = _parse_rate(part[:-4])
        elif part.endswith(" tbr"):
            fields["tbr"] = _parse_rate(part[:-4])
    rotation = 0
    for line in extra:
        m = _ROTATION_RE.search(line)
        if m:
            rotation = int(round(float(m.group(1)))) % 360
    return _Stream(index=index, kind=kind, codec=codec, rotation=rotation,
                   attached_pic="attached pic" in body, **fields)


def _parse_header(stderr: str) -> _Header | None:
    """Parse the ``Input #0`` block of ffmpeg's stderr; ``None`` when ffmpeg opened nothing."""
    lines = stderr.splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.startswith("Input #0"))
    except StopIteration:
        return None
    block: list[str] = []
    for line in lines[start + 1:]:
        if line.startswith(("Output #", "Stream mapping:", "Input #")) or not line.startswith(" "):
            break
        block.append(line)
    duration = None
    m = next((m for m in map(_DURATION_RE.search, block) if m), None)
    if m:
        duration = int(m.group(1)) * 3600 + int(m.group(2)) * 60 + float(m.group(3))
    streams: list[_Stream] = []
    pending: tuple[int, str, str] | None = None
    extra: list[str] = []
    for line in block + ["  Stream #0:999: Data: end"]:
        sm = _STREAM_RE.match(line)
        if sm:
            if pending is not None:
                streams.append(_parse_stream(*pending, extra))
            pending, extra = (int(sm.group(1)), sm.group(2), sm.group(3)), []
        elif pending is not None:
            extra.append(line)
    return _Header(duration=duration, streams=tuple(streams))


def _parse_output_size(stderr: str) -> tuple[int, int] | None:
    """``(width, height)`` of the first video stream in the ``Output #0`` block (after rotation)."""
    lines = stderr.splitlines()
    seen_output = False
    for line in lines:
        if line.startswith("Output #0"):
            seen_output = True
        elif seen_output:
            sm = _STREAM_RE.match(line)
            if sm and sm.group(2) == "Video":
                for part in _split_top_level(sm.group(3)):
                    size = _SIZE_RE.match(part)
                    if size:
                        return int(size.group(1)), int(size.group(2))
    return None


def _last_error_line(stderr: str) -> str:
    """The most telling line of ffmpeg's stderr, shortened for a one-line message."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    generic = ("Error opening input file", "Error opening input files", "Conversion failed",
               "Terminating thread", "Task finished", "Nothing was written")
    useful = [line for line in lines if not line.startswith(generic)]
    text = (useful or lines or ["unknown error"])[-1]
    text = re.sub(r"^\[[^\]]*\]\s*", "", re.sub(r"^\[[^\]]*\]\s*", "", text))  # drop "[in#0 @ 0x..]"
    return text[:160]


def _open_error(name: str, stderr: str) -> VideoError:
    """Translate ffmpeg's failure to open a file into a one-line :class:`VideoError`."""
    if "misdetection possible" in stderr or "whitelist" in stderr:
        # e.g. a text file renamed .mp4: only the suffix matched a demuxer, or a playlist/concat
        # script, which we refuse to open (it could make ffmpeg read other files).
        return VideoError(f"{name}: not a video or image (ffmpeg could not decode it)")
    if "moov atom not found" in stderr:
        return VideoError(f"{name}: truncated or incomplete video "
                          "(the mp4 index is missing; was the upload cut short?)")
    if "End of file" in stderr or "error reading header" in stderr:
        return VideoError(f"{name}: truncated or corrupt video (ffmpeg could not read its header)")
    if "Permission denied" in stderr:
        return VideoError(f"{name}: permission denied")
    if "Invalid data found" in stderr or "Invalid argument" in stderr:
        return VideoError(f"{name}: not a video or image (ffmpeg could not decode it)")
    return VideoError(f"{name}: ffmpeg could not open it ({_last_error_line(stderr)})")


def _input_args(path: str) -> list[str]:
    """``-i`` for an untrusted file, restricted to plain local files in known containers.

    The whitelists stop ffmpeg from following playlists or concat scripts (which can make it
    read other files or URLs and render them into the output) and stop a name like
    ``concat:a|b`` from being taken as a protocol.
    """
    return ["-format_whitelist", ",".join(_DEMUXERS), "-protocol_whitelist", "file",
            "-i", "file:" + os.path.abspath(path)]


def _run_ffmpeg(args: list[str], name: str, timeout: float, what: str) -> subprocess.CompletedProcess[bytes]:
    """Run ffmpeg with ``args``; stdout and stderr captured; killed after ``timeout`` s."""
    try:
        return subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", *args], stdin=subprocess.DEVNULL,
                              capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise VideoError(f"{name}: ffmpeg timed out after {timeout:g}s while {what}") from None


# --------------------------------------------------------------------------- limits and filters


def _check_size(name: str, width: int, height: int, limits: VideoLimits) -> None:
    if width <= 0 or height <= 0:
        raise VideoError(f"{name}: no usable video frame size reported")
    if max(width, height) > limits.max_side:
        raise VideoError(f"{name}: resolution {width}x{height} is too large (limit: {limits.max_side} px per side)")
    if width * height > limits.max_pixels:
        raise VideoError(f"{name}: resolution {width}x{height} is too large "
                         f"(limit: {limits.max_pixels} pixels per frame)")


def _check_length(name: str, duration: float, frames: int, limits: VideoLimits) -> None:
    if duration > limits.max_seconds:
        raise VideoError(f"{name}: duration {_fmt_seconds(duration)} is too long "
                         f"(limit: {_fmt_seconds(limits.max_seconds)})")
    if limits.max_frames is not None and frames > limits.max_frames:
        raise VideoError(f"{name}: {frames} frames is too many (limit: {limits.max_frames} frames)")


def tonemap_filter(transfer: str, primaries: str = "", matrix: str = "", color_range: str = "") -> str:
    """ffmpeg ``-vf`` chain taking PQ/HLG video to 8-bit BT.709 SDR RGB.

    Linearises with zscale (100 nits = SDR white), converts BT.2020 primaries to BT.709,
    compresses highlights with the Mobius curve (keeps mid-tones where an SDR grade has them;
    Hable darkened our test pattern by a third), and re-applies the BT.709 curve. Unknown
    input tags default to BT.2020 non-constant-luminance limited range so zscale always has
    a path.

    Args:
        transfer: ``"smpte2084"`` or ``"arib-std-b67"``.
        primaries, matrix, color_range: the stream's tags as ffmpeg prints them ("" = unknown).
    """
    pin = primaries if primaries in _ZIMG_PRIMARIES else "bt2020"
    min_ = matrix if matrix in _ZIMG_MATRICES else "bt2020nc"
    rin = color_range if color_range in ("tv", "pc") else "tv"
    return (f"zscale=tin={transfer}:pin={pin}:min={min_}:rin={rin}:t=linear:npl=100,format=gbrpf32le,"
            "zscale=p=bt709,tonemap=mobius:desat=0,zscale=t=bt709:m=bt709:r=pc,format=gbrp")


# --------------------------------------------------------------------------- probe


def probe(path: str | os.PathLike[str], limits: VideoLimits = VideoLimits()) -> VideoInfo:
    """Inspect a video or image and check it against ``limits`` without decoding it all.

    Videos take two short ffmpeg runs: a packet count (no decoding) that also prints the
    header, then the decode of one frame through the exact filter chain :func:`read_frames`
    will use. Images are checked from ffmpeg's header and decoded with OpenCV.

    Args:
        path: the file.
        limits: size, duration and frame-count limits.

    Returns:
        :class:`VideoInfo` with the displayed size and the delivery frame rate.

    Raises:
        VideoError: missing or empty file, not a video or image, no video stream, truncated
            or corrupt file, zero decodable frames, or beyond ``limits`` (the message names
            the limit).
    """
    if not isinstance(limits, VideoLimits):
        raise ValueError(f"limits: expected VideoLimits, got {type(limits).__name__}")
    p = _check_input_file(path)
    if is_image_path(p):
        return _probe_image(p, limits)
    return _probe_video(p, limits)


def _probe_image(path: str, limits: VideoLimits) -> VideoInfo:
    name = _name(path)
    run = _run_ffmpeg(_input_args(path), name, limits.timeout_s, "probing")
    header = _parse_header(run.stderr.decode("utf-8", "replace"))
    stream = header.video() if header else None
    if stream is not None and stream.width:
        _check_size(name, stream.width, stream.height, limits)  # before a possibly huge decode
    image = read_image(path)
    h, w = image.shape[:2]
    _check_size(name, w, h, limits)
    return VideoInfo(path=path, width=w, height=h, fps=1.0, frames=1, duration=1.0, has_audio=False,
                     is_image=True, codec=stream.codec if stream else Path(path).suffix.lstrip(".").lower(),
                     pix_fmt=stream.pix_fmt if stream else "", hdr=False)


def _probe_video(path: str, limits: VideoLimits) -> VideoInfo:
    name = _name(path)
    # 1. Header only (no output; ffmpeg exits 1 after printing it): reject early on size/length.
    head = _run_ffmpeg(_input_args(path), name, limits.timeout_s, "probing")
    stderr = head.stderr.decode("utf-8", "replace")
    header = _parse_header(stderr)
    if header is None:
        raise _open_error(name, stderr)
    stream = header.video()
    if stream is None:
        raise VideoError(f"{name}: has no video stream (audio-only or not a video)")
    _check_size(name, stream.width, stream.height, limits)  # rotation swaps sides: same limits
    if header.duration is not None:
        _check_length(name, header.duration, 0, limits)
    if stream.pix_fmt in ("", "none"):
        raise VideoError(f"{name}: contains no video frames (empty or truncated video)")

    # 2. Count packets without decoding (reads the file once; capped at the duration limit).
    count = _run_ffmpeg([*_input_args(path), "-map", "0:V:0", "-c", "copy", "-t", f"{limits.max_seconds + 1:.3f}",
                         "-f", "null", "-"], name, limits.timeout_s, "counting frames")
    count_log = count.stderr.decode("utf-8", "replace")
    counts = _FRAME_COUNT_RE.findall(count_log)
    packets = int(counts[-1]) if counts else 0
    if packets == 0:
        raise VideoError(f"{name}: contains no video frames (empty or truncated video)")
    if any(marker in count_log for marker in _TRUNCATION_MARKERS):
        # The index (at the front of a +faststart mp4) lists frames whose data is missing.
        raise VideoError(f"{name}: truncated or incomplete video (its data ends after {packets} frames; "
                         "was the upload cut short?)")
    avg = next((r for r in (stream.fps, stream.tbr) if r is not None and r <= 240), None)
    if avg is None and header.duration:
        avg = packets / header.duration
    fps = choose_fps(avg)
    seconds = packets / avg if avg else packets / float(fps)
    if header.duration:
        seconds = min(seconds, header.duration + 1.0 / float(fps))
    frames = max(1, round(seconds * float(fps)))
    _check_length(name, seconds, frames, limits)

    # 3. Decode one frame through the exact read pipeline: proves it decodes, gives the upright size.
    hdr = stream.transfer in _HDR_TRANSFERS
    vf = tonemap_filter(stream.transfer, stream.primaries, stream.matrix, stream.color_range) if hdr else ""
    size = _decode_one(path, name, fps, vf, limits)
    if size is None and vf:
        _log.warning("%s: HDR tonemapping failed; decoding without it (colours may look washed out)", name)
        vf = ""
        size = _decode_one(path, name, fps, vf, limits)
    if size is None:
        raise VideoError(f"{name}: no frame could be decoded (corrupt or truncated video)")
    width, height = size
    _check_size(name, width, height, limits)
    return VideoInfo(path=path, width=width, height=height, fps=float(fps), frames=frames,
                     duration=frames / float(fps), has_audio=header.has_audio, is_image=False,
                     codec=stream.codec, pix_fmt=stream.pix_fmt, hdr=hdr, rotation=stream.rotation,
                     transfer=stream.transfer, video_filter=vf)


def _decode_cmd(path: str, fps: Fraction, vf: str, start: float, frames: int, pixels: int = 0) -> list[str]:
    """ffmpeg arguments that decode ``frames`` upright rgb24 frames at ``fps`` to stdout.

    Frames above :data:`LARGE_FRAME_PIXELS` (``pixels`` each) are decoded and written out by
    one thread each with the shortest output queue: ffmpeg otherwise decodes ahead of a slow
    reader into its queues (2.1 GB of 8K frames; 0.9 GB so), and at that size the pipeline,
    not decoding, sets the pace.
    """
    cmd = ["-ss", f"{start:.6f}"] if start > 0 else []
    large = pixels > LARGE_FRAME_PIXELS
    cmd += [*(["-threads", "1"] if large else []), *_input_args(path), "-map", "0:V:0", "-an", "-sn", "-dn"]
    if vf:
        cmd += ["-vf", vf]
    cmd += ["-r", _fps_arg(fps), "-fps_mode", "cfr", "-frames:v", str(frames), *(["-thread_queue_size", "1", "-threads", "1"] if large else []),
            "-pix_fmt", "rgb24", "-f", "rawvideo", "pipe:1"]
    return cmd


def _decode_one(path: str, name: str, fps: Fraction, vf: str, limits: VideoLimits) -> tuple[int, int] | None:
    """Decode the first frame; its ``(width, height)`` when that worked, else ``None``."""
    run = _run_ffmpeg(_decode_cmd(path, fps, vf, 0.0, 1), name, limits.timeout_s, "decoding a frame")
    size = _parse_output_size(run.stderr.decode("utf-8", "replace"))
    if size is None or len(run.stdout) != size[0] * size[1] * 3:
        return None
    return size


# --------------------------------------------------------------------------- reading


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
        path_or_info: a file (probed with ``limits``) or a :class:`VideoInfo` from :func:`probe`.
        start: first timestamp to deliver, s (ignored for still images).
        max_frames: most frames to deliver (``None`` = to the end).
        chunk: most frames per yielded array.
        limits: used for probing, the frame cap (``limits.max_frames`` and
            ``limits.max_seconds``) and the stall timeout.

    Yields:
        ``(n, H, W, 3)`` uint8 arrays with ``1 <= n <= chunk``, ``H, W = info.height, info.width``.

    Raises:
        VideoError: what :func:`probe` raises; ``start`` past the end; no frame decodable;
            ffmpeg stalled for ``limits.timeout_s``.
        ValueError: a bad ``start``, ``max_frames`` or ``chunk``.
    """
    start_s = float(start) if isinstance(start, (int, float)) and not isinstance(start, bool) else math.nan
    if not (math.isfinite(start_s) and start_s >= 0):
        raise ValueError(f"start: expected a finite number of seconds >= 0, got {start!r}")
    if max_frames is not None and (isinstance(max_frames, bool) or not isinstance(max_frames, int) or max_frames < 1):
        raise ValueError(f"max_frames: expected a positive int or None, got {max_frames!r}")
    if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1:
        raise ValueError(f"chunk: expected a positive int, got {chunk!r}")
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


def _iter_frames(info: VideoInfo, start: float, max_frames: int | None, chunk: int,
                 limits: VideoLimits) -> Iterator[np.ndarray]:
    name = _name(info.path)
    if info.is_image:
        yield read_image(info.path)[None]
        return
    if info.duration > 0 and start >= info.duration:
        raise VideoError(f"{name}: start={start:g}s is at or past the end of the video ({info.duration:.2f}s)")
    cap = _frame_cap(info, max_frames, limits)
    h, w = info.height, info.width
    frame_bytes = h * w * 3
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error",
           *_decode_cmd(info.path, _fps_fraction(info.fps), info.video_filter, start, cap, h * w)]
    with tempfile.TemporaryFile() as errfile:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=errfile, bufsize=0)
        assert proc.stdout is not None
        _grow_pipe(proc.stdout.fileno())
        delivered, stalled, leftover, finished = 0, False, 0, False
        try:
            while delivered < cap:
                n = min(chunk, cap - delivered)
                buf = np.empty((n, h, w, 3), np.uint8)
                got, stalled = _read_full(proc.stdout, memoryview(buf.reshape(-1)), limits.timeout_s)
                k, leftover = divmod(got, frame_bytes)
                if k:
                    delivered += k
                    yield buf if k == n else buf[:k].copy()
                if k < n:
                    break
            finished = not stalled
        finally:
            # Reached only at the end, on an error, or when the consumer stops early
            # (GeneratorExit): in the last two cases ffmpeg is still running and is killed.
            if not finished and proc.poll() is None:
                proc.kill()
            proc.stdout.close()
            try:
                rc = proc.wait(timeout=limits.timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                rc = proc.wait()
        errfile.seek(0)
        stderr = errfile.read().decode("utf-8", "replace")
    if stalled:
        raise VideoError(f"{name}: ffmpeg stalled (no data for {limits.timeout_s:g}s) after {delivered} frames")
    if delivered == 0:
        where = f" after {start:g}s" if start > 0 else ""
        detail = f": {_last_error_line(stderr)}" if stderr.strip() else ""
        raise VideoError(f"{name}: no frame could be decoded{where} (corrupt or truncated video{detail})")
    if delivered < cap and (leftover or rc != 0 or any(m in stderr for m in _TRUNCATION_MARKERS)):
        # Raised after the last chunk, so a writer fed from this generator is aborted, not finished.
        detail = f": {_last_error_line(stderr)}" if stderr.strip() else f" (ffmpeg exit code {rc})"
        raise VideoError(f"{name}: decoding stopped after {delivered} frames (truncated or damaged video{detail})")


# --------------------------------------------------------------------------- images


def read_image(path: str | os.PathLike[str]) -> np.ndarray:
    """Decode a still image with OpenCV.

    EXIF orientation is applied, alpha is dropped, 16-bit and grey images become 8-bit RGB.

    Args:
        path: an image file (any format OpenCV reads; see :data:`IMAGE_EXTENSIONS`).

    Returns:
        ``(H, W, 3)`` uint8 RGB.

    Raises:
        VideoError: missing, empty or undecodable file.
    """
    import cv2

    p = _check_input_file(path)
    data = np.fromfile(p, dtype=np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if image is None or image.ndim != 3 or 0 in image.shape:
        raise VideoError(f"{_name(p)}: not an image (could not decode it)")
    return np.ascontiguousarray(image[:, :, ::-1])


def _reserve_temp(dest: str, registry: list[str]) -> str:
    """Create an empty hidden file ``.<stem>.tmp-<random><suffix>`` beside ``dest``.

    ``O_EXCL`` with mode 0o666 (the umask applies) so the final file gets normal permissions,
    unlike ``mkstemp``'s 0o600. The name is appended to ``registry`` (whoever owns it removes
    it) in the same signal-deferred step that creates it, so no signal can leave it unowned.

    Raises:
        VideoError: the folder does not take new files (the message gives the reason, not
            the hidden name).
    """
    folder, base = os.path.split(os.path.abspath(dest))
    stem, suffix = os.path.splitext(base)
    for _ in range(100):
        candidate = os.path.join(folder, f".{stem}.tmp-{secrets.token_hex(4)}{suffix}")
        try:
            with signals_deferred():
                os.close(os.open(candidate, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
                registry.append(candidate)
            return candidate
        except FileExistsError:
            continue
        except OSError as err:
            raise VideoError(f"{base}: cannot write to its folder ({_reason(err)})") from None
    raise VideoError(f"{base}: could not create a temporary file in its folder")


def _reason(err: OSError) -> str:
    """``"permission denied"`` from an OSError: its text without errno or path."""
    return (err.strerror or err.__class__.__name__).lower()


def _remove_quietly(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.remove(path)


def _remove_all(paths: list[str]) -> None:
    """Remove and forget every path in ``paths`` (signals deferred: clean-up runs to the end)."""
    with signals_deferred():
        while paths:
            _remove_quietly(paths[-1])
            paths.pop()


def write_image(path: str | os.PathLike[str], image: np.ndarray) -> None:
    """Write an RGB image atomically: a hidden temp file in the same folder, then ``os.replace``.

    Args:
        path: destination; the suffix picks the format (.png lossless; .jpg/.jpeg quality 95;
            .webp quality 95; .bmp, .tif, .tiff). The folder is created if missing.
        image: ``(H, W, 3)`` uint8 RGB.

    Raises:
        ValueError: bad ``image`` or unsupported suffix.
        VideoError: the encoder failed.
    """
    import cv2

    image = check_image("image", image)
    dest = os.fspath(path)
    suffix = Path(dest).suffix.lower()
    if suffix not in IMAGE_EXTENSIONS:
        raise ValueError(f"path: unsupported image suffix {suffix!r}; use one of {', '.join(IMAGE_EXTENSIONS)}")
    params = {".jpg": [cv2.IMWRITE_JPEG_QUALITY, 95], ".jpeg": [cv2.IMWRITE_JPEG_QUALITY, 95],
              ".webp": [cv2.IMWRITE_WEBP_QUALITY, 95], ".png": [cv2.IMWRITE_PNG_COMPRESSION, 3]}.get(suffix, [])
    ok, encoded = cv2.imencode(suffix, np.ascontiguousarray(image[:, :, ::-1]), params)
    if not ok:
        raise VideoError(f"{_name(dest)}: could not encode the image as {suffix}")
    _make_folder(dest)
    temps: list[str] = []
    try:
        tmp = _reserve_temp(dest, temps)
        with open(tmp, "wb") as f:
            f.write(encoded.tobytes())
        with signals_deferred():
            os.replace(tmp, dest)
            temps.clear()
    finally:
        _remove_all(temps)


# --------------------------------------------------------------------------- writing


def _make_folder(dest: str) -> None:
    """Create the folder of ``dest`` if needed; a :class:`VideoError` with the reason if that fails."""
    try:
        os.makedirs(os.path.dirname(os.path.abspath(dest)), exist_ok=True)
    except OSError as err:
        raise VideoError(f"{_name(dest)}: cannot create its folder ({_reason(err)})") from None


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
        if isinstance(crf, bool) or not isinstance(crf, int) or not (0 <= crf <= 51):
            raise ValueError(f"crf: expected an int in [0, 51], got {crf!r}")
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
            with signals_deferred():
                os.replace(final_tmp, self.path)
                self._temps.remove(final_tmp)
        except OSError as err:
            self.abort()
            raise VideoError(f"{_name(self.path)}: could not move the finished file into place "
                             f"({_reason(err)})") from None
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
        final_tmp = video_tmp
        if self.audio_source is not None:
            try:
                final_tmp = _reserve_temp(self.path, self._temps)
            except VideoError:
                self.abort()
                raise
            duration = self.frames_written / float(self.fps)
            cmd = ["-loglevel", "error", "-y", "-i", video_tmp,
                   "-ss", f"{self.audio_start:.6f}", "-t", f"{duration:.6f}", *_input_args(self.audio_source),
                   "-map", "0:v:0", "-map", "1:a:0?", "-c:v", "copy", "-c:a", "aac", "-b:a", "192k",
                   *self._container_args(), final_tmp]
            try:
                run = _run_ffmpeg(cmd, _name(self.path), _FINISH_TIMEOUT_S, "adding the audio")
            except VideoError:
                self.abort()
                raise
            if run.returncode != 0:
                self.abort()
                raise VideoError(f"{_name(self.path)}: could not add the audio from {_name(self.audio_source)} "
                                 f"({_last_error_line(run.stderr.decode('utf-8', 'replace'))})")
            with signals_deferred():
                _remove_quietly(video_tmp)
                self._temps.remove(video_tmp)
        self._finished = final_tmp
        return final_tmp

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


# --------------------------------------------------------------------------- claiming outputs


_CLAIMED: dict[str, tuple[int, int]] = {}  # path -> (st_dev, st_ino) of a file this process owns there


def _identity(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _release(path: str) -> None:
    """Remove ``path`` if it is still the file this process claimed there, and forget it."""
    with signals_deferred():
        owned = _CLAIMED.pop(path, None)
        if owned is not None and _identity(path) == owned:
            _remove_quietly(path)


def _release_all_at_exit() -> None:
    for path in list(_CLAIMED):
        _release(path)


atexit.register(_release_all_at_exit)


class OutputClaim:
    """Reserve a run's output names before any work, and give them back if the run fails.

    On entry every output is checked: not an input file (refused even with ``overwrite``),
    not listed twice, its folder exists (it is created) and takes new files. With
    ``overwrite=False`` each name is then created exclusively (``O_EXCL``) as an empty file,
    which the finished output replaces with ``os.replace``: a second run into the same path
    fails at once with :class:`OutputExists` instead of replacing the first run's result at
    the end. With ``overwrite=True`` existing files stay until complete new ones replace them.

    When the block raises (an error, :class:`Stopped`), every name this claim created is
    removed again, and so is every output :meth:`placed` since (the run did not finish), as
    well as folders the claim created that are left empty. An ``atexit`` hook removes claims
    still held when the interpreter exits.

    Example:
        >>> with OutputClaim(["out/clip_LR.mp4"], inputs=["clip.mp4"]) as claim:  # doctest: +SKIP
        ...     with VideoWriter("out/clip_LR.mp4", 30) as w:
        ...         ...
        ...     claim.placed("out/clip_LR.mp4")

    Args:
        outputs: destination files.
        overwrite: replace existing files (see above).
        inputs: files the run reads; an output that is one of them raises ``ValueError``.

    Raises (on entry):
        OutputExists: an output exists (or is claimed by another run) and ``overwrite`` is False.
        VideoError: an output is an input file, a folder, or in a folder that cannot be created
            or written; the message names the path as given and the reason, never a temp name.
    """

    def __init__(self, outputs: list[str | os.PathLike[str]] | tuple[str | os.PathLike[str], ...], *,
                 overwrite: bool = False, inputs: tuple[str | os.PathLike[str], ...] | list[str | os.PathLike[str]] = ()) -> None:
        if isinstance(outputs, (str, os.PathLike)):
            outputs = [outputs]
        self.outputs = [os.fspath(p) for p in outputs]
        self.inputs = [os.fspath(p) for p in inputs]
        self.overwrite = bool(overwrite)
        self._held: list[str] = []  # absolute paths whose file this claim owns
        self._folders: list[str] = []  # folders created by the claim, deepest last

    def __enter__(self) -> OutputClaim:
        try:
            self._check()
            for path in self.outputs:
                self._claim(path)
        except BaseException:
            self._give_back()
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        if exc_type is not None:
            self._give_back()
            return
        with signals_deferred():
            for path in self._held:  # a name that was claimed but never written is no output
                if _CLAIMED.get(path) == _identity(path) and os.path.getsize(path) == 0:
                    _release(path)
                _CLAIMED.pop(path, None)
            self._held.clear()

    def placed(self, path: str | os.PathLike[str]) -> None:
        """Record that ``path`` now holds this run's finished output (removed if the run fails)."""
        full = os.path.abspath(os.fspath(path))
        with signals_deferred():
            ident = _identity(full)
            if ident is not None and not self.overwrite:
                _CLAIMED[full] = ident
                if full not in self._held:
                    self._held.append(full)

    # -- internals -------------------------------------------------------------------------

    def _check(self) -> None:
        seen: set[str] = set()
        for path in self.outputs:
            full = os.path.realpath(path)
            if full in seen:
                raise VideoError(f"output: {path} is named twice")
            seen.add(full)
            for src in self.inputs:
                if full == os.path.realpath(src) or (os.path.exists(path) and os.path.exists(src)
                                                     and os.path.samefile(path, src)):
                    raise VideoError(f"output: {path} is the input file; choose another output name")
            if os.path.isdir(path):
                raise VideoError(f"output: {path} is a folder; give a file name")

    def _make_folders(self, folder: str) -> None:
        missing = []
        probe_dir = folder
        while probe_dir and not os.path.exists(probe_dir):
            missing.append(probe_dir)
            probe_dir = os.path.dirname(probe_dir)
        if probe_dir and not os.path.isdir(probe_dir):
            raise VideoError(f"output: cannot create the folder {folder} ({probe_dir} is a file)")
        for path in reversed(missing):
            try:
                with signals_deferred():
                    os.mkdir(path)
                    self._folders.append(path)
            except FileExistsError:
                continue
            except OSError as err:
                raise VideoError(f"output: cannot create the folder {path} ({_reason(err)})") from None

    def _claim(self, path: str) -> None:
        full = os.path.abspath(path)
        folder = os.path.dirname(full)
        shown = os.path.dirname(path) or "."
        self._make_folders(folder)
        try:
            with signals_deferred():
                if self.overwrite:  # the name stays as it is: prove the folder takes new files
                    test = os.path.join(folder, f".{os.path.basename(full)}.tmp-{secrets.token_hex(4)}")
                    os.close(os.open(test, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
                    os.remove(test)
                    return
                os.close(os.open(full, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
                _CLAIMED[full] = _identity(full) or (0, 0)
                self._held.append(full)
        except FileExistsError:
            if os.path.isfile(full) and os.path.getsize(full) == 0:
                raise OutputExists(f"output: {path} is being written by another run (or is an empty file left by one)") from None
            raise OutputExists(f"output: {path} exists") from None
        except OSError as err:
            raise VideoError(f"output: cannot write to the folder {shown} ({_reason(err)})") from None

    def _give_back(self) -> None:
        with signals_deferred():
            while self._held:
                _release(self._held.pop())
            while self._folders:
                with contextlib.suppress(OSError):
                    os.rmdir(self._folders[-1])  # only if empty
                self._folders.pop()


# --------------------------------------------------------------------------- naming


_UNSAFE_CHARS = re.compile(r"[^\w\-.+() ]")


def output_name(input_path: str | os.PathLike[str], out_dir: str | os.PathLike[str], layout_tag: str,
                image: bool) -> str:
    """Name the converted file: ``clip.mov`` + ``"_LR"`` -> ``out_dir/clip_LR.mp4``.

    Videos always become ``.mp4`` (H.264 plays everywhere) and images ``.png`` (lossless).
    The stem is made safe: characters outside letters, digits and ``-._+() `` become ``_``,
    leading dots are dropped (hidden files are not served by Gradio) and it is cut to 120
    characters. If the result would overwrite the input, ``_3d`` is appended.

    Args:
        input_path: the source file.
        out_dir: destination folder.
        layout_tag: appended to the stem verbatim, e.g. ``"_LR"``, ``"_3dh_half"`` (letters,
            digits and ``-._`` only).
        image: True for a still image.

    Returns:
        The output path as ``str``.
    """
    if not isinstance(layout_tag, str) or not re.fullmatch(r"[\w\-.]*", layout_tag, flags=re.ASCII):
        raise ValueError(f"layout_tag: expected letters, digits, '-', '_' or '.', got {layout_tag!r}")
    stem = _UNSAFE_CHARS.sub("_", Path(os.fspath(input_path)).stem).lstrip(".").strip()[:120] or "output"
    suffix = ".png" if image else ".mp4"
    out = os.path.join(os.fspath(out_dir), f"{stem}{layout_tag}{suffix}")
    if os.path.abspath(out) == os.path.abspath(os.fspath(input_path)):
        out = os.path.join(os.fspath(out_dir), f"{stem}{layout_tag}_3d{suffix}")
    return out
