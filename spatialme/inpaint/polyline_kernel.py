"""The fast row rasteriser of the Poly-based branch and the parallel image kernel.

The reference implementation takes about 0.5 s per 1080p frame. Here one numba kernel
(:func:`_warp_image`) runs blocks of rows in parallel (``prange``, blocks handed out one at
a time, scratch allocated once per block) and per row does linear work in the common case.
The key fact: the polyline runs from ``-W`` to ``2W``, so every point of ``[0, W]`` is
covered by exactly one more forward segment than backward ones. A pixel that no backward
(folded) segment touches is covered by exactly one forward segment at every point, and
the only vertices inside it are that segment's ends; its sub-intervals are just the
segment pieces, and no occlusion test is needed. So :func:`_row_fast` does a row in four
linear passes:

1. vertices, their colours and the list of backward segments (usually a handful;
   :func:`~.polyline_rows._vertices`);
2. flag the "complex" pixels that a backward segment touches (the occlusion zones);
3. walk the forward segments in source order, split each at pixel boundaries, and add
   ``length * colour(centre)`` of every piece in a simple pixel straight into it (pieces
   arrive in position order there); pieces in complex pixels go to per-pixel lists;
4. solve each complex pixel exactly as the definition says, with the cuts and segments
   of its list.

A row whose occlusion lists overflow their scratch (pathological shifts) is redone by the
literal method, :func:`~.polyline_rows._row_general`; the tests check that both give
identical bytes.

The first call compiles the kernel (some seconds), cached on disk with ``cache=True`` for
later processes. Numba's cache notices changes to this file only, not to the row helpers
it compiles in from :mod:`.polyline_rows`: after editing that module, touch this one (or
remove ``__pycache__/*.nbi``) so the kernel is rebuilt.
``benchmarks/bench_polyline_quick.py`` measures the speed.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .polyline_rows import _add_rgb, _colour, _next_pixel, _row_general, _store, _vertex_columns, _vertices


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
                    cur_p, sr, sg, sb = _next_pixel(acc, cur_p, p, sr, sg, sb)
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
    _next_pixel(acc, cur_p, -1, sr, sg, sb)  # the last pixel's sums

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
        _add_rgb(acc, p, sr, sg, sb)
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
