"""Training of the learned parts: the DL-branch inpainter, then the MHFU refiner.

Why it is built this way
------------------------
Both networks only ever change pixels in or near the holes a warp opens, so training samples
are crops centred on hole pixels of synthetic stereo scenes (``spatialme.data.synthetic``),
whose true right view is known exactly, including behind the foreground. Scenes come from
the *training* textures only; :func:`spatialme.data.textures.split_textures` keeps the
held-out photos for evaluation.

Stage ``inpainter`` trains the gated-convolution inpainter on the plain warp's holes with the
occlusion-weighted L1 of eq. 8 (alpha = 10). Stage ``refiner`` precomputes the three branch
outputs (Poly, DL with the trained inpainter, DE) for a pool of scenes
(:func:`spatialme.branches.run_branches`) and trains the MHFU refiner with eq. 11: content
(eq. 8), perceptual (eq. 9, only when VGG19 weights are available locally, otherwise off with
a logged warning) and adversarial (eq. 10, WGAN critic with gradient penalty), weights
10 / 2 / 0.1, Adam lr 1e-4, betas (0.5, 0.999), batch 4 (paper V-A).

Runs are resumable: a checkpoint (model, optimisers, critic, step, RNG states) is written
atomically every ``ckpt_every`` steps and picked up by the next run with the same ``out``;
a CSV log records every ``log_every`` steps.
"""

from __future__ import annotations

import csv
import logging
import math
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from .branches import run_branches
from .data.camera import camera_pair
from .data.degrade import random_degradation
from .data.synthetic import SceneConfig, render_scene
from .inpaint.expand import expand_disparity
from .io import atomic_write
from .data.textures import list_textures, load_textures, split_textures
from .inpaint.learned import normalize_disparity
from .inpaint.pyramid import PyramidConfig, fill_levels, hole_depth, masked_downsample
from .warp import forward_warp

__all__ = ["TrainConfig", "PRESETS", "scene_config", "build_pool", "sample_batch", "train"]

log = logging.getLogger("spatialme")


@dataclass(frozen=True)
class TrainConfig:
    """One training run.

    Attributes:
        stage: ``"inpainter"`` or ``"refiner"``.
        out: run folder (checkpoint, CSV log, final ``save_pretrained`` folder ``final/``).
        steps: optimiser steps in total (a resumed run continues up to this).
        batch: crops per step (paper: 4).
        crop: crop side in px, centred on hole pixels.
        lr, betas: Adam settings (paper: 1e-4, (0.5, 0.999)).
        seed: seeds scenes, crops and initialisation.
        textures: texture folder (``None`` = the committed ``assets/textures``); only its
            training split is used.
        scene: synthetic scene settings.
        pool_scenes: scenes rendered (and, for the refiner, run through the branches) up
            front; crops are drawn from this pool.
        refresh_every: re-render the pool every N steps (0 = never) for more variety.
        inpainter: trained inpainter folder (refiner stage).
        vgg19: local torchvision-format VGG19 state dict for eq. 9 (``None`` = off unless
            ``SPATIALME_VGG19`` is set).
        adversarial: use eq. 10 (refiner stage).
        model: constructor kwargs of the network being trained.
        ckpt_every, log_every: in steps.
        device: torch device.
        degrade: share of pool scenes warped with an estimated-like disparity
            (:func:`spatialme.data.degrade.random_degradation`: soft, slightly grown edges,
            what the product's depth estimates look like) instead of the exact one; the
            target stays the true right view.
        de_holes: inpainter stage: share of pool scenes that also contribute their DE
            re-warp (Algorithm 1's expanded disparity), so the network learns the holes
            the DE branch hands it, bordered by the carried background band.
        minutes: stop after this much training time (checkpoint and ``final/`` written
            as at the last step); ``None`` = run all ``steps``.
        widths: product-scale scenes: each pool scene's width is drawn log-uniformly in
            this ``(lo, hi)`` px range (height 0.5-0.75 of it, both multiples of 16), with
            ``scene``'s frames, its speeds scaled by ``width / 256`` and varied
            silhouettes; ``None`` = every scene is ``scene`` as given.
        disparity_pct: with ``widths``, the nearest object's disparity in % of the width,
            log-uniform in ``(lo, hi)`` (0.5-8 % gives holes of 1 to about 100 px).
        camera: share of pool scenes whose two views get the photometric differences of
            two real cameras (:func:`spatialme.data.camera.camera_pair`).
        pyramid_reach: inpainter stage: train at the pyramid levels inference fills at
            (:mod:`spatialme.inpaint.pyramid`): each warp is halved a random number of
            times, from none to the level its deepest hole needs with this reach px
            (capped so the frame still holds a crop); ``None`` = full resolution only.
        set_lr: on resume, replace the checkpoint's learning rate by ``lr`` (to anneal a
            run); otherwise a resumed run keeps the optimiser state as saved.
    """

    stage: str = "inpainter"
    out: str = "runs/inpainter"
    steps: int = 2000
    batch: int = 4
    crop: int = 64
    lr: float = 1e-4
    betas: tuple[float, float] = (0.5, 0.999)
    seed: int = 0
    textures: str | None = None
    scene: SceneConfig = field(default_factory=lambda: SceneConfig(height=128, width=192, frames=4, max_disparity=10.0))
    pool_scenes: int = 48
    refresh_every: int = 0
    inpainter: str | None = None
    vgg19: str | None = None
    adversarial: bool = True
    model: dict = field(default_factory=dict)
    ckpt_every: int = 100
    log_every: int = 10
    device: str = "cpu"
    degrade: float = 0.5
    de_holes: float = 0.5
    minutes: float | None = None
    widths: tuple[int, int] | None = None
    disparity_pct: tuple[float, float] = (0.5, 8.0)
    camera: float = 0.0
    pyramid_reach: float | None = None
    set_lr: bool = False

    def __post_init__(self) -> None:
        if self.stage not in ("inpainter", "refiner"):
            raise ValueError(f"stage: expected inpainter or refiner, got {self.stage!r}")
        for name in ("steps", "batch", "crop", "pool_scenes", "ckpt_every", "log_every"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}: expected a positive integer, got {value!r}")
        if self.widths is not None:
            lo, hi = (tuple(self.widths) + (None, None))[:2]
            if not all(isinstance(v, int) and not isinstance(v, bool) for v in (lo, hi)) or not 64 <= lo <= hi <= 4096 or len(self.widths) != 2:
                raise ValueError(f"widths: expected (lo, hi) px with 64 <= lo <= hi <= 4096, got {self.widths!r}")
            object.__setattr__(self, "widths", (lo, hi))
        pct = tuple(self.disparity_pct)
        if len(pct) != 2 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in pct) or not 0.05 <= pct[0] <= pct[1] <= 20:
            raise ValueError(f"disparity_pct: expected (lo, hi) %% with 0.05 <= lo <= hi <= 20, got {self.disparity_pct!r}")
        object.__setattr__(self, "disparity_pct", (float(pct[0]), float(pct[1])))
        if self.pyramid_reach is not None and (isinstance(self.pyramid_reach, bool) or not isinstance(self.pyramid_reach, (int, float)) or not 0.5 <= self.pyramid_reach <= 1024):
            raise ValueError(f"pyramid_reach: expected px in [0.5, 1024] or None, got {self.pyramid_reach!r}")
        for name in ("degrade", "de_holes", "camera"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
                raise ValueError(f"{name}: expected a share in [0, 1], got {value!r}")
        if self.minutes is not None and (isinstance(self.minutes, bool) or not isinstance(self.minutes, (int, float)) or not self.minutes > 0):
            raise ValueError(f"minutes: expected a positive number or None, got {self.minutes!r}")
        if self.stage == "refiner" and not self.inpainter:
            raise ValueError("inpainter: the refiner stage needs a trained inpainter folder")


# ``small`` trains on 2 CPU cores in a few hours; ``full`` is the paper-scale GPU setting.
# Both draw product-scale scenes (256-1280 px wide, nearest disparity 0.5-8 % of the width)
# with two-camera photometrics; the inpainter trains at the pyramid levels it fills at.
_PRODUCT = {"widths": (256, 1280), "camera": 0.7, "pyramid_reach": 2.0, "refresh_every": 5000, "pool_scenes": 64, "scene": SceneConfig(frames=3, max_disparity=8.0)}
PRESETS = {
    "small": dict(_PRODUCT),
    "full": {
        **_PRODUCT,
        "steps": 300_000,
        "crop": 256,
        "pool_scenes": 512,
        "refresh_every": 5000,
        "scene": SceneConfig(frames=6, max_disparity=8.0),
        "device": "cuda",
    },
}


# --------------------------------------------------------------------------- data


def _training_textures(folder: str | None) -> list[np.ndarray]:
    train_paths, _ = split_textures(list_textures(folder))
    return load_textures(train_paths)


def scene_config(config: TrainConfig, rng: np.random.Generator) -> SceneConfig:
    """The settings of one pool scene: ``config.scene``, or a product-scale draw (``widths``)."""
    if config.widths is None:
        return config.scene
    lo, hi = config.widths
    width = int(round(math.exp(rng.uniform(math.log(lo), math.log(hi))) / 16) * 16)
    height = max(64, int(round(width * rng.uniform(0.5, 0.75) / 16) * 16))
    pct = math.exp(rng.uniform(math.log(config.disparity_pct[0]), math.log(config.disparity_pct[1])))
    speed = width / 256.0
    base = config.scene
    return replace(
        base,
        height=height,
        width=width,
        max_disparity=float(min(max(0.5, pct / 100.0 * width), width / 4)),
        camera_speed=base.camera_speed * speed,
        object_speed=base.object_speed * speed,
        shapes="varied",
    )


def _pyramid_level(config: TrainConfig, holes: np.ndarray, rng: np.random.Generator) -> int:
    """How many times to halve a warp for the inpainter: uniform from 0 to the level its deepest
    hole needs (``pyramid_reach``), capped so the frame still holds a ``crop``."""
    if config.pyramid_reach is None or config.stage != "inpainter":
        return 0
    need = float(fill_levels(hole_depth(holes), PyramidConfig(reach=config.pyramid_reach, max_level=8)).max())
    cap = int(math.floor(math.log2(max(1.0, min(holes.shape[1:]) / config.crop))))
    return int(rng.integers(0, min(int(math.ceil(need)), cap) + 1))


def _inpainter_item(right: np.ndarray, image: np.ndarray, holes: np.ndarray, disparity: np.ndarray, level: int) -> dict[str, np.ndarray]:
    """One pool item at a pyramid level: the warp (masked 2x2 means) and its target (plain means)."""
    rgb, known, disp = image.astype(np.float32), (~holes).astype(np.float32), disparity.astype(np.float32)
    target, ones = right.astype(np.float32), np.ones(holes.shape, np.float32)
    for _ in range(level):
        rgb, known, disp = masked_downsample(rgb, known, disp)
        target, ones, _ = masked_downsample(target, ones)
    hole = known <= 0.0
    as_u8 = lambda a: np.clip(a + 0.5, 0, 255).astype(np.uint8)  # noqa: E731
    return {"right": as_u8(target), "warped": as_u8(rgb), "hole": hole, "disparity": normalize_disparity(disp, hole)}


def build_pool(config: TrainConfig, textures: list[np.ndarray], fill=None, seed: int = 0) -> list[dict[str, np.ndarray]]:
    """Render the scene pool and, for the refiner, its branch outputs.

    Args:
        config: run settings (scene sizes, pool size, stage, ``degrade``, ``de_holes``,
            ``camera``, ``pyramid_reach``).
        textures: training textures.
        fill: the DL filler (refiner stage).
        seed: pool seed (scene ``i`` uses ``seed * 100003 + i``).

    Returns:
        One item per scene (plus one per DE re-warp of the inpainter stage), each a dict of
        arrays with a leading frame axis: ``right`` (target), ``warped``, ``hole`` and
        ``disparity`` (the warp's right-view disparity, normalised per frame as the
        inpainter reads it at inference), and for the refiner ``poly``, ``dl``, ``de``,
        ``de_hole``; items differ in size with ``widths`` (and in pyramid level).
        A ``config.degrade`` share of the scenes is warped with an estimated-like
        disparity, a ``config.camera`` share gets two cameras' photometrics.
        ``_hole_index`` holds the ``(t, y, x)`` of the hole pixels (crop centres).
    """
    items: list[dict[str, np.ndarray]] = []
    which = ("poly", "dl", "de") if config.stage == "refiner" else ()
    rng = np.random.default_rng(seed * 7 + 1)

    def add(arrays: dict[str, np.ndarray]) -> None:
        if arrays["hole"].any() and min(arrays["hole"].shape[1:]) >= config.crop:
            arrays["_hole_index"] = np.stack(np.nonzero(arrays["hole"]), axis=1).astype(np.int32)
            items.append(arrays)

    for i in range(config.pool_scenes):
        scene = render_scene(textures, scene_config(config, rng), seed=seed * 100003 + i)
        disparity = random_degradation(scene.disparity, rng) if rng.random() < config.degrade else scene.disparity
        left, right = camera_pair(scene.left, scene.right, rng) if rng.random() < config.camera else (scene.left, scene.right)
        branches = run_branches(left, disparity, which, fill)
        warp = branches.warp
        if which:
            arrays = {"right": right, "warped": warp.image, "hole": warp.hole_mask, "disparity": normalize_disparity(warp.disparity, warp.hole_mask)}
            arrays.update(branches.outputs)
            arrays["de_hole"] = branches.de_hole_mask
            add(arrays)
            continue
        add(_inpainter_item(right, warp.image, warp.hole_mask, warp.disparity, _pyramid_level(config, warp.hole_mask, rng)))
        if rng.random() < config.de_holes:
            rewarp = forward_warp(left, expand_disparity(disparity))
            add(_inpainter_item(right, rewarp.image, rewarp.hole_mask, rewarp.disparity, _pyramid_level(config, rewarp.hole_mask, rng)))
    if not items:
        raise ValueError("pool: no hole pixels to train on (increase max_disparity)")
    return items


def _crop_origins(pool: list[dict[str, np.ndarray]], batch: int, crop: int, rng: np.random.Generator) -> list[tuple[int, int, int, int]]:
    """``batch`` (item, frame, y, x) crop origins: a uniform item, centred on a random hole pixel (clamped)."""
    out = []
    for i in rng.integers(0, len(pool), batch):
        item = pool[int(i)]
        _, height, width = item["hole"].shape
        index = item["_hole_index"]
        t, y, x = index[int(rng.integers(len(index)))]
        y0 = int(np.clip(y - crop // 2, 0, height - crop))
        x0 = int(np.clip(x - crop // 2, 0, width - crop))
        out.append((int(i), int(t), y0, x0))
    return out


def sample_batch(pool: list[dict[str, np.ndarray]], batch: int, crop: int, rng: np.random.Generator, device: str = "cpu") -> dict[str, torch.Tensor]:
    """Crops centred on hole pixels, as tensors: images ``(B, 3, c, c)`` in [0, 1], maps ``(B, 1, c, c)``."""
    origins = _crop_origins(pool, batch, crop, rng)
    out = {}
    for key, value in pool[0].items():
        if key.startswith("_"):
            continue
        crops = np.stack([pool[i][key][t, y : y + crop, x : x + crop] for i, t, y, x in origins])
        tensor = torch.from_numpy(crops)
        if crops.dtype == np.uint8:
            tensor = tensor.permute(0, 3, 1, 2).float() / 255.0
        else:
            tensor = tensor.float()[:, None]
        out[key] = tensor.to(device)
    return out


# --------------------------------------------------------------------------- checkpoints


def _save_checkpoint(path: Path, state: dict) -> None:
    with atomic_write(path) as tmp:
        torch.save(state, tmp)


def _rng_state(rng: np.random.Generator) -> dict:
    return {"numpy": rng.bit_generator.state, "torch": torch.get_rng_state()}


def _set_rng_state(rng: np.random.Generator, state: dict) -> None:
    rng.bit_generator.state = state["numpy"]
    torch.set_rng_state(state["torch"].cpu())  # map_location may have moved it to the GPU


class _CsvLog:
    """Append-only CSV log that survives resumes."""

    def __init__(self, path: Path, fields: list[str]) -> None:
        self.path = path
        self.fields = fields
        if not path.exists():
            with path.open("w", newline="") as fh:
                csv.writer(fh).writerow(fields)

    def write(self, row: dict) -> None:
        with self.path.open("a", newline="") as fh:
            csv.writer(fh).writerow([row.get(f, "") for f in self.fields])


# --------------------------------------------------------------------------- stages


def _inpainter_step(model, batch: dict[str, torch.Tensor], loss_cfg):
    from .losses import content_loss

    pred = model(batch["warped"], batch["hole"], batch["disparity"])
    loss = content_loss(pred, batch["right"], batch["hole"], loss_cfg.alpha)
    return loss, {"content": loss.item()}


def _refiner_masks(batch: dict[str, torch.Tensor]) -> torch.Tensor:
    return torch.cat([batch["hole"], batch["de_hole"]], dim=1)


def train(config: TrainConfig) -> Path:
    """Train one stage; returns the ``final`` folder written with ``save_pretrained``.

    Resumes from ``out/ckpt.pt`` when it exists.
    """
    from .losses import LossConfig, PatchDiscriminator, PerceptualLoss, adversarial_losses, total_loss

    # Trained gated convolutions produce denormal gradients (saturated sigmoid gates), and a
    # CPU computes those about 3x slower: flush them to zero. Threads inherit the mode when
    # they are created, so this comes before the first parallel torch operation of a run.
    torch.set_flush_denormal(True)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    device = config.device
    textures = _training_textures(config.textures)
    loss_cfg = LossConfig()

    fill = None
    if config.stage == "inpainter":
        from .inpaint.learned import GatedInpainter

        model = GatedInpainter(**config.model).to(device)
    else:
        from .inpaint.learned import GatedInpainter, LearnedFill
        from .refiner import MHFURefiner

        fill = LearnedFill(model=GatedInpainter.from_pretrained(config.inpainter).eval())
        model = MHFURefiner(**config.model).to(device)
    optim = torch.optim.Adam(model.parameters(), lr=config.lr, betas=config.betas)
    disc = disc_optim = perceptual = None
    if config.stage == "refiner":
        perceptual = PerceptualLoss(config.vgg19).to(device)
        if not perceptual.enabled:
            perceptual = None
        if config.adversarial:
            disc = PatchDiscriminator().to(device)
            disc_optim = torch.optim.Adam(disc.parameters(), lr=config.lr, betas=config.betas)

    step = 0
    ckpt = out / "ckpt.pt"
    if ckpt.exists():
        state = torch.load(ckpt, map_location=device, weights_only=False)
        model.load_state_dict(state["model"])
        optim.load_state_dict(state["optim"])
        if disc is not None and state.get("disc") is not None:
            disc.load_state_dict(state["disc"])
            disc_optim.load_state_dict(state["disc_optim"])
        step = state["step"]
        _set_rng_state(rng, state["rng"])
        if config.set_lr:
            for group in optim.param_groups:
                group["lr"] = config.lr
        log.info("resumed %s at step %d", ckpt, step)
    (out / "config.json").write_text(_config_json(config))

    fields = ["step", "seconds", "total", "content", "perceptual", "adversarial", "critic", "penalty"]
    csv_log = _CsvLog(out / "log.csv", fields)
    pool_seed = config.seed * 7919 + step // config.refresh_every if config.refresh_every else config.seed
    pool = build_pool(config, textures, fill, seed=pool_seed)
    t0 = time.perf_counter()
    model.train()
    deadline = None if config.minutes is None else time.perf_counter() + 60.0 * config.minutes
    while step < config.steps:
        if deadline is not None and time.perf_counter() > deadline:
            log.info("time limit of %g min reached at step %d", config.minutes, step)
            break
        if config.refresh_every and step % config.refresh_every == 0 and step > 0:
            pool = build_pool(config, textures, fill, seed=config.seed * 7919 + step // config.refresh_every)
        batch = sample_batch(pool, config.batch, config.crop, rng, device)
        row: dict = {}
        if config.stage == "inpainter":
            loss, row = _inpainter_step(model, batch, loss_cfg)
        else:
            result = model(batch["poly"], batch["de"], batch["dl"], _refiner_masks(batch))
            if disc is not None:
                adv = adversarial_losses(disc, batch["right"], result.image.detach(), gp_weight=loss_cfg.gp_weight)
                disc_optim.zero_grad(set_to_none=True)
                adv.critic.backward()
                disc_optim.step()
                row.update(critic=adv.critic.item(), penalty=adv.penalty.item())
                for p in disc.parameters():
                    p.requires_grad_(False)
            terms = total_loss(result.image, batch["right"], batch["hole"], perceptual, disc, loss_cfg)
            if disc is not None:
                for p in disc.parameters():
                    p.requires_grad_(True)
            loss = terms.total
            row.update(content=terms.content.item(), perceptual=terms.perceptual.item(), adversarial=terms.adversarial.item())
        optim.zero_grad(set_to_none=True)
        loss.backward()
        optim.step()
        step += 1
        out_of_time = deadline is not None and time.perf_counter() > deadline
        if step % config.log_every == 0 or step == config.steps or out_of_time:
            row.update(step=step, seconds=round(time.perf_counter() - t0, 2), total=loss.item())
            csv_log.write(row)
            log.info("step %d loss %.4f", step, loss.item())
        if step % config.ckpt_every == 0 or step == config.steps or out_of_time:
            state = {"model": model.state_dict(), "optim": optim.state_dict(), "step": step, "rng": _rng_state(rng)}
            if disc is not None:
                state.update(disc=disc.state_dict(), disc_optim=disc_optim.state_dict())
            _save_checkpoint(ckpt, state)
    model.eval()
    final = out / "final"
    model.save_pretrained(final)
    return final


def _config_json(config: TrainConfig) -> str:
    import json

    data = asdict(config)
    data["scene"] = asdict(config.scene)
    return json.dumps(data, indent=2, default=str)


def config_from_preset(preset: str, **overrides) -> TrainConfig:
    """A :class:`TrainConfig` from a preset name plus field overrides (``None`` values ignored)."""
    if preset not in PRESETS:
        raise ValueError(f"preset: expected one of {', '.join(PRESETS)}; got {preset!r}")
    fields = {**PRESETS[preset], **{k: v for k, v in overrides.items() if v is not None}}
    return TrainConfig(**fields)
