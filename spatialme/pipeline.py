"""The stereo pipeline: one entry point from a left view (or a file) to the stereo result.

Stages (paper Fig. 2): depth -> disparity -> depth-warp -> inpainting branches -> fusion ->
stereo composition -> encoding. :meth:`StereoPipeline.synthesize` runs the view-synthesis
part on frames already in memory and returns every intermediate the product shows (hole
mask, warped frame, each branch), as a :class:`StereoOutput` dataclass (diffusers style).
:meth:`StereoPipeline.convert` streams a file through depth and synthesis in chunks, so
memory does not grow with clip length, and writes the composed stereo file atomically.

The file side of :meth:`StereoPipeline.convert` (claims, chunks and strips, overlapped
decoding and encoding, the sidecar reader) lives in :mod:`spatialme.conversion` and
:mod:`spatialme.sidecar`.

Variants are the ablation rows of the paper's Table III: ``"poly"`` (Poly-based branch
only), ``"dl"``, ``"dl+de"`` and ``"full"``. The last three need the learned inpainter and
the MHFU refiner.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from . import video
from .checks import check_array, check_choice, check_clip, check_disparity
from .compose import canonical_format
from .disparity import DisparityConfig, depth_to_disparity
from .bands import BandConfig
from .depth import StabilizerConfig
from .devices import check_device_name, resolve_device
from .inpaint.expand import ExpandConfig
from .inpaint.flow import FlowConfig
from .inpaint.pyramid import PyramidConfig
from .scenes import SceneCutConfig
from .branches import run_branches
from .comfort.session import open_session
from .warp import WarpConfig
from .conversion import (  # noqa: F401  (STRIP_MARGIN, chunk_frames: re-exported)
    STRIP_MARGIN,
    ConvertResult,
    ProgressFn,
    StageFrame,
    _stack_stages,
    _stage_frames,
    _stage_rows,
    chunk_frames,
    convert_claimed,
    row_strips,
)
from .sidecar import DisparitySource

if TYPE_CHECKING:  # torch is imported only when a learned variant runs
    from .comfort.session import ComfortConfig
    from .fusion import RefinedClip

__all__ = ["VARIANTS", "DEFAULT_VARIANT", "STRIP_MARGIN", "PipelineConfig", "StereoOutput", "StageFrame", "ConvertResult",
           "StereoPipeline", "VariantUnavailable", "chunk_frames", "row_strips"]

_log = logging.getLogger(__name__)

VARIANTS = ("poly", "dl", "dl+de", "full")
#: The variant used when none is named (CLI, Python, web app): the best across the strength
#: sweep and on the real Motorcycle pair (``assets/weights/README.md``).
DEFAULT_VARIANT = "full"
_VARIANT_BRANCHES = {"poly": ("poly",), "dl": ("dl",), "dl+de": ("de",), "full": ("poly", "dl", "de")}


class VariantUnavailable(ValueError):
    """The requested variant needs parts that are not available in this installation."""


@dataclass(frozen=True)
class PipelineConfig:
    """Settings of every stage, in one place.

    Attributes:
        disparity: divergence and convergence (how strong the 3D is, where the screen is).
        warp: forward-warp settings.
        expand: disparity-expansion (DE branch) settings.
        poly_variant: row-polyline variant of the Poly branch, ``"sharp"`` or ``"soft"``.
        chunk: most frames decoded and processed together.
        chunk_pixels: most pixels (frames x height x width) processed together: the memory
            bound at any resolution (default two 4K frames, about 2.5 GB with the full
            variant on a CPU). Fewer frames go in a chunk when they are large; one frame
            larger than this is processed in horizontal strips.
        strip_pixels: most pixels of one such strip (default one 4K frame: an 8K frame goes
            in four strips, since its full-size buffers and ffmpeg's 8K queues come on top).
        depth_model: Hub id or local directory of the depth model (``None`` = the pinned
            Depth Anything V2 Small).
        depth_input_size: short side fed to the depth model (``None`` = 518 on CUDA, 364 on CPU).
        device: ``"auto"``, ``"cpu"`` or ``"cuda[:N]"`` for the networks.
        scene_cuts: hard-cut detector (the depth stabiliser restarts at a cut and nothing is
            propagated across one); ``None`` = the clip is one shot.
        stabilizer: temporal depth stabiliser.
        flow: optical-flow propagation of the DL and DE fills (``None`` = the inpainter alone).
        bands: how the learned parts pack the holes on a CPU (``None`` = whole frames).
        pyramid: inpainter pyramid levels for wide holes (``None`` = full resolution only).
        kernels: stage-one geometry (warp, expansion): ``"numpy"`` (numba/OpenCV),
            ``"torch"`` (:mod:`spatialme.torch_path` on ``device``, Poly in a CPU thread
            alongside) or ``"auto"`` (torch on CUDA).
    """

    disparity: DisparityConfig = field(default_factory=DisparityConfig)
    warp: WarpConfig = field(default_factory=WarpConfig)
    expand: ExpandConfig = field(default_factory=ExpandConfig)
    poly_variant: str = "sharp"
    chunk: int = 16
    chunk_pixels: int = 2 * 3840 * 2160
    strip_pixels: int = 3840 * 2160
    depth_model: str | None = None
    depth_input_size: int | None = None
    device: str = "auto"
    scene_cuts: SceneCutConfig | None = field(default_factory=SceneCutConfig)
    stabilizer: StabilizerConfig = field(default_factory=StabilizerConfig)
    flow: FlowConfig | None = field(default_factory=FlowConfig)
    bands: BandConfig | None = field(default_factory=BandConfig)
    pyramid: PyramidConfig | None = field(default_factory=PyramidConfig)
    kernels: str = "auto"

    def __post_init__(self) -> None:
        check_choice("poly_variant", self.poly_variant, ("sharp", "soft"))
        check_choice("kernels", self.kernels, ("auto", "numpy", "torch"))
        check_device_name(self.device)
        if isinstance(self.chunk, bool) or not isinstance(self.chunk, int) or not 1 <= self.chunk <= 1024:
            raise ValueError(f"chunk: expected an integer in [1, 1024], got {self.chunk!r}")
        for name in ("chunk_pixels", "strip_pixels"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 65536:
                raise ValueError(f"{name}: expected an integer >= 65536, got {value!r}")


@dataclass
class StereoOutput:
    """Result of :meth:`StereoPipeline.synthesize`.

    Attributes:
        right: ``(T, H, W, 3) uint8`` synthesised right view.
        hole_mask: ``(T, H, W) bool`` holes of the plain warp (True = had to be filled).
        branches: branch name (``"poly"``, ``"dl"``, ``"de"``) -> ``(T, H, W, 3) uint8``,
            only those the variant computed.
        warped: ``(T, H, W, 3) uint8`` plain forward warp, holes 0.
        warped_disparity: ``(T, H, W) float32`` disparity px seen from the right view.
        variant: the variant that produced ``right``.
        de_hole_mask: ``(T, H, W) bool`` holes of the DE re-warp, when the DE branch ran.
        refiner: frame index -> the refiner's ``m1``, ``m2``, ``m3`` ``(H, W) float32`` and
            ``c`` ``(H, W, 3) uint8`` from the pass that made ``right`` (full variant, the
            frames asked for with ``maps_for``).
        propagated: ``(T, H, W) bool`` holes the DL branch copied from neighbouring frames
            (when it ran); the full variant keeps DL's pixels there
            (:func:`spatialme.fusion.keep_propagated`).
    """

    right: np.ndarray
    hole_mask: np.ndarray
    branches: dict[str, np.ndarray]
    warped: np.ndarray
    warped_disparity: np.ndarray
    variant: str
    de_hole_mask: np.ndarray | None = None
    refiner: dict[int, dict[str, np.ndarray]] = field(default_factory=dict)
    propagated: np.ndarray | None = None


class StereoPipeline:
    """Stereo conversion: depth, warp, inpainting branches and composition.

    Args:
        config: settings of every stage.
        depth_estimator: an already built :class:`spatialme.depth.DepthEstimator`; by default
            one is built on first use (so pipelines that are given disparity never load it).

    Example:
        >>> pipe = StereoPipeline.from_pretrained()
        >>> out = pipe.synthesize(left, disparity, variant="poly")   # doctest: +SKIP
        >>> out.right.shape                                          # doctest: +SKIP
        (T, H, W, 3)
    """

    def __init__(self, config: PipelineConfig | None = None, depth_estimator=None, pretrained: str | os.PathLike | None = None) -> None:
        self.config = config or PipelineConfig()
        self.pretrained = pretrained
        self._depth = depth_estimator
        self._learned_fill = None
        self._refiner = None

    @classmethod
    def from_pretrained(cls, pretrained: str | os.PathLike | None = None, *, config: PipelineConfig | None = None, **overrides) -> "StereoPipeline":
        """Build the pipeline with the shipped weights.

        Args:
            pretrained: folder or Hub repo id of the project's learned weights; ``None`` =
                the weights shipped in ``assets/``.
            config: stage settings; keyword ``overrides`` replace single fields of it
                (e.g. ``device="cuda"``, ``depth_model="/models/dav2"``).

        Returns:
            A ready pipeline. Nothing is downloaded here: the depth model loads on first use.
        """
        cfg = config or PipelineConfig()
        if overrides:
            cfg = replace(cfg, **overrides)
        return cls(cfg, pretrained=pretrained)

    # ------------------------------------------------------------------ depth

    @property
    def depth_estimator(self):
        """The depth estimator (model + scene cuts + stabiliser), built on first use."""
        if self._depth is None:
            from .depth import DepthConfig, DepthEstimator

            kwargs = {"device": self.config.device, "input_size": self.config.depth_input_size}
            if self.config.depth_model is not None:
                local = Path(self.config.depth_model).expanduser()
                kwargs["model_id"] = str(local) if local.is_dir() else self.config.depth_model
                kwargs["revision"] = None
            self._depth = DepthEstimator(DepthConfig(**kwargs), stabilizer=self.config.stabilizer, scene_cuts=self.config.scene_cuts)
        return self._depth

    def estimate_disparity(self, frames: np.ndarray) -> np.ndarray:
        """Disparity of the next chunk of a clip (stateful: call chunks in order).

        Args:
            frames: ``(n, H, W, 3) uint8``.

        Returns:
            ``(n, H, W) float32`` disparity px.
        """
        nearness = self.depth_estimator.process(frames)
        return depth_to_disparity(nearness, self.config.disparity)

    # ------------------------------------------------------------------ synthesis

    def check_variant(self, variant: str) -> None:
        """Check ``variant`` is known and its learned parts load; else :class:`VariantUnavailable`."""
        check_choice("variant", variant, VARIANTS)
        try:
            if variant != "poly":
                self.learned_fill  # noqa: B018  (loads it)
            if variant == "full":
                self.refiner  # noqa: B018
        except (FileNotFoundError, ImportError) as exc:
            raise VariantUnavailable(f"variant: {variant!r} is unavailable: {exc}; use variant='poly'") from None

    def derive(self, *, config: PipelineConfig | None = None, depth_estimator=None) -> "StereoPipeline":
        """A pipeline that shares this one's loaded networks but has its own settings and state.

        Args:
            config: settings for the new pipeline (default: this one's).
            depth_estimator: its own :class:`spatialme.depth.DepthEstimator` (e.g. around this
                pipeline's depth network, so a web request gets a fresh stabiliser); ``None``
                builds one on first use.

        Returns:
            A new :class:`StereoPipeline`; the learned inpainter and refiner are shared.
        """
        other = StereoPipeline(config or self.config, depth_estimator=depth_estimator, pretrained=self.pretrained)
        other._learned_fill, other._refiner = self._learned_fill, self._refiner
        return other

    @property
    def learned_fill(self):
        """The DL branch's hole filler (flow propagation + learned inpainter), loaded once."""
        if self._learned_fill is None:
            from .inpaint.learned import LearnedFill
            from .weights import component_dir, resolve_weights

            folder = component_dir(resolve_weights(self.pretrained), "inpainter")
            cfg = self.config
            self._learned_fill = LearnedFill(weights=folder, device=self.device, flow=cfg.flow, bands=cfg.bands, pyramid=cfg.pyramid)
        return self._learned_fill

    @property
    def refiner(self):
        """The MHFU refiner, loaded once and moved to the pipeline's device."""
        if self._refiner is None:
            from .refiner import MHFURefiner
            from .weights import component_dir, resolve_weights

            folder = component_dir(resolve_weights(self.pretrained), "refiner")
            self._refiner = MHFURefiner.from_pretrained(str(folder)).to(self.device).eval()
        return self._refiner

    @property
    def kernels(self) -> str:
        """``config.kernels`` with ``"auto"`` resolved for :attr:`device`."""
        if self.config.kernels != "auto":
            return self.config.kernels
        return "torch" if self.device.startswith("cuda") else "numpy"

    @property
    def device(self) -> str:
        """Torch device for the learned parts (``config.device``, ``"auto"`` resolved)."""
        return resolve_device(self.config.device)

    def _fuse(self, poly, de, dl, holes, de_holes, propagated, warped_disparity, maps_for: Sequence[int] = ()) -> RefinedClip:
        """The MHFU refiner on ``(T, ...)`` branches, masks and the warp's disparity px (packed bands on a CPU,
        whole frames on CUDA), keeping DL's propagated pixels; the maps of frames ``maps_for`` from the same pass."""
        from .fusion import keep_propagated, refine_frames
        from .inpaint.inference import normalize_disparity
        masks = np.stack([holes, de_holes], axis=1)  # (T, 2, H, W); the disparity if the refiner reads it:
        guide = normalize_disparity(warped_disparity, holes) if self.refiner.disparity_input else None
        refined = refine_frames(self.refiner, poly, de, dl, masks, self.config.bands, maps=maps_for, disparity=guide)
        return keep_propagated(refined, dl, propagated)

    def synthesize(
        self,
        left: np.ndarray,
        disparity: np.ndarray,
        variant: str = DEFAULT_VARIANT,
        maps_for: Sequence[int] = (),
        cuts: np.ndarray | None = None,
    ) -> StereoOutput:
        """Synthesise the right view of frames already in memory.

        Args:
            left: ``(T, H, W, 3)`` or ``(H, W, 3)`` uint8 left view.
            disparity: ``(T, H, W)`` or ``(H, W)`` float left-view disparity px.
            variant: ``"poly"`` (Poly branch), ``"dl"`` (DL branch), ``"dl+de"`` (DL with
                disparity expansion) or ``"full"`` (all three fused by the MHFU refiner).
            maps_for: frame indices whose refiner masks and content to keep
                (``StereoOutput.refiner``; full variant only).
            cuts: ``(T,) bool`` scene cuts (True = a frame starts a new shot); nothing is
                propagated across one. None = the frames are one shot.

        Returns:
            :class:`StereoOutput` (always with a leading ``T`` axis).
        """
        self.check_variant(variant)
        clip = check_clip("left", left)
        disp = check_disparity("disparity", disparity, *clip.shape[:3])
        if cuts is not None:
            cuts = check_array("cuts", cuts, (1,), (np.bool_,))
            if cuts.shape != (len(clip),):
                raise ValueError(f"cuts: expected shape ({len(clip)},) to match the frames, got {cuts.shape}")
        which = _VARIANT_BRANCHES[variant]
        branches = run_branches(
            clip,
            disp,
            which,
            self.learned_fill if variant != "poly" else None,
            warp_config=self.config.warp,
            expand_config=self.config.expand,
            poly_variant=self.config.poly_variant,
            cuts=cuts,
            kernels=self.kernels,
            device=self.device,
        )
        right, maps = branches.outputs[which[0]], {}
        if variant == "full":
            o = branches.outputs
            refined = self._fuse(o["poly"], o["de"], o["dl"], branches.warp.hole_mask, branches.de_hole_mask, branches.dl_propagated, branches.warp.disparity, maps_for)
            right, maps = refined.right, refined.maps
        return StereoOutput(
            right=right,
            hole_mask=branches.warp.hole_mask,
            branches=branches.outputs,
            warped=branches.warp.image,
            warped_disparity=branches.warp.disparity,
            variant=variant,
            de_hole_mask=branches.de_hole_mask,
            refiner=maps,
            propagated=branches.dl_propagated,
        )

    def refiner_maps(self, out: StereoOutput, t: int) -> dict[str, np.ndarray]:
        """The refiner's masks and content for frame ``t`` of a ``"full"`` result.

        The maps kept by ``synthesize(..., maps_for=...)`` (those of the pass that made
        ``out.right``); for another frame, the same refinement (bands on a CPU) is run on
        that frame alone.

        Returns:
            ``{"m1", "m2", "m3"}: (H, W) float32 in [0, 1]`` and ``"c": (H, W, 3) uint8``
            (paper Fig. 7); empty for other variants.
        """
        if out.variant != "full":
            return {}
        if t in out.refiner:
            return out.refiner[t]
        one = [a[t : t + 1] for a in (out.branches["poly"], out.branches["de"], out.branches["dl"], out.hole_mask, out.de_hole_mask, out.propagated, out.warped_disparity)]
        return self._fuse(*one, maps_for=[0]).maps[0]

    # ------------------------------------------------------------------ files

    def convert(
        self,
        input_path: str | os.PathLike,
        output_path: str | os.PathLike,
        *,
        fmt: str = "full-sbs",
        variant: str = DEFAULT_VARIANT,
        disparity: str | os.PathLike | np.ndarray | None = None,
        start: float = 0.0,
        max_frames: int | None = None,
        limits: video.VideoLimits = video.VideoLimits(),
        progress: ProgressFn | None = None,
        extra_outputs: dict[str, str | os.PathLike] | None = None,
        inspect: int = 0,
        overwrite: bool = False,
        depth: str | os.PathLike | np.ndarray | None = None,
        comfort: "ComfortConfig | str | None" = None,
        report: str | os.PathLike | None = None,
    ) -> ConvertResult:
        """Convert a video or image file to a stereo file.

        Every output name is claimed before any work (:class:`spatialme.video.OutputClaim`):
        created exclusively unless ``overwrite``, in a folder checked to be writable, never the
        input. Nothing is left at an output path when the conversion fails or is stopped.

        Args:
            input_path: video (mp4/mov/mkv/webm/gif/...) or image.
            output_path: where to write; a video for a video, an image for an image.
            fmt: stereo format (see :data:`spatialme.compose.FORMATS`).
            variant: synthesis variant.
            disparity: optional ``(T, H, W)`` float disparity px for the input's frames
                (``.npy`` or ``.npz`` path, or an array); skips depth estimation. Values must
                be finite and within the frame width (``-W .. W`` px).
            start: seconds to skip at the start of a video.
            max_frames: convert at most this many frames.
            limits: input size and length limits.
            progress: called as ``progress(done, total, stage)`` after each chunk.
            extra_outputs: more formats written in the same pass, ``{format: path}``
                (e.g. ``{"anaglyph": "clip_anaglyph.mp4"}``).
            inspect: keep every stage of this many evenly spaced frames in
                ``ConvertResult.stages`` (for side-by-side inspection).
            overwrite: replace existing output files (only once the new ones are complete).
            depth: optional ``(T, H, W)`` relative inverse depth (larger = nearer; ``.npy``/``.npz``
                or an array, the input's aspect ratio) instead of the depth model.
            comfort: :class:`spatialme.comfort.ComfortConfig` (or ``"auto"``): divergence and
                convergence per shot for a display, floating windows; ``None`` = the fixed
                ``config.disparity``.
            report: ``PATH`` for the depth-budget report ``PATH.json`` and ``PATH.png``.

        Returns:
            :class:`ConvertResult`.

        Raises:
            spatialme.video.OutputExists: an output exists (or another run is writing it) and
                ``overwrite`` is False.
            ValueError: bad arguments or input (:class:`spatialme.video.VideoError` for files).
        """
        t0 = time.perf_counter()
        fmt = canonical_format(fmt)
        if max_frames is not None and (isinstance(max_frames, bool) or not isinstance(max_frames, int) or max_frames < 1):
            raise ValueError(f"max_frames: expected a positive integer, got {max_frames!r}")
        if isinstance(inspect, bool) or not isinstance(inspect, int) or inspect < 0:
            raise ValueError(f"inspect: expected a number of frames >= 0, got {inspect!r}")
        if not (np.isfinite(start) and start >= 0):
            raise ValueError(f"start: expected seconds >= 0, got {start!r}")
        formats = {fmt: Path(output_path), **{canonical_format(f): Path(p) for f, p in (extra_outputs or {}).items()}}
        inputs = [input_path] + [p for p in (disparity, depth) if isinstance(p, (str, os.PathLike))]
        with contextlib.ExitStack() as stack:
            claim = stack.enter_context(video.OutputClaim(list(formats.values()), overwrite=overwrite, inputs=inputs))
            source = DisparitySource(disparity) if disparity is not None else None
            if source is not None:
                stack.callback(source.close)
            session = open_session(self, comfort, depth=depth, disparity=source, report=report)
            if session is not None:
                stack.callback(session.close)  # deletes the first pass's temporary depth, also on errors and signals
            result = convert_claimed(self, input_path, formats, claim, variant, source, start, max_frames, limits, progress,
                                     inspect, session)
        result.seconds = time.perf_counter() - t0
        return result

    def _synthesize_chunk(
        self, chunk: np.ndarray, disp: np.ndarray, variant: str, offset: int, keep: set[int], cuts: np.ndarray | None = None
    ) -> tuple[np.ndarray, list[StageFrame]]:
        """Right view ``(T, H, W, 3) uint8`` of a chunk and its kept frames' stages (``cuts``: ``(T,) bool``).

        A frame beyond ``config.chunk_pixels`` (chunks then hold one frame) is synthesised in
        :func:`row_strips` of ``config.strip_pixels``, each strip with :data:`STRIP_MARGIN` rows
        of context, and only the right view (and the kept stages) is assembled at full size.
        """
        height, width = chunk.shape[1:3]
        if height * width <= self.config.chunk_pixels:
            strips = [(0, height, 0, height)]
        else:
            strips = row_strips(height, width, self.config.strip_pixels)
        wanted = [i for i in range(len(chunk)) if offset + i in keep]
        if len(strips) == 1:
            result = self.synthesize(chunk, disp, variant, maps_for=wanted, cuts=cuts)
            return result.right, _stage_frames(chunk, disp, result, offset, keep, self.refiner_maps)
        right = np.empty_like(chunk)
        parts: list[list[StageFrame]] = []
        for lo, hi, k0, k1 in strips:
            result = self.synthesize(chunk[:, lo:hi], disp[:, lo:hi], variant, maps_for=wanted, cuts=cuts)
            right[:, k0:k1] = result.right[:, k0 - lo : k1 - lo]
            part = _stage_frames(chunk[:, lo:hi], disp[:, lo:hi], result, offset, keep, self.refiner_maps)
            parts.append([_stage_rows(stage, k0 - lo, k1 - lo) for stage in part])
            del result, part  # one strip's intermediates at a time
        return right, [_stack_stages([p[i] for p in parts]) for i in range(len(parts[0]))]
