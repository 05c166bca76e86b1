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
(radius about 50 px with the defaults). :func:`refine_clip` (the pipeline's path) relies on
that: on a CPU it runs the network only on packed bands around the holes
(:mod:`spatialme.bands`), where the branches disagree, keeps the refined pixels within
:data:`REFINE_RING` px of a plain-warp hole and Poly elsewhere (all branches agree with the warp away
from holes), in bfloat16 where the CPU has it natively; on CUDA whole frames, with the same ring.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from huggingface_hub import PyTorchModelHubMixin
from torch import nn

from .bands import BandConfig, cpu_autocast, gather, plan_bands, scatter
from .checks import check_array, check_int

__all__ = ["FeatureUpdateUnit", "MHFURefiner", "RefinedClip", "RefinerOutput", "fuse", "refine_clip", "refine_frames", "refined_region", "compose_refined"]

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

    - input: ``[I_p, I_e, I_l, masks]``, ``9 + mask_channels`` channels;
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

    Example:
        >>> net = MHFURefiner(base_channels=8, levels=2)
        >>> x = torch.rand(1, 3, 13, 21)
        >>> out = net(x, x, x, torch.zeros(1, 2, 13, 21))
        >>> tuple(out.image.shape), tuple(out.m1.shape)
        ((1, 3, 13, 21), (1, 1, 13, 21))
    """

    def __init__(self, *, base_channels: int = 16, levels: int = 3, mask_channels: int = 2) -> None:
        super().__init__()
        for name, value, low, high in (
            ("base_channels", base_channels, 2, 1024),
            ("levels", levels, 1, 6),
            ("mask_channels", mask_channels, 0, 64),
        ):
            check_int(name, value, low, high)
        self.base_channels = base_channels
        self.levels = levels
        self.mask_channels = mask_channels
        widths = [base_channels * (2 + m) // 2 for m in range(levels + 1)]
        self.widths = tuple(widths)

        self.stem = nn.Sequential(_conv(9 + mask_channels, widths[0]), _act(), _conv(widths[0], widths[0]), _act())
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
    def multiple(self) -> int:
        """Spatial size the network works on internally (``2**levels``)."""
        return 2**self.levels

    def _check(self, poly: torch.Tensor, de: torch.Tensor, dl: torch.Tensor, masks: torch.Tensor) -> None:
        if not isinstance(poly, torch.Tensor) or poly.ndim != 4 or poly.shape[1] != 3:
            raise ValueError(f"poly: expected a tensor of shape (B, 3, H, W), got {getattr(poly, 'shape', type(poly))}")
        for name, value in (("de", de), ("dl", dl)):
            if not isinstance(value, torch.Tensor) or value.shape != poly.shape:
                got = getattr(value, "shape", type(value))
                raise ValueError(f"{name}: expected shape {tuple(poly.shape)} to match poly, got {got}")
        expected = (poly.shape[0], self.mask_channels, *poly.shape[2:])
        if not isinstance(masks, torch.Tensor) or tuple(masks.shape) != expected:
            raise ValueError(f"masks: expected shape {expected}, got {getattr(masks, 'shape', type(masks))}")

    def forward(self, poly: torch.Tensor, de: torch.Tensor, dl: torch.Tensor, masks: torch.Tensor) -> RefinerOutput:
        """Predict the masks and content and fuse the branches.

        Args:
            poly: ``(B, 3, H, W)`` Poly branch ``I_p``, float in [0, 1].
            de: ``(B, 3, H, W)`` DE branch ``I_e``.
            dl: ``(B, 3, H, W)`` DL branch ``I_l``.
            masks: ``(B, K, H, W)`` float 0/1 hole masks, 1 = hole (``K = mask_channels``).

        Returns:
            :class:`RefinerOutput` at the input size ``H x W`` (any size).
        """
        self._check(poly, de, dl, masks)
        height, width = poly.shape[-2:]
        # Channels-last (NHWC) is oneDNN's fast layout for these narrow convolutions on CPU
        # (about 1.4x here); results are the same tensors, only the strides differ.
        x = torch.cat([poly, de, dl, masks.to(poly.dtype)], dim=1)
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


def _stack_inputs(poly: np.ndarray, de: np.ndarray, dl: np.ndarray, masks: np.ndarray, multiple: int) -> np.ndarray:
    """``(Hp, Wp, 9 + K) uint8`` input (masks as 0/255), replicate-padded like ``forward``."""
    height, width = poly.shape[:2]
    planes = [poly, de, dl] + [m[..., None].astype(np.uint8) * 255 for m in masks]
    stacked = np.concatenate(planes, axis=2)
    pad = ((0, -height % multiple), (0, -width % multiple), (0, 0))
    return np.pad(stacked, pad, mode="edge") if any(p[1] for p in pad) else stacked


def _run_windows(model: MHFURefiner, windows: np.ndarray, device: torch.device, dtype: torch.dtype) -> np.ndarray:
    """Refine a stack of ``(N, h, w, 9 + K) uint8`` windows.

    Returns ``(N, h, w, 9) uint8``: the fused image (channels 0-2), the masks M1-M3 x 255
    (3-5) and the content ``C`` (6-8), all from one forward pass.
    """
    x = torch.from_numpy(windows).to(device).permute(0, 3, 1, 2).to(dtype).div_(255.0)
    res = model(x[:, 0:3], x[:, 3:6], x[:, 6:9], x[:, 9:])
    out = torch.cat([res.image, res.m1, res.m2, res.m3, res.content], dim=1).float()
    return out.mul(255.0).round_().clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()


@dataclass
class RefinedClip:
    """Output of :func:`refine_frames`.

    Attributes:
        right: ``(T, H, W, 3) uint8`` refined right view.
        maps: frame index -> ``{"m1", "m2", "m3": (H, W) float32 in [0, 1], "c": (H, W, 3)
            uint8}``, the masks and content of the very pass behind ``right`` (quantised to
            1/255), for the frames asked for. Where the banded CPU path keeps Poly (beyond
            :data:`REFINE_RING` of a hole, on either path) the output is Poly, so the maps say so there:
            M1 = M2 = M3 = 1 and ``C`` = 0.
    """

    right: np.ndarray
    maps: dict[int, dict[str, np.ndarray]]


def _maps_of(planes: np.ndarray) -> dict[str, np.ndarray]:
    """``(H, W, 6) uint8`` (M1-M3 x 255, C) -> the :class:`RefinedClip` maps of one frame."""
    maps = {k: planes[..., i].astype(np.float32) / np.float32(255.0) for i, k in enumerate(("m1", "m2", "m3"))}
    maps["c"] = planes[..., 3:6].copy()
    return maps


def _frames_of(packing, frames: list[int], total: int):
    """The boxes of ``packing`` that lie in ``frames`` (of ``total``), renumbered ``0 .. len(frames) - 1``."""
    index = np.full(total, -1, np.int64)
    index[frames] = np.arange(len(frames))
    keep = index[packing.frame] >= 0
    return replace(packing, frame=index[packing.frame[keep]], box=packing.box[keep], window=packing.window[keep], place=packing.place[keep], pad=packing.pad[keep])


#: Refined pixels are kept within this many px of a hole of the plain warp (the first mask)
#: along its row; Poly elsewhere. Measured on the sweep (shipped refiner): 4 px costs 0.6 dB
#: outside the holes at 720p, 6 % exact (45.45 vs 46.10 dB at 1 px) with no gain anywhere;
#: 0 px loses 0.08 dB over the whole frame at 720p, 2 % estimated-like. Only the row
#: neighbours: a warp displaces along rows, so the pixels beside a hole carry its errors
#: (a soft depth edge smears them) while those above and below it are as right as anywhere;
#: the refined value there was worse than Poly with exact disparity (720p, 8 %: summed
#: squared error 3.8 -> 19.1 in one clip) and level with it with estimated-like disparity,
#: whereas beside the holes it gained in both. The DE re-warp's own holes (the second mask)
#: are left out for the same reason: the plain warp is right there with exact disparity
#: (720p, 8 %: 0.60 -> 6.55), level with estimated-like. See :func:`refined_region`.
REFINE_RING = 1


def refined_region(masks: np.ndarray) -> np.ndarray:
    """Pixels whose refined value is kept: within :data:`REFINE_RING` px of a plain-warp hole along its row.

    Args:
        masks: ``(T, K, H, W) bool`` the refiner's hole masks, the plain warp's first; with
            ``K = 0`` (a refiner given no masks) every pixel is refined.

    Returns:
        ``(T, H, W) bool``.
    """
    frames, channels, height, width = masks.shape
    if channels == 0:
        return np.ones((frames, height, width), bool)
    kernel = np.ones((1, 2 * REFINE_RING + 1), np.uint8)
    return np.stack([cv2.dilate(m.astype(np.uint8), kernel) > 0 for m in masks[:, 0]])


def compose_refined(refined: torch.Tensor, poly: torch.Tensor, hole: torch.Tensor) -> torch.Tensor:
    """What inference shows, on tensors: ``refined`` near a hole (:func:`refined_region`), Poly elsewhere.

    The training loss reads this composite, so the refiner is taught on exactly the pixels
    the pipeline keeps (:func:`refined_region`); gradients reach ``refined`` only there.

    Args:
        refined: ``(B, 3, H, W)`` the refiner's fused view.
        poly: ``(B, 3, H, W)`` the Poly branch.
        hole: ``(B, 1, H, W)`` float 0/1 or bool, the plain warp's holes.

    Returns:
        ``(B, 3, H, W)``.
    """
    if refined.shape != poly.shape or hole.shape != (refined.shape[0], 1, *refined.shape[2:]):
        raise ValueError(f"hole: expected shape {(refined.shape[0], 1, *refined.shape[2:])} beside images {tuple(poly.shape)}, got {tuple(hole.shape)}")
    near = F.max_pool2d(hole.float(), (1, 2 * REFINE_RING + 1), stride=1, padding=(0, REFINE_RING)) > 0.5
    return torch.where(near, refined, poly)


def refine_clip(
    model: MHFURefiner,
    poly: np.ndarray,
    de: np.ndarray,
    dl: np.ndarray,
    masks: np.ndarray,
    bands: BandConfig | None = BandConfig(),
    bf16: bool | None = None,
) -> np.ndarray:
    """The refined right view ``(T, H, W, 3) uint8`` alone: :func:`refine_frames` without maps."""
    return refine_frames(model, poly, de, dl, masks, bands, bf16).right


def refine_frames(
    model: MHFURefiner,
    poly: np.ndarray,
    de: np.ndarray,
    dl: np.ndarray,
    masks: np.ndarray,
    bands: BandConfig | None = BandConfig(),
    bf16: bool | None = None,
    maps: Sequence[int] = (),
) -> RefinedClip:
    """Run the refiner on a chunk of frames: packed bands around the holes on a CPU.

    The refined result is kept within :data:`REFINE_RING` px of a hole of the plain warp along
    its row (the first mask: the pixels no branch knows, and the silhouette pixels beside them),
    see :func:`refined_region`; every other pixel is Poly unchanged. The pixels within that ring are cut into boxes and run
    with ``bands.margin`` px of context, packed into shelves (:mod:`spatialme.bands`), in
    bfloat16 where the CPU supports it natively (``bf16=None``). With ``bands=None``, or a
    model on CUDA, whole frames are refined (the pixel count does not matter there) and the
    same ring is kept, so both paths give the same picture.

    Args:
        model: the refiner (its device is used).
        poly, de, dl: ``(T, H, W, 3) uint8`` branch outputs.
        masks: ``(T, K, H, W) bool`` hole masks, ``K = model.mask_channels``.
        bands: packing on a CPU; None = whole frames.
        bf16: bfloat16 autocast on a CPU (:func:`spatialme.bands.cpu_autocast`).
        maps: frame indices whose masks and content to return (from the same pass).

    Returns:
        :class:`RefinedClip`.
    """
    if not isinstance(model, MHFURefiner):
        raise ValueError(f"model: expected an MHFURefiner, got {type(model).__name__}")
    poly = check_array("poly", poly, (4,), (np.uint8,))
    for name, value in (("de", de), ("dl", dl)):
        if check_array(name, value, (4,), (np.uint8,)).shape != poly.shape:
            raise ValueError(f"{name}: expected shape {poly.shape} to match poly, got {value.shape}")
    masks = check_array("masks", masks, (4,), (np.bool_,))
    frames, height, width = poly.shape[:3]
    if masks.shape != (frames, model.mask_channels, height, width):
        raise ValueError(f"masks: expected shape {(frames, model.mask_channels, height, width)}, got {masks.shape}")
    if bands is not None and not isinstance(bands, BandConfig):
        raise ValueError(f"bands: expected a BandConfig or None, got {type(bands).__name__}")
    wanted = sorted({int(t) for t in maps})
    if any(not 0 <= t < frames for t in wanted):
        raise ValueError(f"maps: expected frame indices in [0, {frames}), got {list(maps)}")
    param = next(model.parameters())
    device, dtype = param.device, param.dtype
    region = refined_region(masks)
    with torch.inference_mode():
        if bands is None or device.type == "cuda":
            out = poly.copy()
            found = {}
            for t in range(frames):
                res = _run_windows(model, _stack_inputs(poly[t], de[t], dl[t], masks[t], model.multiple)[None], device, dtype)[0, :height, :width]
                out[t][region[t]] = res[..., :3][region[t]]
                if t in wanted:
                    planes = np.concatenate([np.full((height, width, 3), 255, np.uint8), np.zeros((height, width, 3), np.uint8)], axis=-1)
                    planes[region[t]] = res[..., 3:][region[t]]
                    found[t] = _maps_of(planes)
            return RefinedClip(out, found)
        out = poly.copy()
        planes = np.zeros((len(wanted), height, width, 6), np.uint8)
        planes[..., :3] = 255  # Poly everywhere the refiner is not run
        if region.any():
            packing = plan_bands(region, model.multiple, bands)
            # gather each input on its own (the shelves are a fraction of the frames), then stack channels
            parts = [gather(poly, packing), gather(de, packing), gather(dl, packing)]
            parts += [[m[..., None] * np.uint8(255) for m in gather(masks[:, k].view(np.uint8), packing)] for k in range(masks.shape[1])]
            shelves = [np.concatenate(group, axis=-1) for group in zip(*parts)]
            refined = []
            with cpu_autocast(device, bf16):
                for group in shelves:
                    runs = [_run_windows(model, group[i : i + bands.batch], device, dtype) for i in range(0, len(group), bands.batch)]
                    refined.append(np.concatenate(runs))
            scatter([r[..., :3] for r in refined], packing, out, region)
            if wanted:
                scatter([r[..., 3:] for r in refined], _frames_of(packing, wanted, frames), planes, region[wanted])
        return RefinedClip(out, {t: _maps_of(planes[i]) for i, t in enumerate(wanted)})
