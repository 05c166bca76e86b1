"""Optical flow between the left frames of a clip, and reading it at points.

The temporal propagation of the DL and DE branches (:mod:`.flow`) follows the motion of
the *left* view, which is complete, so DIS optical flow (``cv2.DISOpticalFlow``) sees real
texture everywhere. This module computes those flows and reads them:

* :func:`compute_flow`: one DIS flow between two frames.
* :class:`LeftFlows`: the flows of one clip, computed on demand per frame pair (both
  directions in one go) and kept, so the DL and DE branches share them. They run on grey
  frames shrunk to at most :attr:`~.flow.FlowConfig.max_side` px (area interpolation) and
  are stored at that size in float16 (about 0.9 MB per flow at 640x360); :meth:`LeftFlows.at`
  reads one bilinearly at clip-resolution points, for a few thousand hole pixels instead
  of a whole upscaled frame.
* :func:`fb_error`: the forward-backward error ``|F_t->s(p) + F_s->t(p + F_t->s(p))|``
  (Sundaram et al. 2010) that decides which flow vectors are trusted.
* :func:`sample_at`: bilinear reads of a map at float positions (``cv2.remap``, also on a
  point list), used for flows, images and masks alike.
"""

from __future__ import annotations

import weakref

import cv2
import numpy as np

from ..checks import check_array, check_clip

__all__ = ["AUTO_FAST_PIXELS", "PRESETS", "LeftFlows", "compute_flow", "fb_error", "pixel_grid", "sample_at"]

#: ``preset="auto"`` picks ``"fast"`` when the flow runs on at least this many pixels.
AUTO_FAST_PIXELS = 640 * 360

#: DIS presets by name.
PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}


def _grey(frame: np.ndarray) -> np.ndarray:
    """``(H, W, 3) uint8`` RGB -> ``(H, W) uint8`` grey."""
    return cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2GRAY)


def compute_flow(first: np.ndarray, second: np.ndarray, preset: str = "medium") -> np.ndarray:
    """DIS optical flow from ``first`` to ``second``.

    Args:
        first: ``(H, W, 3)`` uint8 RGB or ``(H, W)`` uint8 grey frame.
        second: the same shape.
        preset: a key of :data:`PRESETS`.

    Returns:
        ``(H, W, 2) float32`` flow px: ``first[y, x]`` is seen at
        ``second[y + F[..., 1], x + F[..., 0]]``.
    """
    for name, value in (("first", first), ("second", second)):
        check_array(name, value, (2, 3), (np.uint8,))
    if first.shape != second.shape:
        raise ValueError(f"second: expected shape {first.shape} to match first, got {second.shape}")
    if preset not in PRESETS:
        raise ValueError(f"preset: expected one of {', '.join(PRESETS)}; got {preset!r}")
    a = first if first.ndim == 2 else _grey(first)
    b = second if second.ndim == 2 else _grey(second)
    return cv2.DISOpticalFlow_create(PRESETS[preset]).calc(a, b, None)


def pixel_grid(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates ``(xs, ys)``, each ``(H, W) float32``."""
    xs = np.broadcast_to(np.arange(width, dtype=np.float32)[None], (height, width))
    ys = np.broadcast_to(np.arange(height, dtype=np.float32)[:, None], (height, width))
    return xs, ys


def _sample(values: np.ndarray, flow: np.ndarray, border: float = 0.0) -> np.ndarray:
    """Bilinear ``values[p + flow(p)]`` for every pixel ``p``; outside the frame reads ``border``.

    Args:
        values: ``(H, W)`` or ``(H, W, C)`` (C <= 4) float32 or uint8.
        flow: ``(H, W, 2) float32`` px.

    Returns:
        Same dtype and shape as ``values``.
    """
    xs, ys = pixel_grid(*flow.shape[:2])
    return sample_at(values, xs + flow[..., 0], ys + flow[..., 1], border)


#: Points per row of the maps :func:`sample_at` hands to ``cv2.remap`` (its maps must stay
#: below 32767 px a side).
_POINT_ROW = 1024


def sample_at(values: np.ndarray, x: np.ndarray, y: np.ndarray, border: float = 0.0) -> np.ndarray:
    """Bilinear ``values[y, x]`` at float positions; outside ``[0, W-1] x [0, H-1]`` reads ``border``.

    Args:
        values: ``(H, W)`` or ``(H, W, C)`` (C <= 4) float32 or uint8.
        x, y: float32 positions px, any equal shapes (``(H, W)`` maps or ``(N,)`` points).

    Returns:
        ``x.shape`` (+ ``(C,)``), the dtype of ``values``.
    """
    height, width = values.shape[:2]
    x, y = np.asarray(x, np.float32), np.asarray(y, np.float32)
    channels = values.shape[2:]
    if x.ndim == 2:
        mx, my = x, y
    else:  # a point list: lay it out in rows of _POINT_ROW for cv2.remap
        count = x.size
        cols = min(max(count, 1), _POINT_ROW)
        pad = -count % cols
        mx = np.pad(x.ravel(), (0, pad)).reshape(-1, cols)
        my = np.pad(y.ravel(), (0, pad)).reshape(-1, cols)
    out = cv2.remap(values, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    out = out.reshape(*mx.shape, *channels)  # cv2 drops a single channel axis
    if x.ndim != 2:
        out = out.reshape(-1, *channels)[: x.size].reshape(*x.shape, *channels)
    outside = (x < 0) | (x > width - 1) | (y < 0) | (y > height - 1)
    if outside.any():
        out[outside] = border
    return out


def fb_error(forward: np.ndarray, backward: np.ndarray) -> np.ndarray:
    """Forward-backward error ``|F_t->s(p) + F_s->t(p + F_t->s(p))|`` px.

    Args:
        forward: ``(H, W, 2) float32`` flow ``t -> s``.
        backward: ``(H, W, 2) float32`` flow ``s -> t``.

    Returns:
        ``(H, W) float32``; ``inf`` where ``p + F_t->s(p)`` leaves the frame.
    """
    if forward.shape != backward.shape or forward.ndim != 3 or forward.shape[-1] != 2:
        raise ValueError(f"backward: expected two (H, W, 2) flows of one shape, got {forward.shape} and {backward.shape}")
    back = _sample(np.ascontiguousarray(backward, np.float32), np.ascontiguousarray(forward, np.float32), border=np.nan)
    err = np.hypot(forward[..., 0] + back[..., 0], forward[..., 1] + back[..., 1])
    return np.where(np.isnan(err), np.inf, err).astype(np.float32)


def _pair_flows(dis: cv2.DISOpticalFlow, first: np.ndarray, second: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Left-view flows ``first -> second`` and back, each ``(h, w, 2) float32``, from grey frames."""
    return dis.calc(first, second, None), dis.calc(second, first, None)


class LeftFlows:
    """The left-view DIS flows of one clip, computed on demand and kept for reuse.

    The DL and DE branches propagate over the same left frames with different holes; one
    ``LeftFlows`` shared by both computes each frame pair's flows once. Flows are kept at
    the DIS resolution in float16 (about 0.9 MB per flow at 640x360) and scaled up on
    request.

    Args:
        left: ``(T, H, W, 3) uint8`` left view.
        preset: DIS preset name.
        max_side: see :attr:`.flow.FlowConfig.max_side`.
    """

    def __init__(self, left: np.ndarray, preset: str = "medium", max_side: int | None = 640) -> None:
        clip = check_clip("left", left)
        if preset not in (*PRESETS, "auto"):
            raise ValueError(f"preset: expected auto or one of {', '.join(PRESETS)}; got {preset!r}")
        self.preset, self.max_side = preset, max_side
        self.shape = clip.shape
        height, width = clip.shape[1:3]
        factor = 1.0 if max_side is None else min(1.0, max_side / max(height, width))
        self.size = (max(1, round(width * factor)), max(1, round(height * factor)))  # cv2 (w, h)
        if preset == "auto":
            preset = "fast" if self.size[0] * self.size[1] >= AUTO_FAST_PIXELS else "medium"
        self._dis = cv2.DISOpticalFlow_create(PRESETS[preset])
        # grey frames at the DIS size only: no reference to the (possibly 4K) clip is kept
        self._greys = [self._shrink(_grey(frame)) for frame in clip]
        self._left = weakref.ref(left) if isinstance(left, np.ndarray) else lambda: None
        self._pairs: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}

    def matches(self, left: np.ndarray, preset: str, max_side: int | None) -> bool:
        """Whether these flows belong to ``left`` (the same live array object) and settings."""
        return self._left() is left and preset == self.preset and max_side == self.max_side

    def _shrink(self, grey: np.ndarray) -> np.ndarray:
        if self.size == (grey.shape[1], grey.shape[0]):
            return grey
        return cv2.resize(grey, self.size, interpolation=cv2.INTER_AREA)

    @property
    def scaled(self) -> bool:
        """Whether the flows are computed below the clip's resolution."""
        return self.size != (self.shape[2], self.shape[1])

    def shrink_map(self, values: np.ndarray, nearest: bool = False) -> np.ndarray:
        """A ``(H, W)`` map at the flow size (area average, or nearest for disparity)."""
        if not self.scaled:
            return values
        return cv2.resize(values, self.size, interpolation=cv2.INTER_NEAREST if nearest else cv2.INTER_AREA)

    def at(self, flow: np.ndarray, x: np.ndarray, y: np.ndarray, border: float = np.nan) -> np.ndarray:
        """A flow at the flow size, read bilinearly at clip-resolution points ``(x, y)``.

        At pixel centres this equals scaling the flow up with ``cv2.resize`` (bilinear, the
        same centre mapping) and reading it there, for a few thousand hole pixels instead
        of the whole frame.

        Returns:
            ``(N, 2) float32`` px at the clip's resolution; ``border`` outside the frame.
        """
        height, width = self.shape[1:3]
        sx, sy = width / self.size[0], height / self.size[1]
        if not self.scaled:
            return sample_at(np.ascontiguousarray(flow, np.float32), x, y, border)
        fx = (np.asarray(x, np.float32) + 0.5) / sx - 0.5
        fy = (np.asarray(y, np.float32) + 0.5) / sy - 0.5
        # BORDER_REPLICATE inside [-0.5, size - 0.5] like resize; NaN beyond the clip's frame
        vals = sample_at(np.ascontiguousarray(flow, np.float32), np.clip(fx, 0, self.size[0] - 1), np.clip(fy, 0, self.size[1] - 1))
        vals = vals * np.array([sx, sy], np.float32)
        outside = (np.asarray(x) < 0) | (np.asarray(x) > width - 1) | (np.asarray(y) < 0) | (np.asarray(y) > height - 1)
        vals[outside] = border
        return vals

    def pair(self, a: int, b: int) -> tuple[np.ndarray, np.ndarray]:
        """Left-view flows ``a -> b`` and ``b -> a`` at the flow size, each ``(h, w, 2) float32`` px
        of that size (read them at clip points with :meth:`at`)."""
        if (a, b) not in self._pairs:
            ga, gb = self._greys[a], self._greys[b]
            forward, backward = _pair_flows(self._dis, ga, gb)
            self._pairs[(a, b)] = (forward.astype(np.float16), backward.astype(np.float16))
        forward, backward = self._pairs[(a, b)]
        return forward.astype(np.float32), backward.astype(np.float32)
