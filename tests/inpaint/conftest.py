"""Fixtures of the learned inpainter's tests (network, inference, filler): a scene and its warp."""

from __future__ import annotations

import pytest

from spatialme.data.synthetic import SceneConfig, render_scene
from spatialme.data.textures import load_textures
from spatialme.warp import forward_warp


@pytest.fixture(scope="module")
def scene():
    return render_scene(load_textures(), SceneConfig(height=96, width=160, frames=3, max_disparity=16, camera_speed=2.0), seed=4)


@pytest.fixture(scope="module")
def warp(scene):
    return forward_warp(scene.left, scene.disparity)
