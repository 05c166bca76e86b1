"""A tiny seeded inpainter, shared by the learned inpainter's tests (network, inference, filler)."""

from __future__ import annotations

import torch

from spatialme.inpaint.network import GatedInpainter

TINY = {"base_channels": 4, "levels": 2, "dilations": (2,)}


def tiny_model(seed: int = 0, **overrides) -> GatedInpainter:
    torch.manual_seed(seed)
    return GatedInpainter(**{**TINY, **overrides}).eval()
