"""The learned inpainter's network: a lean U-Net of gated convolutions (paper Sec. III-B).

Why it is built this way
------------------------
A plain convolution treats the zeros of a hole as image content; partial convolutions
(Liu et al., 2018, "Image Inpainting for Irregular Holes Using Partial Convolutions")
renormalise by the valid-pixel count with a hand-made mask update, and gated convolutions
(Yu et al., 2019, "Free-Form Image Inpainting with Gated Convolution") learn that update
instead: every layer computes features and a soft per-pixel, per-channel gate from the same
input, ``out = ELU(conv_f(x)) * sigmoid(conv_g(x))``, so the network itself decides how far
hole-ness propagates through its depth. Here ``conv_f`` and ``conv_g`` are one convolution
with twice the output channels, split.

Memory layout. Inference runs channels-last (NHWC), oneDNN's fast layout for these narrow
convolutions on a CPU, and there each gated layer calls the two halves of its convolution
separately: a channel slice of an NHWC tensor is strided, and ELU and sigmoid on strided
views cost more than the convolution itself. Same weights, same numbers, about 1.9x faster
in bfloat16 on 2 cores (the NCHW bfloat16 convolution also pays a layout copy per call).
Training keeps NCHW and the single convolution.

Input: the warped right view with its holes zeroed (centred, ``rgb - 0.5``), the hole mask
and, optionally, the warped disparity normalised per frame to [0, 1] over known pixels
(0 in holes, :func:`spatialme.inpaint.inference.normalize_disparity`). Disparity tells the
network which side of a hole is background (the smaller disparity), which is exactly what a
purely colour-based inpainter gets wrong (foreground bleeding, paper Fig. 3). Output: RGB in
[0, 1] through a sigmoid; the known pixels are then put back unchanged
(:meth:`GatedInpainter.complete`).

Lean by design: 3 levels (full, 1/2, 1/4 resolution), widths 16/32/64, two dilated
convolutions (2, 4) at 1/4 resolution for context, about 0.32 M parameters, no
normalisation layer. Without normalisation, every output pixel depends only on a bounded
window (:attr:`GatedInpainter.context_radius`, 46 px with the defaults), which is what lets
inference run on packed bands around the holes (:mod:`spatialme.inpaint.inference`).
Weights are saved and loaded with ``PyTorchModelHubMixin`` (``config.json`` +
``model.safetensors``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from huggingface_hub import PyTorchModelHubMixin
from torch import nn

__all__ = ["InpainterConfig", "GatedConv2d", "GatedInpainter"]


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
    ``stride``). A channels-last input runs the two halves as two convolutions, so that
    ELU and sigmoid read dense tensors (see the module docstring); the result is the same.

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
        if x.ndim == 4 and x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous():
            conv, n = self.conv, self.out_channels
            feat, gate = (
                F.conv2d(x, conv.weight[part], conv.bias[part], conv.stride, conv.padding, conv.dilation)
                for part in (slice(0, n), slice(n, 2 * n))
            )
        else:
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
                :func:`spatialme.inpaint.inference.normalize_disparity`), needed when ``use_disparity``; ignored otherwise.

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
        if not torch.is_grad_enabled():
            x = x.contiguous(memory_format=torch.channels_last)  # inference layout, see the module docstring
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
