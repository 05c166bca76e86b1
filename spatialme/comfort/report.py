"""The depth-budget report: ``PATH.json`` (per shot and per frame) and ``PATH.png`` (a plot drawn with OpenCV).

JSON fields::

    display      "headset" | "tv" | "phone"
    fov_deg      the display's field of view, degrees
    band_deg     [lo, hi] comfort band of a frame's parallax range, degrees
    band_pct     [lo, hi] the same in % of the frame width (p99 - p1 belongs inside)
    strength     "auto" | "fixed"
    depth        where the disparity came from: "sidecar", "model" or "disparity" (given px)
    width, height, fps
    shots        [{start, end, divergence, convergence, window, window_px [left, right], pulled}]
                 start/end: frame indices of the converted range, end exclusive
    frames       [{parallax_pct: [p1, p99]}] per converted frame

``parallax_pct`` is the signed screen parallax, right-eye column minus left-eye column in % of
the width (``-d / W * 100`` for the left-view disparity ``d``; negative = in front of the
screen), at the frame's 1st and 99th percentile. ``window`` says the shot has a floating window
(``window_px`` its widths: the left eye's band at the left edge, the right eye's at the right
edge); ``pulled`` that its convergence was pulled back to an edge object instead.

The plot: top, ``p1`` (nearest) and ``p99`` (farthest) over the frames around the screen plane
(0), shots with a window marked ``W`` (``P`` where the convergence was pulled); bottom, the
range ``p99 - p1`` against the display's band (shaded); scene cuts as vertical lines in both.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from ..io import atomic_write
from .plan import ShotPlan

if TYPE_CHECKING:
    from .session import ComfortSession

__all__ = ["build_report", "draw_plot", "write_report"]

_WHITE, _BLACK, _GREY = (255, 255, 255), (0, 0, 0), (150, 150, 150)
_NEAR, _FAR, _RANGE = (40, 40, 210), (190, 110, 20), (30, 120, 30)  # BGR: red, blue, green
_BAND, _CUT = (200, 235, 200), (180, 60, 180)
_FONT = cv2.FONT_HERSHEY_SIMPLEX


def build_report(session: "ComfortSession", parallax: np.ndarray, shots: list[ShotPlan]) -> dict:
    """The report of a finished conversion as a JSON-ready dict (fields in the module docstring)."""
    display = session.display
    return {
        "display": display.name,
        "fov_deg": display.fov_deg,
        "band_deg": list(display.band_deg),
        "band_pct": [round(v, 5) for v in display.band_pct],
        "strength": session.config.strength,
        "depth": session.mode,
        "width": int(session.width),
        "height": int(session.height),
        "fps": session.fps,
        "shots": [s.to_dict() for s in shots],
        "frames": [{"parallax_pct": [round(float(a), 5) + 0.0, round(float(b), 5) + 0.0]} for a, b in parallax],
    }


def write_report(report: dict, json_path: Path, png_path: Path) -> dict[str, str]:
    """Write the JSON and the plot, each atomically; returns ``{"json": path, "png": path}``."""
    with atomic_write(json_path) as tmp:
        Path(tmp).write_text(json.dumps(report, indent=1))
    ok, png = cv2.imencode(".png", draw_plot(report))
    if not ok:
        raise ValueError(f"report: could not encode {png_path.name}")
    with atomic_write(png_path) as tmp:
        Path(tmp).write_bytes(png.tobytes())
    return {"json": str(json_path), "png": str(png_path)}


def _nice_step(span: float, ticks: int = 5) -> float:
    """A 1-2-5 step giving about ``ticks`` ticks over ``span``."""
    raw = max(span, 1e-9) / ticks
    power = 10.0 ** math.floor(math.log10(raw))
    return next(m * power for m in (1.0, 2.0, 5.0, 10.0) if m * power >= raw)


class _Panel:
    """A plot area ``(x0, y0, x1, y1)`` px showing frames ``0..frames`` against values ``lo..hi``."""

    def __init__(self, img: np.ndarray, box: tuple[int, int, int, int], frames: int, lo: float, hi: float) -> None:
        self.img, self.box, self.frames = img, box, max(frames, 1)
        step = _nice_step(hi - lo)
        self.lo, self.hi = math.floor(lo / step) * step, math.ceil(hi / step) * step
        if self.hi <= self.lo:
            self.hi = self.lo + step
        self.step = step

    def x(self, t: float) -> int:
        x0, _, x1, _ = self.box
        return int(round(x0 + (x1 - x0) * t / self.frames))

    def y(self, v: float) -> int:
        _, y0, _, y1 = self.box
        return int(round(y1 - (y1 - y0) * (v - self.lo) / (self.hi - self.lo)))

    def axes(self, label: str) -> None:
        x0, y0, x1, y1 = self.box
        v = self.lo
        while v <= self.hi + 1e-9:
            y = self.y(v)
            cv2.line(self.img, (x0, y), (x1, y), (230, 230, 230), 1)
            cv2.putText(self.img, f"{v:.2f}".rstrip("0").rstrip(".") if abs(v) > 1e-9 else "0", (x0 - 48, y + 4),
                        _FONT, 0.4, _BLACK, 1, cv2.LINE_AA)
            v += self.step
        cv2.rectangle(self.img, (x0, y0), (x1, y1), _BLACK, 1)
        cv2.putText(self.img, label, (x0 + 4, y0 - 6), _FONT, 0.45, _BLACK, 1, cv2.LINE_AA)

    def frame_ticks(self) -> None:
        x0, _, x1, y1 = self.box
        step = max(1, int(_nice_step(self.frames, 8)))
        for t in range(0, self.frames + 1, step):
            cv2.line(self.img, (self.x(t), y1), (self.x(t), y1 + 4), _BLACK, 1)
            cv2.putText(self.img, str(t), (self.x(t) - 6, y1 + 16), _FONT, 0.4, _BLACK, 1, cv2.LINE_AA)
        cv2.putText(self.img, "frame", (x1 - 40, y1 + 32), _FONT, 0.4, _BLACK, 1, cv2.LINE_AA)

    def curve(self, values: np.ndarray, colour: tuple[int, int, int]) -> None:
        points = np.array([(self.x(t + 0.5), self.y(v)) for t, v in enumerate(values)], np.int32)
        if len(points) > 1:
            cv2.polylines(self.img, [points], False, colour, 2, cv2.LINE_AA)
        for p in points if len(points) <= 60 else ():
            cv2.circle(self.img, tuple(int(c) for c in p), 2, colour, -1, cv2.LINE_AA)

    def dashed(self, y: int, colour: tuple[int, int, int]) -> None:
        x0, _, x1, _ = self.box
        for x in range(x0, x1, 12):
            cv2.line(self.img, (x, y), (min(x + 6, x1), y), colour, 1)

    def cut(self, t: int) -> None:
        _, y0, _, y1 = self.box
        x = self.x(t)
        for y in range(y0, y1, 8):
            cv2.line(self.img, (x, y), (x, min(y + 5, y1)), _CUT, 2)


def draw_plot(report: dict, size: tuple[int, int] = (1000, 620)) -> np.ndarray:
    """The depth-budget plot of a report as a ``(H, W, 3) uint8`` BGR image (see the module docstring)."""
    width, height = size
    img = np.full((height, width, 3), 255, np.uint8)
    frames = np.array([f["parallax_pct"] for f in report["frames"]], np.float64).reshape(-1, 2)
    count = len(frames)
    band_lo, band_hi = report["band_pct"]
    shots = report["shots"]
    title = (f"Depth budget: {report['display']} ({report['fov_deg']:g} deg), band {band_lo:.2f}-{band_hi:.2f} % of width, "
             f"strength {report['strength']}, {len(shots)} shot{'s' if len(shots) != 1 else ''}")
    cv2.putText(img, title, (20, 24), _FONT, 0.5, _BLACK, 1, cv2.LINE_AA)
    left, right = 70, width - 20
    near = frames[:, 0] if count else np.zeros(1)
    far = frames[:, 1] if count else np.zeros(1)
    low, high = min(float(near.min()), 0.0), max(float(far.max()), 0.0)
    pad = 0.08 * max(high - low, 0.1)
    top = _Panel(img, (left, 84, right, 316), count, low - pad, high + pad)
    top.axes("parallax, % of width (negative = in front of the screen): p1 nearest, p99 farthest")
    top.dashed(top.y(0.0), _BLACK)
    cv2.putText(img, "screen", (right - 56, top.y(0.0) - 4), _FONT, 0.4, _BLACK, 1, cv2.LINE_AA)
    spans = far - near
    bottom = _Panel(img, (left, 366, right, height - 50), count, 0.0, max(float(spans.max()), band_hi) * 1.15)
    x0, _, x1, _ = bottom.box
    cv2.rectangle(img, (x0, bottom.y(band_hi)), (x1, bottom.y(band_lo)), _BAND, -1)
    bottom.axes(f"parallax range p99 - p1, % of width; shaded: the {report['display']} comfort band")
    for shot in shots:
        if shot["start"] > 0:
            top.cut(shot["start"])
            bottom.cut(shot["start"])
        mark = "P" if shot.get("pulled") else "W" if shot.get("window") else ""
        if mark:
            cv2.putText(img, mark, (top.x(shot["start"]) + 4, top.box[1] + 16), _FONT, 0.5, _CUT, 2, cv2.LINE_AA)
    if count:
        top.curve(near, _NEAR)
        top.curve(far, _FAR)
        bottom.curve(spans, _RANGE)
    bottom.frame_ticks()
    legend = [("p1 (nearest)", _NEAR), ("p99 (farthest)", _FAR), ("p99 - p1", _RANGE), ("scene cut", _CUT)]
    x = left
    for text, colour in legend:
        cv2.line(img, (x, 44), (x + 24, 44), colour, 2)
        cv2.putText(img, text, (x + 30, 48), _FONT, 0.4, _BLACK, 1, cv2.LINE_AA)
        x += 40 + 8 * len(text)
    cv2.putText(img, "W: floating window, P: convergence pulled back", (x, 48), _FONT, 0.4, _GREY, 1, cv2.LINE_AA)
    return img
