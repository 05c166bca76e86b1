"""Tests of spatialme.depth: loading (local dir, fabricated Hub cache, offline errors),
prediction shapes and batching, and exact-value checks of the temporal stabiliser.

No test touches the network: a tiny random Depth Anything (~137k parameters) is saved with
``save_pretrained`` and loaded through the same ``from_pretrained`` path as the real one.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from spatialme import depth as depth_mod
from spatialme.depth import (
    DEFAULT_MODEL_ID,
    DEFAULT_REVISION,
    DepthAnythingModel,
    DepthConfig,
    DepthEstimator,
    DepthModelUnavailable,
    DepthStabilizer,
    StabilizerConfig,
    available_depth_backends,
    fit_scale_shift,
    load_depth_model,
    model_input_shape,
    register_depth_backend,
    resolve_input_size,
)
from spatialme.scenes import SceneCutConfig

TINY_MEAN = (0.5, 0.45, 0.4)  # as written by conftest.write_tiny_depth_model
TINY_STD = (0.25, 0.25, 0.3)


@pytest.fixture(scope="module")
def tiny_dir(tiny_depth_dir) -> Path:
    return tiny_depth_dir


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


@pytest.fixture
def frames(rng) -> np.ndarray:
    return rng.integers(0, 256, size=(5, 48, 64, 3), dtype=np.uint8)


def _local(tiny_dir: Path, **kwargs) -> DepthAnythingModel:
    return load_depth_model(DepthConfig(model_id=str(tiny_dir), input_size=56, device="cpu", **kwargs))


# ----------------------------------------------------------------------------- config


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


def test_unknown_backend_lists_available():
    with pytest.raises(ValueError, match="depth-anything-v2-small"):
        load_depth_model(DepthConfig(backend="nope"))


def test_register_backend(monkeypatch, tiny_dir):
    monkeypatch.setattr(depth_mod._BACKENDS, "_entries", dict(depth_mod._BACKENDS._entries))

    @register_depth_backend("tiny-test")
    def _factory(config: DepthConfig) -> DepthAnythingModel:
        return _local(tiny_dir)

    assert "tiny-test" in available_depth_backends()
    assert isinstance(load_depth_model(DepthConfig(backend="tiny-test")), DepthAnythingModel)
    with pytest.raises(ValueError, match="already registered"):
        register_depth_backend("tiny-test")(_factory)
    register_depth_backend("tiny-test", overwrite=True)(_factory)


# ----------------------------------------------------------------------------- loading


def test_load_local_dir_and_predict(tiny_dir, frames):
    model = _local(tiny_dir)
    assert model.device.type == "cpu" and model.dtype == torch.float32
    assert model.mean == TINY_MEAN and model.std == TINY_STD  # read from preprocessor_config.json
    out = model.predict(frames)
    assert out.shape == (5, 48, 64) and out.dtype == np.float32
    assert np.isfinite(out).all() and out.min() >= 0.0 and out.std() > 1e-3
    assert model.predict(frames[0]).shape == (1, 48, 64)


def test_local_dir_without_processor_config_uses_imagenet(tiny_dir, tmp_path):
    for name in ("config.json", "model.safetensors"):
        shutil.copy(tiny_dir / name, tmp_path / name)
    model = _local(tmp_path)
    assert model.mean == depth_mod.IMAGENET_MEAN and model.std == depth_mod.IMAGENET_STD


def test_batching_does_not_change_results(tiny_dir, frames):
    one = _local(tiny_dir, batch_size=1).predict(frames)
    three = _local(tiny_dir, batch_size=3).predict(frames)
    np.testing.assert_allclose(one, three, rtol=1e-5, atol=1e-5)


def test_prediction_is_deterministic(tiny_dir, frames):
    model = _local(tiny_dir)
    np.testing.assert_array_equal(model.predict(frames), model.predict(frames))


def test_input_size_changes_model_resolution(tiny_dir, frames):
    small = _local(tiny_dir).predict(frames[:1])
    large = load_depth_model(DepthConfig(model_id=str(tiny_dir), input_size=112, device="cpu")).predict(frames[:1])
    assert small.shape == large.shape == (1, 48, 64)
    assert not np.allclose(small, large)


def test_to_moves_and_reresolves_dtype(tiny_dir):
    model = _local(tiny_dir)
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
        image_mean=list(depth_mod.IMAGENET_MEAN),
        image_std=list(depth_mod.IMAGENET_STD),
    )
    reference = processor(images=image, return_tensors="pt")["pixel_values"]
    model = DepthAnythingModel(torch.nn.Identity(), input_size=56, device="cpu")
    size = model_input_shape(112, 168, model.short_side())
    ours = model._preprocess(torch.from_numpy(image[None]), size)
    assert ours.shape == reference.shape == (1, 3, 56, 84)
    assert (ours - reference).abs().mean() < 0.01  # uint8 rounding in PIL, about 1/255/std
    assert (ours - reference).abs().max() < 0.05


def test_load_from_fabricated_hub_cache_offline(hub_cache, tiny_dir, frames):
    model = load_depth_model(DepthConfig(input_size=56, device="cpu"))
    assert model.mean == TINY_MEAN
    expected = _local(tiny_dir).predict(frames)
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


def test_metric_model_is_rejected(tmp_path, tiny_dir):
    config = json.loads((tiny_dir / "config.json").read_text())
    config["depth_estimation_type"] = "metric"
    (tmp_path / "config.json").write_text(json.dumps(config))
    shutil.copy(tiny_dir / "model.safetensors", tmp_path / "model.safetensors")
    with pytest.raises(ValueError, match="model_id: .*metric"):
        load_depth_model(DepthConfig(model_id=str(tmp_path), device="cpu"))


def test_bad_frames_raise(tiny_dir):
    model = _local(tiny_dir)
    with pytest.raises(ValueError, match="frames"):
        model.predict(np.zeros((2, 16, 16, 3), np.float32))
    with pytest.raises(ValueError, match="frames"):
        model.predict(np.zeros((2, 16, 16), np.uint8))


# ----------------------------------------------------------------------------- stabiliser


def _scene(height: int = 40, width: int = 60) -> np.ndarray:
    """A smooth relative inverse depth ``(H, W)`` with a near blob."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    return 0.2 + y / height + 1.5 * np.exp(-((x - 40) ** 2 + (y - 15) ** 2) / 60.0)


def test_fit_scale_shift_recovers_affine_and_clips():
    rng = np.random.default_rng(0)
    source = rng.random(500)
    a, b = fit_scale_shift(source, 2.5 * source - 0.7)
    assert a == pytest.approx(2.5, abs=1e-9) and b == pytest.approx(-0.7, abs=1e-9)
    a, _ = fit_scale_shift(source, 10.0 * source, scale_range=(0.5, 2.0))
    assert a == 2.0
    a, _ = fit_scale_shift(source, -source)
    assert a == 0.25  # an inverted fit is clipped to the smallest allowed scale
    assert fit_scale_shift(np.ones(500), source) is None
    assert fit_scale_shift(source, np.ones(500)) is None


def test_fit_is_robust_to_outliers():
    rng = np.random.default_rng(1)
    source = rng.random(1000)
    target = 1.7 * source + 0.3
    target[:100] += 5.0  # a moving object: 10 % of the samples disagree
    a, b = fit_scale_shift(source, target, trim=0.2)
    assert a == pytest.approx(1.7, abs=1e-6) and b == pytest.approx(0.3, abs=1e-6)


def test_affine_flicker_is_removed_exactly():
    base = _scene()
    scales = [1.0, 2.0, 0.6, 1.3, 3.5, 0.9]
    shifts = [0.0, 0.5, -0.1, 2.0, 0.3, 1.0]
    raw = np.stack([a * base + b for a, b in zip(scales, shifts)]).astype(np.float32)
    out = DepthStabilizer(StabilizerConfig(ema=0.9)).process(raw)
    assert out.shape == raw.shape and out.dtype == np.float32
    assert out.min() >= 0.0 and out.max() <= 1.0
    np.testing.assert_allclose(out, np.broadcast_to(out[0], out.shape), atol=1e-4)
    low, high = np.percentile(base, (2, 98))
    np.testing.assert_allclose(out[0], np.clip((base - low) / (high - low), 0, 1), atol=1e-4)
    assert (out[0] == 1.0).any() and (out[0] == 0.0).any()


def test_state_carries_across_chunks():
    base = _scene()
    raw = np.stack([(1 + 0.3 * t) * base + 0.1 * t for t in range(6)]).astype(np.float32)
    whole = DepthStabilizer().process(raw)
    stabilizer = DepthStabilizer()
    parts = np.concatenate([stabilizer.process(raw[:2]), stabilizer.process(raw[2:])])
    np.testing.assert_allclose(parts, whole, atol=1e-6)
    assert stabilizer.frames_in_shot == 6


def test_without_alignment_the_range_is_smoothed():
    base = _scene()
    raw = np.stack([base, base, 3.0 * base, 3.0 * base]).astype(np.float32)
    out = DepthStabilizer(StabilizerConfig(align=False, ema=0.5)).process(raw)
    np.testing.assert_allclose(out[1], out[0], atol=1e-6)
    assert not np.allclose(out[2], out[0], atol=1e-3)  # the range lags behind the jump...
    per_frame = DepthStabilizer(StabilizerConfig(align=False, ema=0.0)).process(raw)
    np.testing.assert_allclose(per_frame[2], per_frame[0], atol=1e-4)  # ...unless ema is 0


def test_reset_at_cut_starts_a_new_range():
    base = _scene()
    other = np.flipud(_scene()) * 4.0 + 2.0
    raw = np.stack([base, base, base, other, other]).astype(np.float32)
    stabilizer = DepthStabilizer(StabilizerConfig(ema=0.95))
    cuts = np.array([False, False, False, True, False])
    out = stabilizer.process(raw, cuts)
    fresh = DepthStabilizer(StabilizerConfig(ema=0.95)).process(raw[3:])
    np.testing.assert_allclose(out[3:], fresh, atol=1e-6)
    assert stabilizer.frames_in_shot == 2
    no_reset = DepthStabilizer(StabilizerConfig(ema=0.95)).process(raw)
    assert not np.allclose(no_reset[3:], fresh, atol=1e-3)


def test_flat_frame_gives_half_and_does_not_poison_alignment():
    base = _scene()
    raw = np.stack([base, np.full_like(base, 7.0), base]).astype(np.float32)
    out = DepthStabilizer(StabilizerConfig(ema=0.0)).process(raw)
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out[1], 0.5)
    np.testing.assert_allclose(out[2], out[0], atol=1e-5)


def test_stabilizer_validates_inputs():
    stabilizer = DepthStabilizer()
    with pytest.raises(ValueError, match="depth"):
        stabilizer.process(np.zeros((2, 4, 4), np.uint8))
    with pytest.raises(ValueError, match="depth"):
        stabilizer.process(np.full((1, 4, 4), np.nan, np.float32))
    with pytest.raises(ValueError, match="cuts"):
        stabilizer.process(np.zeros((2, 4, 4), np.float32), cuts=np.zeros(3, bool))
    with pytest.raises(ValueError, match="percentiles"):
        StabilizerConfig(percentiles=(50, 10))
    with pytest.raises(ValueError, match="ema"):
        StabilizerConfig(ema=1.0)


# ----------------------------------------------------------------------------- estimator


def test_estimator_streams_chunks_and_resets_at_cuts(tiny_dir):
    rng = np.random.default_rng(3)
    green = np.zeros((4, 48, 64, 3), np.uint8)
    green[..., 1] = rng.integers(120, 200, size=(4, 48, 64), dtype=np.uint8)
    purple = np.zeros((4, 48, 64, 3), np.uint8)
    purple[..., 0] = purple[..., 2] = rng.integers(120, 200, size=(4, 48, 64), dtype=np.uint8)
    estimator = DepthEstimator(model=_local(tiny_dir), scene_cuts=SceneCutConfig())
    first = estimator.process(green)
    second = estimator.process(purple)
    assert first.shape == second.shape == (4, 48, 64) and first.dtype == np.float32
    assert 0.0 <= min(first.min(), second.min()) and max(first.max(), second.max()) <= 1.0
    assert estimator.last_cuts.tolist() == [True, False, False, False]
    assert estimator.last_raw.shape == (4, 48, 64)
    assert estimator.stabilizer.frames_in_shot == 4
    estimator.reset()
    np.testing.assert_allclose(estimator.process(green), first, atol=1e-6)


def test_estimator_rejects_bad_model():
    with pytest.raises(ValueError, match="model"):
        DepthEstimator(model=object())
