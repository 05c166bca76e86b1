"""The one sidecar reader (:class:`spatialme.sidecar.DisparitySource`)."""

from __future__ import annotations

import numpy as np
import pytest

from spatialme.sidecar import DisparitySource


def _clip(t=4, h=6, w=8):
    return np.arange(t * h * w, dtype=np.float32).reshape(t, h, w) / 10


@pytest.mark.parametrize("how", ["npy", "npz", "fortran", "array"])
def test_frames_and_indexing_agree_with_the_array(tmp_path, how):
    clip = _clip()
    if how == "npy":
        np.save(tmp_path / "d.npy", clip)
        value = tmp_path / "d.npy"
    elif how == "npz":
        np.savez_compressed(tmp_path / "d.npz", disparity=clip, other=np.zeros(3))
        value = tmp_path / "d.npz"
    elif how == "fortran":
        np.save(tmp_path / "d.npy", np.asfortranarray(clip))
        value = tmp_path / "d.npy"
    else:
        value = clip
    source = DisparitySource(value)
    try:
        assert len(source) == 4 and source.shape == (4, 6, 8) and not source.still
        np.testing.assert_array_equal(source.frames(1, 3), clip[1:3])
        np.testing.assert_array_equal(source[2], clip[2])
        np.testing.assert_array_equal(source[-1], clip[3])
        np.testing.assert_array_equal(source[0], clip[0])  # a .npz rewinds
        with pytest.raises(IndexError):
            source[4]
    finally:
        source.close()


@pytest.mark.parametrize("fortran", [False, True])
def test_a_still_image_sidecar_is_one_frame_only_when_asked(tmp_path, fortran):
    still = _clip(1)[0]
    np.save(tmp_path / "s.npy", np.asfortranarray(still) if fortran else still)
    with pytest.raises(ValueError, match=r"^disparity: expected a float \(T, H, W\) array of pixels, got float32 \(6, 8\)"):
        DisparitySource(tmp_path / "s.npy")
    source = DisparitySource(tmp_path / "s.npy", image=True)
    assert source.still and source.shape == (1, 6, 8)
    np.testing.assert_array_equal(source[0], still)
    assert DisparitySource(still, image=True).shape == (1, 6, 8)


@pytest.mark.parametrize("bad, message", [
    (np.zeros((0, 4, 4), np.float32), "got float32 (0, 4, 4)"),
    (np.zeros((2, 4, 4), np.complex64), "got complex64"),
    (np.zeros((2, 2, 4, 4), np.float32), "got float32 (2, 2, 4, 4)"),
])
def test_wrong_arrays_get_one_line(tmp_path, bad, message):
    np.save(tmp_path / "b.npy", bad)
    with pytest.raises(ValueError) as err:
        DisparitySource(tmp_path / "b.npy", image=True)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_junk_and_truncated_files(tmp_path):
    (tmp_path / "j.npy").write_bytes(b"not an array at all")
    with pytest.raises(ValueError, match="j.npy is not a .npy or .npz file"):
        DisparitySource(tmp_path / "j.npy")
    np.save(tmp_path / "t.npy", _clip())
    data = (tmp_path / "t.npy").read_bytes()
    (tmp_path / "t.npy").write_bytes(data[: len(data) - 100])
    source = DisparitySource(tmp_path / "t.npy")
    np.testing.assert_array_equal(source[0], _clip()[0])
    with pytest.raises(ValueError, match="ends before frame 4"):
        source[3]
