"""Training of the learned parts, now the package :mod:`spatialme.training` (this name stays
for old imports: ``from spatialme.train import TrainConfig, train, ...`` works as before)."""

from __future__ import annotations

from .training import *  # noqa: F401,F403
from .training import __all__  # noqa: F401
