"""Tests of spatialme.devices: the one device resolver, and that every torch part uses it."""

from __future__ import annotations

import pytest
import torch

from spatialme.devices import check_device_name, resolve_device, torch_device


@pytest.fixture
def no_accelerator(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)


@pytest.fixture
def two_gpus(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)


def test_names_are_checked_without_resolving():
    for name in ("auto", "cpu", "cuda", "cuda:0", "cuda:12", "mps"):
        assert check_device_name(name) == name
    assert check_device_name(torch.device("cuda", 1)) == "cuda:1"


@pytest.mark.parametrize("bad", ["gpu", "CUDA", "cuda:", "cuda:x", "cpu ", "", None, 0, torch.device("cpu", 0)])
def test_bad_names_raise_naming_the_argument(bad):
    with pytest.raises(ValueError, match=r"^device: expected auto, cpu, cuda, cuda:N or mps, got"):
        resolve_device(bad)
    with pytest.raises(ValueError, match=r"^depth_device: expected"):
        check_device_name(bad, "depth_device")


def test_auto_is_cpu_without_a_gpu(no_accelerator):
    assert resolve_device() == resolve_device("auto") == "cpu"
    assert resolve_device("cpu") == "cpu"
    assert torch_device("auto") == torch.device("cpu")


def test_missing_accelerator_is_a_clear_error(no_accelerator):
    with pytest.raises(ValueError, match=r"^device: 'cuda' requested but CUDA is not available"):
        resolve_device("cuda")
    with pytest.raises(ValueError, match=r"^device: 'cuda:1' requested but CUDA is not available"):
        resolve_device("cuda:1")
    with pytest.raises(ValueError, match=r"^device: 'mps' requested but MPS is not available"):
        resolve_device("mps")


def test_auto_is_cuda_with_a_gpu(two_gpus):
    assert resolve_device("auto") == "cuda"
    assert resolve_device("cuda:1") == "cuda:1"
    assert resolve_device(torch.device("cuda", 0)) == "cuda:0"
    with pytest.raises(ValueError, match=r"'cuda:2' requested but only 2 CUDA device"):
        resolve_device("cuda:2")


def test_every_torch_part_resolves_auto_alike(two_gpus):
    """The pipeline, the learned inpainter and the depth config all ask the one resolver."""
    from spatialme.depth import resolve_device as depth_resolve
    from spatialme.inpaint.learned import GatedInpainter, LearnedFill
    from spatialme.pipeline import PipelineConfig, StereoPipeline

    pipe = StereoPipeline(config=PipelineConfig(device="auto"))
    assert pipe.device == "cuda"
    assert depth_resolve("auto") == torch.device("cuda")
    fill = LearnedFill(model=GatedInpainter(base_channels=4, levels=2), flow=None, device="auto")
    assert fill.device == torch.device("cuda")


def test_bad_names_fail_where_they_are_given():
    from spatialme.depth import DepthConfig
    from spatialme.inpaint.learned import GatedInpainter, LearnedFill
    from spatialme.pipeline import PipelineConfig

    with pytest.raises(ValueError, match="^device: expected"):
        PipelineConfig(device="gpu")
    with pytest.raises(ValueError, match="^device: expected"):
        DepthConfig(device="gpu")
    with pytest.raises(ValueError, match="^device: expected"):
        LearnedFill(model=GatedInpainter(base_channels=4, levels=2), flow=None, device="gpu")
