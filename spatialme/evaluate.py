"""Evaluation: score synthesised right views against real ones (paper Sec. V, Table III).

Why it is built this way
------------------------
The paper scores each Table III variant on StereoV1K test clips (every 20th frame) with
MAE, LPIPS, SSIM and PSNR against the real right view. Here one function,
:func:`evaluate_clip`, does that for one clip in memory and returns one row per method:

* every requested pipeline variant (``"poly"``, ``"dl"``, ``"dl+de"``, ``"full"``); a
  variant this build cannot run (:class:`spatialme.pipeline.VariantUnavailable`) is
  recorded as unavailable instead of failing the whole evaluation;
* every baseline hole filler (``"telea"`` by default) applied to the same plain warp and
  composited into its holes, so the baselines differ from the variants only in how the
  holes are filled.

Whole-frame numbers are dominated by the pixels the warp already got right, so each metric
is also reported inside the warp's holes (``-hole`` columns), where the methods actually
differ; ``PSNR-out`` scores the pixels outside the holes alone (what the warp got right must
not get worse); and a temporal score (:func:`spatialme.metrics.temporal_consistency`) measures
flicker. Per-frame error maps are kept for the app to show where each method fails.

Ground truth comes from two sources:

* **synthetic scenes** (:func:`evaluate_synthetic`): the true right view, disocclusions
  included, painted with held-out textures, warped either with the exact disparity or with
  an *estimated-like* one whose edges are soft ramps as a monocular depth estimate's are
  (:mod:`spatialme.data.degrade`). The second is the product's condition and the one where
  foreground bleeding, and so the DE branch, matters;
* **real stereo clips** (:func:`evaluate_stereo`): the disparity that drives the warp is
  matched from the pair itself (:mod:`spatialme.data.stereo`), as the paper does with
  IGEV. Where the match failed its left-right check, the warp's geometry (not the filler)
  would be scored, so those pixels are left out of every mask: a right-view pixel counts
  when the left pixels it was interpolated from were valid, and every hole pixel counts
  (holes are what is being filled; their truth is simply the real right view).

LPIPS needs pretrained AlexNet weights that cannot be fetched offline; its column appears
only when the ``lpips`` package and the cached weights are present (:func:`lpips_status`).
"""

from __future__ import annotations

import functools
import importlib.util
import math
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Sequence

import numpy as np

from . import metrics
from .checks import check_array, check_choice, check_clip, check_disparity, check_int, check_range
from .data.degrade import soften_edges
from .data.stereo import StereoClipSource, StereoMatchConfig, cached_disparity, fill_invalid, match_disparity
from .data.synthetic import SceneConfig, render_scene
from .devices import resolve_device
from .inpaint import available_fillers, composite, get_filler
from .pipeline import VARIANTS, StereoPipeline, VariantUnavailable
from .warp import WarpConfig, forward_warp

__all__ = [
    "COLUMNS",
    "DISPARITY_SOURCES",
    "EvalConfig",
    "EvalResult",
    "lpips_status",
    "evaluate_clip",
    "evaluate_synthetic",
    "evaluate_stereo",
    "evaluate_pair",
    "aggregate",
]

#: Table columns, in order (``LPIPS`` is inserted after ``SSIM`` when available).
COLUMNS = ("MAE", "PSNR", "SSIM", "MAE-hole", "PSNR-hole", "SSIM-hole", "PSNR-out", "temporal")

#: Accepted values of :attr:`EvalConfig.disparity_source`.
DISPARITY_SOURCES = ("match", "given")

_LOWER_IS_BETTER = ("MAE", "MAE-hole", "temporal", "LPIPS")
_ALEXNET_GLOB = "alexnet-owt-*.pth"  # torchvision's ImageNet AlexNet, the backbone LPIPS uses


@dataclass(frozen=True)
class EvalConfig:
    """What to evaluate and how.

    Attributes:
        variants: pipeline variants to score (rows), from :data:`spatialme.pipeline.VARIANTS`.
        baselines: registered hole fillers (:mod:`spatialme.inpaint`) applied to the plain
            warp, scored as extra rows (``"telea"`` = OpenCV inpainting).
        every: take every Nth frame of a clip (the paper scores every 20th); the kept frames
            form the clip that is synthesised and scored.
        max_frames: keep at most this many frames (after ``every``); ``None`` = all.
        disparity_source: ``"given"`` = the caller supplies the disparity (synthetic scenes
            have it exactly); ``"match"`` = stereo-match it from the pair (real clips).
        match: stereo matcher settings for ``"match"``.
        lpips: add an LPIPS column when the ``lpips`` package and its weights are available.
    """

    variants: tuple[str, ...] = ("poly",)
    baselines: tuple[str, ...] = ("telea",)
    every: int = 1
    max_frames: int | None = None
    disparity_source: str = "match"
    match: StereoMatchConfig = field(default_factory=StereoMatchConfig)
    lpips: bool = True

    def __post_init__(self) -> None:
        for name in ("variants", "baselines"):
            value = getattr(self, name)
            if isinstance(value, str) or not isinstance(value, (tuple, list)) or not all(isinstance(v, str) for v in value):
                raise ValueError(f"{name}: expected a tuple of names, got {value!r}")
            object.__setattr__(self, name, tuple(value))
        for v in self.variants:
            check_choice("variants", v, VARIANTS)
        for b in self.baselines:
            check_choice("baselines", b, available_fillers())
        if not self.variants and not self.baselines:
            raise ValueError("variants: nothing to evaluate (no variants and no baselines)")
        check_int("every", self.every, 1)
        check_int("max_frames", self.max_frames, 1, optional=True)
        check_choice("disparity_source", self.disparity_source, DISPARITY_SOURCES)
        if not isinstance(self.match, StereoMatchConfig):
            raise ValueError(f"match: expected a StereoMatchConfig, got {type(self.match).__name__}")


@dataclass
class EvalResult:
    """Scores of every method on one clip, or their mean over several (:func:`aggregate`).

    Attributes:
        rows: method name -> column name (see :data:`COLUMNS`) -> value. MAE and the
            temporal score are on the [0, 1] scale (lower is better), PSNR in dB, SSIM in
            [-1, 1] (higher is better). ``NaN`` = nothing to score (e.g. no holes).
        error_maps: method name -> ``(T, H, W) float32`` per-pixel absolute error on the
            [0, 1] scale, averaged over channels (several clips: concatenated along T when
            they share ``H, W``, otherwise left empty).
        unavailable: method name -> why it could not run in this build.
        frames: frames scored.
        clips: clips (or scenes) averaged.
        hole_fraction: mean share of pixels that were warp holes.
    """

    rows: dict[str, dict[str, float]]
    error_maps: dict[str, np.ndarray] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)
    frames: int = 0
    clips: int = 1
    hole_fraction: float = 0.0

    def columns(self) -> list[str]:
        """Columns present in the rows, in table order."""
        present = {c for row in self.rows.values() for c in row}
        order = list(COLUMNS)
        order.insert(order.index("SSIM") + 1, "LPIPS")
        return [c for c in order if c in present]

    def table(self) -> str:
        """The rows as a Markdown table (MAE/temporal lower is better, PSNR/SSIM higher)."""
        cols = self.columns()
        lines = ["| method | " + " | ".join(cols) + " |", "|---|" + "---:|" * len(cols)]
        for name, row in self.rows.items():
            lines.append(f"| {name} | " + " | ".join(_fmt(c, row.get(c, math.nan)) for c in cols) + " |")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """A JSON-ready summary (non-finite values become ``None``; no error maps)."""
        clean = lambda v: float(v) if math.isfinite(v) else None  # noqa: E731
        return {
            "rows": {n: {c: clean(v) for c, v in row.items()} for n, row in self.rows.items()},
            "unavailable": dict(self.unavailable),
            "frames": self.frames,
            "clips": self.clips,
            "hole_fraction": clean(self.hole_fraction),
        }


def _fmt(column: str, value: float) -> str:
    """One table cell: MAE/temporal/SSIM/LPIPS to 4 decimals, PSNR to 2."""
    if math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return "inf"
    return f"{value:.2f}" if column.startswith("PSNR") else f"{value:.4f}"


# --------------------------------------------------------------------------- LPIPS


def lpips_status() -> tuple[bool, str]:
    """Whether LPIPS can be computed offline, and if not, why (one line).

    Needs the ``lpips`` package and torchvision's ImageNet AlexNet weights already in the
    torch hub cache (``torch.hub.get_dir()/checkpoints``); nothing is downloaded.
    """
    if importlib.util.find_spec("lpips") is None:
        return False, "LPIPS omitted: the lpips package is not installed"
    import torch

    checkpoints = Path(torch.hub.get_dir()) / "checkpoints"
    if not any(checkpoints.glob(_ALEXNET_GLOB)):
        return False, f"LPIPS omitted: AlexNet weights ({_ALEXNET_GLOB}) are not cached in {checkpoints}"
    return True, ""


@functools.lru_cache(maxsize=1)
def _lpips_model():
    """The LPIPS (AlexNet, v0.1) network, built once from cached weights."""
    import lpips  # optional dependency, checked by lpips_status()

    model = lpips.LPIPS(net="alex", verbose=False).eval()
    return model.to(resolve_device("auto"))


def _lpips(pred: np.ndarray, target: np.ndarray, batch: int = 8) -> float:
    """Mean LPIPS over frames of two ``(T, H, W, 3) uint8`` clips."""
    import torch

    model = _lpips_model()
    device = next(model.parameters()).device
    to_tensor = lambda a: torch.from_numpy(a).to(device).permute(0, 3, 1, 2).float() / 255.0  # noqa: E731
    scores = []
    with torch.no_grad():
        for i in range(0, len(pred), batch):
            d = model(to_tensor(pred[i : i + batch]), to_tensor(target[i : i + batch]), normalize=True)
            scores.append(d.reshape(-1).cpu().numpy())
    return float(np.concatenate(scores).mean())


# --------------------------------------------------------------------------- one clip


def _select(frames: np.ndarray | None, config: EvalConfig) -> np.ndarray | None:
    """Every ``config.every``-th frame, at most ``config.max_frames`` of them."""
    if frames is None:
        return None
    return frames[:: config.every][: config.max_frames]


def _right_view_scored(valid: np.ndarray, disparity: np.ndarray, hole_mask: np.ndarray, warp: WarpConfig) -> np.ndarray:
    """Right-view pixels to score given the left-view validity of a matched disparity.

    Args:
        valid: ``(T, H, W) bool`` left pixels whose disparity passed the left-right check.
        disparity: ``(T, H, W) float32`` the (filled) disparity that drives the warp.
        hole_mask: ``(T, H, W) bool`` holes of that warp.
        warp: warp settings.

    Returns:
        ``(T, H, W) bool``: warped pixels interpolated only from valid left pixels, plus
        every hole pixel.
    """
    warped = forward_warp(valid[..., None].astype(np.float32), disparity, warp).image[..., 0]
    return (warped >= 1.0 - 1e-4) | hole_mask


def _scores(pred: np.ndarray, target: np.ndarray, scored: np.ndarray | None, holes: np.ndarray, use_lpips: bool) -> dict[str, float]:
    """Every column for one method's ``(T, H, W, 3)`` output."""
    row = {
        "MAE": metrics.mae(pred, target, scored),
        "PSNR": metrics.psnr(pred, target, scored),
        "SSIM": metrics.ssim(pred, target, scored),
        "MAE-hole": metrics.mae(pred, target, holes),
        "PSNR-hole": metrics.psnr(pred, target, holes),
        "SSIM-hole": metrics.ssim(pred, target, holes),
        # outside the holes: the pixels the warp got right, which must not get worse
        "PSNR-out": metrics.psnr(pred, target, ~holes if scored is None else scored & ~holes),
        "temporal": metrics.temporal_consistency(pred, target, scored) if len(pred) > 1 else math.nan,
    }
    if use_lpips:
        row["LPIPS"] = _lpips(pred, target)
    return row


def evaluate_clip(
    pipe: StereoPipeline,
    left: np.ndarray,
    right: np.ndarray,
    disparity: np.ndarray | None = None,
    config: EvalConfig = EvalConfig(),
    *,
    valid: np.ndarray | None = None,
) -> EvalResult:
    """Score every variant and baseline on one stereo clip.

    Args:
        pipe: the pipeline whose variants (and warp settings) are evaluated.
        left: ``(T, H, W, 3) uint8`` left view (the input).
        right: same shape, the real right view (the ground truth).
        disparity: ``(T, H, W)`` float left-view disparity px; required for
            ``disparity_source="given"``, must be ``None`` for ``"match"``.
        config: what to evaluate; ``every`` and ``max_frames`` select the frames first.
        valid: optional ``(T, H, W) bool`` left pixels whose given disparity is trusted
            (e.g. a matcher's left-right check); right-view pixels warped from untrusted
            ones are left out of every score. ``"match"`` sets it from the matching.

    Returns:
        :class:`EvalResult` with one row per available method.
    """
    if not isinstance(pipe, StereoPipeline):
        raise ValueError(f"pipe: expected a StereoPipeline, got {type(pipe).__name__}")
    if not isinstance(config, EvalConfig):
        raise ValueError(f"config: expected an EvalConfig, got {type(config).__name__}")
    lv, rv = check_clip("left", left), check_clip("right", right)
    if lv.shape != rv.shape:
        raise ValueError(f"right: expected the shape of left {lv.shape}, got {rv.shape}")
    if config.disparity_source == "given":
        if disparity is None:
            raise ValueError("disparity: required when disparity_source='given'")
        disp = check_disparity("disparity", disparity, *lv.shape[:3])
    elif disparity is not None:
        raise ValueError("disparity: disparity_source='match' computes it from the pair; pass disparity_source='given' to use yours")
    if valid is not None:
        valid = check_array("valid", valid, (2, 3), (np.bool_,))
        valid = valid[None] if valid.ndim == 2 else valid
        if valid.shape != lv.shape[:3]:
            raise ValueError(f"valid: expected shape {lv.shape[:3]} to match the frames, got {valid.shape}")
    lv, rv, valid = _select(lv, config), _select(rv, config), _select(valid, config)
    if config.disparity_source == "given":
        disp = _select(disp, config)
    else:
        matched, valid = match_disparity(lv, rv, config.match)
        disp = fill_invalid(matched, valid)

    warp = forward_warp(lv, disp, pipe.config.warp)
    holes = warp.hole_mask
    scored = None if valid is None else _right_view_scored(valid, disp, holes, pipe.config.warp)
    hole_scored = holes if scored is None else holes & scored
    use_lpips = config.lpips and lpips_status()[0]

    outputs: dict[str, np.ndarray] = {}
    unavailable: dict[str, str] = {}
    for variant in config.variants:
        try:
            outputs[variant] = pipe.synthesize(lv, disp, variant).right
        except VariantUnavailable as exc:
            unavailable[variant] = str(exc)
    for name in config.baselines:
        filler = get_filler(name)
        row_name = name if name not in outputs else f"{name} (filler)"
        outputs[row_name] = composite(warp.image, filler(lv, disp, warp.image, holes), holes)

    rows = {name: _scores(pred, rv, scored, hole_scored, use_lpips) for name, pred in outputs.items()}
    maps = {name: metrics.error_map(pred, rv) for name, pred in outputs.items()}
    return EvalResult(rows=rows, error_maps=maps, unavailable=unavailable, frames=len(lv), clips=1, hole_fraction=float(holes.mean()))


# --------------------------------------------------------------------------- many clips


def aggregate(results: Sequence[EvalResult]) -> EvalResult:
    """Mean of several clips' results, each clip weighted equally.

    Args:
        results: per-clip results (at least one).

    Returns:
        :class:`EvalResult` whose values are the mean over the clips that have them
        (``NaN`` ones, such as a clip without holes, are skipped); error maps are
        concatenated along T when all clips share ``H, W``.
    """
    results = list(results)
    if not results or not all(isinstance(r, EvalResult) for r in results):
        raise ValueError("results: expected a non-empty sequence of EvalResult")
    names = list(dict.fromkeys(n for r in results for n in r.rows))
    rows: dict[str, dict[str, float]] = {}
    for name in names:
        cols = list(dict.fromkeys(c for r in results if name in r.rows for c in r.rows[name]))
        rows[name] = {}
        for col in cols:
            vals = np.array([r.rows[name].get(col, math.nan) for r in results if name in r.rows], np.float64)
            vals = vals[~np.isnan(vals)]
            rows[name][col] = float(vals.mean()) if vals.size else math.nan
    maps: dict[str, np.ndarray] = {}
    shapes = {m.shape[1:] for r in results for m in r.error_maps.values()}
    if len(shapes) == 1:
        for name in names:
            parts = [r.error_maps[name] for r in results if name in r.error_maps]
            maps[name] = np.concatenate(parts)
    unavailable = {n: why for r in results for n, why in r.unavailable.items()}
    clips = sum(r.clips for r in results)
    hole_fraction = sum(r.hole_fraction * r.clips for r in results) / clips
    return EvalResult(rows, maps, unavailable, sum(r.frames for r in results), clips, float(hole_fraction))


def evaluate_synthetic(
    pipe: StereoPipeline,
    textures: list[np.ndarray],
    n_scenes: int,
    scene_config: SceneConfig = SceneConfig(),
    seed: int = 0,
    config: EvalConfig | None = None,
    edge_blur: float = 0.0,
    edge_grow: int = 0,
) -> EvalResult:
    """Score the methods on seeded synthetic scenes with exact ground truth.

    Args:
        pipe: the pipeline to evaluate.
        textures: ``(H, W, 3) uint8`` photos to paint the scenes with; pass textures held
            out from training (the test side of :func:`spatialme.data.textures.split_textures`).
        n_scenes: number of scenes; scene ``i`` is rendered with seed ``seed + i``.
        scene_config: size, length and depth range of the scenes.
        seed: first scene's seed.
        config: what to evaluate; ``None`` = ``EvalConfig(disparity_source="given")``,
            i.e. each scene's exact disparity drives the warp (``"match"`` measures the
            methods behind the stereo matcher instead).
        edge_blur: with ``"given"``, warp with an estimated-like disparity instead of the
            exact one: its edges softened by :func:`spatialme.data.degrade.soften_edges`
            (``edge_blur`` px at 256 px wide), as a monocular depth estimate's are; the
            true right view stays the ground truth. 0 = the exact disparity.
        edge_grow: with ``edge_blur``, first grow the nearer side of every edge by this many
            px (0-16): a boundary off by that much, as a monocular estimate's often is.

    Returns:
        :class:`EvalResult`, the mean over scenes (:func:`aggregate`).
    """
    check_range("edge_blur", edge_blur, 0.0, 64.0)
    check_int("edge_grow", edge_grow, 0, 16)
    check_int("n_scenes", n_scenes, 1)
    check_int("seed", seed, 0)
    config = EvalConfig(disparity_source="given") if config is None else config
    results = []
    for i in range(n_scenes):
        scene = render_scene(textures, scene_config, seed + i)
        given = None
        if config.disparity_source == "given":
            given = soften_edges(scene.disparity, edge_blur, edge_grow) if edge_blur > 0 else scene.disparity
        results.append(evaluate_clip(pipe, scene.left, scene.right, given, config))
    return aggregate(results)


def evaluate_stereo(
    pipe: StereoPipeline,
    path: str | os.PathLike,
    config: EvalConfig = EvalConfig(),
    *,
    cache_dir: str | os.PathLike | None = None,
    max_side: int | None = None,
) -> EvalResult:
    """Score the methods on a real stereo clip, driven by its matched disparity.

    Args:
        pipe: the pipeline to evaluate.
        path: a side-by-side video, or a folder with ``left/`` and ``right/`` frames or
            ``left``/``right`` videos (see :class:`spatialme.data.stereo.StereoClipSource`).
        config: what to evaluate (``disparity_source`` must be ``"match"``); ``every`` and
            ``max_frames`` select the frames at decoding.
        cache_dir: keep the matched disparity here and reuse it next time; ``None`` = no cache.
        max_side: shrink each view so its longer side is at most this, px.

    Returns:
        :class:`EvalResult`; pixels whose match failed the left-right check are not scored.
    """
    if config.disparity_source != "match":
        raise ValueError("disparity_source: a real stereo clip has no given disparity; use 'match'")
    source = StereoClipSource(path, every=config.every, max_frames=config.max_frames, max_side=max_side)
    left, right = source.load()
    if cache_dir is not None:
        disp, valid = cached_disparity(source.clip_id, left, right, cache_dir, config.match, return_valid=True)
    else:
        matched, valid = match_disparity(left, right, config.match)
        disp = fill_invalid(matched, valid)
    given = replace(config, every=1, max_frames=None, disparity_source="given")
    return evaluate_clip(pipe, left, right, disp, given, valid=valid)


def evaluate_pair(pipe: StereoPipeline, pair, config: EvalConfig = EvalConfig()) -> EvalResult:
    """Score the methods on one real image pair with its true disparity.

    Args:
        pipe: the pipeline to evaluate.
        pair: a :class:`spatialme.data.pairs.StereoPair` (for example
            :func:`spatialme.data.pairs.motorcycle`).
        config: what to evaluate; the pair's own disparity drives the warp.

    Returns:
        :class:`EvalResult` of one frame; right-view pixels warped from left pixels
        without a known disparity are not scored (every hole pixel is).
    """
    from .data.pairs import StereoPair

    if not isinstance(pair, StereoPair):
        raise ValueError(f"pair: expected a StereoPair, got {type(pair).__name__}")
    given = replace(config, every=1, max_frames=None, disparity_source="given")
    return evaluate_clip(pipe, pair.left[None], pair.right[None], pair.disparity[None], given, valid=pair.valid[None])
