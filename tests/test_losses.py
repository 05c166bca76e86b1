from __future__ import annotations

import logging

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from spatialme.losses import (
    VGG19_ENV,
    LossConfig,
    PatchDiscriminator,
    PerceptualLoss,
    adversarial_losses,
    build_vgg19_features,
    content_loss,
    gradient_penalty,
    total_loss,
)


@pytest.fixture
def no_vgg_env(monkeypatch):
    monkeypatch.delenv(VGG19_ENV, raising=False)


@pytest.fixture(scope="session")
def random_vgg_file(tmp_path_factory):
    """A *randomly initialised* VGG19 state dict in torchvision's key format.

    Tests that use it check the loading and gradient plumbing only; random VGG features are
    not a perceptual metric.
    """
    torch.manual_seed(0)
    state = {f"features.{k}": v for k, v in build_vgg19_features(23).state_dict().items()}
    state["classifier.0.weight"] = torch.zeros(4, 4)  # keys past relu4_1 are ignored
    path = tmp_path_factory.mktemp("vgg") / "vgg19-random.pth"
    torch.save(state, path)
    return path


# --- content loss, eq. 8 -------------------------------------------------------------


def test_content_loss_hand_computed():
    pred = torch.tensor([[[[0.0, 0.5], [1.0, 0.2]]]])
    target = torch.tensor([[[[1.0, 0.5], [0.5, 0.0]]]])
    occlusion = torch.tensor([[[[1.0, 0.0], [0.0, 1.0]]]])
    # |diff| = 1, 0, .5, .2; holes (weight 10): 1 and .2; known: 0 and .5
    expected = (10 * (1.0 + 0.2) + (0.0 + 0.5)) / 4
    torch.testing.assert_close(content_loss(pred, target, occlusion), torch.tensor(expected))
    torch.testing.assert_close(content_loss(pred, target, occlusion, alpha=1.0), torch.tensor(1.7 / 4))
    torch.testing.assert_close(content_loss(pred, target, occlusion[:, 0].bool()), torch.tensor(expected))


def test_content_loss_l2_squares_the_differences_with_the_same_weights():
    pred = torch.tensor([[[[0.0, 0.5], [1.0, 0.2]]]], requires_grad=True)
    target = torch.tensor([[[[1.0, 0.5], [0.5, 0.0]]]])
    occlusion = torch.tensor([[[[1.0, 0.0], [0.0, 1.0]]]])
    loss = content_loss(pred, target, occlusion, norm="l2")
    torch.testing.assert_close(loss, torch.tensor((10 * (1.0 + 0.04) + (0.0 + 0.25)) / 4))
    loss.backward()  # d/dp of w (p - t)^2 / 4 = w (p - t) / 2
    torch.testing.assert_close(pred.grad, torch.tensor([[[[-5.0, 0.0], [0.25, 1.0]]]]))
    # a far-off pixel costs more than its share under L2: one error of 0.4 vs two of 0.2
    one = content_loss(torch.tensor([[[[0.4, 0.0]]]]), torch.zeros(1, 1, 1, 2), torch.zeros(1, 1, 2), norm="l2")
    two = content_loss(torch.tensor([[[[0.2, 0.2]]]]), torch.zeros(1, 1, 1, 2), torch.zeros(1, 1, 2), norm="l2")
    assert one.item() == pytest.approx(2 * two.item())
    with pytest.raises(ValueError, match="norm"):
        content_loss(pred, target, occlusion, norm="l3")
    with pytest.raises(ValueError, match="norm"):
        LossConfig(norm="huber")


def test_content_loss_is_independent_of_image_size_and_channels():
    occ_small = torch.zeros(1, 1, 4, 4)
    occ_small[..., :2, :] = 1
    small = content_loss(torch.zeros(1, 3, 4, 4), torch.full((1, 3, 4, 4), 0.1), occ_small)
    big = content_loss(torch.zeros(2, 3, 40, 40), torch.full((2, 3, 40, 40), 0.1), occ_small.repeat(2, 1, 10, 10))
    torch.testing.assert_close(small, big)
    torch.testing.assert_close(small, torch.tensor(0.1 * (10 + 1) / 2))


def test_content_loss_weights_holes():
    pred, target = torch.zeros(1, 3, 2, 2), torch.ones(1, 3, 2, 2)
    mask = torch.tensor([[[[1.0, 0.0], [0.0, 0.0]]]])
    assert content_loss(pred, target, mask).item() == pytest.approx((10 + 3) / 4)
    assert content_loss(pred, target, mask, alpha=1.0).item() == pytest.approx(1.0)


def test_content_loss_validates():
    with pytest.raises(ValueError, match="target"):
        content_loss(torch.zeros(1, 3, 4, 4), torch.zeros(1, 3, 4, 5), torch.zeros(1, 4, 4))
    with pytest.raises(ValueError, match="occlusion"):
        content_loss(torch.zeros(1, 3, 4, 4), torch.zeros(1, 3, 4, 4), torch.zeros(1, 3, 4, 4))


# --- perceptual loss, eq. 9 ----------------------------------------------------------


def test_vgg19_layout_matches_torchvision_indices():
    feats = build_vgg19_features(37)
    convs = [i for i, m in enumerate(feats) if isinstance(m, nn.Conv2d)]
    assert convs == [0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34]
    assert sum(p.numel() for p in feats.parameters()) == 20_024_384  # torchvision vgg19.features
    assert [type(m).__name__ for m in build_vgg19_features()][-2:] == ["Conv2d", "ReLU"]  # ends at relu4_1


def test_perceptual_disabled_warns_once_and_returns_zero(no_vgg_env, caplog):
    with caplog.at_level(logging.WARNING, logger="spatialme"):
        loss = PerceptualLoss()
        pred = torch.rand(1, 3, 16, 16, requires_grad=True)
        values = [loss(pred, torch.rand(1, 3, 16, 16)) for _ in range(3)]
    assert not loss.enabled
    assert all(v.item() == 0.0 for v in values)
    warnings = [r for r in caplog.records if r.name == "spatialme" and r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "OFF" in warnings[0].getMessage() and VGG19_ENV in warnings[0].getMessage()


def test_perceptual_missing_file_is_an_error(no_vgg_env, tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="weights_path"):
        PerceptualLoss(tmp_path / "absent.pth")
    monkeypatch.setenv(VGG19_ENV, str(tmp_path / "absent.pth"))
    with pytest.raises(ValueError, match=VGG19_ENV):
        PerceptualLoss()


def test_perceptual_rejects_a_file_that_is_not_vgg19(tmp_path):
    path = tmp_path / "other.safetensors"
    save_file({"features.0.weight": torch.zeros(64, 3, 3, 3)}, str(path))
    with pytest.raises(ValueError, match="not a VGG19"):
        PerceptualLoss(path)


def test_perceptual_plumbing_with_random_weights(random_vgg_file, no_vgg_env):
    """Plumbing only: a random VGG19 loads, gives a positive loss and a gradient."""
    loss = PerceptualLoss(random_vgg_file)
    assert loss.enabled
    assert all(not p.requires_grad for p in loss.parameters())
    pred = torch.rand(2, 3, 32, 32, requires_grad=True)
    target = torch.rand(2, 3, 32, 32)
    value = loss(pred, target)
    assert value.item() > 0
    value.backward()
    assert pred.grad is not None and pred.grad.abs().sum() > 0
    assert loss(target, target).item() == 0.0
    loss.train()
    assert not loss.features.training


def test_perceptual_from_env_and_safetensors(random_vgg_file, tmp_path, monkeypatch):
    """Plumbing only: the env var and the safetensors format are honoured."""
    state = torch.load(random_vgg_file, weights_only=True)
    path = tmp_path / "vgg19.safetensors"
    save_file({k: v for k, v in state.items() if k.startswith("features.")}, str(path))
    monkeypatch.setenv(VGG19_ENV, str(path))
    from_env = PerceptualLoss()
    from_arg = PerceptualLoss(random_vgg_file)
    pred, target = torch.rand(1, 3, 24, 24), torch.rand(1, 3, 24, 24)
    torch.testing.assert_close(from_env(pred, target), from_arg(pred, target))


# --- adversarial loss, eq. 10, and the gradient penalty ------------------------------


class LinearCritic(nn.Module):
    """``D(x) = <w, x>`` with ``||w|| = 1``: its input gradient has norm exactly 1."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        super().__init__()
        w = torch.randn(shape, generator=torch.Generator().manual_seed(0))
        self.w = nn.Parameter(w / w.norm())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x * self.w).flatten(1).sum(1)


def test_gradient_penalty_is_zero_for_unit_gradient_critic():
    critic = LinearCritic((3, 8, 8))
    real, fake = torch.rand(4, 3, 8, 8), torch.rand(4, 3, 8, 8)
    assert gradient_penalty(critic, real, fake).item() == pytest.approx(0.0, abs=1e-10)


def test_gradient_penalty_of_scaled_critic():
    critic = LinearCritic((3, 8, 8))
    with torch.no_grad():
        critic.w.mul_(3.0)  # gradient norm 3 -> 10 * (3 - 1)^2 = 40
    penalty = gradient_penalty(critic, torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 8))
    assert penalty.item() == pytest.approx(40.0, rel=1e-5)
    penalty.backward()
    assert critic.w.grad.abs().sum() > 0


def test_adversarial_losses_wgan_form():
    critic = LinearCritic((3, 8, 8))
    real, fake = torch.rand(4, 3, 8, 8), torch.rand(4, 3, 8, 8, requires_grad=True)
    out = adversarial_losses(critic, real, fake)
    d_real, d_fake = critic(real).mean(), critic(fake).mean()
    torch.testing.assert_close(out.critic, d_fake - d_real + out.penalty)
    torch.testing.assert_close(out.generator, -d_fake)
    assert abs(out.penalty.item()) < 1e-10
    out.critic.backward()
    assert fake.grad is None  # the critic step does not reach the generator
    out.generator.backward()
    assert fake.grad is not None and fake.grad.abs().sum() > 0


def test_patch_discriminator_shapes_and_size():
    disc = PatchDiscriminator()
    assert disc(torch.rand(2, 3, 64, 96)).shape == (2, 1, 6, 10)
    assert sum(p.numel() for p in disc.parameters()) < 700_000
    out = adversarial_losses(disc, torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32))
    assert out.penalty.item() > 0
    out.critic.backward()
    assert all(p.grad is not None for p in disc.parameters())


# --- total loss, eq. 11 --------------------------------------------------------------


def generator_and_inputs():
    torch.manual_seed(0)
    gen = nn.Conv2d(3, 3, 3, padding=1)
    source, target = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
    occlusion = torch.zeros(2, 1, 32, 32)
    occlusion[..., 8:20, 10:16] = 1
    return gen, source, target, occlusion


def test_total_loss_weights(random_vgg_file, no_vgg_env):
    gen, source, target, occlusion = generator_and_inputs()
    pred = torch.sigmoid(gen(source))
    terms = total_loss(pred, target, occlusion, PerceptualLoss(random_vgg_file), PatchDiscriminator())
    assert LossConfig() == LossConfig(alpha=10.0, lambda_content=10.0, lambda_perceptual=2.0, lambda_adversarial=0.1)
    torch.testing.assert_close(terms.total, 10 * terms.content + 2 * terms.perceptual + 0.1 * terms.adversarial)
    torch.testing.assert_close(terms.content, content_loss(pred, target, occlusion))
    config = LossConfig(lambda_content=1.0, lambda_perceptual=0.0, lambda_adversarial=0.0)
    torch.testing.assert_close(total_loss(pred, target, occlusion, config=config).total, terms.content)


def test_total_loss_without_optional_terms(no_vgg_env):
    gen, source, target, occlusion = generator_and_inputs()
    pred = torch.sigmoid(gen(source))
    terms = total_loss(pred, target, occlusion, PerceptualLoss(), None)
    assert terms.perceptual.item() == 0.0 and terms.adversarial.item() == 0.0
    torch.testing.assert_close(terms.total, 10 * terms.content)


@pytest.mark.parametrize("term", ["content", "perceptual", "adversarial", "total"])
def test_gradients_reach_the_generator_through_every_term(term, random_vgg_file, no_vgg_env):
    gen, source, target, occlusion = generator_and_inputs()
    pred = torch.sigmoid(gen(source))
    terms = total_loss(pred, target, occlusion, PerceptualLoss(random_vgg_file), PatchDiscriminator())
    getattr(terms, term).backward()
    for p in gen.parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0
