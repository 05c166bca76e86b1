"""Stereo data: matching against exact synthetic disparity, filling, loaders, the cache."""

from __future__ import annotations

import numpy as np
import pytest

from spatialme.data import stereo
from spatialme.data.stereo import (
    StereoClipSource,
    StereoMatchConfig,
    cached_disparity,
    fill_invalid,
    match_disparity,
    register_matcher,
    search_range,
    split_sbs,
)
from spatialme.data.synthetic import SceneConfig, render_scene
from spatialme.data.textures import load_textures
from spatialme.video import VideoWriter, write_image


@pytest.fixture(scope="module")
def scene():
    """A textured 3-frame 96x160 scene with wide occlusions (objects up to 16 px)."""
    return render_scene(load_textures(), SceneConfig(height=96, width=160, frames=3, max_disparity=16.0), seed=0)


@pytest.fixture(scope="module")
def matched(scene):
    return match_disparity(scene.left, scene.right)


def occluded(scene) -> np.ndarray:
    """Left pixels the right camera cannot see: they land off the frame or behind something nearer."""
    width = scene.disparity.shape[-1]
    target = np.rint(np.arange(width) - scene.disparity).astype(int)
    seen = np.take_along_axis(scene.right_disparity, np.clip(target, 0, width - 1), axis=-1)
    return (target < 0) | (seen - scene.disparity > 1.0)


# --------------------------------------------------------------------------- matching


def test_sgbm_recovers_the_true_disparity(scene, matched):
    disp, valid = matched
    assert disp.shape == valid.shape == scene.disparity.shape
    assert disp.dtype == np.float32 and valid.dtype == np.bool_
    assert valid.mean() > 0.5
    assert np.median(np.abs(disp - scene.disparity)[valid]) < 1.0
    assert (disp >= 0).all() and (disp[~valid] == 0).all()


def test_left_right_check_invalidates_occlusions(scene, matched):
    _, valid = matched
    occ = occluded(scene)
    assert occ.mean() > 0.03  # the scene has real occlusions to find
    assert (~valid[occ]).mean() > 0.6  # most occluded pixels are rejected
    assert (~valid[~occ]).mean() < 0.1  # while most visible ones are kept


def test_single_pair_gives_2d_outputs(scene):
    disp, valid = match_disparity(scene.left[0], scene.right[0], StereoMatchConfig(mode="hh", block_size=3))
    assert disp.shape == valid.shape == scene.left.shape[1:3]
    assert np.median(np.abs(disp - scene.disparity[0])[valid]) < 1.0


def test_search_range():
    assert search_range(StereoMatchConfig(), 160) == 32  # 160 / 8 = 20 -> 32
    assert search_range(StereoMatchConfig(), 1180) == 160
    assert search_range(StereoMatchConfig(), 64) == 16
    assert search_range(StereoMatchConfig(max_disparity=33), 1000) == 48


def test_registered_matcher_goes_through_the_left_right_check():
    @register_matcher("constant3")
    def constant(left, right, config):
        return np.full(left.shape[:2], 3.0, np.float32)

    try:
        image = np.zeros((12, 20, 3), np.uint8)
        disp, valid = match_disparity(image, image, StereoMatchConfig(method="constant3"))
        # columns 0-2 would match outside the right view
        assert not valid[:, :3].any() and valid[:, 3:].all()
        assert (disp[:, 3:] == 3.0).all()
    finally:
        stereo._MATCHERS._entries.pop("constant3")


@pytest.mark.parametrize(
    "kwargs, arg",
    [
        ({"block_size": 4}, "block_size"),
        ({"mode": "fast"}, "mode"),
        ({"max_disparity": 0}, "max_disparity"),
        ({"lr_tolerance": -1}, "lr_tolerance"),
        ({"p1": 100, "p2": 50}, "p2"),
    ],
)
def test_config_validation(kwargs, arg):
    with pytest.raises(ValueError, match=rf"^{arg}:"):
        StereoMatchConfig(**kwargs)


def test_match_bad_input():
    image = np.zeros((12, 20, 3), np.uint8)
    with pytest.raises(ValueError, match="^method:"):
        match_disparity(image, image, StereoMatchConfig(method="igev"))
    with pytest.raises(ValueError, match="^right:"):
        match_disparity(image, image[:, :10])
    with pytest.raises(ValueError, match="^left:"):
        match_disparity(image[..., 0], image[..., 0])


# --------------------------------------------------------------------------- filling


def test_fill_invalid_takes_the_farther_side():
    disp = np.array(
        [
            [2, 2, np.nan, np.nan, 8, 8],  # occlusion between far (2) and near (8)
            [8, np.nan, 3, 3, np.nan, np.nan],  # runs at the right border: only one side
            [np.nan, np.nan, 5, 1, 1, 1],  # run at the left border
            [np.nan] * 6,  # no valid pixel: the frame's smallest valid value
        ],
        np.float32,
    )
    filled = fill_invalid(disp, np.isfinite(disp))
    expected = np.array([[2, 2, 2, 2, 8, 8], [8, 3, 3, 3, 3, 3], [5, 5, 5, 1, 1, 1], [1] * 6], np.float32)
    np.testing.assert_array_equal(filled, expected)
    assert filled.dtype == np.float32
    nothing = fill_invalid(np.full((1, 2, 3), np.nan, np.float32), np.zeros((1, 2, 3), bool))
    np.testing.assert_array_equal(nothing, 0.0)


def test_fill_invalid_on_matched_scene(scene, matched):
    disp, valid = matched
    filled = fill_invalid(disp, valid)
    assert np.isfinite(filled).all() and filled.shape == disp.shape
    np.testing.assert_array_equal(filled[valid], disp[valid])
    # rejected occluded pixels are background: filled from the far side, not the occluder
    rejected = occluded(scene) & ~valid
    assert (filled[rejected] <= scene.disparity[rejected] + 1.0).mean() > 0.85


def test_fill_invalid_bad_input():
    with pytest.raises(ValueError, match="^valid:"):
        fill_invalid(np.zeros((2, 3), np.float32), np.ones((3, 2), bool))
    with pytest.raises(ValueError, match="^disparity:"):
        fill_invalid(np.full((2, 3), np.nan, np.float32), np.ones((2, 3), bool))


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
