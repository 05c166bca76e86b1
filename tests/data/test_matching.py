"""Stereo matching against exact synthetic disparity; the left-right check; filling."""

from __future__ import annotations

import numpy as np
import pytest

from spatialme.data import matching
from spatialme.data.matching import StereoMatchConfig, fill_invalid, match_disparity, register_matcher, search_range
from spatialme.data.synthetic import SceneConfig, render_scene
from spatialme.data.textures import load_textures


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
        matching._MATCHERS._entries.pop("constant3")


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
