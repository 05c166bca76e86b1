import numpy as np
import pytest
import torch

from spatialme.warp import WarpConfig, forward_warp, forward_warp_torch


def ramp_row(width: int) -> np.ndarray:
    return np.repeat((np.arange(width, dtype=np.float32) * 10)[None, :, None], 3, axis=2)


def test_smoke_shapes_and_dtypes(rng):
    img = rng.integers(0, 256, (2, 5, 9, 3), dtype=np.uint8)
    disp = rng.random((2, 5, 9), dtype=np.float32) * 2
    res = forward_warp(img, disp)
    assert res.image.shape == img.shape and res.image.dtype == np.uint8
    assert res.hole_mask.shape == disp.shape and res.hole_mask.dtype == np.bool_
    assert res.disparity.shape == disp.shape and res.disparity.dtype == np.float32


def test_zero_disparity_is_identity(rng):
    img = rng.integers(0, 256, (4, 7, 3), dtype=np.uint8)
    res = forward_warp(img, np.zeros((4, 7), np.float32))
    np.testing.assert_array_equal(res.image, img)
    assert not res.hole_mask.any()


def test_integer_shift_moves_left_and_opens_right_band():
    img = ramp_row(10)
    res = forward_warp(img, np.full((1, 10), 3, np.float32))
    np.testing.assert_allclose(res.image[0, :7, 0], img[0, 3:, 0])
    assert res.hole_mask[0].tolist() == [False] * 7 + [True] * 3
    np.testing.assert_allclose(res.disparity[0, :7], 3)
    assert (res.image[0, 7:] == 0).all() and (res.disparity[0, 7:] == 0).all()


def test_negative_disparity_opens_left_band():
    res = forward_warp(ramp_row(8), np.full((1, 8), -2, np.float32))
    assert res.hole_mask[0].tolist() == [True, True] + [False] * 6
    np.testing.assert_allclose(res.image[0, 2:, 0], np.arange(6) * 10)


def test_subpixel_shift_interpolates():
    # d = 0.25: output p samples source position p + 0.25 of a linear ramp
    res = forward_warp(ramp_row(6), np.full((1, 6), 0.25, np.float32))
    np.testing.assert_allclose(res.image[0, :5, 0], (np.arange(5) + 0.25) * 10, atol=1e-4)
    # the last pixel lands at 4.75: pixel 5 is within half a pixel of it
    assert not res.hole_mask[0, 5] and res.image[0, 5, 0] == pytest.approx(50)


def test_nearer_wins_and_disocclusion_is_a_hole():
    width = 20
    img = ramp_row(width)
    disp = np.zeros((1, width), np.float32)
    disp[0, 8:12] = 4  # foreground columns 8..11 move to 4..7
    res = forward_warp(img, disp)
    np.testing.assert_allclose(res.image[0, 4:8, 0], img[0, 8:12, 0])
    # background 4..7 is hidden; 8..11 has nothing landing: disocclusion
    assert res.hole_mask[0].tolist() == [False] * 8 + [True] * 4 + [False] * 8
    np.testing.assert_allclose(res.image[0, 12:, 0], img[0, 12:, 0])


def test_ties_go_to_the_nearer_column():
    img = ramp_row(10)
    disp = np.zeros((1, 10), np.float32)
    disp[0, 5] = 2  # column 5 lands on 3, where background column 3 also lands
    res = forward_warp(img, disp)
    assert res.image[0, 3, 0] == pytest.approx(50)


def test_slanted_surface_has_no_cracks():
    width = 64
    x = np.arange(width, dtype=np.float32)
    disp = (20 - 0.6 * x)[None].clip(0)  # falls 0.6 px per px: stretched, not torn
    res = forward_warp(ramp_row(width), disp)
    first, last = np.flatnonzero(~res.hole_mask[0])[[0, -1]]
    assert not res.hole_mask[0, first : last + 1].any()
    # a steep fall (3 px per px) tears instead
    steep = (60 - 3.0 * x)[None].clip(0)
    assert forward_warp(ramp_row(width), steep).hole_mask[0, :40].any()


def test_stretch_threshold_is_configurable():
    disp = np.array([[6, 4.5, 3, 1.5, 0, 0, 0, 0]], np.float32)  # falls 1.5 px per px
    assert forward_warp(ramp_row(8), disp, WarpConfig(max_stretch=3)).hole_mask[0, :6].sum() == 0
    assert forward_warp(ramp_row(8), disp, WarpConfig(max_stretch=2)).hole_mask.sum() > 0


def test_uint8_rounds_like_float(rng):
    img = rng.integers(0, 256, (6, 30, 3), dtype=np.uint8)
    disp = rng.random((6, 30), dtype=np.float32) * 5
    r8 = forward_warp(img, disp)
    rf = forward_warp(img.astype(np.float32), disp)
    assert np.abs(r8.image.astype(np.float32) - rf.image).max() <= 0.5 + 1e-3
    np.testing.assert_array_equal(r8.hole_mask, rf.hole_mask)


def scene(rng, height=24, width=48):
    img = rng.random((height, width, 3), dtype=np.float32)
    disp = np.zeros((height, width), np.float32)
    disp[:, :] = np.linspace(3, 1, width, dtype=np.float32)
    disp[5:15, 10:20] = 9.3
    disp[12:20, 30:40] = -2.2
    disp += rng.random((height, width), dtype=np.float32) * 0.4
    return img, disp


def test_torch_kernel_matches_numba(rng):
    img, disp = scene(rng)
    ref = forward_warp(img, disp)
    w, h, d = forward_warp_torch(torch.from_numpy(img).permute(2, 0, 1)[None], torch.from_numpy(disp)[None])
    np.testing.assert_array_equal(h[0].numpy(), ref.hole_mask)
    np.testing.assert_allclose(w[0].permute(1, 2, 0).numpy(), ref.image, atol=1e-5)
    np.testing.assert_allclose(d[0].numpy(), ref.disparity, atol=1e-4)


def test_clip_equals_per_frame(rng):
    img = rng.integers(0, 256, (3, 8, 16, 3), dtype=np.uint8)
    disp = rng.random((3, 8, 16), dtype=np.float32) * 6
    res = forward_warp(img, disp)
    for t in range(3):
        np.testing.assert_array_equal(res.image[t], forward_warp(img[t], disp[t]).image)


def test_torch_gradient_reaches_the_source():
    img = torch.rand(1, 2, 3, 7, dtype=torch.float64, requires_grad=True)
    disp = torch.full((1, 3, 7), 1.3)
    assert torch.autograd.gradcheck(lambda im: forward_warp_torch(im, disp)[0], (img,))


@pytest.mark.parametrize(
    "image, disparity, match",
    [
        (np.zeros((4, 5, 3), np.uint8), np.zeros((4, 6), np.float32), "disparity: expected shape"),
        (np.zeros((4, 5, 3), np.int16), np.zeros((4, 5), np.float32), "image: expected dtype"),
        (np.zeros((4, 5, 3), np.uint8), np.full((4, 5), np.nan, np.float32), "disparity: contains NaN"),
        (np.zeros((5, 3), np.uint8), np.zeros((5,), np.float32), "image: expected 3 or 4 dimensions"),
        ([[1, 2]], np.zeros((1, 2), np.float32), "image: expected a numpy array"),
    ],
)
def test_bad_inputs(image, disparity, match):
    with pytest.raises(ValueError, match=match):
        forward_warp(image, disparity)


def test_bad_config():
    with pytest.raises(ValueError, match="max_stretch"):
        WarpConfig(max_stretch=0.5)


def test_stray_samples_inside_a_disocclusion_become_holes():
    """A lone sample of the background inside a wide hole (a noisy disparity strews them)
    is a hole afterwards; bigger islands and the border stay."""
    from spatialme.warp import speck_mask

    img = np.tile(np.arange(60, dtype=np.uint8)[None, :, None] * 4, (9, 1, 3))
    disp = np.zeros((9, 60), np.float32)
    disp[:, 20:40] = 12.0  # a near object opens a 12 px hole at 28..39 beside it
    disp[4, 40] = 6.0  # one stray background pixel lands inside it (at 34)
    plain = forward_warp(img, disp, WarpConfig(speck=0))
    assert not plain.hole_mask[4, 34] and plain.hole_mask[3:6, 28:34].all() and plain.hole_mask[3:6, 35:40].all()
    res = forward_warp(img, disp)
    assert res.hole_mask[4, 34] and res.image[4, 34].tolist() == [0, 0, 0] and res.disparity[4, 34] == 0
    np.testing.assert_array_equal(res.hole_mask & ~plain.hole_mask, speck_mask(plain.hole_mask, 3))
    assert (res.hole_mask ^ plain.hole_mask).sum() == 1  # nothing else changes
    holes = np.ones((12, 12), bool)
    holes[4:8, 4:8] = False  # a 4x4 island: bigger than the 3 px square, kept
    holes[0, 0] = False  # at the frame border: kept
    assert not speck_mask(holes, 3).any()
    for bad in (2, -1, 17, True, 1.0):
        with pytest.raises(ValueError, match="^speck:"):
            WarpConfig(speck=bad)
