"""Tests of spatialme.depth.base: the backend registry."""

from __future__ import annotations

import pytest

from spatialme.depth import DepthAnythingModel, DepthConfig, available_depth_backends, load_depth_model, register_depth_backend
from spatialme.depth import base as depth_base


def test_unknown_backend_lists_available():
    with pytest.raises(ValueError, match="depth-anything-v2-small"):
        load_depth_model(DepthConfig(backend="nope"))


def test_register_backend(monkeypatch, tiny_dir, load_local):
    monkeypatch.setattr(depth_base._BACKENDS, "_entries", dict(depth_base._BACKENDS._entries))

    @register_depth_backend("tiny-test")
    def _factory(config: DepthConfig) -> DepthAnythingModel:
        return load_local(tiny_dir)

    assert "tiny-test" in available_depth_backends()
    assert isinstance(load_depth_model(DepthConfig(backend="tiny-test")), DepthAnythingModel)
    with pytest.raises(ValueError, match="already registered"):
        register_depth_backend("tiny-test")(_factory)
    register_depth_backend("tiny-test", overwrite=True)(_factory)
