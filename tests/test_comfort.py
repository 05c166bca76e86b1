"""Comfortable 3D: automatic strength per shot, floating windows, the depth-budget report.

The end-to-end tests convert small synthetic clips (96x256, poly variant) whose depth is a
sidecar, then check the report's JSON and measure the parallax between the two views of the
rendered output by block matching on their texture.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from spatialme import StereoPipeline
from spatialme.comfort import (
    DISPLAYS, ComfortConfig, apply_window, draw_plot, frame_stats, get_display, parallax_pct,
    parallax_percentiles, plan_shot, report_paths, shot_bounds, window_gain,
)
from spatialme.disparity import DisparityConfig, depth_to_disparity
from spatialme.pipeline import PipelineConfig
from spatialme.video import VideoWriter, read_frames

REPO = Path(__file__).resolve().parents[1]
H, W, N = 96, 256, 8  # frame size; frames per shot
RECT = (slice(24, 72), slice(72, 184))  # the subject: 87.5 % of the central window's columns
FAR_BLOCK = (slice(4, 20), slice(24, 64))  # background, away from the subject and the frame edges
NEAR_BLOCK = (slice(36, 60), slice(100, 156))  # inside the subject


def _texture(rng: np.random.Generator, tint: tuple[int, int, int]) -> np.ndarray:
    """``(H, W, 3) uint8`` smooth random texture (good for sub-pixel matching) with a colour cast."""
    noise = cv2.GaussianBlur(rng.normal(0.0, 1.0, (H, W)).astype(np.float32), (0, 0), 1.2)
    noise = (noise - noise.mean()) / noise.std()
    return np.clip(128 + 55 * noise[..., None] + np.float32(tint), 0, 255).astype(np.uint8)


def _write(folder: Path, name: str, frames: np.ndarray, depth: np.ndarray) -> tuple[Path, Path]:
    clip, sidecar = folder / f"{name}.mp4", folder / f"{name}_depth.npy"
    with VideoWriter(clip, 10, crf=6) as writer:
        writer.write(frames)
    np.save(sidecar, depth)
    return clip, sidecar


@pytest.fixture(scope="module")
def two_shots(tmp_path_factory) -> tuple[Path, Path]:
    """A flat indoor shot (two planes 0.45 / 0.55) cut to a deep outdoor one (0.0 / 1.0) at frame 8."""
    rng = np.random.default_rng(3)
    indoor, outdoor = _texture(rng, (60, 5, -40)), _texture(rng, (-50, 20, 60))
    frames = np.stack([indoor] * N + [outdoor] * N)
    depth = np.zeros((2 * N, H, W), np.float32)
    depth[:N], depth[N:] = 0.45, 0.0
    depth[:N, RECT[0], RECT[1]] = 0.55
    depth[N:, RECT[0], RECT[1]] = 1.0
    return _write(tmp_path_factory.mktemp("shots"), "shots", frames, depth)


@pytest.fixture(scope="module")
def edge_clip(tmp_path_factory) -> tuple[Path, Path]:
    """One shot: far background (0), the subject at 0.2, and a near bar (1.0) cut by the left frame edge."""
    rng = np.random.default_rng(4)
    frames = np.stack([_texture(rng, (40, 40, 40))] * 6)
    depth = np.zeros((6, H, W), np.float32)
    depth[:, RECT[0], RECT[1]] = 0.2
    depth[:, :, :24] = 1.0
    return _write(tmp_path_factory.mktemp("edge"), "edge", frames, depth)


def _decode_views(path: Path) -> tuple[np.ndarray, np.ndarray]:
    frames = np.concatenate(list(read_frames(str(path))))
    return frames[:, :, :W], frames[:, :, W:]


def _parallax_px(left: np.ndarray, right: np.ndarray, block: tuple[slice, slice], search: int = 10) -> float:
    """Measured parallax of a block, px: the shift ``p`` with ``right[y, x + p] ~ left[y, x]`` (SSD + parabola)."""
    grey_l = cv2.cvtColor(left, cv2.COLOR_RGB2GRAY).astype(np.float32)
    grey_r = cv2.cvtColor(right, cv2.COLOR_RGB2GRAY).astype(np.float32)
    rows, cols = block
    ref = grey_l[rows, cols]
    shifts = np.arange(-search, search + 1)
    cost = np.array([np.mean((grey_r[rows, cols.start + s : cols.stop + s] - ref) ** 2) for s in shifts])
    k = int(np.argmin(cost))
    assert 0 < k < len(shifts) - 1, "the match lies at the edge of the search range"
    a, b, c = cost[k - 1 : k + 2]
    return float(shifts[k] + 0.5 * (a - c) / (a - 2 * b + c))


def _convert(clip: Path, out: Path, report: Path | None = None, **kwargs):
    pipe = StereoPipeline.from_pretrained(config=PipelineConfig(device="cpu"))
    return pipe.convert(clip, out, variant="poly", report=report, overwrite=True, **kwargs)


# --------------------------------------------------------------------------- displays and bands


def test_bands_follow_the_angular_limit_and_the_field_of_view():
    for display in DISPLAYS.values():
        lo, hi = display.band_pct
        assert hi == pytest.approx(2 * lo)  # 0.5 .. 1 degree
        assert hi == pytest.approx(100 * np.radians(1.0) / (2 * np.tan(np.radians(display.fov_deg / 2))))
    assert DISPLAYS["headset"].band_pct == pytest.approx((0.936, 1.871), abs=1e-3)
    assert DISPLAYS["headset"].band_pct[1] < DISPLAYS["tv"].band_pct[1] < DISPLAYS["phone"].band_pct[1]
    assert parallax_pct(1.0, 30.0) == pytest.approx(3.257, abs=1e-3)


def test_bad_settings_are_one_clear_error():
    with pytest.raises(ValueError, match="^display: expected one of headset, tv, phone"):
        get_display("cinema")
    with pytest.raises(ValueError, match="^strength: "):
        ComfortConfig(strength="strong")
    with pytest.raises(ValueError, match="^divergence: "):
        ComfortConfig(divergence=12.0)
    with pytest.raises(ValueError, match="^convergence: "):
        ComfortConfig(convergence=-0.1)
    with pytest.raises(ValueError, match="^fov_deg: "):
        parallax_pct(1.0, 0.0)
    with pytest.raises(ValueError, match="^report: "):
        report_paths("folder/")
    assert report_paths("out/budget.json") == (Path("out/budget.json"), Path("out/budget.png"))


# --------------------------------------------------------------------------- planning


def test_shot_bounds_start_at_the_cuts():
    cuts = np.zeros(10, bool)
    cuts[[0, 4, 7]] = True
    assert shot_bounds(cuts) == [(0, 4), (4, 7), (7, 10)]
    assert shot_bounds(np.zeros(3, bool)) == [(0, 3)]
    assert shot_bounds(np.zeros(0, bool)) == []


def test_frame_stats_and_parallax_percentiles_agree_with_the_mapping():
    z = np.zeros((2, H, W), np.float32)
    z[:, RECT[0], RECT[1]] = 1.0
    stats = frame_stats(z)
    assert stats[:, :3].tolist() == [[0.0, 1.0, 1.0]] * 2  # q1, q99, subject
    assert stats[:, 3:].tolist() == [[0.0, 0.0]] * 2  # nothing near at the edges
    disp = depth_to_disparity(z, DisparityConfig(2.0, 1.0))
    assert np.allclose(parallax_percentiles(disp), [[0.0, 2.0]] * 2)  # subject on the screen, rest behind


def _stats(ranges, subject=0.5, edges=(0.0, 0.0)) -> np.ndarray:
    out = np.zeros((len(ranges), 5))
    out[:, 1] = ranges
    out[:, 2] = subject
    out[:, 3:] = edges
    return out


def test_plan_keeps_every_frame_in_the_band_and_the_subject_on_the_screen():
    band = DISPLAYS["headset"].band_pct
    stats = _stats([1.0, 0.7, 0.8, 0.9, 0.75], subject=0.6)
    plan = plan_shot(stats, 0, 5, W, band)
    spans = plan.divergence * (stats[:, 1] - stats[:, 0]) / (plan.near_hi - plan.near_lo)
    assert np.all((spans > band[0]) & (spans < band[1]))
    assert plan.convergence == pytest.approx(0.6) and not plan.window
    # ranges that vary more than the band allows: the comfort (upper) limit wins
    wide = _stats([1.0, 0.1])
    plan = plan_shot(wide, 0, 2, W, band)
    assert plan.divergence * 1.0 <= band[1]
    # given values win
    given = plan_shot(stats, 0, 5, W, band, divergence=3.0, convergence=0.1)
    assert (given.divergence, given.convergence) == (3.0, 0.1)


def test_plan_flat_shot_goes_on_the_screen():
    plan = plan_shot(_stats([0.0, 0.0]) + 0.3, 0, 2, W, DISPLAYS["tv"].band_pct)
    assert np.allclose(plan.disparity(np.full((4, 4), 0.3, np.float32), W), 0.0)


def test_near_edge_object_gets_a_window_or_a_pulled_convergence():
    band = DISPLAYS["headset"].band_pct
    stats = _stats([1.0, 1.0], subject=0.2, edges=(1.0, 0.0))  # near thing at the left edge
    plan = plan_shot(stats, 0, 2, W, band)
    crossed = plan.divergence / 100 * W * (1.0 - plan.convergence)
    assert plan.window and plan.window_px == (int(np.ceil(crossed)), 0) and not plan.pulled
    pulled = plan_shot(stats, 0, 2, W, band, max_window_pct=0.5)
    assert pulled.pulled and not pulled.window and pulled.convergence == pytest.approx(1.0)
    fixed = plan_shot(stats, 0, 2, W, band, max_window_pct=0.5, convergence=0.2)  # a given convergence stays
    assert fixed.window and not fixed.pulled
    assert not plan_shot(stats, 0, 2, W, band, windows=False).window


def test_window_darkens_the_eye_that_sees_past_the_edge():
    gain = window_gain(4, 20)
    assert gain[:4].tolist() == [0.0] * 4 and 0 < gain[4] < gain[5] < 1 and gain[6:].tolist() == [1.0] * 14
    left = np.full((3, 20, 3), 200, np.uint8)
    right = left.copy()
    out_l, out_r = apply_window(left, right, (4, 0))
    assert out_l[:, :4].max() == 0 and out_l[:, 6:].min() == 200 and out_r is right
    out_l, out_r = apply_window(left, right, (0, 3))
    assert out_r[:, -3:].max() == 0 and out_r[:, :-5].min() == 200 and out_l is left


# --------------------------------------------------------------------------- conversion


@pytest.fixture(scope="module")
def converted(two_shots, tmp_path_factory):
    """The two-shot clip converted with auto strength and with the fixed default, with reports."""
    clip, depth = two_shots
    folder = tmp_path_factory.mktemp("converted")
    auto = _convert(clip, folder / "auto_LR.mp4", folder / "auto", depth=depth, comfort=ComfortConfig())
    fixed = _convert(clip, folder / "fixed_LR.mp4", folder / "fixed", depth=depth)
    return auto, fixed


def test_auto_strength_puts_every_frame_in_the_band(converted):
    auto, fixed = converted
    report = json.loads(Path(auto.report["json"]).read_text())
    lo, hi = report["band_pct"]
    assert report["display"] == "headset" and (lo, hi) == pytest.approx(DISPLAYS["headset"].band_pct, abs=1e-4)
    spans = [f["parallax_pct"][1] - f["parallax_pct"][0] for f in report["frames"]]
    assert len(spans) == 2 * N and all(lo <= s <= hi for s in spans)
    assert [(s["start"], s["end"]) for s in report["shots"]] == [(0, N), (N, 2 * N)]  # the second starts at the cut
    assert all(s["convergence"] == pytest.approx(1.0) for s in report["shots"])  # the subject on the screen
    assert all(abs(f["parallax_pct"][0]) < 1e-3 for f in report["frames"])  # ... is the nearest, p1 = 0
    assert not any(s["window"] for s in report["shots"])
    # the fixed default leaves the flat indoor shot below the band (the clip's range is the outdoor shot's)
    flat = json.loads(Path(fixed.report["json"]).read_text())
    spans = [f["parallax_pct"][1] - f["parallax_pct"][0] for f in flat["frames"]]
    assert all(s < lo for s in spans[:N]) and spans[0] == pytest.approx(0.2, abs=1e-3)
    assert [(s["start"], s["divergence"]) for s in flat["shots"]] == [(0, 2.0), (N, 2.0)]


def test_rendered_views_have_the_planned_parallax(converted):
    auto, fixed = converted
    lo, hi = (p / 100 * W for p in DISPLAYS["headset"].band_pct)
    report = json.loads(Path(auto.report["json"]).read_text())
    left, right = _decode_views(Path(auto.output))
    for t in (1, N - 1, N, 2 * N - 1):  # both shots, either side of the cut
        near = _parallax_px(left[t], right[t], NEAR_BLOCK)
        far = _parallax_px(left[t], right[t], FAR_BLOCK)
        planned = (report["frames"][t]["parallax_pct"][1] - report["frames"][t]["parallax_pct"][0]) / 100 * W
        assert abs(near) < 0.3  # the subject is on the screen plane
        assert far - near == pytest.approx(planned, abs=0.3)
        assert lo - 0.3 < far - near < hi + 0.3
    left, right = _decode_views(Path(fixed.output))
    flat = _parallax_px(left[1], right[1], FAR_BLOCK) - _parallax_px(left[1], right[1], NEAR_BLOCK)
    assert flat < lo - 0.3  # below the band: about 0.5 px


def test_near_object_at_the_edge_gets_a_floating_window(edge_clip, tmp_path):
    clip, depth = edge_clip
    frames = np.concatenate(list(read_frames(str(clip))))
    result = _convert(clip, tmp_path / "edge_LR.mp4", tmp_path / "edge", depth=depth, comfort="auto")
    shot = json.loads(Path(result.report["json"]).read_text())["shots"][0]
    assert shot["window"] and not shot["pulled"] and shot["window_px"][1] == 0
    width = shot["window_px"][0]
    crossed = shot["divergence"] / 100 * W * (1.0 - shot["convergence"])
    assert width >= crossed > 2.0  # the window's edge is at least as near as the bar
    left, right = _decode_views(Path(result.output))
    assert frames[:, :, :width].mean() > 90  # the input is bright there ...
    assert left[:, :, :width].mean() < 12  # ... the left eye's edge is black
    assert left[:, :, width + 4 :].mean() > 90 and right[:, :, :width].mean() > 90  # the rest and the other eye are not
    assert right[:, :, -width:].mean() > 90  # nothing near at the right edge
    # a window narrower than the bar needs: the convergence is pulled back instead
    pulled = _convert(clip, tmp_path / "pulled_LR.mp4", tmp_path / "pulled", depth=depth,
                      comfort=ComfortConfig(max_window_pct=0.5))
    shot = json.loads(Path(pulled.report["json"]).read_text())["shots"][0]
    assert shot["pulled"] and not shot["window"] and shot["convergence"] == pytest.approx(1.0)
    left, _ = _decode_views(Path(pulled.output))
    assert left[:, :, :width].mean() > 90


def test_auto_strength_on_a_photo(tmp_path):
    from spatialme.video import read_image, write_image

    rng = np.random.default_rng(5)
    photo = tmp_path / "photo.png"
    write_image(photo, _texture(rng, (0, 0, 0)))
    depth = np.zeros((1, H, W), np.float32)
    depth[:, RECT[0], RECT[1]] = 3.0  # any units
    np.save(tmp_path / "photo_depth.npy", depth)
    result = _convert(photo, tmp_path / "photo_LR.png", tmp_path / "photo", depth=tmp_path / "photo_depth.npy",
                      comfort=ComfortConfig(display="phone"))
    report = json.loads(Path(result.report["json"]).read_text())
    (p1, p99), = [f["parallax_pct"] for f in report["frames"]]
    lo, hi = DISPLAYS["phone"].band_pct
    assert lo <= p99 - p1 <= hi and report["fps"] == 0.0 and len(report["shots"]) == 1
    stereo = read_image(result.output)
    far = _parallax_px(stereo[:, :W], stereo[:, W:], FAR_BLOCK)
    assert far == pytest.approx((p99 - p1) / 100 * W, abs=0.3)


def test_given_divergence_and_convergence_win_over_auto(two_shots, tmp_path):
    clip, depth = two_shots
    result = _convert(clip, tmp_path / "given_LR.mp4", tmp_path / "given", depth=depth,
                      comfort=ComfortConfig(divergence=3.0), max_frames=N + 2)
    shots = json.loads(Path(result.report["json"]).read_text())["shots"]
    assert [s["divergence"] for s in shots] == [3.0, 3.0] and shots[1]["end"] == N + 2
    result = _convert(clip, tmp_path / "given2_LR.mp4", tmp_path / "given2", depth=depth,
                      comfort=ComfortConfig(convergence=0.0), max_frames=2)
    assert json.loads(Path(result.report["json"]).read_text())["shots"][0]["convergence"] == 0.0


def test_report_plot_marks_the_band_and_the_cut(converted):
    auto, _ = converted
    png = cv2.imread(auto.report["png"])
    report = json.loads(Path(auto.report["json"]).read_text())
    assert png is not None and np.array_equal(png, draw_plot(report))
    assert png.shape == (620, 1000, 3)
    band = np.all(png == (200, 235, 200), axis=-1)  # the shaded band (BGR)
    assert band.sum() > 10000
    cut = np.all(png == (180, 60, 180), axis=-1)  # the dashed cut lines
    columns = np.flatnonzero(cut.sum(axis=0) > 100)
    assert len(columns) and abs(columns.mean() - (70 + (1000 - 20 - 70) * N / (2 * N))) < 3


def test_disparity_is_described_not_remapped(two_shots, tmp_path):
    clip, depth = two_shots
    disparity = tmp_path / "disp.npy"
    np.save(disparity, depth_to_disparity(np.load(depth), DisparityConfig(4.0, 0.0)))
    result = _convert(clip, tmp_path / "disp_LR.mp4", tmp_path / "disp", disparity=disparity)
    report = json.loads(Path(result.report["json"]).read_text())
    assert report["depth"] == "disparity" and report["strength"] == "fixed"
    assert report["shots"][1]["divergence"] == pytest.approx(4.0, abs=1e-3)
    assert report["shots"][0]["divergence"] == pytest.approx(0.4, abs=1e-3)  # 4 % x 0.1
    with pytest.raises(ValueError, match="^strength: 'auto' chooses divergence"):
        _convert(clip, tmp_path / "x_LR.mp4", disparity=disparity, comfort="auto")
    with pytest.raises(ValueError, match="^depth: give a depth sidecar or a disparity, not both"):
        _convert(clip, tmp_path / "x_LR.mp4", disparity=disparity, depth=depth)


def test_bad_depth_sidecars_are_refused_before_any_work(two_shots, tmp_path):
    clip, _ = two_shots
    cases = {
        "short.npy": (np.zeros((3, H, W), np.float32), "^depth: has 3 frames but 16 are needed"),
        "square.npy": (np.zeros((16, 64, 64), np.float32), "^depth: is 64x64 but the input is 256x96"),
        "nan.npy": (np.full((16, H, W), np.nan, np.float32), "^depth: frame 0 holds NaN"),
        "ints.npy": (np.zeros((16, H, W), np.int16), r"^depth: expected a float \(T, H, W\) array of relative inverse depth"),
    }
    for name, (array, message) in cases.items():
        np.save(tmp_path / name, array)
        with pytest.raises(ValueError, match=message):
            _convert(clip, tmp_path / "bad_LR.mp4", depth=tmp_path / name, comfort="auto")
        assert not (tmp_path / "bad_LR.mp4").exists()
    # a half-size sidecar with the input's aspect ratio is resized
    np.save(tmp_path / "half.npy", np.load(two_shots[1])[:, ::2, ::2])
    assert _convert(clip, tmp_path / "half_LR.mp4", depth=tmp_path / "half.npy", comfort="auto").frames == 2 * N


# --------------------------------------------------------------------------- the depth model's two passes


def _temp_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("spatialme-depth-*"))


def test_auto_with_the_depth_model_keeps_depth_once_and_deletes_it(tiny_depth_dir, two_shots, tmp_path, monkeypatch):
    import tempfile

    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    clip, _ = two_shots
    config = PipelineConfig(device="cpu", depth_model=str(tiny_depth_dir), depth_input_size=28)
    pipe = StereoPipeline.from_pretrained(config=config)
    calls = {"depth": 0}
    model = pipe.depth_estimator.model
    predict = model.predict

    def counting(frames):
        calls["depth"] += len(frames)
        return predict(frames)

    monkeypatch.setattr(model, "predict", counting)
    seen: list[tuple[str, int]] = []

    def progress(done, total, stage):
        seen.append((stage, len(_temp_files(scratch))))

    result = pipe.convert(clip, tmp_path / "model_LR.mp4", variant="poly", comfort="auto", report=tmp_path / "model",
                          progress=progress)
    assert calls["depth"] == 2 * N  # depth ran once per frame, in the first pass
    assert [s for s, _ in seen][0] == "depth" and seen[-1][0] == "synthesis"
    assert all(kept == 1 for stage, kept in seen if stage == "synthesis")  # the memory map, during the conversion
    assert _temp_files(scratch) == []  # ... and deleted after it
    report = json.loads(Path(result.report["json"]).read_text())
    assert report["depth"] == "model" and [s["start"] for s in report["shots"]] == [0, N]
    hi = report["band_pct"][1]
    assert all(f["parallax_pct"][1] - f["parallax_pct"][0] <= hi for f in report["frames"])

    # fixed strength with a report: one pass, the shots recorded as they go by
    calls["depth"] = 0
    result = pipe.convert(clip, tmp_path / "fixed_LR.mp4", variant="poly", report=tmp_path / "fixed")
    report = json.loads(Path(result.report["json"]).read_text())
    assert calls["depth"] == 2 * N and report["strength"] == "fixed" and report["depth"] == "model"
    assert [(s["start"], s["divergence"], s["convergence"]) for s in report["shots"]] == [(0, 2.0, 0.5), (N, 2.0, 0.5)]

    # an error or a stopping signal in the conversion pass deletes it too
    from spatialme.io import Stopped

    for error in (RuntimeError("boom"), Stopped(15)):
        def fail(*args, error=error, **kwargs):
            raise error

        monkeypatch.setattr(StereoPipeline, "_synthesize_chunk", fail)
        with pytest.raises(type(error)):
            pipe.convert(clip, tmp_path / "fail_LR.mp4", variant="poly", comfort="auto")
        assert _temp_files(scratch) == [] and not (tmp_path / "fail_LR.mp4").exists()


# --------------------------------------------------------------------------- CLI and web app


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "spatialme", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)


def test_cli_auto_strength_with_a_depth_sidecar_and_a_report(two_shots, tmp_path):
    clip, depth = two_shots
    out = tmp_path / "cli_LR.mp4"
    res = run_cli("convert", str(clip), "-o", str(out), "--depth", str(depth), "--strength", "auto", "--display", "tv",
                  "--variant", "poly", "--report", str(tmp_path / "budget"), "--quiet", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "wrote" in res.stdout and "budget.json" in res.stdout
    report = json.loads((tmp_path / "budget.json").read_text())
    lo, hi = report["band_pct"]
    assert report["display"] == "tv" and (lo, hi) == pytest.approx(DISPLAYS["tv"].band_pct, abs=1e-4)
    assert all(lo <= f["parallax_pct"][1] - f["parallax_pct"][0] <= hi for f in report["frames"])
    assert cv2.imread(str(tmp_path / "budget.png")).shape == (620, 1000, 3)
    res = run_cli("convert", str(clip), "-o", str(tmp_path / "x.mp4"), "--disparity", str(depth), "--strength", "auto",
                  cwd=tmp_path)
    assert res.returncode == 2 and res.stderr.startswith("error: strength: 'auto'") and len(res.stderr.splitlines()) == 1
    res = run_cli("convert", str(clip), "-o", str(tmp_path / "x.mp4"), "--depth", str(clip), cwd=tmp_path)
    assert res.returncode == 2 and res.stderr.startswith("error: depth: ") and len(res.stderr.splitlines()) == 1


def test_web_app_auto_strength_with_a_depth_sidecar_shows_the_plot(two_shots, tmp_path):
    from spatialme import webapp as support

    clip, depth = two_shots
    job = support.plan_conversion(clip, variant="poly", sidecar=depth, sidecar_kind="nearness", strength="auto",
                                  display="phone", root=tmp_path)
    assert job.depth_path and job.disparity_path is None and not job.needs_depth
    models = support.AppModels(pipeline=StereoPipeline.from_pretrained(config=PipelineConfig(device="cpu")))
    result = support.run_conversion(models, job)
    report = json.loads(Path(result.report["json"]).read_text())
    lo, hi = DISPLAYS["phone"].band_pct
    assert all(lo <= f["parallax_pct"][1] - f["parallax_pct"][0] <= hi for f in report["frames"])
    assert Path(result.report["png"]).is_file()
    summary = support.summary_markdown(job, result)
    assert "automatic strength for a phone" in summary and "2 shots" in summary
    # a disparity sidecar is used as it is, with a report all the same
    disparity = tmp_path / "disp.npy"
    np.save(disparity, depth_to_disparity(np.load(depth), DisparityConfig(2.0, 0.5)))
    job = support.plan_conversion(clip, variant="poly", sidecar=disparity, strength="auto", root=tmp_path)
    assert job.strength == "fixed" and job.disparity_path
    result = support.run_conversion(models, job)
    assert "sidecar's pixels" in support.summary_markdown(job, result) and Path(result.report["png"]).is_file()
    with pytest.raises(ValueError, match="^display: "):
        support.plan_conversion(clip, display="cinema", root=tmp_path)


def test_readme_documents_the_displays_and_the_report():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for display in DISPLAYS.values():
        lo, hi = display.band_pct
        row = f"| `{display.name}` | {display.fov_deg:g} degrees |"
        assert row in readme and f"| {lo:.2f}-{hi:.2f} |" in readme.split(row, 1)[1].splitlines()[0], display.name
    for field in ("band_pct", "parallax_pct", "window_px", "pulled", "--report PATH", "--depth", "--strength auto"):
        assert field in readme, field
