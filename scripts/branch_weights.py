"""Where the refiner's trust goes, against which branch is right: one sweep row, clip by clip.

    python scripts/branch_weights.py --width 640 --pct 2 --disparity estimated --seed 40000 \\
        [--scenes 2] [--textures runs/textures] [--weights DIR]

For each held-out scene of the row (the sweep's scene settings, :mod:`spatialme.sweep`) it runs
the full variant on frame 0's chunk and prints, over the plain warp's hole pixels that the DL
branch did not copy from a neighbouring frame (those stay DL's), grouped by their distance to the
nearest known pixel (px):

* the refiner's effective weight of each branch, from eqs. 1-3
  (:func:`spatialme.refiner.branch_weights`);
* the mean squared error (summed over RGB, 0-255 scale) of each branch and of ``full``.

Why: the sweep says *that* ``full`` trails a branch in a row; this says whether the refiner
gives weight to the branch that is wrong there, and at which hole depths.
"""

from __future__ import annotations

import argparse

import numpy as np

from spatialme.data.degrade import soften_edges
from spatialme.data.synthetic import render_scene
from spatialme.data.textures import list_textures, load_textures, split_textures
from spatialme.inpaint.pyramid import hole_depth
from spatialme.pipeline import StereoPipeline
from spatialme.refiner import branch_weights
from spatialme.sweep import SweepConfig, scene_config

#: Hole-depth groups, px from the nearest known pixel: [low, high).
DEPTHS = ((1, 2), (2, 4), (4, 8), (8, 10_000))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=640, help="frame width px (height = width * 9 / 16)")
    parser.add_argument("--pct", type=float, default=2.0, help="nearest disparity, %% of the width")
    parser.add_argument("--disparity", choices=("exact", "estimated"), default="estimated")
    parser.add_argument("--edge-grow", type=int, default=0, help="estimated: the nearer side grown this many px before the blur (the sweep's --edge-grow)")
    parser.add_argument("--seed", type=int, default=10000, help="first scene seed (the sweep's --seed)")
    parser.add_argument("--scenes", type=int, default=2)
    parser.add_argument("--frames", type=int, default=3)
    parser.add_argument("--textures", default="runs/textures", help="texture folder; its held-out split is used")
    parser.add_argument("--weights", default=None, help="learned weights folder or Hub id (default: the shipped ones)")
    args = parser.parse_args()

    width, height = args.width, args.width * 9 // 16
    textures = load_textures(split_textures(list_textures(args.textures))[1])
    pipe = StereoPipeline.from_pretrained(args.weights)
    sweep = SweepConfig()
    scene_cfg = scene_config(height, width, args.pct, args.frames, sweep.shapes)
    for i in range(args.scenes):
        scene = render_scene(textures, scene_cfg, args.seed + i)
        disp = soften_edges(scene.disparity, sweep.edge_blur, args.edge_grow) if args.disparity == "estimated" else scene.disparity
        out = pipe.synthesize(scene.left, disp, "full", maps_for=[0])
        holes = out.hole_mask[0] & ~out.propagated[0]
        maps = out.refiner[0]
        weights = branch_weights(maps["m1"], maps["m2"], maps["m3"])
        truth = scene.right[0].astype(np.float64)
        errors = {k: ((out.branches[k][0] - truth) ** 2).sum(-1) for k in ("poly", "de", "dl")}
        errors["full"] = ((out.right[0] - truth) ** 2).sum(-1)
        depth = hole_depth(out.hole_mask[:1])[0]
        print(f"scene {args.seed + i}: {holes.sum()} refined hole px ({out.propagated[0][out.hole_mask[0]].mean():.0%} of frame 0's holes propagated)")
        for low, high in DEPTHS:
            sel = holes & (depth >= low) & (depth < high)
            if not sel.any():
                continue
            w = " ".join(f"{k} {v[sel].mean():.2f}" for k, v in weights.items())
            e = " ".join(f"{k} {v[sel].mean():.0f}" for k, v in errors.items())
            print(f"  depth {low}-{high} px, {sel.sum()} px | weight: {w} | squared error: {e}")


if __name__ == "__main__":
    main()
