"""Command line: ``python -m spatialme convert INPUT -o OUTPUT [...]``.

Only parses arguments and calls :class:`spatialme.StereoPipeline`; every failure a user can
cause ends as one ``error: ...`` line on stderr and a non-zero exit code (2 for bad input,
1 for anything else), never as a traceback (``--debug`` shows it).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from .compose import FORMATS, canonical_format, layout_tag

__all__ = ["main", "build_parser"]

EXIT_BAD_INPUT = 2
EXIT_FAILED = 1


def _format(value: str) -> str:
    try:
        return canonical_format(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for tests and docs)."""
    parser = argparse.ArgumentParser(prog="python -m spatialme", description="SpatialMe 2D-to-3D stereo conversion.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True)
    conv = sub.add_parser("convert", help="convert a video, an image, or a folder of them to stereo")
    conv.add_argument("input", help="video (mp4/mov/mkv/webm/gif), image, or a folder of them")
    conv.add_argument("-o", "--output", required=True, help="output file, or a folder (required for a folder input)")
    conv.add_argument("--format", type=_format, default="full-sbs", help=f"stereo layout: {', '.join(FORMATS)} (aliases: sbs, tb, rl, ...); default full-sbs")
    conv.add_argument("--divergence", type=float, default=2.0, help="3D strength: total parallax in %% of width (default 2.0)")
    conv.add_argument("--convergence", type=float, default=0.5, help="screen plane, 0 (far) .. 1 (near); default 0.5")
    conv.add_argument("--variant", default="poly", choices=("poly", "dl", "dl+de", "full"), help="synthesis variant (Table III rows)")
    conv.add_argument("--disparity", help="(T, H, W) float32 .npy of left-view disparity in px; skips depth estimation (divergence and convergence then do not apply)")
    conv.add_argument("--max-frames", type=int, help="convert at most N frames")
    conv.add_argument("--start", type=float, default=0.0, help="skip this many seconds at the start")
    conv.add_argument("--max-seconds", type=float, help="refuse inputs longer than this (default 4 h)")
    conv.add_argument("--max-side", type=int, help="refuse inputs wider or taller than this many px (default 8192)")
    conv.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    conv.add_argument("--depth-model", help="depth model: Hub id or local directory (default: Depth Anything V2 Small, pinned)")
    conv.add_argument("--depth-size", type=int, help="short side fed to the depth model (default 518 on CUDA, 364 on CPU)")
    conv.add_argument("--overwrite", action="store_true", help="replace existing outputs (a folder batch skips them otherwise)")
    conv.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def _media_files(folder: Path) -> list[Path]:
    from .video import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS

    exts = set(IMAGE_EXTENSIONS) | set(VIDEO_EXTENSIONS)
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in exts and not p.name.startswith("."))


def _jobs(args: argparse.Namespace) -> list[tuple[Path, Path]]:
    """(input, output) pairs; a folder input maps into the output folder with layout tags."""
    from .video import is_image_path, output_name

    src, dst = Path(args.input), Path(args.output)
    tag = layout_tag(args.format)
    if src.is_dir():
        if dst.exists() and not dst.is_dir():
            raise ValueError(f"output: {dst} must be a folder when the input is a folder")
        return [(p, Path(output_name(p, dst, tag, is_image_path(p)))) for p in _media_files(src)]
    if dst.is_dir():
        return [(src, Path(output_name(src, dst, tag, is_image_path(src))))]
    return [(src, dst)]


def _progress_bar(quiet: bool, name: str):
    """A tqdm bar driven by the pipeline's ``progress(done, total, stage)`` callback."""
    from tqdm import tqdm

    state: dict = {}

    def update(done: int, total: int, stage: str) -> None:
        if quiet:
            return
        bar = state.get("bar")
        if bar is None:
            bar = state["bar"] = tqdm(total=total, desc=name, unit="frame", file=sys.stderr, leave=False, disable=None)
        bar.update(done - bar.n)

    def close() -> None:
        if "bar" in state:
            state["bar"].close()

    return update, close


def _convert(args: argparse.Namespace) -> int:
    from .disparity import DisparityConfig
    from .pipeline import PipelineConfig, StereoPipeline
    from .video import VideoLimits

    limits = VideoLimits(
        **{k: v for k, v in {"max_seconds": args.max_seconds, "max_side": args.max_side}.items() if v is not None}
    )
    config = PipelineConfig(
        disparity=DisparityConfig(args.divergence, args.convergence),
        device=args.device,
        depth_model=args.depth_model,
        depth_input_size=args.depth_size,
    )
    jobs = _jobs(args)
    if not jobs:
        raise ValueError(f"input: no videos or images in {args.input}")
    batch = Path(args.input).is_dir()
    if batch:
        Path(args.output).mkdir(parents=True, exist_ok=True)
        if args.disparity:
            raise ValueError("disparity: a .npy sidecar applies to one input, not a folder")
    pipe = StereoPipeline.from_pretrained(config=config)
    failures = 0
    for src, dst in jobs:
        if dst.exists() and not args.overwrite:
            if batch:
                print(f"skip {dst} (exists)")
                continue
            raise ValueError(f"output: {dst} exists (pass --overwrite to replace it)")
        update, close = _progress_bar(args.quiet, src.name)
        try:
            result = pipe.convert(
                src,
                dst,
                fmt=args.format,
                variant=args.variant,
                disparity=args.disparity,
                start=args.start,
                max_frames=args.max_frames,
                limits=limits,
                progress=update,
            )
        except Exception as exc:
            if not batch:
                raise
            failures += 1
            print(f"error: {src.name}: {_one_line(exc)}", file=sys.stderr)
            continue
        finally:
            close()
        print(result.summary())
    if failures:
        print(f"error: {failures} of {len(jobs)} inputs failed", file=sys.stderr)
        return EXIT_FAILED
    return 0


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else exc.__class__.__name__


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.debug:
        from huggingface_hub.utils import logging as hub_logging

        hub_logging.set_verbosity_error()  # retries while offline would print a screenful; the error says it all
    try:
        if args.command == "convert":
            return _convert(args)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if args.debug:
            raise
        from .depth import DepthModelUnavailable

        bad_input = isinstance(exc, (ValueError, FileNotFoundError, DepthModelUnavailable))
        print(f"error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_BAD_INPUT if bad_input else EXIT_FAILED
    return 0
