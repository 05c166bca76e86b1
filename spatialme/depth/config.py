"""Depth settings: which model, where it runs, and how its ``"auto"`` values resolve.

:class:`DepthConfig` names a registered backend and its weights (the pinned Depth Anything
V2 Small by default) plus the run settings. Three of them may be ``"auto"`` / ``None`` and
are resolved once the device is known: the device itself (:func:`resolve_device`, through
:mod:`spatialme.devices`), the precision (float16 on CUDA, float32 elsewhere) and the model
input's short side (518 px on CUDA, the size the model was trained at; 364 px on a CPU,
about half the cost).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

from ..checks import check_int
from ..devices import DEVICE_NAMES, check_device_name, torch_device

__all__ = [
    "DEFAULT_BACKEND",
    "DEFAULT_MODEL_ID",
    "DEFAULT_REVISION",
    "DepthConfig",
    "resolve_device",
    "resolve_dtype",
    "resolve_input_size",
]

DEFAULT_BACKEND = "depth-anything-v2-small"
DEFAULT_MODEL_ID = "depth-anything/Depth-Anything-V2-Small-hf"
DEFAULT_REVISION = "5426e4f0f36572d16453bbda7a8389317b1bef99"

_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


@dataclass(frozen=True)
class DepthConfig:
    """Which depth model to run, and how.

    Attributes:
        backend: short name of a registered backend (see
            :func:`spatialme.depth.available_depth_backends`).
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
        check_int("input_size", self.input_size, 14, 4096, optional=True)
        check_int("batch_size", self.batch_size, 1)
        if not isinstance(self.device, str):
            raise ValueError(f"device: expected {DEVICE_NAMES}, got {self.device!r}")
        check_device_name(self.device)
        if self.dtype != "auto" and self.dtype not in _DTYPES:
            raise ValueError(f"dtype: expected auto, {', '.join(_DTYPES)}; got {self.dtype!r}")


def resolve_device(device: str | torch.device) -> torch.device:
    """Turn ``"auto"`` into CUDA when available (else CPU) and check the device exists.

    The same rule as everywhere else (:func:`spatialme.devices.resolve_device`), returned
    as a ``torch.device``.

    Args:
        device: a device string as in :class:`DepthConfig`, or a ``torch.device``.

    Returns:
        The ``torch.device`` to run on.

    Raises:
        ValueError: naming ``device``, for a bad name or a device this machine lacks.
    """
    return torch_device(device)


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
