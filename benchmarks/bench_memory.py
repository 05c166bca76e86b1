"""Show that streaming video I/O uses memory that does not grow with clip length.

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

Run: ``python benchmarks/bench_memory.py`` (one to two minutes on two cores). Linux only.
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, nargs=2, default=(10.0, 60.0), help="short and long clip, s")
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--chunk", type=int, default=16, help="frames per read_frames chunk")
    parser.add_argument("--preset", default="veryfast", help="x264 preset for the output")
    parser.add_argument("--child", nargs=2, metavar=("SRC", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], args.child[1], args.chunk, args.preset)
        return

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
