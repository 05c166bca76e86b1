"""Training data: a pool of synthetic scenes (and their branch outputs), crops centred on holes."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import torch

from ..branches import run_branches
from ..data.camera import camera_pair
from ..data.degrade import random_degradation
from ..data.synthetic import SceneConfig, render_scene
from ..data.textures import list_textures, load_textures, split_textures, vary_texture
from ..inpaint.expand import expand_disparity
from ..inpaint.inference import normalize_disparity
from ..inpaint.pyramid import PyramidConfig, fill_levels, hole_depth, masked_downsample
from ..warp import WarpResult, forward_warp
from .config import TrainConfig

__all__ = ["training_textures", "scene_config", "build_pool", "sample_batch"]


def training_textures(folder: str | None) -> list[np.ndarray]:
    """The training split of a texture folder (``None`` = the committed ``assets/textures``)."""
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


def _inpainter_item(config: TrainConfig, right: np.ndarray, warp: WarpResult, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """One inpainter pool item: the warp and its target, halved to a drawn pyramid level
    (:func:`_pyramid_level`; the warp by masked 2x2 means, the target by plain ones)."""
    holes = warp.hole_mask
    level = _pyramid_level(config, holes, rng)
    rgb, known, disp = warp.image.astype(np.float32), (~holes).astype(np.float32), warp.disparity.astype(np.float32)
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
            ``camera``, ``vary_textures``, ``pyramid_reach``).
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
        disparity, a ``config.camera`` share gets two cameras' photometrics, a
        ``config.vary_textures`` share is painted with varied textures (their own random
        source: the geometry of every scene is the same with or without them).
        ``_hole_index`` holds the ``(t, y, x)`` of the hole pixels (crop centres).
    """
    items: list[dict[str, np.ndarray]] = []
    which = ("poly", "dl", "de") if config.stage == "refiner" else ()
    rng = np.random.default_rng(seed * 7 + 1)
    looks = np.random.default_rng(seed * 7 + 2)  # vary_textures only: rng's stream stays as it was

    def add(arrays: dict[str, np.ndarray]) -> None:
        if arrays["hole"].any() and min(arrays["hole"].shape[1:]) >= config.crop:
            arrays["_hole_index"] = np.stack(np.nonzero(arrays["hole"]), axis=1).astype(np.int32)
            items.append(arrays)

    for i in range(config.pool_scenes):
        painted = textures
        if config.vary_textures > 0 and looks.random() < config.vary_textures:
            painted = [vary_texture(t, looks) for t in textures]
        scene = render_scene(painted, scene_config(config, rng), seed=seed * 100003 + i)
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
        add(_inpainter_item(config, right, warp, rng))
        if rng.random() < config.de_holes:
            add(_inpainter_item(config, right, forward_warp(left, expand_disparity(disparity)), rng))
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
