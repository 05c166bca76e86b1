"""Tests for spatialme.io.ffmpeg: parsing ffmpeg's text and the bounded command lines for large frames."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from ffmedia import H, Media, W, psnr, read_all, smooth_clip

from spatialme.io import ffmpeg as ffmpeg_mod
from spatialme.io.ffmpeg import _decode_cmd, _parse_pix_fmt, _x264_memory_args
from spatialme.io.writer import VideoWriter


def test_pix_fmt_parsing() -> None:
    assert _parse_pix_fmt("yuv420p10le(tv, bt2020nc/bt2020/smpte2084, progressive)") == {
        "pix_fmt": "yuv420p10le", "color_range": "tv", "matrix": "bt2020nc", "primaries": "bt2020",
        "transfer": "smpte2084"}
    assert _parse_pix_fmt("yuv420p(tv, bt709)")["transfer"] == "bt709"
    assert _parse_pix_fmt("yuvj420p(pc, bt470bg/unknown/unknown)")["transfer"] == ""
    assert _parse_pix_fmt("bgra") == {"pix_fmt": "bgra"}


def test_large_frames_use_the_bounded_decoder_and_encoder(media: Media, out_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Above LARGE_FRAME_PIXELS (4K) ffmpeg runs with short queues and few frames in flight; results stay the same."""
    reference = read_all(media.silent)
    monkeypatch.setattr(ffmpeg_mod, "LARGE_FRAME_PIXELS", 1000)  # 96x64 counts as large here (decoder and encoder read it there)
    assert "-thread_queue_size" in _decode_cmd("x.mp4", Fraction(25), "", 0.0, 5, W * H)
    assert _x264_memory_args(W * H)[-1] == "rc-lookahead=0:sync-lookahead=0:mbtree=0:bframes=0:ref=1"
    np.testing.assert_array_equal(read_all(media.silent), reference)
    clip = smooth_clip(12)
    with VideoWriter(out_dir / "large.mp4", 25.0) as writer:
        writer.write(clip)
    assert psnr(read_all(out_dir / "large.mp4"), clip) > 35
    sei = (out_dir / "large.mp4").read_bytes()  # x264 writes its settings into the stream
    assert all(k in sei for k in (b" ref=1 ", b" threads=2 ", b" bframes=0 ", b" mbtree=0 "))
