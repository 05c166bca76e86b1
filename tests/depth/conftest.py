"""Fixtures of the depth tests: the tiny random Depth Anything and frames to run it on.

No test touches the network: a tiny random Depth Anything (~137k parameters) is saved with
``save_pretrained`` and loaded through the same ``from_pretrained`` path as the real one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from spatialme.depth import DepthAnythingModel, DepthConfig, load_depth_model


@pytest.fixture(scope="module")
def tiny_dir(tiny_depth_dir) -> Path:
    return tiny_depth_dir


@pytest.fixture
def frames(rng) -> np.ndarray:
    return rng.integers(0, 256, size=(5, 48, 64, 3), dtype=np.uint8)


@pytest.fixture
def load_local():
    """``load_local(directory, **config)``: the model saved in ``directory``, on the CPU at input size 56."""

    def load(directory: Path, **kwargs) -> DepthAnythingModel:
        return load_depth_model(DepthConfig(model_id=str(directory), input_size=56, device="cpu", **kwargs))

    return load
