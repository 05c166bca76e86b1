"""The learned inpainter: gated U-Net, tiled inference, the "learned" filler, training."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from spatialme.data.synthetic import SceneConfig, render_scene
from spatialme.data.textures import load_textures
from spatialme.inpaint.base import available_fillers
from spatialme.inpaint.flow import FlowConfig
from spatialme.bands import BandConfig
from spatialme.inpaint.learned import (
    GatedConv2d,
    GatedInpainter,
    InpainterConfig,
    LearnedFill,
    inpaint_frames,
    inpainting_loss,
    make_inpainting_batch,
    normalize_disparity,
    train_inpainter,
    warped_disparity,
)
from spatialme.warp import forward_warp

TINY = {"base_channels": 4, "levels": 2, "dilations": (2,)}


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tiny tensors: thread hand-off costs more than it gains (and much more on a busy CI box)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def textures():
    return load_textures()


@pytest.fixture(scope="module")
def scene(textures):
    return render_scene(textures, SceneConfig(height=96, width=160, frames=3, max_disparity=16, camera_speed=2.0), seed=4)


@pytest.fixture(scope="module")
def warp(scene):
    return forward_warp(scene.left, scene.disparity)


def tiny_model(seed: int = 0, **overrides) -> GatedInpainter:
    torch.manual_seed(seed)
    return GatedInpainter(**{**TINY, **overrides}).eval()


# ----------------------------------------------------------------------------- network


def test_gated_conv_matches_manual_computation():
    torch.manual_seed(0)
    layer = GatedConv2d(3, 5, kernel_size=3, stride=2, dilation=1)
    x = torch.randn(2, 3, 11, 14)
    out = layer(x)
    assert out.shape == (2, 5, 6, 7)
    w, b = layer.conv.weight, layer.conv.bias
    feat = F.conv2d(x, w[:5], b[:5], stride=2, padding=1)
    gate = F.conv2d(x, w[5:], b[5:], stride=2, padding=1)
    torch.testing.assert_close(out, F.elu(feat) * torch.sigmoid(gate))
    dilated = GatedConv2d(3, 4, kernel_size=3, dilation=3)
    assert dilated(x).shape == (2, 4, 11, 14)


def test_model_shapes_range_and_size():
    model = GatedInpainter()
    params = sum(p.numel() for p in model.parameters())
    assert 100_000 < params < 500_000
    for height, width in ((32, 48), (13, 21)):
        rgb = torch.rand(2, 3, height, width)
        mask = (torch.rand(2, 1, height, width) > 0.7).float()
        out = model(rgb, mask, torch.rand(2, 1, height, width))
        assert out.shape == (2, 3, height, width)
        assert out.min() >= 0 and out.max() <= 1
    no_disp = GatedInpainter(**TINY, use_disparity=False)
    assert no_disp.config.in_channels == 4
    assert no_disp(rgb, mask).shape == (2, 3, 13, 21)
    with pytest.raises(ValueError, match="disparity"):
        model(rgb, mask)
    with pytest.raises(ValueError, match="mask"):
        model(rgb, mask[:, :, :-1])


def test_hole_values_are_ignored_and_complete_keeps_known():
    model = tiny_model()
    rgb = torch.rand(1, 3, 24, 32)
    mask = torch.zeros(1, 1, 24, 32)
    mask[..., 8:16, 10:20] = 1
    disp = torch.rand(1, 1, 24, 32)
    other = rgb.clone()
    other[..., 8:16, 10:20] = torch.rand(1, 3, 8, 10)  # different content inside the hole
    torch.testing.assert_close(model(rgb, mask, disp), model(other, mask, disp))
    done = model.complete(rgb, mask, disp)
    assert torch.equal(done * (1 - mask), rgb * (1 - mask))


def test_gradients_reach_every_parameter():
    model = tiny_model().train()
    rgb, mask = torch.rand(2, 3, 16, 16), (torch.rand(2, 1, 16, 16) > 0.5).float()
    loss = inpainting_loss(model(rgb, mask, torch.rand(2, 1, 16, 16)), rgb, mask)
    loss.backward()
    for name, param in model.named_parameters():
        assert param.grad is not None and torch.isfinite(param.grad).all() and param.grad.abs().sum() > 0, name


@pytest.mark.parametrize("kwargs", [{}, TINY, {"base_channels": 4, "levels": 4, "dilations": (1, 3)}])
def test_context_radius_bounds_the_influence(kwargs):
    torch.manual_seed(1)
    model = GatedInpainter(**kwargs).eval()
    size = 2 * model.context_radius + 24
    rgb, mask, disp = torch.rand(1, 3, size, size), torch.zeros(1, 1, size, size), torch.rand(1, 1, size, size)
    with torch.no_grad():
        base = model(rgb, mask, disp)
        reach = 0
        for offset in range(4):  # every phase of the stride grid
            c = size // 2 + offset
            bumped = rgb.clone()
            bumped[..., c, c] += 1.0
            changed = (model(bumped, mask, disp) - base).abs().amax(1)[0] > 0
            ys, xs = torch.nonzero(changed, as_tuple=True)
            reach = max(reach, int((ys - c).abs().max()), int((xs - c).abs().max()))
    assert model.context_radius - model.config.alignment <= reach <= model.context_radius  # a tight bound


def test_loss_weights_holes():
    pred, target = torch.zeros(1, 3, 2, 2), torch.ones(1, 3, 2, 2)
    mask = torch.tensor([[[[1.0, 0.0], [0.0, 0.0]]]])
    assert inpainting_loss(pred, target, mask).item() == pytest.approx((10 + 3) / 4)
    assert inpainting_loss(pred, target, mask, alpha=1.0).item() == pytest.approx(1.0)


def test_config_validation():
    with pytest.raises(ValueError, match="levels"):
        InpainterConfig(levels=0)
    with pytest.raises(ValueError, match="base_channels"):
        GatedInpainter(base_channels=1)
    with pytest.raises(ValueError, match="dilations"):
        InpainterConfig(dilations=(0,))
    assert InpainterConfig(dilations=[2, 4]).dilations == (2, 4)
    assert InpainterConfig(levels=3).alignment == 4


def test_save_load_round_trip(tmp_path):
    model = tiny_model(3)
    model.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config == {"base_channels": 4, "levels": 2, "use_disparity": True, "dilations": [2]}
    assert (tmp_path / "model.safetensors").is_file()
    loaded = GatedInpainter.from_pretrained(tmp_path)
    assert loaded.config == model.config
    rgb, mask, disp = torch.rand(1, 3, 20, 24), (torch.rand(1, 1, 20, 24) > 0.6).float(), torch.rand(1, 1, 20, 24)
    torch.testing.assert_close(loaded(rgb, mask, disp), model(rgb, mask, disp), rtol=0, atol=0)
    assert GatedInpainter.from_config(model.config).config == model.config


# ----------------------------------------------------------------------------- inference


def test_normalize_disparity():
    disp = np.array([[[2.0, 4.0, 0.0, 6.0]], [[3.0, 3.0, 3.0, 3.0]]], np.float32)
    holes = np.array([[[0, 0, 1, 0]], [[0, 0, 0, 0]]], bool)
    out = normalize_disparity(disp, holes)
    np.testing.assert_allclose(out, [[[0.0, 0.5, 0.0, 1.0]], [[0, 0, 0, 0]]])
    assert normalize_disparity(disp[0], holes[0]).shape == (1, 4)
    assert (normalize_disparity(disp, np.ones_like(holes)) == 0).all()


def test_inpaint_frames_keeps_known_and_fills_holes(scene, warp):
    model = tiny_model()
    out = inpaint_frames(model, warp.image, warp.hole_mask, warp.disparity)
    assert out.shape == warp.image.shape and out.dtype == np.uint8
    np.testing.assert_array_equal(out[~warp.hole_mask], warp.image[~warp.hole_mask])
    assert not np.array_equal(out[warp.hole_mask], warp.image[warp.hole_mask])  # holes were 0
    nothing = np.zeros_like(warp.hole_mask)
    np.testing.assert_array_equal(inpaint_frames(model, warp.image, nothing, warp.disparity), warp.image)


@pytest.mark.parametrize("band", [8, 32])
def test_packed_bands_equal_whole_frame_with_enough_margin(warp, band):
    model = tiny_model(seed=5, base_channels=4, levels=3, dilations=(2,))
    whole = inpaint_frames(model, warp.image, warp.hole_mask, warp.disparity, bands=None)
    margin = model.context_radius
    config = BandConfig(band=band, margin=margin, width=96, gap=margin, batch=3)
    packed = inpaint_frames(model, warp.image, warp.hole_mask, warp.disparity, bands=config)
    # equal up to float summation order (the network runs on different shapes), frame
    # borders included: windows there sit at their shelf's edge and see the same padding
    assert np.abs(packed.astype(int) - whole.astype(int)).max() <= 1
    assert (packed != whole).mean() < 1e-3
    small = inpaint_frames(model, warp.image, warp.hole_mask, warp.disparity, bands=BandConfig(margin=4))
    np.testing.assert_array_equal(small[~warp.hole_mask], warp.image[~warp.hole_mask])
    assert np.abs(small.astype(int) - whole.astype(int))[warp.hole_mask].mean() < 8  # a short margin only approximates


def test_bf16_autocast_moves_outputs_by_a_few_levels(warp):
    model = tiny_model(seed=2)
    exact = inpaint_frames(model, warp.image, warp.hole_mask, warp.disparity, bf16=False)
    fast = inpaint_frames(model, warp.image, warp.hole_mask, warp.disparity, bf16=True)
    np.testing.assert_array_equal(fast[~warp.hole_mask], warp.image[~warp.hole_mask])
    assert np.abs(fast.astype(int) - exact.astype(int)).max() <= 6


def test_inpaint_frames_restores_the_training_mode(warp):
    model = tiny_model().train()
    inpaint_frames(model, warp.image[:1], warp.hole_mask[:1], warp.disparity[:1])
    assert model.training


def test_inpaint_frames_validation(warp):
    model = tiny_model()
    with pytest.raises(ValueError, match="disparity"):
        inpaint_frames(model, warp.image, warp.hole_mask, None)
    with pytest.raises(ValueError, match="hole_mask"):
        inpaint_frames(model, warp.image, warp.hole_mask[:, 1:], warp.disparity)
    with pytest.raises(ValueError, match="model"):
        inpaint_frames(torch.nn.Identity(), warp.image, warp.hole_mask, warp.disparity)
    with pytest.raises(ValueError, match="bands"):
        inpaint_frames(model, warp.image, warp.hole_mask, warp.disparity, bands=16)
    no_disp = tiny_model(use_disparity=False)
    assert inpaint_frames(no_disp, warp.image, warp.hole_mask).shape == warp.image.shape


def test_warped_disparity_matches_the_warp(scene, warp):
    np.testing.assert_array_equal(warped_disparity(scene.disparity), warp.disparity)


# ----------------------------------------------------------------------------- the filler


def test_learned_filler_is_registered():
    assert "learned" in available_fillers()


def test_learned_fill_without_weights_says_how_to_fix(tmp_path):
    with pytest.raises(FileNotFoundError, match="no trained weights at .*python -m spatialme train"):
        LearnedFill(weights=tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="no trained weights"):
        LearnedFill(weights=str(tmp_path))  # exists, but holds no model
    with pytest.raises(FileNotFoundError, match="no trained weights"):
        LearnedFill(weights="nobody-here/no-such-inpainter")  # a Hub id; tests are offline


def test_learned_fill_loads_both_layouts(tmp_path):
    model = tiny_model(2)
    model.save_pretrained(tmp_path / "direct")
    model.save_pretrained(tmp_path / "root" / "inpainter")
    for folder in (tmp_path / "direct", tmp_path / "root", str(tmp_path / "root")):
        fill = LearnedFill(weights=folder, device="cpu")
        assert fill.model.config == model.config
        for a, b in zip(fill.model.parameters(), model.parameters()):
            assert torch.equal(a, b)


def test_learned_fill_runs_the_branch(scene, warp):
    fill = LearnedFill(model=tiny_model(), flow=FlowConfig(neighbors=2), device="cpu")
    out = fill(scene.left, scene.disparity, warp.image, warp.hole_mask)
    assert out.shape == scene.left.shape and out.dtype == np.uint8
    np.testing.assert_array_equal(out[~warp.hole_mask], warp.image[~warp.hole_mask])
    cuts = np.ones(len(scene.left), bool)
    no_flow = LearnedFill(model=fill.model, flow=None, device="cpu")(scene.left, scene.disparity, warp.image, warp.hole_mask)
    # with every frame its own shot nothing propagates: the network alone fills
    np.testing.assert_array_equal(fill(scene.left, scene.disparity, warp.image, warp.hole_mask, cuts=cuts), no_flow)
    with pytest.raises(ValueError, match="model"):
        LearnedFill(model=torch.nn.Identity())
    with pytest.raises(ValueError, match="disparity"):
        fill(scene.left, scene.disparity[:, 1:], warp.image, warp.hole_mask)


# ----------------------------------------------------------------------------- training


def test_make_inpainting_batch(textures, scene):
    rng = np.random.default_rng(0)
    batch = make_inpainting_batch([scene], 3, crop=32, rng=rng)
    assert set(batch) == {"rgb", "mask", "disparity", "target"}
    assert batch["rgb"].shape == (3, 3, 32, 32) and batch["mask"].shape == (3, 1, 32, 32)
    assert batch["disparity"].shape == (3, 1, 32, 32) and batch["target"].shape == (3, 3, 32, 32)
    assert all(v.dtype == torch.float32 for v in batch.values())
    assert (batch["rgb"] * batch["mask"]).abs().max() == 0 and (batch["disparity"] * batch["mask"]).abs().max() == 0
    assert batch["mask"].sum() > 0 and 0 <= batch["disparity"].min() and batch["disparity"].max() <= 1
    known = batch["mask"] == 0
    close = (batch["rgb"] - batch["target"]).abs().amax(1, keepdim=True) < 0.1
    assert close[known].float().mean() > 0.9  # known pixels are the true right view (up to silhouettes)
    again = make_inpainting_batch([scene], 3, crop=32, rng=np.random.default_rng(0))
    assert all(torch.equal(batch[k], again[k]) for k in batch)
    rendered = make_inpainting_batch(textures[:2], 2, crop=32, rng=rng)
    assert rendered["rgb"].shape == (2, 3, 32, 32) and rendered["mask"].sum() > 0
    with pytest.raises(ValueError, match="crop"):
        make_inpainting_batch([scene], 1, crop=128, rng=rng)
    with pytest.raises(ValueError, match="source"):
        make_inpainting_batch([], 1)


def test_short_training_reduces_the_loss(textures):
    config = SceneConfig(height=64, width=96, frames=2, max_disparity=10)
    train = [render_scene(textures[:7], config, seed=s) for s in range(16)]
    held_out_scenes = [render_scene(textures[7:], config, seed=100 + s) for s in range(2)]  # unseen photos
    held_out = make_inpainting_batch(held_out_scenes, 16, crop=32, rng=np.random.default_rng(7))

    def held_out_loss(model):
        with torch.no_grad():
            pred = model(held_out["rgb"], held_out["mask"], held_out["disparity"])
            return inpainting_loss(pred, held_out["target"], held_out["mask"]).item()

    model = tiny_model(0, base_channels=8)
    before = held_out_loss(model)
    logged = []
    history = train_inpainter(model, train, steps=30, lr=3e-3, batch=4, crop=32, seed=0, log=lambda s, v: logged.append((s, v)))
    assert len(history) == 30 and [s for s, _ in logged] == list(range(30))
    assert np.mean(history[-5:]) < 0.8 * np.mean(history[:5])
    assert held_out_loss(model) < 0.9 * before  # about 0.82 here
    again = train_inpainter(tiny_model(0, base_channels=8), train, steps=3, lr=3e-3, batch=4, crop=32, seed=0)
    assert again == history[:3]  # seeded
