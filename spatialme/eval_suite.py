"""One evaluation request, run end to end: what ``python -m spatialme eval`` does.

The scoring lives in :mod:`spatialme.evaluate` (one clip, pair or synthetic set) and
:mod:`spatialme.sweep` (the strength sweep); this module takes a whole request (synthetic
scenes, the sweep, real pairs, real stereo clips), checks every input before any work, runs
each part with one pipeline and returns the printable tables and the JSON report, so the
command line only parses and prints.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

from .evaluate import EvalConfig, EvalResult, aggregate, evaluate_pair, evaluate_stereo, evaluate_synthetic, lpips_status
from .sweep import SweepConfig, run_sweep, sweep_table

__all__ = ["EvalRequest", "EvalReport", "run_evaluation"]

_KINDS = ("exact", "estimated", "both")


@dataclass(frozen=True)
class EvalRequest:
    """What to evaluate.

    Attributes:
        config: variants, baselines and frame sampling (:class:`spatialme.evaluate.EvalConfig`).
        synthetic: held-out synthetic scenes to score, or ``None`` for none.
        synthetic_disparity: ``"exact"``, ``"estimated"`` (edges softened) or ``"both"``.
        height, width: synthetic frame size, px.
        frames: frames per synthetic scene.
        max_disparity: the nearest synthetic object's disparity, px.
        edge_blur: the estimated-like disparity's Gaussian sigma, px at 256 px wide.
        edge_grow: the estimated-like disparity's nearer side grown by this many px first.
        seed: first synthetic scene's seed.
        textures: texture folder whose held-out split paints the scenes (``None``: the shipped one).
        sweep: the strength sweep's settings, or ``None`` for no sweep.
        pairs: ``(left, right, disparity)`` paths of real pairs with true disparity.
        motorcycle: also score the bundled Middlebury Motorcycle pair.
        stereo: real stereo clips (side-by-side videos or left/right folders).
        max_side: shrink stereo clips so each view's longer side is at most this, px.
        cache: folder keeping the stereo clips' matched disparity.
    """

    config: EvalConfig = field(default_factory=EvalConfig)
    synthetic: int | None = None
    synthetic_disparity: str = "both"
    height: int = 160
    width: int = 256
    frames: int = 12
    max_disparity: float = 10.0
    edge_blur: float = 1.0
    edge_grow: int = 0
    seed: int = 10000
    textures: str | os.PathLike | None = None
    sweep: SweepConfig | None = None
    pairs: tuple[tuple[str, str, str], ...] = ()
    motorcycle: bool = False
    stereo: tuple[str, ...] = ()
    max_side: int | None = None
    cache: str | os.PathLike | None = None

    def __post_init__(self) -> None:
        if self.synthetic is None and self.sweep is None and not self.pairs and not self.motorcycle and not self.stereo:
            raise ValueError("eval: nothing to evaluate; pass --synthetic N, --sweep, --pair L R D, --motorcycle and/or --stereo PATH")
        if self.synthetic is not None and (isinstance(self.synthetic, bool) or not isinstance(self.synthetic, int) or self.synthetic < 1):
            raise ValueError(f"synthetic: expected a positive number of scenes, got {self.synthetic!r}")
        if isinstance(self.edge_grow, bool) or not isinstance(self.edge_grow, int) or not 0 <= self.edge_grow <= 16:
            raise ValueError(f"edge_grow: expected an integer in [0, 16] px, got {self.edge_grow!r}")
        if self.synthetic_disparity not in _KINDS:
            raise ValueError(f"synthetic_disparity: expected one of {', '.join(_KINDS)}, got {self.synthetic_disparity!r}")


@dataclass
class EvalReport:
    """The outcome: printable sections in order, and the JSON-ready scores by part."""

    sections: list[str] = field(default_factory=list)
    scores: dict = field(default_factory=dict)

    def text(self) -> str:
        return "\n".join(self.sections)

    def write_json(self, path: str | os.PathLike) -> None:
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(self.scores, indent=1))


def _estimated(blur: float, grow: int) -> str:
    """How the estimated-like disparity's edges were made, for the report's headings."""
    grown = f"nearer side grown {grow} px, then " if grow else ""
    return f"{grown}blurred sigma {blur:g} px at 256 px wide"


def _section(title: str, result: EvalResult) -> str:
    lines = [f"\n{title}\n", result.table(),
             f"\nMAE and temporal on the [0, 1] scale, lower is better; PSNR (dB) and SSIM higher is better; "
             f"-hole columns score only the warp's holes ({100 * result.hole_fraction:.1f}% of pixels)."]
    if result.unavailable:
        lines.append(f"unavailable in this build: {', '.join(result.unavailable)}")
    return "\n".join(lines)


def run_evaluation(request: EvalRequest, pipe=None, *, weights: str | os.PathLike | None = None, device: str = "auto",
                   emit: Callable[[str], None] | None = None, progress: Callable[[str], None] | None = None) -> EvalReport:
    """Run every part of ``request`` with one pipeline.

    Every input (pairs, stereo layouts, textures) is read and checked before the pipeline is
    loaded and before the first score.

    Args:
        request: what to evaluate.
        pipe: a :class:`spatialme.pipeline.StereoPipeline`; ``None`` loads one from ``weights``
            on ``device`` once the inputs are checked.
        weights: learned weights folder or Hub repo id (``None``: the shipped ones).
        device: ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        emit: called with each printable section as soon as it is ready (tables, notes).
        progress: called with one-line progress messages (sweep rows, clips done).

    Returns:
        The :class:`EvalReport` (its ``sections`` are the texts ``emit`` received).
    """
    from .data.pairs import load_pair, motorcycle
    from .data.stereo import StereoClipSource
    from .data.synthetic import SceneConfig
    from .data.textures import list_textures, load_textures, split_textures

    report = EvalReport()

    def say(text: str) -> None:
        report.sections.append(text)
        if emit is not None:
            emit(text)

    note = progress or (lambda _message: None)
    sources = [StereoClipSource(p, max_side=request.max_side) for p in request.stereo]
    for source in sources:
        source.kind  # noqa: B018  (checks each path's layout before any work)
    pairs = [load_pair(*p) for p in request.pairs]
    if request.motorcycle:
        pairs.append(motorcycle())
    held_out: list = []
    if request.synthetic is not None or request.sweep is not None:
        paths = list_textures(request.textures)
        held_out = split_textures(paths)[1] or paths
    if pipe is None:
        from .pipeline import PipelineConfig, StereoPipeline

        pipe = StereoPipeline.from_pretrained(weights, config=PipelineConfig(device=device))
    has_lpips, why = lpips_status()
    if not has_lpips:
        say(f"{why}; the table has no LPIPS column")

    if request.synthetic is not None:
        scene = SceneConfig(height=request.height, width=request.width, frames=request.frames, max_disparity=request.max_disparity)
        kinds = ("exact", "estimated") if request.synthetic_disparity == "both" else (request.synthetic_disparity,)
        textures = load_textures(held_out)
        for kind in kinds:
            blur = request.edge_blur if kind == "estimated" else 0.0
            result = evaluate_synthetic(pipe, textures, request.synthetic, scene, request.seed,
                                        replace(request.config, disparity_source="given"), edge_blur=blur, edge_grow=request.edge_grow)
            how = "exact disparity" if kind == "exact" else f"estimated-like disparity (edges {_estimated(blur, request.edge_grow)})"
            say(_section(f"synthetic: {request.synthetic} scenes, {scene.height}x{scene.width}, {result.frames} frames scored, "
                         f"{how}, {len(held_out)} held-out of {len(paths)} textures, seeds {request.seed}-"
                         f"{request.seed + request.synthetic - 1}", result))
            report.scores["synthetic" if kind == "exact" else "synthetic_estimated"] = result.to_dict()
    if request.sweep is not None:
        sweep = request.sweep
        rows = run_sweep(pipe, load_textures(held_out), sweep, request.config,
                         progress=lambda done, total, label: note(f"sweep {done}/{total}: {label}"))
        say(f"\nsweep: {sweep.scenes} held-out scenes x {sweep.frames} frames per row, {len(held_out)} held-out textures, "
            f"estimated-like = edges {_estimated(sweep.edge_blur, sweep.edge_grow)}; PSNR dB (best in bold), "
            f"temporal lower is better\n\n{sweep_table(rows)}")
        report.scores["sweep"] = [{"width": r.width, "height": r.height, "pct": r.pct, "disparity": r.disparity,
                                   "hole_widths": list(r.hole_widths), **r.result.to_dict()} for r in rows]
    for pair in pairs:
        result = evaluate_pair(pipe, pair, request.config)
        valid = pair.disparity[pair.valid]
        say(_section(f"pair {pair.name}: {pair.left.shape[1]}x{pair.left.shape[0]}, true disparity "
                     f"{float(valid.min()):.0f}-{float(valid.max()):.0f} px", result))
        report.scores[f"pair_{pair.name}"] = result.to_dict()
    if sources:
        results = []
        for source in sources:
            results.append(evaluate_stereo(pipe, source.path, request.config, cache_dir=request.cache, max_side=request.max_side))
            note(f"evaluated {Path(source.path).name}: {results[-1].frames} frames")
        result = aggregate(results)
        say(_section(f"stereo: {len(sources)} clips, {result.frames} frames scored (every {request.config.every}), "
                     f"disparity from {request.config.match.method} matching, pixels failing its left-right check not scored", result))
        report.scores["stereo"] = result.to_dict()
    return report
