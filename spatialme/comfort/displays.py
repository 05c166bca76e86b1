"""Displays and their comfort bands: how much total parallax a shot may use, in % of the frame width.

Where the figures come from
---------------------------
*The angular limits.* Stereographers' "1 degree rule" keeps every point of a picture within
about 1 degree of angular disparity of the screen (reviewed by Lambooij et al., 2009, "Visual
discomfort and visual fatigue of stereoscopic displays: a review", J. Imaging Sci. Technol.
53(3)). Shibata, Kim, Hoffman and Banks (2011, "The zone of comfort: predicting visual discomfort
with stereo displays", J. Vision 11(8):11) measured the comfortable vergence-accommodation
conflicts as a band of a few tenths of a diopter around the screen distance; 0.3 D of conflict
with the mean adult interocular distance of 63 mm (Dodgson, 2004) is
``0.063 m * 0.3 /m = 0.019 rad``, about 1.1 degree, so the 1 degree rule sits inside their zone
at the viewing distances of all three displays below. We hold the **whole** parallax range of a
shot (nearest to farthest point, 1st to 99th percentile) to :data:`COMFORT_DEG` = 1 degree, so
that wherever the subject sits, no point is more than 1 degree from the screen. The lower end,
:data:`FLAT_DEG` = 0.5 degree (half that budget), is our choice, not a published limit: below it
a converted shot reads as flat cut-outs, and a shot that uses less than half of the comfortable
budget wastes the 3D the viewer came for.

*From angle to % of width.* A frame seen across a horizontal field of view ``F`` at distance
``D`` is ``2 D tan(F / 2)`` wide; a parallax ``p`` on it subtends ``p / D`` radians at its
centre. So an angular parallax ``theta`` (radians) is

    pct = 100 * theta / (2 * tan(F / 2))          [% of the frame width]

*The fields of view* (assumptions about typical viewing, documented here so they can be argued
with):

* ``headset``: a VR/AR player's virtual screen, sized to fill about half of the roughly 100
  degree field of view of current headsets (Quest 3, Vision Pro): 50 degrees, a little wider
  than THX's 40 degree recommendation for a cinema seat. Band 0.94-1.87 %.
* ``tv``: 30 degrees, SMPTE's recommended minimum viewing angle for a home screen (a 55-inch TV
  at 2.3 m). Band 1.63-3.26 %.
* ``phone``: a 6.1-inch phone held in landscape at 35 cm (13.5 cm of picture width) spans
  ``2 atan(6.75 / 35)`` = 22 degrees. Band 2.24-4.49 %.

The same angle is a larger share of a smaller field of view, which is why a phone takes a
stronger setting than a headset. For a TV the band also stays well below the interocular
distance on the screen (3.26 % of a 1.22 m wide 55-inch picture is 40 mm < 63 mm), so nothing
behind the screen makes the eyes diverge.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["COMFORT_DEG", "FLAT_DEG", "DISPLAYS", "Display", "get_display", "parallax_pct"]

#: Largest total angular parallax range of a shot, degrees (the 1 degree rule; see the module docstring).
COMFORT_DEG = 1.0
#: Smallest total angular parallax range of a shot, degrees (half the budget; below it the 3D reads flat).
FLAT_DEG = 0.5


def parallax_pct(theta_deg: float, fov_deg: float) -> float:
    """Angular parallax (degrees) at the frame's centre as % of the width of a frame spanning ``fov_deg``."""
    if not (math.isfinite(fov_deg) and 0.0 < fov_deg < 180.0):
        raise ValueError(f"fov_deg: expected a field of view in (0, 180) degrees, got {fov_deg!r}")
    return 100.0 * math.radians(theta_deg) / (2.0 * math.tan(math.radians(fov_deg) / 2.0))


@dataclass(frozen=True)
class Display:
    """A kind of display and the comfort band of a shot's total parallax range on it.

    Attributes:
        name: ``"headset"``, ``"tv"`` or ``"phone"``.
        fov_deg: horizontal field of view the frame spans for the viewer, degrees.
        why: where the field of view comes from (one line, for reports and the README).
    """

    name: str
    fov_deg: float
    why: str

    @property
    def band_deg(self) -> tuple[float, float]:
        """``(lo, hi)`` total parallax range of a shot, degrees."""
        return FLAT_DEG, COMFORT_DEG

    @property
    def band_pct(self) -> tuple[float, float]:
        """``(lo, hi)`` total parallax range of a shot, % of the frame width (``p99 - p1`` belongs inside)."""
        return parallax_pct(FLAT_DEG, self.fov_deg), parallax_pct(COMFORT_DEG, self.fov_deg)


#: The displays ``--display`` offers, by name.
DISPLAYS: dict[str, Display] = {
    "headset": Display("headset", 50.0, "virtual screen of a VR/AR player, about 50 of the ~100 degrees a headset shows"),
    "tv": Display("tv", 30.0, "SMPTE's minimum viewing angle for a home screen (55-inch TV at 2.3 m)"),
    "phone": Display("phone", 22.0, "6.1-inch phone in landscape at 35 cm (13.5 cm wide picture)"),
}


def get_display(name: str) -> Display:
    """The :class:`Display` called ``name``; a ``ValueError`` naming the choices otherwise."""
    if name not in DISPLAYS:
        raise ValueError(f"display: expected one of {', '.join(DISPLAYS)}, got {name!r}")
    return DISPLAYS[name]
