"""Scene-cut detection: find the frames that start a new shot, one chunk at a time.

Why it is built this way
------------------------
Temporal depth stabilisation (``spatialme.depth.DepthStabilizer``) carries state from
frame to frame: the scale/shift alignment to the previous frame and the smoothed
normalisation range. Across a hard cut that state is wrong (the new shot has unrelated
depth), so the stabiliser must start afresh there; otherwise the first second of every
shot is normalised with the previous shot's range and visibly "breathes". Temporal
inpainting must not borrow pixels across a cut either.

The detector only has to be good at *hard cuts* and cheap enough to never matter next to
the depth model: about 1.5 ms per 720p or 1080p frame on our 2-core CPU, nearly all of it
the area downscale, against hundreds of ms for the depth network. A learned detector
(TransNetV2, which iw3 uses) is more accurate on gradual transitions but is another model
to download; gradual fades are handled well enough by the stabiliser's smoothed range.

The measure, for consecutive frames ``f_{t-1}`` and ``f_t``, both reduced to a thumbnail
``thumb_width`` pixels wide (area averaging, so noise and fine texture average out):

* colour change ``h_t = sqrt(1 - sum_k sqrt(p_k q_k))``, the Bhattacharyya (Hellinger)
  distance between the normalised joint HSV histograms ``p`` and ``q`` of the two
  thumbnails (``bins`` per channel; pixels in the lowest saturation bin all share hue bin
  0, since the hue of a near-grey pixel is noise). It is in ``[0, 1]``: 0 for identical colour
  statistics, 1 for disjoint ones. Histograms ignore *where* colours are, so a camera pan
  or object motion within a shot barely changes it, while a cut to other content does.
* intensity change ``m_t = mean |g_t - g_{t-1}| / 255``, the mean absolute difference of
  the grey thumbnails, in ``[0, 1]``.

Frame ``t`` starts a new shot when ``h_t >= threshold`` *and* ``m_t >= min_mad`` *and* at
least ``min_shot_length`` frames have passed since the previous detected cut. The
histogram term decides; the difference term is a guard against histogram jitter on nearly
static, low-content frames (dark scenes, where a few pixels flip bins), and the minimum
shot length stops a one-frame flash from producing two resets. The first frame of a
stream (or after ``reset()``) is never flagged: there is nothing to compare it with, and
a fresh stabiliser starts a new shot anyway.

Known limits: a cut between two shots with nearly the same colour distribution is missed
(the stabiliser then simply re-aligns, which is mostly harmless), and slow cross-fades are
not reported as cuts.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .checks import check_clip, check_range

__all__ = ["SceneCutConfig", "SceneCutDetector", "FrameSignature", "frame_signature", "signature_distance"]


@dataclass(frozen=True)
class SceneCutConfig:
    """Settings of the hard-cut detector.

    Attributes:
        threshold: smallest Bhattacharyya distance, in ``[0, 1]``, between the HSV colour
            histograms of consecutive thumbnails that counts as a cut. Within-shot changes
            (pans, motion, lighting drift) typically stay below 0.2; cuts between unrelated
            shots are usually above 0.4.
        min_mad: smallest mean absolute grey-level difference of consecutive thumbnails,
            as a fraction of 255, for a cut (a guard against histogram jitter).
        min_shot_length: frames that must pass after a detected cut before another one is
            reported (``1`` allows cuts on consecutive frames).
        thumb_width: width in pixels of the thumbnail the measures are computed on (the
            height follows the aspect ratio). Larger is more exact and slower.
        bins: histogram bins for hue, saturation and value.
    """

    threshold: float = 0.35
    min_mad: float = 0.03
    min_shot_length: int = 4
    thumb_width: int = 128
    bins: tuple[int, int, int] = (16, 4, 4)

    def __post_init__(self) -> None:
        check_range("threshold", self.threshold, 0.0, 1.0)
        check_range("min_mad", self.min_mad, 0.0, 1.0)
        if not isinstance(self.min_shot_length, int) or self.min_shot_length < 1:
            raise ValueError(f"min_shot_length: expected an integer >= 1, got {self.min_shot_length!r}")
        if not isinstance(self.thumb_width, int) or self.thumb_width < 8:
            raise ValueError(f"thumb_width: expected an integer >= 8, got {self.thumb_width!r}")
        if len(self.bins) != 3 or not all(isinstance(b, int) and 1 <= b <= 64 for b in self.bins):
            raise ValueError(f"bins: expected three integers in [1, 64], got {self.bins!r}")


@dataclass(frozen=True)
class FrameSignature:
    """What the detector keeps of one frame.

    Attributes:
        hist: ``(bins_h * bins_s * bins_v,) float64`` joint HSV histogram, summing to 1.
        grey: ``(h, w) float32`` grey thumbnail, values 0..255.
    """

    hist: np.ndarray
    grey: np.ndarray


def _thumbnail(frame: np.ndarray, width: int) -> np.ndarray:
    """Area-downscale ``(H, W, 3) uint8`` to ``(h, width', 3) uint8`` (never upscales)."""
    height, full_width = frame.shape[:2]
    if full_width <= width:
        return np.ascontiguousarray(frame)
    thumb_height = max(1, round(height * width / full_width))
    return cv2.resize(np.ascontiguousarray(frame), (width, thumb_height), interpolation=cv2.INTER_AREA)


def frame_signature(frame: np.ndarray, config: SceneCutConfig = SceneCutConfig()) -> FrameSignature:
    """Reduce one RGB frame to its colour histogram and grey thumbnail.

    Args:
        frame: ``(H, W, 3) uint8`` RGB image.
        config: detector settings (``thumb_width``, ``bins``).

    Returns:
        The frame's :class:`FrameSignature`.
    """
    thumb = _thumbnail(frame, config.thumb_width)
    hsv = cv2.cvtColor(thumb, cv2.COLOR_RGB2HSV)  # H in [0, 180), S and V in [0, 256)
    bins_h, bins_s, bins_v = config.bins
    idx_h = hsv[..., 0].astype(np.int32) * bins_h // 180
    idx_s = hsv[..., 1].astype(np.int32) * bins_s // 256
    idx_v = hsv[..., 2].astype(np.int32) * bins_v // 256
    idx_h = np.where(idx_s == 0, 0, np.minimum(idx_h, bins_h - 1))  # hue of near-greys is noise
    flat = (idx_h * bins_s + idx_s) * bins_v + idx_v
    hist = np.bincount(flat.ravel(), minlength=bins_h * bins_s * bins_v).astype(np.float64)
    hist /= hist.sum()
    grey = cv2.cvtColor(thumb, cv2.COLOR_RGB2GRAY).astype(np.float32)
    return FrameSignature(hist=hist, grey=grey)


def signature_distance(a: FrameSignature, b: FrameSignature) -> tuple[float, float]:
    """Colour and intensity change between two frame signatures.

    Args:
        a, b: signatures of two frames of the same size, made with the same config.

    Returns:
        ``(hist_distance, mad)``: the Bhattacharyya distance of the HSV histograms and the
        mean absolute grey difference divided by 255, both in ``[0, 1]``.
    """
    coefficient = float(np.sum(np.sqrt(a.hist * b.hist)))
    hist_distance = float(np.sqrt(max(0.0, 1.0 - coefficient)))
    mad = float(np.mean(np.abs(a.grey - b.grey))) / 255.0
    return hist_distance, mad


class SceneCutDetector:
    """Streaming hard-cut detector; see the module docstring for the measure.

    Feed consecutive chunks of one video to :meth:`process`; state carries over between
    calls, so a cut between the last frame of one chunk and the first of the next is found.

    Example:
        >>> import numpy as np
        >>> det = SceneCutDetector()
        >>> a = np.zeros((3, 32, 48, 3), np.uint8); a[..., 1] = 200
        >>> b = np.zeros((3, 32, 48, 3), np.uint8); b[..., 0] = 200
        >>> det.process(np.concatenate([a, b])).tolist()
        [False, False, False, True, False, False]
    """

    def __init__(self, config: SceneCutConfig = SceneCutConfig()) -> None:
        if not isinstance(config, SceneCutConfig):
            raise ValueError(f"config: expected a SceneCutConfig, got {type(config).__name__}")
        self.config = config
        self.last_scores: np.ndarray = np.zeros((0, 2), np.float32)
        self.reset()

    def reset(self) -> None:
        """Forget the previous frame (call at the start of a new video)."""
        self._previous: FrameSignature | None = None
        self._since_cut = self.config.min_shot_length  # no cut seen yet: allow one at once

    def process(self, frames: np.ndarray) -> np.ndarray:
        """Flag the frames of a chunk that start a new shot.

        Args:
            frames: ``(n, H, W, 3) uint8`` RGB chunk (or one ``(H, W, 3)`` frame), the
                frames that follow the previously processed ones.

        Returns:
            ``(n,) bool``, True where the frame is the first of a new shot. Also stores the
            per-frame ``(hist_distance, mad)`` in ``last_scores`` ``(n, 2) float32``
            (zeros where there was no previous frame).
        """
        clip = check_clip("frames", frames)
        cuts = np.zeros(len(clip), dtype=bool)
        scores = np.zeros((len(clip), 2), dtype=np.float32)
        for i, frame in enumerate(clip):
            signature = frame_signature(frame, self.config)
            previous, self._previous = self._previous, signature
            self._since_cut += 1
            if previous is None:
                continue
            if previous.grey.shape != signature.grey.shape:
                cuts[i] = True  # a change of frame size cannot be the same shot
            else:
                scores[i] = signature_distance(previous, signature)
                changed = scores[i, 0] >= self.config.threshold and scores[i, 1] >= self.config.min_mad
                cuts[i] = bool(changed and self._since_cut >= self.config.min_shot_length)
            if cuts[i]:
                self._since_cut = 0
        self.last_scores = scores
        return cuts
