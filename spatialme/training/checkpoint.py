"""What makes a run resumable: the checkpoint (``out/ckpt.pt``) and the CSV log (``out/log.csv``).

The checkpoint is one ``torch.save`` dict, written atomically: ``model`` and ``optim``
(state dicts), ``step``, ``rng`` (``{"numpy": bit generator state, "torch": CPU RNG
state}``) and, when the refiner trains against a critic, ``disc`` and ``disc_optim``.
"""

from __future__ import annotations

import csv
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..io import atomic_write

__all__ = ["Networks", "save_checkpoint", "restore_checkpoint", "reseed_checkpoint", "widen_checkpoint", "CsvLog"]

log = logging.getLogger("spatialme")


@dataclass
class Networks:
    """What a run trains and keeps: the network and its optimiser, the DL filler the refiner's
    pool needs, and the refiner's critic (with its optimiser) and perceptual loss."""

    model: nn.Module
    optim: torch.optim.Optimizer
    fill: object | None = None
    disc: nn.Module | None = None
    disc_optim: torch.optim.Optimizer | None = None
    perceptual: nn.Module | None = None


def save_checkpoint(path: Path, nets: Networks, step: int, rng: np.random.Generator) -> None:
    """Write the checkpoint of ``nets`` after ``step`` steps, atomically."""
    state = {"model": nets.model.state_dict(), "optim": nets.optim.state_dict(), "step": step,
             "rng": {"numpy": rng.bit_generator.state, "torch": torch.get_rng_state()}}
    if nets.disc is not None:
        state.update(disc=nets.disc.state_dict(), disc_optim=nets.disc_optim.state_dict())
    with atomic_write(path) as tmp:
        torch.save(state, tmp)


def restore_checkpoint(path: Path, nets: Networks, rng: np.random.Generator, device: str, lr: float | None = None) -> int:
    """Load a checkpoint into ``nets`` and ``rng`` (and torch's RNG); returns its step.

    ``lr`` replaces the saved learning rate (to anneal a resumed run); ``None`` keeps the
    optimiser state as saved.
    """
    state = torch.load(path, map_location=device, weights_only=False)
    nets.model.load_state_dict(state["model"])
    nets.optim.load_state_dict(state["optim"])
    if nets.disc is not None and state.get("disc") is not None:
        nets.disc.load_state_dict(state["disc"])
        nets.disc_optim.load_state_dict(state["disc_optim"])
    rng.bit_generator.state = state["rng"]["numpy"]
    torch.set_rng_state(state["rng"]["torch"].cpu())  # map_location may have moved it to the GPU
    if lr is not None:
        for group in nets.optim.param_groups:
            group["lr"] = lr
    log.info("resumed %s at step %d", path, state["step"])
    return state["step"]


def reseed_checkpoint(source: Path, weights: nn.Module, out: Path) -> int:
    """Start a run folder from ``source``'s checkpoint with other weights of the same network.

    For continuing from weights that no run produced (an average of checkpoints,
    :mod:`spatialme.training.average`): the optimiser state, step and RNG states are
    ``source``'s, the model's ``weights``. Writes ``out/ckpt.pt`` (refuses to replace one)
    and copies ``source``'s ``config.json`` and ``log.csv`` beside it when they exist.

    Args:
        source: a checkpoint file (``ckpt.pt``).
        weights: the network whose ``state_dict`` replaces the checkpoint's model.
        out: the new run folder.

    Returns:
        The checkpoint's step.
    """
    out = Path(out)
    if (out / "ckpt.pt").exists():
        raise ValueError(f"out: {out} already holds a checkpoint; resume it instead")
    state = torch.load(source, map_location="cpu", weights_only=False)
    model = weights.state_dict()
    if set(model) != set(state["model"]) or any(model[k].shape != state["model"][k].shape for k in model):
        raise ValueError(f"weights: their parameters differ from the checkpoint {source}'s")
    state["model"] = {k: v.detach().cpu().clone() for k, v in model.items()}
    return _write_run(state, Path(source), out)


def _write_run(state: dict, source: Path, out: Path, model_config: dict | None = None) -> int:
    """Write ``state`` as ``out/ckpt.pt`` beside copies of ``source``'s ``config.json`` (its
    ``model`` updated with ``model_config``) and ``log.csv`` where they exist; returns the step."""
    out.mkdir(parents=True, exist_ok=True)
    config_path, log_path = source.parent / "config.json", source.parent / "log.csv"
    if config_path.exists() and model_config:
        config = json.loads(config_path.read_text())
        config["model"] = {**config.get("model", {}), **model_config}
        (out / "config.json").write_text(json.dumps(config, indent=2))
    elif config_path.exists():
        (out / "config.json").write_bytes(config_path.read_bytes())
    if log_path.exists():
        (out / "log.csv").write_bytes(log_path.read_bytes())
    with atomic_write(out / "ckpt.pt") as tmp:
        torch.save(state, tmp)
    return int(state["step"])


class CsvLog:
    """Append-only CSV log that survives resumes."""

    def __init__(self, path: Path, fields: list[str]) -> None:
        self.path = path
        self.fields = fields
        if not path.exists():
            with path.open("w", newline="") as fh:
                csv.writer(fh).writerow(fields)

    def write(self, row: dict) -> None:
        with self.path.open("a", newline="") as fh:
            csv.writer(fh).writerow([row.get(f, "") for f in self.fields])


def widen_checkpoint(source: Path, weights: nn.Module, out: Path) -> int:
    """Start a run folder whose refiner also reads the disparity, from a trained refiner's run.

    Like :func:`reseed_checkpoint`, for a network one input wider: ``weights`` (an
    :class:`~spatialme.refiner.MHFURefiner` without ``disparity_input``) is widened by
    ``with_disparity_input`` (zero weights for the new input: the run starts from exactly its
    output); the step, RNG states and Adam moments are ``source``'s, the moments of the new
    input's weights zero. Writes ``out/ckpt.pt``, and ``config.json`` (its ``model`` gains
    ``disparity_input``) and ``log.csv`` when ``source``'s folder has them.

    Returns:
        The checkpoint's step.
    """
    out = Path(out)
    if (out / "ckpt.pt").exists():
        raise ValueError(f"out: {out} already holds a checkpoint; resume it instead")
    if not callable(getattr(weights, "with_disparity_input", None)):
        raise ValueError(f"weights: expected an MHFURefiner, got {type(weights).__name__}")
    wider = weights.with_disparity_input()
    state = torch.load(source, map_location="cpu", weights_only=False)
    names = [name for name, _ in wider.named_parameters()]
    if len(names) != len(state["optim"]["param_groups"][0]["params"]):
        raise ValueError(f"source: its optimiser holds other parameters than {type(weights).__name__}'s")
    stem = names.index("stem.0.weight")
    for key, value in state["optim"]["state"][stem].items():
        if torch.is_tensor(value) and value.ndim == 4:  # Adam's moments: no history for the new input
            state["optim"]["state"][stem][key] = torch.cat([value, value.new_zeros(value.shape[0], 1, *value.shape[2:])], dim=1)
    state["model"] = {k: v.detach().cpu().clone() for k, v in wider.state_dict().items()}
    return _write_run(state, Path(source), out, {"disparity_input": True})
