"""Image and video quality metrics for the right view: MAE, PSNR, SSIM, error maps, temporal.

Why it is built this way
------------------------
The paper (Sec. V-A, Tables II-III) scores a synthesised right view against the real one
with MAE, PSNR, SSIM and LPIPS, on frames sampled from each test clip, and reports the
mean over frames. The functions here follow that: every metric is computed per frame and
then averaged over the frames, so a clip of ``T`` frames scores the same as the mean of
its ``T`` single-frame scores. Values use the ``[0, 1]`` intensity scale (uint8 / 255),
which is where the paper's MAE of about 0.03 lives; PSNR's peak is therefore 1.0
(= 255 on uint8).

Disocclusions are a few percent of a frame, so whole-frame numbers hide most of the
difference between hole fillers. Every metric takes an optional boolean ``mask`` (True =
scored) so the evaluation can report the same metric inside the warp's holes only.

* **Masks.** An ``(H, W)`` mask applies to every frame of a clip. A frame whose mask is
  empty has no score and is left out of the frame mean; when every frame's mask is empty
  the result is ``NaN`` (there is nothing to measure, which is not a perfect score).
* **PSNR** of a frame with zero error is ``inf``; the clip mean is then ``inf`` too.
* **SSIM** is Wang et al. (2004) with an 11x11 Gaussian window (sigma 1.5, the window is
  cut at 3.5 sigma), ``K1 = 0.01``, ``K2 = 0.03``, population (not sample) covariances,
  computed on each RGB channel and averaged, borders reflected. Without a mask the map is
  averaged away from a 5-px border (the window's radius), exactly as scikit-image's
  ``structural_similarity(..., gaussian_weights=True, sigma=1.5,
  use_sample_covariance=False, data_range=255)`` does; with a mask the map is averaged
  over all masked pixels, borders included, because the holes a rightward view uncovers
  lie along the right border.
* **LPIPS** needs a pretrained network whose weights cannot be fetched offline, so it is
  not implemented here; :mod:`spatialme.evaluate` adds it only when the ``lpips`` package
  and its weights are installed.

Everything is vectorised numpy, plus one OpenCV Gaussian blur per frame for SSIM.
"""

from __future__ import annotations

import cv2
import numpy as np

from .checks import check_array, check_clip

__all__ = ["SSIM_SIGMA", "SSIM_WINDOW", "mae", "psnr", "ssim", "error_map", "temporal_consistency"]

SSIM_SIGMA = 1.5
"""Standard deviation of the SSIM Gaussian window, px."""

SSIM_WINDOW = 11
"""Side of the SSIM window, px (radius ``int(3.5 * sigma + 0.5) = 5``)."""

_K1, _K2 = 0.01, 0.03  # SSIM stabilisers, relative to the data range (1.0)


def _pair(pred: object, target: object) -> tuple[np.ndarray, np.ndarray]:
    """Validate two images or clips of the same shape; return ``(T, H, W, 3) float64`` in [0, 1]."""
    p = check_clip("pred", pred)
    t = check_clip("target", target)
    if p.shape != t.shape:
        raise ValueError(f"target: expected the shape of pred {tuple(np.shape(pred))}, got {tuple(np.shape(target))}")
    return p.astype(np.float64) / 255.0, t.astype(np.float64) / 255.0


def _frame_mask(mask: object, shape: tuple[int, int, int]) -> np.ndarray | None:
    """Validate ``mask`` against ``(T, H, W)``; an ``(H, W)`` mask applies to every frame.

    Returns:
        ``(T, H, W) bool`` (possibly a broadcast view) or ``None``.
    """
    if mask is None:
        return None
    m = check_array("mask", mask, (2, 3), (np.bool_,))
    if m.ndim == 2 and m.shape == shape[1:]:
        m = np.broadcast_to(m, shape)  # one mask for every frame
    if m.shape != shape:
        raise ValueError(f"mask: expected shape {shape[1:]} or {shape} to match the images, got {tuple(np.shape(mask))}")
    return m


def _masked_frame_means(values: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """Per-frame mean of ``(T, H, W)`` values over the mask; ``NaN`` for an empty mask.

    Args:
        values: ``(T, H, W)`` per-pixel values.
        mask: ``(T, H, W) bool`` or ``None`` (all pixels).

    Returns:
        ``(T,) float64``.
    """
    if mask is None:
        return values.reshape(len(values), -1).mean(axis=1)
    counts = mask.reshape(len(mask), -1).sum(axis=1)
    sums = np.where(mask, values, 0.0).reshape(len(values), -1).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def _mean_over_frames(per_frame: np.ndarray) -> float:
    """Mean over frames that have a score; ``NaN`` when none has."""
    scored = per_frame[~np.isnan(per_frame)]
    return float(scored.mean()) if scored.size else float("nan")


def mae(pred: np.ndarray, target: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Mean absolute error on the [0, 1] intensity scale.

    Args:
        pred: ``(H, W, 3)`` or ``(T, H, W, 3)`` uint8 image or clip.
        target: same shape and dtype as ``pred``.
        mask: optional ``(H, W)`` or ``(T, H, W)`` bool, True = scored pixel.

    Returns:
        Mean over frames of the per-frame mean of ``|pred - target| / 255`` over scored
        pixels and the three channels; ``NaN`` if every frame's mask is empty.
    """
    p, t = _pair(pred, target)
    m = _frame_mask(mask, p.shape[:3])
    return _mean_over_frames(_masked_frame_means(np.abs(p - t).mean(axis=-1), m))


def psnr(pred: np.ndarray, target: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Peak signal-to-noise ratio in dB, peak 1.0 on the [0, 1] scale (255 on uint8).

    Args:
        pred: ``(H, W, 3)`` or ``(T, H, W, 3)`` uint8.
        target: same shape and dtype as ``pred``.
        mask: optional ``(H, W)`` or ``(T, H, W)`` bool, True = scored pixel.

    Returns:
        Mean over frames of ``10 log10(1 / MSE)`` with each frame's MSE over scored pixels
        and channels; ``inf`` when a frame is exact, ``NaN`` if every mask is empty.
    """
    p, t = _pair(pred, target)
    m = _frame_mask(mask, p.shape[:3])
    mse = _masked_frame_means(((p - t) ** 2).mean(axis=-1), m)
    with np.errstate(divide="ignore"):
        per_frame = np.where(np.isnan(mse), np.nan, -10.0 * np.log10(mse))
    return _mean_over_frames(per_frame)


def _blur(stack: np.ndarray) -> np.ndarray:
    """Gaussian-window local mean of ``(H, W, C)`` float64 (SSIM window, reflected borders)."""
    return cv2.GaussianBlur(stack, (SSIM_WINDOW, SSIM_WINDOW), SSIM_SIGMA, sigmaY=SSIM_SIGMA, borderType=cv2.BORDER_REFLECT)


def _ssim_map(p: np.ndarray, t: np.ndarray) -> np.ndarray:
    """SSIM map of one frame, averaged over channels.

    Args:
        p, t: ``(H, W, 3) float64`` in [0, 1].

    Returns:
        ``(H, W) float64`` SSIM of the window centred on each pixel.
    """
    stats = _blur(np.concatenate([p, t, p * p, t * t, p * t], axis=-1))
    mu_p, mu_t, pp, tt, pt = np.split(stats, 5, axis=-1)
    var_p = pp - mu_p * mu_p
    var_t = tt - mu_t * mu_t
    cov = pt - mu_p * mu_t
    c1, c2 = _K1**2, _K2**2
    num = (2 * mu_p * mu_t + c1) * (2 * cov + c2)
    den = (mu_p * mu_p + mu_t * mu_t + c1) * (var_p + var_t + c2)
    return (num / den).mean(axis=-1)


def ssim(pred: np.ndarray, target: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Structural similarity (Gaussian window, sigma 1.5, 11x11), per channel, averaged.

    Args:
        pred: ``(H, W, 3)`` or ``(T, H, W, 3)`` uint8; frames at least 11x11.
        target: same shape and dtype as ``pred``.
        mask: optional ``(H, W)`` or ``(T, H, W)`` bool, True = scored pixel.

    Returns:
        Mean over frames of the SSIM map's mean: without a mask over the pixels at least
        5 px from every border (scikit-image's convention), with a mask over the masked
        pixels (borders included). 1.0 for identical frames; ``NaN`` if every mask is empty.
    """
    p, t = _pair(pred, target)
    if min(p.shape[1:3]) < SSIM_WINDOW:
        raise ValueError(f"pred: SSIM needs frames of at least {SSIM_WINDOW}x{SSIM_WINDOW} px, got {p.shape[1]}x{p.shape[2]}")
    m = _frame_mask(mask, p.shape[:3])
    maps = np.stack([_ssim_map(p[i], t[i]) for i in range(len(p))])
    if m is None:
        r = SSIM_WINDOW // 2
        return _mean_over_frames(_masked_frame_means(maps[:, r:-r, r:-r], None))
    return _mean_over_frames(_masked_frame_means(maps, m))


def error_map(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Per-pixel absolute error averaged over channels, on the [0, 1] scale.

    Args:
        pred: ``(H, W, 3)`` or ``(T, H, W, 3)`` uint8.
        target: same shape and dtype as ``pred``.

    Returns:
        ``(H, W)`` or ``(T, H, W)`` float32 (the leading axis follows ``pred``).
    """
    p, t = _pair(pred, target)
    err = np.abs(p - t).mean(axis=-1).astype(np.float32)
    return err[0] if np.ndim(pred) == 3 else err


def temporal_consistency(pred: np.ndarray, target: np.ndarray, mask: np.ndarray | None = None) -> float:
    """How much the output's frame-to-frame change differs from the ground truth's.

    For each pair of consecutive frames, the mean of
    ``|(pred[t+1] - pred[t]) - (target[t+1] - target[t])|`` on the [0, 1] scale; then the
    mean over pairs. 0 means the output flickers and moves exactly as the real view does;
    lower is better. A static error costs nothing here (MAE measures that), flicker does.

    Args:
        pred: ``(T, H, W, 3)`` uint8 with ``T >= 2``.
        target: same shape and dtype as ``pred``.
        mask: optional ``(T, H, W)`` or ``(H, W)`` bool; a pixel counts for the pair
            ``(t, t+1)`` when it is True in both frames.

    Returns:
        The mean over frame pairs (pairs with no scored pixel skipped); ``NaN`` if none has one.
    """
    if np.ndim(pred) != 4:
        raise ValueError(f"pred: expected a clip (T, H, W, 3) of at least 2 frames, got shape {tuple(np.shape(pred))}")
    p, t = _pair(pred, target)
    if len(p) < 2:
        raise ValueError(f"pred: expected at least 2 frames, got {len(p)}")
    m = _frame_mask(mask, p.shape[:3])
    diff = np.abs(np.diff(p, axis=0) - np.diff(t, axis=0)).mean(axis=-1)
    pair_mask = None if m is None else m[1:] & m[:-1]
    return _mean_over_frames(_masked_frame_means(diff, pair_mask))
