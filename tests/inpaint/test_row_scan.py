"""Row scans for hole pixels (spatialme.inpaint.row_scan): background fill and occluder disparity."""

from __future__ import annotations

import numpy as np

from spatialme.inpaint.row_scan import edge_runs, fill_from_background, occluder_disparity


def test_fill_from_background_takes_the_farther_side():
    values = np.array([[1, 2, 0, 0, 5, 6, 0]], np.float32)
    unknown = np.array([[0, 0, 1, 1, 0, 0, 1]], bool)
    disparity = np.array([[9, 9, 0, 0, 1, 1, 0]], np.float32)
    np.testing.assert_array_equal(fill_from_background(values, unknown, disparity), [[1, 2, 5, 5, 5, 6, 6]])
    disparity[0, 4] = 10.0  # right side nearer now: take the left one
    np.testing.assert_array_equal(fill_from_background(values, unknown, disparity), [[1, 2, 2, 2, 5, 6, 6]])
    stacked = fill_from_background(np.dstack([values, 10 * values]), unknown, None)
    np.testing.assert_array_equal(stacked[..., 1], [[10, 20, 50, 50, 50, 60, 60]])
    assert (fill_from_background(values, np.ones_like(unknown), None) == 0).all()


def test_occluder_disparity():
    holes = np.array([[0, 1, 1, 0, 0, 1]], bool)
    disparity = np.array([[7, 0, 0, 2, 2, 0]], np.float32)
    np.testing.assert_array_equal(occluder_disparity(holes, disparity), [[np.inf, 7, 7, np.inf, np.inf, np.inf]])


def test_edge_runs_are_the_runs_that_reach_a_frame_edge():
    holes = np.array([[1, 1, 0, 1, 0, 0, 1, 1], [0, 1, 1, 0, 0, 0, 0, 0], [1, 1, 1, 1, 1, 1, 1, 1]], bool)
    np.testing.assert_array_equal(
        edge_runs(holes),
        np.array([[1, 1, 0, 0, 0, 0, 1, 1], [0, 0, 0, 0, 0, 0, 0, 0], [1, 1, 1, 1, 1, 1, 1, 1]], bool),
    )
    assert edge_runs(np.stack([holes, ~holes])).shape == (2, *holes.shape)
