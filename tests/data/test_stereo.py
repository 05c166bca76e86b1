"""Real stereo clips: loaders of every layout, the disparity cache."""

from __future__ import annotations

import numpy as np
import pytest

from spatialme.data import stereo
from spatialme.data.stereo import StereoClipSource, StereoMatchConfig, cached_disparity, fill_invalid, split_sbs
from spatialme.data.synthetic import SceneConfig, render_scene
from spatialme.data.textures import load_textures
from spatialme.video import VideoWriter, write_image


@pytest.fixture(scope="module")
def scene():
    """A textured 3-frame 96x160 scene with wide occlusions (objects up to 16 px)."""
    return render_scene(load_textures(), SceneConfig(height=96, width=160, frames=3, max_disparity=16.0), seed=0)


# --------------------------------------------------------------------------- loading


def test_split_sbs():
    frames = np.zeros((2, 4, 6, 3), np.uint8)
    frames[:, :, 3:] = 200
    left, right = split_sbs(frames)
    assert left.shape == right.shape == (2, 4, 3, 3)
    assert (left == 0).all() and (right == 200).all() and left.flags.c_contiguous
    l1, r1 = split_sbs(frames[0])
    assert l1.shape == (4, 3, 3)
    with pytest.raises(ValueError, match="^frames:.*even"):
        split_sbs(np.zeros((4, 5, 3), np.uint8))


def frame_indices(loaded: np.ndarray, truth: np.ndarray) -> list[int]:
    """Which frame of ``truth`` each loaded frame is (smallest mean error), checking it is close."""
    err = np.abs(loaded[:, None].astype(np.float32) - truth[None].astype(np.float32)).mean(axis=(2, 3, 4))
    assert err.min(axis=1).max() < 4.0  # lossy video coding only
    return err.argmin(axis=1).tolist()


@pytest.fixture(scope="module")
def clip():
    return render_scene(load_textures(), SceneConfig(height=64, width=96, frames=7, max_disparity=6.0), seed=2)


def test_load_sbs_video_every_nth(clip, tmp_path):
    path = tmp_path / "pair.mp4"
    with VideoWriter(path, 10, crf=4) as writer:
        writer.write(np.concatenate([clip.left, clip.right], axis=2))
    source = StereoClipSource(path, every=2, max_frames=3)
    assert source.kind == "sbs" and source.clip_id == "pair"
    left, right = source.load()
    assert left.shape == right.shape == (3, 64, 96, 3)
    assert frame_indices(left, clip.left) == [0, 2, 4]
    assert frame_indices(right, clip.right) == [0, 2, 4]
    assert len(StereoClipSource(path, every=3).load()[0]) == 3  # frames 0, 3, 6


def test_load_folders_exact(clip, tmp_path):
    for view, frames in (("left", clip.left), ("right", clip.right)):
        for t, frame in enumerate(frames):
            write_image(tmp_path / "take 1" / view / f"{t:04d}.png", frame)
    source = StereoClipSource(tmp_path / "take 1", every=3, max_frames=2)
    assert source.kind == "folders" and source.clip_id == "take_1"
    left, right = source.load()
    np.testing.assert_array_equal(left, clip.left[[0, 3]])
    np.testing.assert_array_equal(right, clip.right[[0, 3]])
    small_left, small_right = StereoClipSource(tmp_path / "take 1", max_side=48).load()
    assert small_left.shape == small_right.shape == (7, 32, 48, 3)


def test_load_two_videos(clip, tmp_path):
    for view, frames in (("left", clip.left), ("right", clip.right)):
        with VideoWriter(tmp_path / f"{view}.mp4", 10, crf=4) as writer:
            writer.write(frames)
    left, right = StereoClipSource(tmp_path, max_frames=4).load()
    assert frame_indices(left, clip.left) == [0, 1, 2, 3]
    assert frame_indices(right, clip.right) == [0, 1, 2, 3]
    source = StereoClipSource(tmp_path / "left.mp4", right=tmp_path / "right.mp4", every=5)
    assert source.kind == "videos"
    assert frame_indices(source.load()[1], clip.right) == [0, 5]


def test_loader_errors(tmp_path):
    with pytest.raises(ValueError, match="^path: not found"):
        StereoClipSource(tmp_path / "missing.mp4").load()
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="^path:"):
        StereoClipSource(tmp_path / "empty").load()
    with pytest.raises(ValueError, match="^every:"):
        StereoClipSource(tmp_path, every=0)
    (tmp_path / "bad.mp4").write_text("not a video")
    with pytest.raises(ValueError, match="bad.mp4"):
        StereoClipSource(tmp_path / "bad.mp4").load()


# --------------------------------------------------------------------------- cache


def test_cached_disparity_is_reused(scene, tmp_path, monkeypatch):
    calls = []
    real = stereo.match_disparity

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(stereo, "match_disparity", counting)
    left, right = scene.left[:2], scene.right[:2]
    first, valid = cached_disparity("clip 7", left, right, tmp_path / "cache", return_valid=True)
    files = list((tmp_path / "cache").glob("*.npz"))
    assert len(files) == 1 and files[0].name.startswith("clip_7-") and len(calls) == 1
    assert first.shape == valid.shape == (2, 96, 160) and np.isfinite(first).all()
    expected_disp, expected_valid = real(left, right)
    np.testing.assert_array_equal(valid, expected_valid)
    np.testing.assert_array_equal(first, fill_invalid(expected_disp, expected_valid))
    mtime = files[0].stat().st_mtime_ns

    again = cached_disparity("clip 7", left, right, tmp_path / "cache")
    assert len(calls) == 1 and files[0].stat().st_mtime_ns == mtime
    np.testing.assert_array_equal(again, first)

    # other settings or other frames never reuse the file
    cached_disparity("clip 7", left, right, tmp_path / "cache", StereoMatchConfig(block_size=3))
    cached_disparity("clip 7", left[:1], right[:1], tmp_path / "cache")
    assert len(calls) == 3 and len(list((tmp_path / "cache").glob("*.npz"))) == 3


def test_cached_disparity_recomputes_a_damaged_file(scene, tmp_path):
    left, right = scene.left[:1], scene.right[:1]
    first = cached_disparity("c", left, right, tmp_path)
    (path,) = tmp_path.glob("c-*.npz")
    path.write_bytes(b"garbage")
    np.testing.assert_array_equal(cached_disparity("c", left, right, tmp_path), first)
    with pytest.raises(ValueError, match="^clip_id:"):
        cached_disparity("", left, right, tmp_path)
