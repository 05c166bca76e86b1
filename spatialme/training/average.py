"""Weight averaging of checkpoints of one run (a "model soup").

Two checkpoints of the same trajectory (one resumed from the other with another data mix)
lie in one basin, so their parameters can be blended linearly: the shipped refiner is
``0.3 x`` the 41k-step checkpoint ``+ 0.7 x`` the 58k-step one, which kept most of the
later one's gain on estimated-like disparity and most of the earlier one's on exact disparity
(model card). Floating-point tensors are blended; integer buffers are taken from the first.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import torch

__all__ = ["average_state_dicts", "average_pretrained"]


def average_state_dicts(states: Sequence[dict[str, torch.Tensor]], weights: Sequence[float]) -> dict[str, torch.Tensor]:
    """``sum_i weights[i] * states[i]`` for every floating-point tensor (the weights must sum to 1).

    Raises:
        ValueError: no states, a weight count that does not match, weights that do not sum
            to 1, or states with different keys or shapes.
    """
    if not states or len(states) != len(weights):
        raise ValueError(f"weights: expected one weight per state dict, got {len(weights)} for {len(states)}")
    if abs(sum(weights) - 1.0) > 1e-6 or any(w < 0 for w in weights):
        raise ValueError(f"weights: expected non-negative weights summing to 1, got {list(weights)}")
    keys = list(states[0])
    for i, state in enumerate(states[1:], 1):
        if list(state) != keys or any(state[k].shape != states[0][k].shape for k in keys):
            raise ValueError(f"states: state dict {i} does not match the first (different keys or shapes)")
    out = {}
    for k in keys:
        first = states[0][k]
        out[k] = sum(w * s[k] for w, s in zip(weights, states)) if first.is_floating_point() else first.clone()
    return out


def average_pretrained(cls, folders: Sequence[str | os.PathLike], weights: Sequence[float], out: str | os.PathLike):
    """Load ``cls.from_pretrained`` from each folder, average, ``save_pretrained`` to ``out``; returns the model."""
    models = [cls.from_pretrained(str(f)) for f in folders]
    configs = {repr(getattr(m, "config", None)) for m in models}
    if len(configs) > 1:
        raise ValueError("folders: the models have different configurations and cannot be averaged")
    model = models[0]
    model.load_state_dict(average_state_dicts([m.state_dict() for m in models], weights))
    model.save_pretrained(out)
    return model
