"""Quick speed check of the Poly-based branch (``spatialme.inpaint.polyline``).

Times ``polyline_warp`` (the right view: shift ``-d``, closeness ``d``) for the "sharp" and
"soft" variants at 480p, 720p and 1080p on a random image with a smooth random disparity
(max about 2% of the width) plus a few sharp-edged foreground blocks, with
``numba.set_num_threads(2)``. Prints the median (and min) of ``--runs`` runs in ms per
frame; the first call (JIT compile or cache load) is excluded. Other load on the machine
shows in the median first; the load average is printed with the figures.

    python benchmarks/bench_polyline_quick.py [--runs 9] [--threads 2]
"""

from __future__ import annotations

import argparse
import os
import time

import cv2
import numba
import numpy as np

from spatialme.inpaint.polyline import polyline_warp  # noqa: E402

SIZES = {"480p": (480, 854), "720p": (720, 1280), "1080p": (1080, 1920)}


def make_scene(height: int, width: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Random ``(H, W, 3) uint8`` image and ``(H, W) float32`` disparity px in [0, 0.02 W]."""
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    coarse = rng.random((6, 10)).astype(np.float32)
    disp = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
    disp = (disp - disp.min()) / max(float(np.ptp(disp)), 1e-6) * 0.6
    for _ in range(6):  # foreground blocks with sharp depth steps
        h, w = rng.integers(height // 8, height // 3), rng.integers(width // 10, width // 4)
        y, x = rng.integers(0, height - h), rng.integers(0, width - w)
        disp[y : y + h, x : x + w] = rng.uniform(0.7, 1.0)
    disp *= 0.02 * width
    return image, disp.astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    numba.set_num_threads(min(args.threads, numba.config.NUMBA_NUM_THREADS))
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"numba threads: {numba.get_num_threads()}, runs: {args.runs} (median), load average {load:.2f}")
    for name, (h, w) in SIZES.items():
        image, disp = make_scene(h, w)
        shift = -disp
        for variant in ("sharp", "soft"):
            polyline_warp(image, shift, variant, closeness=disp)  # warm-up / compile
            times = []
            for _ in range(args.runs):
                t0 = time.perf_counter()
                polyline_warp(image, shift, variant, closeness=disp)
                times.append(time.perf_counter() - t0)
            print(f"{name:>6} {w}x{h} {variant:<5}: {1000 * np.median(times):7.2f} ms/frame (min {1000 * min(times):.2f})")


if __name__ == "__main__":
    main()
