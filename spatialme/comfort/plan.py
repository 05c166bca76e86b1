"""Per-shot strength and screen plane from nearness statistics, and floating windows.

Everything here works on per-frame statistics of a *nearness* ``z`` (relative inverse depth in
any affine units, larger = nearer: a depth sidecar's values or the depth stage's [0, 1]
output), taken on a regular grid of at most :data:`GRID_SAMPLES` pixels:

* ``q1``, ``q99``: the 1st and 99th percentiles of ``z`` in the frame.
* ``subject``: the :data:`SUBJECT_PERCENTILE` th percentile of ``z`` in the central window (the
  middle half of the rows and of the columns): the depth in front of which the nearest quarter
  of the centre lies, i.e. the nearest *large central region*.
* ``edge_left``, ``edge_right``: the :data:`EDGE_PERCENTILE` th percentile of ``z`` in the
  outermost :data:`EDGE_PCT` % of the columns on each side: how near the nearest thing is that
  covers a tenth of the frame edge.

A shot ``[start, end)`` is mapped with one affine function (constant over the shot, so nothing
"breathes" within it; settings change only at cuts). Its nearness is normalised to the shot's
own extremes, ``n = (z - lo) / (hi - lo)`` with ``lo = min_t q1_t`` and ``hi = max_t q99_t``,
and then, as in :mod:`spatialme.disparity`,

    d = divergence / 100 * W * (n - convergence)              [left-view disparity, px]
    parallax = -d / W * 100                                    [% of width, right minus left column]

so frame ``t``'s parallax range is ``divergence * r_t`` with ``r_t = (q99_t - q1_t) / (hi - lo)``.
The divergence is ``target / median(r_t)`` (``target`` = the middle of the display's band),
then clamped so that every frame's range lies inside the band (3 % in from its ends, for the
rounding of float32 pixels): ``divergence <= hi_band / max r_t`` and ``>= lo_band / min r_t``.
When the shot's ranges vary more than the band allows, the upper (comfort) limit wins. The
convergence is the median over the shot of the subject's ``n``, so the subject sits on the
screen plane.

Window violations: the crossed disparity (in front of the screen) at each frame edge is
``divergence / 100 * W * (n_edge - convergence)``. Where its maximum over the shot exceeds
:data:`MIN_VIOLATION_PX` (or 0.2 % of the width), the edge gets a floating window: a black
band of ``ceil(max crossed disparity)`` px, with a soft ramp inside it, in the eye that sees
past the edge (the left eye at the left edge, the right eye at the right edge). The window's
edge then has parallax ``-w`` (right column ``0`` against left column ``w``), at least as near
as the object, so the frame edge no longer cuts something in front of it. A window wider than
``max_window_pct`` of the width would eat the picture; there (unless the convergence was given)
the convergence is pulled back instead, to the edge's nearness, which puts the edge object on
the screen plane and the rest of the shot behind it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..checks import check_array

__all__ = [
    "EDGE_PCT", "EDGE_PERCENTILE", "GRID_SAMPLES", "MIN_VIOLATION_PX", "SUBJECT_PERCENTILE", "ShotPlan",
    "apply_window", "describe_disparity_shot", "frame_stats", "grid_step", "parallax_percentiles", "plan_shot",
    "shot_bounds", "window_gain",
]

#: At most about this many grid pixels per frame enter the statistics.
GRID_SAMPLES = 65536
#: Percentile of the central window's nearness taken as the subject (the nearest quarter of the centre).
SUBJECT_PERCENTILE = 75.0
#: Percentile of an edge strip's nearness taken as its nearest object (one tenth of the edge covered).
EDGE_PERCENTILE = 90.0
#: Width of each edge strip, % of the frame width (at least 2 columns).
EDGE_PCT = 3.0
#: Smallest crossed disparity at an edge, px, that counts as a window violation (also >= 0.2 % of W).
MIN_VIOLATION_PX = 1.0
#: How far inside the band's ends a planned range is kept (relative), for float32 rounding.
BAND_MARGIN = 0.03
#: Columns of ``frame_stats`` output.
Q1, Q99, SUBJECT, EDGE_LEFT, EDGE_RIGHT = range(5)


def grid_step(height: int, width: int) -> int:
    """Stride of the statistics grid for ``height x width`` frames (at most about :data:`GRID_SAMPLES` points)."""
    return max(1, math.ceil(math.sqrt(height * width / GRID_SAMPLES)))


def _edge_columns(width: int) -> int:
    return min(width, max(2, int(round(EDGE_PCT / 100.0 * width))))


def frame_stats(nearness: np.ndarray) -> np.ndarray:
    """Per-frame nearness statistics (see the module docstring).

    Args:
        nearness: ``(n, H, W)`` float nearness (larger = nearer), finite.

    Returns:
        ``(n, 5)`` float64: ``q1, q99, subject, edge_left, edge_right`` in the units of ``nearness``.
    """
    z = check_array("nearness", nearness, (3,))
    n, height, width = z.shape
    s, e = grid_step(height, width), _edge_columns(width)
    rows = slice(height // 4, max(height // 4 + 1, (3 * height) // 4))
    cols = slice(width // 4, max(width // 4 + 1, (3 * width) // 4))
    out = np.empty((n, 5), np.float64)
    for i in range(n):
        frame = np.asarray(z[i], np.float32)
        out[i, Q1], out[i, Q99] = np.percentile(frame[::s, ::s], [1.0, 99.0])
        out[i, SUBJECT] = np.percentile(frame[rows, cols][::s, ::s], SUBJECT_PERCENTILE)
        out[i, EDGE_LEFT] = np.percentile(frame[::s, :e], EDGE_PERCENTILE)
        out[i, EDGE_RIGHT] = np.percentile(frame[::s, width - e :], EDGE_PERCENTILE)
    return out


def parallax_percentiles(disparity: np.ndarray, width: int | None = None) -> np.ndarray:
    """Signed screen parallax of each frame at its 1st and 99th percentile, on the statistics grid.

    Args:
        disparity: ``(n, H, W)`` left-view disparity px (``right[y, x - d] = left[y, x]``).
        width: frame width the percentages refer to (default ``W``).

    Returns:
        ``(n, 2)`` float64 ``[p1, p99]``: parallax in % of the width, right-eye column minus
        left-eye column (``-d / W * 100``; negative = in front of the screen).
    """
    d = check_array("disparity", disparity, (3,))
    n, height, w = d.shape
    width = width or w
    s = grid_step(height, w)
    out = np.empty((n, 2), np.float64)
    for i in range(n):
        d99, d1 = np.percentile(np.asarray(d[i, ::s, ::s], np.float32), [99.0, 1.0])
        out[i] = (-100.0 * d99 / width, -100.0 * d1 / width)
    return out


def shot_bounds(cuts: np.ndarray) -> list[tuple[int, int]]:
    """``[start, end)`` frame ranges of the shots of a clip with scene cuts ``cuts``.

    Args:
        cuts: ``(T,)`` bool, True where a frame starts a new shot (frame 0 always starts one).

    Returns:
        Shot ranges in order, tiling ``0:T`` (empty for ``T = 0``).
    """
    flags = np.asarray(cuts, dtype=bool).reshape(-1)
    if flags.size == 0:
        return []
    starts = [0] + [int(t) for t in np.flatnonzero(flags) if t > 0]
    return list(zip(starts, starts[1:] + [int(flags.size)]))


@dataclass(frozen=True)
class ShotPlan:
    """How one shot is mapped to disparity, and its floating windows.

    Attributes:
        start, end: the shot's frames ``[start, end)`` within the converted range.
        divergence: total parallax, % of the width, between the shot's normalised nearness 1
            (its nearest 99th percentile) and 0 (its farthest 1st percentile).
        convergence: normalised nearness on the screen plane, 0..1.
        near_lo, near_hi: the nearness (source units) that map to 0 and 1.
        window_px: ``(left, right)`` widths of the floating windows, px (0 = none): black in
            the left eye at the left edge, in the right eye at the right edge.
        pulled: the convergence was pulled back to an edge object instead of a window.
    """

    start: int
    end: int
    divergence: float
    convergence: float
    near_lo: float = 0.0
    near_hi: float = 1.0
    window_px: tuple[int, int] = (0, 0)
    pulled: bool = False

    @property
    def window(self) -> bool:
        """Whether the shot has a floating window at either edge."""
        return any(w > 0 for w in self.window_px)

    def normalise(self, nearness: np.ndarray) -> np.ndarray:
        """``(…)`` nearness (source units) -> the shot's normalised nearness in [0, 1], float32."""
        span = np.float32(self.near_hi - self.near_lo)
        return np.clip((np.asarray(nearness, np.float32) - np.float32(self.near_lo)) / span, 0.0, 1.0)

    def disparity(self, nearness: np.ndarray, width: int) -> np.ndarray:
        """Left-view disparity px ``(…)`` float32 of nearness (source units) for frames ``width`` px wide."""
        scale = np.float32(self.divergence / 100.0 * width)
        return (self.normalise(nearness) - np.float32(self.convergence)) * scale

    def to_dict(self) -> dict:
        """The report's entry for this shot."""
        return {
            "start": int(self.start), "end": int(self.end), "divergence": round(float(self.divergence), 5),
            "convergence": round(float(self.convergence), 5), "window": self.window,
            "window_px": [int(w) for w in self.window_px], "pulled": bool(self.pulled),
        }


def _crossed_px(edge: np.ndarray, divergence: float, convergence: float, width: int) -> float:
    """Largest crossed disparity (px, > 0 = in front of the screen) of an edge's normalised nearness."""
    return float(np.max(divergence / 100.0 * width * (edge - convergence))) if edge.size else 0.0


def plan_shot(
    stats: np.ndarray,
    start: int,
    end: int,
    width: int,
    band_pct: tuple[float, float],
    *,
    divergence: float | None = None,
    convergence: float | None = None,
    windows: bool = True,
    max_window_pct: float = 1.5,
) -> ShotPlan:
    """Choose divergence, convergence and windows for shot ``[start, end)`` (module docstring).

    Args:
        stats: ``(T, 5)`` per-frame statistics of the clip (:func:`frame_stats`).
        start, end: the shot's frames.
        width: frame width, px.
        band_pct: ``(lo, hi)`` comfort band of a frame's parallax range, % of the width.
        divergence, convergence: given values that win over the automatic ones (``None`` = choose).
        windows: put floating windows (or pull the convergence) where near objects touch an edge.
        max_window_pct: widest window, % of the width, before the convergence is pulled instead.

    Returns:
        The :class:`ShotPlan`.
    """
    s = np.asarray(stats, np.float64)[start:end]
    if s.ndim != 2 or s.shape[1] != 5 or len(s) == 0:
        raise ValueError(f"stats: expected a (T, 5) array covering frames {start}..{end}, got {np.shape(stats)}")
    lo, hi = float(s[:, Q1].min()), float(s[:, Q99].max())
    span = hi - lo
    flat = not span > 1e-6 * max(1.0, abs(lo), abs(hi))
    if flat:  # one plane: nothing to scale; it goes on the screen
        span = 1.0
    ranges = (s[:, Q99] - s[:, Q1]) / span
    band_lo, band_hi = band_pct
    div = divergence
    if div is None:
        div = 0.5 * (band_lo + band_hi)
        if not flat and ranges.max() > 0:
            div /= max(float(np.median(ranges)), 1e-9)
            lower = band_lo * (1 + BAND_MARGIN) / ranges.min() if ranges.min() > 0 else math.inf
            upper = band_hi * (1 - BAND_MARGIN) / ranges.max()
            div = min(max(div, lower), upper)  # comfort (upper) wins when both cannot hold
        div = float(np.clip(div, 0.0, 10.0))
    conv = convergence
    if conv is None:
        conv = 0.0 if flat else float(np.clip(np.median((s[:, SUBJECT] - lo) / span), 0.0, 1.0))
    plan = ShotPlan(start, end, float(div), float(conv), lo, lo + span)
    if not windows:
        return plan
    edges = [np.clip((s[:, col] - lo) / span, 0.0, 1.0) for col in (EDGE_LEFT, EDGE_RIGHT)]
    threshold = max(MIN_VIOLATION_PX, 0.002 * width)
    limit = max_window_pct / 100.0 * width

    def widths(c: float) -> list[int]:
        crossed = [_crossed_px(e, div, c, width) for e in edges]
        return [int(math.ceil(x)) if x > threshold else 0 for x in crossed]

    need = widths(conv)
    pulled = False
    if convergence is None and max(need) > limit:
        conv = max([conv] + [float(e.max()) for e, w in zip(edges, need) if w > limit])
        need, pulled = widths(conv), True  # the pulled edges are on the screen now; the others only shrank
    return ShotPlan(start, end, float(div), float(conv), lo, lo + span, (need[0], need[1]), pulled)


def describe_disparity_shot(parallax: np.ndarray, start: int, end: int) -> ShotPlan:
    """A shot of given disparity (px) described as the divergence and convergence it amounts to.

    Args:
        parallax: ``(T, 2)`` per-frame ``[p1, p99]`` % of the width (:func:`parallax_percentiles`).
        start, end: the shot's frames.

    Returns:
        A :class:`ShotPlan` whose divergence is the shot's whole parallax range (nearest p1 to
        farthest p99) and whose convergence is where the screen plane falls in it (0 = its
        farthest point, 1 = its nearest, clipped), no windows.
    """
    p = np.asarray(parallax, np.float64)[start:end]
    near, far = float(p[:, 0].min()), float(p[:, 1].max())
    div = max(0.0, far - near)
    conv = float(np.clip(far / div, 0.0, 1.0)) if div > 0 else 0.5
    return ShotPlan(start, end, div, conv)


def window_gain(window: int, width: int) -> np.ndarray:
    """``(width,)`` float32 gain of a floating window ``window`` px wide at column 0.

    Columns ``0 .. window - 1`` are black (gain 0), the next ``max(2, ceil(window / 2))``
    columns ramp up to 1 (the soft edge), the rest are 1. Mirror it for the right edge.
    """
    gain = np.ones(width, np.float32)
    if window <= 0:
        return gain
    soft = max(2, math.ceil(window / 2))
    x = np.arange(width, dtype=np.float32)
    return np.clip((x - window + 1) / (soft + 1), 0.0, 1.0).astype(np.float32)


def apply_window(left: np.ndarray, right: np.ndarray, window_px: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Put a shot's floating windows on one stereo frame.

    Args:
        left, right: ``(H, W, 3)`` uint8 views.
        window_px: ``(left, right)`` window widths, px (:attr:`ShotPlan.window_px`).

    Returns:
        ``(left, right)``: new arrays where a window applies (the left eye darkened at its left
        edge, the right eye at its right edge), the inputs themselves otherwise.
    """
    w_left, w_right = window_px
    width = left.shape[1]
    if w_left > 0:
        left = (left * window_gain(w_left, width)[None, :, None] + 0.5).astype(np.uint8)
    if w_right > 0:
        right = (right * window_gain(w_right, width)[::-1][None, :, None] + 0.5).astype(np.uint8)
    return left, right
