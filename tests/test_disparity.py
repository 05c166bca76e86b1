import numpy as np
import pytest

from spatialme.disparity import DisparityConfig, depth_to_disparity, disparity_range_px


def test_formula_exact_values():
    n = np.array([[0.0, 0.25, 1.0, 1.5]], np.float32)
    d = depth_to_disparity(n, DisparityConfig(divergence=2.5, convergence=0.2))
    scale = 0.025 * 4
    np.testing.assert_allclose(d[0], [(0 - 0.2) * scale, (0.25 - 0.2) * scale, 0.8 * scale, 0.8 * scale], rtol=1e-6)
    assert d.dtype == np.float32


def test_range_matches_mapping():
    cfg = DisparityConfig(divergence=2.0, convergence=0.25)
    lo, hi = disparity_range_px(1920, cfg)
    n = np.zeros((2, 1920), np.float32)
    n[1] = 1
    d = depth_to_disparity(n, cfg)
    assert d.min() == pytest.approx(lo) and d.max() == pytest.approx(hi) and hi - lo == pytest.approx(38.4)


def test_clip_uses_one_mapping_for_all_frames():
    n = np.stack([np.full((2, 3), v, np.float32) for v in (0.2, 0.6)])
    d = depth_to_disparity(n)
    assert d.shape == (2, 2, 3)
    np.testing.assert_allclose(d[1] - d[0], 0.4 * 0.02 * 3, rtol=1e-5)


@pytest.mark.parametrize("kw", [{"divergence": -1}, {"divergence": 50}, {"convergence": 1.5}, {"convergence": "a"}])
def test_bad_config(kw):
    with pytest.raises(ValueError, match=next(iter(kw))):
        DisparityConfig(**kw)


def test_bad_input():
    with pytest.raises(ValueError, match="inv_depth"):
        depth_to_disparity(np.array([[np.inf]], np.float32))
