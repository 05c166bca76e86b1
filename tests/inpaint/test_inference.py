"""The learned inpainter at inference: disparity inputs, whole frames against packed bands, bf16."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tiny_inpainter import tiny_model

from spatialme.bands import BandConfig
from spatialme.inpaint.inference import (
    inpaint_frames,
    normalize_disparity,
    warped_disparity,
)

# tiny tensors: thread hand-off costs more than it gains (and much more on a busy CI box)
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_normalize_disparity():
    disp = np.array([[[2.0, 4.0, 0.0, 6.0]], [[3.0, 3.0, 3.0, 3.0]]], np.float32)
    holes = np.array([[[0, 0, 1, 0]], [[0, 0, 0, 0]]], bool)
    out = normalize_disparity(disp, holes)
    np.testing.assert_allclose(out, [[[0.0, 0.5, 0.0, 1.0]], [[0, 0, 0, 0]]])
    assert normalize_disparity(disp[0], holes[0]).shape == (1, 4)
    assert (normalize_disparity(disp, np.ones_like(holes)) == 0).all()


def test_inpaint_frames_keeps_known_and_fills_holes(scene, warp):
    model = tiny_model()
    out = inpaint_frames(model, warp.image, warp.hole_mask, warp.disparity)
    assert out.shape == warp.image.shape and out.dtype == np.uint8
    np.testing.assert_array_equal(out[~warp.hole_mask], warp.image[~warp.hole_mask])
    assert not np.array_equal(out[warp.hole_mask], warp.image[warp.hole_mask])  # holes were 0
    nothing = np.zeros_like(warp.hole_mask)
    np.testing.assert_array_equal(inpaint_frames(model, warp.image, nothing, warp.disparity), warp.image)


@pytest.mark.parametrize("band", [8, 32])
def test_packed_bands_equal_whole_frame_with_enough_margin(warp, band):
    model = tiny_model(seed=5, base_channels=4, levels=3, dilations=(2,))
    whole = inpaint_frames(model, warp.image, warp.hole_mask, warp.disparity, bands=None)
    margin = model.context_radius
    config = BandConfig(band=band, margin=margin, width=96, gap=margin, batch=3)
    packed = inpaint_frames(model, warp.image, warp.hole_mask, warp.disparity, bands=config)
    # equal up to float summation order (the network runs on different shapes), frame
    # borders included: windows there sit at their shelf's edge and see the same padding
    assert np.abs(packed.astype(int) - whole.astype(int)).max() <= 1
    assert (packed != whole).mean() < 1e-3
    small = inpaint_frames(model, warp.image, warp.hole_mask, warp.disparity, bands=BandConfig(margin=4))
    np.testing.assert_array_equal(small[~warp.hole_mask], warp.image[~warp.hole_mask])
    assert np.abs(small.astype(int) - whole.astype(int))[warp.hole_mask].mean() < 8  # a short margin only approximates


def test_need_limits_the_bands_to_the_pixels_read(warp):
    model = tiny_model(seed=5, base_channels=4, levels=3, dilations=(2,))
    margin = model.context_radius
    config = BandConfig(band=8, margin=margin, width=96, gap=margin, batch=3)
    every = inpaint_frames(model, warp.image, warp.hole_mask, warp.disparity, bands=config)
    need = np.zeros_like(warp.hole_mask)
    need[:, : need.shape[1] // 2] = True  # the top half only
    part = inpaint_frames(model, warp.image, warp.hole_mask, warp.disparity, bands=config, need=need)
    read = warp.hole_mask & need
    assert read.any() and (warp.hole_mask & ~need).any()
    assert np.abs(part[read].astype(int) - every[read].astype(int)).max() <= 1  # the needed pixels: as before
    short = BandConfig(band=8, margin=4, width=96, gap=4, batch=3)  # packed bands for sure
    lazy = inpaint_frames(model, warp.image, warp.hole_mask, warp.disparity, bands=short, need=need)
    far = warp.hole_mask.copy()
    far[:, : need.shape[1] // 2 + 8] = False  # beyond the band that holds the last needed row
    assert far.any()
    np.testing.assert_array_equal(lazy[far], warp.image[far])  # the others are not computed
    assert (lazy[read] != warp.image[read]).any()
    with pytest.raises(ValueError, match="^need: expected shape"):
        inpaint_frames(model, warp.image, warp.hole_mask, warp.disparity, need=need[:, 1:])
    untouched = inpaint_frames(model, warp.image, warp.hole_mask, warp.disparity, need=np.zeros_like(need))
    np.testing.assert_array_equal(untouched, warp.image)


def test_bf16_autocast_moves_outputs_by_a_few_levels(warp):
    model = tiny_model(seed=2)
    exact = inpaint_frames(model, warp.image, warp.hole_mask, warp.disparity, bf16=False)
    fast = inpaint_frames(model, warp.image, warp.hole_mask, warp.disparity, bf16=True)
    np.testing.assert_array_equal(fast[~warp.hole_mask], warp.image[~warp.hole_mask])
    assert np.abs(fast.astype(int) - exact.astype(int)).max() <= 6


def test_inpaint_frames_restores_the_training_mode(warp):
    model = tiny_model().train()
    inpaint_frames(model, warp.image[:1], warp.hole_mask[:1], warp.disparity[:1])
    assert model.training


def test_inpaint_frames_validation(warp):
    model = tiny_model()
    with pytest.raises(ValueError, match="disparity"):
        inpaint_frames(model, warp.image, warp.hole_mask, None)
    with pytest.raises(ValueError, match="hole_mask"):
        inpaint_frames(model, warp.image, warp.hole_mask[:, 1:], warp.disparity)
    with pytest.raises(ValueError, match="model"):
        inpaint_frames(torch.nn.Identity(), warp.image, warp.hole_mask, warp.disparity)
    with pytest.raises(ValueError, match="bands"):
        inpaint_frames(model, warp.image, warp.hole_mask, warp.disparity, bands=16)
    no_disp = tiny_model(use_disparity=False)
    assert inpaint_frames(no_disp, warp.image, warp.hole_mask).shape == warp.image.shape


def test_warped_disparity_matches_the_warp(scene, warp):
    np.testing.assert_array_equal(warped_disparity(scene.disparity), warp.disparity)
