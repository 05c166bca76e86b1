"""Training of the learned parts, in one place: the DL-branch inpainter, then the MHFU refiner.

Why it is built this way
------------------------
Both networks only ever change pixels in or near the holes a warp opens, so training samples
are crops centred on hole pixels of synthetic stereo scenes (``spatialme.data.synthetic``),
whose true right view is known exactly, including behind the foreground. Scenes come from
the *training* textures only; :func:`spatialme.data.textures.split_textures` keeps the
held-out photos for evaluation.

Stage ``inpainter`` trains the gated-convolution inpainter on the plain warp's holes with the
occlusion-weighted L1 of eq. 8 (alpha = 10). Stage ``refiner`` precomputes the three branch
outputs (Poly, DL with the trained inpainter, DE) for a pool of scenes
(:func:`spatialme.branches.run_branches`) and trains the MHFU refiner with eq. 11: content
(eq. 8), perceptual (eq. 9, only when VGG19 weights are available locally, otherwise off with
a logged warning) and adversarial (eq. 10, WGAN critic with gradient penalty), weights
10 / 2 / 0.1, Adam lr 1e-4, betas (0.5, 0.999), batch 4 (paper V-A).

Runs are resumable: a checkpoint (model, optimisers, critic, step, RNG states) is written
atomically every ``ckpt_every`` steps and picked up by the next run with the same ``out``;
a CSV log records every ``log_every`` steps.

One room per concern: :mod:`.config` (what a run does, the presets), :mod:`.pool` (scenes and
crops), :mod:`.checkpoint` (the resumable state and the CSV log) and :mod:`.loop` (the
training loop, :func:`train`). ``python -m spatialme train`` runs it; :mod:`spatialme.train`
is the same names under their old import path.
"""

from __future__ import annotations

from .checkpoint import CsvLog, Networks, restore_checkpoint, save_checkpoint
from .config import PRESETS, TrainConfig, config_from_preset, config_json
from .loop import train
from .pool import build_pool, sample_batch, scene_config, training_textures

__all__ = [
    "TrainConfig",
    "PRESETS",
    "config_from_preset",
    "config_json",
    "scene_config",
    "training_textures",
    "build_pool",
    "sample_batch",
    "Networks",
    "save_checkpoint",
    "restore_checkpoint",
    "CsvLog",
    "train",
]
