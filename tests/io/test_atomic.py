"""Tests for spatialme.io.atomic: the one atomic writer and the claim on a run's output names."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from ffmedia import Media, smooth_clip

from spatialme.io.atomic import OutputClaim, atomic_write
from spatialme.io.errors import OutputExists, VideoError
from spatialme.io.images import write_image
from spatialme.io.probing import probe
from spatialme.io.writer import VideoWriter


def test_claim_creates_the_name_exclusively_and_a_second_claim_fails(out_dir: Path) -> None:
    out = out_dir / "o.mp4"
    with OutputClaim([out]) as claim:
        assert out.is_file() and out.stat().st_size == 0  # the name is taken from the start
        with pytest.raises(OutputExists, match=r"o\.mp4 is being written by another run \(or is an empty file left by one\)$"):
            with OutputClaim([out]):
                pass
        assert out.is_file()  # the failed second claim did not remove the first one's
        with VideoWriter(out, 30.0) as writer:
            writer.write(smooth_clip(3))
        claim.placed(out)
    assert probe(out).frames == 3
    with pytest.raises(OutputExists, match=r"^output: .*o\.mp4 exists$"):
        with OutputClaim([out]):
            pass
    assert probe(out).frames == 3 and os.listdir(out_dir) == ["o.mp4"]


def test_claim_gives_everything_back_on_failure(out_dir: Path) -> None:
    new_folder = out_dir / "a" / "b"
    with pytest.raises(RuntimeError, match="boom"):
        with OutputClaim([new_folder / "x.mp4", out_dir / "y.png"]) as claim:
            assert (new_folder / "x.mp4").exists()
            write_image(out_dir / "y.png", np.zeros((4, 4, 3), np.uint8))
            claim.placed(out_dir / "y.png")
            raise RuntimeError("boom")
    assert os.listdir(out_dir) == []  # names, the finished image and the folders it made
    with OutputClaim([out_dir / "unused.mp4"]):
        pass
    assert os.listdir(out_dir) == []  # a name claimed but never written is no output


def test_overwrite_claim_keeps_the_old_file_until_the_new_one_is_complete(out_dir: Path) -> None:
    out = out_dir / "o.mp4"
    out.write_bytes(b"old result")
    with pytest.raises(RuntimeError):
        with OutputClaim([out], overwrite=True):
            with VideoWriter(out, 30.0) as writer:
                writer.write(smooth_clip(3))
                raise RuntimeError("failed half way")
    assert out.read_bytes() == b"old result" and os.listdir(out_dir) == ["o.mp4"]


def test_claim_refuses_the_input_file_even_with_overwrite(media: Media, out_dir: Path) -> None:
    src = out_dir / "clip.mp4"
    src.write_bytes(media.clip.read_bytes())
    (out_dir / "link.mp4").hardlink_to(src)
    (out_dir / "sym.mp4").symlink_to(src)
    for name in ("clip.mp4", "link.mp4", "sym.mp4"):
        with pytest.raises(VideoError, match=rf"^output: .*{name} is the input file; choose another output name$"):
            with OutputClaim([out_dir / name], overwrite=True, inputs=[src]):
                pass
    assert src.read_bytes() == media.clip.read_bytes()


def test_claim_in_an_unwritable_folder_says_so_plainly(out_dir: Path, unwritable) -> None:
    with unwritable(out_dir):
        for overwrite in (False, True):
            with pytest.raises(VideoError) as err:
                with OutputClaim([out_dir / "o.mp4"], overwrite=overwrite):
                    pass
            assert str(err.value) in (f"output: cannot write to the folder {out_dir} (permission denied)",
                                      f"output: cannot write to the folder {out_dir} (operation not permitted)")
        with pytest.raises(VideoError, match=r"^output: cannot create the folder .*sub \((permission denied|operation not permitted)\)$"):
            with OutputClaim([out_dir / "sub" / "o.mp4"]):
                pass
    assert os.listdir(out_dir) == []


# --------------------------------------------------------------------------- the atomic writer


def test_atomic_write_moves_the_complete_file_into_place(tmp_path: Path) -> None:
    dest = tmp_path / "cache" / "d.npz"  # the folder is created
    with atomic_write(dest) as tmp:
        assert Path(tmp).parent == dest.parent and Path(tmp).name.startswith(".d.tmp-") and tmp.endswith(".npz")
        assert not dest.exists()  # nothing under the name until the file is complete
        np.savez_compressed(tmp, x=np.arange(3))  # the suffix is kept: numpy adds none
    assert os.listdir(dest.parent) == ["d.npz"]
    assert np.load(dest)["x"].tolist() == [0, 1, 2]


def test_atomic_write_that_fails_keeps_the_old_file_and_leaves_no_temp(tmp_path: Path) -> None:
    dest = tmp_path / "c.pt"
    dest.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_write(dest) as tmp:
            Path(tmp).write_bytes(b"half")
            raise RuntimeError("boom")
    assert dest.read_bytes() == b"old" and os.listdir(tmp_path) == ["c.pt"]
    with atomic_write(dest) as tmp:
        Path(tmp).write_bytes(b"new")
    assert dest.read_bytes() == b"new" and os.listdir(tmp_path) == ["c.pt"]


def test_atomic_write_in_an_unwritable_folder_says_so_plainly(out_dir: Path, unwritable) -> None:
    with unwritable(out_dir):
        with pytest.raises(VideoError, match=r"^x\.npz: cannot write to its folder \((permission denied|operation not permitted)\)$"):
            with atomic_write(out_dir / "x.npz"):
                pass
    assert os.listdir(out_dir) == []
    with pytest.raises(ValueError, match="path"):
        with atomic_write(3):  # type: ignore[arg-type]
            pass
