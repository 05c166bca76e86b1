"""Planning and running a conversion: the CPU half before the GPU, the GPU half, and its summary."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import video
from ..comfort import ComfortConfig
from ..compose import canonical_format, layout_tag
from ..disparity import DisparityConfig
from ..pipeline import DEFAULT_VARIANT, VARIANTS, ConvertResult
from .jobs import new_job
from .models import AppLimits, AppModels, ProgressFn, depth_missing_message, request_pipeline
from .sidecar import check_kind, prepare_disparity, prepare_nearness, resize_frame

@dataclass(frozen=True)
class ConvertJob:
    """Everything the GPU part needs, as picklable plain values (see the module docstring).

    Attributes:
        job_id: the job folder's name (32 hex digits).
        folder: the job folder.
        input_path: the file to convert (the upload, or its downscaled/trimmed copy).
        source_name: the upload's file name, for messages.
        is_image: a still image (outputs are PNG images).
        start: seconds to skip in ``input_path``.
        frames: frames to convert.
        fps: frame rate of ``input_path`` (1.0 for an image).
        width, height: frame size converted, px.
        disparity_path: prepared disparity ``.npy`` (frames of ``input_path``), or ``None``
            to estimate depth.
        fmt: the chosen output format.
        outputs: format -> path of every file to write (the chosen one, full SBS, anaglyph).
        variant: synthesis variant.
        divergence, convergence: 3D strength and screen plane.
        depth_size: short side fed to the depth model (``None`` = default).
        inspect: frames whose stages are kept.
        notes: changes made to the request (downscaled, trimmed), to show the user.
        strength: ``"auto"`` (divergence and convergence per shot for ``display``) or ``"fixed"``.
        display: ``"headset"``, ``"tv"`` or ``"phone"`` (:mod:`spatialme.comfort.displays`).
        depth_path: prepared nearness ``.npy`` (larger = nearer) for automatic strength with a
            depth sidecar, or ``None``.
        report_path: ``PATH`` of the depth-budget report (``PATH.json``, ``PATH.png``), or ``None``.
        sidecar_kind: what the uploaded sidecar held (``"disparity"``, ``"nearness"``, ``"distance"``), or ``None``.
    """

    job_id: str
    folder: str
    input_path: str
    source_name: str
    is_image: bool
    start: float
    frames: int
    fps: float
    width: int
    height: int
    disparity_path: str | None
    fmt: str
    outputs: dict[str, str]
    variant: str
    divergence: float
    convergence: float
    depth_size: int | None
    inspect: int
    notes: tuple[str, ...] = ()
    strength: str = "fixed"
    display: str = "headset"
    depth_path: str | None = None
    report_path: str | None = None
    sidecar_kind: str | None = None

    @property
    def needs_depth(self) -> bool:
        """Whether the depth model has to run (no sidecar)."""
        return self.disparity_path is None and self.depth_path is None


# --------------------------------------------------------------------------- planning


def probe_upload(source: str | os.PathLike, limits: AppLimits = AppLimits()) -> video.VideoInfo:
    """Probe an upload against the app's hard limits (a broken or oversized file raises ``VideoError``)."""
    return video.probe(source, limits.video_limits())


def work_size(width: int, height: int, max_side: int) -> tuple[int, int]:
    """Frame size after fitting the long side into ``max_side``, both sides even.

    Args:
        width, height: input size, px.
        max_side: longest side allowed, px.

    Returns:
        ``(width, height)``: unchanged when it fits, else scaled down keeping the aspect
        ratio and rounded to even numbers (H.264 needs them).
    """
    if max(width, height) <= max_side:
        return width, height
    scale = max_side / max(width, height)
    return max(2, int(round(width * scale / 2)) * 2), max(2, int(round(height * scale / 2)) * 2)


def output_paths(source_name: str, folder: str | os.PathLike, fmt: str, image: bool) -> dict[str, str]:
    """Name the chosen format's file and the full-SBS and anaglyph files written with it.

    Names carry the layout tags VR players read (``clip_LR.mp4``, ``clip_HSBS.mp4``, ...);
    the colour and grey anaglyphs get their own tags so they never collide with the
    Dubois one.

    Returns:
        format -> path, the chosen format first.
    """
    fmt = canonical_format(fmt)
    paths: dict[str, str] = {}
    for f in dict.fromkeys((fmt, "full-sbs", "anaglyph")):
        tag = layout_tag(f) if f not in ("anaglyph-color", "anaglyph-gray") else "_" + f.replace("-", "_")
        paths[f] = video.output_name(source_name, folder, tag, image)
    return paths


def plan_conversion(
    source: str | os.PathLike,
    *,
    fmt: str = "full-sbs",
    variant: str = DEFAULT_VARIANT,
    divergence: float = 2.0,
    convergence: float = 0.5,
    depth_size: int | None = None,
    start: float = 0.0,
    max_seconds: float = 10.0,
    sidecar: str | os.PathLike | None = None,
    sidecar_kind: str = "disparity",
    limits: AppLimits = AppLimits(),
    root: str | os.PathLike | None = None,
    progress: ProgressFn | None = None,
    strength: str = "fixed",
    display: str = "headset",
) -> ConvertJob:
    """Check an upload against the web limits and prepare everything the GPU part needs.

    Args:
        source: the uploaded video or image.
        fmt: output format (see :data:`FORMAT_CHOICES`).
        variant: synthesis variant.
        divergence, convergence: 3D strength (% of width) and screen plane (0..1).
        depth_size: short side fed to the depth model (``None`` or 0 = default).
        start: seconds to skip at the start of a video.
        max_seconds: most seconds to convert (at most ``limits.max_convert_seconds``).
        sidecar: optional disparity or depth file (see :data:`SIDECAR_KINDS`).
        sidecar_kind: ``"disparity"``, ``"nearness"`` or ``"distance"``.
        limits: the app's limits.
        root: where job folders go (``None`` = :func:`jobs_root`).
        progress: called as ``progress(done, total, stage)`` while downscaling.
        strength: ``"auto"``: divergence and convergence per shot for ``display`` (from the
            depth model or a depth sidecar; a disparity sidecar's pixels are used as they are);
            ``"fixed"``: ``divergence`` and ``convergence``.
        display: ``"headset"``, ``"tv"`` or ``"phone"``.

    Returns:
        A :class:`ConvertJob`; ``notes`` lists what was changed (downscaled, trimmed).

    Raises:
        VideoError: the upload (or a sidecar video) is not readable or beyond the limits.
        ValueError: a bad setting, or a sidecar that does not fit the upload.
    """
    fmt = canonical_format(fmt)
    if variant not in VARIANTS:
        raise ValueError(f"variant: expected one of {', '.join(VARIANTS)}, got {variant!r}")
    DisparityConfig(divergence, convergence)  # validates both
    ComfortConfig(strength=strength, display=display)  # validates both
    start, max_seconds = _check_window(start, max_seconds, limits)
    kind = check_kind(sidecar_kind)
    info = probe_upload(source, limits)
    name = Path(os.fspath(source)).name
    first = 0 if info.is_image else int(round(start * info.fps))
    if not info.is_image and first >= info.frames:
        raise ValueError(f"start: {start:g} s is at or past the end of {name} ({info.duration:.1f} s)")
    total = 1 if info.is_image else max(1, min(info.frames - first, int(math.floor(max_seconds * info.fps + 1e-6))))
    notes = _window_notes(info, start, first, total)
    job_id, folder = new_job(root)
    width, height = work_size(info.width, info.height, limits.work_side)
    input_path, offset = str(info.path), first
    if (width, height) != (info.width, info.height):
        notes.append(
            f"{name} is {info.width}x{info.height}; the web app converts at most {limits.work_side} px on the long "
            f"side, so it was downscaled to {width}x{height} (the command line converts full resolution)."
        )
        input_path = _downscale(info, folder, width, height, start, total, limits, progress)
        start, offset = 0.0, 0
    disparity_path = depth_path = None
    if sidecar is not None and kind == "disparity":
        strength = "fixed"  # pixels are used as they are: there is no depth to choose a strength from
    if sidecar is not None and strength == "auto":
        depth_path = prepare_nearness(
            sidecar, kind, info, folder / "nearness.npy", size=(width, height), first=first, total=total,
            offset=offset, start_s=first / info.fps, limits=limits,
        )
    elif sidecar is not None:
        disparity_path = prepare_disparity(
            sidecar, kind, info, folder / "disparity.npy", size=(width, height), first=first, total=total,
            offset=offset, divergence=divergence, convergence=convergence, start_s=first / info.fps, limits=limits,
        )
    return ConvertJob(
        job_id=job_id, folder=str(folder), input_path=input_path, source_name=name, is_image=info.is_image,
        start=start, frames=total, fps=info.fps, width=width, height=height, disparity_path=disparity_path,
        fmt=fmt, outputs=output_paths(name, folder, fmt, info.is_image), variant=variant,
        divergence=float(divergence), convergence=float(convergence), depth_size=depth_size or None,
        inspect=min(limits.inspect_frames, total), notes=tuple(notes), strength=strength, display=display,
        depth_path=depth_path, report_path=str(folder / "depth_budget"), sidecar_kind=kind if sidecar is not None else None,
    )


def _check_window(start: Any, max_seconds: Any, limits: AppLimits) -> tuple[float, float]:
    """Validate the time window; returns ``(start, max_seconds)`` as floats."""
    try:
        start_f, seconds_f = float(start or 0.0), float(max_seconds)
    except (TypeError, ValueError):
        raise ValueError(f"start, max_seconds: expected numbers, got {start!r}, {max_seconds!r}") from None
    if not (math.isfinite(start_f) and start_f >= 0):
        raise ValueError(f"start: expected seconds >= 0, got {start!r}")
    if not (math.isfinite(seconds_f) and 0 < seconds_f <= limits.max_convert_seconds):
        raise ValueError(f"max_seconds: expected (0, {limits.max_convert_seconds:g}] seconds, got {max_seconds!r}")
    return start_f, seconds_f


def _window_notes(info: video.VideoInfo, start: float, first: int, total: int) -> list[str]:
    """A note when only part of a video is converted."""
    to_end = first + total >= info.frames
    if info.is_image or (to_end and first == 0):
        return []
    if to_end:
        return [f"Converting from {start:g} s to the end ({total / info.fps:.1f} s of {info.duration:.1f} s)."]
    return [
        f"Converting {total / info.fps:.1f} s of {info.duration:.1f} s (from {start:g} s); raise 'Max seconds' "
        "or use the command line for the whole clip."
    ]


def _downscale(info: video.VideoInfo, folder: Path, width: int, height: int, start: float, total: int,
               limits: AppLimits, progress: ProgressFn | None) -> str:
    """Write the downscaled (and, for a video, trimmed) working copy; returns its path."""
    stem = Path(info.path).stem
    if info.is_image:
        out = folder / "input" / f"{stem}.png"
        out.parent.mkdir(parents=True, exist_ok=True)
        video.write_image(out, resize_frame(video.read_image(info.path), width, height))
        return str(out)
    out = folder / "input" / f"{stem}.mp4"
    resize_video(info, out, (width, height), start=start, frames=total, limits=limits.video_limits(), progress=progress)
    return str(out)


def resize_video(
    info: video.VideoInfo,
    output: str | os.PathLike,
    size: tuple[int, int],
    *,
    start: float = 0.0,
    frames: int | None = None,
    limits: video.VideoLimits = video.VideoLimits(),
    progress: ProgressFn | None = None,
) -> str:
    """Write a resized, trimmed copy of a video (H.264, near-lossless, audio kept in sync).

    Args:
        info: the probed source.
        output: the ``.mp4`` to write.
        size: ``(width, height)`` of the copy, px (even numbers).
        start: first second copied.
        frames: most frames copied (``None`` = to the end).
        limits: decoding limits.
        progress: called as ``progress(done, total, "downscaling")`` after each chunk.

    Returns:
        The path written.
    """
    width, height = size
    total = frames or info.frames
    audio = info.path if info.has_audio else None
    done = 0
    writer = video.VideoWriter(output, info.fps, audio_source=audio, audio_start=start, crf=14, preset="veryfast")
    with writer:
        for chunk in video.read_frames(info, start=start, max_frames=frames, limits=limits):
            writer.write(np.stack([resize_frame(f, width, height) for f in chunk]))
            done += len(chunk)
            if progress is not None:
                progress(min(done, total), total, "downscaling")
    return os.fspath(output)


# --------------------------------------------------------------------------- running


#: GPU-machine seconds per megapixel of input frame, per variant, synthesis and encoding of
#: the outputs included (depth separately below). ``full``: 0.773 s per 1080p frame measured
#: on an H200 (issue 9, before the torch kernels of :mod:`spatialme.torch_path`), i.e.
#: 0.37 s/Mpx; ``dl`` and ``dl+de`` run a subset of its stages, so its figure bounds theirs
#: until ``benchmarks/bench_convert.py --device cuda`` measures each. ``poly``: warp, the
#: Poly kernel (CPU) and encoding, 0.15 s/Mpx as measured for the first Space.
GPU_SECONDS_PER_MEGAPIXEL = {"poly": 0.15, "dl": 0.37, "dl+de": 0.37, "full": 0.37}
#: Depth Anything V2 Small at 518 px in fp16, per frame, with its resizing (A100: 8 ms for the network).
DEPTH_SECONDS_PER_FRAME = 0.02


def gpu_seconds(job: ConvertJob, *_: Any, **__: Any) -> int:
    """GPU time to request for a job (the ZeroGPU ``duration`` callable).

    Frames x megapixels x the variant's measured cost (:data:`GPU_SECONDS_PER_MEGAPIXEL`),
    plus depth per frame when no sidecar came, plus 10 s of start-up, with a 1.5x margin.
    Clamped to [20, 300] s.

    Args:
        job: the planned job (other arguments, such as progress, are ignored).

    Returns:
        Seconds.
    """
    megapixels = job.width * job.height / 1e6
    per_frame = 0.01 + GPU_SECONDS_PER_MEGAPIXEL.get(job.variant, max(GPU_SECONDS_PER_MEGAPIXEL.values())) * megapixels
    per_frame += DEPTH_SECONDS_PER_FRAME if job.needs_depth else 0.0
    seconds = 1.5 * (10.0 + job.frames * per_frame)
    return int(min(300, max(20, math.ceil(seconds))))


def run_conversion(models: AppModels, job: ConvertJob, progress: ProgressFn | None = None) -> ConvertResult:
    """Run the pipeline for a planned job (the part that needs the GPU).

    Args:
        models: what :func:`load_models` loaded.
        job: from :func:`plan_conversion`.
        progress: called as ``progress(done, total, stage)``.

    Returns:
        The pipeline's :class:`~spatialme.pipeline.ConvertResult` (paths and numpy stages;
        picklable).

    Raises:
        VariantUnavailable, VideoError, ValueError: from the pipeline.
        DepthModelUnavailable: the job needs depth and the model is missing.
    """
    if job.needs_depth and models.depth_model is None:
        from ..depth import DepthModelUnavailable

        raise DepthModelUnavailable(depth_missing_message(models.depth_error or "The depth model is not loaded."))
    pipe = request_pipeline(models, divergence=job.divergence, convergence=job.convergence, depth_size=job.depth_size)
    extras = {f: p for f, p in job.outputs.items() if f != job.fmt}
    return pipe.convert(
        job.input_path, job.outputs[job.fmt], fmt=job.fmt, variant=job.variant, disparity=job.disparity_path,
        start=job.start, max_frames=job.frames, progress=progress, extra_outputs=extras, inspect=job.inspect,
        depth=job.depth_path, comfort=ComfortConfig(strength=job.strength, display=job.display), report=job.report_path,
    )


def summary_markdown(job: ConvertJob, result: ConvertResult) -> str:
    """One paragraph describing what was converted and how fast."""
    rate = result.frames / result.seconds if result.seconds > 0 else float("inf")
    seconds = result.frames / job.fps
    what = "1 image" if job.is_image else f"{result.frames} frames ({seconds:.1f} s at {job.fps:.3g} fps)"
    depth = "the uploaded sidecar" if not job.needs_depth else "the depth model"
    return (
        f"**Converted** {what} of `{job.source_name}` at {job.width}x{job.height}, variant **{job.variant}**, "
        f"{_strength_text(job, result)}; disparity from {depth}. {result.seconds:.1f} s ({rate:.1f} frames/s)."
    )


def _strength_text(job: ConvertJob, result: ConvertResult) -> str:
    """How strong the 3D was: the fixed settings, or what automatic strength chose per shot."""
    report = _read_report(result)
    if job.strength != "auto" or report is None:
        if job.sidecar_kind == "disparity":
            return "strength as in the sidecar's pixels"
        return f"divergence {job.divergence:g} %, convergence {job.convergence:g}"
    shots = report["shots"]
    lo, hi = report["band_pct"]
    divergences = [s["divergence"] for s in shots]
    spread = f"{min(divergences):.2f}" if len(set(divergences)) == 1 else f"{min(divergences):.2f}-{max(divergences):.2f}"
    windows = sum(s["window"] for s in shots)
    pulled = sum(s["pulled"] for s in shots)
    extra = "".join([f", floating windows in {windows}" if windows else "", f", screen pulled back in {pulled}" if pulled else ""])
    return (f"automatic strength for a {job.display} (comfort band {lo:.2f}-{hi:.2f} % of the width): "
            f"{len(shots)} shot{'s' if len(shots) != 1 else ''}, divergence {spread} %{extra}")


def _read_report(result: ConvertResult) -> dict | None:
    """The conversion's depth-budget report, if it wrote one."""
    import json

    path = result.report.get("json") if getattr(result, "report", None) else None
    if not path:
        return None
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


