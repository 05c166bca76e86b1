"""Shared benchmark helpers: thread pinning, timing (median and IQR), run metadata."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import time
from pathlib import Path
from typing import Callable

import numpy as np


def pin_threads(n: int = 2) -> None:
    """Use ``n`` threads in numba, torch and OpenCV (the 2-core CI figure)."""
    import cv2
    import numba
    import torch

    numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    torch.set_num_threads(n)
    cv2.setNumThreads(n)


def timeit(fn: Callable[[], object], runs: int = 9, warmup: int = 2) -> dict[str, float]:
    """Median and inter-quartile range of ``runs`` calls, in ms (warm-up calls excluded)."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000.0)
    q1, med, q3 = np.percentile(samples, [25, 50, 75])
    return {"median_ms": float(med), "iqr_ms": float(q3 - q1)}


def stream_bandwidth_gbs(mib: int = 256) -> float:
    """Measured copy bandwidth (read + write) in GB/s, to compare machines."""
    src = np.ones(mib * 2**20 // 8)
    dst = np.empty_like(src)
    best = min(timeit(lambda: np.copyto(dst, src), runs=5, warmup=1)["median_ms"] for _ in range(1))
    return 2 * src.nbytes / (best / 1000.0) / 1e9


def metadata() -> dict:
    """Commit, versions and thread counts of this run."""
    import cv2
    import numba
    import torch

    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        commit = ""
    return {
        "commit": commit,
        "python": platform.python_version(),
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "numpy": np.__version__,
        "numba": numba.__version__,
        "torch": torch.__version__,
        "opencv": cv2.__version__,
        "numba_threads": numba.get_num_threads(),
        "numba_threading_layer": numba.threading_layer() if hasattr(numba, "threading_layer") else "",
        "stream_gbs": round(stream_bandwidth_gbs(), 1),
    }


def save(name: str, payload: dict) -> Path:
    """Write ``benchmarks/results/<name>.json`` and return its path."""
    out = Path(__file__).resolve().parent / "results"
    out.mkdir(exist_ok=True)
    path = out / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2))
    return path
