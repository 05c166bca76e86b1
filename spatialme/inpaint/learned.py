"""DL-based inpainting branch: temporal propagation, then a gated-convolution U-Net (paper Sec. III-B).

Why it is built this way
------------------------
The paper's DL branch is a flow-guided video inpainter (ProPainter). Its licence forbids
commercial use, so neither its code nor its weights are used here; the branch is rebuilt
from the two ideas it rests on, in two stages, and :class:`LearnedFill` (the ``"learned"``
filler) runs them in turn:

1. *Propagation* (:mod:`.flow`): a hole pixel that a neighbouring frame saw is copied
   from it along optical flow, checked forward-backward. Real pixels, temporally stable.
2. *Hallucination* for what no neighbour saw: a small U-Net of gated convolutions
   (:mod:`.network`), run on packed bands around the holes on a CPU
   (:mod:`.inference`), each hole pixel at the pyramid level its depth needs
   (:mod:`.pyramid`). Propagated pixels are background, so the network's disparity
   channel gives them the farther neighbour's disparity.

Training is :mod:`spatialme.train` (``python -m spatialme train inpainter``): synthetic
scenes with exact ground truth (:mod:`spatialme.data.synthetic`), whose left view
forward-warped with its true disparity has real disocclusion-shaped holes and whose true
right view fills them, with the paper's content loss (eq. 8,
:func:`spatialme.losses.content_loss`) and Adam (betas 0.5, 0.999) as in Sec. V-A.

The network and inference names (:class:`GatedInpainter`, :class:`InpainterConfig`,
:func:`inpaint_frames`, ...) are importable from here as well.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from ..bands import BandConfig
from ..checks import check_array, check_clip, check_disparity
from ..devices import torch_device
from ..weights import SHIPPED_WEIGHTS, find_component
from .base import composite, register_filler
from .flow import FlowConfig, LeftFlows, fill_from_background, propagate
from .inference import WHOLE_FRAME_PIXELS, inpaint_frames, normalize_disparity, warped_disparity
from .network import GatedConv2d, GatedInpainter, InpainterConfig
from .pyramid import PyramidConfig, pyramid_fill

__all__ = [
    "DEFAULT_WEIGHTS",
    "WHOLE_FRAME_PIXELS",
    "InpainterConfig",
    "GatedConv2d",
    "GatedInpainter",
    "normalize_disparity",
    "warped_disparity",
    "inpaint_frames",
    "FillResult",
    "LearnedFill",
]

#: The shipped inpainter (the installed package's copy, else the checkout's ``assets/weights``).
DEFAULT_WEIGHTS = SHIPPED_WEIGHTS / "inpainter"


@dataclass
class FillResult:
    """What :meth:`LearnedFill.fill_sources` returns.

    Attributes:
        image: ``(T, H, W, 3) uint8`` the filled frames (non-hole pixels as warped).
        propagated: ``(T, H, W) bool`` hole pixels copied from a neighbouring frame that saw
            them (flow checked forward-backward), as opposed to drawn by the network.
    """

    image: np.ndarray
    propagated: np.ndarray


class LearnedFill:
    """The DL branch's filler (``"learned"``): flow propagation, then the network for the rest.

    Args:
        weights: folder (holding ``config.json`` + ``model.safetensors``, or an
            ``inpainter/`` sub-folder) or Hub repo id, resolved by
            :func:`spatialme.weights.find_component`; ``None`` = the shipped
            ``inpainter``. Raises a one-line ``FileNotFoundError`` if none is there.
        model: an in-memory :class:`GatedInpainter` to use instead (tests, training).
        flow: propagation settings; ``None`` = network only.
        device: ``"auto"`` (CUDA when available), ``"cpu"`` or ``"cuda[:N]"``.
        bands: packed bands on a CPU (see :func:`inpaint_frames`); None = whole frames.
        bf16: bfloat16 autocast on a CPU; None = where the processor supports it natively.
        pyramid: fill each hole pixel at the pyramid level its distance to the known pixels
            needs (:mod:`.pyramid`); None = the network at full resolution only.
    """

    def __init__(
        self,
        weights: str | os.PathLike | None = None,
        *,
        model: GatedInpainter | None = None,
        flow: FlowConfig | None = FlowConfig(),
        device: str = "auto",
        bands: BandConfig | None = BandConfig(),
        bf16: bool | None = None,
        pyramid: PyramidConfig | None = PyramidConfig(),
    ) -> None:
        if model is not None and not isinstance(model, GatedInpainter):
            raise ValueError(f"model: expected a GatedInpainter, got {type(model).__name__}")
        if flow is not None and not isinstance(flow, FlowConfig):
            raise ValueError(f"flow: expected a FlowConfig or None, got {type(flow).__name__}")
        self.model = (model if model is not None else GatedInpainter.from_pretrained(find_component(weights, "inpainter"))).eval()
        self.flow = flow
        self.device = torch_device(device)
        if pyramid is not None and not isinstance(pyramid, PyramidConfig):
            raise ValueError(f"pyramid: expected a PyramidConfig or None, got {type(pyramid).__name__}")
        self.bands, self.bf16, self.pyramid = bands, bf16, pyramid
        self._flows: LeftFlows | None = None  # the last clip's left flows (DL and DE share them)

    def __call__(
        self, left: np.ndarray, disparity: np.ndarray, warped: np.ndarray, hole_mask: np.ndarray, cuts: np.ndarray | None = None
    ) -> np.ndarray:
        """Fill holes (shapes as in :class:`spatialme.inpaint.base.Filler`); :meth:`fill_sources`'s image."""
        return self.fill_sources(left, disparity, warped, hole_mask, cuts).image

    def fill_sources(
        self, left: np.ndarray, disparity: np.ndarray, warped: np.ndarray, hole_mask: np.ndarray, cuts: np.ndarray | None = None
    ) -> FillResult:
        """Fill holes and say which pixels a neighbouring frame saw.

        Args:
            left: ``(T, H, W, 3) uint8`` left view.
            disparity: ``(T, H, W) float32`` left-view disparity px that produced ``warped``.
            warped: ``(T, H, W, 3) uint8`` forward-warped right view.
            hole_mask: ``(T, H, W) bool``.
            cuts: optional ``(T,) bool`` scene cuts; nothing is propagated across one.

        Returns:
            :class:`FillResult`; its image's non-hole pixels equal ``warped``.
        """
        given = left  # identity: the DE branch calls again with the same clip and reuses its flows
        left = check_clip("left", left)
        frames, height, width = left.shape[:3]
        warped = check_clip("warped", warped)
        if warped.shape != left.shape:
            raise ValueError(f"warped: expected shape {left.shape} to match left, got {warped.shape}")
        disp = check_disparity("disparity", disparity, frames, height, width)
        holes = check_array("hole_mask", hole_mask, (2, 3), (np.bool_,))
        holes = holes[None] if holes.ndim == 2 else holes
        if holes.shape != left.shape[:3]:
            raise ValueError(f"hole_mask: expected shape {left.shape[:3]} to match left, got {holes.shape}")
        if not holes.any():
            return FillResult(warped.copy(), np.zeros(holes.shape, bool))
        wd = warped_disparity(disp)
        if self.flow is not None:
            flows = self._flows
            if flows is None or not flows.matches(given, self.flow.preset, self.flow.max_side):
                flows = self._flows = LeftFlows(left, self.flow.preset, self.flow.max_side)
            filled, remaining = propagate(left, warped, holes, self.flow, disparity=disp, cuts=cuts, flows=flows, right_disparity=wd)
        else:
            filled, remaining = warped, holes
        propagated = holes & ~remaining
        wdisp = None
        if self.model.config.use_disparity:
            # propagated pixels are background: give them the farther neighbour's disparity
            source = fill_from_background(wd, holes, wd) if propagated.any() else wd
            wdisp = np.where(remaining, np.float32(0.0), source).astype(np.float32, copy=False)
        out = self.fill_network(filled, remaining, wdisp)
        return FillResult(composite(warped, out, holes), propagated)

    def fill_network(self, warped: np.ndarray, holes: np.ndarray, disparity: np.ndarray | None) -> np.ndarray:
        """The network's part: ``(T, H, W, 3) uint8`` frames, ``(T, H, W) bool`` holes and the
        warped disparity px (0 in holes, or None) -> filled frames, through the pyramid when set."""

        def at_one_level(rgb: np.ndarray, mask: np.ndarray, disp: np.ndarray | None, need: np.ndarray | None) -> np.ndarray:
            return inpaint_frames(self.model, rgb, mask, disp, self.bands, self.device, self.bf16, need=need)

        if self.pyramid is None:
            return at_one_level(warped, holes, disparity, None)
        return pyramid_fill(at_one_level, warped, holes, disparity, self.pyramid)


register_filler("learned")(LearnedFill)
