"""The learned inpainter at inference: its inputs, and the network run on frames.

Why it is built this way
------------------------
The network (:mod:`.network`) has no normalisation layer, so every output pixel depends only
on a bounded window of the input (:attr:`GatedInpainter.context_radius`). On a CPU only
packed bands around the holes are therefore run (:func:`inpaint_frames`,
:mod:`spatialme.bands`; holes are a few percent of a frame, the bands 15-30 %), and they
agree with the whole-frame result when their margin covers that radius (the default 8 px
margin moves some grey levels inside wide holes, at the same accuracy against the ground
truth). Where the packed shelves would hold as many pixels as the whole frames (the coarse
pyramid levels), and on CUDA, whole frames are run, a few per pass. On a CPU with native
bfloat16 the network runs under bf16 autocast (about 1.6x faster, a grey level or two of
difference).

Cost on the 2-core CPU (2 threads, ``benchmarks/bench_full.py``, 8-frame synthetic clips
at a 2 % divergence with a moving camera, about 2 % of the pixels in holes): the whole DL
fill (flows, propagation, the network on bands in bf16) takes about 135 ms per 720p frame
and 103 ms per 480p frame; the 64 px square tiles in float32 it replaced took about 0.4 s
for the network alone at 720p.

The disparity channel is the warped (right-view) disparity normalised per frame over its
known pixels (:func:`normalize_disparity`); training builds it the same way
(:mod:`spatialme.train`).
"""

from __future__ import annotations

import numpy as np
import torch

from ..bands import BandConfig, Packing, cpu_autocast, gather, plan_bands, scatter
from ..checks import check_array, check_clip, check_disparity
from ..warp import forward_warp
from .base import composite
from .network import GatedInpainter

__all__ = ["WHOLE_FRAME_PIXELS", "normalize_disparity", "warped_disparity", "inpaint_frames"]

#: Padded pixels per forward pass when whole frames run (CUDA): about two 720p frames.
WHOLE_FRAME_PIXELS = 8 * 96 * 96 * 32


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
    *,
    need: np.ndarray | None = None,
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
        need: optional ``(T, H, W) bool``: the hole pixels whose fill will be read; on
            packed bands only boxes around ``hole_mask & need`` are run (the others may keep
            their input values). The network still sees every hole as a hole. None = all.

    Returns:
        ``(T, H, W, 3) uint8``: ``warped`` with its holes (those in ``need``) filled.
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
    region = _needed_holes(holes, need)
    if not region.any():
        return out
    was_training = model.training
    model.to(device).eval()
    try:
        with cpu_autocast(device, bf16):
            packing = None if bands is None or device.type == "cuda" else plan_bands(region, model.config.alignment, bands)
            if packing is None or packing.pixels >= _whole_frame_area(holes, model.config.alignment):
                _whole_frames(model, warped, holes, disp, out, WHOLE_FRAME_PIXELS, device)
            else:
                _packed(model, warped, holes, disp, out, packing, bands, device)
    finally:
        model.train(was_training)
    return out


def _needed_holes(holes: np.ndarray, need: np.ndarray | None) -> np.ndarray:
    """The hole pixels the caller reads: ``holes & need`` (``holes`` when ``need`` is None)."""
    if need is None:
        return holes
    need = check_array("need", need, (3,), (np.bool_,))
    if need.shape != holes.shape:
        raise ValueError(f"need: expected shape {holes.shape} to match hole_mask, got {need.shape}")
    return holes & need


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
