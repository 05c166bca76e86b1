"""What the web app offers and loads: choices, limits, the models, one pipeline per request."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from .. import video
from ..comfort import DISPLAYS
from ..compose import FORMATS
from ..disparity import DisparityConfig
from ..pipeline import VARIANTS, StereoPipeline, VariantUnavailable

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

#: What the result is watched on, for automatic strength, ``(label, display)`` (:mod:`spatialme.comfort.displays`).
DISPLAY_CHOICES: tuple[tuple[str, str], ...] = tuple(
    (f"{label} ({DISPLAYS[name].band_pct[0]:.2f}-{DISPLAYS[name].band_pct[1]:.2f} % of width)", name)
    for label, name in (("VR/AR headset", "headset"), ("TV", "tv"), ("Phone", "phone"))
)
assert tuple(d for _, d in DISPLAY_CHOICES) == tuple(DISPLAYS)

#: What a sidecar file holds, ``(label, kind)``.
SIDECAR_KINDS: tuple[tuple[str, str], ...] = (
    ("Disparity in pixels (.npy, float16 or float32)", "disparity"),
    ("Depth, larger = nearer (inverse depth; .npy or grey video/image)", "nearness"),
    ("Depth, larger = farther (distance; .npy or grey video/image)", "distance"),
)


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
    from ..depth import DepthModelUnavailable

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
    from ..depth import DepthEstimator

    base = models.pipeline
    config = replace(base.config, disparity=DisparityConfig(divergence, convergence), depth_input_size=depth_size)
    estimator = None
    if models.depth_model is not None:
        model = copy.copy(models.depth_model)
        if hasattr(model, "input_size"):
            model.input_size = depth_size
        estimator = DepthEstimator(model=model, stabilizer=config.stabilizer, scene_cuts=config.scene_cuts)
    return base.derive(config=config, depth_estimator=estimator)


def depth_missing_message(reason: str) -> str:
    """The library's depth-model error, plus how to get a result in the web app."""
    return (
        f"{reason} In this app: upload a disparity or depth sidecar under 'Advanced', or try the "
        "'garden' example (it ships its disparity)."
    )

