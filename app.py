"""SpatialMe web app: turn an ordinary video or photo into stereo 3D.

Run ``python app.py`` and open http://127.0.0.1:7860. The same file is the Hugging Face
Space (ZeroGPU): ``spaces`` is imported before anything touches torch, the models load once
at start-up, and only the conversion itself holds the GPU, for a time sized from the clip.

This module is only the user interface: planning, running and picturing a job live in
:mod:`spatialme.webapp`, the model code in the rest of :mod:`spatialme`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
from pathlib import Path
from typing import Any, Callable

import spaces  # first: ZeroGPU must patch CUDA before torch is imported (spatialme imports torch)

import gradio as gr

from spatialme import webapp as support
from spatialme.depth import DepthModelUnavailable
from spatialme.pipeline import DEFAULT_VARIANT
from spatialme.webapp import messages

EXAMPLES = Path(__file__).resolve().parent / "examples"
LIMITS = support.AppLimits()
DEFAULT_SECONDS = 10.0
ZERO_GPU = os.environ.get("SPACES_ZERO_GPU", "").lower() in ("1", "true")
# One conversion at a time on a CPU machine; on ZeroGPU each call gets its own GPU worker.
GPU_CONCURRENCY = 2 if ZERO_GPU else 1
QUEUE_OPTIONS: dict[str, Any] = {"max_size": 16, "default_concurrency_limit": 1}
LAUNCH_OPTIONS: dict[str, Any] = {"max_file_size": "200mb", "footer_links": ["api", "gradio"]}
# The stage gallery shows every stage at once: no inner scroll box (Gradio caps a gallery at
# 55vh), and captions wrap under the pictures instead of being cut off with an ellipsis.
CSS = """
.stage-gallery img { image-rendering: pixelated; }
#stages .grid-wrap { max-height: none; min-height: 0; overflow-y: visible; }
#stages .thumbnail-item { aspect-ratio: auto; height: auto; display: flex; flex-direction: column; }
#stages .thumbnail-lg > img { height: auto; }
#stages .caption-label {
    position: static; max-width: none; white-space: normal; text-overflow: clip; overflow: visible;
    border: 0; border-radius: 0; opacity: 1;
}
#run-status { min-height: 4.5em; }
"""

# Gradio warns at start-up when an example leaves an input empty: orbit and stones have no
# sidecar on purpose (clicking them clears it; convert() takes None).
warnings.filterwarnings("ignore", message="Examples will be cached but not all input components")

MODELS = support.load_models(os.environ.get("SPATIALME_DEPTH_MODEL") or None)
VARIANT_STATUS = support.variant_status(MODELS.pipeline)
LOG = logging.getLogger("spatialme.app")
if MODELS.depth_error:  # the technical reason goes to the server's log; visitors get messages.DEPTH_MISSING
    LOG.warning("depth model not loaded: %s", MODELS.depth_error)
#: What the result panel says before the first run.
READY = "Results appear here: upload a video or a photo and press **Convert**, or pick an example below."


# --------------------------------------------------------------------------- errors and progress


def _user_error(err: Exception) -> gr.Error:
    """The library's error as one titled message in the visitor's terms (no flags, no argument names)."""
    LOG.info("request refused: %s", err)
    title, message = messages.visitor_message(err)
    return _refusal(message, title)


USER_ERRORS = (ValueError, DepthModelUnavailable)  # VideoError and VariantUnavailable are ValueErrors


def _refusal(message: str, title: str) -> gr.Error:
    """A ``gr.Error`` for a request the app refuses: its message, no traceback.

    In the page the message is not a toast (``visible=False``) but the status line of the
    tab, written by :func:`show_failure`; API clients get it as the error's text.
    """
    return gr.Error(message, title=title, duration=None, visible=False, print_exception=False)


#: session -> what the status line says after the session's last failed run (read once).
_FAILURES: dict[str, str] = {}
_UNEXPECTED = "**Something went wrong on the server.** Please try again; if it keeps failing, choose the Poly variant."


@contextlib.contextmanager
def _failures_reported(request: gr.Request | None):
    """Remember why a run failed, for :func:`show_failure` (the status line), and re-raise."""
    try:
        yield
    except gr.Error as err:
        _remember_failure(request, f"**{err.title}.** {err.message}")
        raise
    except Exception:
        _remember_failure(request, _UNEXPECTED)
        raise


def _remember_failure(request: gr.Request | None, text: str) -> None:
    """Keep ``text`` for the session (API calls never read it back, so only the newest 256 are kept)."""
    session = getattr(request, "session_hash", None)
    if session:
        _FAILURES.pop(session, None)
        _FAILURES[session] = text
        while len(_FAILURES) > 256:
            _FAILURES.pop(next(iter(_FAILURES)))


def show_failure(request: gr.Request):
    """The status line after a failed run: why, in the visitor's terms."""
    return _FAILURES.pop(getattr(request, "session_hash", None) or "", _UNEXPECTED)


def _depth_missing() -> gr.Error:
    """Why a conversion without a sidecar cannot run here, and what to do instead."""
    return _refusal(messages.DEPTH_MISSING, "Depth model not available")


def _reporter(progress: gr.Progress | None) -> Callable[[int, int, str], None] | None:
    """Adapt a ``gr.Progress`` to the library's ``progress(done, total, stage)`` callback."""
    if progress is None:
        return None

    def report(done: int, total: int, stage: str) -> None:
        progress((done, total), desc=f"{stage}: {done}/{total} frames", unit="frames")

    return report


# --------------------------------------------------------------------------- GPU functions


@spaces.GPU(duration=support.gpu_seconds)
def convert_on_gpu(job: support.ConvertJob, progress: gr.Progress | None = None):
    """Run a planned conversion (picklable job in, paths and numpy stages out)."""
    try:
        return support.run_conversion(MODELS, job, _reporter(progress))
    except USER_ERRORS as err:
        raise _user_error(err) from None


@spaces.GPU(duration=support.eval_gpu_seconds)
def evaluate_on_gpu(job: support.EvalJob, progress: gr.Progress | None = None):
    """Run a planned evaluation (picklable job in, table rows and error-map arrays out)."""
    try:
        return support.run_evaluation(MODELS, job, _reporter(progress))
    except USER_ERRORS as err:
        raise _user_error(err) from None


# --------------------------------------------------------------------------- convert


def _one_source(video: str | None, image: str | None) -> str:
    """The single uploaded file, or a clear error."""
    if video and image:
        raise _refusal("Give either a video or a photo, not both.", "Two inputs")
    if not video and not image:
        raise _refusal("Upload a video (or a photo) first, or pick an example below.", "No input")
    return video or image


def _check_variant(variant: str) -> None:
    """Refuse a variant this installation cannot run, with the pipeline's reason."""
    if VARIANT_STATUS.get(variant, "unknown"):
        raise _refusal(messages.variant_unavailable(variant), "Variant not available")


def convert(
    video: str | None,
    image: str | None = None,
    sidecar: str | None = None,
    sidecar_kind: str = "disparity",
    fmt: str = "full-sbs",
    variant: str = DEFAULT_VARIANT,
    divergence: float = 2.0,
    convergence: float = 0.5,
    depth_size: int = 0,
    start: float = 0.0,
    max_seconds: float = DEFAULT_SECONDS,
    auto_strength: bool = True,
    display: str = "headset",
    progress: gr.Progress = gr.Progress(),
    request: gr.Request = None,
):
    """Convert a video or photo to stereo and show every stage.

    Args:
        video: the clip (mp4, mov, webm, mkv, gif).
        image: a photo instead of a video.
        sidecar: optional disparity (.npy or .npz, pixels) or depth file; skips the depth model.
        sidecar_kind: "disparity", "nearness" (larger = nearer) or "distance".
        fmt: output format of the main file.
        variant: "poly", "dl", "dl+de" or "full".
        divergence: 3D strength, % of the width.
        convergence: screen plane, 0 (far) .. 1 (near).
        depth_size: short side fed to the depth model (0 = automatic).
        start: seconds to skip.
        max_seconds: most seconds converted.
        auto_strength: choose divergence and convergence per shot for ``display`` (the sliders then
            do not apply; a disparity sidecar's pixels are used as they are).
        display: "headset", "tv" or "phone": what the result is watched on.
    """
    with _failures_reported(request):
        return _convert(
            video, image, sidecar, sidecar_kind, fmt, variant, divergence, convergence, depth_size, start,
            max_seconds, auto_strength, display, progress,
        )


def _convert(video, image, sidecar, sidecar_kind, fmt, variant, divergence, convergence, depth_size, start,
             max_seconds, auto_strength, display, progress) -> tuple:
    """The body of :func:`convert`."""
    source = _one_source(video, image)
    _check_variant(variant)
    support.prune_jobs()
    progress(0, desc="Reading the upload")
    try:
        if not sidecar and MODELS.depth_model is None:
            support.probe_upload(source, LIMITS)  # a broken upload is reported as such first
    except USER_ERRORS as err:
        raise _user_error(err) from None
    if not sidecar and MODELS.depth_model is None:
        raise _depth_missing()
    try:
        job = support.plan_conversion(
            source, fmt=fmt, variant=variant, divergence=divergence, convergence=convergence,
            depth_size=int(depth_size or 0), start=start, max_seconds=max_seconds, sidecar=sidecar,
            sidecar_kind=sidecar_kind, limits=LIMITS, progress=_reporter(progress),
            strength="auto" if auto_strength else "fixed", display=display or "headset",
        )
    except USER_ERRORS as err:
        raise _user_error(err) from None
    for note in job.notes:
        gr.Warning(note, title="Input adjusted")
    result = convert_on_gpu(job, progress)
    support.publish_conversion(job, result)
    return _convert_outputs(job, result)


def convert_example(video: str, sidecar: str | None, sidecar_kind: str, progress: gr.Progress = gr.Progress()):
    """Convert an example clip with the default settings (for the cached examples).

    Returns the Convert outputs less the chosen-format video and the photo results, which
    an example (a video in full SBS) leaves empty: Gradio's example cache cannot store an
    empty video or gallery.
    """
    outputs = convert(video, None, sidecar, sidecar_kind, progress=progress)
    support.keep_job(outputs[-1])  # the cache refers to its stages for good
    return outputs[1:3] + outputs[4:]


def _convert_outputs(job: support.ConvertJob, result) -> tuple:
    """Plain values, in the order of the Convert event's outputs (``None`` = nothing to show).

    Only values, no component updates: Gradio 6.31's lazy example cache cannot replay
    updates, so which result components are visible is set by :func:`show_results`, a
    separate event that runs after both a conversion and a cached example.
    """
    files = result.outputs
    view = support.stage_view(job.job_id, 0)
    if job.is_image:
        main_label = dict((f, label) for label, f in support.FORMAT_CHOICES)[job.fmt]
        pictures = [(files[f], label) for f, label in _result_labels(job.fmt, main_label).items()]
        videos = (None, None, None)
    else:
        main = files[job.fmt] if job.fmt not in ("full-sbs", "anaglyph") else None
        videos, pictures = (main, files["full-sbs"], files["anaglyph"]), None
    budget = result.report.get("png")  # the depth-budget plot
    return (*videos, pictures, support.summary_markdown(job, result), budget, *_stage_values(view), 0, job.job_id)


def _result_labels(fmt: str, main_label: str) -> dict[str, str]:
    """Format -> caption of the image results, the chosen format first."""
    labels = {fmt: main_label}
    labels.setdefault("full-sbs", "Side-by-side")
    labels.setdefault("anaglyph", "Anaglyph")
    return labels


def _stage_values(view: support.StageView) -> tuple:
    """Values of the stage viewer for one inspected frame (see ``VIEWER``)."""
    return view.caption, view.gallery, view.left_right, view.branch_pair, view.branch, view.archive


def show_results(main: str | None, sbs: str | None, anaglyph: str | None, pictures: list | None, budget: str | None,
                 job_id: str | None):
    """Show the result components that hold something; size the frame slider and branch menu."""
    stages = support.stage_summary(job_id) if job_id else {"frames": 0, "branches": []}
    shown = [gr.update(visible=bool(value)) for value in (main, sbs, anaglyph, pictures, budget)]
    frames = max(stages["frames"], 1)
    return (
        *shown,
        gr.update(maximum=max(frames - 1, 1), visible=frames > 1),
        gr.update(choices=stages["branches"] or list(support.BRANCH_VIEWS)),
        gr.update(visible=stages["frames"] > 0),
    )


def show_example_results(job_id: str | None):
    """Layout after a cached example: its two videos, no chosen-format video, no photo results."""
    hidden = gr.update(value=None, visible=False)
    shown = gr.update(visible=True)
    return (hidden, shown, shown, hidden, shown, *show_results(None, None, None, None, None, job_id)[5:])


def show_frame(job_id: str | None, position: float, branch: str | None):
    """Show every stage of another inspected frame (the frame slider and the branch menu)."""
    if not job_id:
        return (gr.skip(),) * len(VIEWER)
    try:
        view = support.stage_view(job_id, int(position), branch)
    except ValueError as err:
        gr.Warning(messages.visitor_message(err)[1], title="Stages unavailable")
        return (gr.skip(),) * len(VIEWER)
    return _stage_values(view)


def manual_sliders(auto_strength: bool):
    """The divergence and convergence sliders apply (and can be moved) only with automatic strength off."""
    return gr.update(interactive=not auto_strength), gr.update(interactive=not auto_strength)


def warn_variant(variant: str) -> None:
    """Explain at once why a variant cannot run here."""
    if VARIANT_STATUS.get(variant):
        gr.Warning(messages.variant_unavailable(variant), title="Variant not available")


# --------------------------------------------------------------------------- evaluate


def evaluate(
    stereo: str | None,
    left: str | None = None,
    right: str | None = None,
    disparity_source: str = "stereo",
    variants: list[str] | None = None,
    max_seconds: float = 2.0,
    progress: gr.Progress = gr.Progress(),
    request: gr.Request = None,
):
    """Convert the left eye of a real stereo clip and score it against the real right eye.

    Args:
        stereo: a side-by-side clip (left half = left eye).
        left, right: the two eyes as separate files, instead of ``stereo``.
        disparity_source: "stereo" (matched from the pair) or "depth" (the depth model).
        variants: variants to score (default: every one this installation runs).
        max_seconds: seconds scored from the start.
    """
    with _failures_reported(request):
        return _evaluate(stereo, left, right, disparity_source, variants, max_seconds, progress)


def _evaluate(stereo, left, right, disparity_source, variants, max_seconds, progress) -> tuple:
    """The body of :func:`evaluate`."""
    if stereo and (left or right):
        raise _refusal("Give a side-by-side clip or two files, not both.", "Two inputs")
    if not stereo and not (left and right):
        raise _refusal("Upload a side-by-side clip, or both a left and a right file.", "No input")
    runnable = [v for v, reason in VARIANT_STATUS.items() if reason is None]
    chosen = [v for v in (variants or runnable) if v in runnable]
    if not chosen:
        raise _refusal("None of the chosen variants runs in this build; pick Poly.", "Variant not available")
    if disparity_source == "depth" and MODELS.depth_model is None:
        raise _depth_missing()
    support.prune_jobs()
    progress(0, desc="Reading the stereo clip")
    try:
        job = support.plan_evaluation(
            stereo, left, right, disparity_source=disparity_source, variants=chosen, max_seconds=max_seconds,
            limits=LIMITS, progress=_reporter(progress),
        )
    except USER_ERRORS as err:
        raise _user_error(err) from None
    for note in job.notes:
        gr.Warning(note, title="Input adjusted")
    outcome = evaluate_on_gpu(job, progress)
    return outcome.table, outcome.maps, outcome.summary


# --------------------------------------------------------------------------- layout


def _variant_choices() -> list[tuple[str, str]]:
    """Variant labels, marking the ones this installation cannot run."""
    unavailable = " (not in this build)"
    return [(label + ("" if VARIANT_STATUS[v] is None else unavailable), v) for label, v in support.VARIANT_CHOICES]


def _variant_info() -> str:
    """One line under the variant radio."""
    missing = [label for label, v in support.VARIANT_CHOICES if VARIANT_STATUS[v] is not None]
    if not missing:
        return "Full (the default) fuses all three branches with the learned refiner; Poly is the fast classical fill."
    return f"{', '.join(missing)} need learned weights this installation lacks; Poly always works."


def _example_rows() -> list[list[Any]]:
    """The bundled clips; garden ships its disparity, so it converts with no depth model."""
    rows = []
    for name in ("garden", "orbit", "stones"):
        clip = EXAMPLES / f"{name}.mp4"
        sidecar = EXAMPLES / f"{name}_disparity.npy"
        if clip.is_file():
            rows.append([str(clip), str(sidecar) if sidecar.is_file() else None, "disparity"])
    return rows


def _depth_banner() -> str:
    """A note at the top when the depth model is missing."""
    if MODELS.depth_model is not None:
        return ""
    return f"> **Depth model not available on this server.** {messages.DEPTH_MISSING}"


def _input_panel() -> dict[str, Any]:
    """The upload and the settings, keyed like ``convert``'s parameters, plus the button."""
    ui: dict[str, Any] = {}
    with gr.Tabs():
        with gr.Tab("Video"):
            ui["video"] = gr.Video(
                label="Video (mp4, mov, webm, mkv, gif)", sources=["upload"], height=300, elem_id="input-video"
            )
        with gr.Tab("Photo or GIF"):
            ui["image"] = gr.Image(
                label="Photo (or animated GIF)", type="filepath", image_mode=None, sources=["upload", "clipboard"],
                height=300, elem_id="input-image",
            )
    ui["fmt"] = gr.Dropdown(list(support.FORMAT_CHOICES), value="full-sbs", label="Output format")
    default = DEFAULT_VARIANT if VARIANT_STATUS.get(DEFAULT_VARIANT) is None else "poly"
    ui["variant"] = gr.Radio(_variant_choices(), value=default, label="Variant", info=_variant_info())
    with gr.Row():
        ui["auto_strength"] = gr.Checkbox(
            value=True, label="Automatic strength (comfortable 3D)", elem_id="auto-strength",
            info="Per shot: the depth fits the display's comfort band, the subject sits on the screen, floating "
                 "windows at the edges. Off: the sliders below.",
        )
        ui["display"] = gr.Radio(list(support.DISPLAY_CHOICES), value="headset", label="Watched on", elem_id="display")
    with gr.Row():
        ui["divergence"] = gr.Slider(0.0, 10.0, value=2.0, step=0.1, label="Divergence (3D strength, % of width)",
                                     interactive=False)
        ui["convergence"] = gr.Slider(0.0, 1.0, value=0.5, step=0.05, label="Convergence (screen: 0 far, 1 near)",
                                      interactive=False)
    with gr.Row():
        ui["start"] = gr.Number(value=0.0, minimum=0.0, label="Start (s)", precision=2)
        ui["max_seconds"] = gr.Slider(
            1.0, LIMITS.max_convert_seconds, value=DEFAULT_SECONDS, step=1.0, label="Max seconds"
        )
    with gr.Accordion("Advanced", open=False):
        ui["sidecar"] = gr.File(
            label="Disparity or depth sidecar (skips the depth model)", file_types=[".npy", ".npz", "video", "image"],
            elem_id="sidecar",
        )
        ui["sidecar_kind"] = gr.Radio(list(support.SIDECAR_KINDS), value="disparity", label="The sidecar holds")
        ui["depth_size"] = gr.Dropdown(
            list(support.DEPTH_SIZE_CHOICES), value=0, label="Depth input size (short side, px)"
        )
    ui["button"] = gr.Button("Convert", variant="primary", elem_id="convert-button")
    return ui


#: Height of the anaglyph and chosen-format players, px (the full SBS player takes the whole width).
RESULT_HEIGHT = 320
#: The stage viewer's components, in the order of ``_stage_values``.
VIEWER = ("caption", "stages", "left_right", "branch_pair", "branch", "stage_zip")
#: The Convert event's outputs, in the order of ``_convert_outputs``.
CONVERT_OUTPUTS = ("main", "sbs", "anaglyph", "pictures", "summary", "budget", *VIEWER, "frame", "job_id")


def _result_panel() -> dict[str, Any]:
    """The one status line, the result players (output only, with downloads) and the stage viewer."""
    ui: dict[str, Any] = {}
    # The one place a run shows its progress, then its summary (or why it failed).
    ui["summary"] = gr.Markdown(READY, elem_id="run-status", container=True, padding=True)
    # Full SBS is twice as wide as the anaglyph: a row of its own, so both show at a useful size.
    ui["sbs"] = gr.Video(
        label="Side-by-side (VR headsets)", interactive=False, buttons=["download"], elem_id="sbs-video"
    )
    with gr.Row():
        ui["main"] = gr.Video(
            label="Result (chosen format)", visible=False, interactive=False, buttons=["download"],
            height=RESULT_HEIGHT, elem_id="result-video",
        )
        ui["anaglyph"] = gr.Video(
            label="Anaglyph (red-cyan glasses)", interactive=False, buttons=["download"], height=RESULT_HEIGHT,
            elem_id="anaglyph-video",
        )
        ui["budget"] = gr.Image(
            label="Depth budget: parallax per frame, the comfort band (shaded) and the cuts", type="filepath",
            format="png", visible=False, interactive=False, height=RESULT_HEIGHT, buttons=["download", "fullscreen"],
            elem_id="depth-budget",
        )
    ui["pictures"] = gr.Gallery(
        label="Results", visible=False, format="png", columns=2, object_fit="contain", interactive=False,
        buttons=["download", "fullscreen"], elem_id="result-pictures",
    )
    with gr.Group():
        ui["caption"] = gr.Markdown(container=True, padding=True)
        ui["stages"] = gr.Gallery(
            label="Stages", format="png", columns=4, height="auto", object_fit="contain", elem_id="stages",
            elem_classes="stage-gallery", interactive=False, buttons=["download", "fullscreen"],
        )
        with gr.Row():
            ui["left_right"] = gr.ImageSlider(
                label="Left | right view", format="png", type="numpy", interactive=False, buttons=["download", "fullscreen"]
            )
            ui["branch_pair"] = gr.ImageSlider(
                label="Branch | final right view", format="png", type="numpy", interactive=False,
                buttons=["download", "fullscreen"],
            )
        ui["branch"] = gr.Dropdown(list(support.BRANCH_VIEWS), value=None, label="Branch compared with the right view")
        ui["frame"] = gr.Slider(0, 1, value=0, step=1, label="Inspected frame", visible=False, elem_id="frame-slider")
        ui["stage_zip"] = gr.DownloadButton(
            "Download this frame's stages (.zip of PNGs)", visible=False, size="md", elem_id="stage-download"
        )
    ui["job_id"] = gr.State(None)
    return ui


def _wire_convert(ins: dict[str, Any], outs: dict[str, Any]) -> None:
    """Events of the Convert tab: every event shows progress on the status line only (or nowhere)."""
    inputs = [ins[k] for k in ("video", "image", "sidecar", "sidecar_kind", "fmt", "variant", "divergence",
                               "convergence", "depth_size", "start", "max_seconds", "auto_strength", "display")]
    outputs = [outs[k] for k in CONVERT_OUTPUTS]
    results = [outs[k] for k in ("main", "sbs", "anaglyph", "pictures", "budget")]
    layout = [*results, outs["frame"], outs["branch"], outs["stage_zip"]]
    quiet: dict[str, Any] = {"queue": False, "api_visibility": "private", "show_progress": "hidden"}
    run = ins["button"].click(
        convert, inputs, outputs, api_name="convert", concurrency_limit=GPU_CONCURRENCY, concurrency_id="gpu",
        show_progress_on=outs["summary"],
    )
    run.success(show_results, [*results, outs["job_id"]], layout, **quiet)
    run.failure(show_failure, None, outs["summary"], queue=False, api_visibility="private")
    ins["video"].upload(lambda: None, None, ins["image"], **quiet)  # one input at a time
    ins["image"].upload(lambda: None, None, ins["video"], **quiet)
    ins["variant"].input(warn_variant, ins["variant"], None, **quiet)
    ins["auto_strength"].change(manual_sliders, ins["auto_strength"], [ins["divergence"], ins["convergence"]], **quiet)
    viewer = [outs[k] for k in VIEWER]
    stage_inputs = [outs["job_id"], outs["frame"], outs["branch"]]
    browse: dict[str, Any] = {"api_visibility": "private", "concurrency_limit": 4, "show_progress_on": outs["caption"],
                              "show_progress": "minimal"}
    outs["frame"].input(show_frame, stage_inputs, viewer, trigger_mode="always_last", **browse)
    outs["branch"].input(show_frame, stage_inputs, viewer, **browse)
    cached = [o for o in outputs if o not in (outs["main"], outs["pictures"])]
    examples = _examples([ins["video"], ins["sidecar"], ins["sidecar_kind"]], cached)
    # gr.Examples takes no show_progress_on: set it on the event it made (a lazy example runs a conversion)
    examples.root_block.fns[examples.cache_event["id"]].show_progress_on = [outs["summary"]]
    examples.cache_event.then(show_example_results, outs["job_id"], layout, **quiet)


def _convert_tab() -> None:
    """The Convert tab: inputs, controls, results and the stage viewer."""
    with gr.Row():
        with gr.Column(scale=1):
            ins = _input_panel()
        with gr.Column(scale=2):
            outs = _result_panel()
    _wire_convert(ins, outs)


def _examples(inputs: list, outputs: list) -> gr.Examples:
    """The bundled clips, cached lazily (on first click), so start-up runs no conversion."""
    rows = _example_rows()
    return gr.Examples(
        rows,
        inputs=inputs,
        outputs=outputs,
        fn=convert_example,
        cache_examples=True,
        cache_mode="lazy",
        example_labels=["garden (with disparity sidecar)", "orbit", "stones"][: len(rows)],
        label="Examples (garden converts without the depth model)",
    )


def _evaluate_tab() -> None:
    """The Evaluate tab: score the variants on a real stereo clip."""
    gr.Markdown(
        "Upload a real stereo clip. The app converts its **left** eye and scores the result against the real "
        "**right** eye (MAE, PSNR, SSIM per variant), with per-frame error maps (bright = large error)."
    )
    with gr.Row():
        with gr.Column(scale=1):
            with gr.Tabs():
                with gr.Tab("Side-by-side clip"):
                    stereo = gr.Video(
                        label="Side-by-side video (left half = left eye)", sources=["upload"], elem_id="eval-sbs"
                    )
                with gr.Tab("Two files"):
                    left = gr.Video(label="Left eye", sources=["upload"], elem_id="eval-left")
                    right = gr.Video(label="Right eye", sources=["upload"], elem_id="eval-right")
            source = gr.Radio(
                [("Stereo matching of the pair", "stereo"), ("Depth model on the left eye", "depth")],
                value="stereo", label="Disparity from",
            )
            runnable = [v for v, reason in VARIANT_STATUS.items() if reason is None]
            variants = gr.CheckboxGroup(
                [(label, v) for label, v in support.VARIANT_CHOICES if v in runnable], value=runnable, label="Variants",
            )
            seconds = gr.Slider(
                0.5, LIMITS.max_eval_seconds, value=2.0, step=0.5, label="Seconds scored (from the start)"
            )
            button = gr.Button("Evaluate", variant="primary", elem_id="evaluate-button")
        with gr.Column(scale=2):
            summary = gr.Markdown(
                "Scores appear here: upload a stereo clip and press **Evaluate**.", elem_id="eval-status",
                container=True, padding=True,
            )
            table = gr.Dataframe(label="Scores (mean over frames)", interactive=False, elem_id="eval-table")
            maps = gr.Gallery(
                label="Per-frame error maps", format="png", columns=4, height="auto", object_fit="contain"
            )
    run = button.click(
        evaluate, [stereo, left, right, source, variants, seconds], [table, maps, summary], api_name="evaluate",
        concurrency_limit=GPU_CONCURRENCY, concurrency_id="gpu", show_progress_on=summary,
    )
    run.failure(show_failure, None, summary, queue=False, api_visibility="private")


def build_demo() -> gr.Blocks:
    """The whole app as a ``gr.Blocks`` (not yet queued or launched)."""
    with gr.Blocks(title="SpatialMe: 2D to 3D video", delete_cache=(3600, 3600)) as demo:
        gr.Markdown(
            "# SpatialMe: 2D video to stereo 3D\n"
            "Upload a clip or a photo and get side-by-side (VR headsets such as Vision Pro or Quest), top-bottom "
            "or anaglyph (red-cyan glasses) 3D. Depth → disparity → depth-warp → hole filling, every stage shown."
        )
        banner = _depth_banner()
        if banner:
            gr.Markdown(banner)
        with gr.Tabs():
            with gr.Tab("Convert"):
                _convert_tab()
            with gr.Tab("Evaluate"):
                _evaluate_tab()
    return demo


def main() -> None:
    """Serve the app (http://127.0.0.1:7860 locally; the Space sets its own host)."""
    build_demo().queue(**QUEUE_OPTIONS).launch(css=CSS, **LAUNCH_OPTIONS)


if __name__ == "__main__":
    main()
