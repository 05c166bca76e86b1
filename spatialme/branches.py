"""The multi-branch inpainting module (paper Sec. III-B, Fig. 2 stage two).

One function runs whichever of the three branches a caller needs on a chunk of frames, so the
pipeline (inference) and the training data builder compute them the same way:

- ``poly``: the row-polyline render of the left view (:mod:`.inpaint.polyline`), a whole
  right view whose disocclusions are stretched gradients, stable over time.
- ``dl``: the plain forward warp with its holes filled by a hole filler (the learned video
  inpainter in the product; any registered filler in tests and ablations).
- ``de``: disparity expansion (Algorithm 1), a re-warp with the expanded disparity, and the
  same filler on the re-warp's holes (:func:`.inpaint.expand.de_branch`).

With ``kernels="torch"`` (the pipeline's choice on CUDA) the chunk is uploaded once and the
warp, the expansion and the re-warp run as torch kernels on ``device``
(:mod:`.torch_path`), while the Poly branch's numba kernel runs on the CPU in a worker
thread at the same time, so neither waits for the other.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from .inpaint.base import Filler, composite
from .inpaint.expand import ExpandConfig, de_branch
from .inpaint.polyline import polyline_right_view_clip
from .warp import WarpConfig, WarpResult, forward_warp

__all__ = ["BRANCHES", "BranchOutputs", "fill_sources", "run_branches"]

BRANCHES = ("poly", "dl", "de")


@dataclass
class BranchOutputs:
    """Everything stage two produces for a chunk.

    Attributes:
        warp: the plain forward warp (image with holes, ``hole_mask``, warped disparity).
        outputs: branch name -> ``(T, H, W, 3) uint8`` completed right view.
        de_hole_mask: ``(T, H, W) bool`` holes of the DE re-warp (when ``de`` ran).
        expanded_disparity: ``(T, H, W) float32`` px (when ``de`` ran).
        dl_propagated: ``(T, H, W) bool`` holes the ``dl`` filler copied from a neighbouring
            frame that saw them (when ``dl`` ran; all False for a filler that does not
            propagate, see :func:`fill_sources`).
    """

    warp: WarpResult
    outputs: dict[str, np.ndarray] = field(default_factory=dict)
    de_hole_mask: np.ndarray | None = None
    expanded_disparity: np.ndarray | None = None
    dl_propagated: np.ndarray | None = None


def fill_sources(fill: Filler, left: np.ndarray, disparity: np.ndarray, warped: np.ndarray, holes: np.ndarray, cuts: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Run ``fill`` on a warp: ``(filled (T, H, W, 3) uint8, propagated (T, H, W) bool)``.

    A filler with a ``fill_sources`` method (:class:`spatialme.inpaint.learned.LearnedFill`)
    says which hole pixels it copied from neighbouring frames; for any other, none.
    """
    if hasattr(fill, "fill_sources"):
        result = fill.fill_sources(left, disparity, warped, holes, cuts=cuts)
        return result.image, result.propagated
    return fill(left, disparity, warped, holes, cuts=cuts), np.zeros(np.shape(holes), bool)


def run_branches(
    left: np.ndarray,
    disparity: np.ndarray,
    which: tuple[str, ...] = BRANCHES,
    fill: Filler | None = None,
    *,
    warp_config: WarpConfig = WarpConfig(),
    expand_config: ExpandConfig = ExpandConfig(),
    poly_variant: str = "sharp",
    cuts: np.ndarray | None = None,
    kernels: str = "numpy",
    device: str = "cpu",
) -> BranchOutputs:
    """Run the requested inpainting branches.

    Args:
        left: ``(T, H, W, 3) uint8`` left view.
        disparity: ``(T, H, W) float32`` left-view disparity px.
        which: branch names among :data:`BRANCHES`.
        fill: hole filler for ``dl`` and ``de`` (required when either runs).
        warp_config, expand_config: stage settings.
        poly_variant: ``"sharp"`` or ``"soft"``.
        cuts: ``(T,) bool`` scene cuts (True = first frame of a shot) for the fillers of
            ``dl`` and ``de``: nothing is propagated across one. None = one shot.
        kernels: ``"numpy"`` (numba/OpenCV on host arrays) or ``"torch"`` (warp and
            expansion as torch kernels on ``device``, Poly overlapped in a CPU thread).
        device: torch device of the ``"torch"`` kernels.

    Returns:
        :class:`BranchOutputs`.
    """
    unknown = [b for b in which if b not in BRANCHES]
    if unknown:
        raise ValueError(f"which: unknown branches {unknown}; expected among {BRANCHES}")
    if fill is None and ({"dl", "de"} & set(which)):
        raise ValueError("fill: the dl and de branches need a hole filler")
    if kernels == "torch":
        return _run_on_device(left, disparity, which, fill, warp_config, expand_config, poly_variant, cuts, device)
    if kernels != "numpy":
        raise ValueError(f"kernels: expected 'numpy' or 'torch', got {kernels!r}")
    warp = forward_warp(left, disparity, warp_config)
    result = BranchOutputs(warp=warp)
    if "poly" in which:
        result.outputs["poly"] = polyline_right_view_clip(left, disparity, poly_variant)
    if "dl" in which:
        filled, result.dl_propagated = fill_sources(fill, left, disparity, warp.image, warp.hole_mask, cuts)
        result.outputs["dl"] = composite(warp.image, filled, warp.hole_mask)
    if "de" in which:
        right, expanded, holes = de_branch(left, disparity, fill, expand_config, warp_config, cuts=cuts)
        result.outputs["de"] = right
        result.de_hole_mask = holes
        result.expanded_disparity = expanded
    return result


def _host_warp(warp) -> WarpResult:
    """A :class:`spatialme.torch_path.TorchWarp` as the host :class:`WarpResult` the fillers take."""
    from .torch_path import to_numpy_clip

    return WarpResult(to_numpy_clip(warp.image), warp.hole_mask.cpu().numpy(), warp.disparity.cpu().numpy())


def _run_on_device(left, disparity, which, fill, warp_config, expand_config, poly_variant, cuts, device) -> BranchOutputs:
    """:func:`run_branches` with ``kernels="torch"``: one upload, geometry on ``device``."""
    import torch

    from . import torch_path

    with ThreadPoolExecutor(max_workers=1) as pool, torch.inference_mode():
        poly = pool.submit(polyline_right_view_clip, left, disparity, poly_variant) if "poly" in which else None
        left_t = torch_path.to_clip(left, device)
        disp_t = torch.from_numpy(np.ascontiguousarray(disparity, np.float32)).to(device)
        warp = _host_warp(torch_path.warp_clip(left_t, disp_t, warp_config))
        result = BranchOutputs(warp=warp)
        if "dl" in which:
            filled, result.dl_propagated = fill_sources(fill, left, disparity, warp.image, warp.hole_mask, cuts)
            result.outputs["dl"] = composite(warp.image, filled, warp.hole_mask)
        if "de" in which:
            expanded_t = torch_path.expand_disparity(disp_t, expand_config)
            rewarp = _host_warp(torch_path.warp_clip(left_t, expanded_t, warp_config))
            expanded = expanded_t.cpu().numpy()
            filled = fill(left, expanded, rewarp.image, rewarp.hole_mask, cuts=cuts)
            result.outputs["de"] = composite(rewarp.image, filled, rewarp.hole_mask)
            result.de_hole_mask = rewarp.hole_mask
            result.expanded_disparity = expanded
        if poly is not None:
            result.outputs["poly"] = poly.result()
    result.outputs = {k: result.outputs[k] for k in BRANCHES if k in result.outputs}  # the CPU path's order
    return result
