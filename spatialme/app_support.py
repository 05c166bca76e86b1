"""The web app's library side, now the package :mod:`spatialme.webapp` (this name stays for old imports)."""

from __future__ import annotations

from .webapp import *  # noqa: F401,F403
from .webapp import __all__  # noqa: F401
