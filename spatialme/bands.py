"""Packed bands around holes: where the learned parts run on a CPU.

Why
---
Both networks change pixels only in and next to the holes a warp opens, about 2 % of a
720p frame at the default divergence, yet a convolution needs context around every pixel
it computes. Square tiles on a grid (the first attempt) covered 35-60 % of the frame: the
holes are thin crescents along silhouettes, and every 64 px cell they touch pays its own
margin. Here the holes of every ``band`` rows are cut into boxes: one box per run of
columns holding a hole (runs closer than two margins are merged, since their windows would
overlap anyway), as tall as the hole rows in it. Each box grows by ``margin`` px of context
into its *window*; the windows of all frames of a chunk are packed side by side, ``gap`` px
apart, into shelves of one height and ``width`` px, and the shelves run through the network
in batches. Only the box pixels come back. At 720p this is about 15-25 % of the frame.

Exactness: window origins sit on multiples of the network's alignment (``2**(levels-1)``
or ``2**levels``), and so do their places in a shelf, so the strided convolutions see the
whole frame's grid. A window at a frame edge sits at the same edge of its shelf (after the
frame's alignment padding at the bottom and right), so the network meets its zero padding
there as on the whole frame: the right border band, a hole in every frame, depends on it.
With ``margin`` at least the network's receptive radius the result is the whole-frame one;
with the default 8 px some grey levels differ inside wide holes, at the same accuracy against
ground truth. The gaps hold values that read as the network's zero padding at its input.

On CUDA the networks run on whole frames instead (the pixel count does not matter there).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .checks import check_array

__all__ = ["BandConfig", "Packing", "plan_bands", "gather", "scatter", "cpu_autocast"]


@dataclass(frozen=True)
class BandConfig:
    """How holes are cut into boxes and packed.

    Attributes:
        band: rows per band, px (boxes are at most this tall).
        margin: context px added on every side of a box (its window). The networks reach
            further (about 46 and 50 px), but on held-out scenes (512x288, 20 px holes) the
            inpainter fills the holes equally well with 8, 12 or 16 px as on whole frames
            (17.1, 17.1, 17.1 and 17.0 dB), and 8 px computes about half the pixels of 16.
        width: shelf width px (shelves grow to the widest window; windows at a side edge of
            the frame get shelves of exactly their size).
        gap: px between two windows on a shelf.
        batch: shelves per forward pass (bounds memory).
    """

    band: int = 32
    margin: int = 8
    width: int = 512
    gap: int = 8
    batch: int = 8

    def __post_init__(self) -> None:
        for name, low, high in (("band", 1, 4096), ("margin", 0, 1024), ("width", 16, 1 << 15), ("gap", 0, 1024), ("batch", 1, 1 << 12)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not low <= value <= high:
                raise ValueError(f"{name}: expected an integer in [{low}, {high}], got {value!r}")


@dataclass
class Packing:
    """Where each box of a chunk sits in the frames and on the shelves.

    Shelves come in a few heights (window heights rounded up to :data:`SHELF_STEP` px);
    the shelves of one height form a *group* and run through the network together.

    Attributes:
        frame: ``(N,) int`` frame index of each box.
        box: ``(N, 4) int`` output box ``y0, y1, x0, x1`` (frame px, end exclusive).
        window: ``(N, 4) int`` input window ``y0, y1, x0, x1`` around it (frame px).
        place: ``(N, 4) int`` group, shelf within the group, ``y`` and ``x`` of the
            window's origin on it.
        pad: ``(N, 2) int`` rows below and columns right of the window that stand for the
            network's alignment padding of the frame (windows at the bottom or right
            frame edge; :func:`gather` writes ``edge_fill`` there).
        groups: ``(count, height, width)`` of each group's shelves.
    """

    frame: np.ndarray
    box: np.ndarray
    window: np.ndarray
    place: np.ndarray
    pad: np.ndarray
    groups: list[tuple[int, int, int]]

    @property
    def pixels(self) -> int:
        """Pixels the network computes: the shelves' area."""
        return sum(count * height * width for count, height, width in self.groups)


#: Shelf heights are multiples of this many px (fewer groups, fuller batches).
SHELF_STEP = 16


def _runs(cols: np.ndarray, join: int) -> list[tuple[int, int]]:
    """``[start, end)`` of the True runs of a 1-D bool array, runs closer than ``join`` merged."""
    idx = np.flatnonzero(cols)
    if idx.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(idx) > join)
    starts = np.r_[idx[0], idx[breaks + 1]]
    ends = np.r_[idx[breaks], idx[-1]] + 1
    return list(zip(starts.tolist(), ends.tolist()))


def _down(value: int, align: int) -> int:
    return value // align * align


def _up(value: int, align: int) -> int:
    return -(-value // align) * align


def plan_bands(region: np.ndarray, align: int, config: BandConfig = BandConfig()) -> Packing:
    """Cut the True pixels of ``region`` into boxes, give them windows, pack them into shelves.

    Args:
        region: ``(T, H, W) bool`` pixels the network must compute.
        align: the network's alignment px (window origins and shelf places are multiples).
        config: band, margin, shelf width, gap.

    Returns:
        :class:`Packing` (no boxes and no groups when ``region`` is empty).
    """
    region = check_array("region", region, (3,), (np.bool_,))
    if isinstance(align, bool) or not isinstance(align, (int, np.integer)) or align < 1:
        raise ValueError(f"align: expected a positive integer, got {align!r}")
    frames, height, width = region.shape
    band, margin = config.band, config.margin
    max_box = max(align, config.width - 2 * margin - 2 * align)
    nb = -(-height // band)
    padded = np.zeros((frames, nb * band, width), bool)
    padded[:, :height] = region
    busy = padded.reshape(frames, nb, band, width)
    cols_any = busy.any(axis=2)  # (T, nb, W)
    boxes, owners = [], []
    for t, b in zip(*np.nonzero(cols_any.any(axis=2))):
        rows_block = busy[t, b]
        for x0, x1 in _runs(cols_any[t, b], 2 * margin):
            for xs in range(x0, x1, max_box):
                xe = min(xs + max_box, x1)
                rows = np.flatnonzero(rows_block[:, xs:xe].any(axis=1))
                if rows.size == 0:
                    continue
                y0 = b * band + int(rows[0])
                boxes.append((y0, b * band + int(rows[-1]) + 1, xs, xe))
                owners.append(int(t))
    if not boxes:
        empty = np.zeros((0, 4), np.int64)
        return Packing(np.zeros(0, np.int64), empty, empty.copy(), empty.copy(), np.zeros((0, 2), np.int64), [])
    boxes, owners = _edge_columns(boxes, owners, width, margin, band)
    box = np.asarray(boxes, np.int64)
    win = np.empty_like(box)
    win[:, 0] = np.maximum(box[:, 0] - margin, 0) // align * align
    win[:, 1] = np.minimum(box[:, 1] + margin, height)
    win[:, 2] = np.maximum(box[:, 2] - margin, 0) // align * align
    win[:, 3] = np.minimum(box[:, 3] + margin, width)
    # A window at a frame edge must sit at the same edge of its shelf, so the network sees
    # its zero padding there exactly as on the whole frame; at the bottom and right the
    # frame's alignment padding (``pad``) comes first.
    top, left = win[:, 0] == 0, win[:, 2] == 0
    bottom, right = win[:, 1] == height, win[:, 3] == width
    pad = np.stack([np.where(bottom, _up(height, align) - height, 0), np.where(right, _up(width, align) - width, 0)], axis=1)
    heights = win[:, 1] - win[:, 0] + pad[:, 0]
    widths = win[:, 3] - win[:, 2] + pad[:, 1]
    step = _up(SHELF_STEP, align)
    classes = -(-heights // step) * step
    classes = np.where(top & bottom, heights, classes)  # spans the frame's height: a shelf exactly as tall
    edge = left | right
    shelf_w = max(_up(config.width, align), _up(int(widths[~edge].max()), align) if (~edge).any() else 0)
    gap = _up(config.gap, align) if config.gap else 0
    place = np.zeros((len(box), 4), np.int64)
    groups: list[tuple[int, int, int]] = []
    # Windows at the left or right frame edge (mostly the right border band, one column per
    # frame) get shelves of exactly their size, so both shelf edges are frame edges; windows
    # of one size share a group.
    for h, w in sorted({(int(c), int(wd)) for c, wd in zip(classes[edge], widths[edge])}, reverse=True):
        members = np.flatnonzero(edge & (classes == h) & (widths == w))
        for k, i in enumerate(members):
            place[i] = (len(groups), k, h - heights[i] if bottom[i] and not top[i] else 0, 0)
        groups.append((len(members), h, w))
    for h in sorted(set(classes[~edge].tolist()), reverse=True):
        members = np.flatnonzero(~edge & (classes == h))
        cursors: list[int] = []  # next free x of each shelf
        for i in members[np.argsort(-widths[members], kind="stable")]:  # widest first, first fit
            w = int(widths[i])
            s_idx = next((k for k, c in enumerate(cursors) if c + w <= shelf_w), None)
            if s_idx is None:
                cursors.append(0)
                s_idx = len(cursors) - 1
            y = int(h) - int(heights[i]) if bottom[i] and not top[i] else 0
            place[i] = (len(groups), s_idx, y, cursors[s_idx])
            cursors[s_idx] = _up(cursors[s_idx] + w + gap, align)
        groups.append((len(cursors), int(h), shelf_w))
    return Packing(np.asarray(owners, np.int64), box, win, place, pad, groups)


def _edge_columns(boxes: list[tuple[int, int, int, int]], owners: list[int], width: int, margin: int, band: int) -> tuple[list, list]:
    """Merge the boxes of one frame whose windows reach the same side edge, band after band, into columns.

    The right border band (and any hole run near a side edge) would otherwise give one
    edge window per band, each needing a shelf edge of its own.
    """
    out_boxes, out_owners = [], []
    pending: dict[tuple[int, str], list[int]] = {}
    for (y0, y1, x0, x1), t in zip(boxes, owners):
        side = "right" if x1 + margin >= width else "left" if x0 - margin <= 0 else ""
        if not side:
            out_boxes.append((y0, y1, x0, x1))
            out_owners.append(t)
            continue
        key = (t, side)
        cur = pending.get(key)
        if cur is not None and y0 - cur[1] <= band:
            cur[:] = min(cur[0], y0), max(cur[1], y1), min(cur[2], x0), max(cur[3], x1)  # boxes of one band come in column order
            continue
        if cur is not None:
            out_boxes.append(tuple(cur))
            out_owners.append(t)
        pending[key] = [y0, y1, x0, x1]
    for (t, _), cur in pending.items():
        out_boxes.append(tuple(cur))
        out_owners.append(t)
    return out_boxes, out_owners


def gather(frames: np.ndarray, packing: Packing, fill: float = 0, edge_fill: float | None = None) -> list[np.ndarray]:
    """Copy each window of ``frames`` to its place on the shelves.

    Args:
        frames: ``(T, H, W)`` or ``(T, H, W, C)`` array.
        packing: from :func:`plan_bands` on the same ``(T, H, W)``.
        fill: value of the shelf pixels no window covers (the network's zero padding).
        edge_fill: value of the alignment padding below / right of windows at the bottom /
            right frame edge (what the network pads a frame with); None = ``fill``.

    Returns:
        One ``(count, height, width[, C])`` array of ``frames``' dtype per group.
    """
    out = [np.full((count, height, width, *frames.shape[3:]), fill, frames.dtype) for count, height, width in packing.groups]
    for t, (y0, y1, x0, x1), (g, s, py, px), (ph, pw) in zip(packing.frame, packing.window, packing.place, packing.pad):
        out[g][s, py : py + y1 - y0, px : px + x1 - x0] = frames[t, y0:y1, x0:x1]
        if edge_fill is not None and (ph or pw):
            out[g][s, py + y1 - y0 : py + y1 - y0 + ph, px : px + x1 - x0 + pw] = edge_fill
            out[g][s, py : py + y1 - y0 + ph, px + x1 - x0 : px + x1 - x0 + pw] = edge_fill
    return out


def scatter(shelves: list[np.ndarray], packing: Packing, out: np.ndarray, select: np.ndarray | None = None) -> None:
    """Write the box pixels of the network's shelf output back into the frames, in place.

    Args:
        shelves: per group, ``(count, height, width, C)`` network output laid out as
            :func:`gather` laid the input.
        packing: the packing.
        out: ``(T, H, W, C)`` frames written.
        select: ``(T, H, W) bool``: only these pixels of a box are written (None: all).
    """
    for t, (by0, by1, bx0, bx1), (wy0, _, wx0, _), (g, s, py, px) in zip(packing.frame, packing.box, packing.window, packing.place):
        src = shelves[g][s, py + by0 - wy0 : py + by1 - wy0, px + bx0 - wx0 : px + bx1 - wx0]
        if select is None:
            out[t, by0:by1, bx0:bx1] = src
        else:
            sel = select[t, by0:by1, bx0:bx1]
            out[t, by0:by1, bx0:bx1][sel] = src[sel]


def cpu_autocast(device: torch.device, enabled: bool | None = None):
    """bfloat16 autocast for CPU inference where the processor computes bf16 natively.

    About 1.6x faster for these small convolutions on a CPU with AVX512-BF16 or AMX; the
    outputs move by a grey level or two (8 bits are what leaves the networks anyway).
    ``enabled=None`` turns it on exactly when oneDNN reports native bf16 support; elsewhere
    (emulated bf16 would be slower) and on CUDA it is a no-op context.
    """
    if device.type != "cpu":
        return torch.autocast("cpu", enabled=False)
    if enabled is None:
        enabled = bool(getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: False)())
    return torch.autocast("cpu", dtype=torch.bfloat16, enabled=enabled)
