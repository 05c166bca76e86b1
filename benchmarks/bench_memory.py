"""Peak memory: streaming video I/O does not grow with clip length; a conversion stays under 4 GB at 4K and 8K.

Part 1 (streaming):

Makes a short and a long 720p test clip (ffmpeg ``testsrc2`` + a sine tone) in a temp folder,
then, for each, runs a fresh child process that streams it through
``read_frames -> horizontal flip -> VideoWriter`` (with the audio copied) and reports:

* the child's own peak RSS (``VmHWM`` from ``/proc/self/status``): the Python side, where
  frames live as numpy chunks;
* the peak RSS of its ffmpeg subprocesses, the decoder and the x264 encoder, sampled from
  their own ``VmHWM`` every 20 ms. (``getrusage(RUSAGE_CHILDREN)`` is no use here: Linux
  charges a child the parent's RSS at fork/exec, so it reported the Python figure again.)

The Python figure includes the interpreter and whatever ``import spatialme`` pulls in (torch,
once the package imports its pipeline), so the growth from just after the import to the peak
is printed too: that is what streaming costs.

A fresh child per clip keeps the two measurements independent. If anything held the whole
clip, the long clip would need about ``frames * 2.7 MB`` more (about 4.9 GB for 60 s at 30 fps).

Part 2 (conversion, issue 11): 1 s of 4K and of 8K (30 fps, ``testsrc2``, with audio and a
float16 disparity sidecar with a near box, so the warp opens holes) through the real CLI,
``python -m spatialme convert ... --format full-sbs``, in a child process. Sampled every 20 ms
over the whole process tree: the Python peak (``VmHWM``), the ffmpeg peaks, and the peak of
their summed ``VmRSS`` (what the machine needed at once). Chunks are sized by the pixel budget
(``PipelineConfig.chunk_pixels``: two 4K frames; an 8K frame goes in four row strips of
``strip_pixels``) and the 8K full SBS is scaled to fit H.264 level 6.2. The whole second runs
with ``--variant poly`` and with the default ``full`` variant (about 20 s per 8K frame on two
CPU cores; ``--full-frames N`` converts only the first N frames with it).

Run: ``python benchmarks/bench_memory.py`` (part 1: one to two minutes on two cores; part 2:
about fifteen; ``--no-stream`` / ``--no-convert`` run one part). Linux only.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path


def make_clip(path: Path, seconds: float, size: str, fps: int) -> None:
    """Encode a ``seconds`` long ``size`` testsrc2 clip with a 440 Hz tone (fast x264 preset)."""
    from spatialme.video import ffmpeg_exe

    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
           "-f", "lavfi", "-i", f"testsrc2=size={size}:rate={fps}:duration={seconds}",
           "-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}",
           "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", str(path)]
    subprocess.run(cmd, check=True, timeout=900)


def _status_kib(pid: int | str, field: str) -> int:
    """``field`` (e.g. ``VmHWM``) of ``/proc/<pid>/status``, KiB; 0 if the process is gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in text.splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


class ChildPeaks(threading.Thread):
    """Samples the VmHWM of this process's ffmpeg children until stopped."""

    def __init__(self, interval: float = 0.02) -> None:
        super().__init__(daemon=True)
        self.interval = interval
        self.peaks: dict[str, int] = {"decoder": 0, "encoder": 0, "remux": 0}
        self._stop_event = threading.Event()

    def _children(self) -> list[tuple[str, str]]:
        me, found = os.getpid(), []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if int(stat[stat.rindex(")") + 2:].split()[1]) != me:
                continue
            args = [a.decode(errors="replace") for a in cmdline]
            role = "encoder" if "pipe:0" in args else "decoder" if "pipe:1" in args else "remux"
            found.append((entry, role))
        return found

    def run(self) -> None:
        while not self._stop_event.is_set():
            for pid, role in self._children():
                self.peaks[role] = max(self.peaks[role], _status_kib(pid, "VmHWM"))
            self._stop_event.wait(self.interval)

    def stop(self) -> dict[str, int]:
        self._stop_event.set()
        self.join()
        return self.peaks


def child(src: str, out: str, chunk: int, preset: str) -> None:
    """Stream ``src`` -> flip -> ``out``; print a JSON line with the measurements."""
    from spatialme.video import VideoWriter, probe, read_frames

    after_import = _status_kib("self", "VmRSS")
    sampler = ChildPeaks()
    sampler.start()
    start = time.perf_counter()
    info = probe(src)
    frames = 0
    with VideoWriter(out, info.fps, audio_source=info.path, preset=preset) as writer:
        for batch in read_frames(info, chunk=chunk):
            writer.write(batch[:, :, ::-1])
            frames += len(batch)
    elapsed = time.perf_counter() - start
    peaks = sampler.stop()
    print(json.dumps({
        "frames": frames,
        "seconds": elapsed,
        "python_peak_kib": _status_kib("self", "VmHWM"),
        "python_growth_kib": _status_kib("self", "VmHWM") - after_import,
        **{f"{role}_peak_kib": kib for role, kib in peaks.items()},
    }))


def measure(src: Path, out: Path, chunk: int, preset: str) -> dict[str, float]:
    run = subprocess.run([sys.executable, __file__, "--child", str(src), str(out), "--chunk", str(chunk),
                          "--preset", preset], capture_output=True, text=True, timeout=1800, check=False)
    if run.returncode != 0:
        raise SystemExit(f"child failed for {src.name}:\n{run.stderr}")
    return json.loads(run.stdout.strip().splitlines()[-1])


def tree_pids(root: int) -> list[int]:
    """``root`` and all its descendants (from ``/proc/*/stat``)."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        parents.setdefault(int(stat[stat.rindex(")") + 2:].split()[1]), []).append(int(entry))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(parents.get(pid, []))
    return found


def make_sidecar(path: Path, frames: int, height: int, width: int) -> None:
    """``(frames, H, W)`` float16 disparity: a gentle ramp and a near box (2 % of the width), written a frame at a time."""
    import numpy as np

    disp = np.lib.format.open_memmap(path, mode="w+", dtype=np.float16, shape=(frames, height, width))
    ramp = np.linspace(0.0, 0.005 * width, width, dtype=np.float32)
    for t in range(frames):
        frame = np.broadcast_to(ramp, (height, width)).copy()
        x0 = width // 4 + t * width // 200
        frame[height // 4: 3 * height // 4, x0: x0 + width // 3] = 0.02 * width
        disp[t] = frame
    disp.flush()
    del disp


def measure_convert(src: Path, sidecar: Path, out: Path, variant: str, frames: int | None) -> dict[str, float]:
    """Run the CLI on ``src``; peaks over its process tree (KiB) and the wall time (s)."""
    cmd = [sys.executable, "-m", "spatialme", "convert", str(src), "-o", str(out), "--disparity", str(sidecar),
           "--variant", variant, "--device", "cpu", "--quiet", "--overwrite"]
    if frames:
        cmd += ["--max-frames", str(frames)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peaks = {"python": 0, "decoder": 0, "encoder": 0, "total": 0}
    roles: dict[int, str] = {}
    while proc.poll() is None:
        total = 0
        for pid in tree_pids(proc.pid):
            if pid not in roles:
                try:
                    args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
                except OSError:
                    continue
                roles[pid] = "python" if pid == proc.pid else "encoder" if b"pipe:0" in args else "decoder" if b"pipe:1" in args else "other"
            if roles[pid] in peaks:
                peaks[roles[pid]] = max(peaks[roles[pid]], _status_kib(pid, "VmHWM"))
            total += _status_kib(pid, "VmRSS")
        peaks["total"] = max(peaks["total"], total)
        time.sleep(0.02)
    stdout, stderr = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"convert failed for {src.name} ({variant}):\n{stderr}")
    return {**peaks, "seconds": time.perf_counter() - t0, "summary": stdout.strip().splitlines()[-1],
            "notes": [line for line in stderr.splitlines() if line.startswith("note: ")]}


def convert_part(sizes: list[str], fps: int, variants: list[str], full_frames: int) -> None:
    """Part 2: 1 s of each size through ``spatialme convert``; peak memory per variant."""
    limit_gib = 4.0
    with tempfile.TemporaryDirectory(prefix="bench_memory_convert_") as tmp:
        for size in sizes:
            width, height = (int(v) for v in size.split("x"))
            src, sidecar = Path(tmp) / f"clip_{size}.mp4", Path(tmp) / f"clip_{size}.npy"
            t0 = time.perf_counter()
            make_clip(src, 1.0, size, fps)
            make_sidecar(sidecar, fps, height, width)
            print(f"{size}: 1 s clip ({fps} frames) and float16 sidecar made in {time.perf_counter() - t0:.1f} s", flush=True)
            for variant in variants:
                frames = None if variant == "poly" or not full_frames else full_frames
                r = measure_convert(src, sidecar, Path(tmp) / f"out_{size}_LR.mp4", variant, frames)
                ok = "<=" if r["total"] / 2**20 <= limit_gib else "> "
                print(f"  {variant:5s} {'all' if frames is None else frames} frames, {r['seconds']:6.1f} s | python peak "
                      f"{gib(r['python'])}, ffmpeg decoder {gib(r['decoder'])}, encoder {gib(r['encoder'])} | whole tree "
                      f"at once {gib(r['total'])} ({ok} {limit_gib:g} GiB)", flush=True)
                print(f"        {r['summary']}", flush=True)
                for note in r["notes"]:
                    print(f"        {note}", flush=True)
                os.remove(Path(tmp) / f"out_{size}_LR.mp4")
            os.remove(src)
            os.remove(sidecar)


def gib(kib: float) -> str:
    return f"{kib / 2**20:.2f} GiB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, nargs=2, default=(10.0, 60.0), help="short and long clip, s")
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--chunk", type=int, default=16, help="frames per read_frames chunk")
    parser.add_argument("--preset", default="veryfast", help="x264 preset for the output")
    parser.add_argument("--no-stream", action="store_true", help="skip part 1 (streaming I/O, 720p)")
    parser.add_argument("--no-convert", action="store_true", help="skip part 2 (convert 1 s of 4K and 8K)")
    parser.add_argument("--convert-sizes", default="3840x2160,7680x4320", help="part 2 sizes, comma-separated WxH")
    parser.add_argument("--variants", default="poly,full", help="part 2 variants, comma-separated")
    parser.add_argument("--full-frames", type=int, default=0, help="frames converted with variants other than poly (0 = the whole second)")
    parser.add_argument("--child", nargs=2, metavar=("SRC", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], args.child[1], args.chunk, args.preset)
        return
    if not args.no_stream:
        stream_part(args)
    if not args.no_convert:
        print("\nconvert 1 s through `python -m spatialme convert --format full-sbs` (peak of the whole process tree):", flush=True)
        convert_part(args.convert_sizes.split(","), args.fps, args.variants.split(","), args.full_frames)


def stream_part(args: argparse.Namespace) -> None:
    """Part 1: 10 s vs 60 s of 720p streamed through read_frames -> flip -> VideoWriter."""
    results = []
    with tempfile.TemporaryDirectory(prefix="bench_memory_") as tmp:
        for seconds in args.seconds:
            src = Path(tmp) / f"clip_{seconds:g}s.mp4"
            t0 = time.perf_counter()
            make_clip(src, seconds, args.size, args.fps)
            made = time.perf_counter() - t0
            r = measure(src, Path(tmp) / f"clip_{seconds:g}s_LR.mp4", args.chunk, args.preset)
            results.append((seconds, r))
            print(f"{seconds:5g} s {args.size}: {r['frames']:5d} frames in {r['seconds']:5.1f} s "
                  f"(clip made in {made:.1f} s) | python peak RSS {mib(r['python_peak_kib'])} "
                  f"(+{mib(r['python_growth_kib'])} while streaming) | ffmpeg decoder {mib(r['decoder_peak_kib'])}, "
                  f"encoder {mib(r['encoder_peak_kib'])}, audio remux {mib(r['remux_peak_kib'])}", flush=True)
            os.remove(src)
    (s_short, short), (s_long, long) = results
    width, height = (int(v) for v in args.size.split("x"))

    def ratio(key: str) -> str:
        return f"{long[key] / short[key]:.2f}" if short[key] else "n/a"

    print(f"long/short clip length {s_long / s_short:.1f}x -> peak RSS ratio: python {ratio('python_peak_kib')}, "
          f"decoder {ratio('decoder_peak_kib')}, encoder {ratio('encoder_peak_kib')} "
          f"(holding the long clip's frames would take {long['frames'] * width * height * 3 / 2**30:.1f} GiB)")


def mib(kib: float) -> str:
    return f"{kib / 1024:.1f} MiB"


if __name__ == "__main__":
    main()
