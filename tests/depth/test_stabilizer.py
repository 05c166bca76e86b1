"""Exact-value tests of spatialme.depth.stabilizer: the scale/shift fit and the temporal stabiliser."""

from __future__ import annotations

import numpy as np
import pytest

from spatialme.depth import DepthStabilizer, StabilizerConfig, fit_scale_shift


def _scene(height: int = 40, width: int = 60) -> np.ndarray:
    """A smooth relative inverse depth ``(H, W)`` with a near blob."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    return 0.2 + y / height + 1.5 * np.exp(-((x - 40) ** 2 + (y - 15) ** 2) / 60.0)


def test_fit_scale_shift_recovers_affine_and_clips():
    rng = np.random.default_rng(0)
    source = rng.random(500)
    a, b = fit_scale_shift(source, 2.5 * source - 0.7)
    assert a == pytest.approx(2.5, abs=1e-9) and b == pytest.approx(-0.7, abs=1e-9)
    a, _ = fit_scale_shift(source, 10.0 * source, scale_range=(0.5, 2.0))
    assert a == 2.0
    a, _ = fit_scale_shift(source, -source)
    assert a == 0.25  # an inverted fit is clipped to the smallest allowed scale
    assert fit_scale_shift(np.ones(500), source) is None
    assert fit_scale_shift(source, np.ones(500)) is None


def test_fit_is_robust_to_outliers():
    rng = np.random.default_rng(1)
    source = rng.random(1000)
    target = 1.7 * source + 0.3
    target[:100] += 5.0  # a moving object: 10 % of the samples disagree
    a, b = fit_scale_shift(source, target, trim=0.2)
    assert a == pytest.approx(1.7, abs=1e-6) and b == pytest.approx(0.3, abs=1e-6)


def test_affine_flicker_is_removed_exactly():
    base = _scene()
    scales = [1.0, 2.0, 0.6, 1.3, 3.5, 0.9]
    shifts = [0.0, 0.5, -0.1, 2.0, 0.3, 1.0]
    raw = np.stack([a * base + b for a, b in zip(scales, shifts)]).astype(np.float32)
    out = DepthStabilizer(StabilizerConfig(ema=0.9)).process(raw)
    assert out.shape == raw.shape and out.dtype == np.float32
    assert out.min() >= 0.0 and out.max() <= 1.0
    np.testing.assert_allclose(out, np.broadcast_to(out[0], out.shape), atol=1e-4)
    low, high = np.percentile(base, (2, 98))
    np.testing.assert_allclose(out[0], np.clip((base - low) / (high - low), 0, 1), atol=1e-4)
    assert (out[0] == 1.0).any() and (out[0] == 0.0).any()


def test_state_carries_across_chunks():
    base = _scene()
    raw = np.stack([(1 + 0.3 * t) * base + 0.1 * t for t in range(6)]).astype(np.float32)
    whole = DepthStabilizer().process(raw)
    stabilizer = DepthStabilizer()
    parts = np.concatenate([stabilizer.process(raw[:2]), stabilizer.process(raw[2:])])
    np.testing.assert_allclose(parts, whole, atol=1e-6)
    assert stabilizer.frames_in_shot == 6


def test_without_alignment_the_range_is_smoothed():
    base = _scene()
    raw = np.stack([base, base, 3.0 * base, 3.0 * base]).astype(np.float32)
    out = DepthStabilizer(StabilizerConfig(align=False, ema=0.5)).process(raw)
    np.testing.assert_allclose(out[1], out[0], atol=1e-6)
    assert not np.allclose(out[2], out[0], atol=1e-3)  # the range lags behind the jump...
    per_frame = DepthStabilizer(StabilizerConfig(align=False, ema=0.0)).process(raw)
    np.testing.assert_allclose(per_frame[2], per_frame[0], atol=1e-4)  # ...unless ema is 0


def test_reset_at_cut_starts_a_new_range():
    base = _scene()
    other = np.flipud(_scene()) * 4.0 + 2.0
    raw = np.stack([base, base, base, other, other]).astype(np.float32)
    stabilizer = DepthStabilizer(StabilizerConfig(ema=0.95))
    cuts = np.array([False, False, False, True, False])
    out = stabilizer.process(raw, cuts)
    fresh = DepthStabilizer(StabilizerConfig(ema=0.95)).process(raw[3:])
    np.testing.assert_allclose(out[3:], fresh, atol=1e-6)
    assert stabilizer.frames_in_shot == 2
    no_reset = DepthStabilizer(StabilizerConfig(ema=0.95)).process(raw)
    assert not np.allclose(no_reset[3:], fresh, atol=1e-3)


def test_flat_frame_gives_half_and_does_not_poison_alignment():
    base = _scene()
    raw = np.stack([base, np.full_like(base, 7.0), base]).astype(np.float32)
    out = DepthStabilizer(StabilizerConfig(ema=0.0)).process(raw)
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out[1], 0.5)
    np.testing.assert_allclose(out[2], out[0], atol=1e-5)


def test_stabilizer_validates_inputs():
    stabilizer = DepthStabilizer()
    with pytest.raises(ValueError, match="depth"):
        stabilizer.process(np.zeros((2, 4, 4), np.uint8))
    with pytest.raises(ValueError, match="depth"):
        stabilizer.process(np.full((1, 4, 4), np.nan, np.float32))
    with pytest.raises(ValueError, match="cuts"):
        stabilizer.process(np.zeros((2, 4, 4), np.float32), cuts=np.zeros(3, bool))
    with pytest.raises(ValueError, match="percentiles"):
        StabilizerConfig(percentiles=(50, 10))
    with pytest.raises(ValueError, match="ema"):
        StabilizerConfig(ema=1.0)
