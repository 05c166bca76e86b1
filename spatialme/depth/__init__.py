"""Monocular depth for every frame, made steady over time (paper Fig. 2, stage 1).

A monocular depth model predicts *relative inverse depth* for every left frame (larger is
nearer; scale and shift unknown and changing from frame to frame); the stabiliser turns it
into a nearness in [0, 1] that is steady over time and restarts at scene cuts; the
disparity stage (:mod:`spatialme.disparity`) maps that nearness to pixels.

Modules, one concern each:

- :mod:`.config`: :class:`DepthConfig` (backend, weights, device, precision, input size)
  and how its ``"auto"`` values resolve.
- :mod:`.base`: the :class:`DepthModel` interface, :class:`DepthModelUnavailable`, and the
  backend registry (:func:`register_depth_backend`, :func:`load_depth_model`).
- :mod:`.depth_anything`: Depth Anything V2 Small through ``transformers`` with batched
  torch pre-processing, the default backend.
- :mod:`.hub`: loading its weights from the Hub at a pinned revision, or from a local
  directory, with one-line errors that say how to fix a missing model.
- :mod:`.stabilizer`: :class:`DepthStabilizer`, scale/shift alignment to the previous
  frame and a time-smoothed percentile normalisation.
- :mod:`.estimator`: :class:`DepthEstimator`, model + scene-cut detector + stabiliser for
  a video streamed in chunks.

Every public name is importable from ``spatialme.depth`` itself.
"""

from __future__ import annotations

from .base import (
    DepthModel,
    DepthModelUnavailable,
    available_depth_backends,
    load_depth_model,
    register_depth_backend,
)
from .config import (
    DEFAULT_BACKEND,
    DEFAULT_MODEL_ID,
    DEFAULT_REVISION,
    DepthConfig,
    resolve_device,
    resolve_dtype,
    resolve_input_size,
)
from .depth_anything import IMAGENET_MEAN, IMAGENET_STD, DepthAnythingModel, model_input_shape
from .estimator import DepthEstimator
from .stabilizer import DepthStabilizer, StabilizerConfig, fit_scale_shift

__all__ = [
    "DEFAULT_BACKEND",
    "DEFAULT_MODEL_ID",
    "DEFAULT_REVISION",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
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
