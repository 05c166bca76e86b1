"""Library side of the web app (``app.py``): plan a job, run it, and turn its stages into pictures.

Why it is built this way
------------------------
``app.py`` stays a thin Gradio layer; everything it needs that is not UI lives here, so it
is tested without a browser and reused by other front ends.

* **Two halves around the GPU.** On a ZeroGPU Space the function that holds the GPU runs
  in a forked worker and everything crossing into and out of it is pickled, and every
  second inside it counts against the visitor's quota. So a conversion is split:
  :func:`plan_conversion` (CPU, before the GPU) probes the upload, enforces the web
  limits, downscales or trims when needed and turns a sidecar into a disparity ``.npy``,
  all into a :class:`ConvertJob` made of plain strings and numbers; :func:`run_conversion`
  (the GPU part) only runs the pipeline and returns a picklable
  :class:`~spatialme.pipeline.ConvertResult` (paths and numpy arrays);
  :func:`publish_conversion` (CPU, after) stores the inspected stages for the frame slider.
  :func:`gpu_seconds` sizes the GPU request from the clip's length and frame size.
* **Limits.** Hostile or huge uploads are rejected by :func:`spatialme.video.probe` with
  a one-line reason (:class:`AppLimits` sets the hard caps); large but acceptable inputs
  are downscaled to :attr:`AppLimits.work_side` on the long side and trimmed to the
  requested seconds, and each such change is reported as a note the app shows as a
  warning.
* **Sidecars.** A disparity ``.npy`` (pixels) is used as is when it fits; a depth sidecar
  (``.npy``, or a grey video/image where white is near) is normalised robustly
  (2nd..98th percentile) and mapped to disparity with the user's divergence and
  convergence. Any sidecar with the input's aspect ratio is resized to the working size;
  disparity in pixels scales with the width.
* **Stages.** The inspected frames' stages are saved as one uncompressed ``.npz`` per
  frame in the job folder, and pictures are built on demand for the frame the slider
  shows (:func:`stage_view`): colour-mapped depth, the warped view with its holes in
  magenta, the hole mask, every branch, the refiner's masks and content when the pipeline
  reports them, and the final right view.
* **Files.** Every job writes under ``<tempdir>/spatialme-app/<32 hex id>/`` (a place
  Gradio may serve); :func:`prune_jobs` removes folders older than an hour.
"""

from __future__ import annotations

import copy
import json
import math
import os
import re
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from . import video
from .compose import FORMATS, canonical_format, layout_tag
from .disparity import DisparityConfig, depth_to_disparity
from .pipeline import DEFAULT_VARIANT, VARIANTS, ConvertResult, StageFrame, StereoPipeline, VariantUnavailable

__all__ = [
    "BRANCH_VIEWS",
    "AppLimits",
    "AppModels",
    "ConvertJob",
    "DEPTH_SIZE_CHOICES",
    "EvalJob",
    "EvalOutcome",
    "FORMAT_CHOICES",
    "SIDECAR_KINDS",
    "StageView",
    "VARIANT_CHOICES",
    "colorize_disparity",
    "depth_missing_message",
    "error_map_image",
    "eval_gpu_seconds",
    "fit_disparity",
    "gpu_seconds",
    "job_folder",
    "keep_job",
    "load_models",
    "mask_image",
    "new_job",
    "output_paths",
    "overlay_holes",
    "plan_conversion",
    "plan_evaluation",
    "prepare_disparity",
    "probe_upload",
    "prune_jobs",
    "publish_conversion",
    "request_pipeline",
    "resize_video",
    "run_conversion",
    "run_evaluation",
    "stage_summary",
    "stage_view",
    "summary_markdown",
    "variant_status",
    "work_size",
]

ProgressFn = Callable[[int, int, str], None]

#: Output formats offered in the app, as ``(label, format)`` pairs, in :data:`FORMATS` order.
FORMAT_CHOICES: tuple[tuple[str, str], ...] = (
    ("Full side-by-side (VR headsets)", "full-sbs"),
    ("Half side-by-side (3D TVs)", "half-sbs"),
    ("Full top-bottom", "full-tb"),
    ("Half top-bottom", "half-tb"),
    ("Cross-eyed (right | left)", "cross"),
    ("Right eye only", "right"),
    ("Anaglyph red-cyan (Dubois)", "anaglyph"),
    ("Anaglyph, colour", "anaglyph-color"),
    ("Anaglyph, grey", "anaglyph-gray"),
)
assert tuple(f for _, f in FORMAT_CHOICES) == FORMATS  # every format has a label

#: Synthesis variants (paper Table III rows) as ``(label, variant)`` pairs.
VARIANT_CHOICES: tuple[tuple[str, str], ...] = (
    ("Poly", "poly"),
    ("DL", "dl"),
    ("DL + DE", "dl+de"),
    ("Full (MHFU refiner)", "full"),
)
assert tuple(v for _, v in VARIANT_CHOICES) == VARIANTS

#: Short side fed to the depth model, ``(label, px)``; 0 = the pipeline's default.
DEPTH_SIZE_CHOICES: tuple[tuple[str, int], ...] = (
    ("Auto (518 on GPU, 364 on CPU)", 0),
    ("252 (fastest)", 252),
    ("364", 364),
    ("518 (the model's training size)", 518),
    ("756 (finest, slowest)", 756),
)

#: What a sidecar file holds, ``(label, kind)``.
SIDECAR_KINDS: tuple[tuple[str, str], ...] = (
    ("Disparity in pixels (.npy)", "disparity"),
    ("Depth, larger = nearer (inverse depth; .npy or grey video/image)", "nearness"),
    ("Depth, larger = farther (distance; .npy or grey video/image)", "distance"),
)

_JOB_ID = re.compile(r"[0-9a-f]{32}")
_BRANCH_LABELS = {"poly": "Poly branch", "dl": "DL branch", "de": "DE branch"}
_REFINER_LABELS = {"m1": "Refiner mask M1", "m2": "Refiner mask M2", "m3": "Refiner mask M3", "c": "Refiner content C"}
_WARPED = "Warped (holes in magenta)"
_KEEP = "KEEP"  # marker file of a job prune_jobs leaves alone

#: Every view that can be compared with the final right view, in display order.
BRANCH_VIEWS: tuple[str, ...] = (*_BRANCH_LABELS.values(), _REFINER_LABELS["c"], _WARPED)
_HOLE_RGB = (255, 0, 255)


@dataclass(frozen=True)
class AppLimits:
    """What the web app accepts and how much it converts.

    Attributes:
        work_side: longest side converted, px; larger inputs are downscaled (with a note).
        max_side: longest side accepted at all, px; larger uploads are rejected.
        max_upload_seconds: longest video accepted, s; longer uploads are rejected.
        max_convert_seconds: most seconds converted in one run (the app's slider maximum).
        inspect_frames: frames whose every stage is kept for the frame slider.
        eval_side: longest side of each eye scored in the evaluation, px (larger are shrunk).
        max_eval_seconds: most seconds scored in one evaluation.
        timeout_s: ffmpeg stall timeout for probing and decoding, s.
    """

    work_side: int = 1280
    max_side: int = 4096
    max_upload_seconds: float = 600.0
    max_convert_seconds: float = 30.0
    inspect_frames: int = 8
    eval_side: int = 960
    max_eval_seconds: float = 5.0
    timeout_s: float = 60.0

    def __post_init__(self) -> None:
        if not 16 <= self.work_side <= self.max_side:
            raise ValueError(f"work_side: expected 16 <= work_side <= max_side={self.max_side}, got {self.work_side}")
        if not 0 < self.max_convert_seconds <= self.max_upload_seconds:
            raise ValueError(
                f"max_convert_seconds: expected (0, {self.max_upload_seconds}], got {self.max_convert_seconds}"
            )
        if self.inspect_frames < 1:
            raise ValueError(f"inspect_frames: expected >= 1, got {self.inspect_frames}")

    def video_limits(self) -> video.VideoLimits:
        """The probe limits for an upload."""
        return video.VideoLimits(
            max_side=self.max_side,
            max_pixels=self.max_side * self.max_side,
            max_seconds=self.max_upload_seconds,
            timeout_s=self.timeout_s,
        )


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

    @property
    def needs_depth(self) -> bool:
        """Whether the depth model has to run (no sidecar)."""
        return self.disparity_path is None


@dataclass
class AppModels:
    """The models the app loads once at start-up.

    Attributes:
        pipeline: the stereo pipeline (learned weights, if any, loaded).
        depth_model: the loaded :class:`spatialme.depth.DepthModel`, or ``None``.
        depth_error: why the depth model is missing (one line), or ``None``.
    """

    pipeline: StereoPipeline
    depth_model: Any = None
    depth_error: str | None = None


@dataclass
class StageView:
    """Pictures of one inspected frame, ready for Gradio components.

    Attributes:
        gallery: ``(image, caption)`` pairs, uint8 RGB (masks as grey RGB).
        left_right: ``(left, final right)`` for an image slider.
        branch_pair: ``(chosen branch, final right)`` for an image slider.
        branches: names offered for ``branch_pair``, in display order.
        branch: the name shown in ``branch_pair``.
        caption: one line naming the frame.
    """

    gallery: list[tuple[np.ndarray, str]]
    left_right: tuple[np.ndarray, np.ndarray]
    branch_pair: tuple[np.ndarray, np.ndarray]
    branches: list[str]
    branch: str
    caption: str


# --------------------------------------------------------------------------- models


def load_models(depth_model: str | None = None, device: str = "auto") -> AppModels:
    """Build the pipeline and load the depth model once, never failing on a missing model.

    Args:
        depth_model: Hub id or local folder of the depth model (``None`` = the pinned
            Depth Anything V2 Small).
        device: ``"auto"``, ``"cpu"`` or ``"cuda[:N]"``; on a ZeroGPU Space ``"auto"``
            picks CUDA (emulated until a GPU function runs).

    Returns:
        :class:`AppModels`; ``depth_error`` holds the one-line reason when the depth model
        could not be loaded (for example: not cached and no network).
    """
    from .depth import DepthModelUnavailable

    overrides: dict[str, Any] = {"device": device}
    if depth_model:
        overrides["depth_model"] = depth_model
    pipe = StereoPipeline.from_pretrained(**overrides)
    try:
        estimator = pipe.depth_estimator  # loads the weights onto the device now
    except DepthModelUnavailable as err:
        return AppModels(pipeline=pipe, depth_error=str(err))
    return AppModels(pipeline=pipe, depth_model=estimator.model)


def variant_status(pipe: StereoPipeline) -> dict[str, str | None]:
    """Which variants this installation can run, loading their learned parts once.

    Uses the pipeline's own availability check, which loads the weights a variant needs
    (onto the pipeline's device, as ZeroGPU wants at start-up) but runs no network, so it
    is safe outside a GPU function.

    Args:
        pipe: the app's pipeline.

    Returns:
        variant -> ``None`` when it runs, else a one-line reason.
    """
    status: dict[str, str | None] = {}
    for variant in VARIANTS:
        try:
            pipe.check_variant(variant)
            status[variant] = None
        except VariantUnavailable as err:
            status[variant] = str(err)
        except Exception as err:  # a broken weights file must not stop the app from starting
            status[variant] = f"variant: {variant!r} is unavailable: {type(err).__name__}: {err}"
    return status


def request_pipeline(
    models: AppModels, *, divergence: float, convergence: float, depth_size: int | None
) -> StereoPipeline:
    """A pipeline for one request that shares the loaded networks but no per-clip state.

    The depth stabiliser and scene-cut detector remember the previous frames, so every
    request gets its own estimator around the shared network (a shallow copy of the depth
    model carries the request's input size).

    Args:
        models: what :func:`load_models` loaded.
        divergence: 3D strength, % of the width (0..10).
        convergence: screen plane, 0 (far) .. 1 (near).
        depth_size: short side fed to the depth model, px (``None`` = default).

    Returns:
        A new :class:`StereoPipeline`.
    """
    from .depth import DepthEstimator

    base = models.pipeline
    config = replace(base.config, disparity=DisparityConfig(divergence, convergence), depth_input_size=depth_size)
    estimator = None
    if models.depth_model is not None:
        model = copy.copy(models.depth_model)
        if hasattr(model, "input_size"):
            model.input_size = depth_size
        estimator = DepthEstimator(model=model)
    return base.derive(config=config, depth_estimator=estimator)


def depth_missing_message(reason: str) -> str:
    """The library's depth-model error, plus how to get a result in the web app."""
    return (
        f"{reason} In this app: upload a disparity or depth sidecar under 'Advanced', or try the "
        "'garden' example (it ships its disparity)."
    )


# --------------------------------------------------------------------------- job folders


def jobs_root() -> Path:
    """Folder holding every job folder: ``<tempdir>/spatialme-app``."""
    return Path(tempfile.gettempdir()) / "spatialme-app"


def new_job(root: str | os.PathLike | None = None) -> tuple[str, Path]:
    """Create a fresh job folder.

    Args:
        root: parent folder (``None`` = :func:`jobs_root`).

    Returns:
        ``(job_id, folder)``.
    """
    job_id = uuid.uuid4().hex
    folder = Path(root or jobs_root()) / job_id
    folder.mkdir(parents=True, exist_ok=False)
    return job_id, folder


def job_folder(job_id: str, root: str | os.PathLike | None = None) -> Path:
    """The folder of an existing job, refusing anything that is not a job id.

    Raises:
        ValueError: ``job_id`` is not 32 hex digits, or the folder is gone (expired).
    """
    if not isinstance(job_id, str) or not _JOB_ID.fullmatch(job_id):
        raise ValueError("job_id: not a job of this app")
    folder = Path(root or jobs_root()) / job_id
    if not folder.is_dir():
        raise ValueError("job_id: this result has expired; convert again")
    return folder


def keep_job(job_id: str, root: str | os.PathLike | None = None) -> None:
    """Exempt a job from :func:`prune_jobs` (a cached example's stages stay browsable)."""
    (job_folder(job_id, root) / _KEEP).touch()


def prune_jobs(max_age_s: float = 3600.0, root: str | os.PathLike | None = None) -> int:
    """Delete job folders not modified for ``max_age_s`` seconds (except kept ones).

    Returns:
        How many folders were removed.
    """
    base = Path(root or jobs_root())
    if not base.is_dir():
        return 0
    cutoff = time.time() - max_age_s
    removed = 0
    for child in base.iterdir():
        old = child.is_dir() and _JOB_ID.fullmatch(child.name) and child.stat().st_mtime < cutoff
        if old and not (child / _KEEP).exists():
            shutil.rmtree(child, ignore_errors=True)
            removed += 1
    return removed


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
    start, max_seconds = _check_window(start, max_seconds, limits)
    kind = _check_kind(sidecar_kind)
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
    disparity_path = None
    if sidecar is not None:
        disparity_path = prepare_disparity(
            sidecar, kind, info, folder / "disparity.npy", size=(width, height), first=first, total=total,
            offset=offset, divergence=divergence, convergence=convergence, start_s=first / info.fps, limits=limits,
        )
    return ConvertJob(
        job_id=job_id, folder=str(folder), input_path=input_path, source_name=name, is_image=info.is_image,
        start=start, frames=total, fps=info.fps, width=width, height=height, disparity_path=disparity_path,
        fmt=fmt, outputs=output_paths(name, folder, fmt, info.is_image), variant=variant,
        divergence=float(divergence), convergence=float(convergence), depth_size=depth_size or None,
        inspect=min(limits.inspect_frames, total), notes=tuple(notes),
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


def _check_kind(kind: str) -> str:
    """Validate a sidecar kind."""
    kinds = tuple(k for _, k in SIDECAR_KINDS)
    if kind not in kinds:
        raise ValueError(f"sidecar_kind: expected one of {', '.join(kinds)}, got {kind!r}")
    return kind


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
        video.write_image(out, _resize(video.read_image(info.path), width, height))
        return str(out)
    out = folder / "input" / f"{stem}.mp4"
    resize_video(info, out, (width, height), start=start, frames=total, limits=limits.video_limits(), progress=progress)
    return str(out)


def _resize(frame: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resize one ``(H, W, C)`` or ``(H, W)`` frame with area averaging (shrinking) or bilinear."""
    if frame.shape[1] == width and frame.shape[0] == height:
        return frame
    shrink = width < frame.shape[1]
    interpolation = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
    return cv2.resize(np.ascontiguousarray(frame), (width, height), interpolation=interpolation)


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
            writer.write(np.stack([_resize(f, width, height) for f in chunk]))
            done += len(chunk)
            if progress is not None:
                progress(min(done, total), total, "downscaling")
    return os.fspath(output)


# --------------------------------------------------------------------------- sidecars


def prepare_disparity(
    sidecar: str | os.PathLike,
    kind: str,
    info: video.VideoInfo,
    output: str | os.PathLike,
    *,
    size: tuple[int, int],
    first: int,
    total: int,
    offset: int,
    divergence: float = 2.0,
    convergence: float = 0.5,
    start_s: float = 0.0,
    limits: AppLimits = AppLimits(),
) -> str:
    """Turn a sidecar into the disparity ``.npy`` the pipeline reads for the working input.

    Args:
        sidecar: a ``.npy`` (``(T, H, W)``, or ``(H, W)`` for an image) or, for the depth
            kinds, a grey video or image (white = near for ``"nearness"``).
        kind: ``"disparity"`` (px at the sidecar's width), ``"nearness"`` (larger = nearer)
            or ``"distance"`` (larger = farther).
        info: the probed upload.
        output: where to write the prepared ``.npy`` when one is needed.
        size: ``(width, height)`` of the working input, px.
        first: index of the first converted frame in the upload.
        total: frames converted.
        offset: index of the first converted frame in the working input (0 when it was
            trimmed, else ``first``).
        divergence, convergence: mapping of depth kinds to pixels.
        start_s: time of frame ``first``, s (to seek in a depth video).
        limits: probe limits for a sidecar video.

    Returns:
        Path of a ``(offset + total, height, width)`` float32 disparity ``.npy`` (frames
        before ``offset`` are zero and never read); the sidecar itself when it already fits.

    Raises:
        ValueError: wrong kind of file, aspect ratio, or too few frames (the message says which).
    """
    kind = _check_kind(kind)
    name = Path(os.fspath(sidecar)).name
    width, height = size
    frames = _sidecar_frames(sidecar, kind, info, first, total, start_s, limits)
    src_h, src_w = frames.shape[1:3]
    if abs(src_w / src_h - info.width / info.height) > 0.02 * info.width / info.height:
        raise ValueError(
            f"sidecar: {name} is {src_w}x{src_h} but the video is {info.width}x{info.height}; they must have the same "
            "aspect ratio"
        )
    is_npy = Path(os.fspath(sidecar)).suffix.lower() == ".npy"
    if kind == "disparity" and is_npy and (src_w, src_h) == (width, height) and offset == first:
        return os.fspath(sidecar)  # fits as is: the pipeline memory-maps it
    shape = (offset + total, height, width)
    out = np.lib.format.open_memmap(os.fspath(output), mode="w+", dtype=np.float32, shape=shape)
    if kind == "disparity":
        scale = np.float32(width / src_w)
        for i in range(total):
            out[offset + i] = _resize(np.asarray(frames[i], np.float32), width, height) * scale
    else:
        lo, hi = _nearness_range(frames, kind)
        config = DisparityConfig(divergence, convergence)
        for i in range(total):
            near = (_nearness(np.asarray(frames[i], np.float32), kind) - lo) / (hi - lo)
            out[offset + i] = depth_to_disparity(_resize(np.clip(near, 0.0, 1.0), width, height), config)
    out.flush()
    del out
    return os.fspath(output)


def _sidecar_frames(sidecar: str | os.PathLike, kind: str, info: video.VideoInfo, first: int, total: int,
                    start_s: float, limits: AppLimits) -> np.ndarray:
    """The sidecar's ``total`` frames from ``first`` as a ``(total, h, w)`` array (memory-mapped for .npy)."""
    path = Path(os.fspath(sidecar))
    if path.suffix.lower() == ".npy":
        arr = _open_npy(path)
        if arr.ndim == 2:
            arr = arr[None]
        if arr.shape[0] < first + total:
            raise ValueError(
                f"sidecar: {path.name} has {arr.shape[0]} frames but frames up to {first + total} are needed"
            )
        return arr[first : first + total]
    if kind == "disparity":
        raise ValueError(f"sidecar: a disparity sidecar must be a .npy array of pixels, got {path.name}")
    side = video.probe(path, limits.video_limits())
    start = 0.0 if side.is_image else start_s
    chunks = video.read_frames(side, start=start, max_frames=total, limits=limits.video_limits())
    grey = np.concatenate([chunk.astype(np.float32) @ np.float32([0.299, 0.587, 0.114]) for chunk in chunks])
    if len(grey) < total:
        raise ValueError(f"sidecar: {path.name} has {len(grey)} frames from {start_s:g} s but {total} are needed")
    return grey


def _open_npy(path: Path) -> np.ndarray:
    """Memory-map a float ``.npy`` of ``(T, H, W)`` or ``(H, W)``; one-line errors."""
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except Exception as exc:  # numpy raises several types for a bad file
        raise ValueError(f"sidecar: {path.name} is not a readable .npy array ({exc.__class__.__name__})") from None
    if arr.ndim not in (2, 3) or not np.issubdtype(arr.dtype, np.floating) or min(arr.shape) < 1:
        raise ValueError(f"sidecar: expected a float (T, H, W) array, got {arr.dtype} {arr.shape}")
    return arr


def _nearness(depth: np.ndarray, kind: str) -> np.ndarray:
    """Larger-is-nearer values of a depth frame (a distance is inverted)."""
    if kind == "distance":
        return 1.0 / np.maximum(depth, np.float32(1e-6))
    return depth


def _nearness_range(frames: np.ndarray, kind: str) -> tuple[float, float]:
    """Robust 2nd..98th percentile range of the nearness over (a sample of) the frames."""
    picks = np.unique(np.linspace(0, len(frames) - 1, min(len(frames), 16)).round().astype(int))
    sample = np.concatenate([_nearness(np.asarray(frames[i][::4, ::4], np.float32), kind).ravel() for i in picks])
    sample = sample[np.isfinite(sample)]
    if sample.size == 0:
        raise ValueError("sidecar: contains no finite depth values")
    lo, hi = np.percentile(sample, [2.0, 98.0])
    if not hi > lo:
        hi = lo + 1.0  # flat depth: everything on one plane
    return float(lo), float(hi)


# --------------------------------------------------------------------------- running


def gpu_seconds(job: ConvertJob, *_: Any, **__: Any) -> int:
    """GPU time to request for a job (the ZeroGPU ``duration`` callable).

    Per frame: depth at the model's input size plus warping, the Poly fill and H.264
    encoding of two or three outputs, which grow with the frame's pixels; plus a fixed
    start-up cost, with a 1.5x margin. Clamped to [20, 300] s.

    Args:
        job: the planned job (other arguments, such as progress, are ignored).

    Returns:
        Seconds.
    """
    megapixels = job.width * job.height / 1e6
    per_frame = 0.01 + 0.15 * megapixels + (0.02 if job.needs_depth else 0.0)
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
        from .depth import DepthModelUnavailable

        raise DepthModelUnavailable(depth_missing_message(models.depth_error or "The depth model is not loaded."))
    pipe = request_pipeline(models, divergence=job.divergence, convergence=job.convergence, depth_size=job.depth_size)
    extras = {f: p for f, p in job.outputs.items() if f != job.fmt}
    return pipe.convert(
        job.input_path, job.outputs[job.fmt], fmt=job.fmt, variant=job.variant, disparity=job.disparity_path,
        start=job.start, max_frames=job.frames, progress=progress, extra_outputs=extras, inspect=job.inspect,
    )


def publish_conversion(job: ConvertJob, result: ConvertResult) -> list[str]:
    """Store the inspected stages in the job folder for :func:`stage_view`.

    Writes ``stages/NNNNNN.npz`` per inspected frame and ``stages/index.json`` with the
    frame numbers, times and the clip-wide disparity range used for the colour map.

    Returns:
        The ``.npz`` paths, in frame order.
    """
    folder = Path(job.folder) / "stages"
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for stage in result.stages:
        path = folder / f"{stage.index:06d}.npz"
        np.savez(path, **_stage_arrays(stage))
        paths.append(str(path))
    lo, hi = _disparity_range(result.stages)
    branches = list(_branch_views(_stage_arrays(result.stages[0]))) if result.stages else []
    index = {
        "frames": [s.index for s in result.stages],
        "branches": branches,
        "fps": job.fps,
        "image": job.is_image,
        "disparity_range": [lo, hi],
        "variant": job.variant,
    }
    (folder / "index.json").write_text(json.dumps(index), encoding="utf-8")
    return paths


def _stage_arrays(stage: StageFrame) -> dict[str, np.ndarray]:
    """The arrays of one stage frame, keyed for ``np.savez``."""
    arrays = {
        "left": stage.left,
        "disparity": stage.disparity.astype(np.float32),
        "warped": stage.warped,
        "hole_mask": stage.hole_mask,
        "right": stage.right,
    }
    arrays.update({f"branch_{k}": v for k, v in stage.branches.items()})
    refiner = getattr(stage, "refiner", None) or {}  # M1..M3 and C, when the pipeline reports them
    arrays.update({f"refiner_{k.lower()}": np.asarray(v) for k, v in refiner.items()})
    return arrays


def _disparity_range(stages: list[StageFrame]) -> tuple[float, float]:
    """1st..99th percentile of the disparity over the inspected frames (for a steady colour map)."""
    if not stages:
        return 0.0, 1.0
    sample = np.concatenate([s.disparity[::2, ::2].ravel() for s in stages])
    lo, hi = (float(v) for v in np.percentile(sample, [1.0, 99.0]))
    return (lo, hi) if hi > lo else (lo, lo + 1.0)


# --------------------------------------------------------------------------- pictures


def colorize_disparity(disparity: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Colour-map a disparity (or depth) frame: near = bright yellow, far = dark (inferno).

    Args:
        disparity: ``(H, W)`` float.
        lo, hi: values mapped to the ends of the colour map (``hi > lo``).

    Returns:
        ``(H, W, 3) uint8`` RGB.
    """
    if disparity.ndim != 2:
        raise ValueError(f"disparity: expected (H, W), got shape {disparity.shape}")
    if not hi > lo:
        raise ValueError(f"hi: expected hi > lo, got lo={lo}, hi={hi}")
    scaled = np.clip((np.asarray(disparity, np.float32) - lo) / (hi - lo), 0.0, 1.0)
    bgr = cv2.applyColorMap(np.round(scaled * 255.0).astype(np.uint8), cv2.COLORMAP_INFERNO)
    return np.ascontiguousarray(bgr[:, :, ::-1])


def overlay_holes(image: np.ndarray, mask: np.ndarray, color: tuple[int, int, int] = _HOLE_RGB) -> np.ndarray:
    """Paint the hole pixels of a warped view in a signal colour (magenta by default).

    Args:
        image: ``(H, W, 3) uint8``.
        mask: ``(H, W)`` bool (or 0/1), True = hole.
        color: RGB of the holes.

    Returns:
        A new ``(H, W, 3) uint8`` image.
    """
    if image.ndim != 3 or mask.shape != image.shape[:2]:
        raise ValueError(f"mask: expected shape {image.shape[:2]}, got {mask.shape}")
    out = image.copy()
    out[np.asarray(mask, bool)] = np.asarray(color, np.uint8)
    return out


def mask_image(mask: np.ndarray) -> np.ndarray:
    """A mask as a grey RGB picture (white = 1 / True).

    Args:
        mask: ``(H, W)`` bool or float in [0, 1].

    Returns:
        ``(H, W, 3) uint8``.
    """
    if mask.ndim != 2:
        raise ValueError(f"mask: expected (H, W), got shape {mask.shape}")
    grey = np.round(np.clip(np.asarray(mask, np.float32), 0.0, 1.0) * 255.0).astype(np.uint8)
    return np.repeat(grey[:, :, None], 3, axis=2)


def _stage_index(job_id: str, root: str | os.PathLike | None) -> tuple[Path, dict]:
    """The stage folder of a job and its ``index.json``."""
    folder = job_folder(job_id, root) / "stages"
    index_path = folder / "index.json"
    if not index_path.is_file():
        raise ValueError("job_id: this result has no inspected stages")
    return folder, json.loads(index_path.read_text(encoding="utf-8"))


def stage_summary(job_id: str, root: str | os.PathLike | None = None) -> dict[str, Any]:
    """How many frames a job inspected and which views compare with its right view.

    Returns:
        ``{"frames": n, "branches": [...]}``; ``{"frames": 0, "branches": []}`` for an
        unknown or expired job.
    """
    try:
        _, index = _stage_index(job_id, root)
    except ValueError:
        return {"frames": 0, "branches": []}
    return {"frames": len(index["frames"]), "branches": list(index.get("branches", []))}


def stage_view(
    job_id: str, position: int, branch: str | None = None, root: str | os.PathLike | None = None
) -> StageView:
    """Pictures of every stage of one inspected frame.

    Args:
        job_id: the job (see :func:`job_folder`).
        position: which inspected frame, 0-based (clamped to the available ones).
        branch: the view compared with the final right view (``None`` = the first branch).
        root: where job folders live (``None`` = :func:`jobs_root`).

    Returns:
        A :class:`StageView`.

    Raises:
        ValueError: unknown or expired job, or a job without stages.
    """
    folder, index = _stage_index(job_id, root)
    frames = index["frames"]
    pos = int(min(max(int(position), 0), len(frames) - 1))
    with np.load(folder / f"{frames[pos]:06d}.npz", allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    lo, hi = index["disparity_range"]
    gallery = _gallery(arrays, lo, hi)
    choices = _branch_views(arrays)
    chosen = branch if branch in choices else _default_branch(choices, arrays["right"])
    frame = frames[pos]
    when = "" if index["image"] else f", {frame / index['fps']:.2f} s"
    caption = f"Inspected frame {pos + 1} of {len(frames)}: frame {frame}{when}, variant {index['variant']}"
    return StageView(
        gallery=gallery,
        left_right=(arrays["left"], arrays["right"]),
        branch_pair=(choices[chosen], arrays["right"]),
        branches=list(choices),
        branch=chosen,
        caption=caption,
    )


def _gallery(arrays: dict[str, np.ndarray], lo: float, hi: float) -> list[tuple[np.ndarray, str]]:
    """Stage pictures with captions, in pipeline order."""
    items = [
        (arrays["left"], "Left view (input)"),
        (colorize_disparity(arrays["disparity"], lo, hi), "Depth (as disparity; near = bright)"),
        (overlay_holes(arrays["warped"], arrays["hole_mask"]), _WARPED),
        (mask_image(arrays["hole_mask"]), "Hole mask (white = to fill)"),
    ]
    for key, label in _BRANCH_LABELS.items():
        if f"branch_{key}" in arrays:
            items.append((arrays[f"branch_{key}"], label))
    for key, label in _REFINER_LABELS.items():
        value = arrays.get(f"refiner_{key}")
        if value is not None:
            items.append((mask_image(value) if value.ndim == 2 else _to_uint8(value), label))
    items.append((arrays["right"], "Final right view"))
    return items


def _branch_views(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Views that can be compared with the final right view, by display name."""
    views = {label: arrays[f"branch_{key}"] for key, label in _BRANCH_LABELS.items() if f"branch_{key}" in arrays}
    if "refiner_c" in arrays:
        views[_REFINER_LABELS["c"]] = _to_uint8(arrays["refiner_c"])
    views[_WARPED] = overlay_holes(arrays["warped"], arrays["hole_mask"])
    return views


def _default_branch(choices: dict[str, np.ndarray], right: np.ndarray) -> str:
    """The first view that differs from the final right view (the warp when every branch equals it)."""
    return next((name for name, view in choices.items() if not np.array_equal(view, right)), _WARPED)


def _to_uint8(image: np.ndarray) -> np.ndarray:
    """A float image in [0, 1] (or uint8) as uint8 RGB."""
    if image.dtype == np.uint8:
        return image
    return np.round(np.clip(image, 0.0, 1.0) * 255.0).astype(np.uint8)


def summary_markdown(job: ConvertJob, result: ConvertResult) -> str:
    """One paragraph describing what was converted and how fast."""
    rate = result.frames / result.seconds if result.seconds > 0 else float("inf")
    seconds = result.frames / job.fps
    what = "1 image" if job.is_image else f"{result.frames} frames ({seconds:.1f} s at {job.fps:.3g} fps)"
    depth = "the uploaded sidecar" if job.disparity_path else "the depth model"
    return (
        f"**Converted** {what} of `{job.source_name}` at {job.width}x{job.height}, variant **{job.variant}**, "
        f"divergence {job.divergence:g} %, convergence {job.convergence:g}; disparity from {depth}. "
        f"{result.seconds:.1f} s ({rate:.1f} frames/s)."
    )


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
    from .data.stereo import StereoClipSource, StereoMatchConfig, fill_invalid, match_disparity

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
    from .evaluate import EvalConfig, evaluate_clip

    left, right = np.load(job.left_path), np.load(job.right_path)
    disparity, valid = np.load(job.disparity_path), np.load(job.valid_path)
    pipe = request_pipeline(models, divergence=2.0, convergence=0.5, depth_size=None)
    if job.disparity_source == "depth":
        if models.depth_model is None:
            from .depth import DepthModelUnavailable

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
