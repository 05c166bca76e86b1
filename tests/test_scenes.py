"""Tests of spatialme.scenes: hard cuts found, pans and motion ignored, state carried."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from spatialme.scenes import SceneCutConfig, SceneCutDetector, frame_signature, signature_distance


def _texture(height: int, width: int, palette: tuple[int, int, int], seed: int) -> np.ndarray:
    """Blobby colour texture ``(height, width, 3) uint8`` around a base colour."""
    rng = np.random.default_rng(seed)
    blobs = rng.random((height // 8 + 2, width // 8 + 2, 3)).astype(np.float32)
    blobs = cv2.resize(blobs, (width + 16, height + 16), interpolation=cv2.INTER_CUBIC)[:height, :width]
    fine = rng.random((height, width, 1)).astype(np.float32)
    image = np.array(palette, np.float32) * (0.4 + 0.6 * blobs[..., :1]) + 60 * (blobs - 0.5) + 80 * (fine - 0.15)
    return np.clip(image, 0, 255).astype(np.uint8)


def _pan(texture: np.ndarray, frames: int, step: int, width: int = 128) -> np.ndarray:
    """A camera pan: ``(frames, H, width, 3)`` windows moving ``step`` px right per frame."""
    return np.stack([texture[:, i * step : i * step + width] for i in range(frames)])


@pytest.fixture(scope="module")
def textures() -> tuple[np.ndarray, np.ndarray]:
    return _texture(96, 420, (60, 140, 70), 1), _texture(96, 420, (150, 90, 160), 2)


def test_two_shots_give_one_cut_at_the_boundary(textures):
    green, purple = textures
    clip = np.concatenate([_pan(green, 7, 6), _pan(purple, 5, 6)])
    cuts = SceneCutDetector().process(clip)
    assert cuts.dtype == np.bool_ and cuts.shape == (12,)
    assert np.flatnonzero(cuts).tolist() == [7]


@pytest.mark.parametrize("step", [2, 6, 20])
def test_pan_over_one_texture_has_no_cut(textures, step):
    clip = _pan(textures[0], 14, step)
    detector = SceneCutDetector()
    assert not detector.process(clip).any()
    assert detector.last_scores[1:, 0].max() < 0.5 * SceneCutConfig().threshold


def test_cut_between_chunks_is_found(textures):
    green, purple = textures
    detector = SceneCutDetector()
    assert not detector.process(_pan(green, 5, 4)).any()
    second = detector.process(_pan(purple, 5, 4))
    assert np.flatnonzero(second).tolist() == [0]


def test_first_frame_and_reset_are_not_cuts(textures):
    green, purple = textures
    detector = SceneCutDetector()
    detector.process(_pan(green, 3, 4))
    detector.reset()
    assert not detector.process(_pan(purple, 3, 4)).any()


def test_min_shot_length_suppresses_flash(textures):
    green, purple = textures
    clip = np.concatenate([_pan(green, 4, 4), _pan(purple, 1, 4), _pan(green, 4, 4)])
    cuts = SceneCutDetector(SceneCutConfig(min_shot_length=4)).process(clip)
    assert np.flatnonzero(cuts).tolist() == [4]
    cuts = SceneCutDetector(SceneCutConfig(min_shot_length=1)).process(clip)
    assert np.flatnonzero(cuts).tolist() == [4, 5]


def test_static_dark_noise_is_not_a_cut():
    rng = np.random.default_rng(0)
    clip = rng.integers(0, 6, size=(8, 64, 96, 3), dtype=np.uint8)  # sensor noise in the dark
    assert not SceneCutDetector().process(clip).any()


def test_signature_distance_bounds(textures):
    green, purple = textures
    a, b = frame_signature(green[:, :128]), frame_signature(purple[:, :128])
    assert signature_distance(a, a) == (0.0, 0.0)
    hist, mad = signature_distance(a, b)
    assert 0.5 < hist <= 1.0 and 0.0 < mad <= 1.0
    assert a.hist.sum() == pytest.approx(1.0)


def test_frame_size_change_is_a_cut(textures):
    detector = SceneCutDetector()
    detector.process(textures[0][:, :128][None])
    assert detector.process(textures[0][:64, :100][None]).tolist() == [True]


@pytest.mark.parametrize(
    "kwargs",
    [{"threshold": 1.5}, {"min_mad": -0.1}, {"min_shot_length": 0}, {"thumb_width": 4}, {"bins": (16, 4)}],
)
def test_bad_config_raises(kwargs):
    name = next(iter(kwargs))
    with pytest.raises(ValueError, match=name):
        SceneCutConfig(**kwargs)


def test_bad_frames_raise():
    with pytest.raises(ValueError, match="frames"):
        SceneCutDetector().process(np.zeros((2, 8, 8), np.uint8))
    with pytest.raises(ValueError, match="frames"):
        SceneCutDetector().process(np.zeros((2, 8, 8, 3), np.float32))
