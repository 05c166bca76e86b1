"""Temporal stabilisation of per-frame depth: relative inverse depth -> steady [0, 1] nearness.

A per-frame model flickers: its unknown scale and shift change from frame to frame, and a
per-frame min/max normalisation amplifies this. :class:`DepthStabilizer` removes the
frame-to-frame scale/shift by a least-squares fit to the previous frame
(:func:`fit_scale_shift`; Video Depth Anything aligns its windows the same way), then
normalises with a percentile range that is smoothed over time (iw3's EMA normalisation),
and starts afresh at scene cuts (:mod:`spatialme.scenes`). The formulas are in
:class:`DepthStabilizer`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..checks import check_array, check_finite, check_int, check_range

__all__ = ["StabilizerConfig", "DepthStabilizer", "fit_scale_shift"]


@dataclass(frozen=True)
class StabilizerConfig:
    """Settings of the temporal depth stabiliser (formulas in :class:`DepthStabilizer`).

    Attributes:
        ema: weight of the past in the smoothed normalisation range, in ``[0, 1)``. ``0``
            normalises every frame on its own; ``0.9`` follows a change of range with a
            time constant of about 10 frames.
        percentiles: ``(low, high)`` percentiles of the aligned depth taken as the
            normalisation range (robust to a few extreme pixels), ``0 <= low < high <= 100``.
        align: fit each frame's scale and shift to the previous frame before normalising.
        scale_range: ``(min, max)`` allowed frame-to-frame scale of the alignment; fits
            outside are clipped (a scene change that the cut detector missed, or junk).
        trim: fraction of the sample pixels with the largest residual dropped before the
            fit is redone (moving objects, occlusions), in ``[0, 0.9]``.
        max_samples: about how many pixels (a regular grid) the fit and the percentiles use.
    """

    ema: float = 0.9
    percentiles: tuple[float, float] = (2.0, 98.0)
    align: bool = True
    scale_range: tuple[float, float] = (0.25, 4.0)
    trim: float = 0.2
    max_samples: int = 16384

    def __post_init__(self) -> None:
        check_range("ema", self.ema, 0.0, 0.999999)
        if len(self.percentiles) != 2 or not 0.0 <= self.percentiles[0] < self.percentiles[1] <= 100.0:
            raise ValueError(f"percentiles: expected (low, high) with 0 <= low < high <= 100, got {self.percentiles!r}")
        if len(self.scale_range) != 2 or not 0.0 < self.scale_range[0] <= 1.0 <= self.scale_range[1]:
            raise ValueError(f"scale_range: expected (min, max) with 0 < min <= 1 <= max, got {self.scale_range!r}")
        check_range("trim", self.trim, 0.0, 0.9)
        check_int("max_samples", self.max_samples, 16)


def _grid_step(height: int, width: int, max_samples: int) -> int:
    """Stride of a regular grid with at most about ``max_samples`` points."""
    return max(1, math.ceil(math.sqrt(height * width / max_samples)))


def _degenerate(values: np.ndarray) -> bool:
    """Whether samples are (nearly) constant, so no scale can be fitted to or from them."""
    spread = float(values.std())
    return not math.isfinite(spread) or spread <= 1e-6 * max(1.0, float(np.abs(values).mean()))


def fit_scale_shift(
    source: np.ndarray,
    target: np.ndarray,
    scale_range: tuple[float, float] = (0.25, 4.0),
    trim: float = 0.2,
) -> tuple[float, float] | None:
    """Least-squares ``(a, b)`` with ``a * source + b ~ target``, robust to outliers.

    ``a = cov(s, t) / var(s)``, ``b = mean(t) - a mean(s)``; the fit is redone without the
    ``trim`` fraction of samples of largest residual ``|a s + b - t|``; finally ``a`` is
    clipped to ``scale_range`` and ``b`` refitted for the clipped ``a`` (``b = mean(t - a s)``
    over the kept samples).

    Args:
        source: ``(N,)`` samples to be mapped (this frame's depth).
        target: ``(N,)`` samples to map onto (the previous aligned frame).
        scale_range: allowed ``(min, max)`` of ``a``.
        trim: fraction of samples dropped before the refit, in ``[0, 0.9]``.

    Returns:
        ``(a, b)`` as floats, or ``None`` if either side is (nearly) constant or the fit
        is not finite.
    """
    s = np.asarray(source, dtype=np.float64).ravel()
    t = np.asarray(target, dtype=np.float64).ravel()
    if s.shape != t.shape:
        raise ValueError(f"source, target: expected equal sizes, got {s.shape} and {t.shape}")
    if _degenerate(s) or _degenerate(t):
        return None

    def solve(ss: np.ndarray, tt: np.ndarray) -> tuple[float, float]:
        # elementwise sums, not np.dot: BLAS threads fight torch's thread pool (ms per call)
        ds = ss - ss.mean()
        a = float(np.sum(ds * (tt - tt.mean())) / max(float(np.sum(ds * ds)), 1e-300))
        return a, float(tt.mean() - a * ss.mean())

    a, b = solve(s, t)
    if trim > 0.0 and len(s) >= 8:
        residual = np.abs(a * s + b - t)
        keep = residual <= np.quantile(residual, 1.0 - trim)
        if keep.sum() >= 4 and not _degenerate(s[keep]):
            s, t = s[keep], t[keep]
            a, b = solve(s, t)
    clipped = min(max(a, scale_range[0]), scale_range[1])
    if clipped != a:
        a, b = clipped, float(np.mean(t - clipped * s))
    if not (math.isfinite(a) and math.isfinite(b)):
        return None
    return a, b


@dataclass
class _StabilizerState:
    """What the stabiliser remembers of the previous frame of the current shot."""

    shape: tuple[int, int] | None = None
    previous: np.ndarray | None = None  # aligned depth of the previous frame on the grid
    scale: float = 1.0
    shift: float = 0.0
    low: float | None = None
    high: float | None = None
    frames: int = 0


class DepthStabilizer:
    r"""Streaming temporal stabiliser: relative inverse depth -> steady [0, 1] nearness.

    For frame ``t`` of a shot with raw relative inverse depth ``r_t`` and ``G`` a regular
    grid of about ``max_samples`` pixels:

    1. Align (if ``align``): ``(a_t, b_t) = argmin_{a,b} sum_{i in G} (a r_t[i] + b - u_{t-1}[i])^2``
       by :func:`fit_scale_shift` (trimmed, ``a_t`` clipped to ``scale_range``), and
       ``u_t = a_t r_t + b_t``. The first frame of a shot has ``(a, b) = (1, 0)``; if this
       or the previous frame is flat on ``G`` (no scale can be fitted), the previous
       frame's ``(a, b)`` is kept. Without ``align``, ``u_t = r_t``.
    2. Range: ``l_t, h_t`` = the ``percentiles`` of ``u_t`` on ``G``, smoothed as
       ``L_t = ema L_{t-1} + (1 - ema) l_t`` and ``H_t = ema H_{t-1} + (1 - ema) h_t``
       (``L = l``, ``H = h`` on the first frame of a shot).
    3. Normalise: ``n_t = clip((u_t - L_t) / (H_t - L_t), 0, 1)``; 1 is nearest. A frame
       whose range is empty (``H_t - L_t`` tiny) becomes 0.5 everywhere.

    So a clip whose raw depth is ``r_t = alpha_t d + beta_t`` (``alpha_t > 0``) comes out as
    the same ``n_t`` for every ``t``. :meth:`reset` (or a cut flag passed to
    :meth:`process`) starts a new shot; a change of frame size does too.
    """

    def __init__(self, config: StabilizerConfig = StabilizerConfig()) -> None:
        if not isinstance(config, StabilizerConfig):
            raise ValueError(f"config: expected a StabilizerConfig, got {type(config).__name__}")
        self.config = config
        self._state = _StabilizerState()

    def reset(self) -> None:
        """Forget the current shot (call at a scene cut or a new video)."""
        self._state = _StabilizerState()

    @property
    def frames_in_shot(self) -> int:
        """Frames processed since the last reset."""
        return self._state.frames

    def process(self, depth: np.ndarray, cuts: np.ndarray | None = None) -> np.ndarray:
        """Stabilise and normalise a chunk of frames that follows the previous chunk.

        Args:
            depth: ``(n, H, W)`` (or ``(H, W)``) float relative inverse depth, unitless,
                larger = nearer.
            cuts: optional ``(n,) bool``; True resets the state before that frame.

        Returns:
            ``(n, H, W) float32`` normalised inverse depth ("nearness") in ``[0, 1]``.
        """
        arr = check_array("depth", depth, (2, 3), (np.float16, np.float32, np.float64))
        arr = arr[None] if arr.ndim == 2 else arr
        check_finite("depth", arr)
        if cuts is not None:
            cuts = np.asarray(cuts)
            if cuts.dtype != np.bool_ or cuts.shape != (len(arr),):
                raise ValueError(f"cuts: expected a bool array of shape ({len(arr)},), got {cuts.dtype} {cuts.shape}")
        out = np.empty(arr.shape, dtype=np.float32)
        for i, frame in enumerate(arr):
            if (cuts is not None and cuts[i]) or self._state.shape not in (None, frame.shape):
                self.reset()
            self._frame(frame, out[i])
        return out

    def _frame(self, raw: np.ndarray, out: np.ndarray) -> None:
        """Normalise one ``(H, W)`` frame into ``out`` ``(H, W) float32`` and update the state."""
        cfg, state = self.config, self._state
        step = _grid_step(raw.shape[0], raw.shape[1], cfg.max_samples)
        samples = raw[::step, ::step].astype(np.float64).ravel()
        if cfg.align and state.previous is not None:
            fit = fit_scale_shift(samples, state.previous, cfg.scale_range, cfg.trim)
            if fit is not None:
                state.scale, state.shift = fit
        aligned = state.scale * samples + state.shift
        low, high = np.percentile(aligned, cfg.percentiles)
        if state.low is None:
            state.low, state.high = float(low), float(high)
        else:
            state.low = cfg.ema * state.low + (1.0 - cfg.ema) * float(low)
            state.high = cfg.ema * state.high + (1.0 - cfg.ema) * float(high)
        state.previous, state.shape = aligned, raw.shape
        state.frames += 1
        span = state.high - state.low
        if not span > 1e-8 * max(1.0, abs(state.high), abs(state.low)):
            out[...] = 0.5
            return
        # n = (a r + b - L) / (H - L) = k r + c: three in-place passes over the frame
        k, c = state.scale / span, (state.shift - state.low) / span
        np.multiply(raw, np.float32(k), out=out, casting="unsafe")
        out += np.float32(c)
        np.clip(out, 0.0, 1.0, out=out)
