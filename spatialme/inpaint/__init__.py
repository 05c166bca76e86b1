"""Inpainting branches: Poly-based (polyline), DE-based (expand), and the fillers they use."""

from .base import available_fillers, composite, get_filler, register_filler
from . import classic  # noqa: F401  (registers "poly" and "telea")

__all__ = ["available_fillers", "composite", "get_filler", "register_filler"]
