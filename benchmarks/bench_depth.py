"""Speed of the depth stage: Depth Anything V2 Small with RANDOM weights (timing only).

What it measures
----------------
Milliseconds per frame of the DAv2-Small architecture at model input short sides of
252, 364 and 518 px for a 16:9 frame, on the CPU with a fixed number of threads (2 by
default), batch 1, float32:

* ``net``: the network forward alone, on an already normalised ``(1, 3, h, w)`` tensor;
* ``predict``: :meth:`spatialme.depth.DepthAnythingModel.predict` on a 1280x720 uint8
  frame, i.e. with the torch resize/normalise before and the resize back after.

The weights are random: no download happens and nothing about depth *quality* is
measured. Speed does not depend on the weights' values (same FLOPs). The architecture is
``DepthAnythingConfig()``'s defaults, which are the Small model: DINOv2 ViT-S/14 backbone
(hidden 384, 12 layers, 6 heads, MLP 1536, features from layers 9-12), reassemble
factors (4, 2, 1, 0.5), neck sizes (48, 96, 192, 384), fusion 64, head 32; the script
checks that it has 24,785,089 parameters (the model card's 24.8M).

Method: one warm-up call, then ``--repeats`` timed calls (``time.perf_counter``, device
synchronised when on CUDA); median, inter-quartile range and minimum are reported (on a
shared machine the minimum is the figure least disturbed by other processes). Run metadata
and figures are written as JSON to ``benchmarks/results/bench_depth.json``. Other load on
the machine inflates CPU figures; check the IQR.

Usage::

    python benchmarks/bench_depth.py [--threads 2] [--repeats 5] [--sizes 252 364 518] [--device cpu]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

from spatialme.depth import DepthAnythingModel, model_input_shape  # noqa: E402

SMALL_PARAMS = 24_785_089


def build_random_small(seed: int = 0) -> torch.nn.Module:
    """DAv2-Small architecture with random weights (``DepthAnythingConfig()`` defaults)."""
    from transformers import DepthAnythingConfig, DepthAnythingForDepthEstimation

    torch.manual_seed(seed)
    config = DepthAnythingConfig()
    backbone = config.backbone_config
    assert (backbone.hidden_size, backbone.num_hidden_layers, backbone.num_attention_heads) == (384, 12, 6)
    assert list(config.neck_hidden_sizes) == [48, 96, 192, 384] and config.fusion_hidden_size == 64
    network = DepthAnythingForDepthEstimation(config).eval()
    params = sum(p.numel() for p in network.parameters())
    assert params == SMALL_PARAMS, f"expected the Small architecture ({SMALL_PARAMS} parameters), got {params}"
    return network


def time_call(fn: Callable[[], object], repeats: int, device: torch.device) -> dict[str, float]:
    """Median and IQR in ms of ``fn()`` over ``repeats`` runs after one warm-up."""

    def once() -> float:
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        return (time.perf_counter() - start) * 1e3

    once()
    runs = sorted(once() for _ in range(repeats))
    q1, _, q3 = statistics.quantiles(runs, n=4) if len(runs) > 1 else (runs[0], runs[0], runs[0])
    return {"median_ms": statistics.median(runs), "iqr_ms": q3 - q1, "min_ms": runs[0], "runs_ms": runs}


def smooth_frame(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A seeded, smooth ``(height, width, 3) uint8`` test frame."""
    import cv2

    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, size=(height // 40 + 1, width // 40 + 1, 3), dtype=np.uint8)
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--sizes", type=int, nargs="+", default=[252, 364, 518])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="auto", help="auto = float16 on CUDA, float32 on CPU")
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "bench_depth.json"))
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    frame = smooth_frame(720, 1280)[None]
    model = DepthAnythingModel(build_random_small(), device=args.device, dtype=args.dtype, batch_size=1)
    device = model.device
    print(f"DAv2-Small, RANDOM weights (speed only), {device.type}, {model.dtype}, {torch.get_num_threads()} threads")
    print(f"{'input':>10} {'net ms':>8} {'IQR':>6} {'min':>6} {'predict ms':>11} {'IQR':>6} {'min':>6}  (720p, batch 1)")

    rows = []
    for size in args.sizes:
        model.input_size = size
        h, w = model_input_shape(720, 1280, model.short_side())
        pixels = torch.randn(1, 3, h, w, device=device, dtype=model.dtype)
        with torch.inference_mode():
            net = time_call(lambda: model.network(pixel_values=pixels), args.repeats, device)
        full = time_call(lambda: model.predict(frame), args.repeats, device)
        rows.append({"short_side": size, "input_hw": [h, w], "net": net, "predict": full})
        print(
            f"{h:>4}x{w:<5} {net['median_ms']:>8.0f} {net['iqr_ms']:>6.0f} {net['min_ms']:>6.0f} "
            f"{full['median_ms']:>11.0f} {full['iqr_ms']:>6.0f} {full['min_ms']:>6.0f}"
        )

    meta = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "note": "random weights: speed only",
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "device": str(device),
        "dtype": str(model.dtype),
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "load_avg": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "repeats": args.repeats,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
