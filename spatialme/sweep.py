"""The strength sweep: every method scored across the 3D strengths and frame sizes users pick.

Why
---
A score at one easy setting hides where a method breaks. The width of the holes a warp opens
grows with the nearest object's disparity, i.e. with the chosen strength times the frame
width: 1 % of 640 px opens holes of a few px, 8 % of 1280 px holes of 100 px. Learned fills
that shine on thin holes can collapse on wide ones, so every change to the learned parts is
judged on this whole table: nearest disparity at 1, 2, 4, 6 and 8 % of the width, at
640x360 and 1280x720, warped with the exact and with an estimated-like disparity
(:func:`spatialme.data.degrade.soften_edges`), on held-out synthetic scenes with exact
ground truth. Each row also reports the widths of the holes it contains (percentiles of the
horizontal hole runs, px), so a reader sees what "strong" means in pixels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Sequence

import numpy as np

from .data.degrade import soften_edges
from .data.synthetic import SceneConfig, render_scene
from .checks import check_int
from .evaluate import EvalConfig, EvalResult, aggregate, evaluate_clip
from .pipeline import StereoPipeline
from .warp import forward_warp

__all__ = ["SweepConfig", "SweepRow", "hole_run_widths", "run_sweep", "scene_config", "sweep_table", "DEFAULT_PCTS", "DEFAULT_SIZES"]

#: Nearest-object disparity of each sweep row, % of the frame width.
DEFAULT_PCTS = (1.0, 2.0, 4.0, 6.0, 8.0)
#: ``(height, width)`` of the sweep's frames.
DEFAULT_SIZES = ((360, 640), (720, 1280))


@dataclass(frozen=True)
class SweepConfig:
    """What the sweep covers.

    Attributes:
        pcts: nearest-object disparities, % of the width.
        sizes: ``(height, width)`` px of the scenes.
        disparities: ``"exact"`` and/or ``"estimated"`` (edges softened by ``edge_blur``).
        scenes: held-out scenes per row (scene ``i`` has seed ``seed + i`` in every row).
        frames: frames per scene (2 or more for the temporal column).
        seed: first scene seed (away from training seeds).
        edge_blur: the estimated-like disparity's blur, px at 256 px wide.
        edge_grow: the estimated-like disparity's nearer side grown by this many px before the
            blur (0-16; a monocular estimate's boundary off by that much, :func:`soften_edges`).
        shapes: silhouettes of the scenes (:data:`spatialme.data.synthetic.SHAPES`).
    """

    pcts: tuple[float, ...] = DEFAULT_PCTS
    sizes: tuple[tuple[int, int], ...] = DEFAULT_SIZES
    disparities: tuple[str, ...] = ("exact", "estimated")
    scenes: int = 2
    frames: int = 3
    seed: int = 10000
    edge_blur: float = 1.0
    edge_grow: int = 0
    shapes: str = "varied"

    def __post_init__(self) -> None:
        if not self.pcts or not all(isinstance(p, (int, float)) and 0.05 <= p <= 20 for p in self.pcts):
            raise ValueError(f"pcts: expected disparities in [0.05, 20] %% of the width, got {self.pcts!r}")
        if not self.sizes or not all(len(s) == 2 and all(isinstance(v, int) and 32 <= v <= 4096 for v in s) for s in self.sizes):
            raise ValueError(f"sizes: expected (height, width) pairs of px in [32, 4096], got {self.sizes!r}")
        if not self.disparities or any(d not in ("exact", "estimated") for d in self.disparities):
            raise ValueError(f"disparities: expected 'exact' and/or 'estimated', got {self.disparities!r}")
        for name, low in (("scenes", 1), ("frames", 1), ("seed", 0)):
            check_int(name, getattr(self, name), low)
        check_int("edge_grow", self.edge_grow, 0, 16)


@dataclass
class SweepRow:
    """One condition of the sweep and its scores.

    Attributes:
        height, width: frame size px.
        pct: nearest disparity, % of the width.
        disparity: ``"exact"`` or ``"estimated"``.
        result: the methods' scores (mean over the row's scenes).
        hole_widths: ``(p50, p90, p99)`` of the horizontal hole run widths px.
    """

    height: int
    width: int
    pct: float
    disparity: str
    result: EvalResult
    hole_widths: tuple[float, float, float] = field(default=(math.nan,) * 3)


def hole_run_widths(holes: np.ndarray) -> np.ndarray:
    """Widths px of every horizontal run of hole pixels.

    Args:
        holes: ``(..., H, W) bool``.

    Returns:
        ``(N,) int64``, one per run (row by row, left to right).
    """
    holes = np.asarray(holes, bool)
    rows = holes.reshape(-1, holes.shape[-1]).astype(np.int8)
    edges = np.diff(np.pad(rows, ((0, 0), (1, 1))), axis=1)
    starts = np.nonzero(edges == 1)
    ends = np.nonzero(edges == -1)
    return (ends[1] - starts[1]).astype(np.int64)  # both in row-major order, paired


def scene_config(height: int, width: int, pct: float, frames: int, shapes: str = "varied") -> SceneConfig:
    """The synthetic scenes of one sweep row: nearest disparity ``pct`` % of the width (at most a
    quarter of it), camera and object speeds scaled with the width (px a frame at 256 px wide)."""
    return SceneConfig(
        height=height, width=width, frames=frames, max_disparity=min(pct / 100.0 * width, width / 4),
        camera_speed=width / 256.0, object_speed=1.5 * width / 256.0, shapes=shapes,
    )


def run_sweep(pipe: StereoPipeline, textures: list[np.ndarray], sweep: SweepConfig = SweepConfig(), config: EvalConfig | None = None, progress=None) -> list[SweepRow]:
    """Score the methods in every condition of the sweep.

    Args:
        pipe: the pipeline to evaluate.
        textures: held-out textures to paint the scenes with.
        sweep: the conditions.
        config: what to evaluate (variants, baselines); its ``disparity_source`` is set to
            ``"given"``.
        progress: optional callable ``progress(done, total, label)``.

    Returns:
        One :class:`SweepRow` per (size, pct, disparity), in that nesting order.
    """
    base = EvalConfig(variants=("poly", "dl", "dl+de", "full"), disparity_source="given") if config is None else config
    base = replace(base, disparity_source="given")
    rows: list[SweepRow] = []
    total = len(sweep.sizes) * len(sweep.pcts) * len(sweep.disparities)
    for height, width in sweep.sizes:
        for pct in sweep.pcts:
            scene_cfg = scene_config(height, width, pct, sweep.frames, sweep.shapes)
            scenes = [render_scene(textures, scene_cfg, sweep.seed + i) for i in range(sweep.scenes)]
            for kind in sweep.disparities:
                results, widths = [], []
                for scene in scenes:
                    disp = soften_edges(scene.disparity, sweep.edge_blur, sweep.edge_grow) if kind == "estimated" else scene.disparity
                    widths.append(hole_run_widths(forward_warp(scene.left, disp, pipe.config.warp).hole_mask))
                    results.append(evaluate_clip(pipe, scene.left, scene.right, disp, base))
                runs = np.concatenate(widths)
                pcts = tuple(float(v) for v in np.percentile(runs, (50, 90, 99))) if runs.size else (math.nan,) * 3
                rows.append(SweepRow(height, width, float(pct), kind, aggregate(results), pcts))
                if progress is not None:
                    progress(len(rows), total, f"{width}x{height} {pct:g}% {kind}")
    return rows


def sweep_table(rows: Sequence[SweepRow], columns: Sequence[str] = ("PSNR", "PSNR-hole", "PSNR-out", "temporal")) -> str:
    """Markdown table: one line per condition and method, the best of each column in bold."""
    lines = ["| size | nearest | disparity | holes p50/p90/p99 px | method | " + " | ".join(columns) + " |"]
    lines.append("|" + "---|" * (5 + len(columns)))
    for row in rows:
        names = list(row.result.rows)
        best = {}
        for col in columns:
            vals = {n: row.result.rows[n].get(col, math.nan) for n in names}
            finite = {n: v for n, v in vals.items() if not math.isnan(v)}
            if finite:
                best[col] = (min if col in ("temporal", "MAE", "MAE-hole") else max)(finite, key=finite.get)
        widths = "/".join(f"{w:.0f}" for w in row.hole_widths)
        for name in names:
            cells = []
            for col in columns:
                value = row.result.rows[name].get(col, math.nan)
                text = "-" if math.isnan(value) else (f"{value:.4f}" if col == "temporal" else f"{value:.2f}")
                cells.append(f"**{text}**" if best.get(col) == name else text)
            lines.append(f"| {row.width}x{row.height} | {row.pct:g} % | {row.disparity} | {widths} | {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
