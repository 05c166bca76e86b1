"""Depth Anything V2 (through ``transformers``), the default depth backend.

*Model.* Depth Anything V2 Small (24.8M parameters, Apache-2.0) predicts *relative inverse
depth* ("disparity up to an unknown scale and shift"): larger is nearer, and only the
ordering and ratios of differences within one frame mean anything. That is exactly what
stereo synthesis needs, because the disparity stage maps a [0, 1] nearness to pixels with
the user's divergence and convergence anyway. Its weights are loaded by :mod:`.hub`.

*Pre-processing.* The Hub's ``DPTImageProcessor`` works one PIL image at a time. Here the
whole batch is resized on the model's device with ``torch.nn.functional.interpolate``
(bicubic with antialiasing, as the processor's PIL resize does) so that the short side is
``input_size`` and both sides are multiples of the ViT patch (14 px), keeping the aspect
ratio (:func:`model_input_shape`); then it is normalised with the processor config's
mean/std (ImageNet by default). The prediction is resized back to the frame size
bilinearly. ``input_size`` trades detail for time: 518 is what the model was trained at;
364 is about 2x cheaper on a CPU.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..checks import check_clip, check_int
from .base import DepthModel, register_depth_backend
from .config import DEFAULT_BACKEND, DepthConfig, resolve_device, resolve_dtype, resolve_input_size
from .hub import load_network, read_preprocessor

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "DepthAnythingModel", "model_input_shape"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


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


class DepthAnythingModel(DepthModel):
    """A ``transformers`` Depth Anything network (V1/V2, relative) with torch pre-processing.

    Usually built by :func:`~spatialme.depth.load_depth_model`; build it directly to wrap a
    network you already have (a random-weight one in a benchmark, say).

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
        check_int("batch_size", batch_size, 1)
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
    network = load_network(config, dtype)
    model_config = network.config
    if getattr(model_config, "model_type", None) != "depth_anything":
        raise ValueError(f"model_id: expected a Depth Anything model, got model_type={model_config.model_type!r}")
    if getattr(model_config, "depth_estimation_type", "relative") != "relative":
        raise ValueError("model_id: expected a relative (inverse-depth) Depth Anything model, got a metric one")
    preprocessor = read_preprocessor(config)
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
