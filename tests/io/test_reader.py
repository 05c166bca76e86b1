"""Tests for spatialme.io.reader: streaming chunks, trimming, the decoder's lifetime, truncation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from ffmedia import H, Media, W, decode_audio, ffmpeg_children, read_all

from spatialme.io.errors import VideoError
from spatialme.io.probing import VideoInfo, VideoLimits, probe
from spatialme.io.reader import read_frames
from spatialme.io.writer import VideoWriter


def test_read_frames_streams_exact_chunks(media: Media) -> None:
    chunks = list(read_frames(media.clip, chunk=16))
    assert [len(c) for c in chunks] == [16, 16, 16, 12]
    assert all(c.dtype == np.uint8 and c.shape[1:] == (H, W, 3) for c in chunks)
    assert len(np.concatenate(chunks)) == probe(media.clip).frames
    assert [len(c) for c in read_frames(media.clip, chunk=1, max_frames=3)] == [1, 1, 1]


def test_start_and_max_frames_trim(media: Media) -> None:
    info = probe(media.clip)
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
            read_frames(media.clip, **kwargs)


def test_limits_cap_delivered_frames(media: Media) -> None:
    info = probe(media.clip)
    assert len(read_all(info, limits=VideoLimits(max_frames=20))) == 20


def test_stopping_early_kills_the_decoder(media: Media) -> None:
    gen = read_frames(media.clip, chunk=4)
    next(gen)
    assert ffmpeg_children()  # the decoder is running
    gen.close()
    assert ffmpeg_children() == []


def test_variable_frame_rate_gets_one_constant_rate_in_sync(media: Media, out_dir: Path) -> None:
    info = probe(media.vfr)
    assert 19.0 < info.fps < 22.0  # the average rate (60 frames over ~3 s), not the 30 fps tbr
    chunks = list(read_frames(info, chunk=16))
    n = sum(len(c) for c in chunks)
    assert abs(n - info.frames) <= 2
    assert n / info.fps == pytest.approx(3.0, abs=1.5 / info.fps)  # duration matches the 3 s audio
    out = out_dir / "vfr_LR.mp4"
    with VideoWriter(out, info.fps, audio_source=info.path, preset="ultrafast") as writer:
        for chunk in chunks:
            writer.write(chunk)
    back = probe(out)
    assert back.fps == info.fps and back.frames == n
    audio_seconds = len(decode_audio(out)) / 8000
    assert audio_seconds == pytest.approx(back.duration, abs=0.06)
    assert audio_seconds == pytest.approx(3.0, abs=0.1)


def test_decoder_that_stops_early_is_an_error(media: Media) -> None:
    """A file that probes fine but breaks off while decoding raises after the last frame (no silent short clip)."""
    info = probe(media.faststart)
    cut = media.cut(media.faststart, "late_cut.mp4", int(media.faststart.stat().st_size * 0.4))
    late = VideoInfo(**{**info.__dict__, "path": str(cut)})  # as if the file were cut after probing
    frames = []
    with pytest.raises(VideoError, match=r"^late_cut\.mp4: decoding stopped after (\d+) frames \(truncated or damaged video"):
        for chunk in read_frames(late, chunk=8):
            frames.append(chunk)
    assert 0 < sum(len(c) for c in frames) < 60
    assert ffmpeg_children() == []
