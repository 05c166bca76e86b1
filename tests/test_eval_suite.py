"""A whole evaluation request run by the library (:mod:`spatialme.eval_suite`), no CLI involved."""

from __future__ import annotations

import json

import numpy as np
import pytest

from spatialme.eval_suite import EvalRequest, run_evaluation
from spatialme.evaluate import EvalConfig
from spatialme.io import write_image
from spatialme.pipeline import PipelineConfig, StereoPipeline
from spatialme.sweep import SweepConfig


@pytest.fixture(scope="module")
def pipe():
    return StereoPipeline(config=PipelineConfig(device="cpu"))


def test_request_runs_synthetic_sweep_and_pair_into_one_report(pipe, tmp_path):
    rng = np.random.default_rng(0)
    left = rng.integers(0, 256, (48, 80, 3), dtype=np.uint8)
    disparity = np.full((48, 80), 4.0, np.float32)
    right = np.roll(left, -4, axis=1)
    write_image(tmp_path / "l.png", left)
    write_image(tmp_path / "r.png", right)
    np.save(tmp_path / "d.npy", disparity)
    request = EvalRequest(
        config=EvalConfig(variants=("poly",), baselines=("telea",)), synthetic=1, synthetic_disparity="exact",
        height=48, width=80, frames=2, sweep=SweepConfig(pcts=(3.0,), sizes=((48, 80),), disparities=("exact",), scenes=1, frames=2),
        pairs=((str(tmp_path / "l.png"), str(tmp_path / "r.png"), str(tmp_path / "d.npy")),),
    )
    shown, notes = [], []
    report = run_evaluation(request, pipe, emit=shown.append, progress=notes.append)
    assert shown == report.sections and any("sweep 1/1" in n for n in notes)
    assert set(report.scores) == {"synthetic", "sweep", "pair_l"}
    assert set(report.scores["synthetic"]["rows"]) == {"poly", "telea"}
    assert [row["pct"] for row in report.scores["sweep"]] == [3.0]
    assert report.scores["pair_l"]["rows"]["poly"]["PSNR"] > 20  # a pure 4 px shift: only the border hole differs
    assert "| poly |" in report.text() and "pair l: 80x48, true disparity 4-4 px" in report.text()
    report.write_json(tmp_path / "out" / "scores.json")
    assert json.loads((tmp_path / "out" / "scores.json").read_text()) == report.scores


@pytest.mark.parametrize("kwargs, message", [
    ({}, "^eval: nothing to evaluate"),
    ({"synthetic": 0}, "^synthetic: expected a positive number"),
    ({"synthetic": 1, "synthetic_disparity": "rough"}, "^synthetic_disparity: expected one of exact, estimated, both"),
    ({"synthetic": 1, "edge_grow": 20}, r"^edge_grow: expected an integer in \[0, 16\]"),
])
def test_bad_requests_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        EvalRequest(**kwargs)


def test_inputs_are_checked_before_the_pipeline_loads(tmp_path):
    request = EvalRequest(pairs=((str(tmp_path / "l.png"), str(tmp_path / "r.png"), str(tmp_path / "d.npy")),))
    with pytest.raises(ValueError, match="^disparity: no such file"):  # the missing pair, before any weights load
        run_evaluation(request, weights=tmp_path / "no-weights-here")
