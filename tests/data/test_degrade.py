"""Estimated-like disparity: only edges change, deterministic for eval, random for training."""

from __future__ import annotations

import numpy as np
import pytest

from spatialme.data.degrade import random_degradation, soften_edges


def step_disparity():
    disp = np.full((2, 40, 256), 2.0, np.float32)
    disp[:, 10:30, 100:160] = 9.0
    return disp


def test_soften_edges_keeps_flat_regions_and_ramps_edges():
    disp = step_disparity()
    soft = soften_edges(disp, blur=1.0)
    assert soft.shape == disp.shape and soft.dtype == np.float32
    assert soft[0, 20, 130] == pytest.approx(9.0, abs=1e-4)  # inside the object
    assert soft[0, 20, 10] == pytest.approx(2.0, abs=1e-4)  # far background
    edge = soft[0, 20, 157:163]
    assert (np.diff(edge) < 0).all() and 2.0 < edge.min() < edge.max() < 9.0  # a ramp, not a step
    np.testing.assert_array_equal(soften_edges(disp, blur=0.0), disp)


def test_blur_scales_with_width_and_grow_moves_the_edge():
    narrow = soften_edges(step_disparity(), 1.0)[0, 20]
    wide_in = np.repeat(step_disparity(), 4, axis=2)
    wide = soften_edges(wide_in, 1.0)[0, 20]
    ramp = lambda row: int(((row > 2.05) & (row < 8.95)).sum())  # noqa: E731
    assert ramp(wide) >= 3 * ramp(narrow)
    grown = soften_edges(step_disparity(), 0.0, grow=1)
    assert grown[0, 20, 160] == 9.0 and step_disparity()[0, 20, 160] == 2.0


def test_random_degradation_is_seeded_and_validated():
    disp = step_disparity()
    a = random_degradation(disp, np.random.default_rng(3))
    b = random_degradation(disp, np.random.default_rng(3))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, disp)
    with pytest.raises(ValueError, match="blur"):
        soften_edges(disp, -1.0)
    with pytest.raises(ValueError, match="grow"):
        soften_edges(disp, 1.0, grow=-1)
    with pytest.raises(ValueError, match="disparity"):
        soften_edges(np.full((4, 4), np.nan, np.float32))
