"""Tests of spatialme.depth.estimator: chunks streamed through model, cut detector and stabiliser."""

from __future__ import annotations

import numpy as np
import pytest

from spatialme.depth import DepthEstimator
from spatialme.scenes import SceneCutConfig


def test_estimator_streams_chunks_and_resets_at_cuts(tiny_dir, load_local):
    rng = np.random.default_rng(3)
    green = np.zeros((4, 48, 64, 3), np.uint8)
    green[..., 1] = rng.integers(120, 200, size=(4, 48, 64), dtype=np.uint8)
    purple = np.zeros((4, 48, 64, 3), np.uint8)
    purple[..., 0] = purple[..., 2] = rng.integers(120, 200, size=(4, 48, 64), dtype=np.uint8)
    estimator = DepthEstimator(model=load_local(tiny_dir), scene_cuts=SceneCutConfig())
    first = estimator.process(green)
    second = estimator.process(purple)
    assert first.shape == second.shape == (4, 48, 64) and first.dtype == np.float32
    assert 0.0 <= min(first.min(), second.min()) and max(first.max(), second.max()) <= 1.0
    assert estimator.last_cuts.tolist() == [True, False, False, False]
    assert estimator.last_raw.shape == (4, 48, 64)
    assert estimator.stabilizer.frames_in_shot == 4
    estimator.reset()
    np.testing.assert_allclose(estimator.process(green), first, atol=1e-6)


def test_estimator_rejects_bad_model():
    with pytest.raises(ValueError, match="model"):
        DepthEstimator(model=object())
