"""ffmpeg itself: where it is, the command lines we give it, and reading the text it prints.

* **One ffmpeg, run as a subprocess.** ``imageio-ffmpeg`` ships a static ffmpeg (with
  libx264, zimg and a tonemap filter) that behaves the same on every machine, including a
  Hugging Face Space. There is no ffprobe in it, so :func:`_parse_header` reads what
  ``ffmpeg -i`` prints on stderr. We drive the binary ourselves rather than through
  ``imageio_ffmpeg.read_frames`` because we need the exit status and stderr to tell a
  truncated upload from a text file, a watchdog so a stuck decoder cannot hang a worker,
  and to read straight into preallocated numpy chunks.
* **Only plain local files.** Untrusted input is opened with demuxer and protocol
  whitelists (:func:`_input_args`), so a playlist or concat script cannot make ffmpeg read
  other files or URLs.
* **One-line errors.** :func:`_open_error` and :func:`_last_error_line` turn ffmpeg's
  complaints into a short message that names the file and the cause.
* **Bounded memory for large frames.** Above :data:`LARGE_FRAME_PIXELS` (4K UHD) the decoder
  and x264 run with short queues and few frames in flight (:func:`_decode_cmd`,
  :func:`_x264_memory_args`).
"""

from __future__ import annotations

import math
import os
import re
import subprocess
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from .errors import VideoError

__all__ = ["LARGE_FRAME_PIXELS", "ffmpeg_exe"]

LARGE_FRAME_PIXELS = 3840 * 2160
"""Frames above this many pixels (4K UHD) are decoded and encoded with ffmpeg and x264
holding as few frames as they can (see :func:`_decode_cmd` and :func:`_x264_memory_args`)."""

# Demuxers untrusted input may use (mov covers mp4/m4v/3gp, matroska covers webm).
_DEMUXERS = ("mov", "matroska", "gif", "avi", "mpegts", "mpeg", "flv", "ogg", "asf", "ivf", "apng",
             "image2", "png_pipe", "jpeg_pipe", "webp_pipe", "bmp_pipe", "tiff_pipe", "gif_pipe",
             "mp3", "wav", "flac", "aac")  # audio-only demuxers: for audio_source files

_TRUNCATION_MARKERS = ("partial file", "File ended prematurely")  # mov/mp4 and matroska demuxers


def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary bundled with ``imageio-ffmpeg`` (or ``IMAGEIO_FFMPEG_EXE``)."""
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


# --------------------------------------------------------------------------- running it


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


def _fps_fraction(fps: float) -> Fraction:
    """Exact rational for a float rate (29.97002997 -> 30000/1001, 23.68 -> 592/25)."""
    return Fraction(fps).limit_denominator(1001)


def _fps_arg(fps: Fraction) -> str:
    return f"{fps.numerator}/{fps.denominator}"


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


# --------------------------------------------------------------------------- reading its text


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
