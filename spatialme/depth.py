"""Monocular depth for every frame, made steady over time (paper Fig. 2, stage 1).

Why it is built this way
------------------------
*Model.* Depth Anything V2 Small (24.8M parameters, Apache-2.0) through ``transformers``
predicts *relative inverse depth* ("disparity up to an unknown scale and shift"): larger is
nearer, and only the ordering and ratios of differences within one frame mean anything.
That is exactly what stereo synthesis needs, because the disparity stage maps a [0, 1]
nearness to pixels with the user's divergence and convergence anyway. The weights come
from the Hub at a pinned revision, cached by ``huggingface_hub``; a local directory works
too. A model whose weights are already cached is loaded with ``local_files_only=True``
first, so a pinned, cached model never touches the network. Offline with nothing cached,
loading fails at once with :class:`DepthModelUnavailable`, a one-line message that says
how to fix it.

Backends are registered by short name (:func:`register_depth_backend`) so another depth
network can be added without touching the pipeline; :func:`load_depth_model` builds the one
a :class:`DepthConfig` names.

*Pre-processing.* The Hub's ``DPTImageProcessor`` works one PIL image at a time. Here the
whole batch is resized on the model's device with ``torch.nn.functional.interpolate``
(bicubic with antialiasing, as the processor's PIL resize does) so that the short side is
``input_size`` and both sides are multiples of the ViT patch (14 px), keeping the aspect
ratio; then it is normalised with the processor config's mean/std (ImageNet by default).
The prediction is resized back to the frame size bilinearly. ``input_size`` trades detail
for time: 518 is what the model was trained at; 364 is about 2x cheaper on a CPU.

*Temporal stabilisation.* A per-frame model flickers: its unknown scale and shift change
from frame to frame, and a per-frame min/max normalisation amplifies this.
:class:`DepthStabilizer` removes the frame-to-frame scale/shift by a least-squares fit to
the previous frame (Video Depth Anything aligns its windows the same way), then normalises
with a percentile range that is smoothed over time (iw3's EMA normalisation), and starts
afresh at scene cuts (:mod:`spatialme.scenes`). :class:`DepthEstimator` chains model,
cut detector and stabiliser for a stream of chunks.
"""

from __future__ import annotations

import abc
import json
import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .checks import check_array, check_clip, check_finite, check_range
from .registry import Registry
from .scenes import SceneCutConfig, SceneCutDetector

__all__ = [
    "DEFAULT_BACKEND",
    "DEFAULT_MODEL_ID",
    "DEFAULT_REVISION",
    "DepthConfig",
    "DepthModel",
    "DepthModelUnavailable",
    "DepthAnythingModel",
    "register_depth_backend",
    "available_depth_backends",
    "load_depth_model",
    "resolve_device",
    "resolve_dtype",
    "resolve_input_size",
    "model_input_shape",
    "StabilizerConfig",
    "DepthStabilizer",
    "fit_scale_shift",
    "DepthEstimator",
]

DEFAULT_BACKEND = "depth-anything-v2-small"
DEFAULT_MODEL_ID = "depth-anything/Depth-Anything-V2-Small-hf"
DEFAULT_REVISION = "5426e4f0f36572d16453bbda7a8389317b1bef99"

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
_SHA = re.compile(r"[0-9a-f]{40}")


class DepthModelUnavailable(RuntimeError):
    """The depth model cannot be loaded (not cached and no network, bad local copy, ...).

    The message is one line meant for the user, and says how to fix the problem.
    """


# --------------------------------------------------------------------------- config


@dataclass(frozen=True)
class DepthConfig:
    """Which depth model to run, and how.

    Attributes:
        backend: short name of a registered backend (see :func:`available_depth_backends`).
        model_id: Hub repo id of the weights, or a local directory holding ``config.json``
            and ``model.safetensors`` (as written by ``save_pretrained``; a
            ``preprocessor_config.json`` there is read for mean/std if present).
        revision: Hub revision (a commit sha pins the weights; ignored for a local
            directory). ``None`` means the repo's default branch.
        input_size: short side, in pixels, of the image fed to the model, rounded to the
            nearest multiple of the patch size (14). ``None`` picks 518 on CUDA (the
            training resolution) and 364 on CPU (about half the cost).
        batch_size: frames per forward pass; :meth:`DepthModel.predict` splits larger
            inputs. Results do not depend on it.
        device: ``"auto"`` (CUDA if available, else CPU), ``"cpu"``, ``"cuda"``,
            ``"cuda:N"`` or ``"mps"``.
        dtype: ``"auto"`` (float16 on CUDA, float32 elsewhere), ``"float32"``,
            ``"float16"`` or ``"bfloat16"``.
        cache_dir: Hub cache directory; ``None`` uses ``HF_HUB_CACHE``.
    """

    backend: str = DEFAULT_BACKEND
    model_id: str = DEFAULT_MODEL_ID
    revision: str | None = DEFAULT_REVISION
    input_size: int | None = None
    batch_size: int = 4
    device: str = "auto"
    dtype: str = "auto"
    cache_dir: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.backend, str) or not self.backend:
            raise ValueError(f"backend: expected a backend name, got {self.backend!r}")
        if not isinstance(self.model_id, (str, os.PathLike)) or not str(self.model_id):
            raise ValueError(f"model_id: expected a Hub repo id or a directory, got {self.model_id!r}")
        if self.revision is not None and (not isinstance(self.revision, str) or not self.revision):
            raise ValueError(f"revision: expected a branch, tag or commit sha, got {self.revision!r}")
        if self.input_size is not None:
            bad_type = isinstance(self.input_size, bool) or not isinstance(self.input_size, int)
            if bad_type or not 14 <= self.input_size <= 4096:
                raise ValueError(f"input_size: expected None or an integer in [14, 4096], got {self.input_size!r}")
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise ValueError(f"batch_size: expected an integer >= 1, got {self.batch_size!r}")
        if not isinstance(self.device, str) or not re.fullmatch(r"auto|cpu|mps|cuda(:\d+)?", self.device):
            raise ValueError(f"device: expected auto, cpu, cuda, cuda:N or mps, got {self.device!r}")
        if self.dtype != "auto" and self.dtype not in _DTYPES:
            raise ValueError(f"dtype: expected auto, {', '.join(_DTYPES)}; got {self.dtype!r}")


def resolve_device(device: str | torch.device) -> torch.device:
    """Turn ``"auto"`` into CUDA when available (else CPU) and check the device exists.

    Args:
        device: a device string as in :class:`DepthConfig`, or a ``torch.device``.

    Returns:
        The ``torch.device`` to run on.
    """
    if isinstance(device, str) and device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"device: not a device, got {device!r}") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device: {device!r} requested but CUDA is not available")
    if resolved.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device: {device!r} requested but MPS is not available")
    return resolved


def resolve_dtype(dtype: str | torch.dtype, device: torch.device) -> torch.dtype:
    """Turn ``"auto"`` into float16 on CUDA and float32 elsewhere.

    Args:
        dtype: ``"auto"``, a name from :class:`DepthConfig`, or a ``torch.dtype``.
        device: the device the model runs on.

    Returns:
        The floating-point ``torch.dtype`` for the model weights and activations.
    """
    if isinstance(dtype, torch.dtype):
        if dtype not in _DTYPES.values():
            raise ValueError(f"dtype: expected float32, float16 or bfloat16, got {dtype}")
        return dtype
    if dtype == "auto":
        return torch.float16 if device.type == "cuda" else torch.float32
    if dtype not in _DTYPES:
        raise ValueError(f"dtype: expected auto, {', '.join(_DTYPES)}; got {dtype!r}")
    return _DTYPES[dtype]


def resolve_input_size(input_size: int | None, device: torch.device, multiple: int = 14) -> int:
    """Short side fed to the model: the configured size, or the per-device default.

    Args:
        input_size: requested short side in px, or ``None`` (518 on CUDA, 364 otherwise).
        device: the device the model runs on.
        multiple: the model's patch size in px.

    Returns:
        The short side in px, rounded to the nearest multiple of ``multiple`` (at least one).
    """
    size = input_size if input_size is not None else (518 if device.type == "cuda" else 364)
    return max(multiple, int(round(size / multiple)) * multiple)


def model_input_shape(height: int, width: int, short_side: int, multiple: int = 14) -> tuple[int, int]:
    """Size of the model input for a frame, keeping the aspect ratio.

    Args:
        height, width: frame size in px.
        short_side: target length of the shorter side in px (a multiple of ``multiple``).
        multiple: both output sides are rounded to the nearest multiple of this.

    Returns:
        ``(h, w)`` in px, both multiples of ``multiple``, e.g. ``(364, 644)`` for a
        1080x1920 frame and ``short_side=364``.
    """
    scale = short_side / min(height, width)
    h = max(multiple, int(round(height * scale / multiple)) * multiple)
    w = max(multiple, int(round(width * scale / multiple)) * multiple)
    return h, w


# --------------------------------------------------------------------------- models


class DepthModel(abc.ABC):
    """A monocular depth network behind a numpy-in, numpy-out interface."""

    @property
    @abc.abstractmethod
    def device(self) -> torch.device:
        """Device the network runs on."""

    @property
    @abc.abstractmethod
    def dtype(self) -> torch.dtype:
        """Floating-point type of the network's weights."""

    @abc.abstractmethod
    def predict(self, frames: np.ndarray) -> np.ndarray:
        """Relative inverse depth of every frame.

        Args:
            frames: ``(n, H, W, 3) uint8`` RGB (or one ``(H, W, 3)`` frame).

        Returns:
            ``(n, H, W) float32`` relative inverse depth, unitless, larger = nearer; its
            scale and offset are arbitrary and may differ between frames.
        """

    @abc.abstractmethod
    def to(self, device: str | torch.device, dtype: str | torch.dtype | None = None) -> DepthModel:
        """Move the network (in place) and return ``self``.

        Args:
            device: target device (``"auto"`` allowed).
            dtype: target dtype; ``None`` keeps an explicit dtype and re-resolves
                ``"auto"`` for the new device.
        """


_BACKENDS: Registry[Callable[[DepthConfig], DepthModel]] = Registry("depth backend", "backend")


def register_depth_backend(
    name: str, *, overwrite: bool = False
) -> Callable[[Callable[[DepthConfig], DepthModel]], Callable[[DepthConfig], DepthModel]]:
    """Decorator that registers a depth-model factory under a short name.

    Args:
        name: the name :attr:`DepthConfig.backend` selects it by.
        overwrite: allow replacing an existing backend of that name.

    Returns:
        A decorator that registers ``factory(config: DepthConfig) -> DepthModel`` and
        returns it unchanged.

    Example:
        >>> @register_depth_backend("my-depth")  # doctest: +SKIP
        ... def _make(config): return MyDepthModel(config)
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"name: expected a non-empty string, got {name!r}")

    return _BACKENDS.register(name, overwrite=overwrite)


def available_depth_backends() -> tuple[str, ...]:
    """Names of the registered depth backends, sorted."""
    return _BACKENDS.names()


def load_depth_model(config: DepthConfig | None = None) -> DepthModel:
    """Build the depth model a config names.

    Args:
        config: which backend, weights, device and dtype; ``None`` = ``DepthConfig()``.

    Returns:
        A ready :class:`DepthModel` in inference mode on the resolved device.

    Raises:
        ValueError: unknown backend or bad setting.
        DepthModelUnavailable: the weights cannot be found or loaded (one-line message).
    """
    config = DepthConfig() if config is None else config
    if not isinstance(config, DepthConfig):
        raise ValueError(f"config: expected a DepthConfig, got {type(config).__name__}")
    return _BACKENDS.get(config.backend)(config)


class DepthAnythingModel(DepthModel):
    """A ``transformers`` Depth Anything network (V1/V2, relative) with torch pre-processing.

    Usually built by :func:`load_depth_model`; build it directly to wrap a network you
    already have (a random-weight one in a benchmark, say).

    Args:
        network: a ``DepthAnythingForDepthEstimation`` (any module whose call
            ``network(pixel_values=x)`` returns an object with ``predicted_depth``
            ``(B, h, w)``, given ``x`` ``(B, 3, h, w)``, with ``h, w`` multiples of ``patch_size``).
        input_size: requested short side (see :class:`DepthConfig`).
        batch_size: frames per forward pass.
        mean, std: per-channel normalisation of RGB in [0, 1].
        bicubic: resize the input bicubically (else bilinearly).
        patch_size: the ViT patch size in px.
        device, dtype: where and in what precision to run (``"auto"`` allowed).
    """

    def __init__(
        self,
        network: torch.nn.Module,
        *,
        input_size: int | None = None,
        batch_size: int = 4,
        mean: tuple[float, float, float] = IMAGENET_MEAN,
        std: tuple[float, float, float] = IMAGENET_STD,
        bicubic: bool = True,
        patch_size: int = 14,
        device: str | torch.device = "auto",
        dtype: str | torch.dtype = "auto",
    ) -> None:
        if len(mean) != 3 or len(std) != 3 or min(std) <= 0:
            raise ValueError(f"mean, std: expected three values each (std > 0), got {mean!r}, {std!r}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size: expected an integer >= 1, got {batch_size!r}")
        self.network = network.eval()
        self.input_size = input_size
        self.batch_size = batch_size
        self.mean = tuple(float(v) for v in mean)
        self.std = tuple(float(v) for v in std)
        self.bicubic = bicubic
        self.patch_size = int(patch_size)
        self._dtype_request = dtype
        self._device = torch.device("cpu")
        self._dtype = torch.float32
        self.to(device, dtype)

    @property
    def device(self) -> torch.device:
        return self._device

    @property
    def dtype(self) -> torch.dtype:
        return self._dtype

    def to(self, device: str | torch.device, dtype: str | torch.dtype | None = None) -> DepthAnythingModel:
        self._device = resolve_device(device)
        if dtype is not None:
            self._dtype_request = dtype
        self._dtype = resolve_dtype(self._dtype_request, self._device)
        self.network.to(device=self._device, dtype=self._dtype)
        return self

    def short_side(self) -> int:
        """Short side in px of the model input on the current device."""
        return resolve_input_size(self.input_size, self._device, self.patch_size)

    def predict(self, frames: np.ndarray) -> np.ndarray:
        clip = check_clip("frames", frames)
        height, width = clip.shape[1:3]
        size = model_input_shape(height, width, self.short_side(), self.patch_size)
        out = np.empty(clip.shape[:3], dtype=np.float32)
        for start in range(0, len(clip), self.batch_size):
            batch = clip[start : start + self.batch_size]
            out[start : start + len(batch)] = self._predict_batch(batch, size)
        return out

    @torch.inference_mode()
    def _predict_batch(self, batch: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        """Run one batch ``(b, H, W, 3) uint8`` at model input ``size``; ``(b, H, W) float32``."""
        height, width = batch.shape[1:3]
        if not batch.flags.writeable or not batch.flags.c_contiguous:
            batch = np.array(batch, copy=True, order="C")
        pixels = torch.from_numpy(batch).to(self._device, non_blocking=True)
        pixels = self._preprocess(pixels, size)
        predicted = self.network(pixel_values=pixels).predicted_depth
        depth = predicted.float()[:, None]
        if depth.shape[-2:] != (height, width):
            shrinking = depth.shape[-2] > height or depth.shape[-1] > width
            depth = F.interpolate(
                depth, size=(height, width), mode="bilinear", align_corners=False, antialias=shrinking
            )
        return depth[:, 0].cpu().numpy()

    def _preprocess(self, pixels: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """``(b, H, W, 3) uint8`` -> normalised ``(b, 3, h, w)`` in the model dtype."""
        x = pixels.permute(0, 3, 1, 2).float().div_(255.0)
        if tuple(x.shape[-2:]) != size:
            mode = "bicubic" if self.bicubic else "bilinear"
            x = F.interpolate(x, size=size, mode=mode, align_corners=False, antialias=True).clamp_(0.0, 1.0)
        mean = torch.tensor(self.mean, device=x.device).view(1, 3, 1, 1)
        std = torch.tensor(self.std, device=x.device).view(1, 3, 1, 1)
        return ((x - mean) / std).to(self._dtype)


# --------------------------------------------------------------------------- loading


def _hub_offline() -> bool:
    """Whether Hub access is switched off (``HF_HUB_OFFLINE`` / ``TRANSFORMERS_OFFLINE``)."""
    from huggingface_hub import constants

    flags = (os.environ.get("HF_HUB_OFFLINE"), os.environ.get("TRANSFORMERS_OFFLINE"))
    from_env = any(str(f).strip().upper() in {"1", "ON", "YES", "TRUE"} for f in flags if f is not None)
    return from_env or bool(getattr(constants, "HF_HUB_OFFLINE", False))


def _is_local_path(model_id: str) -> bool:
    """Whether ``model_id`` names a directory rather than a Hub repo id."""
    text = str(model_id)
    return os.path.isdir(text) or text.startswith(("/", "./", "../", "~", ".\\")) or os.path.isabs(text)


def _label(model_id: str, revision: str | None) -> str:
    """Short name for messages: ``org/name@abc1234``."""
    if revision is None:
        return model_id
    return f"{model_id}@{revision[:7] if _SHA.fullmatch(revision) else revision}"


def _not_cached(error: BaseException) -> bool:
    """Whether an exception (or one it was raised from) means "not in the local cache"."""
    from huggingface_hub.errors import LocalEntryNotFoundError

    seen: BaseException | None = error
    for _ in range(8):
        if seen is None:
            return False
        if isinstance(seen, LocalEntryNotFoundError) or "couldn't connect to" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _first_line(error: BaseException) -> str:
    """First non-empty line of an exception message (or its class name)."""
    for line in str(error).splitlines():
        if line.strip():
            return line.strip()
    return type(error).__name__


def _unavailable_message(label: str, reason: str) -> str:
    return (
        f"Depth model {label} is not cached and the Hub is unreachable ({reason}). Fix: run once online to cache "
        "it, pass a local copy with --depth-model DIR, or supply --disparity FILE.npy."
    )


def _load_network(config: DepthConfig, dtype: torch.dtype) -> torch.nn.Module:
    """``AutoModelForDepthEstimation.from_pretrained`` with one-line, fix-it errors.

    A Hub model is first looked up in the local cache only (no network at all when the
    pinned revision is cached), then, unless offline mode is on, fetched from the Hub.
    """
    from huggingface_hub.errors import HfHubHTTPError
    from transformers import AutoModelForDepthEstimation

    model_id = os.path.expanduser(str(config.model_id))
    if _is_local_path(model_id):
        if not os.path.isdir(model_id):
            raise DepthModelUnavailable(f"Depth model directory {model_id} does not exist.")
        if not os.path.isfile(os.path.join(model_id, "config.json")):
            raise DepthModelUnavailable(
                f"Depth model directory {model_id} has no config.json (write it with save_pretrained)."
            )
        try:
            return AutoModelForDepthEstimation.from_pretrained(model_id, dtype=dtype)
        except (OSError, ValueError) as err:
            reason = _first_line(err)
            raise DepthModelUnavailable(f"Depth model directory {model_id} could not be loaded: {reason}") from err

    label = _label(model_id, config.revision)
    kwargs = {"revision": config.revision, "cache_dir": config.cache_dir, "dtype": dtype}
    try:
        return AutoModelForDepthEstimation.from_pretrained(model_id, local_files_only=True, **kwargs)
    except OSError as err:
        if not _not_cached(err):
            reason = _first_line(err)
            raise DepthModelUnavailable(f"Depth model {label} could not be loaded from the cache: {reason}") from err
    if _hub_offline():
        raise DepthModelUnavailable(_unavailable_message(label, "HF_HUB_OFFLINE=1")) from None
    try:
        return AutoModelForDepthEstimation.from_pretrained(model_id, **kwargs)
    except (OSError, HfHubHTTPError) as err:
        if _not_cached(err):
            raise DepthModelUnavailable(_unavailable_message(label, "no connection")) from None
        raise DepthModelUnavailable(f"Depth model {label} could not be loaded: {_first_line(err)}") from err


def _read_preprocessor(config: DepthConfig) -> dict:
    """The model's ``preprocessor_config.json`` as a dict, or ``{}`` when it has none."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError

    model_id = os.path.expanduser(str(config.model_id))
    if _is_local_path(model_id):
        path = Path(model_id) / "preprocessor_config.json"
    else:
        try:  # the model itself loaded, so the cache (or the Hub) answers quickly
            path = Path(
                hf_hub_download(
                    model_id,
                    "preprocessor_config.json",
                    revision=config.revision,
                    cache_dir=config.cache_dir,
                    local_files_only=_hub_offline(),
                )
            )
        except (EntryNotFoundError, HfHubHTTPError, OSError):
            return {}
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _norm_stats(preprocessor: dict) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Mean and std from a processor config, ImageNet when absent or malformed."""
    mean, std = preprocessor.get("image_mean"), preprocessor.get("image_std")
    if preprocessor.get("do_normalize", True) is False:
        return (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)
    ok = all(isinstance(v, (list, tuple)) and len(v) == 3 for v in (mean, std))
    if not ok or min(std) <= 0:
        return IMAGENET_MEAN, IMAGENET_STD
    return tuple(float(v) for v in mean), tuple(float(v) for v in std)


@register_depth_backend(DEFAULT_BACKEND)
def _load_depth_anything(config: DepthConfig) -> DepthAnythingModel:
    """Factory of the default backend: Depth Anything V2 Small through ``transformers``."""
    device = resolve_device(config.device)
    dtype = resolve_dtype(config.dtype, device)
    network = _load_network(config, dtype)
    model_config = network.config
    if getattr(model_config, "model_type", None) != "depth_anything":
        raise ValueError(f"model_id: expected a Depth Anything model, got model_type={model_config.model_type!r}")
    if getattr(model_config, "depth_estimation_type", "relative") != "relative":
        raise ValueError("model_id: expected a relative (inverse-depth) Depth Anything model, got a metric one")
    preprocessor = _read_preprocessor(config)
    mean, std = _norm_stats(preprocessor)
    return DepthAnythingModel(
        network,
        input_size=config.input_size,
        batch_size=config.batch_size,
        mean=mean,
        std=std,
        bicubic=preprocessor.get("resample", 3) == 3,
        patch_size=int(getattr(model_config, "patch_size", 14)),
        device=device,
        dtype=config.dtype,
    )


# --------------------------------------------------------------------------- stabiliser


@dataclass(frozen=True)
class StabilizerConfig:
    """Settings of the temporal depth stabiliser (formulas in :class:`DepthStabilizer`).

    Attributes:
        ema: weight of the past in the smoothed normalisation range, in ``[0, 1)``. ``0``
            normalises every frame on its own; ``0.9`` follows a change of range with a
            time constant of about 10 frames.
        percentiles: ``(low, high)`` percentiles of the aligned depth taken as the
            normalisation range (robust to a few extreme pixels), ``0 <= low < high <= 100``.
        align: fit each frame's scale and shift to the previous frame before normalising.
        scale_range: ``(min, max)`` allowed frame-to-frame scale of the alignment; fits
            outside are clipped (a scene change that the cut detector missed, or junk).
        trim: fraction of the sample pixels with the largest residual dropped before the
            fit is redone (moving objects, occlusions), in ``[0, 0.9]``.
        max_samples: about how many pixels (a regular grid) the fit and the percentiles use.
    """

    ema: float = 0.9
    percentiles: tuple[float, float] = (2.0, 98.0)
    align: bool = True
    scale_range: tuple[float, float] = (0.25, 4.0)
    trim: float = 0.2
    max_samples: int = 16384

    def __post_init__(self) -> None:
        check_range("ema", self.ema, 0.0, 0.999999)
        if len(self.percentiles) != 2 or not 0.0 <= self.percentiles[0] < self.percentiles[1] <= 100.0:
            raise ValueError(f"percentiles: expected (low, high) with 0 <= low < high <= 100, got {self.percentiles!r}")
        if len(self.scale_range) != 2 or not 0.0 < self.scale_range[0] <= 1.0 <= self.scale_range[1]:
            raise ValueError(f"scale_range: expected (min, max) with 0 < min <= 1 <= max, got {self.scale_range!r}")
        check_range("trim", self.trim, 0.0, 0.9)
        if isinstance(self.max_samples, bool) or not isinstance(self.max_samples, int) or self.max_samples < 16:
            raise ValueError(f"max_samples: expected an integer >= 16, got {self.max_samples!r}")


def _grid_step(height: int, width: int, max_samples: int) -> int:
    """Stride of a regular grid with at most about ``max_samples`` points."""
    return max(1, math.ceil(math.sqrt(height * width / max_samples)))


def _degenerate(values: np.ndarray) -> bool:
    """Whether samples are (nearly) constant, so no scale can be fitted to or from them."""
    spread = float(values.std())
    return not math.isfinite(spread) or spread <= 1e-6 * max(1.0, float(np.abs(values).mean()))


def fit_scale_shift(
    source: np.ndarray,
    target: np.ndarray,
    scale_range: tuple[float, float] = (0.25, 4.0),
    trim: float = 0.2,
) -> tuple[float, float] | None:
    """Least-squares ``(a, b)`` with ``a * source + b ~ target``, robust to outliers.

    ``a = cov(s, t) / var(s)``, ``b = mean(t) - a mean(s)``; the fit is redone without the
    ``trim`` fraction of samples of largest residual ``|a s + b - t|``; finally ``a`` is
    clipped to ``scale_range`` and ``b`` refitted for the clipped ``a`` (``b = mean(t - a s)``
    over the kept samples).

    Args:
        source: ``(N,)`` samples to be mapped (this frame's depth).
        target: ``(N,)`` samples to map onto (the previous aligned frame).
        scale_range: allowed ``(min, max)`` of ``a``.
        trim: fraction of samples dropped before the refit, in ``[0, 0.9]``.

    Returns:
        ``(a, b)`` as floats, or ``None`` if either side is (nearly) constant or the fit
        is not finite.
    """
    s = np.asarray(source, dtype=np.float64).ravel()
    t = np.asarray(target, dtype=np.float64).ravel()
    if s.shape != t.shape:
        raise ValueError(f"source, target: expected equal sizes, got {s.shape} and {t.shape}")
    if _degenerate(s) or _degenerate(t):
        return None

    def solve(ss: np.ndarray, tt: np.ndarray) -> tuple[float, float]:
        # elementwise sums, not np.dot: BLAS threads fight torch's thread pool (ms per call)
        ds = ss - ss.mean()
        a = float(np.sum(ds * (tt - tt.mean())) / max(float(np.sum(ds * ds)), 1e-300))
        return a, float(tt.mean() - a * ss.mean())

    a, b = solve(s, t)
    if trim > 0.0 and len(s) >= 8:
        residual = np.abs(a * s + b - t)
        keep = residual <= np.quantile(residual, 1.0 - trim)
        if keep.sum() >= 4 and not _degenerate(s[keep]):
            s, t = s[keep], t[keep]
            a, b = solve(s, t)
    clipped = min(max(a, scale_range[0]), scale_range[1])
    if clipped != a:
        a, b = clipped, float(np.mean(t - clipped * s))
    if not (math.isfinite(a) and math.isfinite(b)):
        return None
    return a, b


@dataclass
class _StabilizerState:
    """What the stabiliser remembers of the previous frame of the current shot."""

    shape: tuple[int, int] | None = None
    previous: np.ndarray | None = None  # aligned depth of the previous frame on the grid
    scale: float = 1.0
    shift: float = 0.0
    low: float | None = None
    high: float | None = None
    frames: int = 0


class DepthStabilizer:
    r"""Streaming temporal stabiliser: relative inverse depth -> steady [0, 1] nearness.

    For frame ``t`` of a shot with raw relative inverse depth ``r_t`` and ``G`` a regular
    grid of about ``max_samples`` pixels:

    1. Align (if ``align``): ``(a_t, b_t) = argmin_{a,b} sum_{i in G} (a r_t[i] + b - u_{t-1}[i])^2``
       by :func:`fit_scale_shift` (trimmed, ``a_t`` clipped to ``scale_range``), and
       ``u_t = a_t r_t + b_t``. The first frame of a shot has ``(a, b) = (1, 0)``; if this
       or the previous frame is flat on ``G`` (no scale can be fitted), the previous
       frame's ``(a, b)`` is kept. Without ``align``, ``u_t = r_t``.
    2. Range: ``l_t, h_t`` = the ``percentiles`` of ``u_t`` on ``G``, smoothed as
       ``L_t = ema L_{t-1} + (1 - ema) l_t`` and ``H_t = ema H_{t-1} + (1 - ema) h_t``
       (``L = l``, ``H = h`` on the first frame of a shot).
    3. Normalise: ``n_t = clip((u_t - L_t) / (H_t - L_t), 0, 1)``; 1 is nearest. A frame
       whose range is empty (``H_t - L_t`` tiny) becomes 0.5 everywhere.

    So a clip whose raw depth is ``r_t = alpha_t d + beta_t`` (``alpha_t > 0``) comes out as
    the same ``n_t`` for every ``t``. :meth:`reset` (or a cut flag passed to
    :meth:`process`) starts a new shot; a change of frame size does too.
    """

    def __init__(self, config: StabilizerConfig = StabilizerConfig()) -> None:
        if not isinstance(config, StabilizerConfig):
            raise ValueError(f"config: expected a StabilizerConfig, got {type(config).__name__}")
        self.config = config
        self._state = _StabilizerState()

    def reset(self) -> None:
        """Forget the current shot (call at a scene cut or a new video)."""
        self._state = _StabilizerState()

    @property
    def frames_in_shot(self) -> int:
        """Frames processed since the last reset."""
        return self._state.frames

    def process(self, depth: np.ndarray, cuts: np.ndarray | None = None) -> np.ndarray:
        """Stabilise and normalise a chunk of frames that follows the previous chunk.

        Args:
            depth: ``(n, H, W)`` (or ``(H, W)``) float relative inverse depth, unitless,
                larger = nearer.
            cuts: optional ``(n,) bool``; True resets the state before that frame.

        Returns:
            ``(n, H, W) float32`` normalised inverse depth ("nearness") in ``[0, 1]``.
        """
        arr = check_array("depth", depth, (2, 3), (np.float16, np.float32, np.float64))
        arr = arr[None] if arr.ndim == 2 else arr
        check_finite("depth", arr)
        if cuts is not None:
            cuts = np.asarray(cuts)
            if cuts.dtype != np.bool_ or cuts.shape != (len(arr),):
                raise ValueError(f"cuts: expected a bool array of shape ({len(arr)},), got {cuts.dtype} {cuts.shape}")
        out = np.empty(arr.shape, dtype=np.float32)
        for i, frame in enumerate(arr):
            if (cuts is not None and cuts[i]) or self._state.shape not in (None, frame.shape):
                self.reset()
            self._frame(frame, out[i])
        return out

    def _frame(self, raw: np.ndarray, out: np.ndarray) -> None:
        """Normalise one ``(H, W)`` frame into ``out`` ``(H, W) float32`` and update the state."""
        cfg, state = self.config, self._state
        step = _grid_step(raw.shape[0], raw.shape[1], cfg.max_samples)
        samples = raw[::step, ::step].astype(np.float64).ravel()
        if cfg.align and state.previous is not None:
            fit = fit_scale_shift(samples, state.previous, cfg.scale_range, cfg.trim)
            if fit is not None:
                state.scale, state.shift = fit
        aligned = state.scale * samples + state.shift
        low, high = np.percentile(aligned, cfg.percentiles)
        if state.low is None:
            state.low, state.high = float(low), float(high)
        else:
            state.low = cfg.ema * state.low + (1.0 - cfg.ema) * float(low)
            state.high = cfg.ema * state.high + (1.0 - cfg.ema) * float(high)
        state.previous, state.shape = aligned, raw.shape
        state.frames += 1
        span = state.high - state.low
        if not span > 1e-8 * max(1.0, abs(state.high), abs(state.low)):
            out[...] = 0.5
            return
        # n = (a r + b - L) / (H - L) = k r + c: three in-place passes over the frame
        k, c = state.scale / span, (state.shift - state.low) / span
        np.multiply(raw, np.float32(k), out=out, casting="unsafe")
        out += np.float32(c)
        np.clip(out, 0.0, 1.0, out=out)


# --------------------------------------------------------------------------- estimator


class DepthEstimator:
    """Model + scene-cut detector + stabiliser for a video streamed in chunks.

    Args:
        config: depth model settings (ignored when ``model`` is given).
        stabilizer: stabiliser settings.
        scene_cuts: cut-detector settings; ``None`` disables cut detection.
        model: an already loaded :class:`DepthModel` to use instead of loading one.

    Example:
        >>> est = DepthEstimator(DepthConfig(model_id="/models/dav2-small"))  # doctest: +SKIP
        >>> for chunk in chunks:  # doctest: +SKIP
        ...     nearness = est.process(chunk)  # (n, H, W, 3) uint8 -> (n, H, W) float32 in [0, 1]
        ...     cuts = est.last_cuts  # (n,) bool, True = first frame of a new shot
    """

    def __init__(
        self,
        config: DepthConfig | None = None,
        *,
        stabilizer: StabilizerConfig = StabilizerConfig(),
        scene_cuts: SceneCutConfig | None = SceneCutConfig(),
        model: DepthModel | None = None,
    ) -> None:
        if model is not None and not isinstance(model, DepthModel):
            raise ValueError(f"model: expected a DepthModel, got {type(model).__name__}")
        self.model = model if model is not None else load_depth_model(config)
        self.stabilizer = DepthStabilizer(stabilizer)
        self.detector = SceneCutDetector(scene_cuts) if scene_cuts is not None else None
        self.last_cuts = np.zeros(0, dtype=bool)
        self.last_raw: np.ndarray | None = None

    def reset(self) -> None:
        """Start a new video: forget the previous frame in detector and stabiliser."""
        self.stabilizer.reset()
        if self.detector is not None:
            self.detector.reset()
        self.last_cuts = np.zeros(0, dtype=bool)
        self.last_raw = None

    def process(self, frames: np.ndarray) -> np.ndarray:
        """Depth of the next chunk of the video.

        Args:
            frames: ``(n, H, W, 3) uint8`` RGB (or one ``(H, W, 3)`` frame), following
                the frames of the previous call.

        Returns:
            ``(n, H, W) float32`` normalised inverse depth in ``[0, 1]`` (1 = nearest),
            steady across frames and calls. ``last_cuts`` ``(n,) bool`` then holds the
            frames found to start a new shot, ``last_raw`` the model's raw
            ``(n, H, W) float32`` output.
        """
        clip = check_clip("frames", frames)
        raw = self.model.predict(clip)
        cuts = self.detector.process(clip) if self.detector is not None else np.zeros(len(clip), dtype=bool)
        self.last_cuts, self.last_raw = cuts, raw
        return self.stabilizer.process(raw, cuts)
