"""End to end: the CLI on synthetic stereo clips with exact ground truth, and on bad input."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from spatialme.data.synthetic import SceneConfig, render_scene
from spatialme.data.textures import load_textures
from spatialme.video import VideoWriter, ffmpeg_exe, probe, read_frames, write_image

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


# --------------------------------------------------------------------------- issue 11: nothing partial, nothing lost


def one_error(res: subprocess.CompletedProcess) -> str:
    """The single ``error: ...`` line a failed run printed (and nothing else on stderr)."""
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    assert "Traceback" not in res.stderr and ".tmp-" not in res.stderr and "Errno" not in res.stderr
    return lines[0]


def test_truncated_faststart_clip_is_an_error(clip, tmp_path):
    path, disp, _ = clip
    cut = tmp_path / "cut30.mp4"
    data = path.read_bytes()
    assert data[4:8] == b"ftyp" and data.index(b"moov") < data.index(b"mdat")  # index first: +faststart
    cut.write_bytes(data[: int(len(data) * 0.3)])
    out = tmp_path / "out"
    res = run_cli("convert", str(cut), "-o", str(out / "o.mp4"), "--disparity", str(disp), "--variant", "poly", cwd=tmp_path)
    assert res.returncode == 2
    assert re.fullmatch(r"error: cut30\.mp4: truncated or incomplete video \(its data ends after \d+ frames; "
                        r"was the upload cut short\?\)", one_error(res))
    assert not out.exists() and res.stdout == ""


def test_npz_disparity_sidecars(clip, tmp_path):
    path, disp, scene = clip
    np.savez(tmp_path / "single.npz", scene.disparity.astype(np.float16))
    np.savez_compressed(tmp_path / "keyed.npz", disparity=scene.disparity, depth=scene.disparity)
    for name in ("single.npz", "keyed.npz"):
        out = tmp_path / f"{name}.mp4"
        res = run_cli("convert", str(path), "-o", str(out), "--disparity", str(tmp_path / name), "--variant", "poly", "--format", "right", cwd=tmp_path)
        assert res.returncode == 0, res.stderr
        assert psnr(decode(out), scene.right) > 27
    np.savez(tmp_path / "two.npz", scene.disparity, scene.disparity)
    res = run_cli("convert", str(path), "-o", str(tmp_path / "bad.mp4"), "--disparity", str(tmp_path / "two.npz"), cwd=tmp_path)
    assert res.returncode == 2
    assert one_error(res) == "error: disparity: two.npz holds arr_0, arr_1; expected one array, or one named 'disparity'"
    assert not (tmp_path / "bad.mp4").exists()


@pytest.mark.parametrize("value, shown", [(1e6, "1e+06"), (3e38, "3e+38"), (-5000.0, "-5000"), (float("nan"), None)])
def test_absurd_disparity_is_refused(clip, tmp_path, value, shown):
    path, _, scene = clip
    disp = scene.disparity.astype(np.float32)
    disp[-1, 40, 80] = value  # the last frame: refused before any work all the same
    np.save(tmp_path / "d.npy", disp)
    out = tmp_path / "out"
    res = run_cli("convert", str(path), "-o", str(out / "o.mp4"), "--disparity", str(tmp_path / "d.npy"), cwd=tmp_path)
    assert res.returncode == 2
    want = "error: disparity: contains NaN or infinite values" if shown is None else (
        f"error: disparity: {shown} px is beyond the frame width; expected values from -160 to 160 px")
    assert one_error(res) == want
    assert not out.exists()


def test_unwritable_output_folder_is_refused_before_any_work(clip, tmp_path, tiny_depth_dir, unwritable):
    path, disp, scene = clip
    folder = tmp_path / "ro"
    folder.mkdir()
    src = tmp_path / "in"
    src.mkdir()
    write_image(src / "p.png", scene.left[0])
    with unwritable(folder):
        single = run_cli("convert", str(path), "-o", str(folder / "o.mp4"), "--disparity", str(disp), cwd=tmp_path)
        batch = run_cli("convert", str(src), "-o", str(folder), "--depth-model", str(tiny_depth_dir), cwd=tmp_path)
        nested = run_cli("convert", str(path), "-o", str(folder / "sub" / "o.mp4"), "--disparity", str(disp), cwd=tmp_path)
        reasons = "(permission denied|operation not permitted)"
        for res in (single, batch):
            assert res.returncode == 2 and res.stdout == ""
            assert re.fullmatch(rf"error: output: cannot write to the folder {re.escape(str(folder))} \({reasons}\)", one_error(res))
        assert nested.returncode == 2
        assert re.fullmatch(rf"error: output: cannot create the folder {re.escape(str(folder / 'sub'))} \({reasons}\)", one_error(nested))
    assert list(folder.iterdir()) == []


def test_overwrite_never_replaces_the_input(clip, tmp_path):
    path, disp, _ = clip
    src = tmp_path / "scene.mp4"
    src.write_bytes(path.read_bytes())
    (tmp_path / "alias.mp4").symlink_to(src)
    for target in ("scene.mp4", str(src), "alias.mp4"):
        res = run_cli("convert", str(src), "-o", target, "--overwrite", "--disparity", str(disp), cwd=tmp_path)
        assert res.returncode == 2
        assert one_error(res) == f"error: output: {target} is the input file; choose another output name"
    assert src.read_bytes() == path.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["alias.mp4", "scene.mp4"]


def test_second_run_into_the_same_output_fails_at_once(clip, tmp_path):
    path, _, scene = clip
    frames = np.concatenate([scene.left] * 4)  # 48 frames: the first run takes a while with the full variant
    src = tmp_path / "long.mp4"
    with VideoWriter(src, FPS, crf=4) as writer:
        writer.write(frames)
    np.save(tmp_path / "long.npy", np.concatenate([scene.disparity] * 4))
    out = tmp_path / "out" / "o.mp4"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)}
    first = subprocess.Popen([sys.executable, "-m", "spatialme", "convert", str(src), "-o", str(out), "--disparity", str(tmp_path / "long.npy")],
                             cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not out.exists() and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert out.exists(), "the first run never claimed its output"
        second = run_cli("convert", str(src), "-o", str(out), "--disparity", str(tmp_path / "long.npy"), "--variant", "poly", cwd=tmp_path)
        still_running = first.poll() is None
        stdout, stderr = first.communicate(timeout=300)
    finally:
        if first.poll() is None:
            first.kill()
    assert second.returncode == 2 and second.stdout == ""
    line = one_error(second)
    if still_running:  # the usual case: the name was claimed, not yet written
        assert line == f"error: output: {out} is being written by another run (or is an empty file left by one); pass --overwrite to replace it"
    else:
        assert line == f"error: output: {out} exists; pass --overwrite to replace it"
    assert first.returncode == 0, stderr
    assert probe(str(out)).frames == 48  # the first run's result, not replaced
    assert sorted(p.name for p in out.parent.iterdir()) == ["o.mp4"]


def test_batch_into_its_own_folder_skips_earlier_outputs(clip, tmp_path, tiny_depth_dir):
    _, _, scene = clip
    folder = tmp_path / "photos"
    folder.mkdir()
    write_image(folder / "p.png", scene.left[0])
    args = ("convert", str(folder), "-o", str(folder), "--depth-model", str(tiny_depth_dir), "--depth-size", "56", "--variant", "poly", "--device", "cpu")
    first = run_cli(*args, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    second = run_cli(*args, cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert f"skip {folder / 'p_LR.png'} (a converted output)" in second.stdout.splitlines()
    assert "wrote" not in second.stdout
    assert sorted(p.name for p in folder.iterdir()) == ["p.png", "p_LR.png"]


def test_batch_errors_name_each_file_once_and_exit_2(clip, tmp_path, tiny_depth_dir):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "b.mp4").write_text("not a video\n" * 40)
    (folder / "c.png").write_bytes(b"not an image")
    res = run_cli("convert", str(folder), "-o", str(tmp_path / "out"), "--depth-model", str(tiny_depth_dir), "--variant", "poly", cwd=tmp_path)
    assert res.returncode == 2
    assert res.stderr.splitlines() == [
        "error: b.mp4: not a video or image (ffmpeg could not decode it)",
        "error: c.png: not an image (could not decode it)",
        "error: 2 of 2 inputs failed",
    ]
    assert list((tmp_path / "out").iterdir()) == []


def test_batch_without_a_depth_model_stops_at_the_first_input(clip, tmp_path):
    _, _, scene = clip
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(3):
        write_image(folder / f"p{i}.png", scene.left[i])
    missing = tmp_path / "no-model"
    res = run_cli("convert", str(folder), "-o", str(tmp_path / "out"), "--depth-model", str(missing), "--variant", "poly", cwd=tmp_path)
    assert res.returncode == 2
    assert res.stderr.splitlines() == [
        f"error: p0.png: Depth model directory {missing} does not exist.",  # tried once, not once per file
        "error: stopped; 3 of 3 inputs not converted",
    ]
    assert list((tmp_path / "out").iterdir()) == []


def test_quiet_hides_every_progress_bar(clip, tmp_path, tiny_depth_dir):
    path, _, _ = clip
    out = tmp_path / "q.mp4"
    res = run_cli("convert", str(path), "-o", str(out), "--quiet", "--depth-model", str(tiny_depth_dir), "--depth-size", "56",
                  "--device", "cpu", "--variant", "full", "--max-frames", "2", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert res.stderr == ""  # no "Loading weights" bar from transformers
    assert res.stdout.splitlines() == [line for line in res.stdout.splitlines() if line.startswith("wrote ")] and len(res.stdout.splitlines()) == 1
    assert probe(str(out)).frames == 2
