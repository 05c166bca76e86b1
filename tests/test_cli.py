"""End to end: the CLI on synthetic stereo clips with exact ground truth, and on bad input."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from spatialme.data.synthetic import SceneConfig, render_scene
from spatialme.data.textures import load_textures
from spatialme.video import VideoWriter, ffmpeg_exe, probe, read_frames

REPO = Path(__file__).resolve().parents[1]
FPS = 10


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "spatialme", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    err = a.astype(np.float64) - b.astype(np.float64)
    return float(10 * np.log10(255.0**2 / max(np.mean(err**2), 1e-12)))


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """A 12-frame 96x160 synthetic clip with audio, its disparity, and the true right view."""
    folder = tmp_path_factory.mktemp("clip")
    scene = render_scene(load_textures(), SceneConfig(height=96, width=160, frames=12, max_disparity=7.0), seed=5)
    audio = folder / "tone.m4a"
    subprocess.run([ffmpeg_exe(), "-y", "-loglevel", "error", "-f", "lavfi", "-i", "sine=frequency=440:duration=1.2", "-c:a", "aac", str(audio)], check=True)
    path = folder / "scene.mp4"
    with VideoWriter(path, FPS, audio_source=audio, crf=4) as writer:
        writer.write(scene.left)
    np.save(folder / "scene_disparity.npy", scene.disparity)
    return path, folder / "scene_disparity.npy", scene


def decode(path: Path) -> np.ndarray:
    return np.concatenate(list(read_frames(str(path))))


def test_convert_full_sbs_matches_ground_truth(clip, tmp_path):
    path, disp, scene = clip
    out = tmp_path / "scene_LR.mp4"
    res = run_cli("convert", str(path), "-o", str(out), "--disparity", str(disp), "--format", "full-sbs", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "12 frames" in res.stdout and str(out) in res.stdout
    info = probe(str(out))
    assert (info.width, info.height, info.frames, info.fps) == (320, 96, 12, FPS)
    assert info.has_audio and info.codec == "h264"
    frames = decode(out)
    left, right = frames[:, :, :160], frames[:, :, 160:]
    floor = psnr(left, scene.left)  # two lossy yuv420 encodes
    print("left", floor, "right", psnr(right, scene.right), "left-as-right", psnr(scene.left, scene.right))
    assert floor > 30
    # the right half is the synthesised view: close to the true right view
    assert psnr(right, scene.right) > 27
    # and clearly better than just repeating the left view
    assert psnr(right, scene.right) > psnr(scene.left, scene.right) + 4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scene_LR.mp4"]


@pytest.mark.parametrize("fmt, size", [("half-sbs", (160, 96)), ("tb", (160, 192)), ("anaglyph", (160, 96)), ("right", (160, 96))])
def test_formats_and_max_frames(clip, tmp_path, fmt, size):
    path, disp, scene = clip
    out = tmp_path / "out.mp4"
    res = run_cli("convert", str(path), "-o", str(out), "--disparity", str(disp), "--format", fmt, "--max-frames", "5", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    info = probe(str(out))
    assert (info.width, info.height, info.frames) == (*size, 5)
    if fmt == "right":
        assert psnr(decode(out), scene.right[:5]) > 27


def test_image_in_image_out(clip, tmp_path):
    _, _, scene = clip
    from spatialme.video import write_image

    src = tmp_path / "photo.png"
    write_image(src, scene.left[0])
    np.save(tmp_path / "d.npy", scene.disparity[:1])
    res = run_cli("convert", str(src), "-o", str(tmp_path / "photo_LR.png"), "--disparity", str(tmp_path / "d.npy"), cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    from spatialme.video import read_image

    img = read_image(tmp_path / "photo_LR.png")
    assert img.shape == (96, 320, 3)
    np.testing.assert_array_equal(img[:, :160], scene.left[0])
    assert psnr(img[:, 160:], scene.right[0]) > 28


def test_folder_batch_resumes(clip, tmp_path):
    path, _, scene = clip
    src = tmp_path / "in"
    src.mkdir()
    from spatialme.video import write_image

    for i in range(2):
        write_image(src / f"p{i}.png", scene.left[i])
    (src / "notes.txt").write_text("not media")
    dst = tmp_path / "out"
    dst.mkdir()
    # an existing output is skipped, so a batch that was interrupted resumes
    (dst / "p0_HSBS.png").write_bytes(b"done before")
    env_depth = tmp_path / "nodepth"  # no depth model: the one image left must fail clearly
    res = run_cli("convert", str(src), "-o", str(dst), "--format", "half-sbs", "--depth-model", str(env_depth), cwd=tmp_path)
    assert "skip" in res.stdout and "p0_HSBS.png" in res.stdout
    assert (dst / "p0_HSBS.png").read_bytes() == b"done before"
    assert res.returncode != 0 and "p1.png" in res.stderr
    assert sorted(p.name for p in dst.iterdir()) == ["p0_HSBS.png"]


def make_text(folder: Path) -> Path:
    p = folder / "notes.mp4"
    p.write_text("this is not a video\n" * 50)
    return p


def make_truncated(folder: Path, clip_path: Path) -> Path:
    p = folder / "cut.mp4"
    p.write_bytes(clip_path.read_bytes()[:600])
    return p


def make_audio_only(folder: Path) -> Path:
    p = folder / "silence.mp4"
    subprocess.run([ffmpeg_exe(), "-y", "-loglevel", "error", "-f", "lavfi", "-i", "sine=duration=1", "-c:a", "aac", str(p)], check=True)
    return p


@pytest.mark.parametrize(
    "case, extra, message",
    [
        ("text", [], "not a video"),
        ("truncated", [], "cut.mp4"),
        ("audio_only", [], "no video"),
        ("missing", [], "not found"),
        ("too_big", ["--max-side", "64"], "64"),
        ("bad_disparity", ["--disparity", "WRONG"], "disparity: expected shape"),
        ("short_disparity", ["--disparity", "SHORT"], "disparity: has 3 frames"),
        ("bad_format", ["--format", "hologram"], "format"),
    ],
)
def test_bad_input_gives_one_line_and_no_output(clip, tmp_path, case, extra, message):
    path, _, _ = clip
    work = tmp_path / "work"
    work.mkdir()
    src = {
        "text": lambda: make_text(work),
        "truncated": lambda: make_truncated(work, path),
        "audio_only": lambda: make_audio_only(work),
        "missing": lambda: work / "nothing.mp4",
    }.get(case, lambda: path)()
    np.save(work / "wrong.npy", np.zeros((12, 50, 50), np.float32))
    np.save(work / "short.npy", np.zeros((3, 96, 160), np.float32))
    extra = [{"WRONG": str(work / "wrong.npy"), "SHORT": str(work / "short.npy")}.get(a, a) for a in extra]
    out = tmp_path / "out"
    out.mkdir()
    before = sorted(p.name for p in work.iterdir())
    res = run_cli("convert", str(src), "-o", str(out / "result.mp4"), *extra, cwd=tmp_path)
    assert res.returncode == 2, (res.stdout, res.stderr)
    lines = [l for l in res.stderr.strip().splitlines() if l.strip()]
    assert len(lines) == 1 or case == "bad_format", res.stderr
    assert message.lower() in res.stderr.lower()
    assert "Traceback" not in res.stderr
    assert list(out.iterdir()) == []
    assert sorted(p.name for p in work.iterdir()) == before


def test_no_depth_model_offline_says_how_to_fix(clip, tmp_path):
    path, _, _ = clip
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO), "HF_HUB_CACHE": str(tmp_path / "empty_cache")}
    out = tmp_path / "x.mp4"
    res = subprocess.run([sys.executable, "-m", "spatialme", "convert", str(path), "-o", str(out)], env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 2
    assert "--disparity" in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert not out.exists()


def test_convert_through_depth_model(clip, tmp_path, tiny_depth_dir):
    """No sidecar: depth from a (tiny, random) Depth Anything loaded from a local directory."""
    path, _, scene = clip
    out = tmp_path / "depth_HSBS.mp4"
    res = run_cli("convert", str(path), "-o", str(out), "--depth-model", str(tiny_depth_dir), "--depth-size", "56",
                  "--format", "half-sbs", "--divergence", "4", "--device", "cpu", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    info = probe(str(out))
    assert (info.width, info.height, info.frames) == (160, 96, 12) and info.has_audio
    frames = decode(out)
    # random weights give some depth map: the right eye differs from the left but stays image-like
    assert 15 < psnr(frames[:, :, 80:], frames[:, :, :80]) < 60


def test_depth_path_in_process_is_stable_and_uses_divergence(clip, tiny_depth_dir):
    from spatialme import PipelineConfig, StereoPipeline
    from spatialme.disparity import DisparityConfig

    _, _, scene = clip
    cfg = PipelineConfig(disparity=DisparityConfig(divergence=5.0, convergence=0.0), depth_model=str(tiny_depth_dir), depth_input_size=56, device="cpu")
    pipe = StereoPipeline(cfg)
    disp = np.concatenate([pipe.estimate_disparity(scene.left[:6]), pipe.estimate_disparity(scene.left[6:])])
    assert disp.shape == (12, 96, 160) and disp.dtype == np.float32
    assert disp.min() >= 0 and disp.max() <= 0.05 * 160 + 1e-4
    assert disp.max() > 0.5 * 0.05 * 160  # the normalised range is used
