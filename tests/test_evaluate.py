"""Evaluation: rows per variant and baseline, hole scores, unavailable variants, the CLI."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from spatialme import StereoPipeline, VariantUnavailable, cli, metrics
from spatialme.data.synthetic import SceneConfig, render_scene
from spatialme.data.textures import load_textures
from spatialme.evaluate import (
    COLUMNS,
    EvalConfig,
    EvalResult,
    aggregate,
    evaluate_clip,
    evaluate_stereo,
    evaluate_synthetic,
    lpips_status,
)
from spatialme.video import write_image

REPO = Path(__file__).resolve().parents[1]
GIVEN = EvalConfig(disparity_source="given")


@pytest.fixture(scope="module")
def scene():
    return render_scene(load_textures(), SceneConfig(height=80, width=128, frames=4, max_disparity=8.0), seed=11)


@pytest.fixture(scope="module")
def pipe():
    return StereoPipeline.from_pretrained()


@pytest.fixture(scope="module")
def result(pipe, scene):
    return evaluate_clip(pipe, scene.left, scene.right, scene.disparity, GIVEN)


class PolyOnly(StereoPipeline):
    """A build without the learned parts: every other variant is unavailable."""

    def synthesize(self, left, disparity, variant="poly"):
        if variant != "poly":
            raise VariantUnavailable(f"variant: {variant!r} is not in this build")
        return super().synthesize(left, disparity, variant)


def test_rows_and_columns(result, scene):
    assert list(result.rows) == ["poly", "telea"]
    for row in result.rows.values():
        assert set(row) >= set(COLUMNS)
        assert all(math.isfinite(v) for v in row.values())
    assert result.frames == 4 and result.clips == 1
    assert 0.0 < result.hole_fraction < 0.2
    for name, err in result.error_maps.items():
        assert err.shape == scene.disparity.shape and err.dtype == np.float32


def test_poly_beats_left_as_right(result, scene):
    copy = {"MAE": metrics.mae(scene.left, scene.right), "PSNR": metrics.psnr(scene.left, scene.right), "SSIM": metrics.ssim(scene.left, scene.right)}
    poly = result.rows["poly"]
    assert poly["MAE"] < copy["MAE"] / 2
    assert poly["PSNR"] > copy["PSNR"] + 5
    assert poly["SSIM"] > copy["SSIM"]


def test_holes_are_harder_than_the_whole_frame(result):
    for row in result.rows.values():
        assert row["MAE-hole"] > row["MAE"]
        assert row["PSNR-hole"] < row["PSNR"]
        assert row["SSIM-hole"] < row["SSIM"]


def test_rows_match_the_metrics(pipe, scene, result):
    right = pipe.synthesize(scene.left, scene.disparity, "poly").right
    assert result.rows["poly"]["MAE"] == pytest.approx(metrics.mae(right, scene.right))
    np.testing.assert_array_equal(result.error_maps["poly"], metrics.error_map(right, scene.right))


def test_unavailable_variants_are_reported(scene):
    config = EvalConfig(variants=("poly", "dl", "full"), baselines=("telea",), disparity_source="given")
    res = evaluate_clip(PolyOnly(), scene.left, scene.right, scene.disparity, config)
    assert list(res.rows) == ["poly", "telea"]
    assert set(res.unavailable) == {"dl", "full"} and "not in this build" in res.unavailable["dl"]


def test_every_variant_is_a_row_or_unavailable(pipe, scene):
    config = EvalConfig(variants=("poly", "dl", "dl+de", "full"), baselines=(), disparity_source="given", max_frames=2)
    res = evaluate_clip(pipe, scene.left, scene.right, scene.disparity, config)
    assert set(res.rows) | set(res.unavailable) == {"poly", "dl", "dl+de", "full"}
    assert not set(res.rows) & set(res.unavailable)


def test_frame_selection(pipe, scene):
    res = evaluate_clip(pipe, scene.left, scene.right, scene.disparity, EvalConfig(disparity_source="given", every=2))
    assert res.frames == 2 and res.error_maps["poly"].shape[0] == 2
    res = evaluate_clip(pipe, scene.left, scene.right, scene.disparity, EvalConfig(disparity_source="given", max_frames=1))
    assert res.frames == 1 and math.isnan(res.rows["poly"]["temporal"])


def test_untrusted_pixels_are_not_scored(pipe, scene, result):
    nothing = np.zeros(scene.disparity.shape, bool)
    res = evaluate_clip(pipe, scene.left, scene.right, scene.disparity, GIVEN, valid=nothing)
    # only hole pixels remain scored, so the whole-frame score is the hole score
    assert res.rows["poly"]["MAE"] == pytest.approx(result.rows["poly"]["MAE-hole"])
    everything = np.ones(scene.disparity.shape, bool)
    res = evaluate_clip(pipe, scene.left, scene.right, scene.disparity, GIVEN, valid=everything)
    assert res.rows["poly"]["MAE"] == pytest.approx(result.rows["poly"]["MAE"], rel=0.05)


def test_matched_disparity(pipe, scene):
    res = evaluate_clip(pipe, scene.left, scene.right, config=EvalConfig())
    assert all(math.isfinite(v) for v in res.rows["poly"].values())
    assert res.rows["poly"]["PSNR"] > metrics.psnr(scene.left, scene.right) + 5


def test_bad_input(pipe, scene):
    with pytest.raises(ValueError, match="^disparity:"):
        evaluate_clip(pipe, scene.left, scene.right, None, GIVEN)
    with pytest.raises(ValueError, match="^disparity:"):
        evaluate_clip(pipe, scene.left, scene.right, scene.disparity, EvalConfig())
    with pytest.raises(ValueError, match="^right:"):
        evaluate_clip(pipe, scene.left, scene.right[:, :10], scene.disparity, GIVEN)
    with pytest.raises(ValueError, match="^valid:"):
        evaluate_clip(pipe, scene.left, scene.right, scene.disparity, GIVEN, valid=np.ones((2, 2), bool))
    with pytest.raises(ValueError, match="^variants:"):
        EvalConfig(variants=("sharp",))
    with pytest.raises(ValueError, match="^baselines:"):
        EvalConfig(baselines=("nope",))
    with pytest.raises(ValueError, match="^disparity_source:"):
        EvalConfig(disparity_source="depth")
    with pytest.raises(ValueError, match="^every:"):
        EvalConfig(every=0)


def test_table_and_json(result):
    table = result.table().splitlines()
    assert table[0] == "| method | " + " | ".join(COLUMNS) + " |"
    assert table[2].startswith("| poly | ") and table[3].startswith("| telea | ")
    assert len(table) == 4
    data = json.loads(json.dumps(result.to_dict()))
    assert set(data["rows"]) == {"poly", "telea"} and data["frames"] == 4
    nan_row = EvalResult(rows={"x": {"MAE": math.nan, "PSNR": math.inf}})
    assert nan_row.table().splitlines()[2] == "| x | n/a | inf |"
    assert nan_row.to_dict()["rows"]["x"] == {"MAE": None, "PSNR": None}


def test_aggregate_is_the_mean_over_clips():
    a = EvalResult(rows={"poly": {"MAE": 0.1, "MAE-hole": math.nan}}, error_maps={"poly": np.zeros((2, 4, 5), np.float32)}, frames=2, hole_fraction=0.1)
    b = EvalResult(rows={"poly": {"MAE": 0.3, "MAE-hole": 0.5}}, error_maps={"poly": np.ones((3, 4, 5), np.float32)}, unavailable={"dl": "why"}, frames=3, hole_fraction=0.3)
    mean = aggregate([a, b])
    assert mean.rows["poly"]["MAE"] == pytest.approx(0.2)
    assert mean.rows["poly"]["MAE-hole"] == pytest.approx(0.5)  # NaN skipped
    assert mean.frames == 5 and mean.clips == 2 and mean.hole_fraction == pytest.approx(0.2)
    assert mean.error_maps["poly"].shape == (5, 4, 5) and mean.unavailable == {"dl": "why"}
    c = EvalResult(rows={"poly": {"MAE": 0.2}}, error_maps={"poly": np.zeros((1, 6, 6), np.float32)})
    assert aggregate([a, c]).error_maps == {}
    with pytest.raises(ValueError, match="^results:"):
        aggregate([])


def test_evaluate_synthetic(pipe):
    config = SceneConfig(height=64, width=96, frames=3, max_disparity=6.0)
    res = evaluate_synthetic(pipe, load_textures(), 2, config, seed=3)
    assert res.clips == 2 and res.frames == 6
    one = evaluate_clip(pipe, *(lambda s: (s.left, s.right, s.disparity))(render_scene(load_textures(), config, 3)), GIVEN)
    two = evaluate_clip(pipe, *(lambda s: (s.left, s.right, s.disparity))(render_scene(load_textures(), config, 4)), GIVEN)
    assert res.rows["poly"]["MAE"] == pytest.approx((one.rows["poly"]["MAE"] + two.rows["poly"]["MAE"]) / 2)
    with pytest.raises(ValueError, match="^n_scenes:"):
        evaluate_synthetic(pipe, load_textures(), 0, config)
    soft = evaluate_synthetic(pipe, load_textures(), 2, config, seed=3, edge_blur=1.0)
    assert soft.rows["poly"]["PSNR"] != res.rows["poly"]["PSNR"]  # warped with soft-edged disparity
    assert soft.rows["poly"]["PSNR"] < res.rows["poly"]["PSNR"]  # and worse against the truth
    with pytest.raises(ValueError, match="^edge_blur:"):
        evaluate_synthetic(pipe, load_textures(), 1, config, edge_blur=-1.0)


@pytest.fixture(scope="module")
def stereo_folder(tmp_path_factory, scene):
    folder = tmp_path_factory.mktemp("stereo") / "clip"
    for view, frames in (("left", scene.left), ("right", scene.right)):
        for t, frame in enumerate(frames):
            write_image(folder / view / f"{t:03d}.png", frame)
    return folder


def test_evaluate_stereo_with_cache(pipe, scene, stereo_folder, tmp_path):
    res = evaluate_stereo(pipe, stereo_folder, EvalConfig(every=2), cache_dir=tmp_path)
    assert res.frames == 2 and list(res.rows) == ["poly", "telea"]
    left, right = scene.left[::2], scene.right[::2]
    assert res.rows["poly"]["PSNR"] > metrics.psnr(left, right) + 5  # the matched warp is far better than no shift
    assert len(list(tmp_path.glob("clip-*.npz"))) == 1
    with pytest.raises(ValueError, match="^disparity_source:"):
        evaluate_stereo(pipe, stereo_folder, GIVEN)


# --------------------------------------------------------------------------- CLI


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "spatialme", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def table_rows(stdout: str) -> list[str]:
    return [line.split("|")[1].strip() for line in stdout.splitlines() if line.startswith("| ") and not line.startswith("| method")]


def test_cli_eval_synthetic(tmp_path):
    out = tmp_path / "scores.json"
    res = run_cli("eval", "--synthetic", "2", "--height", "64", "--width", "96", "--frames", "3", "--json", str(out), cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "| method | MAE | PSNR | SSIM |" in res.stdout
    rows = table_rows(res.stdout)
    assert rows[0] == "poly" and "telea" in rows
    data = json.loads(out.read_text())
    assert set(data["synthetic"]["rows"]) == set(rows) == set(data["synthetic_estimated"]["rows"])
    assert "exact disparity" in res.stdout and "estimated-like disparity" in res.stdout
    missing = {"dl", "dl+de", "full"} - set(rows)
    if missing:
        assert "unavailable in this build: " in res.stdout and all(v in res.stdout for v in missing)
    if not lpips_status()[0]:
        assert "LPIPS omitted" in res.stdout and "LPIPS |" not in res.stdout


def test_cli_eval_stereo_folder(stereo_folder, tmp_path):
    res = run_cli("eval", "--stereo", str(stereo_folder), "--variants", "poly", "--max-frames", "2", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert table_rows(res.stdout) == ["poly", "telea"] and "2 frames scored" in res.stdout


def test_cli_eval_bad_stereo_path(tmp_path):
    res = run_cli("eval", "--stereo", "no/such/clip.mp4", cwd=tmp_path)
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: path: not found")


@pytest.mark.parametrize(
    "args, message",
    [
        ([], "nothing to evaluate"),
        (["--synthetic", "0"], "synthetic:"),
        (["--synthetic", "1", "--variants", "poly,magic"], "variants:"),
        (["--synthetic", "1", "--every", "0"], "every:"),
        (["--synthetic", "1", "--textures", "no/such/folder"], "folder:"),
        (["--stereo", "."], "path:"),
    ],
)
def test_cli_eval_bad_input_in_process(tmp_path, monkeypatch, capsys, args, message):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["eval", *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0]


def test_cli_eval_with_a_weights_folder(tmp_path):
    """--weights points eval at a folder of learned weights (tiny random ones here)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    import torch

    from spatialme.inpaint.learned import GatedInpainter
    from spatialme.refiner import MHFURefiner

    torch.manual_seed(0)
    GatedInpainter(base_channels=8, levels=2).save_pretrained(tmp_path / "inpainter")
    MHFURefiner(base_channels=8, levels=2).save_pretrained(tmp_path / "refiner")
    repo = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(repo), "HF_HUB_OFFLINE": "1"}
    res = subprocess.run(
        [sys.executable, "-m", "spatialme", "eval", "--synthetic", "1", "--frames", "3", "--height", "64", "--width", "96",
         "--variants", "poly,full", "--baselines", "telea", "--weights", str(tmp_path), "--device", "cpu"],
        env=env, capture_output=True, text=True, timeout=300,
    )
    assert res.returncode == 0, res.stderr
    assert "| full |" in res.stdout and "| poly |" in res.stdout and "unavailable" not in res.stdout
