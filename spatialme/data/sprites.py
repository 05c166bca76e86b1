"""What synthetic scenes are painted with: crops of texture photos and silhouette mattes.

Mattes are drawn at 4x resolution inside their box less a zero margin and area-averaged
down, so edge pixels (and thin strands) carry fractional coverage, as a camera's
anti-aliased silhouettes do.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["SILHOUETTES", "texture_crop", "silhouette_matte"]

#: Silhouette kinds of ``shapes="varied"`` (each object draws one, uniformly).
SILHOUETTES = ("blob", "polygon", "limbs", "ring", "fringe")

_SUPERSAMPLE = 4  # matte drawing resolution factor
_MATTE_MARGIN = 2  # px of zero alpha around a sprite


def texture_crop(rng: np.random.Generator, texture: np.ndarray, out_h: int, out_w: int, max_zoom: float = 2.0) -> np.ndarray:
    """A random crop of ``texture`` resized to ``(out_h, out_w, 3) uint8``, maybe mirrored.

    The crop covers ``zoom`` texture px per output px, ``zoom`` drawn in ``[0.6, 1] *
    min(max_zoom, fit)`` where ``fit`` is the largest zoom the texture allows; a small
    texture is enlarged (bicubic), a large one shrunk (area averaging).
    """
    th, tw = texture.shape[:2]
    z_hi = min(tw / out_w, th / out_h, max_zoom)
    zoom = rng.uniform(0.6 * z_hi, z_hi)
    cw, ch = min(tw, max(1, round(out_w * zoom))), min(th, max(1, round(out_h * zoom)))
    x0, y0 = int(rng.integers(0, tw - cw + 1)), int(rng.integers(0, th - ch + 1))
    crop = texture[y0 : y0 + ch, x0 : x0 + cw]
    interp = cv2.INTER_AREA if zoom > 1 else cv2.INTER_CUBIC
    out = cv2.resize(crop, (out_w, out_h), interpolation=interp)
    if rng.random() < 0.5:
        out = out[:, ::-1]
    return np.ascontiguousarray(out)


def _blob_points(rng: np.random.Generator, cx: float, cy: float, rx: float, ry: float, wobble: float = 0.35, kmax: int = 6) -> np.ndarray:
    """Outline ``(256, 2)`` of a radial Fourier blob ``r(theta) = 1 + sum_k c_k cos(k theta + phi_k)``."""
    theta = np.linspace(0.0, 2.0 * np.pi, 256, endpoint=False)
    radius = np.ones_like(theta)
    for k in range(2, kmax + 1):
        radius += rng.uniform(-wobble, wobble) / k**0.8 * np.cos(k * theta + rng.uniform(0, 2 * np.pi))
    radius /= radius.max()
    return np.stack([cx + rx * radius * np.cos(theta), cy + ry * radius * np.sin(theta)], axis=1)


def _fill(canvas: np.ndarray, pts: np.ndarray, value: int = 255) -> None:
    cv2.fillPoly(canvas, [np.round(pts * 16).astype(np.int32)], value, lineType=cv2.LINE_8, shift=4)


def _stroke(canvas: np.ndarray, p0: np.ndarray, p1: np.ndarray, thickness: int) -> None:
    a, b = (int(round(p0[0])), int(round(p0[1]))), (int(round(p1[0])), int(round(p1[1])))
    cv2.line(canvas, a, b, 255, max(1, int(thickness)), lineType=cv2.LINE_8)


def silhouette_matte(rng: np.random.Generator, height: int, width: int, kind: str = "blob") -> np.ndarray:
    """An anti-aliased matte ``(height, width) float32`` in [0, 1] of one silhouette kind.

    Drawn at 4x resolution inside the box less a zero margin and area-averaged down, so edge
    pixels (and thin strands) carry fractional coverage. ``kind`` is one of
    :data:`SILHOUETTES`: ``"blob"`` (radial Fourier blob, k = 2..6), ``"polygon"`` (3-7
    straight-edged vertices), ``"limbs"`` (a smaller blob with 1-3 thin limbs, 1-4 px
    wide), ``"ring"`` (a blob with an inner blob cut out) or ``"fringe"`` (a blob with
    many thin strands across its outline, hair-like).
    """
    ss = _SUPERSAMPLE
    cx, cy = width * ss / 2.0, height * ss / 2.0
    rx, ry = cx - _MATTE_MARGIN * ss, cy - _MATTE_MARGIN * ss
    canvas = np.zeros((height * ss, width * ss), np.uint8)
    if kind == "blob":
        _fill(canvas, _blob_points(rng, cx, cy, rx, ry))
    elif kind == "polygon":
        n = int(rng.integers(3, 8))
        step = 2 * np.pi / n  # evenly spread corners, jittered: a solid polygon, never a sliver
        angles = rng.uniform(0, 2 * np.pi) + step * (np.arange(n) + rng.uniform(-0.3, 0.3, n))
        radii = rng.uniform(0.6, 1.0, n)
        _fill(canvas, np.stack([cx + rx * radii * np.cos(angles), cy + ry * radii * np.sin(angles)], axis=1))
    elif kind == "limbs":
        scale = rng.uniform(0.35, 0.6)
        _fill(canvas, _blob_points(rng, cx, cy, rx * scale, ry * scale))
        for _ in range(int(rng.integers(1, 4))):
            angle = rng.uniform(0, 2 * np.pi)
            end = np.array([cx + rx * rng.uniform(0.8, 1.0) * np.cos(angle), cy + ry * rng.uniform(0.8, 1.0) * np.sin(angle)])
            _stroke(canvas, np.array([cx, cy]), end, int(rng.uniform(1, 4) * ss))
    elif kind == "ring":
        _fill(canvas, _blob_points(rng, cx, cy, rx, ry, 0.2))
        inner = rng.uniform(0.3, 0.6)
        _fill(canvas, _blob_points(rng, cx, cy, rx * inner, ry * inner, 0.2), 0)
    elif kind == "fringe":
        body = _blob_points(rng, cx, cy, rx * 0.8, ry * 0.8)
        _fill(canvas, body)
        picks = rng.integers(0, len(body), int(rng.integers(20, 60)))
        for k in picks:
            p = body[k]
            direction = (p - (cx, cy)) / max(1e-6, float(np.hypot(*(p - (cx, cy)))))
            length = rng.uniform(0.1, 0.25) * min(rx, ry)
            bend = rng.normal(0, 0.3, 2)
            _stroke(canvas, p - direction * 2 * ss, p + (direction + bend) * length, int(rng.integers(1, ss + 1)))
    else:
        raise ValueError(f"kind: expected one of {SILHOUETTES}, got {kind!r}")
    return cv2.resize(canvas.astype(np.float32) / 255.0, (width, height), interpolation=cv2.INTER_AREA)
