from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from spatialme.bands import BandConfig
from spatialme.refiner import REFINE_RING, FeatureUpdateUnit, MHFURefiner, RefinerOutput, compose_refined, fuse, refine_clip, refine_frames, refined_region


def branches(b: int, h: int, w: int, k: int = 2, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    poly, de, dl = (torch.rand(b, 3, h, w, generator=g) for _ in range(3))
    masks = (torch.rand(b, k, h, w, generator=g) > 0.8).float()
    return poly, de, dl, masks


def perturbed(net: MHFURefiner, scale: float = 0.5, seed: int = 0) -> MHFURefiner:
    """Random weights large enough that the masks vary across the image (not just the bias)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            if p.ndim > 1:
                p.copy_(torch.randn(p.shape, generator=g) * scale / p[0].numel() ** 0.5)
    return net


# --- FeatureUpdateUnit ---------------------------------------------------------------


def test_fuu_shape():
    fuu = FeatureUpdateUnit(8, 12)
    out = fuu(torch.rand(2, 8, 10, 14), torch.rand(2, 12, 10, 14))
    assert out.shape == (2, 8, 10, 14)
    assert out.abs().max() < 1


def test_fuu_matches_equations_4_to_7():
    torch.manual_seed(0)
    fuu = FeatureUpdateUnit(4, 6)
    f_i, f_u = torch.randn(1, 4, 7, 9), torch.randn(1, 6, 7, 9)
    x = torch.cat([f_i, f_u], 1)
    w, b = fuu.conv.weight, fuu.conv.bias
    conv = [F.conv2d(x, w[k * 4 : (k + 1) * 4], b[k * 4 : (k + 1) * 4], padding=1) for k in range(3)]
    z = torch.sigmoid(conv[0])  # eq. 4
    q = torch.tanh(conv[1])  # eq. 5
    r = torch.tanh(conv[2])  # eq. 6
    expected = q * z + (1 - z) * r  # eq. 7
    torch.testing.assert_close(fuu(f_i, f_u), expected)
    # channels-last inputs (the refiner's layout) take the one-by-one path: same numbers
    nhwc = [t.contiguous(memory_format=torch.channels_last) for t in (f_i, f_u)]
    torch.testing.assert_close(fuu(*nhwc), expected)


def test_fuu_rejects_mismatched_inputs():
    fuu = FeatureUpdateUnit(4, 6)
    with pytest.raises(ValueError, match="f_i"):
        fuu(torch.rand(1, 5, 8, 8), torch.rand(1, 6, 8, 8))
    with pytest.raises(ValueError, match="f_u"):
        fuu(torch.rand(1, 4, 8, 8), torch.rand(1, 6, 4, 4))


# --- fusion, eqs. 1-3 ----------------------------------------------------------------


def test_fuse_hand_computed():
    poly, de, dl, content = (torch.full((1, 3, 1, 2), v) for v in (0.8, 0.4, 0.2, 0.1))
    m1 = torch.tensor([0.25, 1.0]).view(1, 1, 1, 2)
    m2 = torch.tensor([0.5, 0.0]).view(1, 1, 1, 2)
    m3 = torch.tensor([0.9, 0.5]).view(1, 1, 1, 2)
    # pixel 0: f1 = .25*.8 + .75*.4 = .5; f2 = .5*.5 + .5*.2 = .35; g = .9*.35 + .1*.1 = .325
    # pixel 1: f1 = .8; f2 = .2; g = .5*.2 + .5*.1 = .15
    out = fuse(poly, de, dl, m1, m2, m3, content)
    torch.testing.assert_close(out, torch.tensor([0.325, 0.15]).view(1, 1, 1, 2).expand(1, 3, 1, 2))


def test_fuse_limits():
    poly, de, dl, masks = branches(1, 5, 6)
    content = torch.rand(1, 3, 5, 6)
    one, zero = torch.ones(1, 1, 5, 6), torch.zeros(1, 1, 5, 6)
    torch.testing.assert_close(fuse(poly, de, dl, one, one, one, content), poly)
    torch.testing.assert_close(fuse(poly, de, dl, zero, one, one, content), de)
    torch.testing.assert_close(fuse(poly, de, dl, one, zero, one, content), dl)
    torch.testing.assert_close(fuse(poly, de, dl, one, one, zero, content), content)


def test_forward_output_is_fusion_of_its_own_masks():
    net = perturbed(MHFURefiner(base_channels=8, levels=2))
    poly, de, dl, masks = branches(2, 20, 24)
    out = net(poly, de, dl, masks)
    torch.testing.assert_close(out.image, fuse(poly, de, dl, out.m1, out.m2, out.m3, out.content))


# --- MHFURefiner ---------------------------------------------------------------------


@pytest.mark.parametrize("size", [(37, 53), (32, 32), (1, 1), (9, 70)])
def test_refiner_shapes_any_size(size):
    net = perturbed(MHFURefiner())
    out = net(*branches(2, *size))
    assert isinstance(out, RefinerOutput)
    assert out.image.shape == out.content.shape == (2, 3, *size)
    for m in (out.m1, out.m2, out.m3):
        assert m.shape == (2, 1, *size)
        assert 0 <= m.min() and m.max() <= 1
    assert 0 <= out.image.min() and out.image.max() <= 1


def test_masks_vary_with_weights():
    out = perturbed(MHFURefiner(), scale=2.0)(*branches(1, 37, 53))
    assert out.m1.std() > 1e-3 and out.content.std() > 1e-3


def test_untrained_refiner_starts_near_an_equal_blend():
    net = MHFURefiner()
    poly, de, dl, masks = branches(1, 24, 40)
    out = net(poly, de, dl, masks)
    torch.testing.assert_close(out.m1, torch.full_like(out.m1, 0.5), atol=0.02, rtol=0)
    torch.testing.assert_close(out.m2, torch.full_like(out.m2, 2 / 3), atol=0.02, rtol=0)
    assert out.m3.min() > 0.9
    blend = (poly + de + dl) / 3
    assert (out.image - blend).abs().max() < 0.1


def test_gradient_reaches_every_parameter():
    net = MHFURefiner()
    out = net(*branches(2, 37, 53))
    (out.image.mean() + out.m1.mean() + out.content.mean()).backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_parameter_count_is_lean():
    count = sum(p.numel() for p in MHFURefiner().parameters())
    assert 150_000 < count < 300_000  # 214,966 with the defaults
    assert sum(p.numel() for p in MHFURefiner(base_channels=8).parameters()) < 60_000


def test_mask_channels_is_configurable():
    net = MHFURefiner(base_channels=8, levels=2, mask_channels=1)
    out = net(*branches(1, 16, 16, k=1))
    assert out.image.shape == (1, 3, 16, 16)


def test_rejects_bad_inputs_and_config():
    net = MHFURefiner(base_channels=8, levels=2)
    poly, de, dl, masks = branches(1, 16, 16)
    with pytest.raises(ValueError, match="poly"):
        net(poly[:, :2], de, dl, masks)
    with pytest.raises(ValueError, match="dl"):
        net(poly, de, dl[..., :8], masks)
    with pytest.raises(ValueError, match="masks"):
        net(poly, de, dl, masks[:, :1])
    for name, value in (("levels", 0), ("base_channels", 1.5), ("mask_channels", -1)):
        with pytest.raises(ValueError, match=name):
            MHFURefiner(**{name: value})


def test_batch_items_are_independent():
    net = perturbed(MHFURefiner(base_channels=8))
    poly, de, dl, masks = branches(3, 24, 24)
    both = net(poly, de, dl, masks).image
    one = net(poly[1:2], de[1:2], dl[1:2], masks[1:2]).image
    torch.testing.assert_close(both[1:2], one)


# --- save / load ---------------------------------------------------------------------


def test_save_pretrained_round_trip(tmp_path):
    net = perturbed(MHFURefiner(base_channels=8, levels=2, mask_channels=2)).eval()
    net.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").is_file()
    assert json.loads((tmp_path / "config.json").read_text()) == {"base_channels": 8, "levels": 2, "mask_channels": 2}
    loaded = MHFURefiner.from_pretrained(tmp_path)
    assert (loaded.base_channels, loaded.levels, loaded.mask_channels) == (8, 2, 2)
    assert not loaded.training
    inputs = branches(1, 21, 30)
    with torch.no_grad():
        torch.testing.assert_close(loaded(*inputs).image, net(*inputs).image, rtol=0, atol=0)
    for key, value in net.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key


# --- inference on packed bands ---------------------------------------------------------


def frame_inputs(h: int, w: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    poly = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    de = np.clip(poly.astype(int) + rng.integers(-40, 40, poly.shape), 0, 255).astype(np.uint8)
    dl = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    masks = np.zeros((2, h, w), bool)
    masks[0, 20:30, 40:44] = True  # a disocclusion strip
    masks[1, 21:34, 38:45] = True  # the DE re-warp's (larger) hole
    masks[0, :, w - 3 :] = True  # the uncovered right border band
    return poly, de, dl, masks


def test_receptive_field_is_about_50px():
    net = perturbed(MHFURefiner(), scale=1.0)
    x = torch.rand(1, 3, 192, 192, requires_grad=True)
    out = net(x, x, x, torch.zeros(1, 2, 192, 192))
    out.image[0, :, 96, 96].sum().backward()
    rows = torch.nonzero(x.grad.abs().sum((0, 1, 3)) > 0).flatten()
    assert 30 <= 96 - rows.min().item() <= 56 and rows.max().item() - 96 <= 56


def test_refine_clip_without_holes_is_poly():
    net = perturbed(MHFURefiner(base_channels=8, levels=2))
    poly, de, dl, masks = frame_inputs(40, 48)
    none = np.zeros_like(masks)[None]
    np.testing.assert_array_equal(refine_clip(net, poly[None], de[None], dl[None], none), poly[None])


def test_refine_clip_validates():
    net = MHFURefiner(base_channels=8, levels=2)
    poly, de, dl, masks = (a[None] for a in frame_inputs(32, 32))
    with pytest.raises(ValueError, match="model"):
        refine_clip(torch.nn.Identity(), poly, de, dl, masks)
    with pytest.raises(ValueError, match="de"):
        refine_clip(net, poly, de[:, :16], dl, masks)
    with pytest.raises(ValueError, match="poly"):
        refine_clip(net, poly.astype(np.float32), de, dl, masks)


def test_refine_clip_packed_matches_whole_frame_near_holes_and_keeps_poly_elsewhere():
    torch.manual_seed(0)
    net = perturbed(MHFURefiner(), scale=1.0)
    frames = [frame_inputs(200, 301, seed=s) for s in range(2)]
    poly, de, dl = (np.stack([f[i] for f in frames]) for i in range(3))
    masks = np.stack([f[3] for f in frames])
    masks[:, 0, 90:130, 140:146] = True  # a strip far from the frame border
    masks[:, 1, 92:131, 143:149] = True
    whole = refine_clip(net, poly, de, dl, masks, bands=None, bf16=False)
    packed = refine_clip(net, poly, de, dl, masks, bands=BandConfig(band=16, margin=56, width=128, gap=56), bf16=False)
    import cv2

    kernel = np.ones((1, 2 * REFINE_RING + 1), np.uint8)  # the row neighbours of the holes
    ring = np.stack([cv2.dilate(m[0].astype(np.uint8), kernel) > 0 for m in masks])
    np.testing.assert_array_equal(refined_region(masks), ring)
    np.testing.assert_array_equal(packed[~ring], poly[~ring])  # Poly untouched away from holes
    np.testing.assert_array_equal(whole[~ring], poly[~ring])
    de_only = masks[:, 1] & ~ring  # the DE re-warp's own holes are not refined
    assert de_only.sum() > 50 and (packed[de_only] == poly[de_only]).all()
    inner = np.zeros_like(ring)
    inner[:, 56:-56, 56:-56] = True  # away from the frame border (see spatialme.bands)
    sel = ring & inner
    assert sel.sum() > 20 and np.abs(packed[sel].astype(int) - whole[sel].astype(int)).max() <= 1
    fast = refine_clip(net, poly, de, dl, masks, bf16=True)
    assert np.abs(fast.astype(int) - refine_clip(net, poly, de, dl, masks, bf16=False).astype(int)).max() <= 8
    with pytest.raises(ValueError, match="masks"):
        refine_clip(net, poly, de, dl, masks[:, :1])
    with pytest.raises(ValueError, match="bands"):
        refine_clip(net, poly, de, dl, masks, bands=3)


def _refuse(poly, de, dl, maps):
    """Eqs. 1-3 on the uint8 branches with the returned (quantised) maps -> (H, W, 3) float 0-255."""
    t = lambda a: torch.from_numpy(a.astype(np.float32) / 255).permute(2, 0, 1)[None]
    m = lambda k: torch.from_numpy(maps[k])[None, None]
    return fuse(t(poly), t(de), t(dl), m("m1"), m("m2"), m("m3"), t(maps["c"]))[0].permute(1, 2, 0).numpy() * 255


@pytest.mark.parametrize("bands", [None, BandConfig(band=16, margin=56, width=128, gap=56)], ids=["whole", "bands"])
def test_refine_frames_maps_are_the_ones_behind_the_output(bands):
    torch.manual_seed(0)
    net = perturbed(MHFURefiner(), scale=1.0)
    frames = [frame_inputs(120, 181, seed=s) for s in range(3)]
    poly, de, dl = (np.stack([f[i] for f in frames]) for i in range(3))
    masks = np.stack([f[3] for f in frames])
    masks[:, 0, 50:80, 90:96] = True
    res = refine_frames(net, poly, de, dl, masks, bands=bands, bf16=False, maps=[2, 0])
    assert sorted(res.maps) == [0, 2]
    np.testing.assert_array_equal(res.right, refine_clip(net, poly, de, dl, masks, bands=bands, bf16=False))
    for t, maps in res.maps.items():
        assert maps["m1"].shape == (120, 181) and maps["m1"].dtype == np.float32 and maps["c"].dtype == np.uint8
        # the output is eqs. 1-3 of these very maps (up to their 1/255 quantisation)
        assert np.abs(_refuse(poly[t], de[t], dl[t], maps) - res.right[t]).max() <= 3
    if bands is not None:  # away from the holes the output is Poly, and the maps say so
        import cv2

        near = refined_region(masks[:1])[0]
        keep = ~near
        assert (res.maps[0]["m1"][keep] == 1).all() and (res.maps[0]["m3"][keep] == 1).all() and (res.maps[0]["c"][keep] == 0).all()
    with pytest.raises(ValueError, match="maps"):
        refine_frames(net, poly, de, dl, masks, maps=[3])


def test_refined_region_and_its_tensor_twin_agree():
    """The training composite keeps the refined view on exactly the pixels inference keeps."""
    rng = np.random.default_rng(3)
    masks = rng.random((2, 2, 23, 31)) > 0.93
    masks[:, :, 0, :] = False
    masks[0, 0, 0, 30] = True  # a hole in the corner: the dilation stops at the border
    region = refined_region(masks)
    assert region.shape == (2, 23, 31) and region[masks[:, 0]].all() and region.sum() > masks[:, 0].sum()
    one = np.zeros((1, 1, 5, 7), bool)
    one[0, 0, 2, 3] = True  # a single hole pixel: it and its left and right neighbours
    expected = np.zeros((1, 5, 7), bool)
    expected[0, 2, 3 - REFINE_RING : 4 + REFINE_RING] = True
    np.testing.assert_array_equal(refined_region(one), expected)
    assert not region[~masks[:, 0] & masks[:, 1] & ~region].any()
    refined, poly = torch.rand(2, 3, 23, 31), torch.rand(2, 3, 23, 31)
    refined.requires_grad_(True)
    shown = compose_refined(refined, poly, torch.from_numpy(masks[:, :1]).float())
    keep = torch.from_numpy(region)[:, None].expand(-1, 3, -1, -1)
    assert torch.equal(shown[keep], refined[keep]) and torch.equal(shown[~keep], poly[~keep])
    shown.sum().backward()
    assert torch.equal(refined.grad, keep.float())  # gradients reach the refined pixels only there
    assert refined_region(np.zeros((1, 0, 4, 5), bool)).all()  # no masks: every pixel refined
    with pytest.raises(ValueError, match="hole"):
        compose_refined(refined, poly, torch.zeros(2, 2, 23, 31))
