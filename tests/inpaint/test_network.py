"""The learned inpainter's network: gated convolutions, the U-Net, its reach, saving and loading."""

from __future__ import annotations

import json
from dataclasses import asdict

import pytest
import torch
import torch.nn.functional as F
from tiny_inpainter import TINY, tiny_model

from spatialme.inpaint.network import GatedConv2d, GatedInpainter, InpainterConfig
from spatialme.losses import content_loss

# tiny tensors: thread hand-off costs more than it gains (and much more on a busy CI box)
pytestmark = pytest.mark.usefixtures("one_torch_thread")


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
    # a channels-last input takes the two-convolution path: same numbers, dense halves
    nhwc = layer(x.contiguous(memory_format=torch.channels_last))
    assert nhwc.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(nhwc, out)


def test_inference_runs_channels_last_with_the_training_numbers():
    """Grad off: the channels-last layout (the fast CPU path); grad on: NCHW. Same output,
    the odd size (padding) and bfloat16 autocast included."""
    torch.manual_seed(1)
    model = GatedInpainter(base_channels=4, levels=3, dilations=(2,)).eval()
    rgb, disp = torch.rand(2, 3, 13, 22), torch.rand(2, 1, 13, 22)
    mask = (torch.rand(2, 1, 13, 22) > 0.7).float()
    train_layout = model(rgb, mask, disp)
    assert train_layout.stride()[1] > train_layout.stride()[-1]  # NCHW under autograd
    with torch.inference_mode():
        fast = model(rgb, mask, disp)
    assert fast.stride()[1] == 1  # channels last
    torch.testing.assert_close(fast, train_layout.detach(), atol=1e-6, rtol=0)
    with torch.inference_mode(), torch.autocast("cpu", torch.bfloat16):
        fast16 = model(rgb, mask, disp).float()
    with torch.autocast("cpu", torch.bfloat16):
        slow16 = model(rgb, mask, disp).float()
    assert (fast16 - slow16.detach()).abs().max() <= 1 / 128  # a bfloat16 rounding at most


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
    loss = content_loss(model(rgb, mask, torch.rand(2, 1, 16, 16)), rgb, mask)
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
    assert GatedInpainter(**asdict(model.config)).config == model.config  # the config holds the constructor keywords
