"""End to end: ``StereoPipeline.convert`` of a clip (decode, depth, synthesis, encode), per variant.

Run: ``python benchmarks/bench_convert.py [--seconds 10] [--sizes 720p,1080p] [--variants poly,full]
[--device cuda] [--runs 3] [--sidecar]``.

The clip is a synthetic scene (textured layers moving in front of a moving camera, so the
warp opens holes of the product's sizes) of 30 frames, played forwards and backwards until
``--seconds`` at 30 fps, encoded losslessly to H.264 in a temp folder. The depth model runs
on the frames unless it cannot be loaded (no network, no cache) or ``--sidecar`` is given; then
the scene's own disparity goes in as a float16 ``.npy`` sidecar (depth excluded, and the
table says so). For each size and variant: frames/s (median of ``--runs`` runs after a
warm-up, IQR beside it), the stage table of the last run (seconds in depth, synthesis, and
the rest: decoding, composing, encoding, which overlap the synthesis), the peak GPU memory
(``torch.cuda.max_memory_allocated``) on CUDA and the peak resident memory of the process.

Targets (issue 9): on one datacentre GPU, ``poly`` >= 60 and ``full`` >= 20 frames/s at 1080p
end to end; on 2 CPU cores ``full`` >= 2 frames/s at 720p (synthesis; ``bench_full.py``).
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from common import metadata, pin_threads, save

from spatialme import video
from spatialme.data.synthetic import SceneConfig, render_scene
from spatialme.data.textures import load_textures
from spatialme.pipeline import PipelineConfig, StereoPipeline

SIZES = {"360p": (360, 640), "720p": (720, 1280), "1080p": (1080, 1920)}
FPS = 30
BASE_FRAMES = 30


def make_clip(folder: Path, height: int, width: int, seconds: float) -> tuple[Path, Path]:
    """A looping synthetic clip ``seconds`` long and its float16 disparity sidecar."""
    scene = render_scene(load_textures(), SceneConfig(height=height, width=width, frames=BASE_FRAMES, max_disparity=round(0.02 * width, 1), camera_speed=2.0), seed=0)
    total = int(round(seconds * FPS))
    order = np.concatenate([np.arange(BASE_FRAMES), np.arange(BASE_FRAMES - 2, 0, -1)])  # ping-pong: no jump
    index = np.resize(order, total)
    src = folder / f"clip_{height}p.mp4"
    with video.VideoWriter(src, FPS, crf=0, preset="ultrafast") as writer:
        for i in range(0, total, BASE_FRAMES):
            writer.write(scene.left[index[i : i + BASE_FRAMES]])
    sidecar = folder / f"clip_{height}p.npy"
    disp = np.lib.format.open_memmap(sidecar, mode="w+", dtype=np.float16, shape=(total, height, width))
    for i in range(0, total, BASE_FRAMES):
        disp[i : i + BASE_FRAMES] = scene.disparity[index[i : i + BASE_FRAMES]]
    disp.flush()
    del disp
    return src, sidecar


def timed_pipeline(pipe: StereoPipeline, seconds: dict[str, float]) -> StereoPipeline:
    """Wrap the pipeline's depth and synthesis calls to add their time to ``seconds``."""
    sync = torch.cuda.synchronize if pipe.device.startswith("cuda") else (lambda: None)

    def wrap(name, fn):
        def run(*args, **kwargs):
            sync()
            t0 = time.perf_counter()
            out = fn(*args, **kwargs)
            sync()
            seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - t0
            return out

        return run

    pipe.estimate_disparity = wrap("depth", pipe.estimate_disparity)
    pipe.synthesize = wrap("synthesis", pipe.synthesize)
    return pipe


def run_once(pipe: StereoPipeline, src: Path, sidecar: Path | None, variant: str, out: Path) -> tuple[float, int, dict[str, float]]:
    stages: dict[str, float] = {}
    timed_pipeline(pipe, stages)
    t0 = time.perf_counter()
    res = pipe.convert(src, out, variant=variant, disparity=sidecar, fmt="half-sbs", overwrite=True)
    total = time.perf_counter() - t0
    stages["other (decode, compose, encode)"] = total - sum(stages.values())
    del pipe.estimate_disparity, pipe.synthesize  # back to the class's methods
    return total, res.frames, stages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--sizes", default="720p,1080p")
    parser.add_argument("--variants", default="poly,full")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2, help="CPU threads (numba, torch, OpenCV)")
    parser.add_argument("--sidecar", action="store_true", help="use the scene's disparity (depth excluded)")
    parser.add_argument("--no-save", action="store_true")
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs: at least 1")
    pin_threads(args.threads)
    pipe = StereoPipeline.from_pretrained(config=PipelineConfig(device=args.device))
    depth_note = "depth model"
    if not args.sidecar:
        try:
            pipe.depth_estimator  # noqa: B018 (loads it)
        except Exception as err:  # no network and no cache: measure without depth, and say so
            args.sidecar = True
            depth_note = f"sidecar disparity (depth model unavailable: {str(err).splitlines()[0][:80]})"
    else:
        depth_note = "sidecar disparity (depth excluded)"
    meta = metadata()
    if args.device.startswith("cuda"):
        meta["gpu"] = torch.cuda.get_device_name()
    print(f"# {meta.get('gpu', meta['cpu'])}, torch {meta['torch']}, commit {meta['commit']}; {depth_note}; kernels {pipe.kernels}")
    results: dict = {"meta": meta, "depth": depth_note, "rows": []}
    with tempfile.TemporaryDirectory(prefix="bench_convert_") as tmp:
        folder = Path(tmp)
        for size in args.sizes.split(","):
            height, width = SIZES[size]
            src, sidecar = make_clip(folder, height, width, args.seconds)
            for variant in args.variants.split(","):
                pipe.check_variant(variant)
                out = folder / f"out_{size}_{variant}.mp4"
                run_once(pipe, src, sidecar if args.sidecar else None, variant, out)  # warm-up
                if args.device.startswith("cuda"):
                    torch.cuda.reset_peak_memory_stats()
                rates, stages = [], {}
                for _ in range(args.runs):
                    if not args.sidecar:
                        pipe.depth_estimator.reset()
                    seconds, frames, stages = run_once(pipe, src, sidecar if args.sidecar else None, variant, out)
                    rates.append(frames / seconds)
                q1, med, q3 = np.percentile(rates, [25, 50, 75])
                gpu_gb = torch.cuda.max_memory_allocated() / 2**30 if args.device.startswith("cuda") else None
                rss_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
                row = {"size": size, "variant": variant, "frames": frames, "fps": float(med), "fps_iqr": float(q3 - q1),
                       "stages_s": stages, "gpu_peak_gib": gpu_gb, "rss_peak_gib": rss_gb}
                results["rows"].append(row)
                gpu = f", GPU peak {gpu_gb:.2f} GiB" if gpu_gb is not None else ""
                print(f"\n{size} {variant}: {med:.2f} frames/s (IQR {q3 - q1:.2f}) over {frames} frames{gpu}, process RSS peak {rss_gb:.2f} GiB")
                for stage, sec in stages.items():
                    print(f"  {stage:<34} {sec:7.2f} s  {1000 * sec / frames:7.1f} ms/frame")
    if not args.no_save:
        save(f"convert_{'cuda' if args.device.startswith('cuda') else 'cpu'}", results)


if __name__ == "__main__":
    main()
