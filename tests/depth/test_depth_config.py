"""Tests of spatialme.depth.config: defaults, validation, resolution of the "auto" settings."""

from __future__ import annotations

import pytest
import torch

from spatialme.depth import (
    DEFAULT_MODEL_ID,
    DEFAULT_REVISION,
    DepthConfig,
    available_depth_backends,
    model_input_shape,
    resolve_input_size,
)


def test_defaults_pin_depth_anything_v2_small():
    config = DepthConfig()
    assert config.backend == "depth-anything-v2-small" in available_depth_backends()
    assert (config.model_id, config.revision) == (DEFAULT_MODEL_ID, DEFAULT_REVISION)
    assert config.input_size is None and config.batch_size == 4 and config.device == "auto"


@pytest.mark.parametrize(
    "kwargs",
    [{"input_size": 10}, {"batch_size": 0}, {"device": "gpu"}, {"dtype": "int8"}, {"backend": ""}, {"revision": ""}],
)
def test_bad_config_raises(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        DepthConfig(**kwargs)


def test_input_size_resolution():
    assert resolve_input_size(None, torch.device("cpu")) == 364
    assert resolve_input_size(None, torch.device("cuda")) == 518
    assert resolve_input_size(500, torch.device("cpu")) == 504
    assert model_input_shape(1080, 1920, 364) == (364, 644)
    assert model_input_shape(1920, 1080, 518) == (924, 518)
    assert model_input_shape(48, 64, 56) == (56, 70)
