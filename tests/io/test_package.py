"""spatialme.io re-exports each module's public names, and spatialme.video (their old home) still does."""

from __future__ import annotations

import types

import spatialme.io as io_pkg
from spatialme import video
from spatialme.io import atomic, probing, reader, writer


def test_the_old_module_name_gives_the_same_objects() -> None:
    assert video.__all__ == io_pkg.__all__
    for name in io_pkg.__all__:
        assert getattr(video, name) is getattr(io_pkg, name), name
    assert video.probe is probing.probe and video.read_frames is reader.read_frames
    assert video.VideoWriter is writer.VideoWriter and video.OutputClaim is atomic.OutputClaim


def test_no_public_name_hides_a_module() -> None:
    """``from spatialme.io import probing`` must give the module (a function named like it would replace it)."""
    for name in ("atomic", "errors", "ffmpeg", "images", "naming", "probing", "reader", "signals", "writer"):
        assert isinstance(getattr(io_pkg, name), types.ModuleType), name
