"""ms per frame of the MHFU refiner on CPU: whole frame vs packed bands around the holes.

Run: ``python benchmarks/bench_refiner.py [--runs 7] [--sizes 480p,720p] [--threads 2]``.

Inputs are realistic in where the holes are, which is all that the cost depends on: a
seeded synthetic scene (``render_scene`` with the committed textures, one frame, maximum
disparity 2 % of the width) is forward-warped to get the plain warp's holes, and re-warped
with the Algorithm-1 expanded disparity to get the DE branch's holes (``K = 2`` masks). The
warped images stand in for the three branches (the refiner's cost does not depend on the
pixel values). The refiner has random weights (speed only). Every row goes through
:func:`spatialme.fusion.refine_clip` on one frame, uint8 in and out, so conversions are
included: whole frame (``bands=None``), packed bands in float32, and packed bands in bf16
autocast (where the CPU has bf16 natively). The modes run round-robin (see
:func:`timeit_interleaved`); median, IQR and minimum are reported.
"""

from __future__ import annotations

import argparse
import time
from typing import Callable

import numpy as np
import torch

from common import metadata, pin_threads, save  # noqa: E402

from spatialme.data.synthetic import SceneConfig, render_scene  # noqa: E402
from spatialme.data.textures import load_textures  # noqa: E402
from spatialme.inpaint.expand import expand_disparity  # noqa: E402
from spatialme.bands import BandConfig, plan_bands  # noqa: E402
from spatialme.fusion import REFINE_RING, refine_clip  # noqa: E402
from spatialme.refiner import MHFURefiner  # noqa: E402
from spatialme.warp import forward_warp  # noqa: E402

SIZES = {"480p": (480, 854), "720p": (720, 1280)}


def make_inputs(height: int, width: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Branches ``(H, W, 3) uint8`` x3 and masks ``(2, H, W) bool`` from a synthetic scene."""
    config = SceneConfig(height=height, width=width, frames=1, max_disparity=0.02 * width)
    scene = render_scene(load_textures(), config, seed=seed)
    left, disparity = scene.left[0], scene.disparity[0]
    plain = forward_warp(left, disparity)
    rewarp = forward_warp(left, expand_disparity(disparity))
    masks = np.stack([plain.hole_mask, rewarp.hole_mask])
    return plain.image, rewarp.image, scene.right[0], masks


def timeit_interleaved(cases: dict[str, Callable[[], object]], runs: int, warmup: int = 1) -> dict[str, dict[str, float]]:
    """Median, IQR and minimum in ms of each case, the cases run round-robin.

    Round-robin puts every mode under the same background load (shared 2-core machines
    are noisy), so the ratios between rows stay meaningful even when absolute times drift.
    """
    for fn in cases.values():
        for _ in range(warmup):
            fn()
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(runs):
        for name, fn in cases.items():
            t0 = time.perf_counter()
            fn()
            samples[name].append((time.perf_counter() - t0) * 1000.0)
    stats = {}
    for name, values in samples.items():
        q1, med, q3 = np.percentile(values, [25, 50, 75])
        stats[name] = {"median_ms": float(med), "iqr_ms": float(q3 - q1), "min_ms": float(min(values))}
    return stats


def bench_size(name: str, model: MHFURefiner, runs: int) -> dict:
    height, width = SIZES[name]
    poly, de, dl, masks = (a[None] for a in make_inputs(height, width))
    import cv2

    kernel = np.ones((2 * REFINE_RING + 1, 2 * REFINE_RING + 1), np.uint8)
    region = (cv2.dilate(masks[0].any(0).astype(np.uint8), kernel) > 0)[None]
    packing = plan_bands(region, model.multiple, BandConfig(margin=8))
    rows = timeit_interleaved(
        {
            "whole frame": lambda: refine_clip(model, poly, de, dl, masks, bands=None),
            "bands float32": lambda: refine_clip(model, poly, de, dl, masks, bf16=False),
            "bands bf16": lambda: refine_clip(model, poly, de, dl, masks, bf16=True),
        },
        runs,
    )
    return {
        "size": [height, width],
        "hole_fraction": float(masks[0, 0].mean()),
        "hole_fraction_either_mask": float(masks[0].any(0).mean()),
        # pixels the network computes on the shelves / pixels of the frame
        "shelf_pixels_over_frame": float(packing.pixels / (height * width)),
        "rows": rows,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--sizes", default="480p,720p")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-save", action="store_true", help="print only, do not write benchmarks/results")
    args = parser.parse_args()
    if args.runs < 5:
        parser.error("--runs: use at least 5 for a meaningful median")
    pin_threads(args.threads)
    torch.manual_seed(0)
    model = MHFURefiner().eval()
    params = sum(p.numel() for p in model.parameters())
    meta = metadata()
    print(f"# {meta['cpu']}, torch {meta['torch']} with {torch.get_num_threads()} threads, commit {meta['commit']}")
    print(f"# MHFURefiner(base_channels={model.base_channels}, levels={model.levels}): {params:,} parameters")
    results = {}
    for size in args.sizes.split(","):
        res = results[size] = bench_size(size, model, args.runs)
        print(
            f"\n{size} {res['size'][0]}x{res['size'][1]}: holes {100 * res['hole_fraction']:.1f} % "
            f"(either mask {100 * res['hole_fraction_either_mask']:.1f} %), "
            f"shelf pixels {res['shelf_pixels_over_frame']:.2f} x frame"
        )
        print(f"  {'mode':<28} {'median ms':>10} {'IQR ms':>8} {'min ms':>8}")
        for mode, row in res["rows"].items():
            print(f"  {mode:<28} {row['median_ms']:>10.1f} {row['iqr_ms']:>8.1f} {row['min_ms']:>8.1f}")
    if not args.no_save:
        print("\nsaved", save("refiner", {"meta": meta, "parameters": params, "results": results}))


if __name__ == "__main__":
    main()
