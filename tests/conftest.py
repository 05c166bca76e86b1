"""Shared test setup: never touch the network, keep threads low, seed everything."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import contextlib  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


TINY_MEAN = (0.5, 0.45, 0.4)
TINY_STD = (0.25, 0.25, 0.3)


def tiny_depth_network() -> torch.nn.Module:
    """A random Depth Anything with a 4-layer, 32-wide DINOv2 backbone."""
    from transformers import DepthAnythingConfig, DepthAnythingForDepthEstimation, Dinov2Config

    backbone = Dinov2Config(
        image_size=56,
        patch_size=14,
        hidden_size=32,
        num_hidden_layers=4,
        num_attention_heads=4,
        intermediate_size=64,
        out_features=["stage1", "stage2", "stage3", "stage4"],
        reshape_hidden_states=False,
        apply_layernorm=True,
    )
    config = DepthAnythingConfig(
        backbone_config=backbone,
        patch_size=14,
        reassemble_hidden_size=32,
        reassemble_factors=[4, 2, 1, 0.5],
        neck_hidden_sizes=[8, 16, 32, 32],
        fusion_hidden_size=16,
        head_hidden_size=8,
        depth_estimation_type="relative",
    )
    torch.manual_seed(0)
    network = DepthAnythingForDepthEstimation(config).eval()
    with torch.no_grad():  # larger weights than the default init, so the output varies
        for param in network.parameters():
            if param.ndim > 1:
                param.normal_(0.0, 0.9 / param[0].numel() ** 0.5)
        network.head.conv3.bias.fill_(1.0)
    return network


def write_tiny_processor_config(directory: Path) -> None:
    """A ``preprocessor_config.json`` with the real file's keys (and a distinctive mean/std)."""
    config = {
        "do_normalize": True,
        "do_pad": False,
        "do_rescale": True,
        "do_resize": True,
        "ensure_multiple_of": 14,
        "image_mean": list(TINY_MEAN),
        "image_processor_type": "DPTImageProcessor",
        "image_std": list(TINY_STD),
        "keep_aspect_ratio": True,
        "resample": 3,
        "rescale_factor": 1 / 255,
        "size": {"height": 56, "width": 56},
    }
    (directory / "preprocessor_config.json").write_text(json.dumps(config, indent=2))



@pytest.fixture(scope="session")
def tiny_depth_dir(tmp_path_factory) -> Path:
    """A tiny random Depth Anything (~137k parameters) saved with ``save_pretrained``."""
    directory = tmp_path_factory.mktemp("tiny-depth-anything")
    network = tiny_depth_network()
    assert 130_000 < sum(p.numel() for p in network.parameters()) < 145_000
    network.save_pretrained(directory)
    write_tiny_processor_config(directory)
    return directory


@contextlib.contextmanager
def _unwritable(folder: Path):
    """Make ``folder`` refuse new files, for root too (``chattr +i``); skip where that cannot be done."""
    folder.chmod(0o555)
    immutable = os.geteuid() == 0 and subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode == 0
    try:
        try:
            (folder / ".probe").touch()
        except OSError:
            pass
        else:
            (folder / ".probe").unlink()
            pytest.skip("cannot make a folder unwritable on this machine")
        yield folder
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(folder)], check=True)
        folder.chmod(0o755)


@pytest.fixture
def unwritable():
    """``with unwritable(folder):`` makes ``folder`` refuse new files for the block (see :func:`_unwritable`)."""
    return _unwritable


@pytest.fixture
def one_torch_thread():
    """Tiny tensors: thread hand-off costs more than it gains (and much more on a busy CI box)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
