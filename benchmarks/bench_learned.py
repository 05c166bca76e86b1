"""ms per frame of the DL branch on the CPU: flow propagation, the gated U-Net on tiles, training.

Run: ``python benchmarks/bench_learned.py [--runs 5] [--sizes 480p,720p] [--threads 2]``.

Inputs are synthetic scenes (``spatialme.data.synthetic``) at the product's divergence
(max disparity 2 % of the width: 17.1 px at 480p, 25.6 px at 720p), so the holes have
realistic shapes and sizes; the warp of the left view with the true disparity gives them.
Rows (median and IQR of ``--runs`` calls, after a warm-up call):

- ``propagate <preset>``: :func:`spatialme.inpaint.flow.propagate` on an 8-frame clip,
  ``neighbors=3``, divided by 8 (each frame pair within 3 frames gets two DIS flows, at
  most 640 px wide).
- ``network bands`` (and ``bf16``): :func:`spatialme.inpaint.learned.inpaint_frames` on
  packed bands (:mod:`spatialme.bands`, default settings) around the raw warp holes of a
  4-frame clip, divided by 4, in float32 and in bfloat16 autocast; ``shelf_share`` is the
  computed pixels over the frames'.
- ``network whole frame``: the same network on one whole frame (what CUDA runs).
- ``learned fill``: the whole filler (propagation with the default settings, then the
  network on bands around the holes left), per frame of the 4-frame clip.

The network is untrained (speed does not depend on the weights). Training speed
(``train steps/s``) is the training loop :func:`spatialme.train.train` (the one
``python -m spatialme train inpainter`` runs) at the paper's batch of 4 and 64 px crops from
a pool of 8 synthetic scenes, timed from its log after 2 warm-up steps (pool building excluded).
"""

from __future__ import annotations

import argparse
import csv
import os
import tempfile
from pathlib import Path

import numpy as np
import torch

from common import metadata, pin_threads, save, timeit  # noqa: E402

from spatialme.data.synthetic import SceneConfig, render_scene  # noqa: E402
from spatialme.data.textures import load_textures  # noqa: E402
from spatialme.inpaint.flow import FlowConfig, propagate  # noqa: E402
from spatialme.bands import BandConfig, plan_bands  # noqa: E402
from spatialme.inpaint.learned import GatedInpainter, LearnedFill, inpaint_frames  # noqa: E402
from spatialme.train import TrainConfig, train  # noqa: E402
from spatialme.warp import forward_warp  # noqa: E402

SIZES = {"480p": (480, 854), "720p": (720, 1280)}


def bench_size(name: str, runs: int, textures: list[np.ndarray], model: GatedInpainter) -> dict:
    height, width = SIZES[name]
    max_disp = round(0.02 * width, 1)
    rows: dict[str, dict] = {}

    clip = render_scene(textures, SceneConfig(height=height, width=width, frames=8, max_disparity=max_disp, camera_speed=2.0), seed=0)
    warp = forward_warp(clip.left, clip.disparity)
    for preset in ("fast", "medium"):
        cfg = FlowConfig(preset=preset)
        row = timeit(lambda: propagate(clip.left, warp.image, warp.hole_mask, cfg, disparity=clip.disparity), runs, warmup=1)
        _, remaining = propagate(clip.left, warp.image, warp.hole_mask, cfg, disparity=clip.disparity)
        rows[f"propagate {preset}"] = {k: v / 8 for k, v in row.items()} | {
            "filled_share": float(1 - remaining.sum() / warp.hole_mask.sum())
        }

    scene = render_scene(textures, SceneConfig(height=height, width=width, frames=4, max_disparity=max_disp), seed=0)
    warp = forward_warp(scene.left, scene.disparity)
    packing = plan_bands(warp.hole_mask, model.config.alignment, BandConfig())
    shelves = packing.pixels / warp.hole_mask.size
    for bf16 in (False, True):
        row = timeit(lambda: inpaint_frames(model, warp.image, warp.hole_mask, warp.disparity, BandConfig(), bf16=bf16), runs, warmup=1)
        rows[f"network bands{' bf16' if bf16 else ''}"] = {k: v / 4 for k, v in row.items()} | {"shelf_share": shelves, "hole_share": float(warp.hole_mask.mean())}
    rows["network whole frame"] = timeit(
        lambda: inpaint_frames(model, warp.image[:1], warp.hole_mask[:1], warp.disparity[:1], bands=None), runs, warmup=1
    )
    fill = LearnedFill(model=model, device="cpu")
    row = timeit(lambda: fill(scene.left, scene.disparity, warp.image, warp.hole_mask), runs, warmup=1)
    rows["learned fill"] = {k: v / 4 for k, v in row.items()}
    return rows


def bench_training(steps: int) -> float:
    """Steps per second of the training loop (batch 4, 64 px crops), after 2 warm-up steps."""
    with tempfile.TemporaryDirectory() as out:
        config = TrainConfig(stage="inpainter", out=out, steps=steps + 2, batch=4, crop=64, pool_scenes=8, seed=2,
                             log_every=1, ckpt_every=steps + 2)
        train(config)
        rows = list(csv.DictReader((Path(out) / "log.csv").open()))
    return steps / (float(rows[-1]["seconds"]) - float(rows[1]["seconds"]))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--sizes", default="480p,720p")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--train-steps", type=int, default=20)
    args = parser.parse_args()
    pin_threads(args.threads)
    meta = metadata()
    meta["load_average"] = os.getloadavg()
    textures = load_textures()
    torch.manual_seed(0)
    model = GatedInpainter().eval()
    params = sum(p.numel() for p in model.parameters())
    print(f"# {meta['cpu']}, {args.threads} threads, load average {meta['load_average'][0]:.1f}, commit {meta['commit']}")
    print(f"# GatedInpainter: {params} parameters, context radius {model.context_radius} px")
    results: dict = {"parameters": params}
    for size in args.sizes.split(","):
        results[size] = bench_size(size, args.runs, textures, model)
        print(f"\n{size}: {'row':<22} {'ms/frame':>9} {'IQR ms':>8}  notes")
        for row, values in results[size].items():
            notes = ", ".join(f"{k}={v:.3g}" for k, v in values.items() if k not in ("median_ms", "iqr_ms"))
            print(f"{'':6}{row:<22} {values['median_ms']:>9.1f} {values['iqr_ms']:>8.1f}  {notes}")
    if args.train_steps:
        results["train_steps_per_s"] = bench_training(args.train_steps)
        print(f"\ntraining (batch 4, 64 px crops): {results['train_steps_per_s']:.2f} steps/s")
    meta["load_average_end"] = os.getloadavg()
    print("\nsaved", save("learned", {"meta": meta, "results": results}))


if __name__ == "__main__":
    main()
