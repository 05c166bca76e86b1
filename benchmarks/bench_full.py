"""ms per frame of the ``full`` variant, stage by stage, with the shipped weights (depth excluded).

Run: ``python benchmarks/bench_full.py [--runs 3] [--sizes 360p,480p,720p] [--threads 2] [--device cpu] [--divergence 2]``.

The issue's speed target: the full variant (all three branches and the refiner, depth
excluded) at >= 2 frames/s at 720p on 2 CPU cores. Inputs are seeded synthetic clips of 8
frames at the product's divergence (max disparity 2 % of the width) with a moving camera,
so the holes have the shapes and sizes conversion meets. Rows, each divided by the 8
frames (median of ``--runs`` runs after a warm-up, IQR beside it):

- ``warp``: the plain forward warp (:func:`spatialme.warp.forward_warp`);
- ``poly``: the Poly branch (row polylines);
- ``dl``: the DL branch's fill: DIS flows of the clip, propagation, the inpainter;
- ``de``: the DE branch: expansion, re-warp, propagation (reusing the DL branch's flows,
  as :func:`spatialme.branches.run_branches` does), the inpainter;
- ``refiner``: the MHFU refiner and fusion;
- ``full (synthesize)``: :meth:`StereoPipeline.synthesize` with ``variant="full"``, the
  number the target is about, timed on its own (so it is not the sum of the rows above).

On CUDA the networks run on whole frames; on a CPU on packed bands around the holes.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from common import metadata, pin_threads, save  # noqa: E402

from spatialme.data.synthetic import SceneConfig, render_scene  # noqa: E402
from spatialme.data.textures import load_textures  # noqa: E402
from spatialme.inpaint.base import composite  # noqa: E402
from spatialme.inpaint.expand import de_branch  # noqa: E402
from spatialme.inpaint.polyline import polyline_right_view_clip  # noqa: E402
from spatialme.pipeline import PipelineConfig, StereoPipeline  # noqa: E402
from spatialme.warp import forward_warp  # noqa: E402

SIZES = {"360p": (360, 640), "480p": (480, 854), "720p": (720, 1280), "1080p": (1080, 1920)}
FRAMES = 8


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def stages_once(pipe: StereoPipeline, left: np.ndarray, disparity: np.ndarray) -> dict[str, float]:
    """Seconds of each stage of one full-variant pass over the clip."""
    device = pipe.device
    fill = pipe.learned_fill
    times: dict[str, float] = {}

    def timed(name, fn):
        _sync(device)
        t0 = time.perf_counter()
        value = fn()
        _sync(device)
        times[name] = time.perf_counter() - t0
        return value

    warp = timed("warp", lambda: forward_warp(left, disparity, pipe.config.warp))
    poly = timed("poly", lambda: polyline_right_view_clip(left, disparity, pipe.config.poly_variant))
    dl_fill = timed("dl", lambda: fill.fill_sources(left, disparity, warp.image, warp.hole_mask))
    dl = composite(warp.image, dl_fill.image, warp.hole_mask)
    de, expanded, de_holes = timed("de", lambda: de_branch(left, disparity, fill, pipe.config.expand, pipe.config.warp))
    timed("refiner", lambda: pipe._fuse(poly, de, dl, warp.hole_mask, de_holes, dl_fill.propagated, warp.disparity).right)
    return times


def bench_size(name: str, pipe: StereoPipeline, runs: int, textures: list[np.ndarray], divergence: float = 2.0) -> dict:
    height, width = SIZES[name]
    config = SceneConfig(height=height, width=width, frames=FRAMES, max_disparity=round(divergence / 100 * width, 1), camera_speed=2.0)
    scene = render_scene(textures, config, seed=0)
    left, disparity = scene.left, scene.disparity
    stages_once(pipe, left, disparity)  # warm-up (weights, kernels, caches)
    samples: dict[str, list[float]] = {}
    for _ in range(runs):
        for key, seconds in stages_once(pipe, left, disparity).items():
            samples.setdefault(key, []).append(seconds)
        _sync(pipe.device)
        t0 = time.perf_counter()
        pipe.synthesize(left, disparity, "full")
        _sync(pipe.device)
        samples.setdefault("full (synthesize)", []).append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        pipe.synthesize(left, disparity, "poly")
        samples.setdefault("poly (synthesize)", []).append(time.perf_counter() - t0)
    rows = {}
    for key, values in samples.items():
        q1, med, q3 = np.percentile(np.asarray(values) * 1000.0 / FRAMES, [25, 50, 75])
        rows[key] = {"median_ms": float(med), "iqr_ms": float(q3 - q1)}
    warp = forward_warp(left, disparity)
    return {"size": [height, width], "hole_fraction": float(warp.hole_mask.mean()), "rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--sizes", default="360p,720p")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--divergence", type=float, default=2.0, help="nearest disparity, %% of the width (default 2, the product's default)")
    parser.add_argument("--weights", help="learned weights folder (default: the shipped ones)")
    parser.add_argument("--no-save", action="store_true", help="print only, do not write benchmarks/results")
    args = parser.parse_args()
    if args.runs < 3:
        parser.error("--runs: use at least 3 for a meaningful median")
    pin_threads(args.threads)
    pipe = StereoPipeline.from_pretrained(args.weights, config=PipelineConfig(device=args.device))
    pipe.check_variant("full")
    params = {
        "inpainter": sum(p.numel() for p in pipe.learned_fill.model.parameters()),
        "refiner": sum(p.numel() for p in pipe.refiner.parameters()),
    }
    meta = metadata()
    if args.device.startswith("cuda"):
        meta["gpu"] = torch.cuda.get_device_name()
    print(f"# {meta.get('gpu', meta['cpu'])}, torch {meta['torch']} with {torch.get_num_threads()} CPU threads, commit {meta['commit']}")
    print(f"# parameters: inpainter {params['inpainter']:,}, refiner {params['refiner']:,}")
    textures = load_textures()
    results = {}
    for size in args.sizes.split(","):
        res = results[size] = bench_size(size, pipe, args.runs, textures, args.divergence)
        print(f"\n{size} {res['size'][0]}x{res['size'][1]} on {args.device}: {FRAMES} frames, holes {100 * res['hole_fraction']:.1f} %")
        print(f"  {'stage':<20} {'ms/frame':>9} {'IQR':>7}")
        for stage, row in res["rows"].items():
            print(f"  {stage:<20} {row['median_ms']:>9.1f} {row['iqr_ms']:>7.1f}")
        full = res["rows"]["full (synthesize)"]["median_ms"]
        print(f"  -> {1000.0 / full:.2f} frames/s")
    if not args.no_save:
        tag = "cuda" if args.device.startswith("cuda") else "cpu"
        print("\nsaved", save(f"full_{tag}", {"meta": meta, "device": args.device, "parameters": params, "results": results}))


if __name__ == "__main__":
    main()
