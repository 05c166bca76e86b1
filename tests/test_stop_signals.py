"""A convert stopped by SIGTERM, SIGHUP or SIGINT at any point leaves no file (issue 11, item 1).

Each case starts the CLI on a clip with audio, waits for one phase of the run (just started,
output name claimed, encoding, audio remux), sends the signal, and checks the output folder
is empty afterwards and the exit code is 128 + the signal number. ``timeout`` and a closed
terminal send SIGTERM and SIGHUP; only SIGINT was cleaned up before.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from spatialme.data.synthetic import SceneConfig, render_scene
from spatialme.data.textures import load_textures
from spatialme.video import VideoWriter, ffmpeg_exe, probe

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory):
    """60 frames of 96x160 at 10 fps with 6 s of audio, and its disparity."""
    folder = tmp_path_factory.mktemp("long")
    scene = render_scene(load_textures(), SceneConfig(height=96, width=160, frames=12, max_disparity=6.0), seed=3)
    audio = folder / "tone.m4a"
    subprocess.run([ffmpeg_exe(), "-y", "-loglevel", "error", "-f", "lavfi", "-i", "sine=frequency=440:duration=6",
                    "-c:a", "aac", str(audio)], check=True)
    path = folder / "long.mp4"
    with VideoWriter(path, 10, audio_source=audio, crf=10) as writer:
        writer.write(np.concatenate([scene.left] * 5))
    np.save(folder / "long.npy", np.concatenate([scene.disparity] * 5))
    return path, folder / "long.npy"


def _phase_reached(phase: str, out: Path) -> bool:
    names = os.listdir(out) if out.exists() else []
    temps = [n for n in names if n.startswith(".o.tmp-")]
    if phase == "claimed":
        return "o.mp4" in names
    if phase == "encoding":
        return len(temps) >= 1
    if phase == "remux":
        return len(temps) >= 2
    return True  # "start": right away


@pytest.mark.parametrize("phase, signum", [
    ("start", signal.SIGTERM),
    ("claimed", signal.SIGHUP),
    ("encoding", signal.SIGTERM),
    ("encoding", signal.SIGHUP),
    ("encoding", signal.SIGINT),
    ("remux", signal.SIGTERM),
])
def test_signal_at_any_point_leaves_no_file(long_clip, tmp_path, phase, signum):
    path, disp = long_clip
    out = tmp_path / "out"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "spatialme", "convert", str(path), "-o", str(out / "o.mp4"), "--disparity", str(disp),
           "--variant", "poly", "--quiet"]
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not _phase_reached(phase, out) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.002)
        reached = proc.poll() is None
        if reached:
            if phase == "start":
                time.sleep(0.3)  # while Python starts: before any handler is installed
            proc.send_signal(signum)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    if not reached or proc.returncode == 0:  # finished before the signal: then the result is whole
        assert phase == "remux", (phase, stderr)  # the remux is short; every other phase must be caught
        assert proc.returncode == 0 and probe(str(out / "o.mp4")).frames == 60
        return
    assert proc.returncode in (128 + signum, -signum), stderr
    if proc.returncode > 0:
        what = "interrupted" if signum == signal.SIGINT else f"stopped by {signal.Signals(signum).name}"
        assert stderr.splitlines() == [f"error: {what}; the output in progress was removed"]
    assert (sorted(os.listdir(out)) if out.exists() else []) == []
    assert "wrote" not in stdout
