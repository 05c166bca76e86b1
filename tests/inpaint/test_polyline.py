"""Tests of the Poly-based branch (row-polyline warping), ``spatialme.inpaint.polyline``."""

from __future__ import annotations

import json
from pathlib import Path

import numba
import numpy as np
import pytest

from spatialme.inpaint.polyline import PolylineConfig, polyline_right_view, polyline_right_view_clip, polyline_warp

CHECK = json.loads((Path(__file__).resolve().parents[1] / "data" / "polylines_check.json").read_text())


def _grey_row(values) -> np.ndarray:
    """One-row image ``(1, W, 3) uint8`` with ``values`` in every channel."""
    v = np.asarray(values, dtype=np.uint8)
    return np.repeat(v[None, :, None], 3, axis=2)


def _case_shift(spec) -> np.ndarray:
    if isinstance(spec, str):
        assert spec == "1.5*linspace(0,1,12)"
        return 1.5 * np.linspace(0, 1, 12)
    return np.asarray(spec, dtype=np.float64)


def _oracle_row(values: np.ndarray, shift: np.ndarray, variant: str, closeness: np.ndarray) -> np.ndarray:
    """Literal, slow transcription of the definition (spatialme.inpaint.polyline) for one grey row."""
    W = len(values)
    xs, cs, ks = [-float(W)], [float(values[0])], [0.0]
    for c in range(W):
        x = c + 0.5 + shift[c]
        pts = [x] if variant == "soft" else [x - 0.45, x + 0.45]
        xs += pts
        cs += [float(values[c])] * len(pts)
        ks += [float(closeness[c])] * len(pts)
    xs.append(2.0 * W)
    cs.append(float(values[-1]))
    ks.append(0.0)
    segs = [(xs[i], xs[i + 1], cs[i], cs[i + 1], ks[i], ks[i + 1]) for i in range(len(xs) - 1) if xs[i + 1] > xs[i]]
    out = np.zeros(W, dtype=np.int64)
    for p in range(W):
        cuts = sorted({float(p), p + 1.0} | {x for x in xs if p < x < p + 1})
        total = 0.5
        for a, b in zip(cuts[:-1], cuts[1:]):
            m = 0.5 * (a + b)
            best = None
            for x0, x1, c0, c1, k0, k1 in segs:
                if x0 < m < x1:
                    t = (m - x0) / (x1 - x0)
                    k = k0 + t * (k1 - k0)
                    if best is None or k > best[0]:
                        best = (k, c0 + t * (c1 - c0))
            total += (b - a) * best[1]
        out[p] = int(total)
    return out


# ---------------------------------------------------------------------------------------
# reference check vectors
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", CHECK["cases"], ids=[c["name"] for c in CHECK["cases"]])
def test_check_vectors(case):
    row = _grey_row(20 * np.arange(12))
    shift = _case_shift(case["shift"])[None, :]
    out = polyline_warp(row, shift, case["variant"])
    got = out[0, :, 0].astype(int)
    assert np.abs(got - np.asarray(case["expected"])).max() <= CHECK["tolerance"], got.tolist()
    assert np.array_equal(out[..., 0], out[..., 1]) and np.array_equal(out[..., 0], out[..., 2])


def test_check_vectors_cover_both_variants():
    assert {"sharp", "soft"} <= {c["variant"] for c in CHECK["cases"]}


@pytest.mark.parametrize("variant", ["sharp", "soft"])
def test_matches_literal_oracle_on_random_rows(variant):
    rng = np.random.default_rng(7)
    for trial in range(40):
        W = int(rng.integers(1, 40))
        values = rng.integers(0, 256, W)
        kind = trial % 4
        if kind == 0:
            shift = rng.normal(0.0, 3.0, W)
        elif kind == 1:
            shift = np.repeat(rng.normal(0.0, 6.0, (W + 3) // 4), 4)[:W]
        elif kind == 2:
            shift = np.cumsum(rng.normal(0.0, 0.7, W))
        else:
            shift = rng.normal(0.0, 0.3 * W + 1.0, W) * 3.0
        closeness = np.abs(shift) if trial % 2 else rng.random(W) * 4.0
        got = polyline_warp(_grey_row(values), shift[None], variant, closeness=closeness[None])[0, :, 0].astype(int)
        want = _oracle_row(values, shift, variant, closeness)
        assert np.abs(got - want).max() <= 1, (trial, got.tolist(), want.tolist())


# ---------------------------------------------------------------------------------------
# properties
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", ["sharp", "soft"])
def test_zero_shift_returns_smooth_image(variant):
    ramp = np.tile((np.arange(64) * 4)[None, :], (5, 1))
    image = np.stack([ramp, 255 - ramp, np.full_like(ramp, 77)], axis=2).astype(np.uint8)
    out = polyline_warp(image, np.zeros((5, 64)), variant)
    assert np.abs(out.astype(int) - image).max() <= 1


@pytest.mark.parametrize("variant", ["sharp", "soft"])
def test_zero_shift_is_the_link_blur(variant, rng):
    """At zero shift only the links mix neighbours: sharp 1/80-39/40-1/80, soft 1/8-3/4-1/8."""
    image = rng.integers(0, 256, (4, 30, 3), dtype=np.uint8)
    out = polyline_warp(image, np.zeros((4, 30)), variant)
    f = image.astype(float)
    left = np.concatenate([f[:, :1], f[:, :-1]], axis=1)
    right = np.concatenate([f[:, 1:], f[:, -1:]], axis=1)
    w = 0.0125 if variant == "sharp" else 0.125
    want = np.floor(w * left + (1 - 2 * w) * f + w * right + 0.5)
    assert np.abs(out - want).max() <= 1


@pytest.mark.parametrize("variant", ["sharp", "soft"])
@pytest.mark.parametrize("k", [3, -4])
def test_integer_constant_shift_moves_the_image(variant, k, rng):
    H, W = 6, 40
    image = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
    still = polyline_warp(image, np.zeros((H, W)), variant)
    moved = polyline_warp(image, np.full((H, W), float(k)), variant)
    if k > 0:
        assert np.abs(moved[:, k + 1 :].astype(int) - still[:, 1 : W - k]).max() <= 1
        assert np.array_equal(moved[:, :k], np.repeat(image[:, :1], k, axis=1))  # stretched edge
    else:
        m = -k
        assert np.abs(moved[:, : W - m - 1].astype(int) - still[:, m : W - 1]).max() <= 1
        assert np.array_equal(moved[:, W - m :], np.repeat(image[:, -1:], m, axis=1))


@pytest.mark.parametrize("variant", ["sharp", "soft"])
def test_nearer_region_wins_occlusion(variant):
    """Red columns 10..19 move right by 5 onto green columns 20..29; closeness decides."""
    W = 40
    image = np.zeros((1, W, 3), dtype=np.uint8)
    image[0, 10:20] = (255, 0, 0)
    image[0, 20:30] = (0, 255, 0)
    shift = np.zeros((1, W))
    shift[0, 10:20] = 5.0
    red_near = np.zeros((1, W))
    red_near[0, 10:20] = 2.0
    red_near[0, 20:30] = 1.0
    green_near = red_near.copy()
    green_near[0, 10:20] = 1.0
    green_near[0, 20:30] = 2.0
    a = polyline_warp(image, shift, variant, closeness=red_near)
    b = polyline_warp(image, shift, variant, closeness=green_near)
    overlap = slice(21, 24)  # columns 20..24 receive both red (moved) and green (in place)
    assert (a[0, overlap, 0] > 200).all() and (a[0, overlap, 1] < 50).all()
    assert (b[0, overlap, 1] > 200).all() and (b[0, overlap, 0] < 50).all()
    # default closeness is |shift|: the moved (red) region is nearer
    assert np.array_equal(polyline_warp(image, shift, variant), polyline_warp(image, shift, variant, closeness=np.abs(shift)))
    assert (polyline_warp(image, shift, variant)[0, overlap, 0] > 200).all()


@pytest.mark.parametrize("variant", ["sharp", "soft", "none"])
def test_output_dtype_and_shape(variant, rng):
    for H, W in [(1, 1), (3, 2), (7, 33)]:
        image = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
        shift = rng.normal(0, 2, (H, W)).astype(np.float32)
        out = polyline_warp(image, shift, variant)
        assert out.dtype == np.uint8 and out.shape == (H, W, 3)


def test_float32_and_float64_and_int_shift_agree(rng):
    image = rng.integers(0, 256, (5, 50, 3), dtype=np.uint8)
    shift = np.round(rng.normal(0, 3, (5, 50)) * 4) / 4  # exact in float32
    a = polyline_warp(image, shift.astype(np.float64))
    b = polyline_warp(image, shift.astype(np.float32))
    assert np.array_equal(a, b)
    ints = np.round(shift).astype(np.int16)
    assert np.array_equal(polyline_warp(image, ints), polyline_warp(image, ints.astype(np.float64)))


def test_non_contiguous_inputs(rng):
    image = rng.integers(0, 256, (6, 40, 3), dtype=np.uint8)
    shift = rng.normal(0, 3, (40, 6)).T
    want = polyline_warp(np.ascontiguousarray(image[:, ::-1]), np.ascontiguousarray(shift))
    assert np.array_equal(polyline_warp(image[:, ::-1], shift), want)


def test_huge_shift_shows_edge_colours():
    image = _grey_row([10, 20, 30, 40])
    assert (polyline_warp(image, np.full((1, 4), 1e9))[0, :, 0] == 10).all()
    assert (polyline_warp(image, np.full((1, 4), -1e9))[0, :, 0] == 40).all()


def test_none_variant_leaves_holes_black():
    image = _grey_row([200] * 10)
    shift = np.zeros((1, 10))
    shift[0, 5:] = 2.0
    out = polyline_warp(image, shift, "none")[0, :, 0]
    assert out.tolist() == [200] * 5 + [0, 0] + [200] * 3


# ---------------------------------------------------------------------------------------
# right view
# ---------------------------------------------------------------------------------------


def _step_scene():
    """Left view: grey background, a red box at columns 20..29 with disparity 6."""
    H, W = 8, 48
    left = np.zeros((H, W, 3), dtype=np.uint8)
    left[:] = (40, 80, 160)
    left[:, 20:30] = (250, 30, 10)
    disp = np.zeros((H, W), dtype=np.float32)
    disp[:, 20:30] = 6.0
    return left, disp


@pytest.mark.parametrize("variant", ["sharp", "soft"])
def test_right_view_step_scene(variant):
    left, disp = _step_scene()
    right = polyline_right_view(left, disp, variant)
    assert right.shape == left.shape and right.dtype == np.uint8
    assert np.array_equal(right, polyline_warp(left, -disp, variant, closeness=disp))
    red, bg = np.array([250, 30, 10]), np.array([40, 80, 160])
    # the foreground moved 6 px left: columns 14..23 are red (interior exactly)
    assert np.abs(right[:, 15:23].astype(int) - red).max() <= 1
    assert np.abs(right[:, :13].astype(int) - bg).max() <= 1
    assert np.abs(right[:, 31:].astype(int) - bg).max() <= 1
    # the disoccluded gap 24..29 is a gradient from the red edge to the background
    gap = right[0, 24:30].astype(int)
    assert (np.diff(gap[:, 0]) < 0).all() and (np.diff(gap[:, 2]) > 0).all()
    assert all(min(r, b) - 1 <= g <= max(r, b) + 1 for g, r, b in zip(gap.T.ravel(), np.repeat(red, 6), np.repeat(bg, 6)))
    assert (right == right[:1]).all()  # rows are independent and equal here


def test_right_view_clip_loops_frames(rng):
    left = rng.integers(0, 256, (3, 6, 30, 3), dtype=np.uint8)
    disp = rng.uniform(0, 4, (3, 6, 30)).astype(np.float32)
    out = polyline_right_view_clip(left, disp, "soft")
    assert out.shape == left.shape and out.dtype == np.uint8
    for t in range(3):
        assert np.array_equal(out[t], polyline_right_view(left[t], disp[t], "soft"))
    single = polyline_right_view_clip(left[0], disp[0])
    assert single.shape == (1, 6, 30, 3) and np.array_equal(single[0], polyline_right_view(left[0], disp[0]))


# ---------------------------------------------------------------------------------------
# validation
# ---------------------------------------------------------------------------------------


def _ok():
    return np.zeros((4, 5, 3), dtype=np.uint8), np.zeros((4, 5), dtype=np.float32)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"image": np.zeros((4, 5, 3), dtype=np.float32)}, "image"),
        ({"image": np.zeros((4, 5), dtype=np.uint8)}, "image"),
        ({"image": np.zeros((4, 5, 4), dtype=np.uint8)}, "image"),
        ({"image": [[0, 0, 0]]}, "image"),
        ({"shift": np.zeros((4, 6))}, "shift"),
        ({"shift": np.zeros((4, 5, 1))}, "shift"),
        ({"shift": np.zeros((4, 5), dtype=bool)}, "shift"),
        ({"shift": np.full((4, 5), np.nan)}, "shift"),
        ({"shift": np.full((4, 5), np.inf)}, "shift"),
        ({"shift": np.zeros((4, 5), dtype=object)}, "shift"),
        ({"closeness": np.zeros((5, 4))}, "closeness"),
        ({"closeness": np.array([[np.nan] * 5] * 4)}, "closeness"),
        ({"variant": "blurry"}, "variant"),
    ],
)
def test_polyline_warp_rejects_bad_inputs(kwargs, name):
    image, shift = _ok()
    args = {"image": image, "shift": shift, "variant": "sharp", "closeness": None, **kwargs}
    with pytest.raises(ValueError, match=name):
        polyline_warp(**args)


def test_right_view_rejects_bad_inputs():
    image, disp = _ok()
    with pytest.raises(ValueError, match="left"):
        polyline_right_view(image[..., 0], disp)
    with pytest.raises(ValueError, match="disparity"):
        polyline_right_view(image, disp[:, :4])
    with pytest.raises(ValueError, match="disparity"):
        polyline_right_view(image, np.full_like(disp, np.nan))
    with pytest.raises(ValueError, match="variant"):
        polyline_right_view(image, disp, "poly")
    with pytest.raises(ValueError, match="disparity"):
        polyline_right_view_clip(image[None].repeat(2, 0), disp[None])
    with pytest.raises(ValueError, match="left"):
        polyline_right_view_clip(image.astype(np.float32), disp)
    with pytest.raises(ValueError, match="variant"):
        PolylineConfig(variant="x")
    assert PolylineConfig().variant == "sharp"


# ---------------------------------------------------------------------------------------
# threads
# ---------------------------------------------------------------------------------------


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="this machine gives numba one thread, so 1- and 2-thread results cannot be compared")
@pytest.mark.parametrize("variant", ["sharp", "soft"])
def test_threads_give_identical_results(variant, rng):
    image = rng.integers(0, 256, (67, 90, 3), dtype=np.uint8)
    shift = -np.repeat(rng.uniform(0, 8, (67, 9)), 10, axis=1).astype(np.float32)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = polyline_warp(image, shift, variant, closeness=-shift)
        numba.set_num_threads(2)
        two = polyline_warp(image, shift, variant, closeness=-shift)
    finally:
        numba.set_num_threads(before)
    assert np.array_equal(one, two)
