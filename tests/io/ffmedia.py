"""Test media for the spatialme.io tests, made on the fly with the bundled ffmpeg, and helpers.

Media are lavfi ``testsrc2``/``sine`` sources at 96x64, 1-3 s, each built once, on first use
(the ``media`` fixture in this folder's conftest shares one :class:`Media` across its files).
"""

from __future__ import annotations

import os
import struct
import subprocess
from pathlib import Path

import numpy as np

from spatialme.io.ffmpeg import ffmpeg_exe
from spatialme.io.images import write_image
from spatialme.io.naming import output_name
from spatialme.io.probing import VideoLimits, probe
from spatialme.io.reader import read_frames
from spatialme.io.writer import VideoWriter

FF = ffmpeg_exe()
W, H = 96, 64


# --------------------------------------------------------------------------- helpers


def ffmpeg(*args: str) -> None:
    """Run the bundled ffmpeg quietly; fail the test with its stderr if it fails."""
    run = subprocess.run([FF, "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *args],
                         capture_output=True, timeout=60)
    assert run.returncode == 0, run.stderr.decode(errors="replace")


def ffmpeg_header(path: str | Path) -> str:
    """What ``ffmpeg -i`` prints about a file (it exits 1 without an output; that is fine)."""
    return subprocess.run([FF, "-hide_banner", "-i", str(path)], capture_output=True, timeout=60).stderr.decode()


def stream_lines(path: str | Path, kind: str) -> list[str]:
    return [line for line in ffmpeg_header(path).splitlines() if "Stream #" in line and f" {kind}: " in line]


def decode_audio(path: str | Path, rate: int = 8000) -> np.ndarray:
    """First audio stream as mono float samples in [-1, 1] at ``rate`` Hz."""
    run = subprocess.run([FF, "-nostdin", "-loglevel", "error", "-i", str(path), "-map", "0:a:0", "-ac", "1",
                          "-ar", str(rate), "-f", "s16le", "-"], capture_output=True, timeout=60)
    assert run.returncode == 0, run.stderr.decode(errors="replace")
    return np.frombuffer(run.stdout, np.int16).astype(np.float64) / 32768.0


def read_all(path_or_info, **kw) -> np.ndarray:
    return np.concatenate(list(read_frames(path_or_info, **kw)))


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / max(mse, 1e-12)))


def smooth_clip(n: int, h: int = H, w: int = W) -> np.ndarray:
    """``(n, h, w, 3)`` uint8 moving sinusoids: smooth, so H.264 at crf 18 should exceed 35 dB."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    frames = []
    for t in range(n):
        r = 128 + 90 * np.sin(2 * np.pi * x / w + 0.2 * t)
        g = 128 + 90 * np.cos(2 * np.pi * y / h - 0.1 * t)
        b = 128 + 70 * np.sin(2 * np.pi * (x + y) / (w + h) + 0.15 * t)
        frames.append(np.stack([r, g, b], -1))
    return np.clip(np.round(np.stack(frames)), 0, 255).astype(np.uint8)


def ffmpeg_children() -> list[int]:
    """PIDs of ffmpeg processes that are children of this test process (Linux only)."""
    me, found = os.getpid(), []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        if ppid == me and comm.startswith("ffmpeg"):
            found.append(int(entry))
    return found


def top_level_boxes(path: str | Path) -> list[str]:
    data = Path(path).read_bytes()
    boxes, pos = [], 0
    while pos + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[pos:pos + 8])
        boxes.append(kind.decode("latin-1"))
        if size == 1:
            size = struct.unpack(">Q", data[pos + 8:pos + 16])[0]
        if size < 8:
            break
        pos += size
    return boxes


def convert(src: str | Path, out_dir: Path, limits: VideoLimits | None = None) -> str:
    """What the CLI does: probe, stream, flip each frame, write with the source audio."""
    limits = limits or VideoLimits()
    info = probe(src, limits)
    out = output_name(src, out_dir, "_LR", image=info.is_image)
    if info.is_image:
        write_image(out, read_all(info)[0][:, ::-1])
        return out
    with VideoWriter(out, info.fps, audio_source=info.path) as writer:
        for chunk in read_frames(info, limits=limits):
            writer.write(chunk[:, :, ::-1])
    return out


# --------------------------------------------------------------------------- media


class Media:
    """Builds each test file once, on first use."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _make(self, name: str, *args: str) -> Path:
        path = self.root / name
        if not path.exists():
            ffmpeg(*args, str(path))
        return path

    def _src(self, rate: int = 30, seconds: float = 2, size: str = f"{W}x{H}") -> list[str]:
        return ["-f", "lavfi", "-i", f"testsrc2=size={size}:rate={rate}:duration={seconds}"]

    @property
    def clip(self) -> Path:  # 2 s, 30 fps, 96x64, 440 Hz audio
        return self._make("clip.mp4", *self._src(), "-f", "lavfi", "-i", "sine=frequency=440:duration=2",
                          "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest")

    @property
    def silent(self) -> Path:  # 1 s, 25 fps, no audio
        return self._make("silent.mp4", *self._src(25, 1), "-c:v", "libx264", "-pix_fmt", "yuv420p")

    @property
    def ramp(self) -> Path:  # 2 s video, 3 s audio whose loudness grows linearly with time
        return self._make("ramp.mp4", *self._src(30, 2), "-f", "lavfi", "-i",
                          "aevalsrc=exprs='0.25*t*sin(2*PI*440*t)':s=44100:d=3",
                          "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "128k")

    @property
    def rotated(self) -> Path:  # clip with a 90 degree display matrix
        return self._make("rotated.mp4", "-display_rotation", "90", "-i", str(self.clip), "-c", "copy")

    @property
    def vfr(self) -> Path:  # 60 frames over 3 s: 30 at 30 fps, then 30 at 15 fps; 3 s of audio
        return self._make("vfr.mp4", *self._src(30, 2), "-f", "lavfi", "-i", "sine=frequency=440:duration=3",
                          "-vf", "setpts='if(lt(N,30),N/30,1+(N-30)/15)/TB'", "-fps_mode", "vfr",
                          "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac")

    @property
    def sdr(self) -> Path:  # reference for the HDR clip: same content, 8-bit BT.709
        return self._make("sdr.mp4", *self._src(30, 1), "-c:v", "libx264", "-pix_fmt", "yuv420p")

    @property
    def hdr(self) -> Path:  # the SDR picture re-encoded as 10-bit HEVC with PQ/BT.2020 (100 nits white)
        chain = ("format=yuv420p,setparams=range=tv:color_primaries=bt709:color_trc=bt709:colorspace=bt709,"
                 "zscale=t=linear:npl=100,format=gbrpf32le,zscale=p=bt2020,"
                 "zscale=t=smpte2084:npl=100:m=bt2020nc:r=tv,format=yuv420p10le")
        return self._make("hdr.mp4", *self._src(30, 1), "-vf", chain, "-c:v", "libx265",
                          "-x265-params", "log-level=error", "-color_primaries", "bt2020",
                          "-color_trc", "smpte2084", "-colorspace", "bt2020nc", "-color_range", "tv")

    @property
    def ten_bit(self) -> Path:  # 10-bit SDR H.264 in Matroska
        return self._make("ten_bit.mkv", *self._src(25, 1), "-c:v", "libx264", "-pix_fmt", "yuv420p10le")

    @property
    def gif(self) -> Path:
        return self._make("anim.gif", *self._src(10, 1))

    @property
    def webm(self) -> Path:
        return self._make("clip.webm", *self._src(25, 1), "-c:v", "libvpx-vp9", "-deadline", "realtime")

    @property
    def mov(self) -> Path:
        return self._make("clip.mov", *self._src(24, 1), "-c:v", "libx264", "-pix_fmt", "yuv420p")

    @property
    def faststart(self) -> Path:  # index first, so a cut file still has decodable frames
        return self._make("faststart.mp4", *self._src(30, 2), "-c:v", "libx264", "-pix_fmt", "yuv420p",
                          "-movflags", "+faststart")

    @property
    def audio_only(self) -> Path:
        return self._make("audio.m4a", "-f", "lavfi", "-i", "sine=duration=1", "-c:a", "aac")

    def cut(self, src: Path, name: str, nbytes: int) -> Path:
        path = self.root / name
        path.write_bytes(src.read_bytes()[:nbytes])
        return path

    @property
    def zero_frames(self) -> Path:
        """A faststart mp4 cut right after its index: a video track whose frames are all missing."""
        data = self.faststart.read_bytes()
        pos = 0
        while data[pos + 4:pos + 8] != b"mdat":
            pos += struct.unpack(">I", data[pos:pos + 4])[0]
        return self.cut(self.faststart, "zero_frames.mp4", pos + 8)
