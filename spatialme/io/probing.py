"""Probe a clip or image before decoding it: size, rate, length, colour, and whether it decodes.

* **Hostile input.** Uploads are probed before any decoding: size and duration limits
  (:class:`VideoLimits`) are checked from the header, then one frame is decoded to prove the
  stream is readable. Every failure is a :class:`~spatialme.io.errors.VideoError` with a
  one-line message that names the file and the problem.
* **One constant frame rate.** Phone clips are often variable-frame-rate. Decoding them
  naively duplicates frames up to the container's nominal rate, and writing those at the
  average rate makes the video longer than its audio. We pick one rate ``F`` per clip
  (:func:`choose_fps`: the average rate, snapped to a broadcast rate when it is one, capped
  at 60), make ffmpeg resample to it on read (``-r F``) and write at ``F``, so
  ``frames / F`` equals the source duration and the copied audio stays in sync.
* **Upright, 8-bit SDR frames.** ffmpeg applies the rotation display matrix, so probe
  reports the displayed size. HDR (PQ or HLG transfer) is tonemapped to BT.709 with a
  zscale/tonemap chain (:func:`tonemap_filter`); other 10/12-bit input is simply converted
  to 8 bits.
* **Truncated files are errors.** A file whose data ends before its index says (a
  ``+faststart`` mp4 cut short still has its index and decodes in part) is refused.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

from .errors import VideoError, _check_input_file, _name
from ..checks import check_int
from .ffmpeg import (
    _FRAME_COUNT_RE,
    _TRUNCATION_MARKERS,
    _decode_cmd,
    _Header,
    _input_args,
    _open_error,
    _parse_header,
    _parse_output_size,
    _run_ffmpeg,
    _Stream,
)
from .images import read_image
from .naming import is_image_path

__all__ = ["MAX_FPS", "VideoInfo", "VideoLimits", "choose_fps", "probe", "tonemap_filter"]

_log = logging.getLogger(__name__)

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


@dataclass(frozen=True)
class VideoLimits:
    """What :func:`probe` and :func:`~spatialme.io.reader.read_frames` accept; larger inputs raise VideoError.

    The defaults admit anything up to 8K and four hours; a web demo should pass tighter ones
    (for example ``VideoLimits(max_side=1920, max_seconds=20)``).

    Attributes:
        max_side: largest allowed width or height, px (displayed size).
        max_pixels: largest allowed ``width * height`` per frame, px.
        max_seconds: longest allowed video duration, s.
        max_frames: most frames allowed at the delivered frame rate (``None`` = no limit);
            :func:`~spatialme.io.reader.read_frames` also never decodes more than this.
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
            check_int(name, getattr(self, name), 1)
        check_int("max_frames", self.max_frames, 1, optional=True)
        for name in ("max_seconds", "timeout_s"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not (0 < value < math.inf):
                raise ValueError(f"{name}: expected a positive number of seconds, got {value!r}")


@dataclass(frozen=True)
class VideoInfo:
    """What :func:`probe` learned about a clip or image, and how :func:`~spatialme.io.reader.read_frames` decodes it.

    Attributes:
        path: the file.
        width, height: displayed frame size after rotation, px; frames are ``(height, width, 3)``.
        fps: the constant rate frames are delivered at, frames/s (1.0 for a still image).
        frames: frames :func:`~spatialme.io.reader.read_frames` delivers from the start: exact
            for constant-rate sources, an estimate (within a frame or two) for variable-rate or
            damaged ones; 1 for an image.
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


# --------------------------------------------------------------------------- rates, limits, filters


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


def _fmt_seconds(seconds: float) -> str:
    """``5025.0`` -> ``"1h23m45s"``; short times keep one decimal."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    s = int(round(seconds))
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s"


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
    header, then the decode of one frame through the exact filter chain
    :func:`~spatialme.io.reader.read_frames` will use. Images are checked from ffmpeg's header
    and decoded with OpenCV.

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
    header, stream = _video_header(path, name, limits)
    packets = _count_packets(path, name, limits)
    fps, seconds, frames = _delivery_rate(header, stream, packets)
    _check_length(name, seconds, frames, limits)
    vf, (width, height) = _first_frame(path, name, fps, stream, limits)
    _check_size(name, width, height, limits)
    return VideoInfo(path=path, width=width, height=height, fps=float(fps), frames=frames,
                     duration=frames / float(fps), has_audio=header.has_audio, is_image=False,
                     codec=stream.codec, pix_fmt=stream.pix_fmt, hdr=stream.transfer in _HDR_TRANSFERS,
                     rotation=stream.rotation, transfer=stream.transfer, video_filter=vf)


def _video_header(path: str, name: str, limits: VideoLimits) -> tuple[_Header, _Stream]:
    """Step 1, the header only (no output; ffmpeg exits 1 after printing it): reject early on size/length."""
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
    return header, stream


def _count_packets(path: str, name: str, limits: VideoLimits) -> int:
    """Step 2, count packets without decoding (reads the file once; capped at the duration limit)."""
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
    return packets


def _delivery_rate(header: _Header, stream: _Stream, packets: int) -> tuple[Fraction, float, int]:
    """The constant rate frames are delivered at, the video's seconds, and its frames at that rate."""
    avg = next((r for r in (stream.fps, stream.tbr) if r is not None and r <= 240), None)
    if avg is None and header.duration:
        avg = packets / header.duration
    fps = choose_fps(avg)
    seconds = packets / avg if avg else packets / float(fps)
    if header.duration:
        seconds = min(seconds, header.duration + 1.0 / float(fps))
    return fps, seconds, max(1, round(seconds * float(fps)))


def _first_frame(path: str, name: str, fps: Fraction, stream: _Stream, limits: VideoLimits) -> tuple[str, tuple[int, int]]:
    """Step 3, decode one frame through the exact read pipeline: the ``-vf`` chain that works, and the upright size.

    HDR is tonemapped; when the tonemap chain fails the frames are decoded without it.
    """
    hdr = stream.transfer in _HDR_TRANSFERS
    vf = tonemap_filter(stream.transfer, stream.primaries, stream.matrix, stream.color_range) if hdr else ""
    size = _decode_one(path, name, fps, vf, limits)
    if size is None and vf:
        _log.warning("%s: HDR tonemapping failed; decoding without it (colours may look washed out)", name)
        vf = ""
        size = _decode_one(path, name, fps, vf, limits)
    if size is None:
        raise VideoError(f"{name}: no frame could be decoded (corrupt or truncated video)")
    return vf, size


def _decode_one(path: str, name: str, fps: Fraction, vf: str, limits: VideoLimits) -> tuple[int, int] | None:
    """Decode the first frame; its ``(width, height)`` when that worked, else ``None``."""
    run = _run_ffmpeg(_decode_cmd(path, fps, vf, 0.0, 1), name, limits.timeout_s, "decoding a frame")
    size = _parse_output_size(run.stderr.decode("utf-8", "replace"))
    if size is None or len(run.stdout) != size[0] * size[1] * 3:
        return None
    return size
