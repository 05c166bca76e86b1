"""Tests for spatialme.io.probing: size, rate, count, rotation, HDR and every refused input."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from ffmedia import FF, H, Media, W, convert, ffmpeg_children, psnr, read_all

from spatialme.io.errors import VideoError
from spatialme.io.probing import VideoLimits, choose_fps, probe


def test_probe_reports_size_rate_count_audio(media: Media) -> None:
    info = probe(media.clip)
    assert (info.width, info.height) == (W, H)
    assert info.fps == 30.0 and info.frames == 60
    assert info.duration == pytest.approx(2.0, abs=0.02)
    assert info.has_audio and not info.is_image and not info.hdr
    assert (info.codec, info.pix_fmt, info.rotation) == ("h264", "yuv420p", 0)
    silent = probe(media.silent)
    assert (silent.fps, silent.frames, silent.has_audio) == (25.0, 25, False)


@pytest.mark.parametrize("name, frames, fps", [("gif", 10, 10.0), ("webm", 25, 25.0), ("mov", 24, 24.0),
                                               ("ten_bit", 25, 25.0)])
def test_other_containers(media: Media, name: str, frames: int, fps: float) -> None:
    path = getattr(media, name)
    info = probe(path)
    assert (info.width, info.height, info.fps, info.frames) == (W, H, fps, frames)
    clip = read_all(info)
    assert clip.shape == (frames, H, W, 3) and clip.dtype == np.uint8
    reference = read_all(media.sdr, max_frames=1)[0]  # same testsrc2 picture, 8-bit
    assert psnr(clip[0], reference) > 20  # decoded, not garbage


def test_ten_bit_sdr_is_converted_not_tonemapped(media: Media) -> None:
    info = probe(media.ten_bit)
    assert info.pix_fmt == "yuv420p10le" and not info.hdr and info.video_filter == ""
    ten, eight = read_all(info, max_frames=1)[0], read_all(media.sdr, max_frames=1)[0]
    assert ten.dtype == np.uint8 and psnr(ten, eight) > 27  # two lossy encodes of a sharp pattern
    assert abs(ten.mean() - eight.mean()) < 2  # same levels: no tonemap, no range shift


def test_rotation_metadata_gives_upright_frames(media: Media) -> None:
    info = probe(media.rotated)
    assert (info.width, info.height, info.rotation) == (H, W, 90)
    rotated = read_all(info)
    plain = read_all(media.clip)
    assert rotated.shape == (60, W, H, 3)
    # display rotation 90 = a quarter turn counter-clockwise, what np.rot90 does
    assert psnr(rotated, np.rot90(plain, k=1, axes=(1, 2))) > 40


def test_hdr_is_tonemapped_not_washed_out(media: Media) -> None:
    info = probe(media.hdr)
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
        probe(cut)
    assert len(read_all(media.faststart)) == 60  # the whole file is fine


def test_truncated_matroska_is_refused(media: Media) -> None:
    cut = media.cut(media.ten_bit, "cut.mkv", int(media.ten_bit.stat().st_size * 0.4))
    with pytest.raises(VideoError, match=r"^cut\.mkv: truncated or incomplete video"):
        probe(cut)


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


def test_choose_fps() -> None:
    from fractions import Fraction

    assert choose_fps(29.97) == Fraction(30000, 1001)
    assert choose_fps(30) == 30 and choose_fps(29.87) == Fraction(30000, 1001)
    assert choose_fps(23.98) == Fraction(24000, 1001) and choose_fps(25.1) == 25
    assert choose_fps(23.68) == Fraction(592, 25)
    assert choose_fps(120) == 60 and choose_fps(0.2) == 1 and choose_fps(None) == 25
