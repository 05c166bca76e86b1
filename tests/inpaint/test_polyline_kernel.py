"""The fast row rasteriser of spatialme.inpaint.polyline_kernel against the literal method of
spatialme.inpaint.polyline_rows: identical bytes, and the fallback when the fast path's scratch overflows."""

from __future__ import annotations

import numpy as np
import pytest

from spatialme.inpaint import polyline as pl


@pytest.mark.parametrize("variant", ["sharp", "soft", "none"])
def test_fast_path_equals_general_method(variant):
    """The occlusion-only-where-folded fast path gives the literal method's bytes."""
    rng = np.random.default_rng(3)
    for trial in range(30):
        H, W = int(rng.integers(1, 4)), int(rng.integers(1, 50))
        image = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
        kind = trial % 4
        if kind == 0:
            shift = rng.normal(0.0, 3.0, (H, W))
        elif kind == 1:
            shift = np.round(rng.normal(0.0, 3.0, (H, W)))  # coincident vertices, ties
        elif kind == 2:
            shift = np.repeat(rng.normal(0.0, 6.0, (H, (W + 3) // 4)), 4, axis=1)[:, :W]
        else:
            shift = rng.normal(0.0, 2.0 * W, (H, W))
        closeness = None if trial % 2 else np.round(rng.random((H, W)) * 3.0)
        shift = shift.astype(np.float32)
        closeness = None if closeness is None else closeness.astype(np.float32)
        fast = pl._run(image, shift, closeness, variant, 1.0, general=False)
        general = pl._run(image, shift, closeness, variant, 1.0, general=True)
        assert np.array_equal(fast, general), trial


@pytest.mark.parametrize("variant", ["sharp", "soft"])
def test_scratch_overflow_falls_back_to_general_method(variant, rng):
    """Rows whose occlusion lists overflow (wild shifts; 400 segments meeting two pixels)
    run the literal method; the rows after them still take the fast path correctly."""
    W = 600
    image = rng.integers(0, 256, (4, W, 3), dtype=np.uint8)
    shift = np.zeros((4, W), dtype=np.float32)
    shift[0] = rng.normal(0.0, W, W)
    c = np.arange(50, 450)
    shift[1, 50:450] = np.where(c % 2 == 0, 100.3, 102.7) - c - 0.5
    shift[2:] = rng.normal(0.0, 2.0, (2, W))
    fast = pl._run(image, shift, None, variant, 1.0, general=False)
    general = pl._run(image, shift, None, variant, 1.0, general=True)
    assert np.array_equal(fast, general)
    assert np.array_equal(fast[2:], pl._run(image[2:], shift[2:], None, variant, 1.0))
