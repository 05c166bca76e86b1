"""The strength sweep: conditions, hole widths, the table, the CLI (``eval --sweep``, ``--pair``)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from spatialme import StereoPipeline
from spatialme.data.pairs import StereoPair, motorcycle
from spatialme.data.textures import load_textures
from spatialme.evaluate import EvalConfig, evaluate_pair
from spatialme.sweep import SweepConfig, hole_run_widths, run_sweep, scene_config, sweep_table

REPO = Path(__file__).resolve().parents[1]


def test_hole_run_widths_are_exact():
    holes = np.zeros((2, 3, 10), bool)
    holes[0, 0, 2:5] = True
    holes[0, 0, 7:10] = True
    holes[0, 2, 0] = True
    holes[1, 1, 1:9] = True
    assert hole_run_widths(holes).tolist() == [3, 3, 1, 8]
    assert hole_run_widths(np.zeros((4, 4), bool)).size == 0


def test_sweep_config_errors():
    for kwargs, match in (({"pcts": ()}, "pcts"), ({"sizes": ((10, 10),)}, "sizes"), ({"disparities": ("soft",)}, "disparities"), ({"scenes": 0}, "scenes"),
                          ({"edge_grow": -1}, "edge_grow"), ({"edge_grow": 17}, "edge_grow"), ({"edge_grow": 1.5}, "edge_grow")):
        with pytest.raises(ValueError, match=match):
            SweepConfig(**kwargs)


@pytest.fixture(scope="module")
def small_sweep():
    """A small fast version of the sweep: one size, a mild and a strong 3D, both disparities."""
    pipe = StereoPipeline.from_pretrained()
    sweep = SweepConfig(pcts=(2.0, 8.0), sizes=((144, 256),), scenes=1, frames=2)
    return run_sweep(pipe, load_textures(), sweep, EvalConfig(variants=("poly", "dl"), disparity_source="given"))


def test_sweep_rows_cover_the_conditions_with_growing_holes(small_sweep):
    assert [(r.width, r.pct, r.disparity) for r in small_sweep] == [(256, 2.0, "exact"), (256, 2.0, "estimated"), (256, 8.0, "exact"), (256, 8.0, "estimated")]
    for row in small_sweep:
        assert set(row.result.rows) == {"poly", "dl", "telea"}
        assert all(math.isfinite(row.result.rows[n]["PSNR-hole"]) for n in row.result.rows)
    # 8 % of 256 px is about 20 px: wider holes than at 2 %
    assert small_sweep[2].hole_widths[2] > 2 * small_sweep[0].hole_widths[2]
    table = sweep_table(small_sweep)
    lines = table.splitlines()
    assert lines[0].startswith("| size | nearest | disparity | holes p50/p90/p99 px | method | PSNR | PSNR-hole")
    assert len(lines) == 2 + 4 * 3
    for k in range(4):  # each condition has exactly one bold cell per column
        block = [line.split("|")[6:-1] for line in lines[2 + 3 * k : 5 + 3 * k]]
        for col in range(4):
            assert sum("**" in cells[col] for cells in block) == 1


def test_edge_grow_moves_the_estimated_boundary_and_leaves_the_exact_rows(small_sweep):
    """A grown boundary (the nearer side dilated before the blur) changes the estimated-like rows only."""
    from spatialme.data.degrade import soften_edges
    from spatialme.data.synthetic import render_scene

    pipe = StereoPipeline.from_pretrained()
    sweep = SweepConfig(pcts=(2.0, 8.0), sizes=((144, 256),), scenes=1, frames=2, edge_grow=2)
    grown = run_sweep(pipe, load_textures(), sweep, EvalConfig(variants=("poly", "dl"), disparity_source="given"))
    for plain, row in zip(small_sweep, grown):
        same = row.result.rows["poly"]["PSNR"] == plain.result.rows["poly"]["PSNR"]
        assert same == (row.disparity == "exact"), (row.pct, row.disparity)
    scene = render_scene(load_textures(), scene_config(144, 256, 8.0, 2, sweep.shapes), sweep.seed)
    near = scene.disparity > scene.disparity.min() + 1  # the objects
    fat = soften_edges(scene.disparity, 0.0, 2) > scene.disparity.min() + 1
    assert fat.sum() > near.sum() and (fat | near).sum() == fat.sum()  # the nearer side grew outwards


def test_evaluate_pair_on_the_motorcycle_scores_only_trusted_pixels():
    pipe = StereoPipeline.from_pretrained()
    pair = motorcycle()
    size = (247, 167)  # a third of the pair, disparity scaled with it
    small = StereoPair(
        cv2.resize(pair.left, size, interpolation=cv2.INTER_AREA),
        cv2.resize(pair.right, size, interpolation=cv2.INTER_AREA),
        (cv2.resize(pair.disparity, size, interpolation=cv2.INTER_AREA) / 3.0).astype(np.float32),
        cv2.resize(pair.valid.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST) > 0,
        "small",
    )
    result = evaluate_pair(pipe, small, EvalConfig(variants=("poly",)))
    assert set(result.rows) == {"poly", "telea"} and result.frames == 1
    assert 15 < result.rows["poly"]["PSNR"] < 40 and result.hole_fraction > 0.05
    with pytest.raises(ValueError, match="pair"):
        evaluate_pair(pipe, "motorcycle")


def run_cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "spatialme", *args], cwd=cwd, capture_output=True, text=True, timeout=900,
                          env={**__import__("os").environ, "PYTHONPATH": str(REPO)})


def test_cli_sweep_and_pair(tmp_path):
    left = np.random.default_rng(0).integers(0, 255, (48, 80, 3), np.uint8)
    cv2.imwrite(str(tmp_path / "l.png"), left)
    cv2.imwrite(str(tmp_path / "r.png"), np.roll(left, -3, axis=1))
    np.save(tmp_path / "d.npy", np.full((48, 80), 3.0, np.float32))
    out = tmp_path / "scores.json"
    res = run_cli("eval", "--sweep", "--sweep-sizes", "160x96", "--sweep-pcts", "3", "--scenes", "1", "--sweep-frames", "2", "--edge-grow", "2",
                  "--variants", "poly", "--pair", "l.png", "r.png", "d.npy", "--json", str(out), cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "estimated-like = edges nearer side grown 2 px, then blurred sigma 1 px at 256 px wide" in res.stdout
    assert "| 160x96 | 3 % | exact |" in res.stdout and "| 160x96 | 3 % | estimated |" in res.stdout
    assert "pair l: 80x48, true disparity 3-3 px" in res.stdout
    data = json.loads(out.read_text())
    assert [r["disparity"] for r in data["sweep"]] == ["exact", "estimated"] and set(data["pair_l"]["rows"]) == {"poly", "telea"}
    bad = run_cli("eval", "--pair", "l.png", "r.png", "missing.npy", cwd=tmp_path)
    assert bad.returncode == 2 and bad.stderr.strip().splitlines() == ["error: disparity: no such file missing.npy"]


HELD_OUT = Path(__file__).resolve().parent / "data" / "held_out_textures"


@pytest.fixture(scope="module")
def ordering_sweep():
    """The sweep's orderings on a small fast version: 256x144, mild and strong 3D, held-out photos."""
    from spatialme.data.textures import list_textures
    from spatialme.pipeline import VARIANTS

    pipe = StereoPipeline.from_pretrained()
    sweep = SweepConfig(pcts=(2.0, 8.0), sizes=((144, 256),), scenes=2, frames=2)
    return run_sweep(pipe, load_textures(list_textures(HELD_OUT)), sweep, EvalConfig(variants=VARIANTS, disparity_source="given"))


def test_full_is_best_over_the_frame_and_beats_poly_and_telea_in_the_holes(ordering_sweep):
    """What the shipped weights achieve on this small, fast version. At 256x144 (the smallest
    training width) and 8 % DL alone is still a little better inside the holes: 0.1 dB with exact
    and 0.25 dB with estimated-like disparity (18.90 vs 18.99, 18.95 vs 19.19), so the hole
    ordering against DL and DL+DE is pinned with a 0.5 dB margin; on the product-size sweep
    (model card) full is ahead of DL in those holes at both sizes. Outside the holes the issue's
    target holds here: full within 0.2 dB of Poly (it is 0.3-0.6 dB ahead)."""
    for row in ordering_sweep:
        scores = row.result.rows
        others = {name: scores[name]["PSNR"] for name in ("poly", "dl", "dl+de", "telea")}
        assert scores["full"]["PSNR"] > max(others.values()), (row.pct, row.disparity, scores["full"]["PSNR"], others)
        for name in ("poly", "telea"):
            assert scores["full"]["PSNR-hole"] > scores[name]["PSNR-hole"] + 2.0, (row.pct, row.disparity, name)
        for name in ("dl", "dl+de"):
            assert scores["full"]["PSNR-hole"] > scores[name]["PSNR-hole"] - 0.5, (row.pct, row.disparity, name)
        assert scores["full"]["PSNR-out"] >= scores["poly"]["PSNR-out"] - 0.2, (row.pct, row.disparity)


def test_default_variant_is_full():
    from spatialme.pipeline import DEFAULT_VARIANT

    assert DEFAULT_VARIANT == "full"


def test_scene_config_scales_the_row_with_the_width():
    cfg = scene_config(360, 640, 2.0, 3)
    assert (cfg.height, cfg.width, cfg.frames, cfg.shapes) == (360, 640, 3, "varied")
    assert cfg.max_disparity == 12.8 and cfg.camera_speed == 2.5 and cfg.object_speed == 3.75
    assert scene_config(64, 128, 40.0, 2).max_disparity == 32.0  # at most a quarter of the width
