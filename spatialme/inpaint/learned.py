"""DL-based inpainting branch: temporal propagation, then a gated-convolution U-Net (paper Sec. III-B).

Why it is built this way
------------------------
The paper's DL branch is a flow-guided video inpainter (ProPainter). Its licence forbids
commercial use, so neither its code nor its weights are used here; the branch is rebuilt
from the two ideas it rests on, in two stages:

1. *Propagation* (:mod:`.flow`): a hole pixel that a neighbouring frame saw is copied
   from it along optical flow, checked forward-backward. Real pixels, temporally stable.
2. *Hallucination* for what no neighbour saw: a small U-Net of **gated convolutions**.
   A plain convolution treats the zeros of a hole as image content; partial convolutions
   (Liu et al., 2018, "Image Inpainting for Irregular Holes Using Partial Convolutions")
   renormalise by the valid-pixel count with a hand-made mask update, and gated
   convolutions (Yu et al., 2019, "Free-Form Image Inpainting with Gated Convolution")
   learn that update instead: every layer computes features and a soft per-pixel,
   per-channel gate from the same input, ``out = ELU(conv_f(x)) * sigmoid(conv_g(x))``,
   so the network itself decides how far hole-ness propagates through its depth. Here
   ``conv_f`` and ``conv_g`` are one convolution with twice the output channels, split.

Input: the warped right view with its holes zeroed (centred, ``rgb - 0.5``), the hole mask
and, optionally, the warped disparity normalised per frame to [0, 1] over known pixels
(0 in holes). Disparity tells the network which side of a hole is background (the
smaller disparity), which is exactly what a purely colour-based inpainter gets wrong
(foreground bleeding, paper Fig. 3). Output: RGB in [0, 1] through a sigmoid; the known
pixels are then put back unchanged (:meth:`GatedInpainter.complete`).

Lean by design: 3 levels (full, 1/2, 1/4 resolution), widths 16/32/64, two dilated
convolutions (2, 4) at 1/4 resolution for context, about 0.32 M parameters, no
normalisation layer. Without normalisation, every output pixel depends only on a bounded
window (:attr:`GatedInpainter.context_radius`, 46 px with the defaults), so on a CPU only
packed bands around the holes are run (:func:`inpaint_frames`, :mod:`spatialme.bands`;
holes are a few percent of a frame, the bands 15-30 %), and they agree with the
whole-frame result when their margin covers that radius (the default 8 px margin moves some
grey levels inside wide holes, at the same accuracy against the ground truth). On a
CPU with native bfloat16 the network runs under bf16 autocast (about 1.6x faster, a grey
level or two of difference). On CUDA whole frames are run.

Cost on the 2-core CPU (2 threads, ``benchmarks/bench_full.py``, 8-frame synthetic clips
at a 2 % divergence with a moving camera, about 2 % of the pixels in holes): the whole DL
fill (flows, propagation, the network on bands in bf16) takes about 135 ms per 720p frame
and 103 ms per 480p frame; the 64 px square tiles in float32 it replaced took about 0.4 s
for the network alone at 720p.

Training (:func:`train_inpainter`) uses synthetic scenes with exact ground truth
(:mod:`spatialme.data.synthetic`): the left view forward-warped with its true disparity
has real disocclusion-shaped holes, and the true right view fills them. The loss is the
paper's content loss (eq. 8), L1 with the hole pixels weighted ``alpha = 10``, optimised
with Adam (betas 0.5, 0.999) as in Sec. V-A.
"""

from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from huggingface_hub import PyTorchModelHubMixin
from torch import nn

from ..bands import BandConfig, Packing, cpu_autocast, gather, plan_bands, scatter
from ..checks import check_array, check_clip, check_disparity, check_range
from ..data.synthetic import SceneConfig, StereoScene, render_scene
from ..devices import torch_device
from ..warp import forward_warp
from .base import composite, register_filler
from .flow import FlowConfig, LeftFlows, fill_from_background, propagate
from .pyramid import PyramidConfig, pyramid_fill

__all__ = [
    "DEFAULT_WEIGHTS",
    "InpainterConfig",
    "GatedConv2d",
    "GatedInpainter",
    "normalize_disparity",
    "warped_disparity",
    "inpaint_frames",
    "inpainting_loss",
    "make_inpainting_batch",
    "train_inpainter",
    "LearnedFill",
]

#: The shipped weights, resolved from the repository root.
DEFAULT_WEIGHTS = Path(__file__).resolve().parents[2] / "assets" / "weights" / "inpainter"

#: Padded pixels per forward pass when whole frames run (CUDA): about two 720p frames.
WHOLE_FRAME_PIXELS = 8 * 96 * 96 * 32

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


@dataclass(frozen=True)
class InpainterConfig:
    """Architecture of :class:`GatedInpainter` (its ``__init__`` keywords, JSON-serialisable).

    Attributes:
        base_channels: width of the full-resolution features; level ``l`` has
            ``base_channels * 2**l``. Parameters grow as its square (about 0.32 M at 16).
        levels: resolutions in the U-Net, full one included (1 to 5); inputs are padded to
            a multiple of ``2**(levels - 1)``.
        use_disparity: whether the normalised warped disparity is a fifth input channel.
        dilations: dilation of each extra 3x3 gated convolution at the coarsest level (the
            cheap way to see far: 2 and 4 at 1/4 resolution reach 24 px further).
    """

    base_channels: int = 16
    levels: int = 3
    use_disparity: bool = True
    dilations: tuple[int, ...] = (2, 4)

    def __post_init__(self) -> None:
        for name, value, low, high in (("base_channels", self.base_channels, 2, 512), ("levels", self.levels, 1, 5)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not low <= value <= high:
                raise ValueError(f"{name}: expected an integer in [{low}, {high}], got {value!r}")
        if not isinstance(self.use_disparity, (bool, np.bool_)):
            raise ValueError(f"use_disparity: expected a bool, got {self.use_disparity!r}")
        dil = tuple(self.dilations)
        if any(isinstance(d, bool) or not isinstance(d, (int, np.integer)) or not 1 <= d <= 64 for d in dil):
            raise ValueError(f"dilations: expected integers in [1, 64], got {self.dilations!r}")
        object.__setattr__(self, "dilations", tuple(int(d) for d in dil))

    @property
    def in_channels(self) -> int:
        """RGB + hole mask (+ disparity)."""
        return 5 if self.use_disparity else 4

    @property
    def alignment(self) -> int:
        """``2**(levels - 1)``: inputs are padded to a multiple of it, tile origins sit on it."""
        return 2 ** (self.levels - 1)


class GatedConv2d(nn.Module):
    """Gated convolution (Yu et al., 2019): ``ELU(conv_f(x)) * sigmoid(conv_g(x))``.

    ``conv_f`` and ``conv_g`` are stored as one ``nn.Conv2d`` with ``2 * out_channels``
    outputs, features first, then gates; zero padding keeps the size (divided by
    ``stride``).

    Args:
        in_channels, out_channels: channel counts.
        kernel_size: odd kernel side.
        stride: 1 or 2.
        dilation: kernel dilation.

    Shapes: ``(B, in_channels, H, W) -> (B, out_channels, H / stride, W / stride)``.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1, dilation: int = 1) -> None:
        super().__init__()
        self.out_channels = out_channels
        self.conv = nn.Conv2d(in_channels, 2 * out_channels, kernel_size, stride, padding=dilation * (kernel_size // 2), dilation=dilation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feat, gate = self.conv(x).split(self.out_channels, dim=1)
        return F.elu(feat) * torch.sigmoid(gate)


class GatedInpainter(
    nn.Module,
    PyTorchModelHubMixin,
    library_name="spatialme",
    license="apache-2.0",
    tags=["spatialme", "stereo", "2d-to-3d", "inpainting", "image-to-image"],
):
    """Lean U-Net of gated convolutions that fills holes of a warped view.

    Layout (``c_l = base_channels * 2**l``, ``L = levels``):

    - level 0: gated 5x5 (``in -> c_0``), gated 3x3;
    - level ``l`` = 1 .. L-1: gated 3x3 stride 2 (``c_{l-1} -> c_l``), gated 3x3;
    - bottleneck: one gated 3x3 per entry of ``dilations``, at the coarsest level;
    - decoder, ``l`` = L-2 .. 0: 1x1 projection (``c_{l+1} -> c_l``, at the coarse
      resolution), bilinear x2 upsampling, *sum* with the encoder feature of level ``l``,
      gated 3x3 (``c_l -> c_l``). An additive skip (LinkNet style) instead of a
      concatenation: the full-resolution layers are most of the cost on a CPU, and this
      cuts it by a third (about 42 k against 60 k multiply-adds per pixel) for the same
      reach;
    - head: 3x3 convolution to RGB, sigmoid.

    Args: the fields of :class:`InpainterConfig` (keyword only, JSON-serialisable; written
    to ``config.json`` by ``save_pretrained`` and read back by ``from_pretrained``).

    Example:
        >>> net = GatedInpainter(base_channels=4, levels=2)
        >>> rgb, mask = torch.rand(1, 3, 12, 20), torch.zeros(1, 1, 12, 20)
        >>> tuple(net(rgb, mask, torch.zeros(1, 1, 12, 20)).shape)
        (1, 3, 12, 20)
    """

    def __init__(self, *, base_channels: int = 16, levels: int = 3, use_disparity: bool = True, dilations: Sequence[int] = (2, 4)) -> None:
        super().__init__()
        self.config = InpainterConfig(base_channels=base_channels, levels=levels, use_disparity=use_disparity, dilations=tuple(dilations))
        widths = [base_channels * 2**level for level in range(levels)]
        self.encoder = nn.ModuleList()
        for level, width in enumerate(widths):
            if level == 0:
                first = GatedConv2d(self.config.in_channels, width, 5)
            else:
                first = GatedConv2d(widths[level - 1], width, 3, stride=2)
            self.encoder.append(nn.Sequential(first, GatedConv2d(width, width, 3)))
        self.bottleneck = nn.Sequential(*[GatedConv2d(widths[-1], widths[-1], 3, dilation=d) for d in self.config.dilations])
        coarse_to_fine = list(reversed(range(levels - 1)))
        self.project = nn.ModuleList(nn.Conv2d(widths[level + 1], widths[level], 1) for level in coarse_to_fine)
        self.decoder = nn.ModuleList(GatedConv2d(widths[level], widths[level], 3) for level in coarse_to_fine)
        self.head = nn.Conv2d(widths[0], 3, 3, padding=1)

    @classmethod
    def from_config(cls, config: InpainterConfig) -> "GatedInpainter":
        """Build an (untrained) model from an :class:`InpainterConfig`."""
        if not isinstance(config, InpainterConfig):
            raise ValueError(f"config: expected an InpainterConfig, got {type(config).__name__}")
        return cls(**asdict(config))

    @property
    def context_radius(self) -> int:
        """Radius (px, Chebyshev) of the input window an output pixel depends on.

        Tiles whose margin is at least this (rounded up to :attr:`InpainterConfig.alignment`)
        give exactly the whole-frame result inside them.
        """
        levels = self.config.levels
        radius = 2 + 1  # level 0: 5x5, 3x3
        for level in range(1, levels):
            radius += 2 ** (level - 1) + 2**level  # stride-2 3x3 at the finer scale, 3x3 at this one
        jump = 2 ** (levels - 1)
        radius += sum(d * jump for d in self.config.dilations)
        for level in reversed(range(levels - 1)):
            radius += 2 ** (level + 1) + 2**level  # bilinear x2 reads one coarse px; 3x3
        return radius + 1  # head

    def forward(self, rgb: torch.Tensor, mask: torch.Tensor, disparity: torch.Tensor | None = None) -> torch.Tensor:
        """Predict the whole frame.

        Args:
            rgb: ``(B, 3, H, W)`` float in [0, 1]; values in holes are ignored (zeroed here).
            mask: ``(B, 1, H, W)`` float, 1 = hole.
            disparity: ``(B, 1, H, W)`` float normalised disparity (see
                :func:`normalize_disparity`), needed when ``use_disparity``; ignored otherwise.

        Returns:
            ``(B, 3, H, W)`` float in [0, 1], the raw prediction everywhere (see
            :meth:`complete` for the composite). ``H, W`` need not be multiples of
            :attr:`InpainterConfig.alignment`: the input is zero-padded (as a hole) and the
            output cropped.
        """
        if rgb.ndim != 4 or rgb.shape[1] != 3:
            raise ValueError(f"rgb: expected shape (B, 3, H, W), got {tuple(rgb.shape)}")
        if mask.shape != (rgb.shape[0], 1, *rgb.shape[2:]):
            raise ValueError(f"mask: expected shape {(rgb.shape[0], 1, *rgb.shape[2:])}, got {tuple(mask.shape)}")
        known = 1.0 - mask
        parts = [(rgb - 0.5) * known, mask]
        if self.config.use_disparity:
            if disparity is None or disparity.shape != mask.shape:
                got = None if disparity is None else tuple(disparity.shape)
                raise ValueError(f"disparity: this model reads a (B, 1, H, W) disparity, got {got}")
            parts.append(disparity * known)
        x = torch.cat(parts, 1)
        height, width = x.shape[-2:]
        align = self.config.alignment
        pad_h, pad_w = -height % align, -width % align
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h))
            x[:, 3:4, height:, :] = 1.0  # the padding is unknown, like a hole
            x[:, 3:4, :, width:] = 1.0
        skips = []
        for block in self.encoder:
            x = block(x)
            skips.append(x)
        x = self.bottleneck(skips.pop())
        for project, block in zip(self.project, self.decoder):
            skip = skips.pop()
            x = F.interpolate(project(x), size=skip.shape[-2:], mode="bilinear", align_corners=False)
            x = block(x + skip)
        out = torch.sigmoid(self.head(x))
        return out[..., :height, :width]

    def complete(self, rgb: torch.Tensor, mask: torch.Tensor, disparity: torch.Tensor | None = None) -> torch.Tensor:
        """:meth:`forward` with the known pixels put back: ``mask * pred + (1 - mask) * rgb``.

        Shapes as in :meth:`forward`; returns ``(B, 3, H, W)`` float in [0, 1].
        """
        pred = self.forward(rgb, mask, disparity)
        return mask * pred + (1.0 - mask) * rgb


# ----------------------------------------------------------------------------- inputs


def normalize_disparity(disparity: np.ndarray, hole_mask: np.ndarray) -> np.ndarray:
    """Per-frame min-max normalisation of a warped disparity over its known pixels.

    Args:
        disparity: ``(T, H, W)`` or ``(H, W)`` float px (right view).
        hole_mask: the same shape, bool.

    Returns:
        float32 of the same shape in [0, 1] (0 = farthest known pixel, 1 = nearest), 0 in
        holes and everywhere in a frame whose known disparity is flat or absent.
    """
    d = np.asarray(disparity, np.float32)
    holes = np.asarray(hole_mask, bool)
    if d.shape != holes.shape or d.ndim not in (2, 3):
        raise ValueError(f"hole_mask: expected shape {d.shape} matching a (T, H, W) or (H, W) disparity, got {holes.shape}")
    known = ~holes
    lo = np.min(d, axis=(-2, -1), keepdims=True, where=known, initial=np.inf)
    hi = np.max(d, axis=(-2, -1), keepdims=True, where=known, initial=-np.inf)
    span = hi - lo
    ok = np.isfinite(span) & (span > 1e-6)  # some known pixel, and not flat
    scale = np.where(ok, 1.0 / np.where(ok, span, 1.0), 0.0).astype(np.float32)
    out = (d - np.where(ok, lo, 0.0).astype(np.float32)) * scale  # 0 everywhere in a flat or empty frame
    out[holes] = 0.0
    return out


def warped_disparity(disparity: np.ndarray) -> np.ndarray:
    """The right view's disparity from the left one: ``(T, H, W) float32`` px -> same, 0 in holes."""
    disp = np.ascontiguousarray(disparity, np.float32)
    return forward_warp(disp[..., None], disp).disparity


def _to_tensor(array: np.ndarray, device: torch.device) -> torch.Tensor:
    """``(N, H, W, C)`` or ``(N, H, W)`` numpy -> ``(N, C, H, W)`` float32 tensor."""
    t = torch.from_numpy(np.ascontiguousarray(array))
    t = t.unsqueeze(-1) if t.ndim == 3 else t
    return t.permute(0, 3, 1, 2).to(device=device, dtype=torch.float32)


def _run(model: GatedInpainter, rgb: np.ndarray, mask: np.ndarray, disp: np.ndarray | None, device: torch.device) -> np.ndarray:
    """Network on a stack of windows: ``(N, h, w, 3) uint8``, ``(N, h, w)`` bool/float, ``(N, h, w)``
    float or None -> ``(N, h, w, 3) uint8`` raw prediction."""
    x = _to_tensor(rgb, device) / 255.0
    m = _to_tensor(mask, device)
    d = _to_tensor(disp, device) if disp is not None else None
    pred = model(x, m, d).float()
    return (pred * 255.0 + 0.5).clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()


@torch.inference_mode()
def inpaint_frames(
    model: GatedInpainter,
    warped: np.ndarray,
    hole_mask: np.ndarray,
    disparity: np.ndarray | None = None,
    bands: BandConfig | None = BandConfig(),
    device: str | torch.device = "cpu",
    bf16: bool | None = False,
) -> np.ndarray:
    """Fill the holes of warped frames with the network; known pixels are kept exactly.

    On a CPU (and ``bands`` set) only packed bands around the holes are run
    (:mod:`spatialme.bands`): boxes of hole pixels, each inside a window with
    ``bands.margin`` px of context, ``bands.batch`` shelves per forward pass, and only the
    hole pixels of each box are pasted back. With ``margin >= model.context_radius`` the
    result equals the whole-frame one (up to float summation order); smaller margins trade
    a little agreement near box borders for speed. On CUDA, with ``bands=None``, or where
    the packed shelves would hold at least as many pixels as the whole frames (small
    frames such as the coarse pyramid levels, where margins and shelf widths dominate),
    whole frames are run, a few per pass.

    Args:
        model: the network (moved to ``device``; run in eval mode, its mode restored after).
        warped: ``(T, H, W, 3) uint8`` frames with holes (their values are ignored).
        hole_mask: ``(T, H, W) bool``, True = fill.
        disparity: ``(T, H, W) float32`` warped (right-view) disparity px, required when the
            model reads disparity; normalised per frame here (:func:`normalize_disparity`).
        bands: how the holes are cut and packed on a CPU; None = whole frames.
        device: torch device.
        bf16: bfloat16 autocast on a CPU (:func:`spatialme.bands.cpu_autocast`); None =
            where the processor supports it natively.

    Returns:
        ``(T, H, W, 3) uint8``: ``warped`` with its holes filled.
    """
    if not isinstance(model, GatedInpainter):
        raise ValueError(f"model: expected a GatedInpainter, got {type(model).__name__}")
    warped = check_clip("warped", warped)
    frames, height, width = warped.shape[:3]
    holes = check_array("hole_mask", hole_mask, (2, 3), (np.bool_,))
    holes = holes[None] if holes.ndim == 2 else holes
    if holes.shape != warped.shape[:3]:
        raise ValueError(f"hole_mask: expected shape {warped.shape[:3]} to match warped, got {holes.shape}")
    if model.config.use_disparity:
        if disparity is None:
            raise ValueError("disparity: this model reads the warped disparity; pass it (T, H, W) float32 px")
        disp = normalize_disparity(check_disparity("disparity", disparity, frames, height, width), holes)
    else:
        disp = None
    if bands is not None and not isinstance(bands, BandConfig):
        raise ValueError(f"bands: expected a BandConfig or None, got {type(bands).__name__}")
    device = torch.device(device)
    out = warped.copy()
    if not holes.any():
        return out
    was_training = model.training
    model.to(device).eval()
    try:
        with cpu_autocast(device, bf16):
            packing = None if bands is None or device.type == "cuda" else plan_bands(holes, model.config.alignment, bands)
            if packing is None or packing.pixels >= _whole_frame_area(holes, model.config.alignment):
                _whole_frames(model, warped, holes, disp, out, WHOLE_FRAME_PIXELS, device)
            else:
                _packed(model, warped, holes, disp, out, packing, bands, device)
    finally:
        model.train(was_training)
    return out


def _whole_frame_area(holes: np.ndarray, align: int) -> int:
    """Pixels the network computes on the whole (aligned) frames that have holes."""
    height, width = holes.shape[1:]
    hp, wp = height + (-height % align), width + (-width % align)
    return int(holes.reshape(len(holes), -1).any(axis=1).sum()) * hp * wp


def _padded(
    model: GatedInpainter, warped: np.ndarray, holes: np.ndarray, disp: np.ndarray | None, t: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Frame ``t`` padded to the model's alignment: ``(Hp, Wp, 3) uint8``, ``(Hp, Wp)`` float
    mask (the padding is a hole) and ``(Hp, Wp)`` float disparity or None."""
    align = model.config.alignment
    height, width = holes.shape[1:]
    hp, wp = height + (-height % align), width + (-width % align)
    rgb = np.zeros((hp, wp, 3), np.uint8)
    rgb[:height, :width] = warped[t]
    mask = np.ones((hp, wp), np.float32)
    mask[:height, :width] = holes[t]
    d = None
    if disp is not None:
        d = np.zeros((hp, wp), np.float32)
        d[:height, :width] = disp[t]
    return rgb, mask, d


def _whole_frames(
    model: GatedInpainter,
    warped: np.ndarray,
    holes: np.ndarray,
    disp: np.ndarray | None,
    out: np.ndarray,
    pixels: int,
    device: torch.device,
) -> None:
    """Run whole frames, about ``pixels`` padded pixels (at least one frame) per pass, into ``out``."""
    height, width = holes.shape[1:]
    todo = [t for t in range(len(holes)) if holes[t].any()]
    per_pass = max(1, pixels // (height * width))
    for start in range(0, len(todo), per_pass):
        chunk = todo[start : start + per_pass]
        parts = [_padded(model, warped, holes, disp, t) for t in chunk]
        stacked_disp = None if disp is None else np.stack([p[2] for p in parts])
        pred = _run(model, np.stack([p[0] for p in parts]), np.stack([p[1] for p in parts]), stacked_disp, device)
        for i, t in enumerate(chunk):
            out[t] = composite(warped[t], pred[i, :height, :width], holes[t])


def _packed(
    model: GatedInpainter,
    warped: np.ndarray,
    holes: np.ndarray,
    disp: np.ndarray | None,
    out: np.ndarray,
    packing: Packing,
    bands: BandConfig,
    device: torch.device,
) -> None:
    """Run the packed bands around the holes (:mod:`spatialme.bands`), pasting hole pixels into ``out``."""
    # shelf pixels no window covers read as the network's zero padding: known (mask 0),
    # centred colour 0 (grey 128 - 0.5 * 255 ~ 0) and disparity 0
    rgb = gather(warped, packing, 128, edge_fill=0)
    mask = gather(holes, packing, False, edge_fill=True)  # the model pads frames with unknown pixels
    dsp = gather(disp, packing, 0.0) if disp is not None else None
    preds = []
    for g in range(len(rgb)):
        parts = []
        for start in range(0, len(rgb[g]), bands.batch):
            sl = slice(start, start + bands.batch)
            parts.append(_run(model, rgb[g][sl], mask[g][sl], None if dsp is None else dsp[g][sl], device))
        preds.append(np.concatenate(parts))
    scatter(preds, packing, out, holes)


# ----------------------------------------------------------------------------- training


def inpainting_loss(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, alpha: float = 10.0) -> torch.Tensor:
    """Content loss of the paper (eq. 8): L1 with hole pixels weighted ``alpha``.

    Args:
        pred, target: ``(B, 3, H, W)`` float in [0, 1].
        mask: ``(B, 1, H, W)`` float, 1 = hole.
        alpha: weight of the hole pixels (paper: 10).

    Returns:
        Scalar: ``mean((1 + (alpha - 1) * mask) * |pred - target|)`` (eq. 8 divided by the
        number of values, so its scale does not depend on the crop size).
    """
    return ((1.0 + (alpha - 1.0) * mask) * (pred - target).abs()).mean()


def _default_scene_config(rng: np.random.Generator, crop: int) -> SceneConfig:
    """A one-frame training scene, twice the crop on its short side, with random disparity.

    ``max_disparity`` is drawn in ``[0.06, 0.4] * crop`` px, so hole widths in a crop span
    what a 720p frame at the default divergence shows (up to about 25 px).
    """
    height = max(2 * crop, 64)
    width = max(3 * crop, 96)
    return SceneConfig(height=height, width=width, frames=1, max_disparity=float(rng.uniform(0.06, 0.4) * crop))


def make_inpainting_batch(
    source: Sequence[StereoScene] | Sequence[np.ndarray],
    batch: int,
    crop: int = 64,
    rng: np.random.Generator | None = None,
    scene_config: SceneConfig | None = None,
) -> dict[str, torch.Tensor]:
    """A batch of hole-centred crops with ground truth, from synthetic stereo scenes.

    Each sample: a scene (one of ``source`` if it holds :class:`StereoScene`, else a fresh
    one-frame scene rendered from ``source`` as textures), a random frame, its left view
    forward-warped with the true disparity (so the holes are real disocclusions and border
    bands), and a ``crop x crop`` window centred on a random hole pixel (shifted inside the
    frame; anywhere if the frame has no hole). The disparity channel is the warped
    disparity normalised over the whole frame, as at inference.

    Args:
        source: scenes, or textures ``(H, W, 3) uint8`` to render scenes from.
        batch: samples.
        crop: window side px (at most the frame size).
        rng: random generator (default: a fresh unseeded one).
        scene_config: settings of rendered scenes (default: :func:`_default_scene_config`,
            a random ``max_disparity`` per sample).

    Returns:
        dict of float32 tensors: ``"rgb"`` ``(B, 3, crop, crop)`` warped view in [0, 1] with
        holes zeroed, ``"mask"`` ``(B, 1, crop, crop)`` 1 = hole, ``"disparity"``
        ``(B, 1, crop, crop)`` normalised (0 in holes), ``"target"`` ``(B, 3, crop, crop)``
        true right view in [0, 1].
    """
    if not isinstance(source, (list, tuple)) or not source:
        raise ValueError("source: expected a non-empty list of StereoScene or of (H, W, 3) uint8 textures")
    batch = int(check_range("batch", batch, 1, 1 << 16))
    crop = int(check_range("crop", crop, 8, 1 << 14))
    rng = rng if rng is not None else np.random.default_rng()
    scenes = isinstance(source[0], StereoScene)
    rgb, mask, disp, target = [], [], [], []
    for _ in range(batch):
        if scenes:
            scene = source[int(rng.integers(len(source)))]
        else:
            cfg = scene_config if scene_config is not None else _default_scene_config(rng, crop)
            scene = render_scene(list(source), cfg, seed=int(rng.integers(1 << 31)))
        t = int(rng.integers(len(scene.left)))
        height, width = scene.left.shape[1:3]
        if crop > min(height, width):
            raise ValueError(f"crop: expected at most the frame size {height}x{width}, got {crop}")
        warp = forward_warp(scene.left[t], scene.disparity[t])
        holes = warp.hole_mask
        ys, xs = np.nonzero(holes)
        if len(ys):
            i = int(rng.integers(len(ys)))
            cy, cx = int(ys[i]), int(xs[i])
        else:
            cy, cx = int(rng.integers(height)), int(rng.integers(width))
        y0 = min(max(cy - crop // 2, 0), height - crop)
        x0 = min(max(cx - crop // 2, 0), width - crop)
        win = (slice(y0, y0 + crop), slice(x0, x0 + crop))
        nd = normalize_disparity(warp.disparity, holes)
        rgb.append(np.where(holes[..., None], 0, warp.image)[win])
        mask.append(holes[win])
        disp.append(nd[win])
        target.append(scene.right[t][win])
    dev = torch.device("cpu")
    return {
        "rgb": _to_tensor(np.stack(rgb), dev) / 255.0,
        "mask": _to_tensor(np.stack(mask), dev),
        "disparity": _to_tensor(np.stack(disp), dev),
        "target": _to_tensor(np.stack(target), dev) / 255.0,
    }


def train_inpainter(
    model: GatedInpainter,
    textures: Sequence[np.ndarray] | Sequence[StereoScene],
    steps: int,
    lr: float = 1e-4,
    batch: int = 4,
    crop: int = 64,
    seed: int = 0,
    log: Callable[[int, float], Any] | None = None,
    device: str | torch.device = "cpu",
    alpha: float = 10.0,
) -> list[float]:
    """Train the inpainter on synthetic scenes (content loss eq. 8, Adam as in Sec. V-A).

    Args:
        model: the network, trained in place.
        textures: textures to render scenes from, or ready scenes
            (see :func:`make_inpainting_batch`).
        steps: optimiser steps.
        lr: Adam learning rate (paper: 1e-4, constant).
        batch: samples per step (paper: 4).
        crop: sample side px.
        seed: seeds the data and torch (same seed, same run on one machine).
        log: called as ``log(step, loss)`` after every step.
        device: torch device.
        alpha: hole weight of the loss.

    Returns:
        The loss of every step.

    About 19 steps/s on the 2-core CPU (2 threads, default model, batch 4, 64 px crops, a
    fresh scene rendered per sample; ``benchmarks/bench_learned.py``).
    """
    if not isinstance(model, GatedInpainter):
        raise ValueError(f"model: expected a GatedInpainter, got {type(model).__name__}")
    steps = int(check_range("steps", steps, 0, 1 << 40))
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    device = torch.device(device)
    model.to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=lr, betas=(0.5, 0.999))
    history = []
    for step in range(steps):
        data = {k: v.to(device) for k, v in make_inpainting_batch(textures, batch, crop, rng).items()}
        pred = model(data["rgb"], data["mask"], data["disparity"])
        loss = inpainting_loss(pred, data["target"], data["mask"], alpha)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        history.append(float(loss.detach()))
        if log is not None:
            log(step, history[-1])
    model.eval()
    return history


# ----------------------------------------------------------------------------- the filler


def _load(weights: str | os.PathLike | None) -> GatedInpainter:
    """Load the inpainter from the shipped folder, a local folder or a Hub repo id.

    A folder may hold the model itself (``config.json`` + ``model.safetensors``) or an
    ``inpainter/`` sub-folder (the layout of ``assets/weights``). Raises one-line
    ``FileNotFoundError`` when nothing is there; never falls back to random weights.
    """
    hint = "train them with `python -m spatialme train ...` or pass weights=..."
    if weights is None or isinstance(weights, Path) or not _HUB_ID.match(str(weights)) or Path(os.fspath(weights)).expanduser().exists():
        folder = DEFAULT_WEIGHTS if weights is None else Path(os.fspath(weights)).expanduser()
        for candidate in (folder, folder / "inpainter"):
            if (candidate / "config.json").is_file() and (candidate / "model.safetensors").is_file():
                return GatedInpainter.from_pretrained(candidate)
        raise FileNotFoundError(f"the learned inpainter has no trained weights at {folder}; {hint}")
    repo = str(weights)
    errors = []
    for subfolder in ("inpainter", None):
        try:
            from huggingface_hub import snapshot_download

            patterns = [f"{subfolder}/*"] if subfolder else ["config.json", "model.safetensors"]
            root = Path(snapshot_download(repo, allow_patterns=patterns))
            folder = root / subfolder if subfolder else root
            if (folder / "model.safetensors").is_file():
                return GatedInpainter.from_pretrained(folder)
        except Exception as exc:  # noqa: BLE001 - any Hub/cache failure becomes the one-line error
            errors.append(type(exc).__name__)
    why = ", ".join(errors) or "no model files"
    raise FileNotFoundError(f"the learned inpainter has no trained weights at Hub repo {repo!r} (nor in its cache: {why}); {hint}")


class LearnedFill:
    """The DL branch's filler (``"learned"``): flow propagation, then the network for the rest.

    Args:
        weights: folder (holding ``config.json`` + ``model.safetensors``, or an
            ``inpainter/`` sub-folder) or Hub repo id; ``None`` = the shipped
            ``assets/weights/inpainter``. Raises ``FileNotFoundError`` if none is there.
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
        self.model = (model if model is not None else _load(weights)).eval()
        self.flow = flow
        self.device = torch_device(device)
        if pyramid is not None and not isinstance(pyramid, PyramidConfig):
            raise ValueError(f"pyramid: expected a PyramidConfig or None, got {type(pyramid).__name__}")
        self.bands, self.bf16, self.pyramid = bands, bf16, pyramid
        self._flows: LeftFlows | None = None  # the last clip's left flows (DL and DE share them)

    def __call__(
        self, left: np.ndarray, disparity: np.ndarray, warped: np.ndarray, hole_mask: np.ndarray, cuts: np.ndarray | None = None
    ) -> np.ndarray:
        """Fill holes (shapes as in :class:`spatialme.inpaint.base.Filler`).

        Args:
            left: ``(T, H, W, 3) uint8`` left view.
            disparity: ``(T, H, W) float32`` left-view disparity px that produced ``warped``.
            warped: ``(T, H, W, 3) uint8`` forward-warped right view.
            hole_mask: ``(T, H, W) bool``.
            cuts: optional ``(T,) bool`` scene cuts; nothing is propagated across one.

        Returns:
            ``(T, H, W, 3) uint8``; non-hole pixels equal ``warped``.
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
            return warped.copy()
        wd = warped_disparity(disp)
        if self.flow is not None:
            flows = self._flows
            if flows is None or not flows.matches(given, self.flow.preset, self.flow.max_side):
                flows = self._flows = LeftFlows(left, self.flow.preset, self.flow.max_side)
            filled, remaining = propagate(left, warped, holes, self.flow, disparity=disp, cuts=cuts, flows=flows, right_disparity=wd)
        else:
            filled, remaining = warped, holes
        wdisp = None
        if self.model.config.use_disparity:
            # propagated pixels are background: give them the farther neighbour's disparity
            propagated = holes & ~remaining
            source = fill_from_background(wd, holes, wd) if propagated.any() else wd
            wdisp = np.where(remaining, np.float32(0.0), source).astype(np.float32, copy=False)
        out = self.fill_network(filled, remaining, wdisp)
        return composite(warped, out, holes)

    def fill_network(self, warped: np.ndarray, holes: np.ndarray, disparity: np.ndarray | None) -> np.ndarray:
        """The network's part: ``(T, H, W, 3) uint8`` frames, ``(T, H, W) bool`` holes and the
        warped disparity px (0 in holes, or None) -> filled frames, through the pyramid when set."""

        def at_one_level(rgb: np.ndarray, mask: np.ndarray, disp: np.ndarray | None) -> np.ndarray:
            return inpaint_frames(self.model, rgb, mask, disp, self.bands, self.device, self.bf16)

        if self.pyramid is None:
            return at_one_level(warped, holes, disparity)
        return pyramid_fill(at_one_level, warped, holes, disparity, self.pyramid)


register_filler("learned")(LearnedFill)
