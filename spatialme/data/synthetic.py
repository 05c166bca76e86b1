"""Synthetic stereo clips with exact ground truth: layered photo scenes at known depths.

Why it is built this way
------------------------
Real stereo clips only give disparity from a stereo matcher, and a disoccluded region of
the right view is *seen* but its depth and its correspondence are guesses. Here every
pixel of both views comes from a known layer at a known disparity, so the inpainting and
refining stages can be trained and scored against the true right view, holes included.

A scene is a background plane and 2-5 foreground blobs, each painted with a real photo
(``spatialme.data.textures``). One model places every point: a point of plane position
``X`` (px), row ``y`` and constant disparity ``D`` appears, in a camera at lateral
position ``sigma`` (in stereo baselines) and pan ``u`` (px), at column
``x = X - u - sigma * D``. The left camera sits at ``sigma = s_t`` and the right one at
``s_t + 1``, so ``x_right = x_left - D`` is the project's disparity convention (:mod:`spatialme.warp`), and moving
``s_t`` over time gives true motion parallax (near layers slide faster).

* Background: ``D(X, y) = a + b X + f(y)`` with ``f`` linear ("slanted") or quadratic
  ("curved"), kept in ``[0, 0.4 * max_disparity]``, and ``|b|`` small so that
  ``x -> x - d(x)`` is monotone. The left view is sampled from the photo by ``cv2.remap``
  (bicubic) on a canvas wider than the frame; the right view is sampled from that canvas
  at the analytic inverse ``x_left = (x_right + alpha_y) / (1 - beta)``, where
  ``d_left(x) = alpha_y + beta x`` on row ``y``. The border band the warp uncovers comes
  from the canvas columns beyond the left frame.
* Objects: radial Fourier blobs drawn at 4x and area-averaged to an anti-aliased matte,
  each at its own constant disparity in ``[0.5, 1] * max_disparity`` (distinct: one per
  stratum), moving smoothly; composited back to front with premultiplied alpha. The left
  layer is placed with a bilinear ``cv2.warpAffine``; the right layer is that left layer
  shifted left by exactly ``D`` with linear interpolation.

Both right-view resamplings are linear interpolations of the left view at the analytic
positions, which is exactly what the forward warp (``spatialme.warp``) computes on a
surface. So the surfaces of the scene are the bilinear interpolants of what the left
camera recorded, and the right view is their exact image: forward-warping ``left`` with
``disparity`` reproduces ``right`` to rounding wherever the warp has a surface, and the
only differences are at anti-aliased silhouettes (a mixed pixel moves with one layer) and
in the holes, whose true content the scene knows. The left disparity takes each layer
where its alpha is at least 0.5, nearest on top.

Rendering is one ``cv2.remap`` per frame plus two small numba kernels (row resampling and
premultiplied "over"), no per-pixel Python: a 128x192 8-frame clip takes about 15 ms and
a 720p 24-frame one about 1.5-2 s. The kernels are serial on purpose: many small parallel
regions per frame lose to thread hand-off, and dataset builders parallelise over scenes.

The photo crops and silhouette mattes the layers are painted with are :mod:`.sprites`;
:class:`StereoScene` and its storage (:func:`write_scene`, :func:`read_scene`) are
:mod:`.stereo_scene`, importable from here as well.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import cv2
import numba
import numpy as np

from ..checks import check_choice, check_image, check_range
from .sprites import SILHOUETTES, silhouette_matte, texture_crop
from .stereo_scene import StereoScene, read_scene, write_scene

__all__ = ["BACKGROUNDS", "SHAPES", "SILHOUETTES", "SceneConfig", "StereoScene", "render_scene", "write_scene", "read_scene"]

#: Accepted values of :attr:`SceneConfig.background`.
BACKGROUNDS = ("slanted", "curved", "random")

#: Accepted values of :attr:`SceneConfig.shapes`.
SHAPES = ("blobs", "varied")

_TEX_MARGIN = 4  # px of background texture beyond the sampled extent (bicubic footprint)
_BG_FRACTION = 0.4  # background disparity lies in [0, 0.4 * max_disparity]
_OBJ_FRACTION = 0.5  # objects lie in [0.5, 1] * max_disparity


@dataclass(frozen=True)
class SceneConfig:
    """What a synthetic scene looks like.

    Attributes:
        height: frame height, px.
        width: frame width, px.
        frames: number of frames ``T``.
        max_disparity: disparity of the nearest possible object, px. Objects lie in
            ``[0.5, 1] * max_disparity``; the background in ``[0, 0.4 * max_disparity]``.
        min_objects: fewest foreground objects.
        max_objects: most foreground objects.
        camera_speed: bound on the camera motion, px/frame: the pan (which moves every
            layer alike) and the lateral translation (measured as the motion it gives a
            point at ``max_disparity``) each get a random smooth speed up to this.
        object_speed: bound on each object's own motion, px/frame (horizontal; vertical
            up to half of it).
        background: "slanted" (``f(y)`` linear), "curved" (quadratic) or "random" (either,
            drawn per scene).
        shapes: "blobs" (smooth radial blobs only) or "varied": each object is one of
            :data:`SILHOUETTES`, a blob, a polygon with straight edges and corners, a blob
            with thin limbs, a ring (the background shows through its hole) or a blob
            with a hair-like fringe of thin strands (fractional alpha).
    """

    height: int = 128
    width: int = 192
    frames: int = 8
    max_disparity: float = 8.0
    min_objects: int = 2
    max_objects: int = 5
    camera_speed: float = 1.0
    object_speed: float = 1.5
    background: str = "random"
    shapes: str = "blobs"

    def __post_init__(self) -> None:
        for name, low in (("height", 16), ("width", 16), ("frames", 1), ("min_objects", 0), ("max_objects", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise ValueError(f"{name}: expected an integer, got {value!r}")
            check_range(name, value, low, 1 << 15)
        if self.max_objects < self.min_objects:
            raise ValueError(f"max_objects: expected at least min_objects={self.min_objects}, got {self.max_objects}")
        check_range("max_disparity", self.max_disparity, 0.5, self.width / 4)
        check_range("camera_speed", self.camera_speed, 0.0, 1e3)
        check_range("object_speed", self.object_speed, 0.0, 1e3)
        check_choice("background", self.background, BACKGROUNDS)
        check_choice("shapes", self.shapes, SHAPES)


@dataclass(frozen=True)
class _Plane:
    """Background plane ``D(X, y) = a + b X + fy[y]`` in plane coordinates (px)."""

    a: float
    b: float
    fy: np.ndarray  # (H,) float64, px


@dataclass(frozen=True)
class _Object:
    """A foreground sprite and its path in plane coordinates.

    ``rgba`` is ``(h, w, 4) float32``: premultiplied RGB in [0, 255] and alpha in [0, 1];
    ``x``/``y`` are ``(T,)`` px positions of its top-left corner.
    """

    rgba: np.ndarray
    disparity: float
    x: np.ndarray
    y: np.ndarray


@dataclass(frozen=True)
class _Layer:
    """A sprite rendered into a view: ``rgba (h, w, 4) float32`` with top-left ``(x0, y0)``."""

    rgba: np.ndarray
    x0: int
    y0: int


def _smooth_path(rng: np.random.Generator, frames: int, max_speed: float) -> np.ndarray:
    """Positions ``(T,)`` px whose speed moves linearly between two random values.

    Speeds stay within ``[-max_speed, max_speed]`` px/frame; the middle frame is at 0, so a
    scene's layout is drawn for the middle frame.
    """
    speed = np.linspace(rng.uniform(-max_speed, max_speed), rng.uniform(-max_speed, max_speed), frames)
    pos = np.concatenate([[0.0], np.cumsum(speed[:-1])])
    return pos - pos[frames // 2]


def _plane(
    rng: np.random.Generator, kind: str, x_lo: float, x_hi: float, height: int, d_lo: float, d_hi: float, max_sigma: float
) -> _Plane:
    """Draw a background plane whose disparity stays in ``[d_lo, d_hi]`` on ``[x_lo, x_hi] x rows``.

    A share ``wx`` of the range varies along ``X`` (either direction), the rest along
    ``y``: linearly for "slanted", as a parabola with a random vertex for "curved". ``|b|``
    is capped so that ``1 - sigma * b >= 0.5`` for every camera position ``|sigma| <=
    max_sigma`` (the image-space mapping stays monotone).
    """
    span = d_hi - d_lo
    wx = rng.uniform(0.15, 0.6)
    v = np.arange(height, dtype=np.float64) / max(height - 1, 1)
    if kind == "slanted":
        eta = v if rng.random() < 0.5 else 1.0 - v
    else:
        vertex = rng.uniform(0.0, 1.0)
        eta = (v - vertex) ** 2 / max(vertex, 1.0 - vertex) ** 2
        eta = eta if rng.random() < 0.5 else 1.0 - eta
    b = (1 if rng.random() < 0.5 else -1) * wx * span / (x_hi - x_lo)
    b = float(np.clip(b, -0.5 / max(max_sigma, 1e-9), 0.5 / max(max_sigma, 1e-9)))
    a = d_lo - b * (x_lo if b >= 0 else x_hi)
    return _Plane(a=float(a), b=b, fy=span * (1.0 - wx) * eta)


def _row_disparity(plane: _Plane, pan: float, sigma: float) -> tuple[np.ndarray, float]:
    """Image-space disparity of the plane in a camera: ``d(x) = alpha[y] + beta * x``.

    From ``x = X - pan - sigma * D(X, y)``: ``X = (x + pan + sigma (a + f)) / (1 - sigma b)``.

    Returns:
        ``alpha (H,)`` px and ``beta`` (px per px).
    """
    den = 1.0 - sigma * plane.b
    return (plane.a + plane.fy + plane.b * pan) / den, plane.b / den


def _plane_x(plane: _Plane, pan: float, sigma: float, columns: np.ndarray) -> np.ndarray:
    """Plane coordinate ``X`` ``(H, N)`` seen at image ``columns`` ``(N,)`` on every row."""
    den = 1.0 - sigma * plane.b
    return (columns[None, :] + pan + sigma * (plane.a + plane.fy[:, None])) / den


@numba.njit(cache=True)
def _sample_rows_kernel(image, x, out):  # pragma: no cover - compiled
    """Numba kernel of :func:`_sample_rows`; ``out`` is preallocated ``(H, N, C) float32``."""
    height, count = x.shape
    width, chans = image.shape[1], image.shape[2]
    for y in range(height):
        for j in range(count):
            xf = x[y, j]
            x0 = min(max(int(np.floor(xf)), 0), width - 2)
            t = np.float32(xf - x0)
            s = np.float32(1.0) - t
            for c in range(chans):
                out[y, j, c] = s * image[y, x0, c] + t * image[y, x0 + 1, c]


def _sample_rows(image: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Linear interpolation along rows: ``out[y, j] = image[y, x[y, j]]``.

    Computed as ``(1 - t) * image[x0] + t * image[x0 + 1]`` in float32, the forward warp's
    formula, by a numba kernel.

    Args:
        image: ``(H, W, C) float32``.
        x: ``(H, N) float64`` column positions, px, within ``[0, W - 1]``.

    Returns:
        ``(H, N, C) float32``.
    """
    out = np.empty((*x.shape, image.shape[2]), np.float32)
    _sample_rows_kernel(np.ascontiguousarray(image, dtype=np.float32), np.ascontiguousarray(x, dtype=np.float64), out)
    return out


def _object_disparities(rng: np.random.Generator, count: int, max_disparity: float) -> np.ndarray:
    """``count`` distinct disparities in ``[0.5, 1] * max_disparity``, ascending.

    One per equal stratum, jittered within its middle 60 %, so neighbours differ by at
    least 40 % of a stratum.
    """
    low, width = _OBJ_FRACTION * max_disparity, (1.0 - _OBJ_FRACTION) * max_disparity / max(count, 1)
    return low + (np.arange(count) + rng.uniform(0.2, 0.8, count)) * width


def _make_objects(rng: np.random.Generator, textures: list[np.ndarray], bg_index: int, config: SceneConfig) -> list[_Object]:
    """Draw the foreground objects, sorted far to near (compositing order)."""
    count = int(rng.integers(config.min_objects, config.max_objects + 1))
    disparities = _object_disparities(rng, count, config.max_disparity)
    others = [i for i in range(len(textures)) if i != bg_index] or [bg_index]
    objects = []
    for disparity in disparities:
        h = max(8, round(config.height * rng.uniform(0.3, 0.65)))
        w = int(np.clip(round(h * rng.uniform(0.6, 1.5)), 8, max(8, round(0.6 * config.width))))
        kind = "blob" if config.shapes == "blobs" else SILHOUETTES[int(rng.integers(len(SILHOUETTES)))]
        alpha = silhouette_matte(rng, h, w, kind)
        rgb = texture_crop(rng, textures[others[int(rng.integers(len(others)))]], h, w).astype(np.float32)
        cx, cy = rng.uniform(0.1, 0.9) * config.width, rng.uniform(0.2, 0.8) * config.height
        x = cx - w / 2.0 + _smooth_path(rng, config.frames, config.object_speed)
        y = cy - h / 2.0 + _smooth_path(rng, config.frames, 0.5 * config.object_speed)
        rgba = np.dstack([rgb * alpha[..., None], alpha]).astype(np.float32)
        objects.append(_Object(rgba=rgba, disparity=float(disparity), x=x, y=y))
    return objects


def _place(rgba: np.ndarray, x: float, y: float, height: int, width: int) -> _Layer | None:
    """Render a sprite at sub-pixel top-left ``(x, y)`` into a ``height x width`` canvas.

    Bilinear ``warpAffine`` into the sprite's bounding box clipped to the canvas; ``None``
    when the sprite is entirely outside.
    """
    h, w = rgba.shape[:2]
    bx0, by0 = max(math.floor(x) - 1, 0), max(math.floor(y) - 1, 0)
    bx1, by1 = min(math.ceil(x + w) + 1, width), min(math.ceil(y + h) + 1, height)
    if bx1 <= bx0 or by1 <= by0:
        return None
    shift = np.array([[1.0, 0.0, x - bx0], [0.0, 1.0, y - by0]])
    out = cv2.warpAffine(rgba, shift, (bx1 - bx0, by1 - by0), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return _Layer(rgba=out, x0=bx0, y0=by0)


def _shift_left(layer: _Layer, disparity: float) -> _Layer:
    """The layer moved left by ``disparity`` px with exact linear interpolation.

    ``out(x) = layer(x + d)``: with ``d = k + t``, ``out[x] = (1 - t) L[x + k] + t L[x + k + 1]``,
    the interpolation the forward warp applies to a constant-disparity surface.
    """
    k = math.floor(disparity)
    t = np.float32(disparity - k)
    padded = np.pad(layer.rgba, ((0, 0), (1, 1), (0, 0)))
    return _Layer(rgba=(1.0 - t) * padded[:, :-1] + t * padded[:, 1:], x0=layer.x0 - k - 1, y0=layer.y0)


@numba.njit(cache=True)
def _composite_kernel(rgb, disp, rgba, x0, y0, disparity):  # pragma: no cover - compiled
    """Numba kernel of :func:`_composite` (clipping included)."""
    h, w = rgba.shape[0], rgba.shape[1]
    ya, yb = max(y0, 0), min(y0 + h, rgb.shape[0])
    xa, xb = max(x0, 0), min(x0 + w, rgb.shape[1])
    for y in range(ya, yb):
        for x in range(xa, xb):
            src = rgba[y - y0, x - x0]
            alpha = src[3]
            if alpha <= 0.0:
                continue
            keep = np.float32(1.0) - alpha
            for c in range(3):
                rgb[y, x, c] = src[c] + keep * rgb[y, x, c]
            if alpha >= 0.5:
                disp[y, x] = disparity


def _composite(rgb: np.ndarray, disp: np.ndarray, layer: _Layer, disparity: float) -> None:
    """Composite ``layer`` over ``rgb (H, W, 3) float32`` in place (premultiplied "over").

    Where the layer's alpha is at least 0.5, ``disp (H, W) float32`` takes ``disparity``.
    Parts of the layer outside the canvas are ignored.
    """
    _composite_kernel(rgb, disp, np.ascontiguousarray(layer.rgba), layer.x0, layer.y0, np.float32(disparity))


def _to_uint8(image: np.ndarray) -> np.ndarray:
    """Round half up and clip to ``uint8`` (the forward warp's rounding)."""
    return (np.clip(image, 0.0, 255.0) + 0.5).astype(np.uint8)


def _render_frame(
    background: np.ndarray,
    tex_x0: float,
    plane: _Plane,
    objects: list[_Object],
    frame: int,
    pan: float,
    sigma: float,
    width: int,
    pad: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Render one frame of both views.

    Args:
        background: ``(H + 2m, X span + 2m, 3) uint8`` texture of the plane; its column 0
            is plane coordinate ``tex_x0`` and its row ``m`` is image row 0.
        tex_x0: plane coordinate of texture column 0, px.
        plane: background disparity.
        objects: far to near.
        frame: frame index.
        pan: camera pan, px; sigma: left camera position, baselines.
        width: frame width ``W``; pad: extra canvas columns right of the frame (>= the
            largest disparity + 2), the part the right view sees beyond the left frame.

    Returns:
        ``left (H, W, 3) uint8, right (H, W, 3) uint8, disparity (H, W) float32,
        right_disparity (H, W) float32``.
    """
    height = plane.fy.shape[0]
    canvas_w = width + pad
    columns = np.arange(canvas_w, dtype=np.float64)
    map_x = (_plane_x(plane, pan, sigma, columns) - tex_x0).astype(np.float32)
    map_y = np.broadcast_to((np.arange(height, dtype=np.float32) + _TEX_MARGIN)[:, None], map_x.shape)
    left = cv2.remap(background, map_x, np.ascontiguousarray(map_y), cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
    left = left.astype(np.float32)
    alpha, beta = _row_disparity(plane, pan, sigma)
    left_disp = (alpha[:, None] + beta * columns[None, :]).astype(np.float32)
    x_left = (np.arange(width, dtype=np.float64)[None, :] + alpha[:, None]) / (1.0 - beta)
    right = _sample_rows(left, x_left)
    right_disp = (alpha[:, None] + beta * x_left).astype(np.float32)
    for obj in objects:
        layer = _place(obj.rgba, obj.x[frame] - pan - sigma * obj.disparity, obj.y[frame], height, canvas_w)
        if layer is None:
            continue
        _composite(left, left_disp, layer, obj.disparity)
        _composite(right, right_disp, _shift_left(layer, obj.disparity), obj.disparity)
    return _to_uint8(left[:, :width]), _to_uint8(right), left_disp[:, :width], right_disp


def _check_textures(textures: Any) -> list[np.ndarray]:
    """Validate the texture list: a non-empty list of ``(H, W, 3) uint8`` images."""
    if not isinstance(textures, (list, tuple)) or not textures:
        raise ValueError("textures: expected a non-empty list of (H, W, 3) uint8 images")
    return [check_image(f"textures[{i}]", t) for i, t in enumerate(textures)]


def render_scene(textures: list[np.ndarray], config: SceneConfig = SceneConfig(), seed: int = 0) -> StereoScene:
    """Render a seeded layered stereo clip with exact ground truth.

    Args:
        textures: photos to paint with, each ``(H, W, 3) uint8`` RGB (any size; two or
            more let objects and background differ).
        config: scene settings.
        seed: everything random derives from it; the same seed, textures and config give
            identical arrays.

    Returns:
        :class:`StereoScene` with ``(T, H, W, 3) uint8`` views and ``(T, H, W) float32``
        disparities in px.

    Example:
        >>> from spatialme.data.textures import load_textures
        >>> scene = render_scene(load_textures(), SceneConfig(frames=2), seed=3)
        >>> scene.left.shape, scene.disparity.dtype
        ((2, 128, 192, 3), dtype('float32'))
    """
    textures = _check_textures(textures)
    if not isinstance(config, SceneConfig):
        raise ValueError(f"config: expected a SceneConfig, got {type(config).__name__}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed: expected a non-negative integer, got {seed!r}")
    rng = np.random.default_rng(int(seed))
    t_count, height, width = config.frames, config.height, config.width
    kind = config.background if config.background != "random" else ("slanted", "curved")[int(rng.integers(2))]
    pan = _smooth_path(rng, t_count, config.camera_speed)
    position = _smooth_path(rng, t_count, config.camera_speed / config.max_disparity)
    pad = math.ceil(config.max_disparity) + 2
    bg_max = _BG_FRACTION * config.max_disparity
    d_lo = rng.uniform(0.0, 0.25) * bg_max
    d_hi = rng.uniform(0.6, 1.0) * bg_max
    # plane coordinates the left canvas can see over the clip: X = x + pan + s * D, D in [0, bg_max]
    x_lo = float(pan.min() + min(0.0, position.min()) * bg_max) - 1.0
    x_hi = float(width + pad - 1 + pan.max() + max(0.0, position.max()) * bg_max) + 1.0
    plane = _plane(rng, kind, x_lo, x_hi, height, d_lo, d_hi, float(np.abs(position).max()))
    bg_index = int(rng.integers(len(textures)))
    tex_w, tex_h = math.ceil(x_hi - x_lo) + 2 * _TEX_MARGIN, height + 2 * _TEX_MARGIN
    background = texture_crop(rng, textures[bg_index], tex_h, tex_w)
    tex_x0 = x_lo - _TEX_MARGIN
    objects = _make_objects(rng, textures, bg_index, config)

    left = np.empty((t_count, height, width, 3), np.uint8)
    right = np.empty_like(left)
    disparity = np.empty((t_count, height, width), np.float32)
    right_disparity = np.empty_like(disparity)
    for t in range(t_count):
        left[t], right[t], disparity[t], right_disparity[t] = _render_frame(
            background, tex_x0, plane, objects, t, float(pan[t]), float(position[t]), width, pad
        )
    meta = {
        "seed": int(seed),
        "config": asdict(config),
        "background": kind,
        "background_range": [float(d_lo), float(d_hi)],
        "object_disparities": [o.disparity for o in objects],
        "camera_pan": pan.tolist(),
        "camera_position": position.tolist(),
    }
    return StereoScene(left=left, right=right, disparity=disparity, right_disparity=right_disparity, meta=meta)
