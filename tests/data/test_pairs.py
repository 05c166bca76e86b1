import cv2
import numpy as np
import pytest

from spatialme.data.pairs import load_pair, motorcycle, read_disparity


def write_pfm(path, array):
    with open(path, "wb") as fh:
        fh.write(b"Pf\n%d %d\n-1.0\n" % (array.shape[1], array.shape[0]))
        np.flipud(array).astype("<f4").tofile(fh)


def test_read_disparity_formats_agree_and_mark_unknown_pixels(tmp_path):
    disp = np.tile(np.linspace(1, 20, 12, dtype=np.float32), (5, 1))
    disp[2, 3] = np.inf
    np.save(tmp_path / "d.npy", disp)
    write_pfm(tmp_path / "d.pfm", disp)
    png = np.round(np.where(np.isfinite(disp), disp, 0) * 256).astype(np.uint16)
    cv2.imwrite(str(tmp_path / "d.png"), png)
    for name in ("d.npy", "d.pfm", "d.png"):
        values, valid = read_disparity(tmp_path / name)
        assert values.shape == (5, 12) and values.dtype == np.float32
        assert not valid[2, 3] and valid.sum() == 59 and values[2, 3] == 0
        np.testing.assert_allclose(values[valid], disp[valid], atol=1 / 256)
    for bad, match in (("d.txt", "expected a .npy"), ("missing.npy", "no such file")):
        (tmp_path / "d.txt").write_text("x")
        with pytest.raises(ValueError, match=match):
            read_disparity(tmp_path / bad)
    (tmp_path / "bad.pfm").write_bytes(b"P6\n1 1\n")
    with pytest.raises(ValueError, match="not a PFM"):
        read_disparity(tmp_path / "bad.pfm")


def test_load_pair_checks_sizes_and_fills_unknown_from_the_far_side(tmp_path):
    left = np.random.default_rng(0).integers(0, 255, (8, 16, 3), np.uint8)
    cv2.imwrite(str(tmp_path / "l.png"), left[..., ::-1])
    cv2.imwrite(str(tmp_path / "r.png"), left[..., ::-1])
    disp = np.full((8, 16), 2.0, np.float32)
    disp[:, 8:] = 6.0
    disp[:, 7:9] = np.nan  # unknown between a far (2 px) and a near (6 px) side
    np.save(tmp_path / "d.npy", disp)
    pair = load_pair(tmp_path / "l.png", tmp_path / "r.png", tmp_path / "d.npy")
    np.testing.assert_array_equal(pair.left, left)
    assert (pair.disparity[:, 7:9] == 2.0).all() and not pair.valid[:, 7:9].any()
    np.save(tmp_path / "small.npy", np.ones((4, 4), np.float32))
    with pytest.raises(ValueError, match="disparity: expected shape"):
        load_pair(tmp_path / "l.png", tmp_path / "r.png", tmp_path / "small.npy")
    np.save(tmp_path / "huge.npy", np.full((8, 16), 1e6, np.float32))
    with pytest.raises(ValueError, match="exceed the width"):
        load_pair(tmp_path / "l.png", tmp_path / "r.png", tmp_path / "huge.npy")
    with pytest.raises(ValueError, match="left: .* not a readable image"):
        load_pair(tmp_path / "d.npy", tmp_path / "r.png", tmp_path / "d.npy")


def test_motorcycle_is_the_middlebury_pair():
    pair = motorcycle()
    assert pair.left.shape == (500, 741, 3) and pair.right.shape == pair.left.shape
    assert 0.9 < pair.valid.mean() < 0.95
    assert 7 < pair.disparity[pair.valid].min() < 8 and 59 < pair.disparity.max() < 60
    assert (pair.disparity > 0).all()  # unknown pixels filled for the warp
