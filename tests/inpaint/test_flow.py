"""Temporal propagation along optical flow (spatialme.inpaint.flow)."""

from __future__ import annotations

import numpy as np
import pytest

import spatialme.inpaint.optical_flow as optical_flow
from spatialme.data.synthetic import SceneConfig, render_scene
from spatialme.data.textures import load_textures
from spatialme.inpaint.flow import (
    FlowConfig,
    compute_flow,
    propagate,
    right_view_flow,
)
from spatialme.inpaint.polyline import polyline_right_view_clip
from spatialme.warp import forward_warp


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / max(mse, 1e-12)))


@pytest.fixture(scope="module")
def textures():
    return load_textures()


def warped_scene(textures, seed: int, **overrides):
    config = SceneConfig(**{"frames": 6, "camera_speed": 2.0, **overrides})
    scene = render_scene(textures, config, seed=seed)
    return scene, forward_warp(scene.left, scene.disparity)


def test_moving_camera_propagates_true_background(textures):
    filled_px, true_px, poly_px, covered, holes = [], [], [], 0, 0
    for seed in (0, 1):
        scene, warp = warped_scene(textures, seed)
        filled, remaining = propagate(scene.left, warp.image, warp.hole_mask, disparity=scene.disparity)
        poly = polyline_right_view_clip(scene.left, scene.disparity)
        got = warp.hole_mask & ~remaining
        filled_px.append(filled[got])
        true_px.append(scene.right[got])
        poly_px.append(poly[got])
        covered, holes = covered + got.sum(), holes + warp.hole_mask.sum()
        assert not (remaining & ~warp.hole_mask).any()
        np.testing.assert_array_equal(filled[~warp.hole_mask], warp.image[~warp.hole_mask])
    ours = psnr(np.concatenate(filled_px), np.concatenate(true_px))
    poly = psnr(np.concatenate(poly_px), np.concatenate(true_px))
    assert covered / holes > 0.05  # a real share of the holes was seen by a neighbour
    assert ours > 28.0
    assert ours > poly + 5.0


def test_static_scene_propagates_nothing(textures):
    scene, warp = warped_scene(textures, 2, camera_speed=0.0, object_speed=0.0)
    filled, remaining = propagate(scene.left, warp.image, warp.hole_mask, disparity=scene.disparity)
    assert remaining.sum() >= 0.99 * warp.hole_mask.sum()


def test_without_disparity_still_runs_and_keeps_known(textures):
    scene, warp = warped_scene(textures, 0, frames=3)
    filled, remaining = propagate(scene.left, warp.image, warp.hole_mask)
    assert filled.shape == warp.image.shape and filled.dtype == np.uint8
    assert remaining.shape == warp.hole_mask.shape and remaining.dtype == bool
    np.testing.assert_array_equal(filled[~warp.hole_mask], warp.image[~warp.hole_mask])


def shifted_pair(shift: int = 3, height: int = 24, width: int = 48):
    """Two frames of a pure horizontal pan by ``shift`` px; frame 0 has a hole frame 1 sees."""
    rng = np.random.default_rng(0)
    canvas = rng.integers(0, 256, (height, width + shift, 3), dtype=np.uint8)
    frames = np.stack([canvas[:, shift:], canvas[:, :width]])  # content moves right by `shift`
    holes = np.zeros((2, height, width), bool)
    holes[0, 8:16, 20:24] = True
    warped = frames.copy()
    warped[holes] = 0
    return frames, warped, holes


def constant_flows(forward_dx: float, backward_dx: float):
    def fake(dis, first, second):
        shape = (*first.shape, 2)
        fwd = np.zeros(shape, np.float32)
        bwd = np.zeros(shape, np.float32)
        fwd[..., 0], bwd[..., 0] = forward_dx, backward_dx
        return fwd, bwd

    return fake


def test_consistent_flow_copies_exact_pixels(monkeypatch):
    frames, warped, holes = shifted_pair(3)
    monkeypatch.setattr(optical_flow, "_pair_flows", constant_flows(3.0, -3.0))
    filled, remaining = propagate(frames, warped, holes, FlowConfig(neighbors=1))
    assert not remaining.any()
    np.testing.assert_array_equal(filled, frames)


def test_fb_check_rejects_inconsistent_flow(monkeypatch):
    frames, warped, holes = shifted_pair(3)
    monkeypatch.setattr(optical_flow, "_pair_flows", constant_flows(3.0, -1.5))  # back-flow misses by 1.5 px
    filled, remaining = propagate(frames, warped, holes, FlowConfig(neighbors=1, fb_tolerance=1.0))
    np.testing.assert_array_equal(remaining, holes)
    np.testing.assert_array_equal(filled, warped)
    # the same flows pass a loose tolerance: it is the check that stopped them
    _, loose = propagate(frames, warped, holes, FlowConfig(neighbors=1, fb_tolerance=2.0))
    assert not loose.any()


def test_sources_must_be_known_and_away_from_holes(monkeypatch):
    frames, warped, holes = shifted_pair(3)
    holes[1, 8:16, 22:26] = True  # frame 0's hole (x 20..23) looks at x + 3 = 23..26 in frame 1
    warped[holes] = 0
    monkeypatch.setattr(optical_flow, "_pair_flows", constant_flows(3.0, -3.0))
    filled, remaining = propagate(frames, warped, holes, FlowConfig(neighbors=1, source_margin=0))
    # only the hole pixel whose source is known in the other frame is copied (exactly)
    assert remaining[0, 8:16, 20:23].all() and not remaining[0, 8:16, 23].any()
    assert remaining[1, 8:16, 23:26].all() and not remaining[1, 8:16, 22].any()
    np.testing.assert_array_equal(filled[~remaining], frames[~remaining])
    # those two sources touch a hole: a one-pixel source margin refuses them
    _, remaining = propagate(frames, warped, holes, FlowConfig(neighbors=1, source_margin=1))
    np.testing.assert_array_equal(remaining, holes)


def test_border_bands_leave_the_pixels_beside_them_trusted(monkeypatch):
    """A frame-edge band has no silhouette next to it: its neighbour column may give pixels."""
    rng = np.random.default_rng(1)
    height, width, shift = 12, 32, 2
    canvas = rng.integers(0, 256, (height, width + shift, 3), dtype=np.uint8)
    frames = np.stack([canvas[:, shift:], canvas[:, :width]])  # frame 0's x is frame 1's x + 2
    holes = np.zeros((2, height, width), bool)
    holes[:, :, -2:] = True  # both frames' right border band
    warped = frames.copy()
    warped[holes] = 0
    monkeypatch.setattr(optical_flow, "_pair_flows", constant_flows(2.0, -2.0))
    filled, remaining = propagate(frames, warped, holes, FlowConfig(neighbors=1, source_margin=1))
    # frame 1's band is frame 0's x = W-4, W-3, the second one beside frame 0's own band
    assert not remaining[1].any()
    np.testing.assert_array_equal(filled[1], frames[1])
    # frame 0's band lies beyond frame 1's edge: nobody saw it
    np.testing.assert_array_equal(remaining[0], holes[0])
    # the same band one column into the frame (a hole with an occluder) keeps the margin
    inner = np.zeros_like(holes)
    inner[:, :, -3:-1] = True
    warped_inner = frames.copy()
    warped_inner[inner] = 0
    _, remaining = propagate(frames, warped_inner, inner, FlowConfig(neighbors=1, source_margin=1))
    # x = W-3 copies frame 0's W-5; x = W-2 would copy W-4, which touches frame 0's hole
    assert not remaining[1, :, -3].any() and remaining[1, :, -2].all()


def test_cuts_are_respected(textures):
    scene, warp = warped_scene(textures, 0)
    args = (scene.left, warp.image, warp.hole_mask)
    every = np.ones(6, bool)
    filled, remaining = propagate(*args, disparity=scene.disparity, cuts=every)
    np.testing.assert_array_equal(remaining, warp.hole_mask)
    np.testing.assert_array_equal(filled, warp.image)
    cuts = np.zeros(6, bool)
    cuts[3] = True
    filled, remaining = propagate(*args, disparity=scene.disparity, cuts=cuts)
    first, first_rem = propagate(*(a[:3] for a in args), disparity=scene.disparity[:3])
    second, second_rem = propagate(*(a[3:] for a in args), disparity=scene.disparity[3:])
    np.testing.assert_array_equal(filled, np.concatenate([first, second]))
    np.testing.assert_array_equal(remaining, np.concatenate([first_rem, second_rem]))


def test_right_view_flow_corrects_disparity_change():
    height, width = 12, 40
    left_flow = np.zeros((height, width, 2), np.float32)
    left_flow[..., 0] = 1.5
    d_t = np.full((height, width), 4.0, np.float32)
    holes = np.zeros((height, width), bool)
    holes[:, -4:] = True  # the right border band of a 4 px shift
    flow = right_view_flow(left_flow, d_t, d_t, holes)
    assert np.allclose(flow[..., 0], 1.5) and np.allclose(flow[..., 1], 0.0)
    flow = right_view_flow(left_flow, d_t, d_t + 0.5, holes)  # the point came nearer by 0.5 px
    assert np.allclose(flow[:, :-6, 0], 1.0)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"neighbors": -1}, "neighbors"),
        ({"neighbors": 1.5}, "neighbors"),
        ({"fb_tolerance": -1.0}, "fb_tolerance"),
        ({"preset": "slow"}, "preset"),
        ({"source_margin": -1}, "source_margin"),
    ],
)
def test_config_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        FlowConfig(**kwargs)


def test_input_validation():
    frames, warped, holes = shifted_pair()
    with pytest.raises(ValueError, match="warped"):
        propagate(frames, warped[:, :-1], holes)
    with pytest.raises(ValueError, match="hole_mask"):
        propagate(frames, warped, holes[:, :-1])
    with pytest.raises(ValueError, match="hole_mask"):
        propagate(frames, warped, holes.astype(np.uint8))
    with pytest.raises(ValueError, match="disparity"):
        propagate(frames, warped, holes, disparity=np.zeros((2, 5, 5), np.float32))
    with pytest.raises(ValueError, match="cuts"):
        propagate(frames, warped, holes, cuts=np.zeros(3, bool))
    with pytest.raises(ValueError, match="cuts"):
        propagate(frames, warped, holes, cuts=np.zeros(2, int))
    with pytest.raises(ValueError, match="config"):
        propagate(frames, warped, holes, config={"neighbors": 1})
    with pytest.raises(ValueError, match="left"):
        propagate(frames.astype(np.float32), warped, holes)
    with pytest.raises(ValueError, match="preset"):
        compute_flow(frames[0], frames[1], "slow")


def test_single_frame_and_no_neighbours_are_no_ops():
    frames, warped, holes = shifted_pair()
    filled, remaining = propagate(frames[:1], warped[:1], holes[:1])
    np.testing.assert_array_equal(remaining, holes[:1])
    filled, remaining = propagate(frames, warped, holes, FlowConfig(neighbors=0))
    np.testing.assert_array_equal(remaining, holes)
    np.testing.assert_array_equal(filled, warped)
