"""Tests of spatialme.depth.depth_anything: loading a local directory, prediction shapes and
batching, the torch pre-processing against the Hub processor, rejected models and inputs."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from spatialme.depth import IMAGENET_MEAN, IMAGENET_STD, DepthAnythingModel, DepthConfig, load_depth_model, model_input_shape

TINY_MEAN = (0.5, 0.45, 0.4)  # as written by conftest.write_tiny_depth_model
TINY_STD = (0.25, 0.25, 0.3)


def test_load_local_dir_and_predict(tiny_dir, frames, load_local):
    model = load_local(tiny_dir)
    assert model.device.type == "cpu" and model.dtype == torch.float32
    assert model.mean == TINY_MEAN and model.std == TINY_STD  # read from preprocessor_config.json
    out = model.predict(frames)
    assert out.shape == (5, 48, 64) and out.dtype == np.float32
    assert np.isfinite(out).all() and out.min() >= 0.0 and out.std() > 1e-3
    assert model.predict(frames[0]).shape == (1, 48, 64)


def test_local_dir_without_processor_config_uses_imagenet(tiny_dir, tmp_path, load_local):
    for name in ("config.json", "model.safetensors"):
        shutil.copy(tiny_dir / name, tmp_path / name)
    model = load_local(tmp_path)
    assert model.mean == IMAGENET_MEAN and model.std == IMAGENET_STD


def test_batching_does_not_change_results(tiny_dir, frames, load_local):
    one = load_local(tiny_dir, batch_size=1).predict(frames)
    three = load_local(tiny_dir, batch_size=3).predict(frames)
    np.testing.assert_allclose(one, three, rtol=1e-5, atol=1e-5)


def test_prediction_is_deterministic(tiny_dir, frames, load_local):
    model = load_local(tiny_dir)
    np.testing.assert_array_equal(model.predict(frames), model.predict(frames))


def test_input_size_changes_model_resolution(tiny_dir, frames, load_local):
    small = load_local(tiny_dir).predict(frames[:1])
    large = load_depth_model(DepthConfig(model_id=str(tiny_dir), input_size=112, device="cpu")).predict(frames[:1])
    assert small.shape == large.shape == (1, 48, 64)
    assert not np.allclose(small, large)


def test_to_moves_and_reresolves_dtype(tiny_dir, load_local):
    model = load_local(tiny_dir)
    assert model.to("cpu") is model and model.dtype == torch.float32
    model.to("cpu", "bfloat16")
    assert model.dtype == torch.bfloat16 and next(model.network.parameters()).dtype == torch.bfloat16
    assert model.predict(np.zeros((1, 28, 28, 3), np.uint8)).dtype == np.float32


def test_preprocessing_matches_hub_processor():
    """The torch resize + normalisation agrees with transformers' DPT processor (PIL)."""
    import cv2
    from transformers import DPTImageProcessorPil

    rng = np.random.default_rng(0)
    image = cv2.resize(rng.integers(0, 256, (14, 21, 3), dtype=np.uint8), (168, 112), interpolation=cv2.INTER_CUBIC)
    processor = DPTImageProcessorPil(
        size={"height": 56, "width": 56},
        keep_aspect_ratio=True,
        ensure_multiple_of=14,
        resample=3,
        image_mean=list(IMAGENET_MEAN),
        image_std=list(IMAGENET_STD),
    )
    reference = processor(images=image, return_tensors="pt")["pixel_values"]
    model = DepthAnythingModel(torch.nn.Identity(), input_size=56, device="cpu")
    size = model_input_shape(112, 168, model.short_side())
    ours = model._preprocess(torch.from_numpy(image[None]), size)
    assert ours.shape == reference.shape == (1, 3, 56, 84)
    assert (ours - reference).abs().mean() < 0.01  # uint8 rounding in PIL, about 1/255/std
    assert (ours - reference).abs().max() < 0.05


def test_metric_model_is_rejected(tmp_path, tiny_dir):
    config = json.loads((tiny_dir / "config.json").read_text())
    config["depth_estimation_type"] = "metric"
    (tmp_path / "config.json").write_text(json.dumps(config))
    shutil.copy(tiny_dir / "model.safetensors", tmp_path / "model.safetensors")
    with pytest.raises(ValueError, match="model_id: .*metric"):
        load_depth_model(DepthConfig(model_id=str(tmp_path), device="cpu"))


def test_bad_frames_raise(tiny_dir, load_local):
    model = load_local(tiny_dir)
    with pytest.raises(ValueError, match="frames"):
        model.predict(np.zeros((2, 16, 16, 3), np.float32))
    with pytest.raises(ValueError, match="frames"):
        model.predict(np.zeros((2, 16, 16), np.uint8))
