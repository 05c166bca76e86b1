"""Build the demo clips in ``examples/`` from the synthetic scene generator.

Run: ``python scripts/make_examples.py [--out examples]``. Deterministic: the same textures
and seeds give the same clips. Each clip is a short H.264 mp4 with a soft audio tone (so
audio passthrough can be seen), rendered from committed CC0 textures; ``garden`` also ships
its exact left-view disparity as ``garden_disparity.npy`` (float16 px, to keep the repository
small) so it converts with no depth model and no network.
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from spatialme.data.synthetic import SceneConfig, render_scene  # noqa: E402
from spatialme.data.textures import load_textures  # noqa: E402
from spatialme.video import VideoWriter, ffmpeg_exe  # noqa: E402

FPS = 12
CLIPS = {
    # name: (seed, config, ship disparity sidecar)
    "garden": (3, SceneConfig(height=144, width=256, frames=30, max_disparity=9.0, camera_speed=1.0), True),
    "orbit": (11, SceneConfig(height=144, width=256, frames=30, max_disparity=10.0, object_speed=2.0), False),
    "stones": (27, SceneConfig(height=144, width=256, frames=30, max_disparity=8.0, background="curved"), False),
}


def tone(path: Path, seconds: float, freq: int) -> None:
    """Write a quiet sine tone as AAC to ``path``."""
    cmd = [ffmpeg_exe(), "-y", "-loglevel", "error", "-f", "lavfi", "-i", f"sine=frequency={freq}:duration={seconds}",
           "-af", "volume=0.2", "-c:a", "aac", str(path)]
    subprocess.run(cmd, check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="examples")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    textures = load_textures()
    with tempfile.TemporaryDirectory() as tmp:
        for i, (name, (seed, config, sidecar)) in enumerate(CLIPS.items()):
            scene = render_scene(textures, config, seed=seed)
            audio = Path(tmp) / f"{name}.m4a"
            tone(audio, config.frames / FPS, 330 + 110 * i)
            with VideoWriter(out / f"{name}.mp4", FPS, audio_source=audio, crf=20, preset="slow") as writer:
                writer.write(scene.left)
            if sidecar:
                np.save(out / f"{name}_disparity.npy", scene.disparity.astype(np.float16))
            print(f"{name}: {config.frames} frames {config.width}x{config.height}, disparity {scene.disparity.min():.1f}..{scene.disparity.max():.1f} px")


if __name__ == "__main__":
    main()
