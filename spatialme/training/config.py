"""What one training run does: :class:`TrainConfig`, the ``small`` and ``full`` presets."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from ..checks import check_int
from ..data.synthetic import SceneConfig
from ..losses import CONTENT_NORMS

__all__ = ["TrainConfig", "PRESETS", "config_from_preset", "config_json"]


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
        vary_textures: share of pool scenes painted with varied textures
            (:func:`spatialme.data.textures.vary_texture` on every training texture: other
            colours, flips, transposes), for more looks than the photos give; drawn from a
            random source of its own, so 0 leaves the pool exactly as without it.
        pyramid_reach: inpainter stage: train at the pyramid levels inference fills at
            (:mod:`spatialme.inpaint.pyramid`): each warp is halved a random number of
            times, from none to the level its deepest hole needs with this reach px
            (capped so the frame still holds a crop); ``None`` = full resolution only.
        set_lr: on resume, replace the checkpoint's learning rate by ``lr`` (to anneal a
            run); otherwise a resumed run keeps the optimiser state as saved.
        snapshot_every: every N steps also save the weights alone to
            ``out/snapshots/{step:08d}/`` (``save_pretrained``), for averaging the weights of a
            stretch of the run (:mod:`spatialme.training.average`); 0 = never.
        refiner_loss: what the refiner's loss terms read: ``"crop"``, its fused view on the
            whole crop (the paper's eq. 8-11); ``"shown"``, the view inference shows
            (:func:`spatialme.fusion.compose_refined`: refined near the holes, Poly
            elsewhere). Measured (model card): ``"shown"`` lost in the thin estimated-like
            holes, where the whole-crop loss teaches the refiner to keep Poly.
        content_norm: the content loss's distance (eq. 8): ``"l1"`` (paper) or ``"l2"``
            (squared error, what PSNR measures; :func:`spatialme.losses.content_loss`).
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
    vary_textures: float = 0.0
    pyramid_reach: float | None = None
    set_lr: bool = False
    refiner_loss: str = "crop"
    content_norm: str = "l1"
    snapshot_every: int = 0

    def __post_init__(self) -> None:
        if self.stage not in ("inpainter", "refiner"):
            raise ValueError(f"stage: expected inpainter or refiner, got {self.stage!r}")
        for name in ("steps", "batch", "crop", "pool_scenes", "ckpt_every", "log_every"):
            check_int(name, getattr(self, name), 1)
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
        for name in ("degrade", "de_holes", "camera", "vary_textures"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
                raise ValueError(f"{name}: expected a share in [0, 1], got {value!r}")
        if self.minutes is not None and (isinstance(self.minutes, bool) or not isinstance(self.minutes, (int, float)) or not self.minutes > 0):
            raise ValueError(f"minutes: expected a positive number or None, got {self.minutes!r}")
        check_int("snapshot_every", self.snapshot_every, 0)
        if self.refiner_loss not in ("crop", "shown"):
            raise ValueError(f"refiner_loss: expected 'crop' or 'shown', got {self.refiner_loss!r}")
        if self.content_norm not in CONTENT_NORMS:
            raise ValueError(f"content_norm: expected one of {CONTENT_NORMS}, got {self.content_norm!r}")
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


def config_from_preset(preset: str, **overrides) -> TrainConfig:
    """A :class:`TrainConfig` from a preset name plus field overrides (``None`` values ignored)."""
    if preset not in PRESETS:
        raise ValueError(f"preset: expected one of {', '.join(PRESETS)}; got {preset!r}")
    fields = {**PRESETS[preset], **{k: v for k, v in overrides.items() if v is not None}}
    return TrainConfig(**fields)


def config_json(config: TrainConfig) -> str:
    """The run's settings as the ``config.json`` written into its folder."""
    data = asdict(config)
    data["scene"] = asdict(config.scene)
    return json.dumps(data, indent=2, default=str)
