"""The stereo pipeline: one entry point from a left view (or a file) to the stereo result.

Stages (paper Fig. 2): depth -> disparity -> depth-warp -> inpainting branches -> fusion ->
stereo composition -> encoding. :meth:`StereoPipeline.synthesize` runs the view-synthesis
part on frames already in memory and returns every intermediate the product shows (hole
mask, warped frame, each branch), as a :class:`StereoOutput` dataclass (diffusers style).
:meth:`StereoPipeline.convert` streams a file through depth and synthesis in chunks, so
memory does not grow with clip length, and writes the composed stereo file atomically.

Variants are the ablation rows of the paper's Table III: ``"poly"`` (Poly-based branch
only), ``"dl"``, ``"dl+de"`` and ``"full"``. The last three need the learned inpainter and
the MHFU refiner.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from . import video
from .checks import check_choice, check_clip, check_disparity
from .compose import canonical_format, compose
from .disparity import DisparityConfig, depth_to_disparity
from .inpaint.expand import ExpandConfig
from .branches import BranchOutputs, run_branches
from .warp import WarpConfig

__all__ = ["VARIANTS", "DEFAULT_VARIANT", "PipelineConfig", "StereoOutput", "StageFrame", "ConvertResult", "StereoPipeline", "VariantUnavailable"]

VARIANTS = ("poly", "dl", "dl+de", "full")
#: The variant used when none is named (CLI, Python, web app): the best across the strength
#: sweep and on the real Motorcycle pair (``assets/weights/README.md``).
DEFAULT_VARIANT = "full"
_VARIANT_BRANCHES = {"poly": ("poly",), "dl": ("dl",), "dl+de": ("de",), "full": ("poly", "dl", "de")}
ProgressFn = Callable[[int, int, str], None]


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
        chunk: frames decoded and processed together; bounds memory for long clips.
        depth_model: Hub id or local directory of the depth model (``None`` = the pinned
            Depth Anything V2 Small).
        depth_input_size: short side fed to the depth model (``None`` = 518 on CUDA, 364 on CPU).
        device: ``"auto"``, ``"cpu"`` or ``"cuda[:N]"`` for the networks.
    """

    disparity: DisparityConfig = field(default_factory=DisparityConfig)
    warp: WarpConfig = field(default_factory=WarpConfig)
    expand: ExpandConfig = field(default_factory=ExpandConfig)
    poly_variant: str = "sharp"
    chunk: int = 16
    depth_model: str | None = None
    depth_input_size: int | None = None
    device: str = "auto"

    def __post_init__(self) -> None:
        check_choice("poly_variant", self.poly_variant, ("sharp", "soft"))
        if isinstance(self.chunk, bool) or not isinstance(self.chunk, int) or not 1 <= self.chunk <= 1024:
            raise ValueError(f"chunk: expected an integer in [1, 1024], got {self.chunk!r}")


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
    """

    right: np.ndarray
    hole_mask: np.ndarray
    branches: dict[str, np.ndarray]
    warped: np.ndarray
    warped_disparity: np.ndarray
    variant: str
    de_hole_mask: np.ndarray | None = None


@dataclass
class ConvertResult:
    """Summary of :meth:`StereoPipeline.convert`.

    Attributes:
        output: path written.
        frames: frames converted.
        fps: frame rate of the output (0 for an image).
        width, height: size of the written stereo frame.
        seconds: wall-clock time of the conversion.
        image: whether input and output are still images.
        outputs: format -> path of every file written (the main one included).
        stages: the inspected frames' stages, in frame order (see ``inspect``).
    """

    output: str
    frames: int
    fps: float
    width: int
    height: int
    seconds: float
    image: bool
    outputs: dict[str, str] = field(default_factory=dict)
    stages: list["StageFrame"] = field(default_factory=list)

    def summary(self) -> str:
        """One line for the CLI."""
        rate = self.frames / self.seconds if self.seconds > 0 else float("inf")
        kind = "image" if self.image else f"{self.frames} frames at {self.fps:.3g} fps"
        return f"wrote {self.output}: {kind}, {self.width}x{self.height}, {self.seconds:.1f} s ({rate:.2f} frames/s)"


@dataclass
class StageFrame:
    """Every stage of one converted frame, for inspection.

    Attributes:
        index: frame number within the converted range.
        left: ``(H, W, 3) uint8`` input frame.
        disparity: ``(H, W) float32`` disparity px used.
        warped: ``(H, W, 3) uint8`` plain warp, holes 0.
        hole_mask: ``(H, W) bool``.
        branches: branch name -> ``(H, W, 3) uint8``.
        right: ``(H, W, 3) uint8`` final right view.
        refiner: for the full variant, the refiner's ``m1``, ``m2``, ``m3`` ``(H, W)``
            float32 masks and content ``c`` ``(H, W, 3) uint8``.
    """

    index: int
    left: np.ndarray
    disparity: np.ndarray
    warped: np.ndarray
    hole_mask: np.ndarray
    branches: dict[str, np.ndarray]
    right: np.ndarray
    refiner: dict[str, np.ndarray] = field(default_factory=dict)


def _stage_frames(
    chunk: np.ndarray, disp: np.ndarray, result: StereoOutput, offset: int, keep: set[int], refiner_maps: Callable[[StereoOutput, int], dict]
) -> list[StageFrame]:
    """The kept frames of one chunk as :class:`StageFrame` objects (copies, chunk-independent)."""
    return [
        StageFrame(
            index=offset + i,
            left=chunk[i].copy(),
            disparity=disp[i].copy(),
            warped=result.warped[i].copy(),
            hole_mask=result.hole_mask[i].copy(),
            branches={k: v[i].copy() for k, v in result.branches.items()},
            right=result.right[i].copy(),
            refiner=refiner_maps(result, i),
        )
        for i in range(len(chunk))
        if offset + i in keep
    ]


def _remove_if_exists(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def _load_disparity_file(path: str | os.PathLike) -> np.ndarray:
    """Open a ``.npy`` disparity memory-mapped (``(T, H, W)`` float px); one-line errors."""
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"disparity: file not found: {p}")
    try:
        arr = np.load(p, mmap_mode="r", allow_pickle=False)
    except Exception as exc:  # numpy raises several types for a bad file
        raise ValueError(f"disparity: {p.name} is not a readable .npy array ({exc.__class__.__name__})") from None
    if arr.ndim != 3 or not np.issubdtype(arr.dtype, np.floating):
        raise ValueError(f"disparity: expected a float (T, H, W) array of pixels, got {arr.dtype} {arr.shape}")
    return arr


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
            self._depth = DepthEstimator(DepthConfig(**kwargs))
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
            self._learned_fill = LearnedFill(weights=folder, device=self.device)
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
    def device(self) -> str:
        """Torch device for the learned parts (``config.device``, ``"auto"`` resolved)."""
        if self.config.device != "auto":
            return self.config.device
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"

    def _refine(self, branches: BranchOutputs) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Fuse the three branches with the MHFU refiner (packed bands on a CPU, whole frames on CUDA)."""
        from .refiner import refine_clip

        out = branches.outputs
        masks = np.stack([branches.warp.hole_mask, branches.de_hole_mask], axis=1)  # (T, 2, H, W)
        return refine_clip(self.refiner, out["poly"], out["de"], out["dl"], masks), {}

    def synthesize(self, left: np.ndarray, disparity: np.ndarray, variant: str = DEFAULT_VARIANT) -> StereoOutput:
        """Synthesise the right view of frames already in memory.

        Args:
            left: ``(T, H, W, 3)`` or ``(H, W, 3)`` uint8 left view.
            disparity: ``(T, H, W)`` or ``(H, W)`` float left-view disparity px.
            variant: ``"poly"`` (Poly branch), ``"dl"`` (DL branch), ``"dl+de"`` (DL with
                disparity expansion) or ``"full"`` (all three fused by the MHFU refiner).

        Returns:
            :class:`StereoOutput` (always with a leading ``T`` axis).
        """
        self.check_variant(variant)
        clip = check_clip("left", left)
        disp = check_disparity("disparity", disparity, *clip.shape[:3])
        which = _VARIANT_BRANCHES[variant]
        branches = run_branches(
            clip,
            disp,
            which,
            self.learned_fill if variant != "poly" else None,
            warp_config=self.config.warp,
            expand_config=self.config.expand,
            poly_variant=self.config.poly_variant,
        )
        if variant == "full":
            right, _ = self._refine(branches)
        else:
            right = branches.outputs[which[0]]
        return StereoOutput(
            right=right,
            hole_mask=branches.warp.hole_mask,
            branches=branches.outputs,
            warped=branches.warp.image,
            warped_disparity=branches.warp.disparity,
            variant=variant,
            de_hole_mask=branches.de_hole_mask,
        )

    def refiner_maps(self, out: StereoOutput, t: int) -> dict[str, np.ndarray]:
        """The refiner's masks and content for frame ``t`` of a ``"full"`` result (whole frame).

        Returns:
            ``{"m1", "m2", "m3"}: (H, W) float32 in [0, 1]`` and ``"c": (H, W, 3) uint8``
            (paper Fig. 7); empty for other variants.
        """
        if out.variant != "full":
            return {}
        import torch

        def tensor(image: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(image).permute(2, 0, 1)[None].float().div(255).to(self.device)

        masks = torch.from_numpy(np.stack([out.hole_mask[t], out.de_hole_mask[t]])[None].astype(np.float32)).to(self.device)
        with torch.no_grad():
            res = self.refiner(tensor(out.branches["poly"][t]), tensor(out.branches["de"][t]), tensor(out.branches["dl"][t]), masks)
        maps = {k: getattr(res, k)[0, 0].float().cpu().numpy() for k in ("m1", "m2", "m3")}
        maps["c"] = (res.content[0].permute(1, 2, 0).clamp(0, 1).float().cpu().numpy() * 255 + 0.5).astype(np.uint8)
        return maps

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
    ) -> ConvertResult:
        """Convert a video or image file to a stereo file.

        Args:
            input_path: video (mp4/mov/mkv/webm/gif/...) or image.
            output_path: where to write; a video for a video, an image for an image.
            fmt: stereo format (see :data:`spatialme.compose.FORMATS`).
            variant: synthesis variant.
            disparity: optional ``(T, H, W)`` float disparity px for the input's frames
                (``.npy`` path or array); skips depth estimation.
            start: seconds to skip at the start of a video.
            max_frames: convert at most this many frames.
            limits: input size and length limits.
            progress: called as ``progress(done, total, stage)`` after each chunk.
            extra_outputs: more formats written in the same pass, ``{format: path}``
                (e.g. ``{"anaglyph": "clip_anaglyph.mp4"}``).
            inspect: keep every stage of this many evenly spaced frames in
                ``ConvertResult.stages`` (for side-by-side inspection).

        Returns:
            :class:`ConvertResult`.
        """
        t0 = time.perf_counter()
        fmt = canonical_format(fmt)
        self.check_variant(variant)
        if max_frames is not None and (isinstance(max_frames, bool) or not isinstance(max_frames, int) or max_frames < 1):
            raise ValueError(f"max_frames: expected a positive integer, got {max_frames!r}")
        if isinstance(inspect, bool) or not isinstance(inspect, int) or inspect < 0:
            raise ValueError(f"inspect: expected a number of frames >= 0, got {inspect!r}")
        if not (np.isfinite(start) and start >= 0):
            raise ValueError(f"start: expected seconds >= 0, got {start!r}")
        info = video.probe(input_path, limits)
        out = Path(output_path)
        first = int(round(start * info.fps)) if not info.is_image else 0
        total = max(info.frames - first, 0) if not info.is_image else 1
        if max_frames is not None:
            total = min(total, max_frames)
        if total <= 0:
            raise ValueError(f"start: {start} s is past the end of {Path(input_path).name} ({info.duration:.2f} s)")
        disp_all = None
        if disparity is not None:
            disp_all = _load_disparity_file(disparity) if not isinstance(disparity, np.ndarray) else disparity
            if disp_all.ndim != 3 or disp_all.shape[1:] != (info.height, info.width):
                raise ValueError(
                    f"disparity: expected shape (T, {info.height}, {info.width}) to match the input, got {tuple(disp_all.shape)}"
                )
            if disp_all.shape[0] < first + total:
                raise ValueError(f"disparity: has {disp_all.shape[0]} frames but {first + total} are needed")
        else:
            self.depth_estimator.reset()  # loads the model now, before any output is opened

        def disparity_of(chunk: np.ndarray, offset: int) -> np.ndarray:
            if disp_all is not None:
                return np.asarray(disp_all[first + offset : first + offset + len(chunk)], np.float32)
            return self.estimate_disparity(chunk)

        formats = {fmt: out, **{canonical_format(f): Path(p) for f, p in (extra_outputs or {}).items()}}
        for path in formats.values():
            if info.is_image != video.is_image_path(path):
                want = "an image (.png/.jpg)" if info.is_image else "a video (.mp4/.mkv/...)"
                raise ValueError(f"output: {path.name} must be {want} for this input")
        keep = set(np.linspace(0, total - 1, min(inspect, total)).round().astype(int).tolist()) if inspect > 0 else set()
        stages: list[StageFrame] = []

        def stereo_chunks() -> Iterator[dict[str, np.ndarray]]:
            done = 0
            if info.is_image:
                chunks: Iterator[np.ndarray] = iter([video.read_image(input_path)[None]])
            else:
                chunks = video.read_frames(info, start=start, max_frames=total, chunk=self.config.chunk, limits=limits)
            for chunk in chunks:
                disp = disparity_of(chunk, done)
                result = self.synthesize(chunk, disp, variant)
                stages.extend(_stage_frames(chunk, disp, result, done, keep, self.refiner_maps))
                done += len(chunk)
                if progress is not None:
                    progress(done, total, "synthesis")
                yield {f: compose(chunk, result.right, f) for f in formats}

        written = 0
        shape = (0, 0)
        if info.is_image:
            composed = next(stereo_chunks())
            with contextlib.ExitStack() as undo:
                for f, path in formats.items():
                    video.write_image(path, composed[f][0])
                    undo.callback(_remove_if_exists, path)  # a later failure removes earlier images
                undo.pop_all()
            written, shape = 1, composed[fmt].shape[1:3]
        else:
            audio = str(input_path) if info.has_audio else None
            with contextlib.ExitStack() as stack:
                writers = {f: stack.enter_context(video.VideoWriter(p, info.fps, audio_source=audio, audio_start=start)) for f, p in formats.items()}
                for composed in stereo_chunks():
                    for f, writer in writers.items():
                        writer.write(composed[f])
                    written += len(composed[fmt])
                    shape = composed[fmt].shape[1:3]
                if written == 0:  # raised inside the writers so that no output is left behind
                    raise ValueError(f"input: no frames could be decoded from {Path(input_path).name}")
        return ConvertResult(
            output=str(out),
            frames=written,
            fps=0.0 if info.is_image else info.fps,
            width=int(shape[1]),
            height=int(shape[0]),
            seconds=time.perf_counter() - t0,
            image=info.is_image,
            outputs={f: str(p) for f, p in formats.items()},
            stages=stages,
        )
