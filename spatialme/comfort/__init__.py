"""Comfortable 3D by default: automatic strength and screen plane per shot, floating windows, a depth-budget report.

One fixed divergence is too flat for an indoor shot and too strong for a deep outdoor one,
because depth is normalised per clip (a sidecar) or per shot (the depth stage). Here every shot
(between scene cuts) gets its own divergence and convergence, chosen from its depth statistics so
that each frame's parallax range, 1st to 99th percentile, lies in a comfort band of the display
and the subject (the nearest large central region) sits on the screen plane; settings are
constant within a shot and change only at cuts. Near objects that the left or right frame edge
cuts (window violations) get a floating window, or the shot's convergence is pulled back.

Modules, one concern each:

- :mod:`.displays`: :class:`Display` and :data:`DISPLAYS` (``headset``, ``tv``, ``phone``):
  the band in % of the width, derived from the 1 degree rule and each display's field of view.
- :mod:`.plan`: per-frame statistics, :func:`plan_shot` (the choice of divergence, convergence
  and windows; the formulas are in its module docstring), :func:`apply_window`.
- :mod:`.session`: :class:`ComfortConfig` and :class:`ComfortSession`, the part of a
  conversion that runs the first pass (depth once, kept in a temporary memory map, or a depth
  sidecar), maps each shot and records the parallax.
- :mod:`.sidecar`: :class:`DepthSidecar`, a ``--depth`` file read a chunk at a time.
- :mod:`.report`: ``PATH.json`` and the plot ``PATH.png``.
"""

from __future__ import annotations

from .displays import COMFORT_DEG, DISPLAYS, FLAT_DEG, Display, get_display, parallax_pct
from .plan import ShotPlan, apply_window, frame_stats, parallax_percentiles, plan_shot, shot_bounds, window_gain
from .report import build_report, draw_plot, write_report
from .session import STRENGTHS, ComfortConfig, ComfortSession, open_session, report_paths
from .sidecar import DepthSidecar

__all__ = [
    "COMFORT_DEG",
    "DISPLAYS",
    "FLAT_DEG",
    "STRENGTHS",
    "ComfortConfig",
    "ComfortSession",
    "DepthSidecar",
    "Display",
    "ShotPlan",
    "apply_window",
    "build_report",
    "draw_plot",
    "frame_stats",
    "get_display",
    "open_session",
    "parallax_pct",
    "parallax_percentiles",
    "plan_shot",
    "report_paths",
    "shot_bounds",
    "window_gain",
    "write_report",
]
