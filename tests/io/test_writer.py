"""Tests for spatialme.io.writer: encoding, audio, containers, clean-up on every failure, the H.264 level."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from ffmedia import (
    H,
    Media,
    W,
    convert,
    decode_audio,
    ffmpeg_children,
    psnr,
    read_all,
    smooth_clip,
    stream_lines,
    top_level_boxes,
)

from spatialme.io.errors import VideoError
from spatialme.io.probing import probe
from spatialme.io.writer import H264_MAX_MACROBLOCKS, VideoWriter, h264_fit


def test_roundtrip_psnr_and_container(out_dir: Path) -> None:
    clip = smooth_clip(30)
    out = out_dir / "smooth.mp4"
    with VideoWriter(out, 24.0) as writer:
        writer.write(clip[:10])
        for frame in clip[10:]:
            writer.write(frame)  # (H, W, 3) works too
    assert os.listdir(out_dir) == ["smooth.mp4"]
    info = probe(out)
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
    assert probe(out).frames == 5
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
    info = probe(out)
    assert info.has_audio and info.frames == 15


def test_full_conversion_round_trip(media: Media, out_dir: Path) -> None:
    out = convert(media.clip, out_dir)
    assert out == str(out_dir / "clip_LR.mp4") and os.listdir(out_dir) == ["clip_LR.mp4"]
    info = probe(out)
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


def test_h264_fit_keeps_level_sizes_and_scales_larger_ones() -> None:
    assert h264_fit(7680, 4320) == (7680, 4320) and h264_fit(8192, 4352) == (8192, 4352)
    assert h264_fit(30001, 17) == (30001, 17)  # within the level: unchanged, odd sizes too
    for w, h in [(15360, 4320), (7680, 8640), (8208, 4352), (65536, 601)]:
        fw, fh = h264_fit(w, h)
        assert -(-fw // 16) * -(-fh // 16) <= H264_MAX_MACROBLOCKS
        assert fw % 2 == 0 and fh % 2 == 0 and fw < w and fh < h
        assert abs(fw / fh - w / h) / (w / h) < 0.01  # aspect kept
        assert -(-fw // 16) * -(-fh // 16) > 0.97 * H264_MAX_MACROBLOCKS  # and no smaller than needed
    assert h264_fit(15360, 4320) == (11202, 3150)
    with pytest.raises(ValueError, match="width"):
        h264_fit(0, 10)


def test_writer_refuses_frames_beyond_the_level(out_dir: Path) -> None:
    frames = np.broadcast_to(np.zeros(3, np.uint8), (1, 4320, 15360, 3))  # no memory: a view
    with pytest.raises(ValueError, match=r"^frames: 15360x4320 is beyond H\.264 level 6\.2 \(139,264 macroblocks "
                                         r"per frame\), which players may refuse; scale them to 11202x3150 or less$"):
        with VideoWriter(out_dir / "huge.mp4", 30.0) as writer:
            writer.write(frames)
    assert os.listdir(out_dir) == [] and ffmpeg_children() == []
