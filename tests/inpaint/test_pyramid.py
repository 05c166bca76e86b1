import numpy as np
import pytest

from spatialme.inpaint.pyramid import PyramidConfig, fill_levels, hole_depth, masked_downsample, pyramid_fill


def column_hole(width=64, height=32, x0=20, x1=30):
    holes = np.zeros((1, height, width), bool)
    holes[:, :, x0:x1] = True
    return holes


def test_hole_depth_is_distance_to_known_and_one_sided_at_the_border():
    holes = column_hole()
    depth = hole_depth(holes)[0, 16]
    np.testing.assert_allclose(depth[19:31], [0, 1, 2, 3, 4, 5, 5, 4, 3, 2, 1, 0], atol=0.1)
    border = np.zeros((1, 16, 40), bool)
    border[:, :, 32:] = True  # the right border band: known on its left side only
    np.testing.assert_allclose(hole_depth(border)[0, 8, 32:], np.arange(1, 9), atol=0.1)
    assert (hole_depth(np.zeros((2, 4, 4), bool)) == 0).all()
    assert (hole_depth(np.ones((1, 4, 6), bool)) == 6).all()


def test_fill_levels_follow_log2_of_depth_over_reach():
    levels = fill_levels(np.array([0.0, 1.0, 2.0, 4.0, 8.0, 1e6], np.float32), PyramidConfig(reach=2.0, max_level=4))
    np.testing.assert_allclose(levels, [0, 0, 0, 1, 2, 4])
    with pytest.raises(ValueError, match="reach"):
        PyramidConfig(reach=0)
    with pytest.raises(ValueError, match="max_level"):
        PyramidConfig(max_level=-1)


def test_masked_downsample_averages_known_pixels_only():
    rgb = np.zeros((1, 2, 4, 3), np.float32)
    rgb[0, 0, 0], rgb[0, 1, 1] = 100, 200  # block 0: two known pixels
    rgb[0, 0, 1] = 999  # ... and one hole pixel whose value must not leak
    known = np.zeros((1, 2, 4), np.float32)
    known[0, 0, 0] = known[0, 1, 1] = 1
    disp = np.where(known > 0, 7.0, 50.0).astype(np.float32)
    out_rgb, out_known, out_disp = masked_downsample(rgb, known, disp)
    assert out_rgb.shape == (1, 1, 2, 3) and out_known.shape == (1, 1, 2)
    np.testing.assert_allclose(out_rgb[0, 0, 0], 150)
    np.testing.assert_allclose(out_rgb[0, 0, 1], 0)  # block 1: all holes
    np.testing.assert_allclose(out_known[0, 0], [0.5, 0.0])
    np.testing.assert_allclose(out_disp[0, 0], [7.0, 0.0])
    odd = masked_downsample(np.ones((1, 3, 5, 3), np.float32), np.ones((1, 3, 5), np.float32))
    assert odd[0].shape == (1, 2, 3, 3) and odd[1][0, 1, 2] == 0.25  # padding counts as holes


def level_marking_fill(calls):
    """A filler that paints holes with a value saying at which level it ran (by frame width)."""

    def fill(rgb, holes, disp, need=None):
        calls.append(rgb.shape[2])
        out = rgb.copy()
        out[holes] = {64: 10, 32: 60, 16: 110, 8: 160}.get(rgb.shape[2], 210)
        return out

    return fill


def test_pyramid_fill_is_sharp_at_the_border_and_coarse_in_the_middle():
    holes = column_hole(x0=16, x1=48)  # 32 px wide, 16 px deep in the middle
    warped = np.full((1, 32, 64, 3), 10, np.uint8)
    calls = []
    out = pyramid_fill(level_marking_fill(calls), warped, holes, None, PyramidConfig(reach=2.0, max_level=3))
    assert calls == [64, 32, 16, 8]  # level 0 and three coarser ones (depth 16 = reach * 2**3)
    row = out[0, 16, :, 0].astype(int)
    assert row[16] == 10  # depth 1: the full-resolution fill alone
    assert row[31] > 120  # the deepest pixels: mostly the coarsest levels
    assert (np.diff(row[16:32]) >= -1).all()  # the blend deepens monotonically towards the middle
    np.testing.assert_array_equal(out[~holes], warped[~holes])  # known pixels untouched


def test_pyramid_fill_weights_sum_to_one_and_shallow_holes_stay_at_full_resolution():
    holes = column_hole(x0=20, x1=40)
    warped = np.full((2, 32, 64, 3), 90, np.uint8)

    def constant(rgb, h, d, need=None):
        out = rgb.copy()
        out[h] = 90
        return out

    out = pyramid_fill(constant, warped, np.concatenate([holes, holes]), None, PyramidConfig(reach=1.0))
    np.testing.assert_array_equal(out, warped)  # any blend of equal fills is that fill
    thin = column_hole(x0=30, x1=32)
    calls = []
    pyramid_fill(level_marking_fill(calls), warped[:1], thin, None, PyramidConfig(reach=2.0))
    assert calls == [64]  # nothing deeper than the reach: one pass, no pyramid


def test_learned_fill_uses_the_pyramid_and_keeps_known_pixels():
    import torch

    from spatialme.inpaint.learned import GatedInpainter, LearnedFill

    torch.manual_seed(0)
    model = GatedInpainter(base_channels=4, levels=2)
    left = np.random.default_rng(0).integers(0, 255, (1, 32, 64, 3), np.uint8)
    disp = np.zeros((1, 32, 64), np.float32)
    disp[:, :, 10:30] = 20.0  # a near object: a 20 px hole opens beside it
    from spatialme.warp import forward_warp

    warp = forward_warp(left, disp)
    with_pyr = LearnedFill(model=model, flow=None, pyramid=PyramidConfig(reach=2.0), bands=None)(left, disp, warp.image, warp.hole_mask)
    without = LearnedFill(model=model, flow=None, pyramid=None, bands=None)(left, disp, warp.image, warp.hole_mask)
    known = ~warp.hole_mask
    np.testing.assert_array_equal(with_pyr[known], warp.image[known])
    assert not np.array_equal(with_pyr[warp.hole_mask], without[warp.hole_mask])
    with pytest.raises(ValueError, match="pyramid"):
        LearnedFill(model=model, pyramid="deep")


def test_coarse_levels_read_only_the_pixels_they_say_they_need():
    """A filler that fills only ``need`` (garbage elsewhere) gives the same result as one filling every hole."""
    rng = np.random.default_rng(3)
    holes = np.zeros((2, 72, 120), bool)
    holes[0, 10:60, 30:70] = True  # wide: every level
    holes[0, 5:70, 90:93] = True  # thin: level 0 only
    holes[1, :, 100:] = True  # the right border band
    holes[1, 40:44, 5:60] = True
    warped = rng.integers(0, 256, (2, 72, 120, 3), dtype=np.uint8)
    disp = rng.random((2, 72, 120)).astype(np.float32)
    seen = []

    def smooth(rgb, h, d, need=None):  # a fill that depends on position and level
        yy, xx = np.mgrid[: h.shape[1], : h.shape[2]]
        paint = ((3 * yy + 5 * xx + 40 * rgb.shape[2]) % 251).astype(np.uint8)
        out = rgb.copy()
        out[h] = np.broadcast_to(paint, h.shape)[h][:, None]
        return out

    def lazy(rgb, h, d, need=None):
        out = smooth(rgb, h, d)
        if need is not None:
            seen.append((int((h & need).sum()), int(h.sum())))
            out[h & ~need] = 255
        return out

    config = PyramidConfig(reach=2.0, max_level=4)
    full = pyramid_fill(smooth, warped, holes, disp, config)
    np.testing.assert_array_equal(pyramid_fill(lazy, warped, holes, disp, config), full)
    assert len(seen) >= 3 and all(needed <= total for needed, total in seen)
    assert seen[0][0] < seen[0][1]  # the thin hole is not needed at level 1


def test_masked_downsample_of_partial_shares_keeps_the_known_mean():
    """At coarser levels ``known`` is a share; a block with 1/16 known still averages its known colour."""
    rgb = np.zeros((1, 4, 4, 3), np.float32)
    rgb[0, 0, 0] = 200.0
    known = np.zeros((1, 4, 4), np.float32)
    known[0, 0, 0] = 1.0
    rgb1, known1, _ = masked_downsample(rgb, known)
    rgb2, known2, _ = masked_downsample(rgb1, known1)
    assert known2[0, 0, 0] == pytest.approx(1 / 16)
    np.testing.assert_allclose(rgb2[0, 0, 0], 200.0, rtol=1e-6)
