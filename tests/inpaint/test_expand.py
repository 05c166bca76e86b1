import numpy as np
import pytest

from spatialme.inpaint.base import composite
from spatialme.inpaint.expand import ExpandConfig, de_branch, expand_disparity, expansion_triggers
from spatialme.warp import forward_warp


def algorithm1_loop(disp: np.ndarray, trig: np.ndarray, k: int) -> np.ndarray:
    """The paper's Algorithm 1 written as its loop, resolving overlaps to the nearest value."""
    rows, cols = disp.shape
    out = disp.copy()
    best = np.full(disp.shape, -np.inf, np.float32)
    for i, j in np.argwhere(trig):
        assert k <= j < cols - k and k <= i < rows - k
        best[i - k : i + k, j - k : j + k] = np.maximum(best[i - k : i + k, j - k : j + k], disp[i, j - 1])
    return np.where(np.isfinite(best), best, out)


def step_scene(height=40, width=64):
    disp = np.full((height, width), 1.0, np.float32)
    disp[10:30, 15:35] = 9.0  # foreground square, its right edge is a disocclusion edge
    return disp


def test_expands_only_disocclusion_edges():
    disp = step_scene()
    trig = expansion_triggers(disp, 3, 2.0)
    cols = np.unique(np.argwhere(trig)[:, 1])
    assert set(cols) <= {34, 35}  # the right edge only (left edge rises, never triggers)
    out = expand_disparity(disp, ExpandConfig(radius=3))
    # the foreground grows to the right by k columns on its rows
    assert (out[12:28, 35:37] == 9).all()
    assert (out[12:28, 40:] == 1).all() and (out[:, :14] == 1).all()


def test_matches_the_algorithm_loop(rng):
    disp = step_scene()
    disp[5:12, 40:55] = 5.0
    disp += rng.random(disp.shape, dtype=np.float32) * 0.2
    for k in (1, 2, 4):
        trig = expansion_triggers(disp, k, 2.0)
        assert trig.any()
        np.testing.assert_array_equal(expand_disparity(disp, ExpandConfig(radius=k)), algorithm1_loop(disp, trig, k))


def test_overlapping_blocks_take_the_nearest():
    disp = np.full((30, 40), 0.0, np.float32)
    disp[5:25, 10:20] = 6.0
    disp[5:25, 20:22] = 12.0  # nearer strip right next to it; its right edge at 22
    out = expand_disparity(disp, ExpandConfig(radius=4))
    assert out[15, 22] == 12.0


def test_no_edges_no_change_and_clip_shape():
    flat = np.full((3, 16, 16), 2.0, np.float32)
    np.testing.assert_array_equal(expand_disparity(flat), flat)


def test_auto_radius_scales_with_width():
    assert ExpandConfig().radius_for(1920) == 8 and ExpandConfig().radius_for(640) == 2


def test_de_branch_moves_hole_border_to_background():
    height, width = 32, 64
    left = np.zeros((1, height, width, 3), np.uint8)
    left[..., 0] = 50  # background red 50
    left[0, 8:24, 16:32] = (250, 0, 0)  # foreground
    disp = np.zeros((1, height, width), np.float32)
    disp[0, 8:24, 16:32] = 8
    plain = forward_warp(left, disp)
    hole_cols = np.flatnonzero(plain.hole_mask[0, 16])
    # the plain warp's hole is bordered on the left by foreground
    assert plain.image[0, 16, hole_cols[0] - 1, 0] == 250

    def fill_with_left_neighbour(lv, d, warped, holes, cuts=None):
        out = warped.copy()
        for t, y, x in zip(*np.nonzero(holes)):
            out[t, y, x] = out[t, y, x - 1]
        return out

    right, expanded, holes = de_branch(left, disp, fill_with_left_neighbour, ExpandConfig(radius=3))
    assert expanded.shape == disp.shape and holes.shape == disp.shape and holes.any()
    # with expansion, what borders the hole on the left is background, so the fill is background
    row = right[0, 16, :, 0]
    assert (row[24:32] == 50).all()
    naive = composite(plain.image, fill_with_left_neighbour(left, disp, plain.image, plain.hole_mask), plain.hole_mask)
    assert (naive[0, 16, 24:32, 0] == 250).all()


@pytest.mark.parametrize("kw", [{"radius": 0}, {"radius": 2.5}, {"threshold": -1}])
def test_bad_config(kw):
    with pytest.raises(ValueError, match=next(iter(kw))):
        ExpandConfig(**kw)


def test_bad_input():
    with pytest.raises(ValueError, match="disparity"):
        expand_disparity(np.zeros((2, 3, 4, 5), np.float32))
