"""The multi-branch inpainting module (paper Sec. III-B, Fig. 2 stage two).

One function runs whichever of the three branches a caller needs on a chunk of frames, so the
pipeline (inference) and the training data builder compute them the same way:

- ``poly``: the row-polyline render of the left view (:mod:`.inpaint.polyline`), a whole
  right view whose disocclusions are stretched gradients, stable over time.
- ``dl``: the plain forward warp with its holes filled by a hole filler (the learned video
  inpainter in the product; any registered filler in tests and ablations).
- ``de``: disparity expansion (Algorithm 1), a re-warp with the expanded disparity, and the
  same filler on the re-warp's holes (:func:`.inpaint.expand.de_branch`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .inpaint.base import Filler, composite
from .inpaint.expand import ExpandConfig, de_branch
from .inpaint.polyline import polyline_right_view_clip
from .warp import WarpConfig, WarpResult, forward_warp

__all__ = ["BRANCHES", "BranchOutputs", "run_branches"]

BRANCHES = ("poly", "dl", "de")


@dataclass
class BranchOutputs:
    """Everything stage two produces for a chunk.

    Attributes:
        warp: the plain forward warp (image with holes, ``hole_mask``, warped disparity).
        outputs: branch name -> ``(T, H, W, 3) uint8`` completed right view.
        de_hole_mask: ``(T, H, W) bool`` holes of the DE re-warp (when ``de`` ran).
        expanded_disparity: ``(T, H, W) float32`` px (when ``de`` ran).
    """

    warp: WarpResult
    outputs: dict[str, np.ndarray] = field(default_factory=dict)
    de_hole_mask: np.ndarray | None = None
    expanded_disparity: np.ndarray | None = None


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

    Returns:
        :class:`BranchOutputs`.
    """
    unknown = [b for b in which if b not in BRANCHES]
    if unknown:
        raise ValueError(f"which: unknown branches {unknown}; expected among {BRANCHES}")
    if fill is None and ({"dl", "de"} & set(which)):
        raise ValueError("fill: the dl and de branches need a hole filler")
    warp = forward_warp(left, disparity, warp_config)
    result = BranchOutputs(warp=warp)
    if "poly" in which:
        result.outputs["poly"] = polyline_right_view_clip(left, disparity, poly_variant)
    if "dl" in which:
        filled = fill(left, disparity, warp.image, warp.hole_mask, cuts=cuts)
        result.outputs["dl"] = composite(warp.image, filled, warp.hole_mask)
    if "de" in which:
        right, expanded, holes = de_branch(left, disparity, fill, expand_config, warp_config, cuts=cuts)
        result.outputs["de"] = right
        result.de_hole_mask = holes
        result.expanded_disparity = expanded
    return result
