"""Packed bands around holes: boxes cover every region pixel, windows are aligned, round trip."""

from __future__ import annotations

import numpy as np
import pytest

from spatialme.bands import BandConfig, gather, plan_bands, scatter


def region_of(rng, frames=3, height=70, width=90):
    region = np.zeros((frames, height, width), bool)
    region[0, 10:40, 20:24] = True  # a vertical sliver
    region[1, 5:7, 10:80] = True  # a horizontal one
    region[2] = rng.random((height, width)) < 0.01  # scattered pixels
    region[2, :, -3:] = True  # a border band
    return region


def test_boxes_cover_the_region_and_windows_are_aligned(rng):
    region = region_of(rng)
    config = BandConfig(band=16, margin=6, width=64, gap=4)
    packing = plan_bands(region, 4, config)
    covered = np.zeros_like(region)
    for t, (y0, y1, x0, x1), (wy0, wy1, wx0, wx1) in zip(packing.frame, packing.box, packing.window):
        covered[t, y0:y1, x0:x1] = True
        side_edge = wx0 == 0 or wx1 == 90  # edge boxes are merged into columns across bands
        assert (y1 - y0 <= 16 or side_edge) and wy0 % 4 == 0 and wx0 % 4 == 0
        assert wy0 <= max(y0 - 6, 0) and wx0 <= max(x0 - 6, 0) and wy1 >= min(y1 + 6, 70) and wx1 >= min(x1 + 6, 90)
    assert covered[region].all()
    assert (packing.place[:, 2:] % 4 == 0).all()
    # a thin sliver costs far less than its frame
    sliver = np.zeros((1, 240, 400), bool)
    sliver[0, 20:200, 300:306] = True
    assert plan_bands(sliver, 4, BandConfig(band=32, margin=8, width=128)).pixels < 0.2 * sliver.size


def test_edge_columns_keep_the_rows_of_every_box_merged_into_them():
    """A wide run near a side edge is cut into several boxes per band; merging them into an
    edge column must keep the topmost rows of each (they once fell out: a box's rows started
    at the first box's)."""
    region = np.zeros((1, 64, 120), bool)
    region[0, 20:24, 4:20] = True  # lower rows at the left edge ...
    region[0, 17:19, 24:40] = True  # ... higher rows further right, same band, same run
    config = BandConfig(band=16, margin=20, width=56, gap=4)  # boxes at most 8 px wide
    packing = plan_bands(region, 4, config)
    covered = np.zeros_like(region)
    for t, (y0, y1, x0, x1) in zip(packing.frame, packing.box):
        covered[t, y0:y1, x0:x1] = True
    assert covered[region].all()


def test_gather_scatter_round_trip_and_no_overlap(rng):
    region = region_of(rng)
    frames = rng.integers(0, 256, (*region.shape, 3), dtype=np.uint8)
    packing = plan_bands(region, 4, BandConfig(band=16, margin=6, width=64, gap=4))
    shelves = gather(frames, packing, 0)
    assert all(s.shape == (n, h, w, 3) for s, (n, h, w) in zip(shelves, packing.groups))
    out = np.zeros_like(frames)
    scatter(shelves, packing, out, region)
    np.testing.assert_array_equal(out[region], frames[region])
    assert not out[~region].any()
    # windows never overlap on a shelf; windows at a frame edge sit at that edge of the shelf
    for g, s in {(int(a), int(b)) for a, b, _, _ in packing.place}:
        rows = np.flatnonzero((packing.place[:, 0] == g) & (packing.place[:, 1] == s))
        spans = sorted((packing.place[i, 3], packing.place[i, 3] + packing.window[i, 3] - packing.window[i, 2] + packing.pad[i, 1]) for i in rows)
        assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:]))
    for i in range(len(packing.box)):
        g, _, py, px = packing.place[i]
        count, height, width = packing.groups[g]
        if packing.window[i, 2] == 0 or packing.window[i, 3] == 90:  # a side edge: a shelf of exactly its size
            assert px == 0 and width == packing.window[i, 3] + packing.pad[i, 1] - packing.window[i, 2]
        if packing.window[i, 1] == 70 and packing.window[i, 0] > 0:  # the bottom edge: the shelf's bottom
            assert py + 70 + packing.pad[i, 0] - packing.window[i, 0] == height
    # the right border band of frame 2 became one column window
    assert sum(1 for t, w in zip(packing.frame, packing.window) if t == 2 and w[3] == 90) == 1


def test_empty_region_and_validation():
    packing = plan_bands(np.zeros((2, 8, 8), bool), 4)
    assert len(packing.box) == 0 and packing.pixels == 0
    with pytest.raises(ValueError, match="region"):
        plan_bands(np.zeros((8, 8), bool), 4)
    with pytest.raises(ValueError, match="align"):
        plan_bands(np.zeros((1, 8, 8), bool), 0)
    with pytest.raises(ValueError, match="band"):
        BandConfig(band=0)
