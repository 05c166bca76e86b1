"""Tests for spatialme.compose: layouts, anaglyphs, names, shapes and errors."""

from __future__ import annotations

import numpy as np
import pytest

from spatialme.compose import (
    FORMATS,
    anaglyph_color,
    anaglyph_dubois,
    anaglyph_gray,
    canonical_format,
    compose,
    cross_eyed,
    layout_tag,
    output_shape,
    right_only,
    side_by_side,
    top_bottom,
)


def _pixel(rgb: tuple[int, int, int]) -> np.ndarray:
    """One-pixel image (1, 1, 3) uint8."""
    return np.array(rgb, np.uint8).reshape(1, 1, 3)


def _tiny(offset: int) -> np.ndarray:
    """2x4 image whose every value is distinct: value = offset + 12*y + 3*x + c."""
    y, x, c = np.meshgrid(np.arange(2), np.arange(4), np.arange(3), indexing="ij")
    return (offset + 12 * y + 3 * x + c).astype(np.uint8)


@pytest.fixture
def pair() -> tuple[np.ndarray, np.ndarray]:
    return _tiny(0), _tiny(100)


# --------------------------------------------------------------------------- layouts


def test_full_sbs_places_left_then_right(pair):
    left, right = pair
    out = side_by_side(left, right)
    assert out.shape == (2, 8, 3) and out.dtype == np.uint8
    assert out[1, 2].tolist() == [12 + 6, 12 + 7, 12 + 8]  # left pixel (y=1, x=2)
    assert out[0, 4].tolist() == [100, 101, 102]  # right pixel (0, 0)
    assert out[1, 7].tolist() == [100 + 12 + 9, 100 + 12 + 10, 100 + 12 + 11]  # right (1, 3)
    np.testing.assert_array_equal(out[:, :4], left)
    np.testing.assert_array_equal(out[:, 4:], right)


def test_full_tb_places_left_over_right(pair):
    left, right = pair
    out = top_bottom(left, right)
    assert out.shape == (4, 4, 3)
    assert out[1, 3].tolist() == [12 + 9, 12 + 10, 12 + 11]  # left (1, 3)
    assert out[2, 0].tolist() == [100, 101, 102]  # right (0, 0)
    np.testing.assert_array_equal(out[:2], left)
    np.testing.assert_array_equal(out[2:], right)


def test_cross_places_right_then_left(pair):
    left, right = pair
    out = cross_eyed(left, right)
    assert out.shape == (2, 8, 3)
    assert out[0, 0].tolist() == [100, 101, 102]
    assert out[0, 4].tolist() == [0, 1, 2]
    np.testing.assert_array_equal(out[:, :4], right)
    np.testing.assert_array_equal(out[:, 4:], left)


def test_right_only_is_a_copy(pair):
    left, right = pair
    out = right_only(left, right)
    np.testing.assert_array_equal(out, right)
    out[0, 0, 0] = 7
    assert right[0, 0, 0] == 100


def test_half_sbs_averages_column_pairs():
    # constant-per-column views: columns 10, 30, 50, 70 -> halves (10+30)/2, (50+70)/2
    cols = np.array([10, 30, 50, 70], np.uint8)
    left = np.broadcast_to(cols[None, :, None], (3, 4, 3)).copy()
    right = left + 100
    out = side_by_side(left, right, half=True)
    assert out.shape == left.shape
    np.testing.assert_array_equal(out[:, :, 0], np.tile([20, 60, 120, 160], (3, 1)))
    np.testing.assert_array_equal(out[..., 0], out[..., 2])


def test_half_tb_averages_row_pairs():
    rows = np.array([0, 2, 100, 200], np.uint8)
    left = np.broadcast_to(rows[:, None, None], (4, 5, 3)).copy()
    right = np.broadcast_to(rows[::-1, None, None], (4, 5, 3)).copy()
    out = top_bottom(left, right, half=True)
    assert out.shape == left.shape
    np.testing.assert_array_equal(out[:, 0, 1], [1, 150, 150, 1])


@pytest.mark.parametrize("size", [3, 5, 7])
def test_half_layouts_keep_odd_sizes(size):
    left = np.full((size, size, 3), 40, np.uint8)
    right = np.full((size, size, 3), 200, np.uint8)
    sbs = side_by_side(left, right, half=True)
    tb = top_bottom(left, right, half=True)
    assert sbs.shape == tb.shape == (size, size, 3)
    big = size - size // 2  # the left / top eye gets the larger half
    assert (sbs[:, :big] == 40).all() and (sbs[:, big:] == 200).all()
    assert (tb[:big] == 40).all() and (tb[big:] == 200).all()


def test_layouts_on_clips_match_per_frame(rng):
    left = rng.integers(0, 256, (3, 6, 5, 3), dtype=np.uint8)
    right = rng.integers(0, 256, (3, 6, 5, 3), dtype=np.uint8)
    for fmt in FORMATS:
        clip = compose(left, right, fmt)
        assert clip.ndim == 4 and clip.shape[0] == 3
        for t in range(3):
            np.testing.assert_array_equal(clip[t], compose(left[t], right[t], fmt))


# --------------------------------------------------------------------------- anaglyphs

# Dubois red-cyan coefficients, written out again here so the test does not trust the module.
_DL = [[0.456, 0.500, 0.176], [-0.040, -0.038, -0.016], [-0.015, -0.021, -0.005]]
_DR = [[-0.043, -0.088, -0.002], [0.378, 0.734, -0.018], [-0.072, -0.113, 1.226]]


def test_dubois_hand_computed_pixel():
    left, right = _pixel((200, 100, 50)), _pixel((10, 20, 230))
    # red:   0.456*200 + 0.500*100 + 0.176*50 = 91.2 + 50 + 8.8 = 150
    #      - 0.043*10 - 0.088*20 - 0.002*230 = -0.43 - 1.76 - 0.46 = -2.65  -> 147.35 -> 147
    # green: -0.040*200 - 0.038*100 - 0.016*50 = -8 - 3.8 - 0.8 = -12.6
    #        0.378*10 + 0.734*20 - 0.018*230 = 3.78 + 14.68 - 4.14 = 14.32  -> 1.72 -> 2
    # blue:  -0.015*200 - 0.021*100 - 0.005*50 = -3 - 2.1 - 0.25 = -5.35
    #        -0.072*10 - 0.113*20 + 1.226*230 = -0.72 - 2.26 + 281.98 = 279.0 -> 273.65 -> 255 (clipped)
    out = anaglyph_dubois(left, right)
    assert out.shape == (1, 1, 3) and out.dtype == np.uint8
    assert out[0, 0].tolist() == [147, 2, 255]


def test_dubois_saturates_low_and_high():
    # left white, right black: red = 255*(0.456+0.5+0.176) = 288.7 -> 255;
    # green = 255*(-0.094) < 0 -> 0; blue = 255*(-0.041) < 0 -> 0
    out = anaglyph_dubois(_pixel((255, 255, 255)), _pixel((0, 0, 0)))
    assert out[0, 0].tolist() == [255, 0, 0]
    # left black, right white: red = 255*(-0.133) -> 0; green = 255*1.094 -> 255; blue = 255*1.041 -> 255
    out = anaglyph_dubois(_pixel((0, 0, 0)), _pixel((255, 255, 255)))
    assert out[0, 0].tolist() == [0, 255, 255]


def _srgb_to_linear(v: float) -> float:
    c = v / 255.0
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def _linear_to_srgb(c: float) -> float:
    c = min(max(c, 0.0), 1.0)
    return 12.92 * c if c <= 0.0031308 else 1.055 * c ** (1 / 2.4) - 0.055


def _dubois_reference(left, right, linear: bool) -> list[int]:
    """Scalar reference: matrices on RGB in [0, 1], optionally in linear light."""
    dec = _srgb_to_linear if linear else (lambda v: v / 255.0)
    enc = _linear_to_srgb if linear else (lambda c: min(max(c, 0.0), 1.0))
    lv, rv = [dec(v) for v in left], [dec(v) for v in right]
    out = []
    for i in range(3):
        s = sum(_DL[i][j] * lv[j] + _DR[i][j] * rv[j] for j in range(3))
        out.append(round(enc(s) * 255))
    return out


@pytest.mark.parametrize("linear", [False, True])
@pytest.mark.parametrize(
    "left_rgb,right_rgb",
    [((200, 100, 50), (10, 20, 230)), ((30, 180, 90), (120, 60, 20)), ((128, 128, 128), (128, 128, 128))],
)
def test_dubois_matches_scalar_reference(left_rgb, right_rgb, linear):
    out = anaglyph_dubois(_pixel(left_rgb), _pixel(right_rgb), linear=linear)
    expected = _dubois_reference(left_rgb, right_rgb, linear)
    assert np.abs(out[0, 0].astype(int) - expected).max() <= 1


def test_dubois_linear_hand_computed_red():
    # sRGB -> linear: 200 -> ((200/255 + 0.055)/1.055)^2.4 = 0.5776, 100 -> 0.1274, 50 -> 0.0319;
    # 10 -> 10/255/12.92 = 0.0030, 20 -> ((20/255 + 0.055)/1.055)^2.4 = 0.0070, 230 -> 0.7913
    # red = 0.456*0.5776 + 0.5*0.1274 + 0.176*0.0319 - 0.043*0.0030 - 0.088*0.0070 - 0.002*0.7913
    #     = 0.26338 + 0.06372 + 0.00561 - 0.00013 - 0.00062 - 0.00158 = 0.33038
    # encode: 1.055*0.33038^(1/2.4) - 0.055 = 1.055*0.63036 - 0.055 = 0.61003 -> *255 = 155.6 -> 156
    # blue = -0.015*0.5776 - 0.021*0.1274 - 0.005*0.0319 - 0.072*0.0030 - 0.113*0.0070 + 1.226*0.7913
    #      = -0.00866 - 0.00268 - 0.00016 - 0.00022 - 0.00079 + 0.97013 = 0.95762
    # encode: 1.055*0.95762^(1/2.4) - 0.055 = 1.055*0.98212 - 0.055 = 0.98114 -> *255 = 250.2 -> 250
    # (in gamma space the same blue clipped at 255: linear light leaves headroom)
    out = anaglyph_dubois(_pixel((200, 100, 50)), _pixel((10, 20, 230)), linear=True)
    assert abs(int(out[0, 0, 0]) - 156) <= 1
    assert abs(int(out[0, 0, 2]) - 250) <= 1
    # and it differs from the gamma-space default (147 in red)
    assert int(out[0, 0, 0]) != int(anaglyph_dubois(_pixel((200, 100, 50)), _pixel((10, 20, 230)))[0, 0, 0])


def test_dubois_black_stays_black_in_both_modes():
    black = np.zeros((2, 3, 4, 3), np.uint8)
    for linear in (False, True):
        assert (anaglyph_dubois(black, black, linear=linear) == 0).all()


def test_compose_passes_linear_to_dubois():
    left, right = _pixel((200, 100, 50)), _pixel((10, 20, 230))
    expected = anaglyph_dubois(left, right, linear=True)
    np.testing.assert_array_equal(compose(left, right, "dubois", linear=True), expected)
    # ignored by the other formats
    np.testing.assert_array_equal(compose(left, right, "full-sbs", linear=True), side_by_side(left, right))


def test_color_anaglyph_exact():
    out = anaglyph_color(_pixel((200, 100, 50)), _pixel((10, 20, 230)))
    assert out[0, 0].tolist() == [200, 20, 230]


def test_gray_anaglyph_exact():
    # luma(left)  = 0.299*200 + 0.587*100 + 0.114*50 = 59.8 + 58.7 + 5.7 = 124.2 -> 124
    # luma(right) = 0.299*10 + 0.587*20 + 0.114*230 = 2.99 + 11.74 + 26.22 = 40.95 -> 41
    out = anaglyph_gray(_pixel((200, 100, 50)), _pixel((10, 20, 230)))
    assert out[0, 0].tolist() == [124, 41, 41]
    white = _pixel((255, 255, 255))
    assert anaglyph_gray(white, white)[0, 0].tolist() == [255, 255, 255]


def test_anaglyphs_on_clip(rng):
    left = rng.integers(0, 256, (4, 3, 5, 3), dtype=np.uint8)
    right = rng.integers(0, 256, (4, 3, 5, 3), dtype=np.uint8)
    out = anaglyph_dubois(left, right)
    assert out.shape == left.shape
    t, y, x = 2, 1, 3
    expected = _dubois_reference(left[t, y, x].tolist(), right[t, y, x].tolist(), False)
    assert np.abs(out[t, y, x].astype(int) - expected).max() <= 1
    gray = anaglyph_gray(left, right)
    w = np.array([0.299, 0.587, 0.114])
    np.testing.assert_allclose(gray[..., 0], np.rint(left @ w), atol=1)
    np.testing.assert_allclose(gray[..., 1], np.rint(right @ w), atol=1)
    np.testing.assert_array_equal(gray[..., 1], gray[..., 2])


# --------------------------------------------------------------------------- names, tags, shapes


@pytest.mark.parametrize(
    "alias,name",
    [
        ("sbs", "full-sbs"),
        ("SBS", "full-sbs"),
        ("lr", "full-sbs"),
        ("half_sbs", "half-sbs"),
        ("hsbs", "half-sbs"),
        ("tb", "full-tb"),
        ("ou", "full-tb"),
        ("hou", "half-tb"),
        ("rl", "cross"),
        ("cross-eyed", "cross"),
        ("dubois", "anaglyph"),
        ("red-cyan", "anaglyph"),
        ("anaglyph-colour", "anaglyph-color"),
        ("grey", "anaglyph-gray"),
        (" right ", "right"),
    ],
)
def test_aliases(alias, name):
    assert canonical_format(alias) == name


def test_canonical_names_resolve_to_themselves():
    for fmt in FORMATS:
        assert canonical_format(fmt) == fmt


@pytest.mark.parametrize("bad", ["", "sbs3d", "half", None, 3])
def test_unknown_format_names_format(bad):
    with pytest.raises(ValueError, match="^format"):
        canonical_format(bad)
    with pytest.raises(ValueError, match="^format"):
        compose(_pixel((1, 2, 3)), _pixel((1, 2, 3)), bad)


def test_layout_tags():
    assert layout_tag("full-sbs") == "_LR"
    assert layout_tag("half-sbs") == "_HSBS"
    assert layout_tag("tb") == "_TB"
    assert layout_tag("half-tb") == "_HOU"
    assert layout_tag("cross") == "_RL"
    assert layout_tag("right") == "_right"
    for fmt in ("anaglyph", "anaglyph-color", "anaglyph-gray"):
        assert layout_tag(fmt) == "_anaglyph"
    with pytest.raises(ValueError, match="^format"):
        layout_tag("mono")


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("height,width", [(4, 6), (5, 7), (2, 2)])
def test_output_shape_agrees_with_compose(fmt, height, width, rng):
    left = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    right = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    out = compose(left, right, fmt)
    assert out.dtype == np.uint8 and out.ndim == 3
    assert out.shape == (*output_shape(fmt, height, width), 3)


def test_output_shape_values():
    assert output_shape("full-sbs", 1080, 1920) == (1080, 3840)
    assert output_shape("half-sbs", 1080, 1920) == (1080, 1920)
    assert output_shape("tb", 1080, 1920) == (2160, 1920)
    assert output_shape("half-tb", 1080, 1920) == (1080, 1920)
    assert output_shape("cross", 10, 3) == (10, 6)
    assert output_shape("dubois", 10, 3) == (10, 3)


def test_output_shape_errors():
    with pytest.raises(ValueError, match="^height"):
        output_shape("full-sbs", 0, 4)
    with pytest.raises(ValueError, match="^width"):
        output_shape("half-sbs", 4, 1)
    with pytest.raises(ValueError, match="^height"):
        output_shape("half-tb", 1, 4)
    with pytest.raises(ValueError, match="^width"):
        output_shape("right", 4, 2.5)


# --------------------------------------------------------------------------- input errors


@pytest.mark.parametrize("fmt", FORMATS)
def test_mismatched_shapes_name_right(fmt):
    with pytest.raises(ValueError, match="^right"):
        compose(np.zeros((2, 3, 3), np.uint8), np.zeros((2, 4, 3), np.uint8), fmt)
    with pytest.raises(ValueError, match="^right"):
        compose(np.zeros((2, 3, 3), np.uint8), np.zeros((1, 2, 3, 3), np.uint8), fmt)


@pytest.mark.parametrize("fmt", FORMATS)
def test_bad_dtype_and_channels(fmt):
    good = np.zeros((2, 3, 3), np.uint8)
    with pytest.raises(ValueError, match="^left"):
        compose(good.astype(np.float32), good, fmt)
    with pytest.raises(ValueError, match="^right"):
        compose(good, np.zeros((2, 3, 4), np.uint8), fmt)
    with pytest.raises(ValueError, match="^left"):
        compose(good.tolist(), good, fmt)
    with pytest.raises(ValueError, match="^left"):
        compose(np.zeros((2, 3), np.uint8), good, fmt)


def test_half_layouts_reject_single_pixel_side():
    one_col = np.zeros((3, 1, 3), np.uint8)
    with pytest.raises(ValueError, match="^left"):
        compose(one_col, one_col, "half-sbs")
    one_row = np.zeros((1, 3, 3), np.uint8)
    with pytest.raises(ValueError, match="^left"):
        compose(one_row, one_row, "half-tb")
    # the full layouts are fine with one pixel
    assert compose(one_col, one_col, "full-sbs").shape == (3, 2, 3)


def test_non_contiguous_views_are_accepted(rng):
    left = rng.integers(0, 256, (2, 4, 6, 3), dtype=np.uint8)
    right = rng.integers(0, 256, (2, 4, 6, 3), dtype=np.uint8)
    for fmt in FORMATS:
        out = compose(left[:, ::-1, ::2], right[:, ::-1, ::2], fmt)
        np.testing.assert_array_equal(out, compose(left[:, ::-1, ::2].copy(), right[:, ::-1, ::2].copy(), fmt))
