"""Training losses of the refiner, paper Sec. III-D, eqs. 8-11.

Why it is built this way
------------------------
- Content (eq. 8): L1, weighted ``alpha = 10`` inside the occlusion mask. Outside the holes
  every branch already shows the warped left view, so most of the frame is easy; without
  the weight the few hole pixels, where the branches disagree and the refiner earns its
  keep, would hardly move the loss. Both sums are divided by the same constant, the number
  of elements ``B * C * H * W``: the relative weight of hole and known pixels stays exactly
  as in eq. 8 (a hole pixel counts ``alpha`` times a known one) while the value no longer
  grows with the image size. (Dividing each region by its own pixel count would instead
  give a 10-pixel hole the weight of the rest of the frame.)
- Perceptual (eq. 9): L1 between VGG19 ``conv2_1``, ``conv3_1`` and ``conv4_1`` features
  [19, 20], each term a mean over its elements. We take the activations after the ReLU of
  those layers, as Johnson et al. and most implementations do, and feed ImageNet-normalised
  inputs. The network is built here with torchvision's ``vgg19().features`` layer layout
  (indices 0-20), so a torchvision state dict loads from a local file without torchvision.
  Without weights the term is switched off and says so once: random VGG features are not a
  perceptual metric and must never pass for one.
- Adversarial (eq. 10): the WGAN form the paper writes, ``E[D(fake)] - E[D(real)]`` for the
  critic and ``-E[D(fake)]`` for the generator, with the WGAN-GP gradient penalty
  (Gulrajani et al., 2017) to keep the critic 1-Lipschitz; a weight-clipped or
  unconstrained critic makes this objective unstable. The critic is a small PatchGAN
  without normalisation layers (batch norm would break the per-sample penalty).
- Total (eq. 11): ``lambda1 * L_c + lambda2 * L_per + lambda3 * L_adv`` with the paper's
  10, 2 and 0.1 (:class:`LossConfig`).

All images are ``(B, 3, H, W)`` float in [0, 1].
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "AdversarialLosses",
    "CONTENT_NORMS",
    "LossConfig",
    "LossTerms",
    "PatchDiscriminator",
    "PerceptualLoss",
    "VGG19_ENV",
    "adversarial_losses",
    "build_vgg19_features",
    "content_loss",
    "gradient_penalty",
    "total_loss",
]

logger = logging.getLogger("spatialme")

#: Environment variable naming a local torchvision-format VGG19 state dict.
VGG19_ENV = "SPATIALME_VGG19"

#: torchvision's VGG19 ("E") configuration: channel counts, "M" = 2x2 max-pool.
_VGG19_CFG = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M")

#: ``features`` indices of the ReLUs after conv2_1, conv3_1 and conv4_1 (eq. 9).
_VGG_LAYERS = {"conv2_1": 6, "conv3_1": 11, "conv4_1": 20}

_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


def _check_pair(pred: torch.Tensor, target: torch.Tensor) -> None:
    if not isinstance(pred, torch.Tensor) or pred.ndim != 4:
        raise ValueError(f"pred: expected a tensor of shape (B, C, H, W), got {getattr(pred, 'shape', type(pred))}")
    if not isinstance(target, torch.Tensor) or target.shape != pred.shape:
        got = getattr(target, "shape", type(target))
        raise ValueError(f"target: expected shape {tuple(pred.shape)} to match pred, got {got}")


#: Distances :func:`content_loss` accepts.
CONTENT_NORMS = ("l1", "l2")


def content_loss(pred: torch.Tensor, target: torch.Tensor, occlusion: torch.Tensor, alpha: float = 10.0, norm: str = "l1") -> torch.Tensor:
    """Occlusion-weighted L1 (eq. 8) or squared error, divided by the number of elements.

    ``(alpha * sum_{x in O} |pred - target| + sum_{x not in O} |pred - target|) / (B C H W)``.
    A soft mask weighs a pixel ``1 + (alpha - 1) * O(x)``, the same for a 0/1 mask. With
    ``norm="l2"`` each difference is squared instead (the same weights): the error PSNR
    measures. L1 is minimised by a per-pixel median, so a blend trained on it keeps a branch
    that is exactly right on most pixels even when it is far off on the rest; squared error
    charges those tails.

    Args:
        pred: ``(B, C, H, W)`` result ``I_g`` in [0, 1].
        target: ``(B, C, H, W)`` ground truth.
        occlusion: ``(B, 1, H, W)`` or ``(B, H, W)`` mask, bool or float in [0, 1], 1 = hole.
        alpha: weight of the occluded pixels (paper: 10).
        norm: ``"l1"`` (paper) or ``"l2"``.

    Returns:
        Scalar loss.

    Example:
        >>> pred, target = torch.zeros(1, 1, 1, 2), torch.tensor([[[[1.0, 1.0]]]])
        >>> content_loss(pred, target, torch.tensor([[[True, False]]])).item()
        5.5
    """
    _check_pair(pred, target)
    if not isinstance(occlusion, torch.Tensor):
        raise ValueError(f"occlusion: expected a tensor, got {type(occlusion).__name__}")
    if occlusion.ndim == 3:
        occlusion = occlusion[:, None]
    expected = (pred.shape[0], 1, *pred.shape[2:])
    if tuple(occlusion.shape) != expected:
        accepted = f"{expected} or {(expected[0], *expected[2:])}"
        raise ValueError(f"occlusion: expected shape {accepted}, got {tuple(occlusion.shape)}")
    if norm not in CONTENT_NORMS:
        raise ValueError(f"norm: expected one of {CONTENT_NORMS}, got {norm!r}")
    weight = 1.0 + (alpha - 1.0) * occlusion.to(pred.dtype)
    diff = pred - target
    return (weight * (diff.abs() if norm == "l1" else diff.square())).mean()


def build_vgg19_features(depth: int = _VGG_LAYERS["conv4_1"] + 1) -> nn.Sequential:
    """The first ``depth`` modules of torchvision's ``vgg19().features``, same indices.

    Args:
        depth: number of modules to keep (the default ends at relu4_1).

    Returns:
        ``nn.Sequential`` whose ``state_dict`` keys (``"0.weight"``, ``"2.bias"``, ...) are
        torchvision's ``features.*`` keys without the prefix.
    """
    layers: list[nn.Module] = []
    channels = 3
    for item in _VGG19_CFG:
        if item == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers += [nn.Conv2d(channels, item, kernel_size=3, padding=1), nn.ReLU(inplace=True)]
            channels = item
    return nn.Sequential(*layers[:depth])


def _load_state_dict(path: Path) -> dict[str, torch.Tensor]:
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    return torch.load(str(path), map_location="cpu", weights_only=True)


class PerceptualLoss(nn.Module):
    """VGG19 feature L1, eq. 9, or a no-op when no real weights are available.

    Weights: ``weights_path``, else the file named by ``$SPATIALME_VGG19``, a torchvision
    ``vgg19`` state dict (``features.N.weight`` keys, or ``N.weight``) as ``.pth`` (loaded
    with ``weights_only=True``) or ``.safetensors``. torchvision's IMAGENET1K_V1 file is
    ``vgg19-dcbb9e9d.pth``. With neither set, :attr:`enabled` is False, one warning is
    logged on the ``"spatialme"`` logger, and the loss is 0.

    Args:
        weights_path: local state-dict file; overrides the environment variable.

    Raises:
        ValueError: a path is given (argument or variable) but the file does not exist or
            lacks a layer.
    """

    def __init__(self, weights_path: str | os.PathLike | None = None) -> None:
        super().__init__()
        source = "weights_path"
        if weights_path is None and os.environ.get(VGG19_ENV):
            weights_path, source = os.environ[VGG19_ENV], VGG19_ENV
        self.enabled = weights_path is not None
        self.register_buffer("mean", torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        if not self.enabled:
            self.features = None
            logger.warning(
                "Perceptual loss (eq. 9) is OFF: no VGG19 weights. To enable it, pass "
                "PerceptualLoss(weights_path=...) or set %s to a local torchvision vgg19 state "
                "dict (.pth or .safetensors, e.g. vgg19-dcbb9e9d.pth).",
                VGG19_ENV,
            )
            return
        path = Path(weights_path)
        if not path.is_file():
            raise ValueError(f"{source}: no such VGG19 weights file: {path}")
        state = {k.removeprefix("features."): v for k, v in _load_state_dict(path).items()}
        self.features = build_vgg19_features()
        wanted = self.features.state_dict().keys()
        missing = [k for k in wanted if k not in state]
        if missing:
            raise ValueError(f"{source}: {path} is not a VGG19 state dict (missing {', '.join(missing[:3])})")
        self.features.load_state_dict({k: state[k] for k in wanted})
        self.features.requires_grad_(False).eval()

    def train(self, mode: bool = True) -> PerceptualLoss:
        """Keep the frozen VGG in eval mode whatever the parent module does."""
        super().train(mode)
        if self.features is not None:
            self.features.eval()
        return self

    def _phi(self, image: torch.Tensor) -> list[torch.Tensor]:
        x = (image - self.mean) / self.std
        feats = []
        last = max(_VGG_LAYERS.values())
        for index, layer in enumerate(self.features):
            x = layer(x)
            if index in _VGG_LAYERS.values():
                feats.append(x)
            if index == last:
                break
        return feats

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Sum over the three layers of the mean absolute feature difference.

        Args:
            pred: ``(B, 3, H, W)`` result in [0, 1] (gradients flow through it).
            target: ``(B, 3, H, W)`` ground truth in [0, 1].

        Returns:
            Scalar loss; a constant 0 when disabled.
        """
        _check_pair(pred, target)
        if not self.enabled:
            return pred.new_zeros(())
        if pred.shape[1] != 3:
            raise ValueError(f"pred: expected 3 channels (RGB), got shape {tuple(pred.shape)}")
        with torch.no_grad():
            real = self._phi(target)
        return sum(F.l1_loss(f, r) for f, r in zip(self._phi(pred), real))


class PatchDiscriminator(nn.Module):
    """A small PatchGAN critic: one unbounded score per ~70 px patch (WGAN, no sigmoid).

    Four 4x4 convolutions (three of stride 2) with LeakyReLU(0.2), then a 4x4 convolution to
    one channel. No normalisation: the gradient penalty is defined per sample and batch
    norm would couple the samples.

    Args:
        in_channels: channels of the judged image (3 for RGB).
        channels: width of the first layer (doubles per stride, at most ``4 * channels``).
    """

    def __init__(self, in_channels: int = 3, channels: int = 32) -> None:
        super().__init__()
        widths = (channels, 2 * channels, 4 * channels, 4 * channels)
        layers: list[nn.Module] = []
        cin = in_channels
        for k, cout in enumerate(widths):
            layers += [nn.Conv2d(cin, cout, 4, stride=2 if k < 3 else 1, padding=1), nn.LeakyReLU(0.2, inplace=True)]
            cin = cout
        layers.append(nn.Conv2d(cin, 1, 4, stride=1, padding=1))
        self.net = nn.Sequential(*layers)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """Score patches.

        Args:
            image: ``(B, C, H, W)`` in [0, 1], ``H, W >= 32``.

        Returns:
            ``(B, 1, H / 8 - 2, W / 8 - 2)`` scores, higher = more real.
        """
        return self.net(image)


class AdversarialLosses(NamedTuple):
    """Eq. 10 split into the two players' objectives (both to be minimised).

    Attributes:
        critic: ``E[D(fake)] - E[D(real)] + penalty``, for the discriminator step (the
            fake is detached: no gradient reaches the generator).
        generator: ``-E[D(fake)]``, for the generator step. It also puts gradients into the
            critic's parameters: freeze the critic or zero its gradients before its step.
        penalty: the weighted gradient penalty included in ``critic``.
    """

    critic: torch.Tensor
    generator: torch.Tensor
    penalty: torch.Tensor


def gradient_penalty(
    disc: nn.Module,
    real: torch.Tensor,
    fake: torch.Tensor,
    weight: float = 10.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """WGAN-GP: ``weight * E[(||grad_x D(x)||_2 - 1)^2]`` on random real/fake mixes.

    ``x = eps * real + (1 - eps) * fake`` with one ``eps ~ U[0, 1]`` per sample; the norm is
    over all of a sample's elements, and a patch critic's scores are summed first.

    Args:
        disc: the critic.
        real: ``(B, C, H, W)`` real images.
        fake: ``(B, C, H, W)`` generated images (detached here).
        weight: penalty weight (Gulrajani et al.: 10).
        generator: optional RNG for ``eps``.

    Returns:
        Scalar penalty, differentiable w.r.t. the critic's parameters.
    """
    _check_pair(fake, real)
    eps = torch.rand((real.shape[0], 1, 1, 1), generator=generator, dtype=real.dtype).to(real.device)
    mixed = (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)
    with torch.enable_grad():
        score = disc(mixed)
        (grad,) = torch.autograd.grad(score.sum(), mixed, create_graph=True)
    norm = grad.flatten(1).norm(dim=1)
    return weight * ((norm - 1.0) ** 2).mean()


def adversarial_losses(
    disc: nn.Module, real: torch.Tensor, fake: torch.Tensor, gp_weight: float = 10.0
) -> AdversarialLosses:
    """Eq. 10 in the WGAN form, with the gradient penalty in the critic's loss.

    Args:
        disc: the critic (e.g. :class:`PatchDiscriminator`).
        real: ``(B, 3, H, W)`` ground truth ``I_g``.
        fake: ``(B, 3, H, W)`` refiner output ``Î_g`` (with its graph, for the generator).
        gp_weight: weight of :func:`gradient_penalty`; 0 turns it off.

    Returns:
        :class:`AdversarialLosses`.
    """
    _check_pair(fake, real)
    real_score = disc(real.detach()).mean()
    penalty = gradient_penalty(disc, real, fake, gp_weight) if gp_weight > 0 else real.new_zeros(())
    critic = disc(fake.detach()).mean() - real_score + penalty
    generator = -disc(fake).mean()
    return AdversarialLosses(critic, generator, penalty)


@dataclass(frozen=True)
class LossConfig:
    """Weights of eqs. 8 and 11 (paper values).

    Attributes:
        alpha: weight of occluded pixels in the content loss (eq. 8).
        lambda_content: ``lambda1``, weight of ``L_c``.
        lambda_perceptual: ``lambda2``, weight of ``L_per``.
        lambda_adversarial: ``lambda3``, weight of the generator's ``L_adv``.
        gp_weight: WGAN-GP weight in the critic's loss (not part of eq. 11).
        norm: the content loss's distance, ``"l1"`` (paper) or ``"l2"`` (see :func:`content_loss`).
    """

    alpha: float = 10.0
    lambda_content: float = 10.0
    lambda_perceptual: float = 2.0
    lambda_adversarial: float = 0.1
    gp_weight: float = 10.0
    norm: str = "l1"

    def __post_init__(self) -> None:
        if self.norm not in CONTENT_NORMS:
            raise ValueError(f"norm: expected one of {CONTENT_NORMS}, got {self.norm!r}")


@dataclass
class LossTerms:
    """The generator's objective, eq. 11, and its unweighted terms (scalars).

    Attributes:
        total: ``lambda1 * content + lambda2 * perceptual + lambda3 * adversarial``.
        content: ``L_c`` (eq. 8).
        perceptual: ``L_per`` (eq. 9); 0 when disabled or not given.
        adversarial: the generator's ``-E[D(fake)]`` (eq. 10); 0 without a critic.
    """

    total: torch.Tensor
    content: torch.Tensor
    perceptual: torch.Tensor
    adversarial: torch.Tensor


def total_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    occlusion: torch.Tensor,
    perceptual: PerceptualLoss | None = None,
    disc: nn.Module | None = None,
    config: LossConfig = LossConfig(),
) -> LossTerms:
    """The generator's loss, eq. 11.

    Args:
        pred: ``(B, 3, H, W)`` refiner output in [0, 1].
        target: ``(B, 3, H, W)`` ground-truth right view.
        occlusion: ``(B, 1, H, W)`` or ``(B, H, W)`` hole mask of the warp.
        perceptual: a :class:`PerceptualLoss` (``None`` = term off).
        disc: the critic (``None`` = term off).
        config: weights.

    Returns:
        :class:`LossTerms`. Train the critic separately with
        :func:`adversarial_losses` ``.critic``.
    """
    content = content_loss(pred, target, occlusion, config.alpha, config.norm)
    per = perceptual(pred, target) if perceptual is not None else pred.new_zeros(())
    adv = -disc(pred).mean() if disc is not None else pred.new_zeros(())
    total = config.lambda_content * content + config.lambda_perceptual * per + config.lambda_adversarial * adv
    return LossTerms(total, content, per, adv)
