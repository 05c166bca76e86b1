"""The depth-model interface and the registry of backends.

A depth backend is a :class:`DepthModel`: ``predict`` turns RGB frames into *relative
inverse depth* (larger is nearer; its scale and shift are unknown and may change from frame
to frame, which :mod:`.stabilizer` removes). Backends are registered by short name
(:func:`register_depth_backend`) so another depth network can be added without touching
the pipeline; :func:`load_depth_model` builds the one a :class:`DepthConfig` names. The
default, Depth Anything V2 Small, registers itself in :mod:`.depth_anything`.
"""

from __future__ import annotations

import abc
from collections.abc import Callable

import numpy as np
import torch

from ..registry import Registry
from .config import DepthConfig

__all__ = [
    "DepthModel",
    "DepthModelUnavailable",
    "register_depth_backend",
    "available_depth_backends",
    "load_depth_model",
]


class DepthModelUnavailable(RuntimeError):
    """The depth model cannot be loaded (not cached and no network, bad local copy, ...).

    The message is one line meant for the user, and says how to fix the problem.
    """


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
