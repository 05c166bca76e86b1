"""The Evaluate tab's library side: score the variants on a real stereo clip against its right eye."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import video
from ..pipeline import VARIANTS, StereoPipeline
from .jobs import new_job
from .models import AppLimits, AppModels, ProgressFn, depth_missing_message, request_pipeline
from .stages import colorize_disparity

# --------------------------------------------------------------------------- evaluation


@dataclass(frozen=True)
class EvalJob:
    """A planned evaluation, as picklable plain values.

    Attributes:
        job_id, folder: the job folder.
        source_name: the upload's file name(s), for messages.
        left_path, right_path: ``(T, H, W, 3) uint8`` views saved as ``.npy``.
        disparity_path, valid_path: the pair's matched disparity (filled, ``float32`` px)
            and its left-right check (``bool``), ``(T, H, W)`` ``.npy``.
        disparity_source: ``"stereo"`` (the matched disparity drives the warp) or
            ``"depth"`` (the depth model does, scaled to the matched disparity).
        variants: variants to score.
        frames, width, height: what is scored.
        fps: frame rate of the clip (1.0 for an image pair).
        notes: changes made to the request (trimmed, downscaled), to show the user.
    """

    job_id: str
    folder: str
    source_name: str
    left_path: str
    right_path: str
    disparity_path: str
    valid_path: str
    disparity_source: str
    variants: tuple[str, ...]
    frames: int
    width: int
    height: int
    fps: float
    notes: tuple[str, ...] = ()


@dataclass
class EvalOutcome:
    """What the evaluation shows (picklable).

    Attributes:
        table: ``{"headers": [...], "data": [[method, value, ...], ...]}`` for ``gr.Dataframe``;
            values are floats rounded to 4 decimals, ``None`` where there is nothing to score.
        maps: ``(image, caption)`` error maps of a few evenly spaced frames per method.
        summary: a Markdown paragraph (frames, hole share, what could not run).
        markdown: the table as Markdown.
    """

    table: dict[str, list]
    maps: list[tuple[np.ndarray, str]]
    summary: str
    markdown: str


#: Error (mean absolute, [0, 1] scale) shown at full brightness in the error maps.
ERROR_MAP_MAX = 0.25


def plan_evaluation(
    stereo: str | os.PathLike | None,
    left: str | os.PathLike | None = None,
    right: str | os.PathLike | None = None,
    *,
    disparity_source: str = "stereo",
    variants: tuple[str, ...] | list[str] = ("poly",),
    max_seconds: float = 2.0,
    limits: AppLimits = AppLimits(),
    root: str | os.PathLike | None = None,
    progress: ProgressFn | None = None,
) -> EvalJob:
    """Decode a real stereo clip, match its disparity, and save what the scoring needs.

    Args:
        stereo: a side-by-side video or image (left half = left eye), or ``None``.
        left, right: the two eyes as separate files, when ``stereo`` is ``None``.
        disparity_source: ``"stereo"`` or ``"depth"`` (see :class:`EvalJob`).
        variants: variants to score.
        max_seconds: seconds scored from the start (at most ``limits.max_eval_seconds``).
        limits: the app's limits (``eval_side`` bounds each eye's size).
        root: where job folders go (``None`` = :func:`jobs_root`).
        progress: called as ``progress(done, total, stage)`` while matching.

    Returns:
        An :class:`EvalJob`.

    Raises:
        VideoError, ValueError: unreadable files, mismatched eyes, bad settings.
    """
    from ..data.stereo import StereoClipSource, StereoMatchConfig, fill_invalid, match_disparity

    if disparity_source not in ("stereo", "depth"):
        raise ValueError(f"disparity_source: expected 'stereo' or 'depth', got {disparity_source!r}")
    variants = tuple(variants)
    if not variants or any(v not in VARIANTS for v in variants):
        raise ValueError(f"variants: expected some of {', '.join(VARIANTS)}, got {list(variants)!r}")
    seconds = float(max_seconds)
    if not (math.isfinite(seconds) and 0 < seconds <= limits.max_eval_seconds):
        raise ValueError(f"max_seconds: expected (0, {limits.max_eval_seconds:g}] seconds, got {max_seconds!r}")
    pair = left is not None or right is not None
    if (stereo is not None and pair) or (stereo is None and (left is None or right is None)):
        raise ValueError("stereo: give a side-by-side file, or both a left and a right file")
    first = os.fspath(stereo if stereo is not None else left)
    info = video.probe(first, limits.video_limits())
    frames = 1 if info.is_image else max(1, min(info.frames, int(round(seconds * info.fps))))
    source = StereoClipSource(first, right=None if stereo is not None else os.fspath(right), max_frames=frames,
                              max_side=limits.eval_side, limits=limits.video_limits())
    lv, rv = source.load()
    names = Path(first).name if stereo is not None else f"{Path(first).name} + {Path(os.fspath(right)).name}"
    notes = _eval_notes(info, lv, stereo is not None, frames, limits)
    matched = np.empty(lv.shape[:3], np.float32)
    valid = np.empty(lv.shape[:3], bool)
    for t in range(len(lv)):  # frame by frame, to report progress
        matched[t], valid[t] = match_disparity(lv[t], rv[t], StereoMatchConfig())
        if progress is not None:
            progress(t + 1, len(lv), "stereo matching")
    job_id, folder = new_job(root)
    paths = {name: str(folder / f"{name}.npy") for name in ("left", "right", "disparity", "valid")}
    for name, arr in (("left", lv), ("right", rv), ("disparity", fill_invalid(matched, valid)), ("valid", valid)):
        np.save(paths[name], arr)
    return EvalJob(
        job_id=job_id, folder=str(folder), source_name=names, left_path=paths["left"], right_path=paths["right"],
        disparity_path=paths["disparity"], valid_path=paths["valid"], disparity_source=disparity_source,
        variants=variants, frames=len(lv), width=int(lv.shape[2]), height=int(lv.shape[1]),
        fps=1.0 if info.is_image else info.fps, notes=tuple(notes),
    )


def _eval_notes(
    info: video.VideoInfo, views: np.ndarray, side_by_side: bool, frames: int, limits: AppLimits
) -> list[str]:
    """Notes when the evaluation scores less than the whole upload."""
    notes = []
    if not info.is_image and frames < info.frames:
        notes.append(f"Scoring the first {frames / info.fps:.1f} s of {info.duration:.1f} s.")
    eye_w = info.width // 2 if side_by_side else info.width
    if views.shape[2] < eye_w:
        notes.append(
            f"Each eye was downscaled from {eye_w}x{info.height} to {views.shape[2]}x{views.shape[1]} "
            f"(the web app scores at most {limits.eval_side} px on the long side)."
        )
    return notes


def eval_gpu_seconds(job: EvalJob, *_: Any, **__: Any) -> int:
    """GPU time to request for an evaluation (the ZeroGPU ``duration`` callable), in [20, 300] s."""
    megapixels = job.width * job.height / 1e6
    per_frame = (0.05 + 0.4 * megapixels) * (len(job.variants) + 1) + (0.02 if job.disparity_source == "depth" else 0.0)
    return int(min(300, max(20, math.ceil(1.5 * (10.0 + job.frames * per_frame)))))


def fit_disparity(nearness: np.ndarray, matched: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Scale a depth model's nearness to pixels by least squares on the matched disparity.

    The model's nearness has no physical scale, so ``d = a * nearness + b`` is fitted to
    the pair's matched disparity on the pixels that passed the left-right check.

    Args:
        nearness: ``(T, H, W)`` float, larger = nearer.
        matched: ``(T, H, W)`` float32 matched disparity px.
        valid: ``(T, H, W)`` bool, True where ``matched`` is trusted.

    Returns:
        ``(T, H, W) float32`` disparity px (``a >= 0``; a flat fit when too few pixels are valid).
    """
    if not nearness.shape == matched.shape == valid.shape:
        shapes = f"{nearness.shape}, {valid.shape}"
        raise ValueError(f"nearness, valid: expected the shape of matched {matched.shape}, got {shapes}")
    x = nearness[valid][::7].astype(np.float64)
    y = matched[valid][::7].astype(np.float64)
    if x.size < 16 or np.ptp(x) == 0:
        level = float(np.median(y)) if y.size else 0.0
        return np.full(matched.shape, level, np.float32)
    a, b = np.polyfit(x, y, 1)
    a = max(float(a), 0.0)
    if a == 0.0:
        b = float(np.median(y))
    return (a * nearness + b).astype(np.float32)


def run_evaluation(models: AppModels, job: EvalJob, progress: ProgressFn | None = None) -> EvalOutcome:
    """Score the job's variants against the real right eye (the part that needs the GPU).

    Args:
        models: what :func:`load_models` loaded.
        job: from :func:`plan_evaluation`.
        progress: called as ``progress(done, total, stage)``.

    Returns:
        An :class:`EvalOutcome` (table, error maps, summary).
    """
    from ..evaluate import EvalConfig, evaluate_clip

    left, right = np.load(job.left_path), np.load(job.right_path)
    disparity, valid = np.load(job.disparity_path), np.load(job.valid_path)
    pipe = request_pipeline(models, divergence=2.0, convergence=0.5, depth_size=None)
    if job.disparity_source == "depth":
        if models.depth_model is None:
            from ..depth import DepthModelUnavailable

            raise DepthModelUnavailable(depth_missing_message(models.depth_error or "The depth model is not loaded."))
        nearness = _estimate_nearness(pipe, left, progress)
        disparity, valid = fit_disparity(nearness, disparity, valid), None
    if progress is not None:
        progress(0, job.frames, "scoring")
    config = EvalConfig(variants=job.variants, baselines=("telea",), disparity_source="given")
    result = evaluate_clip(pipe, left, right, disparity, config, valid=valid)
    if progress is not None:
        progress(job.frames, job.frames, "scoring")
    return EvalOutcome(
        table=_eval_table(result), maps=_eval_maps(result), summary=_eval_summary(job, result), markdown=result.table()
    )


def _estimate_nearness(pipe: StereoPipeline, left: np.ndarray, progress: ProgressFn | None) -> np.ndarray:
    """The depth model's stabilised nearness of every left frame, chunk by chunk."""
    estimator = pipe.depth_estimator
    estimator.reset()
    out = np.empty(left.shape[:3], np.float32)
    step = pipe.config.chunk
    for i in range(0, len(left), step):
        out[i : i + step] = estimator.process(left[i : i + step])
        if progress is not None:
            progress(min(i + step, len(left)), len(left), "depth")
    return out


def _eval_table(result: Any) -> dict[str, list]:
    """The result's rows as ``gr.Dataframe`` data."""
    cols = result.columns()
    data = [[name] + [_cell(row.get(c, math.nan)) for c in cols] for name, row in result.rows.items()]
    return {"headers": ["method", *cols], "data": data}


def _cell(value: float) -> float | None:
    """A finite value rounded to 4 decimals, else ``None``."""
    return round(float(value), 4) if math.isfinite(value) else None


def error_map_image(error: np.ndarray, vmax: float = ERROR_MAP_MAX) -> np.ndarray:
    """Colour-map a per-pixel error frame (0 = black, ``vmax`` or more = bright yellow).

    Args:
        error: ``(H, W)`` float error on the [0, 1] scale.
        vmax: error shown at full brightness.

    Returns:
        ``(H, W, 3) uint8`` RGB.
    """
    return colorize_disparity(np.asarray(error, np.float32), 0.0, vmax)


def _eval_maps(result: Any, per_method: int = 4) -> list[tuple[np.ndarray, str]]:
    """Error maps of up to ``per_method`` evenly spaced frames for every method."""
    items = []
    for name, maps in result.error_maps.items():
        picks = np.unique(np.linspace(0, len(maps) - 1, min(per_method, len(maps))).round().astype(int))
        for t in picks:
            items.append((error_map_image(maps[t]), f"{name}, frame {t}: MAE {float(maps[t].mean()):.4f}"))
    return items


def _eval_summary(job: EvalJob, result: Any) -> str:
    """A paragraph on what was scored."""
    how = "the pair's matched disparity"
    if job.disparity_source == "depth":
        how = "the depth model, scaled to the matched disparity"
    text = (
        f"Scored {result.frames} frame(s) of `{job.source_name}` at {job.width}x{job.height} per eye; warp driven by "
        f"{how}. Holes were {100 * result.hole_fraction:.1f} % of the pixels (the *-hole* columns score only them). "
        f"MAE and temporal: lower is better; PSNR (dB) and SSIM: higher is better. Error maps: black = exact, "
        f"yellow = error of {ERROR_MAP_MAX:g} or more."
    )
    for name, why in result.unavailable.items():
        text += f"\n\n*{name}* did not run: {why}"
    return text
