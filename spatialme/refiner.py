"""MHFU refiner: fuse the three inpainting branches with learned masks (paper Sec. III-C).

Why it is built this way
------------------------
Each branch is right somewhere and wrong elsewhere: Poly is stable and keeps text sharp
but stretches large holes, DL invents plausible texture but bleeds foreground into the
hole, DE gives background context at edges but bends lines where depth is complex. The
refiner therefore does not repaint the frame; it predicts *where to trust which branch*.
Three single-channel masks and one RGB content image are blended in a fixed order
(eqs. 1-3)::

    I_f1 = M1 * I_p  + (1 - M1) * I_e          (1)  Poly vs DE
    I_f2 = M2 * I_f1 + (1 - M2) * I_l          (2)  ... vs DL
    I_g  = M3 * I_f2 + (1 - M3) * C            (3)  ... vs new content

Every output pixel is a convex combination of branch pixels and ``C``, so the result stays
in [0, 1] and an untrained or unsure refiner degrades to a blend of the branches, never
to noise. :func:`fuse` is that arithmetic as a pure function.

The masks come from a small U-Net whose skip features pass through Feature Update Units
(eqs. 4-7). A FUU gates an encoder feature ``f_i`` (level ``m``) against the upsampled
*updated* feature of level ``m + 1``, ``f_u``, coarse to fine: the deepest FUU takes the
upsampled bottleneck and each finer one the upsampled output of the FUU below it, so
global layout (which side of an edge is background) reaches the full-resolution masks::

    z = sigmoid(Conv([f_i, f_u]))   (4)      q = tanh(Conv([f_i, f_u]))   (5)
    r = tanh(Conv([f_i, f_u]))      (6)      f_o = q * z + (1 - z) * r    (7)

The three convolutions are implemented as one 3x3 convolution with ``3 C`` output channels
split into ``z, q, r`` (in that order): stacking the filters of three convolutions that
read the same input is the same operator, and one call is cheaper than three.

Size and locality. The refiner only arbitrates between good candidates, so it is lean
(about 0.2 M parameters with the defaults, widths ``16, 24, 32, 40``); it has no
normalisation layer, so its output at a pixel depends only on a bounded neighbourhood
(radius about 50 px with the defaults). Running it on a chunk (:mod:`spatialme.fusion`)
relies on that: on a CPU the network runs only on packed bands around the holes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from huggingface_hub import PyTorchModelHubMixin
from torch import nn

from .checks import check_int

__all__ = ["FeatureUpdateUnit", "MHFURefiner", "RefinerOutput", "branch_weights", "fuse"]

#: Initial biases of the four output groups (logits). ``sigmoid(0) = 1/2`` and
#: ``sigmoid(ln 2) = 2/3`` make eqs. 1-2 an equal three-way average of the branches;
#: ``sigmoid(3) = 0.95`` keeps the (initially meaningless, grey) content ``C`` mostly out.
_MASK_BIAS = (0.0, math.log(2.0), 3.0)


@dataclass
class RefinerOutput:
    """Output of :class:`MHFURefiner`; every tensor is float in [0, 1].

    Attributes:
        image: ``(B, 3, H, W)`` fused result ``I_g`` (eq. 3).
        m1: ``(B, 1, H, W)`` weight of Poly against DE (eq. 1).
        m2: ``(B, 1, H, W)`` weight of the eq.-1 blend against DL (eq. 2).
        m3: ``(B, 1, H, W)`` weight of the eq.-2 blend against the content (eq. 3).
        content: ``(B, 3, H, W)`` generated RGB content ``C``.
    """

    image: torch.Tensor
    m1: torch.Tensor
    m2: torch.Tensor
    m3: torch.Tensor
    content: torch.Tensor


def fuse(
    poly: torch.Tensor,
    de: torch.Tensor,
    dl: torch.Tensor,
    m1: torch.Tensor,
    m2: torch.Tensor,
    m3: torch.Tensor,
    content: torch.Tensor,
) -> torch.Tensor:
    """Blend the branches with the refiner's masks, eqs. 1-3.

    Args:
        poly: ``(B, 3, H, W)`` Poly branch ``I_p`` in [0, 1].
        de: ``(B, 3, H, W)`` DE branch ``I_e``.
        dl: ``(B, 3, H, W)`` DL branch ``I_l``.
        m1, m2, m3: ``(B, 1, H, W)`` masks in [0, 1] (broadcast over channels).
        content: ``(B, 3, H, W)`` generated content ``C``.

    Returns:
        ``(B, 3, H, W)`` fused image ``I_g``.

    Example:
        >>> p, e, l, c = (torch.full((1, 3, 1, 1), v) for v in (0.8, 0.4, 0.2, 0.0))
        >>> one, half = torch.ones(1, 1, 1, 1), torch.full((1, 1, 1, 1), 0.5)
        >>> [round(v, 4) for v in fuse(p, e, l, half, one, one, c).flatten().tolist()]
        [0.6, 0.6, 0.6]
    """
    # lerp(b, a, m) = b + m * (a - b) = m * a + (1 - m) * b: the equations, one kernel each.
    f1 = torch.lerp(de, poly, m1)  # eq. 1
    f2 = torch.lerp(dl, f1, m2)  # eq. 2
    return torch.lerp(content, f2, m3)  # eq. 3


def branch_weights(m1, m2, m3) -> dict:
    """How much of each input eqs. 1-3 put into the fused pixel: the blend written flat.

    ``I_g = w_poly I_p + w_de I_e + w_dl I_l + w_content C`` with ``w_poly = M3 M2 M1``,
    ``w_de = M3 M2 (1 - M1)``, ``w_dl = M3 (1 - M2)`` and ``w_content = 1 - M3``; the four
    sum to 1. Used to read the refiner's trust off its masks (``scripts/branch_weights.py``).

    Args:
        m1, m2, m3: masks of :func:`fuse`, tensors or arrays of one shape, values in [0, 1].

    Returns:
        ``{"poly", "de", "dl", "content"}`` -> weights of that shape.
    """
    return {"poly": m3 * m2 * m1, "de": m3 * m2 * (1 - m1), "dl": m3 * (1 - m2), "content": 1 - m3}


def _conv(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1)


def _act() -> nn.Module:
    return nn.LeakyReLU(0.2, inplace=True)


def _up(x: torch.Tensor) -> torch.Tensor:
    """Bilinear 2x upsampling (half-pixel centres: equivariant to even shifts, see tiling)."""
    return F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)


class FeatureUpdateUnit(nn.Module):
    """Gated fusion of an encoder feature with the coarser updated feature, eqs. 4-7.

    ``Conv`` is one 3x3 convolution ``in_channels + up_channels -> 3 * in_channels`` whose
    output splits into the pre-activations of ``z`` (eq. 4), ``q`` (eq. 5) and ``r``
    (eq. 6), in that order; ``self.conv.weight[k * C:(k + 1) * C]`` is the ``k``-th of the
    three convolutions of the paper.

    Args:
        in_channels: ``C``, channels of the encoder feature ``f_i`` (and of the output).
        up_channels: ``C'``, channels of the upsampled coarser feature ``f_u``.
    """

    def __init__(self, in_channels: int, up_channels: int) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.up_channels = up_channels
        self.conv = _conv(in_channels + up_channels, 3 * in_channels)

    def forward(self, f_i: torch.Tensor, f_u: torch.Tensor) -> torch.Tensor:
        """Update ``f_i`` with ``f_u``.

        Args:
            f_i: ``(B, C, H, W)`` encoder feature of level ``m``.
            f_u: ``(B, C', H, W)`` upsampled updated feature of level ``m + 1``.

        Returns:
            ``(B, C, H, W)`` updated feature ``f_o`` in (-1, 1).
        """
        if f_i.ndim != 4 or f_i.shape[1] != self.in_channels:
            raise ValueError(f"f_i: expected shape (B, {self.in_channels}, H, W), got {tuple(f_i.shape)}")
        expected = (f_i.shape[0], self.up_channels, *f_i.shape[2:])
        if tuple(f_u.shape) != expected:
            raise ValueError(f"f_u: expected shape {expected} to match f_i, got {tuple(f_u.shape)}")
        x = torch.cat([f_i, f_u], dim=1)
        if x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous():
            # channel slices of an NHWC output are strided and the activations on them slow:
            # the three convolutions run one by one instead (same weights, same numbers)
            conv, n = self.conv, self.in_channels
            z, q, r = (F.conv2d(x, conv.weight[k * n : (k + 1) * n], conv.bias[k * n : (k + 1) * n], 1, 1) for k in range(3))
        else:
            z, q, r = self.conv(x).chunk(3, dim=1)
        z = torch.sigmoid(z)  # eq. 4
        q = torch.tanh(q)  # eq. 5
        r = torch.tanh(r)  # eq. 6
        return torch.lerp(r, q, z)  # eq. 7: q * z + (1 - z) * r


class MHFURefiner(
    nn.Module,
    PyTorchModelHubMixin,
    library_name="spatialme",
    license="apache-2.0",
    tags=["spatialme", "stereo", "2d-to-3d", "video-inpainting", "image-to-image"],
):
    """Mask-based hierarchical feature-update refiner (paper Fig. 2, Sec. III-C).

    Layout (``L = levels``, widths ``c_m = base_channels * (2 + m) // 2``, i.e. 16, 24,
    32, 40 with the defaults):

    - input: ``[I_p, I_e, I_l, masks]``, ``9 + mask_channels`` channels, and with
      ``disparity_input`` one more: the warp's right-view disparity (see ``forward``);
    - encoder: a stem of two 3x3 convolutions at full resolution (``e_0``), then per level
      a stride-2 3x3 convolution and a 3x3 convolution (``e_1 .. e_L``; ``e_L`` is the
      bottleneck at ``1 / 2**L`` resolution);
    - FUUs, coarse to fine: ``f_o^{L-1} = FUU(e_{L-1}, up(e_L))``, then
      ``f_o^m = FUU(e_m, up(f_o^{m+1}))``;
    - decoder: ``d_L = e_L``, ``d_m = conv([up(d_{m+1}), f_o^m])``;
    - head: a series of three 3x3 convolutions (paper: "a series of three convolutional
      layers") giving 6 channels: sigmoid logits of ``M1, M2, M3`` and of ``C`` (RGB);
    - fusion: :func:`fuse` (eqs. 1-3).

    Activations are LeakyReLU(0.2); there is no normalisation layer, so outputs are local
    (required by :func:`refine_clip`) and independent of the batch. The last convolution
    starts with weights scaled by 0.1 and biases :data:`_MASK_BIAS`, so an untrained refiner
    outputs close to an equal average of the three branches with ``C`` mostly ignored
    (``M1 = 1/2``, ``M2 = 2/3``, ``M3 = 0.95``), instead of a random blend.

    Config (the ``__init__`` keyword arguments; all JSON-serialisable, written to
    ``config.json`` by ``save_pretrained`` and read back by ``from_pretrained``):

    Args:
        base_channels: width ``c_0`` of the full-resolution features (>= 2). Parameters grow
            as its square: about 0.05 M at 8, 0.2 M at 16, 0.85 M at 32.
        levels: number of stride-2 levels ``L`` (1 to 6). The receptive field roughly
            doubles per level; inputs of any size are padded inside ``forward`` (replicate)
            to a multiple of ``2**levels`` and cropped back.
        mask_channels: ``K``, number of hole masks given with the branches (>= 0). The
            pipeline passes 2: the holes of the plain warp and those of the DE re-warp.
        disparity_input: also read the plain warp's right-view disparity, normalised per
            frame to [0, 1] over its known pixels (0 in the holes), as the DL branch reads it
            (:func:`spatialme.inpaint.inference.normalize_disparity`). The branches' errors
            depend on the depth edge beside a hole: a sharp step (DE's re-warp is right, DL
            bleeds little) or a soft ramp as a monocular model gives (DE's widened holes
            cost it); the colours and masks alone do not tell the two apart. Its stem
            weights start at zero (:meth:`with_disparity_input`), so a refiner widened from
            trained weights starts out giving exactly their output.

    Example:
        >>> net = MHFURefiner(base_channels=8, levels=2)
        >>> x = torch.rand(1, 3, 13, 21)
        >>> out = net(x, x, x, torch.zeros(1, 2, 13, 21))
        >>> tuple(out.image.shape), tuple(out.m1.shape)
        ((1, 3, 13, 21), (1, 1, 13, 21))
    """

    def __init__(self, *, base_channels: int = 16, levels: int = 3, mask_channels: int = 2, disparity_input: bool = False) -> None:
        super().__init__()
        for name, value, low, high in (
            ("base_channels", base_channels, 2, 1024),
            ("levels", levels, 1, 6),
            ("mask_channels", mask_channels, 0, 64),
        ):
            check_int(name, value, low, high)
        if not isinstance(disparity_input, bool):
            raise ValueError(f"disparity_input: expected a bool, got {disparity_input!r}")
        self.base_channels = base_channels
        self.levels = levels
        self.mask_channels = mask_channels
        self.disparity_input = disparity_input
        widths = [base_channels * (2 + m) // 2 for m in range(levels + 1)]
        self.widths = tuple(widths)

        self.stem = nn.Sequential(_conv(self.in_channels, widths[0]), _act(), _conv(widths[0], widths[0]), _act())
        self.down = nn.ModuleList(
            nn.Sequential(_conv(widths[m], widths[m + 1], stride=2), _act(), _conv(widths[m + 1], widths[m + 1]), _act())
            for m in range(levels)
        )
        self.fuu = nn.ModuleList(FeatureUpdateUnit(widths[m], widths[m + 1]) for m in range(levels))
        self.decode = nn.ModuleList(
            nn.Sequential(_conv(widths[m + 1] + widths[m], widths[m]), _act()) for m in range(levels)
        )
        self.head = nn.Sequential(
            _conv(widths[0], widths[0]), _act(), _conv(widths[0], widths[0]), _act(), _conv(widths[0], 6)
        )
        last = self.head[-1]
        with torch.no_grad():
            last.weight.mul_(0.1)
            last.bias.zero_()
            last.bias[:3] = torch.tensor(_MASK_BIAS)

    @property
    def in_channels(self) -> int:
        """Input planes of the stem: 9 (three RGB branches), the masks, and the disparity if read."""
        return 9 + self.mask_channels + int(self.disparity_input)

    def with_disparity_input(self) -> "MHFURefiner":
        """A copy that also reads the warp's disparity, giving exactly this refiner's output.

        The new stem input's weights are zero, so the disparity has no effect until training
        moves them; every other weight is this refiner's.
        """
        if self.disparity_input:
            raise ValueError("disparity_input: this refiner already reads the disparity")
        wider = MHFURefiner(base_channels=self.base_channels, levels=self.levels, mask_channels=self.mask_channels, disparity_input=True)
        state = {k: v.detach().clone() for k, v in self.state_dict().items()}
        stem = state["stem.0.weight"]
        state["stem.0.weight"] = torch.cat([stem, stem.new_zeros(stem.shape[0], 1, *stem.shape[2:])], dim=1)
        wider.load_state_dict(state)
        return wider.to(stem.device)

    @property
    def multiple(self) -> int:
        """Spatial size the network works on internally (``2**levels``)."""
        return 2**self.levels

    def _check(self, poly: torch.Tensor, de: torch.Tensor, dl: torch.Tensor, masks: torch.Tensor, disparity: torch.Tensor | None) -> None:
        if not isinstance(poly, torch.Tensor) or poly.ndim != 4 or poly.shape[1] != 3:
            raise ValueError(f"poly: expected a tensor of shape (B, 3, H, W), got {getattr(poly, 'shape', type(poly))}")
        for name, value in (("de", de), ("dl", dl)):
            if not isinstance(value, torch.Tensor) or value.shape != poly.shape:
                got = getattr(value, "shape", type(value))
                raise ValueError(f"{name}: expected shape {tuple(poly.shape)} to match poly, got {got}")
        expected = (poly.shape[0], self.mask_channels, *poly.shape[2:])
        if not isinstance(masks, torch.Tensor) or tuple(masks.shape) != expected:
            raise ValueError(f"masks: expected shape {expected}, got {getattr(masks, 'shape', type(masks))}")
        if not self.disparity_input:
            if disparity is not None:
                raise ValueError("disparity: this refiner does not read the disparity (disparity_input=False); pass None")
            return
        expected = (poly.shape[0], 1, *poly.shape[2:])
        if not isinstance(disparity, torch.Tensor) or tuple(disparity.shape) != expected:
            raise ValueError(f"disparity: expected shape {expected} (this refiner reads it), got {getattr(disparity, 'shape', type(disparity))}")

    def forward(self, poly: torch.Tensor, de: torch.Tensor, dl: torch.Tensor, masks: torch.Tensor, disparity: torch.Tensor | None = None) -> RefinerOutput:
        """Predict the masks and content and fuse the branches.

        Args:
            poly: ``(B, 3, H, W)`` Poly branch ``I_p``, float in [0, 1].
            de: ``(B, 3, H, W)`` DE branch ``I_e``.
            dl: ``(B, 3, H, W)`` DL branch ``I_l``.
            masks: ``(B, K, H, W)`` float 0/1 hole masks, 1 = hole (``K = mask_channels``).
            disparity: ``(B, 1, H, W)`` the plain warp's right-view disparity normalised per
                frame to [0, 1] (0 in the holes), with ``disparity_input`` only; else None.

        Returns:
            :class:`RefinerOutput` at the input size ``H x W`` (any size).
        """
        self._check(poly, de, dl, masks, disparity)
        height, width = poly.shape[-2:]
        # Channels-last (NHWC) is oneDNN's fast layout for these narrow convolutions on CPU
        # (about 1.4x here); results are the same tensors, only the strides differ.
        planes = [poly, de, dl, masks.to(poly.dtype)] + ([disparity.to(poly.dtype)] if self.disparity_input else [])
        x = torch.cat(planes, dim=1)
        pad_h, pad_w = -height % self.multiple, -width % self.multiple
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
        x = x.contiguous(memory_format=torch.channels_last)

        encoded = [self.stem(x)]
        for down in self.down:
            encoded.append(down(encoded[-1]))
        updated: list[torch.Tensor] = [encoded[-1]] * self.levels
        coarse = encoded[-1]  # the bottleneck feeds the deepest FUU
        for m in reversed(range(self.levels)):
            coarse = self.fuu[m](encoded[m], _up(coarse))
            updated[m] = coarse
        decoded = encoded[-1]
        for m in reversed(range(self.levels)):
            decoded = self.decode[m](torch.cat([_up(decoded), updated[m]], dim=1))

        logits = self.head(decoded)[..., :height, :width].float()  # fusion in float32 under autocast too
        m1, m2, m3, content = torch.sigmoid(logits).split((1, 1, 1, 3), dim=1)
        return RefinerOutput(fuse(poly, de, dl, m1, m2, m3, content), m1, m2, m3, content)
