"""The stereo pipeline: one entry point from a left view (or a file) to the stereo result.

Stages (paper Fig. 2): depth -> disparity -> depth-warp -> inpainting branches -> fusion ->
stereo composition -> encoding. :meth:`StereoPipeline.synthesize` runs the view-synthesis
part on frames already in memory and returns every intermediate the product shows (hole
mask, warped frame, each branch), as a :class:`StereoOutput` dataclass (diffusers style).
:meth:`StereoPipeline.convert` streams a file through depth and synthesis in chunks, so
memory does not grow with clip length, and writes the composed stereo file atomically.

Memory in :meth:`StereoPipeline.convert` is bounded by a pixel budget, not a frame count:
a chunk holds at most ``PipelineConfig.chunk_pixels`` pixels (16 frames of 720p, 8 of 1080p,
2 of 4K), and a frame larger than the budget (8K) is synthesised in horizontal strips of at
most ``PipelineConfig.strip_pixels`` with :data:`STRIP_MARGIN` rows of context each side, so
the peak is about the same at any resolution (``benchmarks/bench_memory.py``). Video outputs stay within H.264 level 6.2
(:func:`spatialme.video.h264_fit`): a layout beyond it (full SBS of 8K) is scaled down with
a notice.

Variants are the ablation rows of the paper's Table III: ``"poly"`` (Poly-based branch
only), ``"dl"``, ``"dl+de"`` and ``"full"``. The last three need the learned inpainter and
the MHFU refiner.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
import zipfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from collections.abc import Sequence
from typing import TYPE_CHECKING, Callable, Iterator

import numpy as np

from . import video
from .checks import check_array, check_choice, check_clip, check_disparity, check_disparity_values
from .compose import canonical_format, compose, output_shape
from .disparity import DisparityConfig, depth_to_disparity
from .overlap import BackgroundConsumer, prefetch
from .bands import BandConfig
from .depth import StabilizerConfig
from .devices import check_device_name, resolve_device
from .inpaint.expand import ExpandConfig
from .inpaint.flow import FlowConfig
from .inpaint.pyramid import PyramidConfig
from .scenes import SceneCutConfig, SceneCutDetector
from .branches import BranchOutputs, run_branches
from .comfort.session import open_session
from .warp import WarpConfig

if TYPE_CHECKING:  # torch is imported only when a learned variant runs
    from .comfort.session import ComfortConfig, ComfortSession
    from .refiner import RefinedClip

__all__ = ["VARIANTS", "DEFAULT_VARIANT", "STRIP_MARGIN", "PipelineConfig", "StereoOutput", "StageFrame", "ConvertResult",
           "StereoPipeline", "VariantUnavailable", "chunk_frames", "row_strips"]

_log = logging.getLogger(__name__)
#: Rows of context above and below each strip of a frame larger than the pixel budget; more
#: than every stage reaches across rows (refiner about 50 px, DE blocks 2k = 60 px at 8K).
STRIP_MARGIN = 64

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
    """

    right: np.ndarray
    hole_mask: np.ndarray
    branches: dict[str, np.ndarray]
    warped: np.ndarray
    warped_disparity: np.ndarray
    variant: str
    de_hole_mask: np.ndarray | None = None
    refiner: dict[int, dict[str, np.ndarray]] = field(default_factory=dict)


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
        notes: what was changed on the way, one line each (an output scaled down to fit
            H.264 level 6.2); also logged as warnings when the conversion starts.
        report: ``{"json": path, "png": path}`` of the depth-budget report, when one was asked for.
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
    notes: list[str] = field(default_factory=list)
    report: dict[str, str] = field(default_factory=dict)

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


def chunk_frames(height: int, width: int, config: PipelineConfig) -> int:
    """Frames per chunk for ``height x width`` frames: the pixel budget's share, 1 to ``config.chunk``."""
    return max(1, min(config.chunk, config.chunk_pixels // (height * width)))


def row_strips(height: int, width: int, max_pixels: int, margin: int = STRIP_MARGIN) -> list[tuple[int, int, int, int]]:
    """Cut a frame into horizontal strips of at most about ``max_pixels`` pixels each.

    Args:
        height, width: frame size, px.
        max_pixels: pixel budget of one strip (its core rows; the margins add ``2 * margin`` rows).
        margin: rows of context read above and below each strip's core.

    Returns:
        ``(lo, hi, keep_lo, keep_hi)`` row ranges per strip: rows ``lo:hi`` are processed and
        rows ``keep_lo:keep_hi`` kept; the kept ranges tile ``0:height``. One strip
        ``(0, height, 0, height)`` when the frame is within the budget.
    """
    count = max(1, -(-(height * width) // max_pixels))
    if count == 1:
        return [(0, height, 0, height)]
    step = -(-height // count)
    return [(max(0, k0 - margin), min(height, k0 + step + margin), k0, min(height, k0 + step)) for k0 in range(0, height, step)]


def _stage_rows(stage: StageFrame, r0: int, r1: int) -> StageFrame:
    """Rows ``r0:r1`` of every picture of ``stage``."""
    return StageFrame(
        index=stage.index, left=stage.left[r0:r1], disparity=stage.disparity[r0:r1], warped=stage.warped[r0:r1],
        hole_mask=stage.hole_mask[r0:r1], branches={k: v[r0:r1] for k, v in stage.branches.items()},
        right=stage.right[r0:r1], refiner={k: v[r0:r1] for k, v in stage.refiner.items()},
    )


def _stack_stages(parts: list[StageFrame]) -> StageFrame:
    """One frame's stages from its strips (top to bottom)."""
    def rows(pick: Callable[[StageFrame], np.ndarray]) -> np.ndarray:
        return np.concatenate([pick(p) for p in parts], axis=0)

    first = parts[0]
    return StageFrame(
        index=first.index, left=rows(lambda p: p.left), disparity=rows(lambda p: p.disparity),
        warped=rows(lambda p: p.warped), hole_mask=rows(lambda p: p.hole_mask),
        branches={k: rows(lambda p, k=k: p.branches[k]) for k in first.branches},
        right=rows(lambda p: p.right), refiner={k: rows(lambda p, k=k: p.refiner[k]) for k in first.refiner},
    )


def _fit_frames(clip: np.ndarray, height: int, width: int) -> np.ndarray:
    """``(T, h, w, 3)`` uint8 resized to ``height x width`` (area filter: downscaling only)."""
    import cv2

    if clip.shape[1:3] == (height, width):
        return clip
    return np.stack([cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA) for frame in clip])


def _level_note(fmt: str, size: tuple[int, int], fitted: tuple[int, int], view: tuple[int, int]) -> str:
    """The notice for a ``fmt`` output of ``size`` (H, W) scaled to ``fitted`` (H, W); ``view`` = one eye."""
    halves = {"full-sbs": "half-sbs", "cross": "half-sbs", "full-tb": "half-tb"}
    hint = f" ({halves[fmt]} keeps {view[1]}x{view[0]} per frame)" if fmt in halves else ""
    return (f"{fmt}: {size[1]}x{size[0]} frames are beyond H.264 level 6.2 ({video.H264_MAX_MACROBLOCKS:,} macroblocks), "
            f"which browsers and hardware decoders may refuse; writing {fitted[1]}x{fitted[0]}{hint}")


_NPY_MAGIC, _ZIP_MAGIC = b"\x93NUMPY", b"PK"  # a zip starts with a local header, or an empty one with its end record


class _DisparitySource:
    """Frames of a ``(T, H, W)`` float disparity (px): a ``.npy``, a ``.npz`` or an array.

    Files are read a chunk at a time with plain reads (no memory map, whose touched pages
    would stay resident), so memory does not grow with the clip. A ``.npz`` holds one array,
    or one named ``disparity``; its (possibly compressed) member is streamed in order.

    Args:
        value: path or ``(T, H, W)`` array.
        name: argument name for messages.
    """

    def __init__(self, value: str | os.PathLike | np.ndarray, name: str = "disparity", unit: str = "pixels") -> None:
        self.name = name
        self._array: np.ndarray | None = None
        self._zip: zipfile.ZipFile | None = None
        self._member = ""
        self._stream = None
        self._at = 0  # next frame of the open .npz stream
        if isinstance(value, np.ndarray):
            self._array, self.shape, self.dtype = value, value.shape, value.dtype
        elif isinstance(value, (str, os.PathLike)):
            try:
                self._open(Path(value))
            except BaseException:
                self.close()
                raise
        else:
            raise ValueError(f"{name}: expected a .npy/.npz path or an array, got {type(value).__name__}")
        numeric = np.issubdtype(self.dtype, np.floating) or (self._array is not None and np.issubdtype(self.dtype, np.integer))
        if len(self.shape) != 3 or not numeric:
            raise ValueError(f"{name}: expected a float (T, H, W) array of {unit}, got {self.dtype} {tuple(self.shape)}")

    # -- opening ---------------------------------------------------------------------------

    def _open(self, path: Path) -> None:
        if not path.is_file():
            raise ValueError(f"{self.name}: file not found: {path}")
        self.path = path
        with open(path, "rb") as f:
            magic = f.read(6)
        try:
            if magic.startswith(_ZIP_MAGIC):
                self._open_npz(path)
            elif magic == _NPY_MAGIC:
                with open(path, "rb") as f:
                    self.shape, self.dtype, self._fortran = self._header(f)
                    self._offset = f.tell()
            else:
                raise ValueError(f"{self.name}: {path.name} is not a .npy or .npz file; expected a (T, H, W) float "
                                 "array saved with numpy.save (or numpy.savez)")
        except (OSError, EOFError, zipfile.BadZipFile) as exc:
            raise ValueError(f"{self.name}: {path.name} is not a readable .npy/.npz array ({exc.__class__.__name__})") from None

    def _header(self, f) -> tuple[tuple[int, ...], np.dtype, bool]:
        try:
            version = np.lib.format.read_magic(f)
            read = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}.get(version)
            if read is None:
                raise ValueError(f"version {version}")
            shape, fortran, dtype = read(f)
        except ValueError as exc:
            raise ValueError(f"{self.name}: {self.path.name} is not a readable .npy array ({exc})") from None
        return tuple(shape), np.dtype(dtype), bool(fortran)

    def _open_npz(self, path: Path) -> None:
        self._zip = zipfile.ZipFile(path)
        arrays = [n for n in self._zip.namelist() if n.endswith(".npy")]
        names = [n[:-4] for n in arrays]
        if len(arrays) == 1:
            self._member = arrays[0]
        elif "disparity" in names:
            self._member = "disparity.npy"
        else:
            held = ", ".join(names) if names else "no arrays"
            raise ValueError(f"{self.name}: {path.name} holds {held}; expected one array, or one named 'disparity'")
        self._rewind()

    def _rewind(self) -> None:
        assert self._zip is not None
        if self._stream is not None:
            self._stream.close()
        self._stream = self._zip.open(self._member)
        self.shape, self.dtype, self._fortran = self._header(self._stream)
        if self._fortran:
            raise ValueError(f"{self.name}: {self.path.name} holds a Fortran-ordered array; save it C-ordered "
                             "(numpy.ascontiguousarray) for streaming")
        self._at = 0

    # -- reading ---------------------------------------------------------------------------

    def frames(self, lo: int, hi: int) -> np.ndarray:
        """Frames ``lo:hi`` as a writable ``(hi - lo, H, W) float32`` array."""
        _, h, w = self.shape
        count = (hi - lo) * h * w
        if self._array is not None:
            return np.array(self._array[lo:hi], dtype=np.float32)
        if self._zip is None:
            if self._fortran:  # rare (a transposed array saved as is): read through a memory map
                return np.array(np.load(self.path, mmap_mode="r")[lo:hi], dtype=np.float32)
            with open(self.path, "rb") as f:
                data = np.fromfile(f, self.dtype, count=count, offset=self._offset + lo * h * w * self.dtype.itemsize)
            if data.size != count:
                raise ValueError(f"{self.name}: {self.path.name} ends before frame {hi} (truncated file)")
            return data.reshape(hi - lo, h, w).astype(np.float32, copy=False)
        if lo < self._at:
            self._rewind()
        frame_bytes = h * w * self.dtype.itemsize
        while self._at < lo:  # skip, a frame at a time
            self._stream.read(frame_bytes)
            self._at += 1
        buf = bytearray(count * self.dtype.itemsize)
        got = self._stream.readinto(memoryview(buf))
        if got != len(buf):
            raise ValueError(f"{self.name}: {self.path.name} ends before frame {hi} (truncated archive)")
        self._at = hi
        return np.frombuffer(buf, self.dtype).reshape(hi - lo, h, w).astype(np.float32, copy=False)

    def check(self, first: int, total: int, height: int, width: int) -> None:
        """Check shape, length and values of frames ``first : first + total`` before any work.

        The values are scanned in blocks of about 64 MB (min and max only), so a NaN or a
        disparity beyond the frame width is refused before the first output frame.
        """
        if self.shape[1:] != (height, width):
            raise ValueError(f"{self.name}: expected shape (T, {height}, {width}) to match the input, got {tuple(self.shape)}")
        if self.shape[0] < first + total:
            raise ValueError(f"{self.name}: has {self.shape[0]} frames but {first + total} are needed")
        step = max(1, (64 << 20) // (height * width * 4))
        for lo in range(first, first + total, step):
            check_disparity_values(self.name, self.frames(lo, min(lo + step, first + total)), width)

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()
        if self._zip is not None:
            self._zip.close()


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

    def _refine(self, branches: BranchOutputs, maps_for: Sequence[int] = ()) -> RefinedClip:
        """Fuse the three branches with the MHFU refiner (packed bands on a CPU, whole frames on
        CUDA); the masks and content of frames ``maps_for`` come from the same pass."""
        from .refiner import refine_frames

        out = branches.outputs
        masks = np.stack([branches.warp.hole_mask, branches.de_hole_mask], axis=1)  # (T, 2, H, W)
        return refine_frames(self.refiner, out["poly"], out["de"], out["dl"], masks, self.config.bands, maps=maps_for)

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
        maps: dict[int, dict[str, np.ndarray]] = {}
        if variant == "full":
            refined = self._refine(branches, maps_for)
            right, maps = refined.right, refined.maps
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
            refiner=maps,
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
        from .refiner import refine_frames

        masks = np.stack([out.hole_mask[t], out.de_hole_mask[t]])[None]
        one = {k: out.branches[k][t : t + 1] for k in ("poly", "de", "dl")}
        return refine_frames(self.refiner, one["poly"], one["de"], one["dl"], masks, self.config.bands, maps=[0]).maps[0]

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
            source = _DisparitySource(disparity) if disparity is not None else None
            if source is not None:
                stack.callback(source.close)
            session = open_session(self, comfort, depth=depth, disparity=source, report=report)
            if session is not None:
                stack.callback(session.close)  # deletes the first pass's temporary depth, also on errors and signals
            result = self._convert_claimed(input_path, formats, claim, variant, source, start, max_frames, limits, progress,
                                           inspect, session)
        result.seconds = time.perf_counter() - t0
        return result

    def _convert_claimed(
        self,
        input_path: str | os.PathLike,
        formats: dict[str, Path],
        claim: video.OutputClaim,
        variant: str,
        source: _DisparitySource | None,
        start: float,
        max_frames: int | None,
        limits: video.VideoLimits,
        progress: ProgressFn | None,
        inspect: int,
        session: "ComfortSession | None" = None,
    ) -> ConvertResult:
        """:meth:`convert` once the outputs are claimed (``formats``: format -> path, main first)."""
        self.check_variant(variant)
        info = video.probe(input_path, limits)
        first = int(round(start * info.fps)) if not info.is_image else 0
        total = max(info.frames - first, 0) if not info.is_image else 1
        if max_frames is not None:
            total = min(total, max_frames)
        if total <= 0:
            raise ValueError(f"start: {start} s is past the end of {Path(input_path).name} ({info.duration:.2f} s)")
        for path in formats.values():
            if info.is_image != video.is_image_path(path):
                want = "an image (.png/.jpg)" if info.is_image else "a video (.mp4/.mkv/...)"
                raise ValueError(f"output: {path.name} must be {want} for this input")
        detector = None
        if source is not None:
            source.check(first, total, info.height, info.width)
            detector = SceneCutDetector(self.config.scene_cuts) if self.config.scene_cuts is not None else None
        elif session is None:
            self.depth_estimator.reset()  # loads the model now, before any output is written
        sizes, notes = self._output_sizes(formats, info)
        keep = set(np.linspace(0, total - 1, min(inspect, total)).round().astype(int).tolist()) if inspect > 0 else set()
        stages: list[StageFrame] = []

        def read_chunks() -> Iterator[np.ndarray]:
            if info.is_image:
                return iter([video.read_image(input_path)[None]])
            step = chunk_frames(info.height, info.width, self.config)
            # decoded one chunk ahead, in a thread, while this one is synthesised
            return prefetch(video.read_frames(info, start=start, max_frames=total, chunk=step, limits=limits), depth=1)

        if session is not None:  # checks, and for auto strength the first pass and every shot's plan
            session.prepare(info, first, total, read_chunks, progress)

        def stereo_chunks() -> Iterator[dict[str, np.ndarray]]:
            done = 0
            for chunk in read_chunks():
                if session is not None:
                    disp, cuts = session.chunk(done, chunk)
                elif source is not None:
                    disp = source.frames(first + done, first + done + len(chunk))
                    cuts = detector.process(chunk) if detector is not None else None
                else:
                    disp = self.estimate_disparity(chunk)
                    cuts = self.depth_estimator.last_cuts
                right, kept = self._synthesize_chunk(chunk, disp, variant, done, keep, cuts)
                if session is not None:  # floating windows; parallax recorded for the report
                    chunk, right = session.finish(done, chunk, disp, right)
                stages.extend(kept)
                done += len(chunk)
                if progress is not None:
                    progress(done, total, "synthesis")
                yield {f: _fit_frames(compose(chunk, right, f), *sizes[f]) for f in formats}

        written = 0
        fmt = next(iter(formats))
        if info.is_image:
            composed = next(stereo_chunks())
            with contextlib.ExitStack() as undo:
                for f, path in formats.items():
                    video.write_image(path, composed[f][0])
                    undo.callback(_remove_if_exists, path)  # a later failure removes earlier images
                    claim.placed(path)
                undo.pop_all()
            written = 1
        else:
            audio = str(input_path) if info.has_audio else None
            with contextlib.ExitStack() as stack:
                writers = {f: stack.enter_context(video.VideoWriter(p, info.fps, audio_source=audio, audio_start=start)) for f, p in formats.items()}

                def encode(composed: dict[str, np.ndarray]) -> None:
                    for f, writer in writers.items():
                        writer.write(composed[f])

                with BackgroundConsumer(encode, depth=1) as encoder:  # encoded behind, in a thread
                    for composed in stereo_chunks():
                        encoder.put(composed)
                        written += len(composed[fmt])
                if written == 0:  # raised inside the writers so that no output is left behind
                    raise ValueError(f"input: no frames could be decoded from {Path(input_path).name}")
                for writer in writers.values():  # the slow part (encoder flush, audio) for all first
                    writer.finish()
                with video.signals_deferred():  # then every file moves into place, or none
                    for f, writer in writers.items():
                        claim.placed(writer.close())
        return ConvertResult(
            output=str(formats[fmt]),
            frames=written,
            fps=0.0 if info.is_image else info.fps,
            width=int(sizes[fmt][1]),
            height=int(sizes[fmt][0]),
            seconds=0.0,
            image=info.is_image,
            outputs={f: str(p) for f, p in formats.items()},
            stages=stages,
            notes=notes,
            report=session.write_report() if session is not None else {},
        )

    def _output_sizes(self, formats: dict[str, Path], info: video.VideoInfo) -> tuple[dict[str, tuple[int, int]], list[str]]:
        """``(H, W)`` written per format (videos fitted to H.264 level 6.2) and a note per change."""
        sizes, notes = {}, []
        for f in formats:
            size = output_shape(f, info.height, info.width)
            if not info.is_image:
                w, h = video.h264_fit(size[1], size[0])
                if (h, w) != size:
                    notes.append(_level_note(f, size, (h, w), (info.height, info.width)))
                    _log.warning("%s", notes[-1])
                    size = (h, w)
            sizes[f] = size
        return sizes, notes

    def _synthesize_chunk(
        self, chunk: np.ndarray, disp: np.ndarray, variant: str, offset: int, keep: set[int], cuts: np.ndarray | None = None
    ) -> tuple[np.ndarray, list[StageFrame]]:
        """Right view ``(T, H, W, 3) uint8`` of a chunk and its kept frames' stages; ``cuts``
        ``(T,) bool`` are the chunk's scene cuts.

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
