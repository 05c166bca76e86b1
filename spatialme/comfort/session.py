"""One conversion's comfort work: where nearness comes from, the first pass, the mapping, the report.

How auto strength gets a shot's statistics before its frames are converted
--------------------------------------------------------------------------
* **Depth sidecar** (``--depth FILE.npy``): a first pass decodes the video once for the scene
  cuts (:class:`~spatialme.scenes.SceneCutDetector`, about 1.5 ms a frame) and reads the
  sidecar for the statistics; nothing is stored, the conversion pass reads the sidecar again.
* **Depth model**: a first pass runs depth (with its stabiliser and cut detector) once and
  keeps the nearness in a temporary float16 ``.npy`` memory map in the system's temp folder
  (``TMPDIR``), at most 1024 px on the long side (the model itself works at 364-518 px), so a
  minute of 30 fps video takes about 2.1 GB of disk at any input size. The conversion pass
  reads it back (bilinear to the frame size) instead of running depth again, and the statistics
  are taken on exactly those read-back values. The file is deleted when the conversion ends,
  also on an error or a stopping signal (SIGINT, SIGTERM, SIGHUP).
* **Fixed strength** needs no first pass: the shots and parallax are recorded as the frames go
  by, for the report. A depth sidecar is then normalised once over the clip (its 2nd to 98th
  percentile over up to 16 evenly spaced frames, as the web app does), so a flat shot stays flat.

Disparity in pixels (``--disparity``) is used as given: auto strength refuses it (there is no
depth to re-map), but a report still describes it (each shot's divergence and convergence are
then what the given pixels amount to).
"""

from __future__ import annotations

import bisect
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator

import numpy as np

from ..checks import check_choice, check_range
from ..disparity import DisparityConfig, depth_to_disparity
from ..io import signals_deferred
from ..scenes import SceneCutDetector
from .displays import DISPLAYS, get_display
from .plan import ShotPlan, apply_window, describe_disparity_shot, frame_stats, parallax_percentiles, plan_shot, shot_bounds
from .sidecar import DepthSidecar, resize_plane

if TYPE_CHECKING:
    from ..pipeline import StereoPipeline

__all__ = ["ComfortConfig", "ComfortSession", "STRENGTHS", "STORE_SIDE", "open_session", "report_paths"]

#: ``strength`` choices: ``"auto"`` (per shot, in the display's band) or ``"fixed"`` (the given settings).
STRENGTHS = ("auto", "fixed")
#: Longest side, px, of the nearness kept on disk between the two passes of auto strength with the model.
STORE_SIDE = 1024
ProgressFn = Callable[[int, int, str], None]


@dataclass(frozen=True)
class ComfortConfig:
    """Automatic strength and screen plane per shot, and floating windows.

    Attributes:
        strength: ``"auto"`` chooses divergence and convergence per shot so that every frame's
            parallax range (1st to 99th percentile) lies in the display's band and the subject
            sits on the screen; ``"fixed"`` uses the pipeline's :class:`DisparityConfig`.
        display: ``"headset"``, ``"tv"`` or ``"phone"`` (:mod:`spatialme.comfort.displays`).
        divergence: with ``"auto"``, a given divergence (% of width) used for every shot
            instead of the chosen one (``None`` = choose).
        convergence: with ``"auto"``, a given screen plane 0..1 (``None`` = the subject's).
        windows: with ``"auto"``, floating windows (or a pulled-back convergence) where near
            objects touch the left or right frame edge.
        max_window_pct: widest floating window, % of the width, before the convergence is
            pulled back instead.
    """

    strength: str = "auto"
    display: str = "headset"
    divergence: float | None = None
    convergence: float | None = None
    windows: bool = True
    max_window_pct: float = 1.5

    def __post_init__(self) -> None:
        check_choice("strength", self.strength, STRENGTHS)
        get_display(self.display)
        if self.divergence is not None:
            check_range("divergence", self.divergence, 0.0, 10.0)
        if self.convergence is not None:
            check_range("convergence", self.convergence, 0.0, 1.0)
        check_range("max_window_pct", self.max_window_pct, 0.0, 10.0)

    @property
    def auto(self) -> bool:
        return self.strength == "auto"


def open_session(pipe: "StereoPipeline", comfort: "ComfortConfig | str | None", *, depth=None, disparity=None,
                 report: str | os.PathLike | None = None) -> "ComfortSession | None":
    """The session a conversion needs, or ``None`` when it needs none (fixed strength, no depth file, no report).

    Args:
        pipe: the converting pipeline (its depth estimator, disparity and scene-cut settings).
        comfort: a :class:`ComfortConfig`, ``"auto"``/``"fixed"``, or ``None`` (= fixed).
        depth: a depth sidecar (``.npy``/``.npz`` path or ``(T, H, W)`` array), or ``None``.
        disparity: the conversion's opened disparity source (px), or ``None``.
        report: ``PATH`` of the report (``PATH.json`` and ``PATH.png``), or ``None``.
    """
    if isinstance(comfort, str):
        comfort = ComfortConfig(strength=comfort)
    if comfort is not None and not isinstance(comfort, ComfortConfig):
        raise ValueError(f"comfort: expected a ComfortConfig or 'auto'/'fixed', got {type(comfort).__name__}")
    if depth is None and report is None and (comfort is None or not comfort.auto):
        return None
    return ComfortSession(pipe, comfort or ComfortConfig(strength="fixed"), depth=depth, disparity=disparity, report=report)


def report_paths(report: str | os.PathLike) -> tuple[Path, Path]:
    """``(PATH.json, PATH.png)`` for ``--report PATH`` (a ``.json`` or ``.png`` suffix given is dropped)."""
    if not isinstance(report, (str, os.PathLike)):
        raise ValueError(f"report: expected a path, got {type(report).__name__}")
    text = os.fspath(report)
    path = Path(text)
    if not text or text.endswith(("/", os.sep)) or path.is_dir():
        raise ValueError(f"report: expected a file path (PATH writes PATH.json and PATH.png), got {text!r}")
    if path.suffix.lower() in (".json", ".png"):
        path = path.with_suffix("")
    return path.with_name(path.name + ".json"), path.with_name(path.name + ".png")


class ComfortSession:
    """The comfort part of one :meth:`StereoPipeline.convert` run.

    The pipeline calls :meth:`prepare` once before the conversion pass, then per chunk
    :meth:`chunk` (disparity px and scene cuts of the chunk) and :meth:`finish` (floating
    windows, parallax recorded), and :meth:`write_report` at the end; :meth:`close` always.

    Args:
        pipe: the converting pipeline.
        config: strength, display and windows.
        depth: a depth sidecar, or ``None`` (the depth model runs, or ``disparity`` is given).
        disparity: the conversion's opened disparity source (px), or ``None``.
        report: ``PATH`` of the report, or ``None``.
    """

    def __init__(self, pipe: "StereoPipeline", config: ComfortConfig, *, depth=None, disparity=None,
                 report: str | os.PathLike | None = None) -> None:
        if depth is not None and disparity is not None:
            raise ValueError("depth: give a depth sidecar or a disparity, not both")
        if config.auto and disparity is not None:
            raise ValueError("strength: 'auto' chooses divergence and convergence from depth (a depth sidecar or the "
                             "depth model), not from disparity in pixels; drop the disparity or use strength 'fixed'")
        self.pipe, self.config = pipe, config
        self.display = DISPLAYS[config.display]
        self.mode = "disparity" if disparity is not None else "sidecar" if depth is not None else "model"
        self.report_paths = report_paths(report) if report is not None else None
        self._disparity = disparity
        self._depth = DepthSidecar(depth) if depth is not None else None
        self._temp: Path | None = None
        self._store: np.ndarray | None = None
        self._detector: SceneCutDetector | None = None
        self._shots: list[ShotPlan] = []
        self._starts: list[int] = [0]  # shot starts seen (fixed strength)
        self._parallax: list[np.ndarray] = []
        self._range = (0.0, 1.0)
        self._planned = 0

    @property
    def uses_model(self) -> bool:
        """Whether the depth model runs (no sidecar and no disparity)."""
        return self.mode == "model"

    # -------------------------------------------------------------------- passes

    def prepare(self, info, first: int, total: int, read_chunks: Callable[[], Iterator[np.ndarray]],
                progress: ProgressFn | None = None) -> None:
        """Check the inputs and, for auto strength, run the first pass and plan every shot.

        Args:
            info: the probed input (``width``, ``height``, ``fps``, ``is_image``).
            first: index of the first converted frame in the input.
            total: frames to convert.
            read_chunks: returns a new iterator over the converted frames as ``(n, H, W, 3) uint8`` chunks.
            progress: called as ``progress(done, total, stage)`` during the first pass.
        """
        self.width, self.height, self.first, self.total = info.width, info.height, first, total
        self.fps = 0.0 if info.is_image else float(info.fps)
        if self.report_paths is not None:
            try:
                self.report_paths[0].parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ValueError(f"report: cannot create the folder {self.report_paths[0].parent} ({exc.strerror})") from None
        if self._depth is not None:
            self._depth.check(first, total, info.height, info.width)
        cut_config = self.pipe.config.scene_cuts
        if self.mode != "model" and cut_config is not None:
            self._detector = SceneCutDetector(cut_config)
        if self.mode == "model":
            self.pipe.depth_estimator.reset()  # loads the model now, before any output is written
        if not self.config.auto:
            if self.mode == "sidecar":
                self._range = self._depth.clip_range(first, total, info.height, info.width)
            return
        self._first_pass(read_chunks, progress)

    def _first_pass(self, read_chunks: Callable[[], Iterator[np.ndarray]], progress: ProgressFn | None) -> None:
        stats, cuts, done = [], [], 0
        stage = "depth" if self.mode == "model" else "shots"
        if self.mode == "model":
            self._open_store()
        for chunk in read_chunks():
            lo, hi = done, done + len(chunk)
            if self.mode == "model":
                nearness = self.pipe.depth_estimator.process(chunk)
                flags = self.pipe.depth_estimator.last_cuts
                nearness = self._keep(lo, nearness)
            else:
                nearness = self._depth.frames(self.first + lo, self.first + hi, self.height, self.width)
                flags = self._detector.process(chunk) if self._detector is not None else np.zeros(len(chunk), bool)
            stats.append(frame_stats(nearness))
            cuts.append(np.asarray(flags, bool))
            done = hi
            if progress is not None:
                progress(done, self.total, stage)
        if done == 0:
            raise ValueError("input: no frames could be decoded")
        all_stats, all_cuts = np.concatenate(stats), np.concatenate(cuts)
        band = self.display.band_pct
        cfg = self.config
        self._shots = [
            plan_shot(all_stats, a, b, self.width, band, divergence=cfg.divergence, convergence=cfg.convergence,
                      windows=cfg.windows, max_window_pct=cfg.max_window_pct)
            for a, b in shot_bounds(all_cuts)
        ]
        self._planned = done

    def _open_store(self) -> None:
        """The temporary float16 memory map of the nearness (deleted by :meth:`close`)."""
        scale = min(1.0, STORE_SIDE / max(self.height, self.width))
        self._store_size = (max(1, round(self.height * scale)), max(1, round(self.width * scale)))
        with signals_deferred():  # created and recorded for clean-up in one step
            fd, name = tempfile.mkstemp(prefix="spatialme-depth-", suffix=".npy")
            os.close(fd)
            self._temp = Path(name)
        try:
            self._store = np.lib.format.open_memmap(name, mode="w+", dtype=np.float16, shape=(self.total, *self._store_size))
        except OSError as exc:
            raise ValueError(f"depth: cannot keep the depth of {self.total} frames in {Path(name).parent} "
                             f"({exc.strerror}); free disk space or point TMPDIR elsewhere") from None

    def _keep(self, lo: int, nearness: np.ndarray) -> np.ndarray:
        """Store a chunk's nearness; returns the values the conversion pass will read back."""
        h, w = self._store_size
        hi = min(lo + len(nearness), self.total)
        for i in range(hi - lo):
            self._store[lo + i] = resize_plane(np.asarray(nearness[i], np.float32), w, h)
        return self._load(lo, hi)

    def _load(self, lo: int, hi: int) -> np.ndarray:
        hi = min(hi, self.total)
        return np.stack([resize_plane(np.asarray(self._store[t], np.float32), self.width, self.height) for t in range(lo, hi)])

    # -------------------------------------------------------------------- conversion pass

    def shot_at(self, t: int) -> ShotPlan:
        """The planned shot holding frame ``t`` (auto strength)."""
        starts = [s.start for s in self._shots]
        return self._shots[max(0, bisect.bisect_right(starts, t) - 1)]

    def chunk(self, done: int, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Disparity and scene cuts of the next chunk.

        Args:
            done: index of the chunk's first frame within the converted range.
            frames: ``(n, H, W, 3) uint8`` the chunk's left views.

        Returns:
            ``(disparity, cuts)``: ``(n, H, W) float32`` px and ``(n,) bool`` (True = a shot starts), or ``None``.
        """
        n = len(frames)
        lo, hi = done, done + n
        if self.mode == "disparity":
            disp = self._disparity.frames(self.first + lo, self.first + hi)
            cuts = self._detector.process(frames) if self._detector is not None else None
        elif self.config.auto:
            if self.mode == "model":
                nearness = self._load(lo, hi)
                if len(nearness) < n:
                    raise ValueError(f"input: decoded {hi} frames where the first pass had {self._planned}")
            else:
                nearness = self._depth.frames(self.first + lo, self.first + hi, self.height, self.width)
            disp = np.stack([self.shot_at(lo + i).disparity(nearness[i], self.width) for i in range(n)])
            cuts = np.array([self.shot_at(lo + i).start == lo + i and lo + i > 0 for i in range(n)])
        elif self.mode == "sidecar":
            nearness = self._depth.frames(self.first + lo, self.first + hi, self.height, self.width)
            low, high = self._range
            disp = depth_to_disparity((nearness - np.float32(low)) / np.float32(high - low), self._fixed())
            cuts = self._detector.process(frames) if self._detector is not None else None
        else:
            disp = depth_to_disparity(self.pipe.depth_estimator.process(frames), self._fixed())
            cuts = self.pipe.depth_estimator.last_cuts
        if not self.config.auto and cuts is not None:
            self._starts.extend(lo + int(i) for i in np.flatnonzero(cuts) if lo + i > 0)
        return disp, cuts

    def _fixed(self) -> DisparityConfig:
        return self.pipe.config.disparity

    def finish(self, done: int, left: np.ndarray, disparity: np.ndarray, right: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Record a synthesised chunk's parallax and put its shots' floating windows on it.

        Args:
            done: index of the chunk's first frame.
            left, right: ``(n, H, W, 3) uint8`` views.
            disparity: ``(n, H, W)`` px the chunk was synthesised with.

        Returns:
            ``(left, right)`` as they go to the output (new arrays where a window applies).
        """
        self._parallax.append(parallax_percentiles(disparity, self.width))
        if not (self.config.auto and any(s.window for s in self._shots)):
            return left, right
        left, right = left.copy(), right.copy()
        for i in range(len(left)):
            shot = self.shot_at(done + i)
            if shot.window:
                left[i], right[i] = apply_window(left[i], right[i], shot.window_px)
        return left, right

    # -------------------------------------------------------------------- report

    def shots(self) -> list[ShotPlan]:
        """The shots of the converted frames: planned (auto), or as they went by (fixed)."""
        frames = sum(len(p) for p in self._parallax)
        if self.config.auto:
            return [s for s in self._shots if s.start < frames]
        starts = sorted(set(t for t in self._starts if t < frames)) or [0]
        bounds = list(zip(starts, starts[1:] + [frames]))
        if self.mode == "disparity":
            parallax = np.concatenate(self._parallax) if self._parallax else np.zeros((0, 2))
            return [describe_disparity_shot(parallax, a, b) for a, b in bounds]
        fixed = self._fixed()
        return [ShotPlan(a, b, fixed.divergence, fixed.convergence) for a, b in bounds]

    def report(self) -> dict:
        """The report as a JSON-ready dict (fields in :mod:`spatialme.comfort.report`)."""
        from .report import build_report

        parallax = np.concatenate(self._parallax) if self._parallax else np.zeros((0, 2))
        return build_report(self, parallax, self.shots())

    def write_report(self) -> dict[str, str]:
        """Write ``PATH.json`` and ``PATH.png``; returns ``{"json": path, "png": path}`` (empty without a report)."""
        if self.report_paths is None:
            return {}
        from .report import write_report

        return write_report(self.report(), *self.report_paths)

    def close(self) -> None:
        """Release the sidecar and delete the temporary depth file (safe to call twice)."""
        if self._depth is not None:
            self._depth.close()
        self._store = None
        if self._temp is not None:
            with signals_deferred():
                try:
                    self._temp.unlink()
                except FileNotFoundError:
                    pass
                self._temp = None
