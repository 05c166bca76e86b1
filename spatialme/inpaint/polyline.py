"""Poly-based inpainting branch: row-polyline stereo warping.

Why it is built this way
------------------------
The paper's Poly-based branch (Sec. III-B) fills disocclusions with "an advanced polygon
interpolation method [18]" that "treats image rows as polylines, adjusting disparity to
morph these polylines before rasterization". [18] is the polyline fill of the MIT-licensed
``stable-diffusion-webui-depthmap-script``; ``reference/polylines.md`` (in the shared
design folder) describes its observable behaviour and gives check vectors, and this module
is written from that description alone.

Every image row is warped on its own:

1. Each source column ``c`` becomes one vertex (``"soft"``) at ``x = c + 0.5 + s(c)``, or two
   vertices (``"sharp"``) at ``x - 0.45`` and ``x + 0.45``, so a pixel is a 0.9 px
   constant-colour segment joined to its neighbour by a 0.1 px link whose colour ramps
   between the two pixels. Two sentinel vertices, at ``x = -W`` with the colour of column 0
   and at ``x = 2W`` with the colour of column ``W - 1`` (both closeness 0), make the
   borders a shift uncovers show the stretched edge colour.
2. Consecutive vertices (in source order) form segments; colour and closeness are
   linearly interpolated along each. A segment that runs backwards after the shift is the
   fold where nearer pixels overtake farther ones; it never contributes.
3. Output pixel ``p`` covers ``[p, p + 1)``. All vertex positions and all integer pixel
   boundaries cut the line into sub-intervals; the winner on a sub-interval is the
   forward segment covering its centre with the largest interpolated closeness ("nearer
   wins"; on an exact tie the segment earlier in source order wins), and the
   sub-interval adds ``length * colour(centre)`` to its pixel, i.e. the exact integral of
   the linear colour. The sum starts at 0.5 and is truncated (it rounds).

A disocclusion gap is therefore covered by the single segment that is stretched between
the two pixels that bound it: a linear gradient from the foreground edge colour to the
background edge colour. That stretch is the polyline "morphing" of the paper; it keeps the
fill stable over time (it is a deterministic function of the row) but it smears the
foreground colour into the gap, the foreground bleeding that the disparity-expansion
branch (paper Algorithm 1) counters and that the MHFU refiner learns to fuse away.

Speed
-----
The reference runs about 0.5 s per 1080p frame. Here one numba kernel runs rows in
parallel (``prange`` over blocks of rows, scratch buffers allocated once per block), and
per row does only linear work in the common case:

- vertex positions in source order are sorted by a *run merge*: they form ascending runs
  broken only at folds, so each fold is merged into the already sorted prefix at a cost
  proportional to its overlap (an insertion sort would pay overlap squared);
- the sorted positions are merged with the integer pixel boundaries (deduplicated);
- each forward segment marks itself winner on the sub-intervals it spans; consecutive
  segments share an endpoint, so the start index carries over from one segment to the
  next and a binary search is needed only after a fold;
- one pass accumulates ``length * colour`` into the output pixels.

Positions and closeness use float64 (cheap here and exact for the check vectors);
``benchmarks/bench_polyline_quick.py`` measures the speed.

Variant ``"none"`` exists to reproduce the reference's plain forward warp (holes left
black): each source pixel is a 1 px constant-colour segment ``[c + s, c + s + 1)``, with
no links and no sentinels, so uncovered output stays 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
from numba import njit, prange

from ..checks import check_array, check_choice, check_clip, check_disparity, check_finite, check_image

__all__ = [
    "VARIANTS",
    "PolylineConfig",
    "polyline_warp",
    "polyline_right_view",
    "polyline_right_view_clip",
]

#: Accepted values of ``variant``; ``"none"`` is the plain forward warp with holes left 0.
VARIANTS = ("sharp", "soft", "none")
_MODE = {"soft": 0, "sharp": 1, "none": 2}


@dataclass(frozen=True)
class PolylineConfig:
    """Settings of the Poly-based branch.

    Attributes:
        variant: ``"sharp"`` (pixels stay 0.9 px constant-colour segments joined by
            0.1 px links; crisp edges) or ``"soft"`` (one vertex per pixel, colour ramps
            over whole pixels; a light ``[1/8, 3/4, 1/8]`` blur at zero shift).
            ``"none"`` leaves disocclusions black (for checks only).
    """

    variant: str = "sharp"

    def __post_init__(self) -> None:
        check_choice("variant", self.variant, VARIANTS)


# --------------------------------------------------------------------------------------
# numba kernel
# --------------------------------------------------------------------------------------


@njit(cache=True, fastmath=False, nogil=True)
def _sort_runs(xs, n, lo, hi, out, tmp):
    """Sort the vertex positions ``xs[:n]`` that lie strictly inside ``(lo, hi)``.

    The positions arrive in source order, which is sorted except after folds. Each fold
    (a value below the last output) pulls the overlapping tail of the sorted output into
    ``tmp`` and merges it with the incoming ascending run, so the cost is O(n + total
    overlap). Returns the number of values written to ``out``.
    """
    L = 0
    tp = 0  # next unread element of tmp
    T = 0  # number of elements in tmp
    last_in = lo
    for k in range(n):
        v = xs[k]
        if not (v > lo and v < hi):
            continue
        if tp < T:
            if v >= last_in:
                # continue the merge of this run with the displaced tail
                while tp < T and tmp[tp] <= v:
                    out[L] = tmp[tp]
                    L += 1
                    tp += 1
                out[L] = v
                L += 1
                last_in = v
                continue
            # a new fold while still merging: flush the rest of the displaced tail
            while tp < T:
                out[L] = tmp[tp]
                L += 1
                tp += 1
        tp = 0
        T = 0
        if L == 0 or v >= out[L - 1]:
            out[L] = v
            L += 1
        else:
            pos = L - 1
            while pos > 0 and out[pos - 1] > v:
                pos -= 1
            T = L - pos
            for q in range(T):
                tmp[q] = out[pos + q]
            L = pos
            out[L] = v
            L += 1
        last_in = v
    while tp < T:
        out[L] = tmp[tp]
        L += 1
        tp += 1
    return L


@njit(cache=True, fastmath=False, nogil=True)
def _warp_row(img, shift, clo, y, mode, out, xs, ks, cols, sv, tmp, cuts, best_k, best_s, acc):
    """Warp row ``y`` of ``img`` into ``out[y]``; the remaining arguments are scratch."""
    W = img.shape[1]
    Wf = float(W)

    # 1. vertices in source order: position, closeness, source column of the colour
    xs[0] = -Wf
    ks[0] = 0.0
    cols[0] = 0
    if mode == 0:
        for c in range(W):
            xs[1 + c] = c + 0.5 + shift[y, c]
            ks[1 + c] = clo[y, c]
            cols[1 + c] = c
        n = W + 2
    else:
        half = 0.45 if mode == 1 else 0.5
        for c in range(W):
            x = c + 0.5 + shift[y, c]
            k = clo[y, c]
            xs[1 + 2 * c] = x - half
            xs[2 + 2 * c] = x + half
            ks[1 + 2 * c] = k
            ks[2 + 2 * c] = k
            cols[1 + 2 * c] = c
            cols[2 + 2 * c] = c
        n = 2 * W + 2
    xs[n - 1] = 2.0 * Wf
    ks[n - 1] = 0.0
    cols[n - 1] = W - 1

    # 2. cut positions: sorted vertex positions inside (0, W) merged with 0, 1, ..., W
    nv = _sort_runs(xs, n, 0.0, Wf, sv, tmp)
    m = 0
    cuts[0] = 0.0
    nxt = 1
    for q in range(nv):
        v = sv[q]
        while nxt <= W and nxt <= v:
            if nxt > cuts[m]:
                m += 1
                cuts[m] = nxt
            nxt += 1
        if v > cuts[m]:
            m += 1
            cuts[m] = v
    while nxt <= W:
        m += 1
        cuts[m] = nxt
        nxt += 1
    nsub = m  # sub-interval i is [cuts[i], cuts[i + 1])

    for i in range(nsub):
        best_k[i] = -np.inf
        best_s[i] = -1

    # 3. each forward segment claims the sub-intervals it spans where it is nearest
    cur = 0
    valid = False
    for j in range(n - 1):
        if mode == 2 and (j % 2) == 0:
            valid = False
            continue  # "none": only the pixel segments, no links, no sentinels
        x0 = xs[j]
        x1 = xs[j + 1]
        if not (x1 > x0) or x1 <= 0.0 or x0 >= Wf:
            valid = False
            continue
        x0c = x0 if x0 > 0.0 else 0.0
        x1c = x1 if x1 < Wf else Wf
        if valid:
            i = cur
        else:
            lo = 0
            hi = nsub
            while lo < hi:  # first index with cuts[i] >= x0c (it equals x0c)
                mid = (lo + hi) >> 1
                if cuts[mid] < x0c:
                    lo = mid + 1
                else:
                    hi = mid
            i = lo
        k0 = ks[j]
        dk = (ks[j + 1] - k0) / (x1 - x0)
        if dk == 0.0:
            while i < nsub and cuts[i] < x1c:
                if k0 > best_k[i]:
                    best_k[i] = k0
                    best_s[i] = j
                i += 1
        else:
            while i < nsub and cuts[i] < x1c:
                kk = k0 + (0.5 * (cuts[i] + cuts[i + 1]) - x0) * dk
                if kk > best_k[i]:
                    best_k[i] = kk
                    best_s[i] = j
                i += 1
        cur = i
        valid = True

    # 4. rasterise: length * colour at the centre, into the pixel holding the sub-interval
    for q in range(3 * W):
        acc[q] = 0.5
    for i in range(nsub):
        j = best_s[i]
        if j < 0:
            continue
        a = cuts[i]
        b = cuts[i + 1]
        ln = b - a
        p = int(a)
        c0 = cols[j]
        c1 = cols[j + 1]
        if c0 == c1:
            for ch in range(3):
                acc[3 * p + ch] += ln * img[y, c0, ch]
        else:
            t = (0.5 * (a + b) - xs[j]) / (xs[j + 1] - xs[j])
            for ch in range(3):
                v0 = float(img[y, c0, ch])
                acc[3 * p + ch] += ln * (v0 + t * (float(img[y, c1, ch]) - v0))
    for p in range(W):
        for ch in range(3):
            v = acc[3 * p + ch]
            if v >= 255.0:
                out[y, p, ch] = 255
            elif v <= 0.0:
                out[y, p, ch] = 0
            else:
                out[y, p, ch] = np.uint8(int(v))


@njit(cache=True, fastmath=False, parallel=True)
def _warp_image(img, shift, clo, mode, nblocks):
    """Warp every row of ``img (H, W, 3) uint8`` by ``shift (H, W)`` with closeness ``clo``."""
    H = img.shape[0]
    W = img.shape[1]
    out = np.empty((H, W, 3), dtype=np.uint8)
    nvert = 2 * W + 2
    for blk in prange(nblocks):
        y0 = blk * H // nblocks
        y1 = (blk + 1) * H // nblocks
        xs = np.empty(nvert, dtype=np.float64)
        ks = np.empty(nvert, dtype=np.float64)
        cols = np.empty(nvert, dtype=np.int64)
        sv = np.empty(nvert, dtype=np.float64)
        tmp = np.empty(nvert, dtype=np.float64)
        cuts = np.empty(nvert + W + 2, dtype=np.float64)
        best_k = np.empty(nvert + W + 2, dtype=np.float64)
        best_s = np.empty(nvert + W + 2, dtype=np.int64)
        acc = np.empty(3 * W, dtype=np.float64)
        for y in range(y0, y1):
            _warp_row(img, shift, clo, y, mode, out, xs, ks, cols, sv, tmp, cuts, best_k, best_s, acc)
    return out


# --------------------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------------------


def _check_map(name: str, value, shape: tuple[int, int]) -> np.ndarray:
    arr = check_array(name, value, (2,))
    if arr.dtype == np.bool_:
        raise ValueError(f"{name}: expected a float array of pixels, got dtype bool")
    if arr.shape != shape:
        raise ValueError(f"{name}: expected shape {shape} to match image, got {tuple(arr.shape)}")
    arr = np.ascontiguousarray(arr, dtype=np.float64)
    return check_finite(name, arr)


def polyline_warp(image: np.ndarray, shift: np.ndarray, variant: str = "sharp", closeness: np.ndarray | None = None) -> np.ndarray:
    """Warp each row of an image as a polyline and rasterise it (the Poly-based branch).

    Args:
        image: ``(H, W, 3) uint8`` RGB image.
        shift: ``(H, W)`` float signed shift in pixels; the source pixel at column ``c``
            moves to ``c + shift``.
        variant: ``"sharp"`` (default), ``"soft"``, or ``"none"`` (plain forward warp,
            uncovered pixels 0; for checks).
        closeness: optional ``(H, W)`` float, larger = nearer, decides occlusions.
            Defaults to ``|shift|`` as in the reference; for a right view pass the
            disparity (see :func:`polyline_right_view`).

    Returns:
        ``(H, W, 3) uint8`` warped image with disocclusions filled by the stretched
        polyline (a gradient between the two bounding edge colours) and uncovered
        borders by the stretched edge colour.

    Raises:
        ValueError: naming the argument, for wrong shapes, dtypes, NaN/inf values or an
            unknown ``variant``.
    """
    check_choice("variant", variant, VARIANTS)
    image = check_image("image", image)
    H, W = image.shape[:2]
    shift = _check_map("shift", shift, (H, W))
    if closeness is None:
        closeness = np.abs(shift)
    else:
        closeness = _check_map("closeness", closeness, (H, W))
    image = np.ascontiguousarray(image)
    nblocks = min(H, 4 * max(1, numba.get_num_threads()) * 4)
    return _warp_image(image, shift, closeness, _MODE[variant], nblocks)


def polyline_right_view(left: np.ndarray, disparity: np.ndarray, variant: str = "sharp") -> np.ndarray:
    """Right view of one frame by the Poly-based branch.

    Args:
        left: ``(H, W, 3) uint8`` left view.
        disparity: ``(H, W)`` float left-view disparity in pixels, ``d >= 0`` near; the
            right view satisfies ``right[y, x - d] = left[y, x]`` and larger ``d`` wins.
        variant: ``"sharp"`` or ``"soft"`` (or ``"none"``).

    Returns:
        ``(H, W, 3) uint8`` right view, ``polyline_warp(left, -disparity, variant,
        closeness=disparity)``.
    """
    left = check_image("left", left)
    disparity = _check_map("disparity", disparity, left.shape[:2])
    return polyline_warp(left, -disparity, variant, closeness=disparity)


def polyline_right_view_clip(left: np.ndarray, disparity: np.ndarray, variant: str = "sharp") -> np.ndarray:
    """Right views of a clip, frame by frame (rows run in parallel inside each frame).

    Args:
        left: ``(T, H, W, 3) uint8`` left views (an ``(H, W, 3)`` image is taken as ``T = 1``).
        disparity: ``(T, H, W)`` (or ``(H, W)`` for one frame) float left-view disparity, px.
        variant: ``"sharp"`` or ``"soft"`` (or ``"none"``).

    Returns:
        ``(T, H, W, 3) uint8`` right views.
    """
    check_choice("variant", variant, VARIANTS)
    clip = check_clip("left", left)
    T, H, W = clip.shape[:3]
    disp = check_disparity("disparity", disparity, T, H, W)
    out = np.empty_like(clip)
    for t in range(T):
        out[t] = polyline_right_view(clip[t], disp[t], variant)
    return out
