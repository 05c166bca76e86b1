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
The reference takes about 0.5 s per 1080p frame. Here one numba kernel runs blocks of
rows in parallel (``prange``, blocks handed out one at a time, scratch allocated once per
block) and per row does linear work in the common case. The key fact: the polyline runs
from ``-W`` to ``2W``, so every point of ``[0, W]`` is covered by exactly one more forward
segment than backward ones. A pixel that no backward (folded) segment touches is covered
by exactly one forward segment at every point, and the only vertices inside it are that
segment's ends; its sub-intervals are just the segment pieces, and no occlusion test is
needed. So a row is done in four linear passes:

1. vertices, their colours and the list of backward segments (usually a handful);
2. flag the "complex" pixels that a backward segment touches (the occlusion zones);
3. walk the forward segments in source order, split each at pixel boundaries, and add
   ``length * colour(centre)`` of every piece in a simple pixel straight into it (pieces
   arrive in position order there); pieces in complex pixels go to per-pixel lists;
4. solve each complex pixel exactly as the definition says, with the cuts and segments
   of its list.

The literal method (sort all cuts with a run merge, one winner array over the whole row)
is kept as ``_row_general``: it handles rows whose occlusion lists overflow their scratch
(pathological shifts), and the tests check that both give identical bytes.

Shift and closeness maps enter as float32 (the project's disparity dtype; one compiled
kernel); positions and sums are float64 inside. The first call compiles the kernel (some
seconds; cached on disk with ``cache=True`` for later processes).
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
def _vertex_columns(W, mode, cols):
    """Source column of each vertex (its colour), sentinels included; returns ``n``."""
    cols[0] = 0
    if mode == 0:
        for c in range(W):
            cols[1 + c] = c
        n = W + 2
    else:
        for c in range(W):
            cols[1 + 2 * c] = c
            cols[2 + 2 * c] = c
        n = 2 * W + 2
    cols[n - 1] = W - 1
    return n


@njit(cache=True, fastmath=False, nogil=True)
def _vertices(img, shift, clo, y, mode, sign, clo_abs, xs, ks, colf, bwd):
    """Fill row ``y``'s vertices in source order; returns ``(n, nb)``.

    ``xs`` positions (px), ``ks`` closeness, ``colf[3 c + ch]`` the row's colours as
    float64 (``cols`` from :func:`_vertex_columns` maps vertices to columns). The vertex of
    column ``c`` sits at ``c + 0.5 + sign * shift[y, c]``; closeness is ``clo[y, c]``, or
    ``|sign * shift[y, c]|`` when ``clo_abs``. ``bwd[:nb]`` receives the indices ``j`` of
    the backward segments (``xs[j + 1] < xs[j]``), the folds.
    """
    W = shift.shape[1]
    Wf = float(W)
    for c in range(W):
        for ch in range(3):
            colf[3 * c + ch] = float(img[y, c, ch])
    xs[0] = -Wf
    ks[0] = 0.0
    nb = 0
    prev = -Wf
    if mode == 0:
        for c in range(W):
            s = sign * float(shift[y, c])
            x = c + 0.5 + s
            xs[1 + c] = x
            ks[1 + c] = abs(s) if clo_abs else float(clo[y, c])
            if x < prev:
                bwd[nb] = c
                nb += 1
            prev = x
        n = W + 2
    else:
        half = 0.45 if mode == 1 else 0.5
        for c in range(W):
            s = sign * float(shift[y, c])
            x = c + 0.5 + s
            k = abs(s) if clo_abs else float(clo[y, c])
            xl = x - half
            xs[1 + 2 * c] = xl
            xs[2 + 2 * c] = x + half
            ks[1 + 2 * c] = k
            ks[2 + 2 * c] = k
            if xl < prev:  # the link into column c (the pixel segment is never backward)
                bwd[nb] = 2 * c
                nb += 1
            prev = x + half
        n = 2 * W + 2
    xs[n - 1] = 2.0 * Wf
    ks[n - 1] = 0.0
    if 2.0 * Wf < prev:
        bwd[nb] = n - 2
        nb += 1
    return n, nb


@njit(cache=True, fastmath=False, nogil=True, inline="always")
def _closeness(xs, ks, j, mid):
    """Closeness of segment ``j`` interpolated at ``mid``."""
    k0 = ks[j]
    dk = ks[j + 1] - k0
    if dk == 0.0:
        return k0
    return k0 + (mid - xs[j]) * (dk / (xs[j + 1] - xs[j]))


@njit(cache=True, fastmath=False, nogil=True, inline="always")
def _colour(xs, cols, colf, j, mid):
    """RGB of segment ``j`` interpolated at ``mid`` (a constant segment gives its colour)."""
    i0 = 3 * cols[j]
    i1 = 3 * cols[j + 1]
    t = (mid - xs[j]) * (1.0 / (xs[j + 1] - xs[j]))
    r = colf[i0]
    g = colf[i0 + 1]
    b = colf[i0 + 2]
    return r + t * (colf[i1] - r), g + t * (colf[i1 + 1] - g), b + t * (colf[i1 + 2] - b)


@njit(cache=True, fastmath=False, nogil=True)
def _store(acc, out, y):
    """Truncate the per-pixel sums (each 0.5 + its pieces) into ``out[y]`` as uint8."""
    W = out.shape[1]
    for p in range(W):
        for ch in range(3):
            out[y, p, ch] = np.uint8(int(min(max(acc[3 * p + ch], 0.0), 255.0)))


@njit(cache=True, fastmath=False, nogil=True)
def _row_general(y, mode, n, xs, ks, cols, colf, out, sv, tmp, cuts, best_k, best_s, acc):
    """Warp one row by the literal method: cut the whole row, pick winners, rasterise.

    Cuts are all vertex positions inside ``(0, W)`` merged with ``0, 1, ..., W``; each
    forward segment claims the sub-intervals it spans where its closeness at the centre
    is the largest so far (earlier segments win ties). Used when the fast path's scratch
    overflows (pathological shifts) and by the tests as the oracle of the fast path.
    """
    W = out.shape[1]
    Wf = float(W)
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
            i = cur  # the previous segment ended where this one starts
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
        while i < nsub and cuts[i] < x1c:
            kk = _closeness(xs, ks, j, 0.5 * (cuts[i] + cuts[i + 1]))
            if kk > best_k[i]:
                best_k[i] = kk
                best_s[i] = j
            i += 1
        cur = i
        valid = True

    for q in range(3 * W):
        acc[q] = 0.5
    cur_p = -1
    sr = 0.0
    sg = 0.0
    sb = 0.0
    for i in range(nsub):
        j = best_s[i]
        if j < 0:
            continue
        a = cuts[i]
        b = cuts[i + 1]
        p = int(a)
        if p != cur_p:
            if cur_p >= 0:
                acc[3 * cur_p] += sr
                acc[3 * cur_p + 1] += sg
                acc[3 * cur_p + 2] += sb
            cur_p = p
            sr = 0.0
            sg = 0.0
            sb = 0.0
        ln = b - a
        r, g, bl = _colour(xs, cols, colf, j, 0.5 * (a + b))
        sr += ln * r
        sg += ln * g
        sb += ln * bl
    if cur_p >= 0:
        acc[3 * cur_p] += sr
        acc[3 * cur_p + 1] += sg
        acc[3 * cur_p + 2] += sb
    _store(acc, out, y)


@njit(cache=True, fastmath=False, nogil=True)
def _clear(flag, plist, ncx):
    """Reset the flags of the listed complex pixels."""
    for q in range(ncx):
        flag[plist[q]] = False


@njit(cache=True, fastmath=False, nogil=True)
def _row_fast(y, mode, n, nb, bwd, xs, ks, cols, colf, out, acc, flag, head, plist, pseg, pnext, lcuts, pj, px0, px1, pk0, pdk, psl):
    """Warp one row, resolving occlusion only where it can occur; same result as general.

    The polyline runs from ``-W`` to ``2W``, so every point of ``[0, W]`` is covered by one
    more forward segment than backward ones: points outside every backward (folded)
    segment are covered by exactly one forward segment, and the only vertex positions
    there are that segment's own endpoints. Pixels that meet no backward segment are
    therefore rasterised straight from the segment pieces they hold, in source order.
    Pixels that do ("complex") collect their segments in per-pixel lists and are solved
    like the general method, within the pixel. Returns False when the list buffer
    overflows (the caller then runs the general method). ``flag`` must be all False on
    entry and is left so.
    """
    W = out.shape[1]
    Wf = float(W)
    cap = pseg.shape[0]
    pcap = pj.shape[0]  # lcuts holds 2 * pcap + 2
    ncx = 0
    for q in range(nb):
        j = bwd[q]
        lo = xs[j + 1] if xs[j + 1] > 0.0 else 0.0
        hi = xs[j] if xs[j] < Wf else Wf
        if hi > lo:
            for p in range(int(lo), int(np.ceil(hi))):
                if not flag[p]:
                    flag[p] = True
                    head[p] = -1
                    plist[ncx] = p
                    ncx += 1
    npc = 0
    if mode == 0:
        # soft only: a vertex between two folds is no forward segment's endpoint, but it
        # still cuts; register each backward segment where its ends lie
        for q in range(nb):
            j = bwd[q]
            for x in (xs[j], xs[j + 1]):
                if x > 0.0 and x < Wf:
                    p = int(x)
                    if npc == cap:
                        _clear(flag, plist, ncx)
                        return False
                    pseg[npc] = j
                    pnext[npc] = head[p]
                    head[p] = npc
                    npc += 1

    for q in range(3 * W):
        acc[q] = 0.5
    cur_p = -1
    sr = 0.0
    sg = 0.0
    sb = 0.0
    for j in range(n - 1):
        x0 = xs[j]
        x1 = xs[j + 1]
        if not (x1 > x0):
            continue
        if mode == 2 and (j % 2) == 0:
            continue  # "none": links and sentinels are transparent
        lo = x0 if x0 > 0.0 else 0.0
        hi = x1 if x1 < Wf else Wf
        if not (hi > lo):
            continue
        i0 = 3 * cols[j]
        i1 = 3 * cols[j + 1]
        r0 = colf[i0]
        g0 = colf[i0 + 1]
        b0 = colf[i0 + 2]
        if i0 == i1:
            inv = 0.0
            dr = 0.0
            dg = 0.0
            db = 0.0
        else:
            inv = 1.0 / (x1 - x0)  # as in _colour, so both paths round alike
            dr = colf[i1] - r0
            dg = colf[i1 + 1] - g0
            db = colf[i1 + 2] - b0
        p = int(lo)
        a = lo
        while a < hi:
            b = p + 1.0
            if b > hi:
                b = hi
            if flag[p]:
                if npc == cap:
                    _clear(flag, plist, ncx)
                    return False
                pseg[npc] = j
                pnext[npc] = head[p]
                head[p] = npc
                npc += 1
            else:
                if p != cur_p:
                    if cur_p >= 0:
                        acc[3 * cur_p] += sr
                        acc[3 * cur_p + 1] += sg
                        acc[3 * cur_p + 2] += sb
                    cur_p = p
                    sr = 0.0
                    sg = 0.0
                    sb = 0.0
                ln = b - a
                if i0 == i1:
                    sr += ln * r0
                    sg += ln * g0
                    sb += ln * b0
                else:
                    t = (0.5 * (a + b) - x0) * inv
                    sr += ln * (r0 + t * dr)
                    sg += ln * (g0 + t * dg)
                    sb += ln * (b0 + t * db)
            a = b
            p += 1
    if cur_p >= 0:
        acc[3 * cur_p] += sr
        acc[3 * cur_p + 1] += sg
        acc[3 * cur_p + 2] += sb

    for idx in range(ncx):
        p = plist[idx]
        pf = float(p)
        nc = 0
        lcuts[nc] = pf
        nc += 1
        npp = 0  # forward pieces of this pixel, unpacked
        ne = 0
        e = head[p]
        while e >= 0:
            if ne == pcap:  # more segments meet this pixel than the scratch holds
                _clear(flag, plist, ncx)
                return False
            ne += 1
            j = pseg[e]
            e = pnext[e]
            x0 = xs[j]
            x1 = xs[j + 1]
            if x0 > pf and x0 < pf + 1.0:
                lcuts[nc] = x0
                nc += 1
            if x1 > pf and x1 < pf + 1.0:
                lcuts[nc] = x1
                nc += 1
            if x1 > x0:
                k0 = ks[j]
                dk = ks[j + 1] - k0
                pj[npp] = j
                px0[npp] = x0
                px1[npp] = x1
                pk0[npp] = k0
                pdk[npp] = dk
                psl[npp] = 0.0 if dk == 0.0 else dk / (x1 - x0)  # as in _closeness
                npp += 1
        lcuts[nc] = pf + 1.0
        nc += 1
        for q in range(1, nc - 1):  # insertion sort (few values)
            v = lcuts[q]
            r = q - 1
            while r >= 0 and lcuts[r] > v:
                lcuts[r + 1] = lcuts[r]
                r -= 1
            lcuts[r + 1] = v
        sr = 0.0
        sg = 0.0
        sb = 0.0
        for i in range(nc - 1):
            a = lcuts[i]
            b = lcuts[i + 1]
            if not (b > a):
                continue
            mid = 0.5 * (a + b)
            best = -np.inf
            bj = -1
            for q in range(npp):
                if px0[q] < mid and mid < px1[q]:
                    kk = pk0[q] if pdk[q] == 0.0 else pk0[q] + (mid - px0[q]) * psl[q]
                    j = pj[q]
                    if kk > best or (kk == best and j < bj):
                        best = kk
                        bj = j
            if bj >= 0:
                ln = b - a
                r, g, bl = _colour(xs, cols, colf, bj, mid)
                sr += ln * r
                sg += ln * g
                sb += ln * bl
        acc[3 * p] += sr
        acc[3 * p + 1] += sg
        acc[3 * p + 2] += sb
    _clear(flag, plist, ncx)
    _store(acc, out, y)
    return True


@njit(cache=True, fastmath=False, parallel=True)
def _warp_image(img, shift, clo, mode, sign, clo_abs, nblocks, general):
    """Warp every row of ``img (H, W, 3) uint8``.

    Column ``c`` of row ``y`` moves to ``c + sign * shift[y, c]``; closeness is ``clo`` or,
    with ``clo_abs``, ``|sign * shift|``. Rows run in parallel in ``nblocks`` blocks, each
    with its own scratch. ``general`` forces the literal per-row method (for tests).
    """
    H = img.shape[0]
    W = img.shape[1]
    out = np.empty((H, W, 3), dtype=np.uint8)
    nvert = 2 * W + 2
    ncut = nvert + W + 2
    cap = 4 * W + 64  # pieces held by complex pixels, per row
    pcap = 256  # segments meeting one complex pixel
    for blk in prange(nblocks):
        y0 = blk * H // nblocks
        y1 = (blk + 1) * H // nblocks
        xs = np.empty(nvert, dtype=np.float64)
        ks = np.empty(nvert, dtype=np.float64)
        cols = np.empty(nvert, dtype=np.int64)
        _vertex_columns(W, mode, cols)
        colf = np.empty(3 * W, dtype=np.float64)
        acc = np.empty(3 * W, dtype=np.float64)
        flag = np.zeros(W, dtype=np.bool_)
        bwd = np.empty(nvert, dtype=np.int64)
        head = np.empty(W, dtype=np.int64)
        plist = np.empty(W, dtype=np.int64)
        pseg = np.empty(cap, dtype=np.int64)
        pnext = np.empty(cap, dtype=np.int64)
        lcuts = np.empty(2 * pcap + 2, dtype=np.float64)
        pj = np.empty(pcap, dtype=np.int64)
        px0 = np.empty(pcap, dtype=np.float64)
        px1 = np.empty(pcap, dtype=np.float64)
        pk0 = np.empty(pcap, dtype=np.float64)
        pdk = np.empty(pcap, dtype=np.float64)
        psl = np.empty(pcap, dtype=np.float64)
        sv = np.empty(0, dtype=np.float64)
        tmp = np.empty(0, dtype=np.float64)
        cuts = np.empty(0, dtype=np.float64)
        best_k = np.empty(0, dtype=np.float64)
        best_s = np.empty(0, dtype=np.int64)
        for y in range(y0, y1):
            n, nb = _vertices(img, shift, clo, y, mode, sign, clo_abs, xs, ks, colf, bwd)
            if not general and _row_fast(y, mode, n, nb, bwd, xs, ks, cols, colf, out, acc, flag, head, plist, pseg, pnext, lcuts, pj, px0, px1, pk0, pdk, psl):
                continue
            if sv.shape[0] == 0:
                sv = np.empty(nvert, dtype=np.float64)
                tmp = np.empty(nvert, dtype=np.float64)
                cuts = np.empty(ncut, dtype=np.float64)
                best_k = np.empty(ncut, dtype=np.float64)
                best_s = np.empty(ncut, dtype=np.int64)
            _row_general(y, mode, n, xs, ks, cols, colf, out, sv, tmp, cuts, best_k, best_s, acc)
    return out


# --------------------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------------------


def _check_map(name: str, value, shape: tuple[int, int]) -> np.ndarray:
    """Check an ``(H, W)`` numeric map; returns it C-contiguous float32 (one compiled kernel)."""
    arr = check_array(name, value, (2,))
    if arr.dtype == np.bool_:
        raise ValueError(f"{name}: expected a float array of pixels, got dtype bool")
    if arr.shape != shape:
        raise ValueError(f"{name}: expected shape {shape} to match the image, got {tuple(arr.shape)}")
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    if not arr.flags.writeable:  # a read-only array would compile a second kernel
        arr = arr.copy()
    if not np.isfinite(arr.sum()):  # cheap; the exact check only when the sum is not finite
        check_finite(name, arr)  # NaN, inf, or beyond float32's range
    return arr


def _run(image: np.ndarray, shift: np.ndarray, closeness: np.ndarray | None, variant: str, sign: float, general: bool = False) -> np.ndarray:
    """Run the kernel on checked inputs: ``image (H, W, 3) uint8``, ``shift`` and ``closeness``
    ``(H, W) float32`` C-contiguous (``closeness=None``: ``|shift|``); column ``c`` moves to
    ``c + sign * shift``. ``general=True`` forces the literal method (tests)."""
    clo_abs = closeness is None
    if clo_abs:
        closeness = shift
    image = np.ascontiguousarray(image)
    if not image.flags.writeable:
        image = image.copy()
    nblocks = min(image.shape[0], 16 * max(1, numba.get_num_threads()))
    # blocks are handed out one at a time, so a thread slowed by other load gets fewer
    old = numba.set_parallel_chunksize(1)
    try:
        return _warp_image(image, shift, closeness, _MODE[variant], sign, clo_abs, nblocks, general)
    finally:
        numba.set_parallel_chunksize(old)


def polyline_warp(image: np.ndarray, shift: np.ndarray, variant: str = "sharp", closeness: np.ndarray | None = None) -> np.ndarray:
    """Warp each row of an image as a polyline and rasterise it (the Poly-based branch).

    Args:
        image: ``(H, W, 3) uint8`` RGB image.
        shift: ``(H, W)`` float signed shift in pixels; the source pixel at column ``c``
            moves to ``c + shift``.
        variant: ``"sharp"`` (default), ``"soft"``, or ``"none"`` (plain forward warp with
            uncovered pixels left 0; for checks).
        closeness: optional ``(H, W)`` float, larger = nearer, decides occlusions.
            Defaults to ``|shift|`` as in the reference; for a right view pass the
            disparity (see :func:`polyline_right_view`).

    Returns:
        ``(H, W, 3) uint8`` warped image; disocclusions hold the stretched polyline (a
        gradient between the two bounding edge colours) and uncovered borders the
        stretched edge colour.

    Raises:
        ValueError: naming the argument, for wrong types, shapes or dtypes, NaN or
            infinite values, or an unknown ``variant``.
    """
    check_choice("variant", variant, VARIANTS)
    image = check_image("image", image)
    shape = image.shape[:2]
    shift = _check_map("shift", shift, shape)
    if closeness is not None:
        closeness = _check_map("closeness", closeness, shape)
    return _run(image, shift, closeness, variant, 1.0)


def polyline_right_view(left: np.ndarray, disparity: np.ndarray, variant: str = "sharp") -> np.ndarray:
    """Right view of one frame by the Poly-based branch.

    Args:
        left: ``(H, W, 3) uint8`` left view.
        disparity: ``(H, W)`` float left-view disparity in pixels, ``d >= 0`` near; the
            right view satisfies ``right[y, x - d] = left[y, x]`` and larger ``d`` wins.
        variant: ``"sharp"`` (default) or ``"soft"`` (or ``"none"``).

    Returns:
        ``(H, W, 3) uint8`` right view, equal to
        ``polyline_warp(left, -disparity, variant, closeness=disparity)``.

    Raises:
        ValueError: naming the argument, for bad shapes, dtypes, values or ``variant``.
    """
    check_choice("variant", variant, VARIANTS)
    left = check_image("left", left)
    disparity = _check_map("disparity", disparity, left.shape[:2])
    return _run(left, disparity, disparity, variant, -1.0)


def polyline_right_view_clip(left: np.ndarray, disparity: np.ndarray, variant: str = "sharp") -> np.ndarray:
    """Right views of a clip, frame by frame (rows run in parallel within each frame).

    Args:
        left: ``(T, H, W, 3) uint8`` left views (an ``(H, W, 3)`` image counts as ``T = 1``).
        disparity: ``(T, H, W)`` float left-view disparity in pixels (``(H, W)`` when
            ``T = 1``), ``d >= 0`` near.
        variant: ``"sharp"`` (default) or ``"soft"`` (or ``"none"``).

    Returns:
        ``(T, H, W, 3) uint8`` right views.

    Raises:
        ValueError: naming the argument, for bad shapes, dtypes, values or ``variant``.
    """
    check_choice("variant", variant, VARIANTS)
    clip = check_clip("left", left)
    T, H, W = clip.shape[:3]
    disp = check_disparity("disparity", disparity, T, H, W)
    out = np.empty_like(clip)
    for t in range(T):
        out[t] = _run(clip[t], disp[t], disp[t], variant, -1.0)
    return out
