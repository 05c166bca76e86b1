"""The "learned" filler: weights from the one resolver, propagation then the network; old import path."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tiny_inpainter import tiny_model

from spatialme.inpaint.base import available_fillers
from spatialme.inpaint.flow import FlowConfig
from spatialme.inpaint.learned import LearnedFill

# tiny tensors: thread hand-off costs more than it gains (and much more on a busy CI box)
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_learned_filler_is_registered():
    assert "learned" in available_fillers()


def test_learned_fill_without_weights_says_how_to_fix(tmp_path):
    # the one resolver's messages (spatialme.weights), as the pipeline gives them
    with pytest.raises(FileNotFoundError, match="no trained inpainter at .*python -m spatialme train"):
        LearnedFill(weights=tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="no trained inpainter"):
        LearnedFill(weights=str(tmp_path))  # exists, but holds no model
    with pytest.raises(FileNotFoundError, match="cannot fetch 'nobody-here/no-such-inpainter' from the Hub or its cache"):
        LearnedFill(weights="nobody-here/no-such-inpainter")  # a Hub id; tests are offline


def test_learned_fill_loads_both_layouts(tmp_path):
    model = tiny_model(2)
    model.save_pretrained(tmp_path / "direct")
    model.save_pretrained(tmp_path / "root" / "inpainter")
    for folder in (tmp_path / "direct", tmp_path / "root", str(tmp_path / "root")):
        fill = LearnedFill(weights=folder, device="cpu")
        assert fill.model.config == model.config
        for a, b in zip(fill.model.parameters(), model.parameters()):
            assert torch.equal(a, b)


def test_learned_fill_runs_the_branch(scene, warp):
    fill = LearnedFill(model=tiny_model(), flow=FlowConfig(neighbors=2), device="cpu")
    out = fill(scene.left, scene.disparity, warp.image, warp.hole_mask)
    assert out.shape == scene.left.shape and out.dtype == np.uint8
    np.testing.assert_array_equal(out[~warp.hole_mask], warp.image[~warp.hole_mask])
    cuts = np.ones(len(scene.left), bool)
    no_flow = LearnedFill(model=fill.model, flow=None, device="cpu")(scene.left, scene.disparity, warp.image, warp.hole_mask)
    # with every frame its own shot nothing propagates: the network alone fills
    np.testing.assert_array_equal(fill(scene.left, scene.disparity, warp.image, warp.hole_mask, cuts=cuts), no_flow)
    with pytest.raises(ValueError, match="model"):
        LearnedFill(model=torch.nn.Identity())
    with pytest.raises(ValueError, match="disparity"):
        fill(scene.left, scene.disparity[:, 1:], warp.image, warp.hole_mask)


def test_network_and_inference_names_import_from_the_old_path():
    from spatialme.inpaint import inference, learned, network

    for name in ("GatedConv2d", "GatedInpainter", "InpainterConfig"):
        assert getattr(learned, name) is getattr(network, name)
    for name in ("inpaint_frames", "normalize_disparity", "warped_disparity", "WHOLE_FRAME_PIXELS"):
        assert getattr(learned, name) is getattr(inference, name)
    assert learned.DEFAULT_WEIGHTS.name == "inpainter" and (learned.DEFAULT_WEIGHTS / "model.safetensors").is_file()


def test_fill_sources_tells_the_propagated_pixels_apart():
    """Holes a neighbouring frame saw are copied (flagged); the rest come from the network."""
    from spatialme.data.synthetic import SceneConfig, render_scene
    from spatialme.data.textures import load_textures
    from spatialme.warp import forward_warp

    # objects and camera moving fast enough that neighbours see some of each frame's holes
    scene = render_scene(load_textures(), SceneConfig(height=96, width=160, frames=4, max_disparity=16, camera_speed=3.0, object_speed=4.0), seed=1)
    warp = forward_warp(scene.left, scene.disparity)
    fill = LearnedFill(model=tiny_model(), flow=FlowConfig(neighbors=2), device="cpu")
    res = fill.fill_sources(scene.left, scene.disparity, warp.image, warp.hole_mask)
    np.testing.assert_array_equal(res.image, fill(scene.left, scene.disparity, warp.image, warp.hole_mask))
    assert res.propagated.shape == warp.hole_mask.shape and res.propagated.dtype == bool
    assert not (res.propagated & ~warp.hole_mask).any() and res.propagated.any()  # the camera moves: some are seen
    assert (res.propagated.sum() < warp.hole_mask.sum())
    # a propagated pixel is the network-free copy: it equals what propagation alone writes
    from spatialme.inpaint.flow import propagate

    filled, remaining = propagate(scene.left, warp.image, warp.hole_mask, FlowConfig(neighbors=2), disparity=scene.disparity)
    np.testing.assert_array_equal(res.propagated, warp.hole_mask & ~remaining)
    np.testing.assert_array_equal(res.image[res.propagated], filled[res.propagated])
    none = LearnedFill(model=fill.model, flow=None, device="cpu").fill_sources(scene.left, scene.disparity, warp.image, warp.hole_mask)
    assert not none.propagated.any()
    clean = fill.fill_sources(scene.left, scene.disparity, warp.image, np.zeros_like(warp.hole_mask))
    assert not clean.propagated.any() and np.array_equal(clean.image, warp.image)
