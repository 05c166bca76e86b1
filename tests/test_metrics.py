"""Metrics: exact values on tiny arrays, SSIM against scikit-image, masks, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest

from spatialme import metrics
from spatialme.data.textures import load_textures


def solid(value: int, h: int = 2, w: int = 2) -> np.ndarray:
    return np.full((h, w, 3), value, np.uint8)


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return load_textures()[0][:48, :64].copy()


def noisy(image: np.ndarray, amount: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(image.astype(int) + rng.integers(-amount, amount + 1, image.shape), 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------- MAE / PSNR


def test_mae_hand_computed():
    pred = np.zeros((1, 2, 3), np.uint8)
    target = np.zeros((1, 2, 3), np.uint8)
    target[0, 0] = (51, 102, 0)  # errors 0.2, 0.4, 0 -> pixel mean 0.2; other pixel 0
    assert metrics.mae(pred, target) == pytest.approx(0.1)
    assert metrics.mae(pred, target, np.array([[True, False]])) == pytest.approx(0.2)
    assert metrics.mae(pred, target, np.array([[False, True]])) == 0.0


def test_psnr_hand_computed():
    # every channel off by 51 = 0.2 -> MSE 0.04 -> 10 log10(25) dB
    assert metrics.psnr(solid(0), solid(51)) == pytest.approx(10 * math.log10(25))
    pred = np.zeros((1, 2, 3), np.uint8)
    target = pred.copy()
    target[0, 1] = 255  # MSE 0.5 over the frame, 1.0 on that pixel
    assert metrics.psnr(pred, target) == pytest.approx(10 * math.log10(2))
    assert metrics.psnr(pred, target, np.array([[False, True]])) == pytest.approx(0.0)
    assert metrics.psnr(solid(7), solid(7)) == math.inf


def test_clip_metrics_are_the_mean_over_frames():
    pred = np.stack([solid(0), solid(0)])
    target = np.stack([solid(51), solid(0)])
    assert metrics.mae(pred, target) == pytest.approx(0.1)
    # frame 1 is empty in the mask: only frame 0 counts
    mask = np.array([np.ones((2, 2), bool), np.zeros((2, 2), bool)])
    assert metrics.mae(pred, target, mask) == pytest.approx(0.2)
    assert metrics.psnr(pred, target, mask) == pytest.approx(10 * math.log10(25))


def test_empty_mask_gives_nan(photo):
    empty = np.zeros(photo.shape[:2], bool)
    for fn in (metrics.mae, metrics.psnr, metrics.ssim):
        assert math.isnan(fn(photo, photo, empty))


def test_a_2d_mask_applies_to_every_frame():
    pred = np.stack([solid(0), solid(0)])
    target = np.stack([solid(51), solid(102)])
    mask = np.array([[True, False], [False, False]])
    assert metrics.mae(pred, target, mask) == pytest.approx(0.3)


# --------------------------------------------------------------------------- SSIM


def test_ssim_of_identical_images_is_one(photo):
    assert metrics.ssim(photo, photo) == pytest.approx(1.0)
    assert metrics.ssim(photo, photo, np.ones(photo.shape[:2], bool)) == pytest.approx(1.0)


def test_ssim_drops_with_noise(photo):
    slight, strong = metrics.ssim(noisy(photo, 5), photo), metrics.ssim(noisy(photo, 40), photo)
    assert 1.0 > slight > strong > 0.0


@pytest.mark.parametrize("amount", [3, 25, 80])
def test_ssim_matches_scikit_image(photo, amount):
    structural_similarity = pytest.importorskip(
        "skimage.metrics", reason="scikit-image is not installed, no reference SSIM to compare with"
    ).structural_similarity
    other = noisy(photo, amount, seed=amount)
    ref = structural_similarity(
        photo, other, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255, channel_axis=-1
    )
    assert metrics.ssim(other, photo) == pytest.approx(ref, abs=1e-3)
    assert metrics.ssim(photo, other) == pytest.approx(ref, abs=1e-3)


def test_ssim_mask_averages_the_map_over_masked_pixels(photo):
    other = photo.copy()
    other[:, 40:] = noisy(photo[:, 40:], 60)
    left_half = np.zeros(photo.shape[:2], bool)
    left_half[:, :20] = True  # far from the damage (window radius 5)
    right_part = np.zeros(photo.shape[:2], bool)
    right_part[:, 45:] = True
    assert metrics.ssim(other, photo, left_half) == pytest.approx(1.0)
    assert metrics.ssim(other, photo, right_part) < metrics.ssim(other, photo) < 1.0


# --------------------------------------------------------------------------- maps, temporal


def test_error_map_shapes_and_values():
    pred = np.zeros((2, 3, 4, 3), np.uint8)
    target = pred.copy()
    target[1, 2, 3] = (255, 0, 0)
    err = metrics.error_map(pred, target)
    assert err.shape == (2, 3, 4) and err.dtype == np.float32
    assert err[1, 2, 3] == pytest.approx(1 / 3) and err.sum() == pytest.approx(1 / 3)
    single = metrics.error_map(pred[1], target[1])
    assert single.shape == (3, 4)
    np.testing.assert_array_equal(single, err[1])


def test_temporal_consistency():
    base = np.zeros((3, 2, 2, 3), np.uint8)
    moving = base.copy()
    moving[1:] = 51  # the truth brightens by 0.2 from frame 0 to 1, then holds
    assert metrics.temporal_consistency(moving, moving) == 0.0
    assert metrics.temporal_consistency(moving + 10, moving) == 0.0  # a constant error is not flicker
    # a static output misses the change of pair (0, 1): mean over pairs (0.2 + 0) / 2
    assert metrics.temporal_consistency(base, moving) == pytest.approx(0.1)
    flicker = base.copy()
    flicker[1] = 51
    # pred changes +0.2 then -0.2, truth +0.2 then 0 -> errors 0 and 0.2
    assert metrics.temporal_consistency(flicker, moving) == pytest.approx(0.1)
    mask = np.zeros((3, 2, 2), bool)
    mask[1:] = True  # only pair (1, 2) is scored
    assert metrics.temporal_consistency(flicker, moving, mask) == pytest.approx(0.2)
    assert math.isnan(metrics.temporal_consistency(flicker, moving, np.zeros((2, 2), bool)))


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "call, arg",
    [
        (lambda: metrics.mae(solid(0), solid(0, 3, 2)), "target"),
        (lambda: metrics.mae(solid(0).astype(np.float32), solid(0)), "pred"),
        (lambda: metrics.psnr(solid(0), solid(0), np.ones((3, 3), bool)), "mask"),
        (lambda: metrics.psnr(solid(0), solid(0), np.ones((2, 2), np.uint8)), "mask"),
        (lambda: metrics.ssim(solid(0), solid(0)), "pred"),  # smaller than the window
        (lambda: metrics.error_map(np.zeros((2, 2), np.uint8), np.zeros((2, 2), np.uint8)), "pred"),
        (lambda: metrics.temporal_consistency(solid(0), solid(0)), "pred"),
        (lambda: metrics.temporal_consistency(solid(0)[None], solid(0)[None]), "pred"),
    ],
)
def test_bad_input_names_the_argument(call, arg):
    with pytest.raises(ValueError, match=rf"^{arg}:"):
        call()
