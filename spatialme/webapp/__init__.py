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
  convergence; with automatic strength it is kept as nearness instead
  (:func:`prepare_nearness`) and every shot gets its own divergence and convergence
  (:mod:`spatialme.comfort`). Every conversion writes a depth-budget report, whose plot the
  app shows beside the results. Any sidecar with the input's aspect ratio is resized to the working size;
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

from . import messages
from .convert import (
    ConvertJob, gpu_seconds, output_paths, plan_conversion, probe_upload, resize_video, run_conversion,
    summary_markdown, work_size,
)
from .evaluation import (
    ERROR_MAP_MAX, EvalJob, EvalOutcome, error_map_image, eval_gpu_seconds, fit_disparity, plan_evaluation,
    run_evaluation,
)
from .jobs import job_folder, jobs_root, keep_job, new_job, prune_jobs
from .models import (
    DEPTH_SIZE_CHOICES, DISPLAY_CHOICES, FORMAT_CHOICES, SIDECAR_KINDS, VARIANT_CHOICES, AppLimits, AppModels, ProgressFn,
    depth_missing_message, load_models, request_pipeline, variant_status,
)
from .sidecar import prepare_disparity, prepare_nearness
from .stages import (
    BRANCH_VIEWS, REFINER_LEGEND, REFINER_ROLES, StageView, colorize_disparity, mask_image, overlay_holes,
    publish_conversion, refiner_picture, stage_summary, stage_view, value_map_image,
)

__all__ = [
    "BRANCH_VIEWS",
    "ERROR_MAP_MAX",
    "REFINER_LEGEND",
    "REFINER_ROLES",
    "refiner_picture",
    "value_map_image",
    "ProgressFn",
    "jobs_root",
    "messages",
    "AppLimits",
    "AppModels",
    "ConvertJob",
    "DEPTH_SIZE_CHOICES",
    "DISPLAY_CHOICES",
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
    "prepare_nearness",
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
