"""Depth of a video streamed in chunks: model, scene-cut detector and stabiliser chained.

:class:`DepthEstimator` runs the depth model (:func:`~spatialme.depth.load_depth_model`)
on each chunk, detects scene cuts on the same frames (:mod:`spatialme.scenes`) and hands
both to the :class:`~spatialme.depth.DepthStabilizer`, whose state carries from one chunk
to the next, so a long video never has to be in memory at once.
"""

from __future__ import annotations

import numpy as np

from ..checks import check_clip
from ..scenes import SceneCutConfig, SceneCutDetector
from .base import DepthModel, load_depth_model
from .config import DepthConfig
from .stabilizer import DepthStabilizer, StabilizerConfig

__all__ = ["DepthEstimator"]


class DepthEstimator:
    """Model + scene-cut detector + stabiliser for a video streamed in chunks.

    Args:
        config: depth model settings (ignored when ``model`` is given).
        stabilizer: stabiliser settings.
        scene_cuts: cut-detector settings; ``None`` disables cut detection.
        model: an already loaded :class:`DepthModel` to use instead of loading one.

    Example:
        >>> est = DepthEstimator(DepthConfig(model_id="/models/dav2-small"))  # doctest: +SKIP
        >>> for chunk in chunks:  # doctest: +SKIP
        ...     nearness = est.process(chunk)  # (n, H, W, 3) uint8 -> (n, H, W) float32 in [0, 1]
        ...     cuts = est.last_cuts  # (n,) bool, True = first frame of a new shot
    """

    def __init__(
        self,
        config: DepthConfig | None = None,
        *,
        stabilizer: StabilizerConfig = StabilizerConfig(),
        scene_cuts: SceneCutConfig | None = SceneCutConfig(),
        model: DepthModel | None = None,
    ) -> None:
        if model is not None and not isinstance(model, DepthModel):
            raise ValueError(f"model: expected a DepthModel, got {type(model).__name__}")
        self.model = model if model is not None else load_depth_model(config)
        self.stabilizer = DepthStabilizer(stabilizer)
        self.detector = SceneCutDetector(scene_cuts) if scene_cuts is not None else None
        self.last_cuts = np.zeros(0, dtype=bool)
        self.last_raw: np.ndarray | None = None

    def reset(self) -> None:
        """Start a new video: forget the previous frame in detector and stabiliser."""
        self.stabilizer.reset()
        if self.detector is not None:
            self.detector.reset()
        self.last_cuts = np.zeros(0, dtype=bool)
        self.last_raw = None

    def process(self, frames: np.ndarray) -> np.ndarray:
        """Depth of the next chunk of the video.

        Args:
            frames: ``(n, H, W, 3) uint8`` RGB (or one ``(H, W, 3)`` frame), following
                the frames of the previous call.

        Returns:
            ``(n, H, W) float32`` normalised inverse depth in ``[0, 1]`` (1 = nearest),
            steady across frames and calls. ``last_cuts`` ``(n,) bool`` then holds the
            frames found to start a new shot, ``last_raw`` the model's raw
            ``(n, H, W) float32`` output.
        """
        clip = check_clip("frames", frames)
        raw = self.model.predict(clip)
        cuts = self.detector.process(clip) if self.detector is not None else np.zeros(len(clip), dtype=bool)
        self.last_cuts, self.last_raw = cuts, raw
        return self.stabilizer.process(raw, cuts)
