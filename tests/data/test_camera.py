import numpy as np
import pytest

from spatialme.data.camera import camera_pair


def test_camera_pair_gives_each_eye_its_own_gains_and_the_input_noise():
    rng = np.random.default_rng(0)
    left = np.full((2, 32, 48, 3), 120, np.uint8)
    right = left.copy()
    outs = [camera_pair(left, right, np.random.default_rng(s)) for s in range(8)]
    for a, b in outs:
        assert a.shape == left.shape and a.dtype == np.uint8 and b.shape == right.shape
        assert abs(float(a.mean()) - 120) < 15 and abs(float(b.mean()) - 120) < 15  # a few percent of exposure
        assert len(np.unique(b)) <= 3  # the target: gains only, one value per channel
    assert any(a.std() > 0.5 for a, _ in outs)  # the input gets sensor noise / codec artefacts
    assert len({round(float(b.mean()), 2) for _, b in outs}) > 4  # gains differ from clip to clip
    a1, b1 = camera_pair(left, right, np.random.default_rng(5))
    a2, b2 = camera_pair(left, right, np.random.default_rng(5))
    np.testing.assert_array_equal(a1, a2)
    np.testing.assert_array_equal(b1, b2)
    with pytest.raises(ValueError, match="right"):
        camera_pair(left, right[:, :16], rng)
