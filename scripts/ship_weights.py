"""Copy trained weights into ``assets/weights`` and write their model card with measured tables.

Run after both training stages::

    python scripts/ship_weights.py --inpainter runs/inpainter --refiner runs/refiner --textures runs/textures \\
        [--scenes 2] [--recipe recipe.md] [--limits limits.md]

It copies each run's ``final/`` (``config.json`` + ``model.safetensors``) to ``assets/weights``,
reads steps and wall time from each run's ``log.csv``, then measures with the shipped copy:

* the strength sweep (``spatialme.sweep``, what ``python -m spatialme eval --sweep`` prints):
  nearest disparity 1-8 % of the width at 640x360 and 1280x720, exact and estimated-like
  disparity, every variant plus Telea, on held-out scenes (textures never trained on);
* the real Middlebury *Motorcycle* pair (``python -m spatialme eval --motorcycle``), and a
  crop of its widest holes (true right view, Telea, Poly, Full) saved as
  ``assets/weights/motorcycle_holes.png``;
* the ablation of the pyramid fill's reach (``spatialme.inpaint.pyramid``): the DL branch
  with the network at full resolution only and with reaches of 2, 4 and 8 px;

and writes ``assets/weights/README.md``. ``--recipe`` and ``--limits`` are Markdown files
that go into the card as written.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import time
from pathlib import Path

import cv2
import numpy as np

from spatialme import StereoPipeline  # noqa: E402
from spatialme.data.pairs import motorcycle  # noqa: E402
from spatialme.data.textures import list_textures, load_textures, split_textures  # noqa: E402
from spatialme.evaluate import EvalConfig, evaluate_pair  # noqa: E402
from spatialme.inpaint.pyramid import PyramidConfig  # noqa: E402
from spatialme.sweep import SweepConfig, run_sweep, sweep_table  # noqa: E402
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


def widest_hole_crop(pair, outputs: dict[str, np.ndarray], holes: np.ndarray, path: Path, size: int = 160) -> None:
    """Save side-by-side crops (true right view, then each output) around the widest hole."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(holes.astype(np.uint8), connectivity=8)
    inner = [i for i in range(1, count) if stats[i, cv2.CC_STAT_LEFT] + stats[i, cv2.CC_STAT_WIDTH] < holes.shape[1] - 2]
    k = max(inner or range(1, count), key=lambda i: stats[i, cv2.CC_STAT_AREA])
    cy = int(stats[k, cv2.CC_STAT_TOP] + stats[k, cv2.CC_STAT_HEIGHT] // 2)
    cx = int(stats[k, cv2.CC_STAT_LEFT] + stats[k, cv2.CC_STAT_WIDTH] // 2)
    y0 = int(np.clip(cy - size // 2, 0, holes.shape[0] - size))
    x0 = int(np.clip(cx - size // 2, 0, holes.shape[1] - size))
    tiles = []
    for name, image in [("true right", pair.right)] + list(outputs.items()):
        tile = cv2.resize(image[y0 : y0 + size, x0 : x0 + size], (2 * size, 2 * size), interpolation=cv2.INTER_NEAREST)
        tile = np.ascontiguousarray(tile[..., ::-1])
        cv2.putText(tile, name, (6, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (255, 255, 255), 2, cv2.LINE_AA)
        tiles.append(tile)
    cv2.imwrite(str(path), np.concatenate(tiles, axis=1))


def reach_ablation(pipe: StereoPipeline, textures, scenes: int) -> str:
    """DL-branch hole PSNR with the network at full resolution only and at several reaches."""
    fill = pipe.learned_fill
    original = fill.pyramid
    settings = [("full resolution only", None)] + [(f"reach {r} px", PyramidConfig(reach=r)) for r in (2.0, 4.0, 8.0)]
    sweep = SweepConfig(pcts=(1.0, 4.0, 8.0), scenes=scenes)
    results = {}
    try:
        for label, cfg in settings:
            fill.pyramid = cfg
            results[label] = run_sweep(pipe, textures, sweep, EvalConfig(variants=("dl",), baselines=(), disparity_source="given"))
    finally:
        fill.pyramid = original
    first = results[settings[0][0]]
    head = "| size | nearest | disparity | " + " | ".join(label for label, _ in settings) + " |"
    lines = [head, "|" + "---|" * (3 + len(settings))]
    for i, row in enumerate(first):
        cells = [results[label][i].result.rows["dl"]["PSNR-hole"] for label, _ in settings]
        best = int(np.argmax(cells))
        text = [f"**{v:.2f}**" if j == best else f"{v:.2f}" for j, v in enumerate(cells)]
        lines.append(f"| {row.width}x{row.height} | {row.pct:g} % | {row.disparity} | " + " | ".join(text) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inpainter", type=Path, help="inpainter run folder (its final/ is shipped); omit to keep the shipped one")
    parser.add_argument("--refiner", type=Path, help="refiner run folder; omit to keep the shipped one")
    parser.add_argument("--scenes", type=int, default=2, help="held-out scenes per sweep row")
    parser.add_argument("--frames", type=int, default=3, help="frames per sweep scene")
    parser.add_argument("--textures", help="texture folder whose held-out split is evaluated (default assets/textures)")
    parser.add_argument("--recipe", type=Path, help="Markdown describing the training commands and machines")
    parser.add_argument("--limits", type=Path, help="Markdown appended at the end (what the weights do not do)")
    parser.add_argument("--no-ablation", action="store_true", help="skip the pyramid-reach ablation")
    args = parser.parse_args()

    runs = {name: run for name, run in (("inpainter", args.inpainter), ("refiner", args.refiner)) if run is not None}
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
    textures = load_textures(test_paths)
    pipe = StereoPipeline.from_pretrained(device="cpu")
    variants = EvalConfig(variants=("poly", "dl", "dl+de", "full"), disparity_source="given")
    t0 = time.time()
    sweep = SweepConfig(scenes=args.scenes, frames=args.frames)
    rows = run_sweep(pipe, textures, sweep, variants, progress=lambda d, n, label: print(f"sweep {d}/{n} {label} ({time.time() - t0:.0f} s)", flush=True))
    table = sweep_table(rows)
    print(table)
    pair = motorcycle()
    moto = evaluate_pair(pipe, pair, variants)
    print(moto.table())
    outputs = {"telea": None, "poly": None, "full": None}
    from spatialme.inpaint import composite, get_filler
    from spatialme.warp import forward_warp

    warp = forward_warp(pair.left[None], pair.disparity[None])
    outputs["telea"] = composite(warp.image, get_filler("telea")(pair.left[None], pair.disparity[None], warp.image, warp.hole_mask), warp.hole_mask)[0]
    for variant in ("poly", "full"):
        outputs[variant] = pipe.synthesize(pair.left[None], pair.disparity[None], variant).right[0]
    widest_hole_crop(pair, outputs, warp.hole_mask[0], SHIPPED_WEIGHTS / "motorcycle_holes.png")
    ablation = "" if args.no_ablation else reach_ablation(pipe, textures, args.scenes)
    print(ablation)

    lines = [
        "---",
        "library_name: spatialme",
        "license: apache-2.0",
        "tags: [stereo, 2d-to-3d, inpainting, spatialme]",
        "---",
        "",
        "# SpatialMe learned weights: DL-branch inpainter and MHFU refiner",
        "",
        "Trained by `python -m spatialme train` on synthetic layered stereo scenes (`spatialme/data/synthetic.py`) at the",
        "product's scale: frames 256-1280 px wide, the nearest object's disparity 0.5-8 % of the width (log-uniform, holes",
        "of 1 to about 100 px), blobs, polygons, thin limbs, rings and hair-like fringes at distinct depths, camera and",
        "object motion, exact true right views; the two eyes get the photometric differences of two cameras",
        "(`spatialme/data/camera.py`) and part of the scenes an estimated-like disparity (`spatialme/data/degrade.py`).",
        "Textures: `python scripts/make_textures.py runs/textures --size 384` (scikit-image CC0 photos and Debian",
        "wallpaper packages), training split only (`split_textures`, by file-name hash); every table below uses the",
        "held-out photos, never trained on, and the Motorcycle pair is never trained on.",
        "",
        *(args.recipe.read_text().rstrip().splitlines() if args.recipe else []),
        "",
        f"Total size of the safetensors: {size_mb:.2f} MB.",
    ]
    if summaries:
        lines += ["", "| part | parameters | steps (all segments) | training time (all segments) | crop | batch | last logged loss |", "|---|---:|---:|---:|---:|---:|---:|"]
        for name, s in summaries.items():
            c = s["config"]
            lines.append(f"| {name} | {s['params']:,} | {s['steps']} | {s['seconds'] / 60:.1f} min | {c['crop']} | {c['batch']} | {s['last_loss']:.4f} |")
    lines += [
        "",
        "## The strength sweep",
        "",
        f"Command: `python -m spatialme eval --sweep --scenes {args.scenes} --sweep-frames {args.frames} --textures {args.textures}`.",
        f"{args.scenes} held-out scenes of {args.frames} frames per row; PSNR in dB (higher is better, the best of each",
        "condition in bold), temporal = flicker against the truth on the [0, 1] scale (lower is better). `PSNR-hole`",
        "scores the plain warp's holes, `PSNR-out` every other pixel. Estimated-like = the true disparity with its",
        "edges blurred (sigma 1 px at 256 px wide), as a monocular depth estimate's are; the truth stays the true right view.",
        "",
        table,
        "",
        "## Real stereo: Middlebury *Motorcycle* (scikit-image's copy, 741x500, true disparity 7-60 px)",
        "",
        "Command: `python -m spatialme eval --motorcycle`. Pixels warped from left pixels without a true disparity are",
        f"not scored; every hole pixel is ({100 * moto.hole_fraction:.1f} % of the frame).",
        "",
        moto.table(),
        "",
        "Its widest hole (behind the front fork), 2x: `motorcycle_holes.png` (true right view, Telea, Poly, Full).",
        "",
        "![widest holes](motorcycle_holes.png)",
        "",
    ]
    if ablation:
        lines += [
            "## Ablation: where the inpainter runs (`spatialme/inpaint/pyramid.py`)",
            "",
            "DL branch, PSNR in its holes (dB), same held-out scenes: the network on the frame only, against the pyramid",
            "fill, which fills each hole pixel at the level where its distance to the known pixels is about `reach`",
            "px. The shipped default is `PyramidConfig().reach`.",
            "",
            ablation,
            "",
        ]
    lines += [*(args.limits.read_text().rstrip().splitlines() + [""] if args.limits else [])]
    (SHIPPED_WEIGHTS / "README.md").write_text("\n".join(lines))
    print("wrote", SHIPPED_WEIGHTS / "README.md", f"({time.time() - t0:.0f} s)")


if __name__ == "__main__":
    main()
