"""Tests of spatialme.depth.hub: a fabricated Hub cache loaded offline, fast one-line errors
when the model is not cached, missing or broken local directories."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from spatialme.depth import DEFAULT_MODEL_ID, DEFAULT_REVISION, DepthConfig, DepthModelUnavailable, load_depth_model

TINY_MEAN = (0.5, 0.45, 0.4)  # as written by conftest.write_tiny_depth_model


@pytest.fixture
def offline(monkeypatch, tmp_path) -> Path:
    """Offline mode with an empty Hub cache in ``tmp_path / 'hub'``; returns the cache dir."""
    from huggingface_hub import constants

    cache = tmp_path / "hub"
    cache.mkdir()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    return cache


@pytest.fixture
def hub_cache(offline, tiny_dir) -> Path:
    """A Hub cache that holds the tiny model as the pinned revision of the default repo."""
    repo = offline / ("models--" + DEFAULT_MODEL_ID.replace("/", "--"))
    snapshot = repo / "snapshots" / DEFAULT_REVISION
    snapshot.mkdir(parents=True)
    for name in ("config.json", "model.safetensors", "preprocessor_config.json"):
        shutil.copy(tiny_dir / name, snapshot / name)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(DEFAULT_REVISION)
    return offline


def test_load_from_fabricated_hub_cache_offline(hub_cache, tiny_dir, frames, load_local):
    model = load_depth_model(DepthConfig(input_size=56, device="cpu"))
    assert model.mean == TINY_MEAN
    expected = load_local(tiny_dir).predict(frames)
    np.testing.assert_allclose(model.predict(frames), expected, rtol=1e-6, atol=1e-6)


def test_offline_without_cache_raises_fast(offline):
    start = time.perf_counter()
    with pytest.raises(DepthModelUnavailable) as info:
        load_depth_model(DepthConfig(device="cpu"))
    assert time.perf_counter() - start < 5.0  # no retries with backoff
    message = str(info.value)
    assert "\n" not in message and isinstance(info.value, RuntimeError)
    assert f"{DEFAULT_MODEL_ID}@{DEFAULT_REVISION[:7]} is not cached" in message
    assert "HF_HUB_OFFLINE=1" in message
    assert "--depth-model DIR" in message and "--disparity FILE.npy" in message
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_offline_wrong_revision_is_not_cached(hub_cache):
    with pytest.raises(DepthModelUnavailable, match="@0000000 is not cached"):
        load_depth_model(DepthConfig(revision="0" * 40, device="cpu"))


def test_missing_or_broken_local_dir(tmp_path):
    with pytest.raises(DepthModelUnavailable, match="does not exist"):
        load_depth_model(DepthConfig(model_id=str(tmp_path / "absent"), device="cpu"))
    with pytest.raises(DepthModelUnavailable, match="no config.json"):
        load_depth_model(DepthConfig(model_id=str(tmp_path), device="cpu"))
