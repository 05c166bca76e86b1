"""Tests for spatialme.video: probing, streaming decode, encoding with audio, and every error path.

Test media are made on the fly with the bundled ffmpeg (lavfi ``testsrc2``/``sine`` sources at
96x64, 1-3 s), once per module, so the whole file runs in a few seconds on two cores.
"""

from __future__ import annotations

import os
import signal
import struct
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from spatialme import video as V
from spatialme.video import OutputClaim, OutputExists, Stopped, VideoError, VideoInfo, VideoLimits, VideoWriter

FF = V.ffmpeg_exe()
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
    return np.concatenate(list(V.read_frames(path_or_info, **kw)))


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
    info = V.probe(src, limits)
    out = V.output_name(src, out_dir, "_LR", image=info.is_image)
    if info.is_image:
        V.write_image(out, read_all(info)[0][:, ::-1])
        return out
    with VideoWriter(out, info.fps, audio_source=info.path) as writer:
        for chunk in V.read_frames(info, limits=limits):
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


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Media:
    return Media(tmp_path_factory.mktemp("media"))


@pytest.fixture
def out_dir(tmp_path: Path) -> Path:
    path = tmp_path / "out"
    path.mkdir()
    return path


# --------------------------------------------------------------------------- probe and read


def test_probe_reports_size_rate_count_audio(media: Media) -> None:
    info = V.probe(media.clip)
    assert (info.width, info.height) == (W, H)
    assert info.fps == 30.0 and info.frames == 60
    assert info.duration == pytest.approx(2.0, abs=0.02)
    assert info.has_audio and not info.is_image and not info.hdr
    assert (info.codec, info.pix_fmt, info.rotation) == ("h264", "yuv420p", 0)
    silent = V.probe(media.silent)
    assert (silent.fps, silent.frames, silent.has_audio) == (25.0, 25, False)


def test_read_frames_streams_exact_chunks(media: Media) -> None:
    chunks = list(V.read_frames(media.clip, chunk=16))
    assert [len(c) for c in chunks] == [16, 16, 16, 12]
    assert all(c.dtype == np.uint8 and c.shape[1:] == (H, W, 3) for c in chunks)
    assert len(np.concatenate(chunks)) == V.probe(media.clip).frames
    assert [len(c) for c in V.read_frames(media.clip, chunk=1, max_frames=3)] == [1, 1, 1]


def test_start_and_max_frames_trim(media: Media) -> None:
    info = V.probe(media.clip)
    full = read_all(info)
    assert len(read_all(info, max_frames=7)) == 7
    late = read_all(info, start=1.0)
    assert len(late) == 30
    assert np.abs(late[0].astype(int) - full[30]).max() <= 2  # frame at t = 1 s
    assert len(read_all(info, start=0.5, max_frames=100)) == 45
    with pytest.raises(VideoError, match=r"clip\.mp4: start=5s is at or past the end"):
        read_all(info, start=5.0)


def test_read_frames_validates_arguments(media: Media) -> None:
    for kwargs, word in [({"chunk": 0}, "chunk"), ({"start": -1.0}, "start"), ({"start": float("nan")}, "start"),
                         ({"max_frames": 0}, "max_frames")]:
        with pytest.raises(ValueError, match=word):
            V.read_frames(media.clip, **kwargs)


def test_limits_cap_delivered_frames(media: Media) -> None:
    info = V.probe(media.clip)
    assert len(read_all(info, limits=VideoLimits(max_frames=20))) == 20


def test_stopping_early_kills_the_decoder(media: Media) -> None:
    gen = V.read_frames(media.clip, chunk=4)
    next(gen)
    assert ffmpeg_children()  # the decoder is running
    gen.close()
    assert ffmpeg_children() == []


@pytest.mark.parametrize("name, frames, fps", [("gif", 10, 10.0), ("webm", 25, 25.0), ("mov", 24, 24.0),
                                               ("ten_bit", 25, 25.0)])
def test_other_containers(media: Media, name: str, frames: int, fps: float) -> None:
    path = getattr(media, name)
    info = V.probe(path)
    assert (info.width, info.height, info.fps, info.frames) == (W, H, fps, frames)
    clip = read_all(info)
    assert clip.shape == (frames, H, W, 3) and clip.dtype == np.uint8
    reference = read_all(media.sdr, max_frames=1)[0]  # same testsrc2 picture, 8-bit
    assert psnr(clip[0], reference) > 20  # decoded, not garbage


def test_ten_bit_sdr_is_converted_not_tonemapped(media: Media) -> None:
    info = V.probe(media.ten_bit)
    assert info.pix_fmt == "yuv420p10le" and not info.hdr and info.video_filter == ""
    ten, eight = read_all(info, max_frames=1)[0], read_all(media.sdr, max_frames=1)[0]
    assert ten.dtype == np.uint8 and psnr(ten, eight) > 27  # two lossy encodes of a sharp pattern
    assert abs(ten.mean() - eight.mean()) < 2  # same levels: no tonemap, no range shift


def test_rotation_metadata_gives_upright_frames(media: Media) -> None:
    info = V.probe(media.rotated)
    assert (info.width, info.height, info.rotation) == (H, W, 90)
    rotated = read_all(info)
    plain = read_all(media.clip)
    assert rotated.shape == (60, W, H, 3)
    # display rotation 90 = a quarter turn counter-clockwise, what np.rot90 does
    assert psnr(rotated, np.rot90(plain, k=1, axes=(1, 2))) > 40


def test_variable_frame_rate_gets_one_constant_rate_in_sync(media: Media, out_dir: Path) -> None:
    info = V.probe(media.vfr)
    assert 19.0 < info.fps < 22.0  # the average rate (60 frames over ~3 s), not the 30 fps tbr
    chunks = list(V.read_frames(info, chunk=16))
    n = sum(len(c) for c in chunks)
    assert abs(n - info.frames) <= 2
    assert n / info.fps == pytest.approx(3.0, abs=1.5 / info.fps)  # duration matches the 3 s audio
    out = out_dir / "vfr_LR.mp4"
    with VideoWriter(out, info.fps, audio_source=info.path, preset="ultrafast") as writer:
        for chunk in chunks:
            writer.write(chunk)
    back = V.probe(out)
    assert back.fps == info.fps and back.frames == n
    audio_seconds = len(decode_audio(out)) / 8000
    assert audio_seconds == pytest.approx(back.duration, abs=0.06)
    assert audio_seconds == pytest.approx(3.0, abs=0.1)


def test_hdr_is_tonemapped_not_washed_out(media: Media) -> None:
    info = V.probe(media.hdr)
    assert info.hdr and info.transfer == "smpte2084" and info.pix_fmt == "yuv420p10le"
    assert "tonemap" in info.video_filter
    ours = read_all(info)
    assert ours.dtype == np.uint8 and ours.shape == (30, H, W, 3)
    sdr = read_all(media.sdr)
    naive = subprocess.run([FF, "-loglevel", "error", "-i", str(media.hdr), "-pix_fmt", "rgb24", "-f", "rawvideo",
                            "-"], capture_output=True, check=True).stdout
    naive = np.frombuffer(naive, np.uint8).reshape(-1, H, W, 3)
    assert naive.std() < 0.5 * sdr.std()  # decoding PQ as if it were SDR: flat and grey
    assert abs(ours.mean() - sdr.mean()) < 10
    assert ours.std() > 0.65 * sdr.std()
    assert np.abs(ours.astype(int) - sdr).mean() < np.abs(naive.astype(int) - sdr).mean()


@pytest.mark.parametrize("share", [0.3, 0.5, 0.9])
def test_truncated_file_with_index_is_refused(media: Media, share: float) -> None:
    """A +faststart mp4 cut short keeps its index and decodes in part: that is an error, not fewer frames."""
    cut = media.cut(media.faststart, f"cut_{share:g}_faststart.mp4", int(media.faststart.stat().st_size * share))
    with pytest.raises(VideoError, match=rf"^cut_{share:g}_faststart\.mp4: truncated or incomplete video "
                                         r"\(its data ends after \d+ frames; was the upload cut short\?\)$"):
        V.probe(cut)
    assert len(read_all(media.faststart)) == 60  # the whole file is fine


def test_truncated_matroska_is_refused(media: Media) -> None:
    cut = media.cut(media.ten_bit, "cut.mkv", int(media.ten_bit.stat().st_size * 0.4))
    with pytest.raises(VideoError, match=r"^cut\.mkv: truncated or incomplete video"):
        V.probe(cut)


def test_decoder_that_stops_early_is_an_error(media: Media) -> None:
    """A file that probes fine but breaks off while decoding raises after the last frame (no silent short clip)."""
    info = V.probe(media.faststart)
    cut = media.cut(media.faststart, "late_cut.mp4", int(media.faststart.stat().st_size * 0.4))
    late = VideoInfo(**{**info.__dict__, "path": str(cut)})  # as if the file were cut after probing
    frames = []
    with pytest.raises(VideoError, match=r"^late_cut\.mp4: decoding stopped after (\d+) frames \(truncated or damaged video"):
        for chunk in V.read_frames(late, chunk=8):
            frames.append(chunk)
    assert 0 < sum(len(c) for c in frames) < 60
    assert ffmpeg_children() == []


# --------------------------------------------------------------------------- writing


def test_roundtrip_psnr_and_container(out_dir: Path) -> None:
    clip = smooth_clip(30)
    out = out_dir / "smooth.mp4"
    with VideoWriter(out, 24.0) as writer:
        writer.write(clip[:10])
        for frame in clip[10:]:
            writer.write(frame)  # (H, W, 3) works too
    assert os.listdir(out_dir) == ["smooth.mp4"]
    info = V.probe(out)
    assert (info.width, info.height, info.fps, info.frames, info.has_audio) == (W, H, 24.0, 30, False)
    video_line = stream_lines(out, "Video")[0]
    assert "h264" in video_line and "yuv420p" in video_line and "bt709" in video_line
    boxes = top_level_boxes(out)
    assert boxes.index("moov") < boxes.index("mdat")  # +faststart: playable while downloading
    assert psnr(read_all(info), clip) > 35


def test_writer_copies_audio_from_offset_and_trims_it(media: Media, out_dir: Path) -> None:
    out = out_dir / "with_audio.mp4"
    with VideoWriter(out, 30.0, audio_source=media.ramp, audio_start=1.0, preset="ultrafast") as writer:
        writer.write(smooth_clip(30))  # 1 s of video
    assert len(stream_lines(out, "Audio")) == 1 and "aac" in stream_lines(out, "Audio")[0]
    audio = decode_audio(out)
    assert len(audio) / 8000 == pytest.approx(1.0, abs=0.05)  # source has 3 s, only 1 s kept
    rms = np.sqrt(np.mean(audio[:800] ** 2))  # first 0.1 s, should be source t = 1.0 .. 1.1
    expected = 0.25 * 1.05 / np.sqrt(2)
    assert 0.7 * expected < rms < 1.3 * expected


def test_writer_with_silent_audio_source(media: Media, out_dir: Path) -> None:
    out = out_dir / "silent_LR.mp4"
    with VideoWriter(out, 25.0, audio_source=media.silent, preset="ultrafast") as writer:
        writer.write(smooth_clip(5))
    assert stream_lines(out, "Audio") == [] and len(stream_lines(out, "Video")) == 1
    assert V.probe(out).frames == 5
    assert os.listdir(out_dir) == ["silent_LR.mp4"]


def test_odd_size_is_padded_by_edge_replication(out_dir: Path) -> None:
    clip = smooth_clip(8, h=63, w=95)
    out = out_dir / "odd.mp4"
    with VideoWriter(out, 30.0) as writer:
        writer.write(clip)
    back = read_all(out)
    assert back.shape == (8, 64, 96, 3)
    assert psnr(back[:, :63, :95], clip) > 35
    assert psnr(back[:, 63, :95], clip[:, 62]) > 30  # the extra row repeats the last one
    assert psnr(back[:, :63, 95], clip[:, :, 94]) > 30


def test_mkv_output_with_audio(media: Media, out_dir: Path) -> None:
    out = out_dir / "clip_LR.mkv"
    with VideoWriter(out, 30.0, audio_source=media.clip, preset="ultrafast") as writer:
        writer.write(smooth_clip(15))
    info = V.probe(out)
    assert info.has_audio and info.frames == 15


def test_full_conversion_round_trip(media: Media, out_dir: Path) -> None:
    out = convert(media.clip, out_dir)
    assert out == str(out_dir / "clip_LR.mp4") and os.listdir(out_dir) == ["clip_LR.mp4"]
    info = V.probe(out)
    assert (info.frames, info.fps, info.has_audio) == (60, 30.0, True)
    assert psnr(read_all(info), read_all(media.clip)[:, :, ::-1]) > 30


def test_exception_inside_writer_leaves_nothing(out_dir: Path) -> None:
    with pytest.raises(RuntimeError, match="boom"):
        with VideoWriter(out_dir / "partial.mp4", 30.0) as writer:
            writer.write(smooth_clip(10))
            assert any(name.startswith(".partial.tmp-") for name in os.listdir(out_dir))
            raise RuntimeError("boom")
    assert os.listdir(out_dir) == []
    assert ffmpeg_children() == []


def test_writer_errors_leave_nothing(media: Media, out_dir: Path) -> None:
    with pytest.raises(VideoError, match=r"empty\.mp4: no frames were written"):
        with VideoWriter(out_dir / "empty.mp4", 30.0):
            pass
    with pytest.raises(ValueError, match="frames: expected frames of size 64x96"):
        with VideoWriter(out_dir / "resize.mp4", 30.0) as writer:
            writer.write(smooth_clip(2))
            writer.write(smooth_clip(2, h=32, w=32))
    with pytest.raises(ValueError, match="frames"):
        with VideoWriter(out_dir / "float.mp4", 30.0) as writer:
            writer.write(smooth_clip(2).astype(np.float32))
    with pytest.raises(VideoError, match=r"could not add the audio"):
        with VideoWriter(out_dir / "bad_audio.mp4", 30.0, audio_source=media.cut(media.clip, "junk.mp4", 500)) as w:
            w.write(smooth_clip(3))
    assert os.listdir(out_dir) == []
    assert ffmpeg_children() == []


def test_garbage_collected_writer_cleans_up(out_dir: Path) -> None:
    writer = VideoWriter(out_dir / "forgotten.mp4", 30.0)
    writer.write(smooth_clip(3))
    del writer
    import gc

    gc.collect()
    assert os.listdir(out_dir) == []


def test_writer_validates_arguments(out_dir: Path, media: Media) -> None:
    for kwargs, word in [({"fps": 0}, "fps"), ({"fps": float("nan")}, "fps"), ({"crf": 60}, "crf"),
                         ({"preset": "warp"}, "preset"), ({"audio_start": -1.0}, "audio_start")]:
        args = {"fps": 30.0, **kwargs}
        with pytest.raises(ValueError, match=word):
            VideoWriter(out_dir / "x.mp4", args.pop("fps"), **args)
    with pytest.raises(ValueError, match="unsupported video suffix '.avi'"):
        VideoWriter(out_dir / "x.avi", 30.0)
    with pytest.raises(VideoError, match="nowhere.mp4: file not found"):
        VideoWriter(out_dir / "x.mp4", 30.0, audio_source=out_dir / "nowhere.mp4")
    writer = VideoWriter(out_dir / "twice.mp4", 30.0)
    writer.write(smooth_clip(2))
    writer.close()
    with pytest.raises(ValueError, match="closed"):
        writer.write(smooth_clip(1))
    assert os.listdir(out_dir) == ["twice.mp4"]


# --------------------------------------------------------------------------- images


def exif_rotated_jpeg(path: Path, image: np.ndarray) -> None:
    """Write a JPEG carrying EXIF Orientation = 6 (display rotated 90 degrees clockwise)."""
    import cv2

    ok, encoded = cv2.imencode(".jpg", image[:, :, ::-1])
    assert ok
    tiff = b"MM\x00\x2a" + struct.pack(">IH", 8, 1) + struct.pack(">HHIHH", 0x0112, 3, 1, 6, 0) + b"\0\0\0\0"
    app1 = b"Exif\x00\x00" + tiff
    data = encoded.tobytes()
    path.write_bytes(data[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + data[2:])


def test_image_write_read_probe(tmp_path: Path) -> None:
    image = smooth_clip(1, h=40, w=60)[0]
    png = tmp_path / "still.png"
    V.write_image(png, image)
    assert np.array_equal(V.read_image(png), image)
    info = V.probe(png)
    assert info.is_image and (info.width, info.height, info.frames, info.fps) == (60, 40, 1, 1.0)
    chunks = list(V.read_frames(png))
    assert len(chunks) == 1 and np.array_equal(chunks[0], image[None])
    jpg = tmp_path / "still.jpg"
    V.write_image(jpg, image)
    assert psnr(V.read_image(jpg), image) > 35
    assert sorted(os.listdir(tmp_path)) == ["still.jpg", "still.png"]  # no temp files


def test_image_alpha_dropped_and_exif_applied(tmp_path: Path) -> None:
    import cv2

    rgba = np.zeros((20, 30, 4), np.uint8)
    rgba[..., 2] = 200  # red in BGRA order
    rgba[..., 3] = 7
    cv2.imwrite(str(tmp_path / "alpha.png"), rgba)
    image = V.read_image(tmp_path / "alpha.png")
    assert image.shape == (20, 30, 3) and image[0, 0].tolist() == [200, 0, 0]
    exif_rotated_jpeg(tmp_path / "phone.jpg", smooth_clip(1, h=40, w=60)[0])
    assert V.read_image(tmp_path / "phone.jpg").shape == (60, 40, 3)
    info = V.probe(tmp_path / "phone.jpg")
    assert (info.width, info.height) == (40, 60)


def test_image_conversion_and_errors(tmp_path: Path, out_dir: Path) -> None:
    src = tmp_path / "photo.jpg"
    V.write_image(src, smooth_clip(1)[0])
    assert convert(src, out_dir) == str(out_dir / "photo_LR.png")
    with pytest.raises(ValueError, match="unsupported image suffix '.gif'"):
        V.write_image(out_dir / "x.gif", smooth_clip(1)[0])
    with pytest.raises(ValueError, match="image"):
        V.write_image(out_dir / "x.png", smooth_clip(2))
    fake = tmp_path / "fake.png"
    fake.write_text("not an image")
    with pytest.raises(VideoError, match=r"^fake\.png: not an image"):
        V.probe(fake)
    assert os.listdir(out_dir) == ["photo_LR.png"]


# --------------------------------------------------------------------------- errors


def _error_cases(media: Media, tmp: Path) -> list[tuple[Path, VideoLimits, str]]:
    text = tmp / "notes.mp4"
    text.write_text("this is a text file, renamed\n" * 20)
    txt = tmp / "input.txt"
    txt.write_text("hello\n")
    concat = tmp / "playlist.mp4"
    concat.write_text(f"ffconcat version 1.0\nfile '{media.clip}'\n")
    empty = tmp / "empty.mp4"
    empty.write_bytes(b"")
    folder = tmp / "folder.mp4"
    folder.mkdir()
    clip = media.clip
    return [
        (tmp / "missing.mp4", VideoLimits(), r"^missing\.mp4: file not found$"),
        (empty, VideoLimits(), r"^empty\.mp4: empty file"),
        (folder, VideoLimits(), r"^folder\.mp4: is a folder"),
        (text, VideoLimits(), r"^notes\.mp4: not a video or image \(ffmpeg could not decode it\)$"),
        (txt, VideoLimits(), r"^input\.txt: not a video or image \(ffmpeg could not decode it\)$"),
        (concat, VideoLimits(), r"^playlist\.mp4: not a video or image"),
        (media.cut(clip, "cut_half.mp4", clip.stat().st_size // 2), VideoLimits(),
         r"^cut_half\.mp4: truncated or incomplete video"),
        (media.cut(media.faststart, "first_1k.mp4", 1024), VideoLimits(), r"^first_1k\.mp4: truncated or corrupt"),
        (media.zero_frames, VideoLimits(), r"^zero_frames\.mp4: contains no video frames"),
        (media.audio_only, VideoLimits(), r"^audio\.m4a: has no video stream"),
        (clip, VideoLimits(max_side=64), r"^clip\.mp4: resolution 96x64 is too large \(limit: 64 px per side\)$"),
        (clip, VideoLimits(max_pixels=5000), r"^clip\.mp4: resolution 96x64 is too large \(limit: 5000 pixels"),
        (clip, VideoLimits(max_seconds=1.5), r"^clip\.mp4: duration 2\.0s is too long \(limit: 1\.5s\)$"),
        (clip, VideoLimits(max_frames=59), r"^clip\.mp4: 60 frames is too many \(limit: 59 frames\)$"),
        (media.rotated, VideoLimits(max_side=80), r"^rotated\.mp4: resolution 96x64 is too large"),
    ]


def test_every_error_is_one_clear_line_and_leaves_no_output(media: Media, tmp_path: Path, out_dir: Path) -> None:
    for src, limits, pattern in _error_cases(media, tmp_path):
        with pytest.raises(VideoError, match=pattern) as err:
            convert(src, out_dir, limits)
        assert "\n" not in str(err.value) and isinstance(err.value, ValueError)
        assert os.listdir(out_dir) == [], src.name
    assert ffmpeg_children() == []


def test_limits_validate_themselves() -> None:
    for kwargs in ({"max_side": 0}, {"max_pixels": -1}, {"max_seconds": 0}, {"max_frames": 0},
                   {"timeout_s": float("inf")}, {"max_side": 1.5}):
        with pytest.raises(ValueError, match=next(iter(kwargs))):
            VideoLimits(**kwargs)
    assert VideoLimits().max_pixels == 8192 * 4320 and VideoLimits().max_seconds == 4 * 3600


# --------------------------------------------------------------------------- small pure helpers


def test_choose_fps() -> None:
    from fractions import Fraction

    assert V.choose_fps(29.97) == Fraction(30000, 1001)
    assert V.choose_fps(30) == 30 and V.choose_fps(29.87) == Fraction(30000, 1001)
    assert V.choose_fps(23.98) == Fraction(24000, 1001) and V.choose_fps(25.1) == 25
    assert V.choose_fps(23.68) == Fraction(592, 25)
    assert V.choose_fps(120) == 60 and V.choose_fps(0.2) == 1 and V.choose_fps(None) == 25


def test_pix_fmt_parsing() -> None:
    assert V._parse_pix_fmt("yuv420p10le(tv, bt2020nc/bt2020/smpte2084, progressive)") == {
        "pix_fmt": "yuv420p10le", "color_range": "tv", "matrix": "bt2020nc", "primaries": "bt2020",
        "transfer": "smpte2084"}
    assert V._parse_pix_fmt("yuv420p(tv, bt709)")["transfer"] == "bt709"
    assert V._parse_pix_fmt("yuvj420p(pc, bt470bg/unknown/unknown)")["transfer"] == ""
    assert V._parse_pix_fmt("bgra") == {"pix_fmt": "bgra"}


def test_output_name(tmp_path: Path) -> None:
    assert V.output_name("/in/clip.mp4", "/out", "_LR", image=False) == os.path.join("/out", "clip_LR.mp4")
    assert V.output_name("/in/clip.MOV", "/out", "_3dh_half", image=False) == os.path.join("/out", "clip_3dh_half.mp4")
    assert V.output_name("/in/photo.jpg", "/out", "_LR", image=True) == os.path.join("/out", "photo_LR.png")
    assert V.output_name("/in/.hidden.gif", "/out", "_TB", image=False) == os.path.join("/out", "hidden_TB.mp4")
    assert V.output_name("/in/a:b*c.mp4", "/out", "", image=False) == os.path.join("/out", "a_b_c.mp4")
    src = tmp_path / "same.mp4"
    assert V.output_name(src, tmp_path, "", image=False) == str(tmp_path / "same_3d.mp4")
    with pytest.raises(ValueError, match="layout_tag"):
        V.output_name("clip.mp4", "/out", "../x", image=False)


def test_is_image_path_and_extension_lists() -> None:
    assert V.is_image_path("a/B.JPG") and V.is_image_path("x.tiff") and not V.is_image_path("x.gif")
    assert set(V.VIDEO_EXTENSIONS) == {".mp4", ".mov", ".mkv", ".webm", ".gif", ".avi", ".m4v"}
    assert set(V.IMAGE_EXTENSIONS) == {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"}
    assert isinstance(V.probe.__defaults__[0], VideoLimits) and VideoInfo.__dataclass_params__.frozen


# --------------------------------------------------------------------------- H.264 level


def test_h264_fit_keeps_level_sizes_and_scales_larger_ones() -> None:
    assert V.h264_fit(7680, 4320) == (7680, 4320) and V.h264_fit(8192, 4352) == (8192, 4352)
    assert V.h264_fit(30001, 17) == (30001, 17)  # within the level: unchanged, odd sizes too
    for w, h in [(15360, 4320), (7680, 8640), (8208, 4352), (65536, 601)]:
        fw, fh = V.h264_fit(w, h)
        assert -(-fw // 16) * -(-fh // 16) <= V.H264_MAX_MACROBLOCKS
        assert fw % 2 == 0 and fh % 2 == 0 and fw < w and fh < h
        assert abs(fw / fh - w / h) / (w / h) < 0.01  # aspect kept
        assert -(-fw // 16) * -(-fh // 16) > 0.97 * V.H264_MAX_MACROBLOCKS  # and no smaller than needed
    assert V.h264_fit(15360, 4320) == (11202, 3150)
    with pytest.raises(ValueError, match="width"):
        V.h264_fit(0, 10)


def test_writer_refuses_frames_beyond_the_level(out_dir: Path) -> None:
    frames = np.broadcast_to(np.zeros(3, np.uint8), (1, 4320, 15360, 3))  # no memory: a view
    with pytest.raises(ValueError, match=r"^frames: 15360x4320 is beyond H\.264 level 6\.2 \(139,264 macroblocks "
                                         r"per frame\), which players may refuse; scale them to 11202x3150 or less$"):
        with VideoWriter(out_dir / "huge.mp4", 30.0) as writer:
            writer.write(frames)
    assert os.listdir(out_dir) == [] and ffmpeg_children() == []


# --------------------------------------------------------------------------- claims and signals


def test_claim_creates_the_name_exclusively_and_a_second_claim_fails(out_dir: Path) -> None:
    out = out_dir / "o.mp4"
    with OutputClaim([out]) as claim:
        assert out.is_file() and out.stat().st_size == 0  # the name is taken from the start
        with pytest.raises(OutputExists, match=r"o\.mp4 is being written by another run \(or is an empty file left by one\)$"):
            with OutputClaim([out]):
                pass
        assert out.is_file()  # the failed second claim did not remove the first one's
        with VideoWriter(out, 30.0) as writer:
            writer.write(smooth_clip(3))
        claim.placed(out)
    assert V.probe(out).frames == 3
    with pytest.raises(OutputExists, match=r"^output: .*o\.mp4 exists$"):
        with OutputClaim([out]):
            pass
    assert V.probe(out).frames == 3 and os.listdir(out_dir) == ["o.mp4"]


def test_claim_gives_everything_back_on_failure(out_dir: Path) -> None:
    new_folder = out_dir / "a" / "b"
    with pytest.raises(RuntimeError, match="boom"):
        with OutputClaim([new_folder / "x.mp4", out_dir / "y.png"]) as claim:
            assert (new_folder / "x.mp4").exists()
            V.write_image(out_dir / "y.png", np.zeros((4, 4, 3), np.uint8))
            claim.placed(out_dir / "y.png")
            raise RuntimeError("boom")
    assert os.listdir(out_dir) == []  # names, the finished image and the folders it made
    with OutputClaim([out_dir / "unused.mp4"]):
        pass
    assert os.listdir(out_dir) == []  # a name claimed but never written is no output


def test_overwrite_claim_keeps_the_old_file_until_the_new_one_is_complete(out_dir: Path) -> None:
    out = out_dir / "o.mp4"
    out.write_bytes(b"old result")
    with pytest.raises(RuntimeError):
        with OutputClaim([out], overwrite=True):
            with VideoWriter(out, 30.0) as writer:
                writer.write(smooth_clip(3))
                raise RuntimeError("failed half way")
    assert out.read_bytes() == b"old result" and os.listdir(out_dir) == ["o.mp4"]


def test_claim_refuses_the_input_file_even_with_overwrite(media: Media, out_dir: Path) -> None:
    src = out_dir / "clip.mp4"
    src.write_bytes(media.clip.read_bytes())
    (out_dir / "link.mp4").hardlink_to(src)
    (out_dir / "sym.mp4").symlink_to(src)
    for name in ("clip.mp4", "link.mp4", "sym.mp4"):
        with pytest.raises(VideoError, match=rf"^output: .*{name} is the input file; choose another output name$"):
            with OutputClaim([out_dir / name], overwrite=True, inputs=[src]):
                pass
    assert src.read_bytes() == media.clip.read_bytes()


def test_claim_in_an_unwritable_folder_says_so_plainly(out_dir: Path, unwritable) -> None:
    with unwritable(out_dir):
        for overwrite in (False, True):
            with pytest.raises(VideoError) as err:
                with OutputClaim([out_dir / "o.mp4"], overwrite=overwrite):
                    pass
            assert str(err.value) in (f"output: cannot write to the folder {out_dir} (permission denied)",
                                      f"output: cannot write to the folder {out_dir} (operation not permitted)")
        with pytest.raises(VideoError, match=r"^output: cannot create the folder .*sub \((permission denied|operation not permitted)\)$"):
            with OutputClaim([out_dir / "sub" / "o.mp4"]):
                pass
    assert os.listdir(out_dir) == []


def test_signal_inside_stop_on_signals_raises_stopped_and_unwinds(out_dir: Path) -> None:
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Stopped) as err:
        with V.stop_on_signals():
            with VideoWriter(out_dir / "o.mp4", 30.0) as writer:
                writer.write(smooth_clip(3))
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(5)  # the handler raises here
    assert err.value.signum == signal.SIGTERM and isinstance(err.value, KeyboardInterrupt)
    assert os.listdir(out_dir) == [] and ffmpeg_children() == []
    assert signal.getsignal(signal.SIGTERM) is before


def test_signals_deferred_holds_the_stop_until_the_step_is_done() -> None:
    steps = []
    with pytest.raises(Stopped) as err:
        with V.stop_on_signals():
            with V.signals_deferred():
                os.kill(os.getpid(), signal.SIGHUP)
                time.sleep(0.05)
                steps.append("finished")  # not cut short by the signal
            steps.append("after")  # never reached: the stop is raised as the step ends
    assert steps == ["finished"] and err.value.signum == signal.SIGHUP


def test_large_frames_use_the_bounded_decoder_and_encoder(media: Media, out_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Above LARGE_FRAME_PIXELS (4K) ffmpeg runs with short queues and few frames in flight; results stay the same."""
    reference = read_all(media.silent)
    monkeypatch.setattr(V, "LARGE_FRAME_PIXELS", 1000)  # 96x64 counts as large here
    assert "-thread_queue_size" in V._decode_cmd("x.mp4", V.Fraction(25), "", 0.0, 5, W * H)
    assert V._x264_memory_args(W * H)[-1] == "rc-lookahead=0:sync-lookahead=0:mbtree=0:bframes=0:ref=1"
    np.testing.assert_array_equal(read_all(media.silent), reference)
    clip = smooth_clip(12)
    with VideoWriter(out_dir / "large.mp4", 25.0) as writer:
        writer.write(clip)
    assert psnr(read_all(out_dir / "large.mp4"), clip) > 35
    sei = (out_dir / "large.mp4").read_bytes()  # x264 writes its settings into the stream
    assert all(k in sei for k in (b" ref=1 ", b" threads=2 ", b" bframes=0 ", b" mbtree=0 "))
