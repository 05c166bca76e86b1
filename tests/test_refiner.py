from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from spatialme.bands import BandConfig
from spatialme.refiner import FeatureUpdateUnit, MHFURefiner, RefinerOutput, branch_weights, fuse


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


def test_branch_weights_are_eqs_1_to_3_written_flat():
    poly, de, dl, _ = branches(2, 5, 6)
    content = torch.rand(2, 3, 5, 6)
    m1, m2, m3 = (torch.rand(2, 1, 5, 6) for _ in range(3))
    w = branch_weights(m1, m2, m3)
    flat = w["poly"] * poly + w["de"] * de + w["dl"] * dl + w["content"] * content
    torch.testing.assert_close(flat, fuse(poly, de, dl, m1, m2, m3, content))
    torch.testing.assert_close(sum(w.values()), torch.ones(2, 1, 5, 6))
    hand = branch_weights(np.float32(0.25), np.float32(0.5), np.float32(0.8))  # arrays work too
    assert {k: round(float(v), 4) for k, v in hand.items()} == {"poly": 0.1, "de": 0.3, "dl": 0.4, "content": 0.2}


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


def test_disparity_input_starts_as_the_refiner_it_widens_then_reads_the_disparity():
    net = perturbed(MHFURefiner(base_channels=8, levels=2)).eval()
    wide = net.with_disparity_input()
    assert wide.disparity_input and wide.in_channels == net.in_channels + 1 == 12
    poly, de, dl, masks = branches(2, 24, 40)
    g = torch.Generator().manual_seed(5)
    near, far = torch.rand(2, 1, 24, 40, generator=g), torch.zeros(2, 1, 24, 40)
    with torch.no_grad():
        before = net(poly, de, dl, masks).image
        torch.testing.assert_close(wide(poly, de, dl, masks, near).image, before, rtol=0, atol=0)  # zero weights: no effect yet
    wide.train()
    loss = wide(poly, de, dl, masks, near).image.square().mean()
    loss.backward()
    assert wide.stem[0].weight.grad[:, -1].abs().sum() > 0  # training can move the new weights
    with torch.no_grad():
        wide.stem[0].weight[:, -1].normal_(0.0, 3.0, generator=g)
        changed = wide(poly, de, dl, masks, near).m1 - wide(poly, de, dl, masks, far).m1
        assert changed.abs().max() > 1e-3  # the masks now depend on the disparity
    with pytest.raises(ValueError, match="already reads"):
        wide.with_disparity_input()


def test_disparity_is_checked_against_the_config():
    net = MHFURefiner(base_channels=8, levels=2)
    wide = MHFURefiner(base_channels=8, levels=2, disparity_input=True)
    poly, de, dl, masks = branches(1, 16, 16)
    disparity = torch.rand(1, 1, 16, 16)
    with pytest.raises(ValueError, match="does not read the disparity"):
        net(poly, de, dl, masks, disparity)
    with pytest.raises(ValueError, match=r"disparity: expected shape \(1, 1, 16, 16\)"):
        wide(poly, de, dl, masks)
    with pytest.raises(ValueError, match="disparity: expected shape"):
        wide(poly, de, dl, masks, disparity[..., :8])
    with pytest.raises(ValueError, match="disparity_input"):
        MHFURefiner(disparity_input=1)


# --- save / load ---------------------------------------------------------------------


def test_save_pretrained_round_trip(tmp_path):
    net = perturbed(MHFURefiner(base_channels=8, levels=2, mask_channels=2)).eval()
    net.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").is_file()
    assert json.loads((tmp_path / "config.json").read_text()) == {"base_channels": 8, "levels": 2, "mask_channels": 2, "disparity_input": False}
    loaded = MHFURefiner.from_pretrained(tmp_path)
    assert (loaded.base_channels, loaded.levels, loaded.mask_channels) == (8, 2, 2)
    assert not loaded.training
    inputs = branches(1, 21, 30)
    with torch.no_grad():
        torch.testing.assert_close(loaded(*inputs).image, net(*inputs).image, rtol=0, atol=0)
    for key, value in net.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    wide = net.with_disparity_input()
    wide.save_pretrained(tmp_path / "wide")
    assert json.loads((tmp_path / "wide" / "config.json").read_text())["disparity_input"] is True
    assert MHFURefiner.from_pretrained(tmp_path / "wide").in_channels == 12


# --- inference on packed bands ---------------------------------------------------------


def test_receptive_field_is_about_50px():
    net = perturbed(MHFURefiner(), scale=1.0)
    x = torch.rand(1, 3, 192, 192, requires_grad=True)
    out = net(x, x, x, torch.zeros(1, 2, 192, 192))
    out.image[0, :, 96, 96].sum().backward()
    rows = torch.nonzero(x.grad.abs().sum((0, 1, 3)) > 0).flatten()
    assert 30 <= 96 - rows.min().item() <= 56 and rows.max().item() - 96 <= 56
