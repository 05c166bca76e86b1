"""Copy trained weights into ``assets/weights`` and write their model card with measured metrics.

Run after both training stages::

    python scripts/ship_weights.py --inpainter runs/inpainter --refiner runs/refiner [--scenes 8] [--recipe recipe.md]

It copies each run's ``final/`` (``config.json`` + ``model.safetensors``), reads steps and wall
time from each run's ``log.csv`` and its ``config.json``, evaluates every variant plus the
Telea baseline on held-out synthetic scenes (textures never trained on) with
``spatialme.evaluate.evaluate_synthetic``, once with the exact disparity and once with the
estimated-like one (soft edges, ``spatialme.data.degrade``), and writes
``assets/weights/README.md``. ``--recipe`` is a Markdown file describing how the runs were
trained (commands, machines); it goes into the card as written.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from spatialme import StereoPipeline  # noqa: E402
from spatialme.data.synthetic import SceneConfig  # noqa: E402
from spatialme.data.textures import list_textures, load_textures, split_textures  # noqa: E402
from spatialme.evaluate import EvalConfig, evaluate_synthetic  # noqa: E402
from spatialme.weights import SHIPPED_WEIGHTS  # noqa: E402


def run_summary(run: Path) -> dict:
    """Steps, wall time and settings of a training run."""
    rows = list(csv.DictReader((run / "log.csv").open()))
    config = json.loads((run / "config.json").read_text())
    # ``seconds`` restarts at every resume: add up the last value of each segment
    seconds, prev = 0.0, 0.0
    for row in rows:
        now = float(row["seconds"])
        if now < prev:
            seconds += prev
        prev = now
    seconds += prev
    return {"steps": int(rows[-1]["step"]), "seconds": seconds, "last_loss": float(rows[-1]["total"]), "config": config}


def count_params(folder: Path, kind: str) -> int:
    if kind == "inpainter":
        from spatialme.inpaint.learned import GatedInpainter as cls
    else:
        from spatialme.refiner import MHFURefiner as cls
    return sum(p.numel() for p in cls.from_pretrained(str(folder)).parameters())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inpainter", required=True, type=Path)
    parser.add_argument("--refiner", required=True, type=Path)
    parser.add_argument("--scenes", type=int, default=8)
    parser.add_argument("--height", type=int, default=160)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--textures", help="texture folder whose held-out split is evaluated (default assets/textures)")
    parser.add_argument("--edge-blur", type=float, default=1.0, help="edge blur of the estimated-like disparity (px at 256 px wide)")
    parser.add_argument("--recipe", type=Path, help="Markdown describing the training commands and machines")
    parser.add_argument("--limits", type=Path, help="Markdown appended at the end (what the weights do not do)")
    args = parser.parse_args()

    runs = {"inpainter": args.inpainter, "refiner": args.refiner}
    for name, run in runs.items():
        dest = SHIPPED_WEIGHTS / name
        if dest.exists():
            shutil.rmtree(dest)
        dest.mkdir(parents=True)
        for f in ("config.json", "model.safetensors"):
            shutil.copy(run / "final" / f, dest / f)
    summaries = {name: run_summary(run) | {"params": count_params(SHIPPED_WEIGHTS / name, name)} for name, run in runs.items()}
    size_mb = sum(p.stat().st_size for p in SHIPPED_WEIGHTS.rglob("model.safetensors")) / 1e6

    _, test_paths = split_textures(list_textures(args.textures))
    scene = SceneConfig(height=args.height, width=args.width, frames=args.frames, max_disparity=10.0)
    pipe = StereoPipeline.from_pretrained(device="cpu")
    textures = load_textures(test_paths)
    config = EvalConfig(variants=("poly", "dl", "dl+de", "full"), disparity_source="given")
    tables = {}
    for kind, blur in (("exact", 0.0), ("estimated", args.edge_blur)):
        result = evaluate_synthetic(pipe, textures, args.scenes, scene, seed=10000, config=config, edge_blur=blur)
        tables[kind] = (result.table(), result.hole_fraction)
        print(kind, "\n", tables[kind][0])

    lines = [
        "---",
        "library_name: spatialme",
        "license: apache-2.0",
        "tags: [stereo, 2d-to-3d, inpainting, spatialme]",
        "---",
        "",
        "# SpatialMe learned weights: DL-branch inpainter and MHFU refiner",
        "",
        "Trained by `python -m spatialme train` on synthetic layered stereo scenes (`spatialme/data/synthetic.py`):",
        "photo textures on slanted/curved background planes with 2-5 irregular foreground objects at distinct depths,",
        "camera and object motion, exact true right views. Textures: `python scripts/make_textures.py runs/textures --size 384`",
        "(scikit-image CC0 photos and Debian wallpaper packages, 87 images), training split only (`split_textures`, by",
        "file-name hash); the evaluation below uses the held-out photos, never trained on.",
        "",
        *(args.recipe.read_text().rstrip().splitlines() if args.recipe else []),
        "",
        f"Total size of the safetensors: {size_mb:.2f} MB.",
        "",
        "| part | parameters | steps | training time (all runs, see above) | crop | batch | last logged loss |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, s in summaries.items():
        c = s["config"]
        lines.append(f"| {name} | {s['params']:,} | {s['steps']} | {s['seconds'] / 60:.1f} min | {c['crop']} | {c['batch']} | {s['last_loss']:.4f} |")
    lines += [
        "",
        "Losses: inpainter, eq. 8 (occlusion-weighted L1, alpha 10); refiner, eq. 11 = 10 x eq. 8 + 2 x eq. 9 + 0.1 x eq. 10",
        "(WGAN critic with gradient penalty). The perceptual term (eq. 9) was off: no VGG19 weights were available offline.",
        "Adam, betas (0.5, 0.999); lr 1e-3 for the inpainter (1e-4 was too slow on 2 CPU cores), 1e-4 for the refiner.",
        "",
        f"## Evaluation (Table III rows) on {args.scenes} held-out synthetic scenes, {args.width}x{args.height}, {args.frames} frames each",
        "",
        f"Command: `python scripts/ship_weights.py --inpainter {args.inpainter} --refiner {args.refiner} --scenes {args.scenes} --frames {args.frames} --textures {args.textures}`",
        "(the same numbers as `python -m spatialme eval --synthetic {n} --frames {f} --textures {t}`).".format(n=args.scenes, f=args.frames, t=args.textures),
        "MAE and temporal on the [0, 1] scale (lower is better), PSNR in dB and SSIM (higher is better); `-hole` columns",
        "score only the plain warp's holes.",
        "",
        "### Exact disparity",
        "",
        f"The scenes' true disparity drives the warp ({100 * tables['exact'][1]:.1f} % of the pixels are holes).",
        "",
        tables["exact"][0],
        "",
        "### Estimated-like disparity",
        "",
        f"The true disparity with its edges blurred (Gaussian, sigma {args.edge_blur:g} px at 256 px wide), as a monocular",
        "depth estimate's boundaries are: the product's condition, where foreground pixels get background disparity",
        f"and bleed into the holes ({100 * tables['estimated'][1]:.1f} % of the pixels are holes). The ground truth is still the true right view.",
        "",
        tables["estimated"][0],
        "",
        *(args.limits.read_text().rstrip().splitlines() + [""] if args.limits else []),
    ]
    (SHIPPED_WEIGHTS / "README.md").write_text("\n".join(lines))
    print("wrote", SHIPPED_WEIGHTS / "README.md")


if __name__ == "__main__":
    main()
