"""A stereo scene on disk: lossless, compact, and the folder named when it holds none."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from spatialme.data.synthetic import SceneConfig, read_scene, render_scene, write_scene
from spatialme.data.textures import load_textures

SMALL = SceneConfig(height=64, width=96, frames=4, max_disparity=6.0)


def test_write_read_round_trip(tmp_path: Path):
    scene = render_scene(load_textures(), SMALL, seed=11)
    folder = write_scene(scene, tmp_path / "scene")
    back = read_scene(folder)
    for name in ("left", "right", "disparity", "right_disparity"):
        np.testing.assert_array_equal(getattr(back, name), getattr(scene, name))
        assert getattr(back, name).dtype == getattr(scene, name).dtype
    assert back.meta == scene.meta
    raw = sum(getattr(scene, n).nbytes for n in ("left", "right", "disparity", "right_disparity"))
    stored = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    assert stored < raw / 2


def test_read_scene_names_the_folder(tmp_path: Path):
    with pytest.raises(ValueError, match="folder"):
        read_scene(tmp_path)
