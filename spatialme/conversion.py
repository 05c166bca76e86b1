"""Converting files: the streaming loop behind :meth:`StereoPipeline.convert` and its results.

Memory is bounded by a pixel budget, not a frame count: a chunk holds at most
``PipelineConfig.chunk_pixels`` pixels (16 frames of 720p, 8 of 1080p, 2 of 4K), and a frame
larger than the budget (8K) is synthesised in horizontal strips of at most
``PipelineConfig.strip_pixels`` with :data:`STRIP_MARGIN` rows of context each side, so the
peak is about the same at any resolution (``benchmarks/bench_memory.py``). Decoding runs one
chunk ahead and encoding one chunk behind the synthesis (:mod:`spatialme.overlap`). Video
outputs stay within H.264 level 6.2 (:func:`spatialme.video.h264_fit`): a layout beyond it
(full SBS of 8K) is scaled down with a notice.
"""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator

import numpy as np

from . import video
from .compose import compose, output_shape
from .overlap import BackgroundConsumer, prefetch
from .scenes import SceneCutDetector
from .sidecar import DisparitySource

if TYPE_CHECKING:
    from .comfort.session import ComfortSession
    from .pipeline import PipelineConfig, StereoOutput, StereoPipeline

__all__ = ["STRIP_MARGIN", "ConvertResult", "StageFrame", "chunk_frames", "convert_claimed", "output_sizes", "row_strips"]

_log = logging.getLogger(__name__)

ProgressFn = Callable[[int, int, str], None]

#: Rows of context above and below each strip of a frame larger than the pixel budget; more
#: than every stage reaches across rows (refiner about 50 px, DE blocks 2k = 60 px at 8K).
STRIP_MARGIN = 64


@dataclass
class ConvertResult:
    """Summary of :meth:`StereoPipeline.convert`.

    Attributes:
        output: path written.
        frames: frames converted.
        fps: frame rate of the output (0 for an image).
        width, height: size of the written stereo frame.
        seconds: wall-clock time of the conversion.
        image: whether input and output are still images.
        outputs: format -> path of every file written (the main one included).
        stages: the inspected frames' stages, in frame order (see ``inspect``).
        notes: what was changed on the way, one line each (an output scaled down to fit
            H.264 level 6.2); also logged as warnings when the conversion starts.
        report: ``{"json": path, "png": path}`` of the depth-budget report, when one was asked for.
    """

    output: str
    frames: int
    fps: float
    width: int
    height: int
    seconds: float
    image: bool
    outputs: dict[str, str] = field(default_factory=dict)
    stages: list["StageFrame"] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    report: dict[str, str] = field(default_factory=dict)

    def summary(self) -> str:
        """One line for the CLI."""
        rate = self.frames / self.seconds if self.seconds > 0 else float("inf")
        kind = "image" if self.image else f"{self.frames} frames at {self.fps:.3g} fps"
        return f"wrote {self.output}: {kind}, {self.width}x{self.height}, {self.seconds:.1f} s ({rate:.2f} frames/s)"


@dataclass
class StageFrame:
    """Every stage of one converted frame, for inspection.

    Attributes:
        index: frame number within the converted range.
        left: ``(H, W, 3) uint8`` input frame.
        disparity: ``(H, W) float32`` disparity px used.
        warped: ``(H, W, 3) uint8`` plain warp, holes 0.
        hole_mask: ``(H, W) bool``.
        branches: branch name -> ``(H, W, 3) uint8``.
        right: ``(H, W, 3) uint8`` final right view.
        refiner: for the full variant, the refiner's ``m1``, ``m2``, ``m3`` ``(H, W)``
            float32 masks and content ``c`` ``(H, W, 3) uint8``.
    """

    index: int
    left: np.ndarray
    disparity: np.ndarray
    warped: np.ndarray
    hole_mask: np.ndarray
    branches: dict[str, np.ndarray]
    right: np.ndarray
    refiner: dict[str, np.ndarray] = field(default_factory=dict)


def _stage_frames(
    chunk: np.ndarray, disp: np.ndarray, result: StereoOutput, offset: int, keep: set[int], refiner_maps: Callable[[StereoOutput, int], dict]
) -> list[StageFrame]:
    """The kept frames of one chunk as :class:`StageFrame` objects (copies, chunk-independent)."""
    return [
        StageFrame(
            index=offset + i,
            left=chunk[i].copy(),
            disparity=disp[i].copy(),
            warped=result.warped[i].copy(),
            hole_mask=result.hole_mask[i].copy(),
            branches={k: v[i].copy() for k, v in result.branches.items()},
            right=result.right[i].copy(),
            refiner=refiner_maps(result, i),
        )
        for i in range(len(chunk))
        if offset + i in keep
    ]


def _remove_if_exists(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def chunk_frames(height: int, width: int, config: PipelineConfig) -> int:
    """Frames per chunk for ``height x width`` frames: the pixel budget's share, 1 to ``config.chunk``."""
    return max(1, min(config.chunk, config.chunk_pixels // (height * width)))


def row_strips(height: int, width: int, max_pixels: int, margin: int = STRIP_MARGIN) -> list[tuple[int, int, int, int]]:
    """Cut a frame into horizontal strips of at most about ``max_pixels`` pixels each.

    Args:
        height, width: frame size, px.
        max_pixels: pixel budget of one strip (its core rows; the margins add ``2 * margin`` rows).
        margin: rows of context read above and below each strip's core.

    Returns:
        ``(lo, hi, keep_lo, keep_hi)`` row ranges per strip: rows ``lo:hi`` are processed and
        rows ``keep_lo:keep_hi`` kept; the kept ranges tile ``0:height``. One strip
        ``(0, height, 0, height)`` when the frame is within the budget.
    """
    count = max(1, -(-(height * width) // max_pixels))
    if count == 1:
        return [(0, height, 0, height)]
    step = -(-height // count)
    return [(max(0, k0 - margin), min(height, k0 + step + margin), k0, min(height, k0 + step)) for k0 in range(0, height, step)]


def _stage_rows(stage: StageFrame, r0: int, r1: int) -> StageFrame:
    """Rows ``r0:r1`` of every picture of ``stage``."""
    return StageFrame(
        index=stage.index, left=stage.left[r0:r1], disparity=stage.disparity[r0:r1], warped=stage.warped[r0:r1],
        hole_mask=stage.hole_mask[r0:r1], branches={k: v[r0:r1] for k, v in stage.branches.items()},
        right=stage.right[r0:r1], refiner={k: v[r0:r1] for k, v in stage.refiner.items()},
    )


def _stack_stages(parts: list[StageFrame]) -> StageFrame:
    """One frame's stages from its strips (top to bottom)."""
    def rows(pick: Callable[[StageFrame], np.ndarray]) -> np.ndarray:
        return np.concatenate([pick(p) for p in parts], axis=0)

    first = parts[0]
    return StageFrame(
        index=first.index, left=rows(lambda p: p.left), disparity=rows(lambda p: p.disparity),
        warped=rows(lambda p: p.warped), hole_mask=rows(lambda p: p.hole_mask),
        branches={k: rows(lambda p, k=k: p.branches[k]) for k in first.branches},
        right=rows(lambda p: p.right), refiner={k: rows(lambda p, k=k: p.refiner[k]) for k in first.refiner},
    )


def _fit_frames(clip: np.ndarray, height: int, width: int) -> np.ndarray:
    """``(T, h, w, 3)`` uint8 resized to ``height x width`` (area filter: downscaling only)."""
    import cv2

    if clip.shape[1:3] == (height, width):
        return clip
    return np.stack([cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA) for frame in clip])


def _level_note(fmt: str, size: tuple[int, int], fitted: tuple[int, int], view: tuple[int, int]) -> str:
    """The notice for a ``fmt`` output of ``size`` (H, W) scaled to ``fitted`` (H, W); ``view`` = one eye."""
    halves = {"full-sbs": "half-sbs", "cross": "half-sbs", "full-tb": "half-tb"}
    hint = f" ({halves[fmt]} keeps {view[1]}x{view[0]} per frame)" if fmt in halves else ""
    return (f"{fmt}: {size[1]}x{size[0]} frames are beyond H.264 level 6.2 ({video.H264_MAX_MACROBLOCKS:,} macroblocks), "
            f"which browsers and hardware decoders may refuse; writing {fitted[1]}x{fitted[0]}{hint}")


def convert_claimed(
    pipe: "StereoPipeline",
    input_path: str | os.PathLike,
    formats: dict[str, Path],
    claim: video.OutputClaim,
    variant: str,
    source: DisparitySource | None,
    start: float,
    max_frames: int | None,
    limits: video.VideoLimits,
    progress: ProgressFn | None,
    inspect: int,
    session: "ComfortSession | None" = None,
) -> ConvertResult:
    """:meth:`convert` once the outputs are claimed (``formats``: format -> path, main first)."""
    pipe.check_variant(variant)
    info = video.probe(input_path, limits)
    first, total = _frame_span(info, start, max_frames, Path(input_path).name)
    for path in formats.values():
        if info.is_image != video.is_image_path(path):
            want = "an image (.png/.jpg)" if info.is_image else "a video (.mp4/.mkv/...)"
            raise ValueError(f"output: {path.name} must be {want} for this input")
    detector = None
    if source is not None:
        source.check(first, total, info.height, info.width)
        detector = SceneCutDetector(pipe.config.scene_cuts) if pipe.config.scene_cuts is not None else None
    elif session is None:
        pipe.depth_estimator.reset()  # loads the model now, before any output is written
    sizes, notes = output_sizes(formats, info)
    keep = set(np.linspace(0, total - 1, min(inspect, total)).round().astype(int).tolist()) if inspect > 0 else set()
    stages: list[StageFrame] = []

    def read_chunks() -> Iterator[np.ndarray]:
        if info.is_image:
            return iter([video.read_image(input_path)[None]])
        step = chunk_frames(info.height, info.width, pipe.config)
        # decoded one chunk ahead, in a thread, while this one is synthesised
        return prefetch(video.read_frames(info, start=start, max_frames=total, chunk=step, limits=limits), depth=1)

    if session is not None:  # checks, and for auto strength the first pass and every shot's plan
        session.prepare(info, first, total, read_chunks, progress)

    def stereo_chunks() -> Iterator[dict[str, np.ndarray]]:
        done = 0
        for chunk in read_chunks():
            if session is not None:
                disp, cuts = session.chunk(done, chunk)
            elif source is not None:
                disp = source.frames(first + done, first + done + len(chunk))
                cuts = detector.process(chunk) if detector is not None else None
            else:
                disp = pipe.estimate_disparity(chunk)
                cuts = pipe.depth_estimator.last_cuts
            right, kept = pipe._synthesize_chunk(chunk, disp, variant, done, keep, cuts)
            if session is not None:  # floating windows; parallax recorded for the report
                chunk, right = session.finish(done, chunk, disp, right)
            stages.extend(kept)
            done += len(chunk)
            if progress is not None:
                progress(done, total, "synthesis")
            yield {f: _fit_frames(compose(chunk, right, f), *sizes[f]) for f in formats}

    fmt = next(iter(formats))
    if info.is_image:
        written = _write_images(next(stereo_chunks()), formats, claim)
    else:
        written = _write_videos(stereo_chunks(), formats, claim, info, input_path, start)
    return ConvertResult(
        output=str(formats[fmt]),
        frames=written,
        fps=0.0 if info.is_image else info.fps,
        width=int(sizes[fmt][1]),
        height=int(sizes[fmt][0]),
        seconds=0.0,
        image=info.is_image,
        outputs={f: str(p) for f, p in formats.items()},
        stages=stages,
        notes=notes,
        report=session.write_report() if session is not None else {},
    )


def _frame_span(info: video.VideoInfo, start: float, max_frames: int | None, name: str) -> tuple[int, int]:
    """``(first, total)`` frames converted from ``start`` s, at most ``max_frames``; an image is one frame."""
    if info.is_image:
        return 0, 1
    first = int(round(start * info.fps))
    total = max(info.frames - first, 0)
    if max_frames is not None:
        total = min(total, max_frames)
    if total <= 0:
        raise ValueError(f"start: {start} s is past the end of {name} ({info.duration:.2f} s)")
    return first, total


def _write_images(composed: dict[str, np.ndarray], formats: dict[str, Path], claim: video.OutputClaim) -> int:
    """Write one composed ``(1, H, W, 3) uint8`` picture per format; a later failure removes the earlier ones."""
    with contextlib.ExitStack() as undo:
        for f, path in formats.items():
            video.write_image(path, composed[f][0])
            undo.callback(_remove_if_exists, path)
            claim.placed(path)
        undo.pop_all()
    return 1


def _write_videos(chunks: Iterator[dict[str, np.ndarray]], formats: dict[str, Path], claim: video.OutputClaim,
                  info: video.VideoInfo, input_path: str | os.PathLike, start: float) -> int:
    """Encode the composed chunks (format -> ``(T, H, W, 3) uint8``) behind the synthesis; frames written.

    Every file moves into place at the end, or none does (also on a signal); nothing is left
    when no frame could be decoded.
    """
    fmt = next(iter(formats))
    written = 0
    audio = str(input_path) if info.has_audio else None
    with contextlib.ExitStack() as stack:
        writers = {f: stack.enter_context(video.VideoWriter(p, info.fps, audio_source=audio, audio_start=start)) for f, p in formats.items()}

        def encode(composed: dict[str, np.ndarray]) -> None:
            for f, writer in writers.items():
                writer.write(composed[f])

        with BackgroundConsumer(encode, depth=1) as encoder:  # encoded behind, in a thread
            for composed in chunks:
                encoder.put(composed)
                written += len(composed[fmt])
        if written == 0:  # raised inside the writers so that no output is left behind
            raise ValueError(f"input: no frames could be decoded from {Path(input_path).name}")
        for writer in writers.values():  # the slow part (encoder flush, audio) for all first
            writer.finish()
        with video.signals_deferred():  # then every file moves into place, or none
            for writer in writers.values():
                claim.placed(writer.close())
    return written


def output_sizes(formats: dict[str, Path], info: video.VideoInfo) -> tuple[dict[str, tuple[int, int]], list[str]]:
    """``(H, W)`` written per format (videos fitted to H.264 level 6.2) and a note per change."""
    sizes, notes = {}, []
    for f in formats:
        size = output_shape(f, info.height, info.width)
        if not info.is_image:
            w, h = video.h264_fit(size[1], size[0])
            if (h, w) != size:
                notes.append(_level_note(f, size, (h, w), (info.height, info.width)))
                _log.warning("%s", notes[-1])
                size = (h, w)
        sizes[f] = size
    return sizes, notes
