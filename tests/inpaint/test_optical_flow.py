"""Optical flow between left frames (spatialme.inpaint.optical_flow): DIS flow, the
forward-backward error, and the per-clip LeftFlows (shared by branches, read at points)."""

from __future__ import annotations

import numpy as np
import pytest

import spatialme.inpaint.optical_flow as optical_flow
from spatialme.inpaint.flow import FlowConfig
from spatialme.inpaint.optical_flow import LeftFlows, compute_flow, fb_error


def test_fb_error():
    fwd = np.zeros((10, 20, 2), np.float32)
    fwd[..., 0] = 2.0
    err = fb_error(fwd, -fwd)
    assert np.allclose(err[:, :18], 0.0) and np.isinf(err[:, 19]).all()
    assert np.allclose(fb_error(fwd, -0.5 * fwd)[:, :18], 1.0)
    with pytest.raises(ValueError, match="backward"):
        fb_error(fwd, fwd[..., :1])


def test_compute_flow_finds_a_shift():
    rng = np.random.default_rng(0)
    base = (rng.random((12, 16)) * 255).astype(np.float32)
    import cv2

    img = cv2.resize(base, (128, 96), interpolation=cv2.INTER_CUBIC).clip(0, 255).astype(np.uint8)
    shifted = np.roll(img, 2, axis=1)
    flow = compute_flow(img, shifted, "medium")
    assert flow.shape == (96, 128, 2) and flow.dtype == np.float32
    assert abs(np.median(flow[10:-10, 10:-10, 0]) - 2.0) < 0.2


def test_left_flows_are_computed_once_for_both_branches(monkeypatch):
    from spatialme.data.synthetic import SceneConfig, render_scene
    from spatialme.data.textures import load_textures
    from spatialme.inpaint.expand import de_branch
    from spatialme.inpaint.learned import GatedInpainter, LearnedFill
    from spatialme.warp import forward_warp

    calls = []
    real = optical_flow._pair_flows
    monkeypatch.setattr(optical_flow, "_pair_flows", lambda dis, a, b: calls.append(1) or real(dis, a, b))
    scene = render_scene(load_textures(), SceneConfig(height=48, width=80, frames=3, max_disparity=6.0, camera_speed=2.0), seed=1)
    fill = LearnedFill(model=GatedInpainter(base_channels=4, levels=2), device="cpu")
    warp = forward_warp(scene.left, scene.disparity)
    fill(scene.left, scene.disparity, warp.image, warp.hole_mask)
    first = len(calls)
    assert first > 0
    de_branch(scene.left, scene.disparity, fill)
    assert len(calls) == first  # the DE branch reused the clip's flows
    fill(scene.left.copy(), scene.disparity, warp.image, warp.hole_mask)
    assert len(calls) > first  # another clip array: new flows


def test_flows_at_reduced_size_read_like_upscaled(rng):
    left = rng.integers(0, 256, (2, 90, 160, 3), dtype=np.uint8)
    flows = LeftFlows(left, "fast", max_side=80)
    assert flows.scaled and flows.size == (80, 45)
    small = rng.standard_normal((45, 80, 2)).astype(np.float32)
    import cv2

    full = cv2.resize(small, (160, 90), interpolation=cv2.INTER_LINEAR) * np.float32(2.0)  # 2x in both axes
    # at pixel centres (the holes) the direct read equals reading the scaled-up flow
    xs, ys = rng.integers(0, 160, 50).astype(np.float32), rng.integers(0, 90, 50).astype(np.float32)
    direct = flows.at(small, xs, ys)
    np.testing.assert_allclose(direct, full[ys.astype(int), xs.astype(int)], atol=2e-3)
    assert np.isnan(flows.at(small, np.array([-3.0], np.float32), np.array([5.0], np.float32))).all()
    with pytest.raises(ValueError, match="max_side"):
        FlowConfig(max_side=8)
