import pytest

from spatialme.batch import plan_batch


def test_a_folder_maps_into_the_output_folder_and_skips_earlier_outputs(tmp_path):
    for name in ("a.mp4", "a_LR.mp4", "b.png", "notes.txt", ".hidden.mp4"):
        (tmp_path / name).write_bytes(b"x")
    jobs, skipped = plan_batch(tmp_path, tmp_path, "full-sbs")
    assert jobs == [(tmp_path / "a.mp4", tmp_path / "a_LR.mp4"), (tmp_path / "b.png", tmp_path / "b_LR.png")]
    assert skipped == [tmp_path / "a_LR.mp4"]


def test_single_files_and_bad_targets(tmp_path):
    src = tmp_path / "clip.mp4"
    src.write_bytes(b"x")
    out = tmp_path / "out"
    out.mkdir()
    assert plan_batch(src, out, "half-sbs") == ([(src, out / "clip_HSBS.mp4")], [])
    assert plan_batch(src, tmp_path / "x.mp4", "anaglyph") == ([(src, tmp_path / "x.mp4")], [])
    with pytest.raises(ValueError, match="must be a folder"):
        plan_batch(tmp_path, src, "full-sbs")
