import csv
import json

import numpy as np
import pytest
import torch

from spatialme.data.synthetic import SceneConfig
from spatialme.train import TrainConfig, build_pool, config_from_preset, sample_batch, train

TINY_SCENE = SceneConfig(height=48, width=64, frames=2, max_disparity=6.0)


def tiny(stage, out, **kw):
    base = dict(stage=stage, out=str(out), steps=2, batch=2, crop=32, pool_scenes=2, scene=TINY_SCENE, ckpt_every=1, log_every=1,
                model={"base_channels": 8, "levels": 2})
    base.update(kw)
    return TrainConfig(**base)


def test_two_step_inpainter_then_refiner(tmp_path):
    final = train(tiny("inpainter", tmp_path / "inp"))
    assert (final / "model.safetensors").is_file() and (final / "config.json").is_file()
    rows = list(csv.DictReader((tmp_path / "inp" / "log.csv").open()))
    assert [r["step"] for r in rows] == ["1", "2"] and all(float(r["content"]) > 0 for r in rows)
    ref = train(tiny("refiner", tmp_path / "ref", inpainter=str(final)))
    rows = list(csv.DictReader((tmp_path / "ref" / "log.csv").open()))
    assert len(rows) == 2 and rows[-1]["critic"] != "" and float(rows[-1]["total"]) > 0
    from spatialme.refiner import MHFURefiner

    model = MHFURefiner.from_pretrained(str(ref))
    assert sum(p.numel() for p in model.parameters()) > 0


def test_resume_continues_from_checkpoint(tmp_path):
    out = tmp_path / "run"
    train(tiny("inpainter", out, steps=2))
    first = (out / "log.csv").read_text()
    state = torch.load(out / "ckpt.pt", weights_only=False)
    assert state["step"] == 2
    train(tiny("inpainter", out, steps=3))
    rows = list(csv.DictReader((out / "log.csv").open()))
    assert [r["step"] for r in rows] == ["1", "2", "3"]
    assert (out / "log.csv").read_text().startswith(first)


def test_pool_and_batches_centre_on_holes():
    from spatialme.data.textures import load_textures

    cfg = tiny("inpainter", "unused", de_holes=0.0)
    pool = build_pool(cfg, load_textures(), seed=3)
    assert [item["right"].shape for item in pool] == [(2, 48, 64, 3)] * 2 and all(item["hole"].any() for item in pool)
    assert all(item["disparity"].min() >= 0 and item["disparity"].max() <= 1 for item in pool)
    batch = sample_batch(pool, 5, 32, np.random.default_rng(0))
    assert batch["warped"].shape == (5, 3, 32, 32) and batch["hole"].shape == (5, 1, 32, 32)
    assert (batch["hole"].flatten(1).sum(1) > 0).all()  # every crop has holes to learn from
    assert float(batch["right"].max()) <= 1.0


def test_config_errors_and_presets():
    with pytest.raises(ValueError, match="stage"):
        TrainConfig(stage="everything")
    with pytest.raises(ValueError, match="inpainter"):
        TrainConfig(stage="refiner")
    with pytest.raises(ValueError, match="steps"):
        TrainConfig(steps=0)
    full = config_from_preset("full", stage="refiner", out="x", inpainter="y")
    assert full.steps == 300_000 and full.device == "cuda"
    assert config_from_preset("small", out="x", steps=None).steps == TrainConfig().steps


def test_pool_degrades_disparity_and_adds_de_rewarps():
    from spatialme.data.textures import load_textures

    textures = load_textures()
    exact = build_pool(tiny("inpainter", "unused", degrade=0.0, de_holes=0.0), textures, seed=3)
    soft = build_pool(tiny("inpainter", "unused", degrade=1.0, de_holes=0.0), textures, seed=3)
    both = build_pool(tiny("inpainter", "unused", degrade=0.0, de_holes=1.0), textures, seed=3)
    np.testing.assert_array_equal(exact[0]["right"], soft[0]["right"])  # same scenes, same targets
    assert not np.array_equal(exact[0]["hole"], soft[0]["hole"])  # warped with another disparity
    assert len(both) == 2 * len(exact)  # every scene also gave its DE re-warp
    np.testing.assert_array_equal(both[1]["right"], both[0]["right"])  # scene 0, then its DE re-warp
    assert not np.array_equal(both[1]["hole"], both[0]["hole"])
    with pytest.raises(ValueError, match="degrade"):
        tiny("inpainter", "unused", degrade=1.5)
    with pytest.raises(ValueError, match="minutes"):
        tiny("inpainter", "unused", minutes=0)


def test_minutes_stop_training_with_checkpoint_and_final(tmp_path):
    out = tmp_path / "run"
    final = train(tiny("inpainter", out, steps=100000, minutes=1e-4))
    state = torch.load(out / "ckpt.pt", weights_only=False)
    assert 1 <= state["step"] < 100000 and (final / "model.safetensors").is_file()
    rows = list(csv.DictReader((out / "log.csv").open()))
    assert rows[-1]["step"] == str(state["step"])


def test_product_scale_pool_draws_sizes_strengths_cameras_and_pyramid_levels():
    from spatialme.data.textures import load_textures
    from spatialme.train import scene_config

    cfg = tiny("inpainter", "unused", widths=(256, 1024), disparity_pct=(4.0, 8.0), camera=1.0, pyramid_reach=2.0, pool_scenes=6, crop=32, de_holes=0.0)
    rng = np.random.default_rng(0)
    drawn = [scene_config(cfg, rng) for _ in range(40)]
    widths = np.array([c.width for c in drawn])
    assert widths.min() >= 256 and widths.max() <= 1024 and (widths % 16 == 0).all() and len(set(widths)) > 10
    pct = np.array([100 * c.max_disparity / c.width for c in drawn])
    assert pct.min() >= 4.0 - 1e-6 and pct.max() <= 8.0 + 1e-6 and all(c.shapes == "varied" for c in drawn)
    pool = build_pool(cfg, load_textures(), seed=1)
    sizes = {item["hole"].shape[1:] for item in pool}
    assert len(sizes) > 1  # scenes of several sizes and pyramid levels
    # a halved item's holes stay holes: its hole count is at most a quarter of a full-size warp's
    assert all(min(s) >= 32 for s in sizes)
    batch = sample_batch(pool, 6, 32, np.random.default_rng(1))
    assert batch["warped"].shape == (6, 3, 32, 32) and (batch["hole"].flatten(1).sum(1) > 0).all()
    with pytest.raises(ValueError, match="widths"):
        tiny("inpainter", "unused", widths=(512, 256))
    with pytest.raises(ValueError, match="disparity_pct"):
        tiny("inpainter", "unused", disparity_pct=(9.0, 1.0))
    with pytest.raises(ValueError, match="camera"):
        tiny("inpainter", "unused", camera=2.0)


def test_resume_can_anneal_the_learning_rate(tmp_path):
    out = tmp_path / "run"
    train(tiny("inpainter", out, steps=1, lr=1e-3))
    train(tiny("inpainter", out, steps=2, lr=1e-5))  # without set_lr the checkpoint's rate stays
    assert torch.load(out / "ckpt.pt", weights_only=False)["optim"]["param_groups"][0]["lr"] == 1e-3
    train(tiny("inpainter", out, steps=3, lr=1e-5, set_lr=True))
    assert torch.load(out / "ckpt.pt", weights_only=False)["optim"]["param_groups"][0]["lr"] == 1e-5


def test_batches_show_the_warp_and_its_true_right_view():
    """What the inpainter learns from: the warp with its holes zeroed, the hole mask, the
    normalised warped disparity and the true right view (moved here with the training loop)."""
    from spatialme.data.textures import load_textures

    cfg = tiny("inpainter", "unused", scene=SceneConfig(height=96, width=160, frames=3, max_disparity=16, camera_speed=2.0),
               degrade=0.0, de_holes=0.0, camera=0.0)
    pool = build_pool(cfg, load_textures(), seed=4)
    batch = sample_batch(pool, 3, 32, np.random.default_rng(0))
    assert set(batch) == {"right", "warped", "hole", "disparity"}
    assert batch["warped"].shape == (3, 3, 32, 32) and batch["hole"].shape == (3, 1, 32, 32)
    assert batch["disparity"].shape == (3, 1, 32, 32) and batch["right"].shape == (3, 3, 32, 32)
    assert all(v.dtype == torch.float32 for v in batch.values())
    assert (batch["warped"] * batch["hole"]).abs().max() == 0 and (batch["disparity"] * batch["hole"]).abs().max() == 0
    assert batch["hole"].sum() > 0 and 0 <= batch["disparity"].min() and batch["disparity"].max() <= 1
    known = batch["hole"] == 0
    close = (batch["warped"] - batch["right"]).abs().amax(1, keepdim=True) < 0.1
    assert close[known].float().mean() > 0.9  # known pixels are the true right view (up to silhouettes)
    again = sample_batch(pool, 3, 32, np.random.default_rng(0))
    assert all(torch.equal(batch[k], again[k]) for k in batch)
    with pytest.raises(ValueError, match="pool"):
        build_pool(tiny("inpainter", "unused", crop=128), load_textures(), seed=4)  # no frame holds a crop
    with pytest.raises(ValueError, match="textures"):
        build_pool(cfg, [], seed=4)


def test_short_training_reduces_the_loss(tmp_path, one_torch_thread):
    """A tiny inpainter run through the training loop the CLI uses: the loss goes down, on
    the training crops and on crops of held-out photos, and a seeded run repeats itself."""
    from dataclasses import replace

    from spatialme.data.textures import list_textures, load_textures, split_textures
    from spatialme.inpaint.network import GatedInpainter
    from spatialme.losses import content_loss

    model = {"base_channels": 8, "levels": 2, "dilations": (2,)}
    scene = SceneConfig(height=64, width=96, frames=2, max_disparity=10)
    cfg = tiny("inpainter", tmp_path / "run", steps=30, lr=3e-3, batch=4, crop=32, pool_scenes=16, scene=scene, model=model,
               degrade=0.0, de_holes=0.0, ckpt_every=30)
    _, held_paths = split_textures(list_textures())  # photos the run never sees
    held_pool = build_pool(replace(cfg, pool_scenes=6), load_textures(held_paths), seed=100)
    held_out = sample_batch(held_pool, 48, 32, np.random.default_rng(7))

    def held_out_loss(net):
        with torch.no_grad():
            pred = net.eval()(held_out["warped"], held_out["hole"], held_out["disparity"])
            return content_loss(pred, held_out["right"], held_out["hole"]).item()

    torch.manual_seed(cfg.seed)
    before = held_out_loss(GatedInpainter(**model))  # the run's initialisation (same seed)
    final = train(cfg)
    rows = list(csv.DictReader((tmp_path / "run" / "log.csv").open()))
    history = [float(r["content"]) for r in rows]
    assert [int(r["step"]) for r in rows] == list(range(1, 31))
    assert np.mean(history[-5:]) < 0.8 * np.mean(history[:5])
    assert held_out_loss(GatedInpainter.from_pretrained(final)) < 0.9 * before  # about 0.82 here
    train(replace(cfg, out=str(tmp_path / "again"), steps=3))
    again = [float(r["content"]) for r in csv.DictReader((tmp_path / "again" / "log.csv").open())]
    assert again == history[:3]  # seeded


def test_weight_averaging_blends_floats_and_refuses_mismatches(tmp_path):
    from spatialme.refiner import MHFURefiner
    from spatialme.training.average import average_pretrained, average_state_dicts

    torch.manual_seed(0)
    a, b = MHFURefiner(base_channels=8, levels=2), MHFURefiner(base_channels=8, levels=2)
    a.save_pretrained(tmp_path / "a")
    b.save_pretrained(tmp_path / "b")
    soup = average_pretrained(MHFURefiner, [tmp_path / "a", tmp_path / "b"], [0.3, 0.7], tmp_path / "soup")
    name, pa = next(iter(a.state_dict().items()))
    np.testing.assert_allclose(soup.state_dict()[name].numpy(), (0.3 * pa + 0.7 * b.state_dict()[name]).numpy(), rtol=1e-5, atol=1e-7)
    again = MHFURefiner.from_pretrained(str(tmp_path / "soup"))
    assert all(torch.equal(again.state_dict()[k], v) for k, v in soup.state_dict().items())
    with pytest.raises(ValueError, match="summing to 1"):
        average_state_dicts([a.state_dict(), b.state_dict()], [0.5, 0.6])
    with pytest.raises(ValueError, match="one weight per state dict"):
        average_state_dicts([a.state_dict()], [0.5, 0.5])
    with pytest.raises(ValueError, match="does not match the first"):
        average_state_dicts([a.state_dict(), MHFURefiner(base_channels=4, levels=2).state_dict()], [0.5, 0.5])


def test_reseeded_run_resumes_with_the_new_weights_and_the_old_optimiser(tmp_path):
    """An averaged refiner continues training: step and Adam state from a run, weights from elsewhere."""
    from spatialme.inpaint.network import GatedInpainter
    from spatialme.training.checkpoint import reseed_checkpoint

    train(tiny("inpainter", tmp_path / "a", steps=2))
    other = GatedInpainter(base_channels=8, levels=2)
    with torch.no_grad():
        for p in other.parameters():
            p.fill_(0.01)
    assert reseed_checkpoint(tmp_path / "a" / "ckpt.pt", other, tmp_path / "b") == 2
    state = torch.load(tmp_path / "b" / "ckpt.pt", weights_only=False)
    source = torch.load(tmp_path / "a" / "ckpt.pt", weights_only=False)
    assert all(torch.equal(v, other.state_dict()[k]) for k, v in state["model"].items())
    assert state["step"] == 2 and state["optim"]["state"][0]["exp_avg"].equal(source["optim"]["state"][0]["exp_avg"])
    assert (tmp_path / "b" / "log.csv").read_text() == (tmp_path / "a" / "log.csv").read_text()
    train(tiny("inpainter", tmp_path / "b", steps=3))
    assert [r["step"] for r in csv.DictReader((tmp_path / "b" / "log.csv").open())] == ["1", "2", "3"]
    with pytest.raises(ValueError, match="already holds"):
        reseed_checkpoint(tmp_path / "a" / "ckpt.pt", other, tmp_path / "b")
    with pytest.raises(ValueError, match="weights"):
        reseed_checkpoint(tmp_path / "a" / "ckpt.pt", GatedInpainter(base_channels=4, levels=2), tmp_path / "c")
    assert not (tmp_path / "c").exists()


def test_a_refiner_run_widened_to_read_the_disparity_resumes_from_the_same_output(tmp_path, capsys):
    """widen_checkpoint: same step, log and Adam moments (zero for the new input), a run config
    that reads the disparity; the resumed run trains it and its final weights read it."""
    from spatialme.cli import main
    from spatialme.refiner import MHFURefiner
    from spatialme.training.checkpoint import widen_checkpoint

    inpainter = train(tiny("inpainter", tmp_path / "inp"))
    train(tiny("refiner", tmp_path / "ref", inpainter=str(inpainter), adversarial=False))
    source = torch.load(tmp_path / "ref" / "ckpt.pt", weights_only=False)
    narrow = MHFURefiner(base_channels=8, levels=2)
    narrow.load_state_dict(source["model"])
    assert widen_checkpoint(tmp_path / "ref" / "ckpt.pt", narrow, tmp_path / "wide") == 2
    state = torch.load(tmp_path / "wide" / "ckpt.pt", weights_only=False)
    stem = source["optim"]["state"][0]["exp_avg"]
    assert state["optim"]["state"][0]["exp_avg"].shape == (8, 12, 3, 3)
    assert torch.equal(state["optim"]["state"][0]["exp_avg"][:, :11], stem) and not state["optim"]["state"][0]["exp_avg_sq"][:, 11].any()
    assert json.loads((tmp_path / "wide" / "config.json").read_text())["model"]["disparity_input"] is True
    wide_model = {"base_channels": 8, "levels": 2, "disparity_input": True}
    final = train(tiny("refiner", tmp_path / "wide", inpainter=str(inpainter), adversarial=False, steps=3, model=wide_model))
    assert [r["step"] for r in csv.DictReader((tmp_path / "wide" / "log.csv").open())] == ["1", "2", "3"]
    trained = MHFURefiner.from_pretrained(str(final))
    assert trained.disparity_input and trained.stem[0].weight[:, -1].abs().sum() > 0  # one step moved the new weights
    with pytest.raises(ValueError, match="already holds"):
        widen_checkpoint(tmp_path / "ref" / "ckpt.pt", narrow, tmp_path / "wide")
    with pytest.raises(ValueError, match="already reads"):
        widen_checkpoint(tmp_path / "ref" / "ckpt.pt", trained, tmp_path / "other")
    assert not (tmp_path / "other").exists()
    assert main(["train", "inpainter", "-o", str(tmp_path / "x"), "--disparity-input"]) == 2
    assert "--disparity-input: only the refiner stage" in capsys.readouterr().err and not (tmp_path / "x").exists()


def test_the_refiner_step_gives_a_disparity_reader_the_pool_disparity_at_1_255_steps():
    from spatialme.losses import LossConfig
    from spatialme.refiner import MHFURefiner
    from spatialme.training.checkpoint import Networks
    from spatialme.training.loop import _refiner_step

    torch.manual_seed(0)
    model = MHFURefiner(base_channels=8, levels=2, disparity_input=True)
    batch = {k: torch.rand(2, 3, 32, 32) for k in ("poly", "de", "dl", "right")}
    batch["hole"] = torch.zeros(2, 1, 32, 32)
    batch["hole"][:, :, 8:20, 10:14] = 1
    batch["de_hole"] = batch["hole"].roll(2, dims=3)
    batch["disparity"] = torch.rand(2, 1, 32, 32)
    _, row = _refiner_step(Networks(model, torch.optim.Adam(model.parameters())), batch, LossConfig())
    steps = torch.round(batch["disparity"] * 255) / 255
    out = model(batch["poly"], batch["de"], batch["dl"], torch.cat([batch["hole"], batch["de_hole"]], 1), steps).image
    assert row["content"] == pytest.approx(((1 + 9 * batch["hole"]) * (out - batch["right"]).abs()).mean().item(), rel=1e-6)


def test_refiner_step_scores_the_crop_or_the_view_inference_shows():
    """The paper's loss reads the whole crop; "shown" only what inference keeps (Poly beyond the ring)."""
    from spatialme.losses import LossConfig
    from spatialme.refiner import MHFURefiner
    from spatialme.training.checkpoint import Networks
    from spatialme.training.loop import _refiner_step

    torch.manual_seed(0)
    model = MHFURefiner(base_channels=8, levels=2)
    b, h, w = 2, 32, 32
    batch = {k: torch.rand(b, 3, h, w) for k in ("poly", "de", "dl", "right")}
    batch["hole"] = torch.zeros(b, 1, h, w)
    batch["hole"][:, :, 10:20, 12:15] = 1
    batch["de_hole"] = batch["hole"].roll(3, dims=3)
    nets = Networks(model, torch.optim.Adam(model.parameters()))
    crop_loss, _ = _refiner_step(nets, batch, LossConfig())  # the paper's: the whole crop
    loss, row = _refiner_step(nets, batch, LossConfig(), shown=True)
    near = batch["hole"].clone()
    near[:, :, 10:20, 11:16] = 1  # the holes and their row neighbours
    out = model(batch["poly"], batch["de"], batch["dl"], torch.cat([batch["hole"], batch["de_hole"]], 1)).image
    shown = torch.where(near.bool(), out, batch["poly"])
    weight = 1 + 9 * batch["hole"]
    expected = (weight * (shown - batch["right"]).abs()).mean()  # eq. 8 on the shown view
    assert row["content"] == pytest.approx(expected.item(), rel=1e-5)
    assert loss.item() == pytest.approx(LossConfig().lambda_content * expected.item(), rel=1e-5)
    whole = (weight * (out - batch["right"]).abs()).mean()
    assert crop_loss.item() == pytest.approx(LossConfig().lambda_content * whole.item(), rel=1e-5)
    with pytest.raises(ValueError, match="refiner_loss"):
        TrainConfig(stage="refiner", inpainter="x", refiner_loss="holes")
    # the L2 content norm: the same composite, squared differences
    _, row2 = _refiner_step(nets, batch, LossConfig(norm="l2"))
    assert row2["content"] == pytest.approx((weight * (out - batch["right"]).square()).mean().item(), rel=1e-5)
    with pytest.raises(ValueError, match="content_norm"):
        TrainConfig(stage="refiner", inpainter="x", content_norm="l3")


def test_snapshots_keep_the_weights_of_every_nth_step(tmp_path):
    from spatialme.inpaint.network import GatedInpainter

    out = tmp_path / "run"
    train(tiny("inpainter", out, steps=4, snapshot_every=2))
    snaps = sorted(p.name for p in (out / "snapshots").iterdir())
    assert snaps == ["00000002", "00000004"]
    last = GatedInpainter.from_pretrained(str(out / "snapshots" / "00000004"))
    final = GatedInpainter.from_pretrained(str(out / "final"))
    assert all(torch.equal(a, b) for a, b in zip(last.parameters(), final.parameters()))
    earlier = GatedInpainter.from_pretrained(str(out / "snapshots" / "00000002"))
    assert not all(torch.equal(a, b) for a, b in zip(earlier.parameters(), final.parameters()))
    with pytest.raises(ValueError, match="snapshot_every"):
        tiny("inpainter", out, snapshot_every=-1)


def test_varied_textures_change_the_looks_not_the_geometry():
    from spatialme.data.textures import load_textures

    textures = load_textures()
    plain = build_pool(tiny("inpainter", "unused", degrade=0.0, de_holes=0.0), textures, seed=3)
    varied = build_pool(tiny("inpainter", "unused", degrade=0.0, de_holes=0.0, vary_textures=1.0), textures, seed=3)
    assert len(plain) == len(varied)
    for a, b in zip(plain, varied):
        np.testing.assert_array_equal(a["hole"], b["hole"])  # same scene geometry, same warp
        assert not np.array_equal(a["right"], b["right"])  # painted with other looks
    with pytest.raises(ValueError, match="vary_textures"):
        tiny("inpainter", "unused", vary_textures=1.5)
