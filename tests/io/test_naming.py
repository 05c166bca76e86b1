"""Tests for spatialme.io.naming: suffix lists and the names of converted files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from spatialme.io.naming import (
    IMAGE_EXTENSIONS,
    VIDEO_EXTENSIONS,
    is_image_path,
    output_name,
)
from spatialme.io.probing import VideoInfo, VideoLimits, probe


def test_output_name(tmp_path: Path) -> None:
    assert output_name("/in/clip.mp4", "/out", "_LR", image=False) == os.path.join("/out", "clip_LR.mp4")
    assert output_name("/in/clip.MOV", "/out", "_3dh_half", image=False) == os.path.join("/out", "clip_3dh_half.mp4")
    assert output_name("/in/photo.jpg", "/out", "_LR", image=True) == os.path.join("/out", "photo_LR.png")
    assert output_name("/in/.hidden.gif", "/out", "_TB", image=False) == os.path.join("/out", "hidden_TB.mp4")
    assert output_name("/in/a:b*c.mp4", "/out", "", image=False) == os.path.join("/out", "a_b_c.mp4")
    src = tmp_path / "same.mp4"
    assert output_name(src, tmp_path, "", image=False) == str(tmp_path / "same_3d.mp4")
    with pytest.raises(ValueError, match="layout_tag"):
        output_name("clip.mp4", "/out", "../x", image=False)


def test_is_image_path_and_extension_lists() -> None:
    assert is_image_path("a/B.JPG") and is_image_path("x.tiff") and not is_image_path("x.gif")
    assert set(VIDEO_EXTENSIONS) == {".mp4", ".mov", ".mkv", ".webm", ".gif", ".avi", ".m4v"}
    assert set(IMAGE_EXTENSIONS) == {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"}
    assert isinstance(probe.__defaults__[0], VideoLimits) and VideoInfo.__dataclass_params__.frozen
