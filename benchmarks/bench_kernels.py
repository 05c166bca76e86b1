"""ms per frame of the CPU kernels: forward warp, polyline (Poly branch), disparity expansion.

Run: ``python benchmarks/bench_kernels.py [--runs 9] [--sizes 480p,720p,1080p]``.
Every row is timed in the same process as ``cv2.remap`` (bilinear, precomputed maps), the
floor for any per-pixel resampling, and reports the ratio to it. Inputs are seeded: a random
photo-like image and a smooth disparity of up to 2 % of the width with sharp foreground steps.
"""

from __future__ import annotations

import argparse

import cv2
import numpy as np

from common import metadata, pin_threads, save, timeit  # noqa: E402

from spatialme.inpaint.expand import expand_disparity  # noqa: E402
from spatialme.inpaint.polyline import polyline_right_view  # noqa: E402
from spatialme.warp import forward_warp  # noqa: E402

SIZES = {"480p": (480, 854), "720p": (720, 1280), "1080p": (1080, 1920)}


def make_inputs(height: int, width: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A textured image and a disparity (px) with smooth parts and foreground steps."""
    rng = np.random.default_rng(seed)
    noise = rng.random((height // 8, width // 8, 3), dtype=np.float32)
    image = cv2.resize(noise, (width, height), interpolation=cv2.INTER_CUBIC)
    image = np.clip(image * 255 + rng.normal(0, 8, image.shape), 0, 255).astype(np.uint8)
    max_d = 0.02 * width
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    disp = 0.3 * max_d * (1 + np.sin(x / width * 3 + y / height * 2)) / 2
    for _ in range(6):
        cy, cx = rng.integers(0, height), rng.integers(0, width)
        r = rng.integers(height // 12, height // 5)
        disp[(y - cy) ** 2 + (x - cx) ** 2 < r * r] = rng.uniform(0.5, 1.0) * max_d
    return image, disp.astype(np.float32)


def bench_size(name: str, runs: int) -> dict:
    height, width = SIZES[name]
    image, disp = make_inputs(height, width)
    mapx = (np.arange(width, dtype=np.float32)[None] + disp).astype(np.float32)
    mapy = np.repeat(np.arange(height, dtype=np.float32)[:, None], width, axis=1)
    rows = {
        "cv2.remap (floor)": timeit(lambda: cv2.remap(image, mapx, mapy, cv2.INTER_LINEAR), runs),
        "forward_warp": timeit(lambda: forward_warp(image, disp), runs),
        "polyline sharp": timeit(lambda: polyline_right_view(image, disp, "sharp"), runs),
        "polyline soft": timeit(lambda: polyline_right_view(image, disp, "soft"), runs),
        "expand_disparity": timeit(lambda: expand_disparity(disp), runs),
    }
    floor = rows["cv2.remap (floor)"]["median_ms"]
    for row in rows.values():
        row["x_remap"] = row["median_ms"] / floor
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--sizes", default="480p,720p,1080p")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    pin_threads(args.threads)
    meta = metadata()
    print(f"# {meta['cpu']}, {meta['numba_threads']} threads ({meta['numba_threading_layer']}), copy bandwidth {meta['stream_gbs']} GB/s, commit {meta['commit']}")
    results = {}
    for size in args.sizes.split(","):
        results[size] = bench_size(size, args.runs)
        print(f"\n{size}: {'kernel':<20} {'median ms':>10} {'IQR ms':>8} {'x remap':>8}")
        for kernel, row in results[size].items():
            print(f"{'':7}{kernel:<20} {row['median_ms']:>10.2f} {row['iqr_ms']:>8.2f} {row['x_remap']:>8.2f}")
    print("\nsaved", save("kernels", {"meta": meta, "results": results}))


if __name__ == "__main__":
    main()
