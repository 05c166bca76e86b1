"""The one training loop: either stage, resumable, time-boxed, logged."""

from __future__ import annotations

import functools
import logging
import time
from pathlib import Path

import numpy as np
import torch

from ..inpaint.learned import LearnedFill
from ..inpaint.network import GatedInpainter
from ..losses import LossConfig, PatchDiscriminator, PerceptualLoss, adversarial_losses, content_loss, total_loss
from ..fusion import compose_refined
from ..refiner import MHFURefiner
from .checkpoint import CsvLog, Networks, restore_checkpoint, save_checkpoint
from .config import TrainConfig, config_json
from .pool import build_pool, sample_batch, training_textures

__all__ = ["train"]

log = logging.getLogger("spatialme")

#: Columns of ``log.csv`` (a stage leaves the terms it does not have empty).
LOG_FIELDS = ["step", "seconds", "total", "content", "perceptual", "adversarial", "critic", "penalty"]


def _networks(config: TrainConfig) -> Networks:
    """The stage's untrained network and optimiser; for the refiner also the trained DL filler
    its pool needs, the perceptual loss (when VGG19 weights are available) and the critic."""
    device = config.device
    if config.stage == "inpainter":
        model, fill = GatedInpainter(**config.model).to(device), None
    else:
        fill = LearnedFill(model=GatedInpainter.from_pretrained(config.inpainter).eval())
        model = MHFURefiner(**config.model).to(device)
    nets = Networks(model, torch.optim.Adam(model.parameters(), lr=config.lr, betas=config.betas), fill)
    if config.stage == "refiner":
        perceptual = PerceptualLoss(config.vgg19).to(device)
        nets.perceptual = perceptual if perceptual.enabled else None
        if config.adversarial:
            nets.disc = PatchDiscriminator().to(device)
            nets.disc_optim = torch.optim.Adam(nets.disc.parameters(), lr=config.lr, betas=config.betas)
    return nets


def _inpainter_step(nets: Networks, batch: dict[str, torch.Tensor], loss_cfg: LossConfig) -> tuple[torch.Tensor, dict]:
    """The inpainter's loss on a batch: eq. 8 in the holes of the warp."""
    pred = nets.model(batch["warped"], batch["hole"], batch["disparity"])
    loss = content_loss(pred, batch["right"], batch["hole"], loss_cfg.alpha, loss_cfg.norm)
    return loss, {"content": loss.item()}


def _refiner_step(nets: Networks, batch: dict[str, torch.Tensor], loss_cfg: LossConfig, shown: bool = False) -> tuple[torch.Tensor, dict]:
    """The refiner's loss on a batch (eq. 11), after one critic step (eq. 10 with the gradient
    penalty) when the run is adversarial; the critic is frozen while the generator's loss reads it.

    With ``shown`` every term reads the view inference shows
    (:func:`spatialme.fusion.compose_refined`: the refined pixels near the holes, Poly
    elsewhere); otherwise the fused view on the whole crop (``TrainConfig.refiner_loss``)."""
    masks = torch.cat([batch["hole"], batch["de_hole"]], dim=1)
    # the disparity at the 1/255 steps inference gives it (spatialme.fusion packs it as uint8)
    disparity = torch.round(batch["disparity"] * 255.0) / 255.0 if nets.model.disparity_input else None
    result = nets.model(batch["poly"], batch["de"], batch["dl"], masks, disparity)
    image = compose_refined(result.image, batch["poly"], batch["hole"]) if shown else result.image
    disc, row = nets.disc, {}
    if disc is not None:
        adv = adversarial_losses(disc, batch["right"], image.detach(), gp_weight=loss_cfg.gp_weight)
        nets.disc_optim.zero_grad(set_to_none=True)
        adv.critic.backward()
        nets.disc_optim.step()
        row.update(critic=adv.critic.item(), penalty=adv.penalty.item())
        disc.requires_grad_(False)
    terms = total_loss(image, batch["right"], batch["hole"], nets.perceptual, disc, loss_cfg)
    if disc is not None:
        disc.requires_grad_(True)
    row.update(content=terms.content.item(), perceptual=terms.perceptual.item(), adversarial=terms.adversarial.item())
    return terms.total, row


def _pool_seed(config: TrainConfig, step: int) -> int:
    """Seed of the pool in use at ``step``: a new one every ``refresh_every`` steps."""
    return config.seed * 7919 + step // config.refresh_every if config.refresh_every else config.seed


def train(config: TrainConfig) -> Path:
    """Train one stage; returns the ``final`` folder written with ``save_pretrained``.

    Resumes from ``out/ckpt.pt`` when it exists (with ``config.set_lr``, at ``config.lr``).
    A checkpoint is written every ``ckpt_every`` steps, a ``log.csv`` row every
    ``log_every``, and both at the last step, also when ``minutes`` ends the run early.
    """
    # Trained gated convolutions produce denormal gradients (saturated sigmoid gates), and a
    # CPU computes those about 3x slower: flush them to zero. Threads inherit the mode when
    # they are created, so this comes before the first parallel torch operation of a run.
    torch.set_flush_denormal(True)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    textures = training_textures(config.textures)
    loss_cfg = LossConfig(norm=config.content_norm)
    nets = _networks(config)
    if config.stage == "inpainter":
        step_fn = _inpainter_step
    else:
        step_fn = functools.partial(_refiner_step, shown=config.refiner_loss == "shown")

    ckpt = out / "ckpt.pt"
    step = restore_checkpoint(ckpt, nets, rng, config.device, config.lr if config.set_lr else None) if ckpt.exists() else 0
    (out / "config.json").write_text(config_json(config))
    csv_log = CsvLog(out / "log.csv", LOG_FIELDS)
    pool = build_pool(config, textures, nets.fill, seed=_pool_seed(config, step))
    t0 = time.perf_counter()
    nets.model.train()
    deadline = None if config.minutes is None else time.perf_counter() + 60.0 * config.minutes
    while step < config.steps:
        if deadline is not None and time.perf_counter() > deadline:
            log.info("time limit of %g min reached at step %d", config.minutes, step)
            break
        if config.refresh_every and step % config.refresh_every == 0 and step > 0:
            pool = build_pool(config, textures, nets.fill, seed=_pool_seed(config, step))
        batch = sample_batch(pool, config.batch, config.crop, rng, config.device)
        loss, row = step_fn(nets, batch, loss_cfg)
        nets.optim.zero_grad(set_to_none=True)
        loss.backward()
        nets.optim.step()
        step += 1
        last = step == config.steps or (deadline is not None and time.perf_counter() > deadline)
        if last or step % config.log_every == 0:
            row.update(step=step, seconds=round(time.perf_counter() - t0, 2), total=loss.item())
            csv_log.write(row)
            log.info("step %d loss %.4f", step, loss.item())
        if last or step % config.ckpt_every == 0:
            save_checkpoint(ckpt, nets, step, rng)
        if config.snapshot_every and step % config.snapshot_every == 0:
            nets.model.save_pretrained(out / "snapshots" / f"{step:08d}")
    nets.model.eval()
    final = out / "final"
    nets.model.save_pretrained(final)
    return final
