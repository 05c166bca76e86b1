"""One image row as a polyline, and its literal rasterisation (the Poly-based branch's definition).

The helpers here build row ``y``'s polyline exactly as :mod:`.polyline` defines it (one or
two vertices per source column, two sentinels at ``-W`` and ``2W``, the backward segments
listed), interpolate colour and closeness along a segment, and write a row's truncated
sums. :func:`_row_general` is the definition carried out literally: every vertex position
and every pixel boundary cut the row, the nearest forward segment wins each
sub-interval, and each piece adds ``length * colour(centre)``. The fast rasteriser of
:mod:`.polyline_kernel` gives the same bytes with less work; this one is its fallback for
rows whose occlusion lists overflow the fast path's scratch, and its oracle in the tests.

All are numba ``@njit`` functions on preallocated scratch arrays (no allocation per row);
positions and sums are float64.
"""

from __future__ import annotations

import numpy as np
from numba import njit


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


@njit(cache=True, fastmath=False, nogil=True, inline="always")
def _add_rgb(acc, p, r, g, b):
    """Add one colour to column ``p`` of the interleaved RGB accumulator ``acc``."""
    acc[3 * p] += r
    acc[3 * p + 1] += g
    acc[3 * p + 2] += b


@njit(cache=True, fastmath=False, nogil=True, inline="always")
def _next_pixel(acc, cur_p, p, sr, sg, sb):
    """Add the running sums of pixel ``cur_p`` (none when negative) to ``acc``; start ``p`` at zero."""
    if cur_p >= 0:
        _add_rgb(acc, cur_p, sr, sg, sb)
    return p, 0.0, 0.0, 0.0


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
            cur_p, sr, sg, sb = _next_pixel(acc, cur_p, p, sr, sg, sb)
        ln = b - a
        r, g, bl = _colour(xs, cols, colf, j, 0.5 * (a + b))
        sr += ln * r
        sg += ln * g
        sb += ln * bl
    _next_pixel(acc, cur_p, -1, sr, sg, sb)  # the last pixel's sums
    _store(acc, out, y)
