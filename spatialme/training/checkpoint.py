"""What makes a run resumable: the checkpoint (``out/ckpt.pt``) and the CSV log (``out/log.csv``).

The checkpoint is one ``torch.save`` dict, written atomically: ``model`` and ``optim``
(state dicts), ``step``, ``rng`` (``{"numpy": bit generator state, "torch": CPU RNG
state}``) and, when the refiner trains against a critic, ``disc`` and ``disc_optim``.
"""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..io import atomic_write

__all__ = ["Networks", "save_checkpoint", "restore_checkpoint", "reseed_checkpoint", "CsvLog"]

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
    out.mkdir(parents=True, exist_ok=True)
    for name in ("config.json", "log.csv"):
        if (Path(source).parent / name).exists():
            (out / name).write_bytes((Path(source).parent / name).read_bytes())
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
