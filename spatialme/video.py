"""Media input/output, now the package :mod:`spatialme.io` (this name stays for old imports).

``from spatialme import video; video.probe(...)``, ``video.VideoWriter``, ``video.read_frames``
and every other public name work as before. The names here are copies: to monkeypatch one,
patch the module of :mod:`spatialme.io` that defines it (e.g. ``spatialme.io.writer``).
"""

from __future__ import annotations

from .io import *  # noqa: F401,F403
from .io import __all__  # noqa: F401
