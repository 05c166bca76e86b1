"""Row scans for hole pixels: the nearest known pixel on each side, background fill, occluder.

A right-view hole is what the left camera could not see because something nearer hid it.
Along an image row, the hole is bounded by two known pixels: the occluder on its left (the
hole opens on the far side of the occluder's edge, for any sign of disparity) and the
background on its right (for ``d >= 0``, except the border band at the right edge). Two
numba scans per row (rows in parallel) find both neighbours of every pixel; from them

* :func:`fill_from_background` gives each unknown pixel the value of its farther (smaller
  disparity) neighbour: the flow of a hole is the background's flow, the disparity of a
  hole is the background's disparity;
* :func:`occluder_disparity` gives each hole pixel the disparity of the occluder that hid
  it, which what is copied into the hole must lie behind.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["edge_runs", "fill_from_background", "occluder_disparity"]


@numba.njit(parallel=True, cache=True)
def _neighbours_kernel(unknown, left, right):  # pragma: no cover - compiled
    rows, width = unknown.shape
    for r in numba.prange(rows):
        k = -1
        for x in range(width):
            if not unknown[r, x]:
                k = x
            left[r, x] = k
        k = width
        for x in range(width - 1, -1, -1):
            if not unknown[r, x]:
                k = x
            right[r, x] = k


def _row_neighbours(unknown: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest known column at or left of / at or right of every pixel of its row.

    One left-to-right and one right-to-left scan per row (numba, rows in parallel).

    Args:
        unknown: ``(..., H, W)`` bool.

    Returns:
        ``(left, right)``, int32 arrays of that shape; ``-1`` / ``W`` where none.
    """
    flat = np.ascontiguousarray(unknown, bool).reshape(-1, unknown.shape[-1])
    left = np.empty(flat.shape, np.int32)
    right = np.empty(flat.shape, np.int32)
    if flat.size:
        _neighbours_kernel(flat, left, right)
    return left.reshape(unknown.shape), right.reshape(unknown.shape)


def fill_from_background(values: np.ndarray, unknown: np.ndarray, disparity: np.ndarray | None = None) -> np.ndarray:
    """Give every unknown pixel the value of the nearest known pixel on its row, farther side first.

    For each unknown pixel the nearest known pixels to its left and right on the same row
    are found (one scan per row and direction); the one with the smaller
    ``disparity`` (the farther one: a disocclusion is background) wins, or the right-hand
    one when ``disparity`` is None. A pixel with a known neighbour on one side only takes
    that one; a row with no known pixel keeps zeros.

    Args:
        values: ``(..., H, W)`` or ``(..., H, W, C)`` array (float or int).
        unknown: ``(..., H, W)`` bool, True where ``values`` is to be replaced.
        disparity: ``(..., H, W)`` px of the known pixels, or None.

    Returns:
        A new array like ``values`` (unknown pixels of empty rows are 0).
    """
    unknown = np.asarray(unknown, bool)
    values = np.asarray(values)
    if values.shape[: unknown.ndim] != unknown.shape or values.ndim > unknown.ndim + 1:
        raise ValueError(f"unknown: expected shape {values.shape[: unknown.ndim]} matching values, got {unknown.shape}")
    if disparity is not None and np.shape(disparity) != unknown.shape:
        raise ValueError(f"disparity: expected shape {unknown.shape} matching unknown, got {np.shape(disparity)}")
    width = unknown.shape[-1]
    left, right = _row_neighbours(unknown)
    where = np.nonzero(unknown)  # holes are a few percent of a frame: work on them only
    lft, rgt = left[where], right[where]
    has_l, has_r = lft >= 0, rgt < width
    lft, rgt = np.clip(lft, 0, width - 1), np.clip(rgt, 0, width - 1)
    rows = where[:-1]
    if disparity is None:
        take_left = has_l & ~has_r
    else:
        d = np.asarray(disparity, np.float32)
        take_left = has_l & (~has_r | (d[(*rows, lft)] < d[(*rows, rgt)]))
    picked = values[(*rows, np.where(take_left, lft, rgt))]
    picked[~has_l & ~has_r] = 0
    out = values.copy()
    out[where] = picked
    return out


def edge_runs(holes: np.ndarray) -> np.ndarray:
    """Hole pixels whose run along the row reaches the left or the right frame edge.

    These are the border bands a view shift uncovers (and any hole that merges with one):
    content beyond the frame, not behind an occluder.

    Args:
        holes: ``(..., H, W)`` bool.

    Returns:
        ``(..., H, W)`` bool, a subset of ``holes``.
    """
    holes = np.asarray(holes, bool)
    left, right = _row_neighbours(holes)
    return holes & ((left < 0) | (right >= holes.shape[-1]))


def occluder_disparity(holes: np.ndarray, disparity: np.ndarray) -> np.ndarray:
    """Disparity of the occluder of every hole pixel: the known pixel left of its hole run.

    A right-view hole pixel shows a point the left camera does not see, hidden there by
    something nearer; that occluder lands to the left of the hole in the right view (the
    hole opens on the far side of its edge, for any sign of disparity). So the hole's
    content is farther than the known pixel that bounds its run on the left. Runs without
    a known pixel on both sides (the border bands) have no occluder.

    Args:
        holes: ``(..., H, W)`` bool.
        disparity: ``(..., H, W)`` right-view disparity px (its hole values are ignored).

    Returns:
        ``(..., H, W) float32``: the occluder's disparity on hole pixels of runs bounded on
        both sides, ``+inf`` elsewhere.
    """
    holes = np.asarray(holes, bool)
    width = holes.shape[-1]
    left, right = _row_neighbours(holes)
    out = np.full(holes.shape, np.inf, np.float32)
    where = np.nonzero(holes & (left >= 0) & (right < width))
    out[where] = np.asarray(disparity, np.float32)[(*where[:-1], left[where])]
    return out
