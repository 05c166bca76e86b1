"""Command line: ``python -m spatialme convert INPUT -o OUTPUT [...]`` and ``python -m spatialme eval [...]``.

Only parses arguments and calls :class:`spatialme.StereoPipeline`; every failure a user can
cause ends as one ``error: ...`` line on stderr and a non-zero exit code (2 for bad input,
1 for anything else), never as a traceback (``--debug`` shows it). ``convert`` runs inside
:func:`spatialme.video.stop_on_signals`: SIGINT, SIGTERM and SIGHUP stop it cleanly (no
temp file, no claimed name left) with exit code 128 + the signal number.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import signal
import sys
from pathlib import Path
from typing import Sequence

from .batch import plan_batch
from .compose import FORMATS, canonical_format
from .comfort.displays import DISPLAYS
from .pipeline import DEFAULT_VARIANT, VARIANTS
from .losses import CONTENT_NORMS
from .training.config import PRESETS

__all__ = ["main", "build_parser"]

EXIT_BAD_INPUT = 2
EXIT_FAILED = 1


def _format(value: str) -> str:
    try:
        return canonical_format(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _floats(value: str) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in value.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {value!r}") from None


def _sizes(value: str) -> tuple[tuple[int, int], ...]:
    out = []
    for part in value.split(","):
        try:
            w, h = (int(v) for v in part.lower().split("x"))
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected sizes like 640x360, got {part!r}") from None
        out.append((h, w))
    return tuple(out)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for tests and docs)."""
    prog = "spatialme" if Path(sys.argv[0]).name == "spatialme" else "python -m spatialme"  # the console script or -m
    parser = argparse.ArgumentParser(prog=prog, description="SpatialMe 2D-to-3D stereo conversion.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True)
    conv = sub.add_parser("convert", help="convert a video, an image, or a folder of them to stereo")
    conv.add_argument("input", help="video (mp4/mov/mkv/webm/gif), image, or a folder of them")
    conv.add_argument("-o", "--output", required=True, help="output file, or a folder (required for a folder input)")
    conv.add_argument("--format", type=_format, default="full-sbs", help=f"stereo layout: {', '.join(FORMATS)} (aliases: sbs, tb, rl, ...); default full-sbs")
    conv.add_argument("--divergence", type=float, help="3D strength: total parallax in %% of width (default 2.0; with --strength auto "
                                                        "it is chosen per shot unless given)")
    conv.add_argument("--convergence", type=float, help="screen plane, 0 (far) .. 1 (near) (default 0.5; with --strength auto the "
                                                         "subject's depth per shot unless given)")
    conv.add_argument("--strength", default="fixed", choices=("auto", "fixed"),
                      help="auto: divergence and convergence per shot so that its parallax range fits --display's comfort band and "
                           "the subject sits on the screen, floating windows at the edges; fixed (default): --divergence/--convergence")
    conv.add_argument("--display", default="headset", choices=tuple(DISPLAYS),
                      help="what the result is watched on, for --strength auto and --report (default headset)")
    conv.add_argument("--depth", metavar="FILE.npy", help="(T, H, W) float .npy (or .npz with one array) of relative inverse depth, larger = "
                                                        "nearer, the input's aspect ratio; used instead of the depth model")
    conv.add_argument("--report", metavar="PATH", help="write the depth-budget report PATH.json and its plot PATH.png")
    conv.add_argument("--variant", default=DEFAULT_VARIANT, choices=VARIANTS,
                      help=f"synthesis variant (Table III rows; default {DEFAULT_VARIANT}: all three branches fused by the refiner; poly is about 10x faster on a CPU)")
    conv.add_argument("--disparity", help="(T, H, W) float16/float32 .npy (or .npz holding one array, or one named 'disparity') of left-view "
                                         "disparity in px, within the frame width; skips depth estimation (divergence and convergence then do not apply)")
    conv.add_argument("--max-frames", type=int, help="convert at most N frames")
    conv.add_argument("--start", type=float, default=0.0, help="skip this many seconds at the start")
    conv.add_argument("--max-seconds", type=float, help="refuse inputs longer than this (default 4 h)")
    conv.add_argument("--max-side", type=int, help="refuse inputs wider or taller than this many px (default 8192)")
    conv.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    conv.add_argument("--depth-model", help="depth model: Hub id or local directory (default: Depth Anything V2 Small, pinned)")
    conv.add_argument("--depth-size", type=int, help="short side fed to the depth model (default 518 on CUDA, 364 on CPU)")
    conv.add_argument("--overwrite", action="store_true", help="replace existing outputs once the new ones are complete (a folder batch skips them otherwise); never the input")
    conv.add_argument("--quiet", action="store_true", help="no progress bars (ours and the model loaders')")
    ev = sub.add_parser("eval", help="score variants and baselines against true right views (MAE, PSNR, SSIM)")
    ev.add_argument("--synthetic", type=int, metavar="N", help="evaluate on N synthetic scenes with exact ground truth")
    ev.add_argument("--textures", metavar="DIR", help="texture folder for --synthetic; its held-out test split is used (default: assets/textures)")
    ev.add_argument("--stereo", nargs="+", action="extend", default=[], metavar="PATH", help="real stereo clips: side-by-side videos, or folders with left/ and right/ frames or left/right videos")
    ev.add_argument("--every", type=int, default=1, help="take every Nth frame of each clip (the paper uses 20)")
    ev.add_argument("--max-frames", type=int, help="at most N frames per clip (after --every)")
    ev.add_argument("--variants", type=_names, default=VARIANTS, help=f"comma-separated variants (default {','.join(VARIANTS)})")
    ev.add_argument("--baselines", type=_names, default=("telea",), help="comma-separated hole fillers applied to the plain warp (default telea)")
    ev.add_argument("--height", type=int, default=160, help="synthetic frame height, px (default 160)")
    ev.add_argument("--width", type=int, default=256, help="synthetic frame width, px (default 256)")
    ev.add_argument("--frames", type=int, default=12, help="frames per synthetic scene (default 12)")
    ev.add_argument("--max-disparity", type=float, default=10.0, help="nearest synthetic object's disparity, px (default 10)")
    ev.add_argument("--synthetic-disparity", default="both", choices=("exact", "estimated", "both"),
                    help="warp synthetic scenes with their exact disparity, an estimated-like one (edges blurred as a monocular estimate's), or both (default)")
    ev.add_argument("--edge-grow", type=int, default=0, help="estimated-like disparity: grow the nearer side of every edge by this many px before the blur (0-16; a boundary off as a monocular estimate's often is; default 0)")
    ev.add_argument("--edge-blur", type=float, default=1.0, help="edge blur of the estimated-like disparity: Gaussian sigma px at 256 px wide (default 1)")
    ev.add_argument("--seed", type=int, default=10000, help="first synthetic scene's seed (default 10000, away from training seeds)")
    ev.add_argument("--max-side", type=int, help="shrink stereo clips so each view's longer side is at most this, px")
    ev.add_argument("--cache", metavar="DIR", help="keep the matched disparity of --stereo clips here and reuse it")
    ev.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    ev.add_argument("--weights", metavar="DIR_OR_REPO", help="learned weights (inpainter/ and refiner/ folders, or a Hub repo id); default: the shipped ones")
    ev.add_argument("--json", metavar="OUT", help="also write the scores to this JSON file")
    ev.add_argument("--sweep", action="store_true", help="the strength sweep: nearest disparity 1-8 %% of the width at 640x360 and 1280x720, exact and estimated-like")
    ev.add_argument("--sweep-pcts", type=_floats, help="sweep strengths, comma-separated %% of the width (default 1,2,4,6,8)")
    ev.add_argument("--sweep-sizes", type=_sizes, help="sweep sizes, comma-separated WxH (default 640x360,1280x720)")
    ev.add_argument("--scenes", type=int, default=2, help="held-out scenes per sweep row (default 2)")
    ev.add_argument("--sweep-frames", type=int, default=3, help="frames per sweep scene (default 3)")
    ev.add_argument("--pair", nargs=3, action="append", default=[], metavar=("LEFT", "RIGHT", "DISPARITY"),
                    help="a real image pair with its true left disparity px (.npy, .pfm, or .png: 16-bit = px x 256)")
    ev.add_argument("--motorcycle", action="store_true", help="the Middlebury Motorcycle pair bundled with scikit-image")
    tr = sub.add_parser("train", help="train the learned inpainter or the MHFU refiner on synthetic stereo scenes")
    tr.add_argument("stage", choices=("inpainter", "refiner"), help="which network")
    tr.add_argument("-o", "--out", required=True, help="run folder: checkpoint, log.csv, final/ weights; an existing run resumes")
    tr.add_argument("--preset", default="small", choices=tuple(PRESETS), help="small: 2 CPU cores in hours; full: paper scale on a GPU")
    tr.add_argument("--steps", type=int, help="total optimiser steps")
    tr.add_argument("--batch", type=int, help="crops per step (paper: 4)")
    tr.add_argument("--crop", type=int, help="crop side, px")
    tr.add_argument("--pool-scenes", type=int, help="synthetic scenes rendered up front")
    tr.add_argument("--textures", metavar="DIR", help="texture folder (its training split is used)")
    tr.add_argument("--inpainter", metavar="DIR", help="trained inpainter (refiner stage)")
    tr.add_argument("--vgg19", metavar="FILE", help="local VGG19 state dict for the perceptual loss (off without it)")
    tr.add_argument("--no-adversarial", action="store_true", help="turn off the adversarial term")
    tr.add_argument("--lr", type=float, help="Adam learning rate (paper: 1e-4); given on a resumed run, it replaces the checkpoint's")
    tr.add_argument("--seed", type=int, help="seed (default 0)")
    tr.add_argument("--device", help="cpu, cuda or cuda:N")
    tr.add_argument("--minutes", type=float, help="stop after this many minutes of training (checkpoint and final/ written)")
    tr.add_argument("--degrade", type=float, help="share of scenes warped with an estimated-like disparity (default 0.5)")
    tr.add_argument("--de-holes", type=float, help="inpainter: share of scenes that also give their DE re-warp (default 0.5)")
    tr.add_argument("--vary-textures", type=float, help="share of scenes painted with varied textures: other colours, flips, transposes (default 0)")
    tr.add_argument("--refiner-loss", choices=("crop", "shown"), help="refiner: loss on the whole crop (default) or on the view inference shows")
    tr.add_argument("--content-norm", choices=CONTENT_NORMS, help="content loss distance: l1 (paper, default) or l2 (squared error, what PSNR measures)")
    tr.add_argument("--disparity-input", action="store_true", help="refiner: also read the warp's disparity (give it on every resume of such a run)")
    tr.add_argument("--snapshot-every", type=int, help="also save the weights alone every N steps (out/snapshots/), for averaging")
    return parser


def _train(args: argparse.Namespace) -> int:
    import logging

    from .train import config_from_preset, train

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.disparity_input and args.stage != "refiner":
        raise ValueError("--disparity-input: only the refiner stage reads the disparity this way")
    config = config_from_preset(
        args.preset,
        stage=args.stage,
        out=args.out,
        steps=args.steps,
        batch=args.batch,
        crop=args.crop,
        pool_scenes=args.pool_scenes,
        textures=args.textures,
        inpainter=args.inpainter,
        vgg19=args.vgg19,
        adversarial=False if args.no_adversarial else None,
        seed=args.seed,
        lr=args.lr,
        set_lr=args.lr is not None,
        device=args.device,
        minutes=args.minutes,
        degrade=args.degrade,
        de_holes=args.de_holes,
        vary_textures=args.vary_textures,
        refiner_loss=args.refiner_loss,
        content_norm=args.content_norm,
        snapshot_every=args.snapshot_every,
        model={"disparity_input": True} if args.disparity_input else None,
    )
    final = train(config)
    print(f"wrote {final}")
    return 0


def _names(value: str) -> tuple[str, ...]:
    """A comma-separated list of names (validated by :class:`spatialme.evaluate.EvalConfig`)."""
    return tuple(v.strip() for v in value.split(",") if v.strip())


def _progress_bar(quiet: bool, name: str):
    """A tqdm bar driven by the pipeline's ``progress(done, total, stage)`` callback."""
    from tqdm import tqdm

    state: dict = {}

    def update(done: int, total: int, stage: str) -> None:
        if quiet:
            return
        bar = state.get("bar")
        if bar is not None and state.get("stage") != stage:  # a first pass (auto strength) ended
            bar.close()
            bar = None
        if bar is None:
            desc = name if stage == "synthesis" else f"{name} ({stage})"
            bar = state["bar"] = tqdm(total=total, desc=desc, unit="frame", file=sys.stderr, leave=False, disable=None)
            state["stage"] = stage
        bar.update(done - bar.n)

    def close() -> None:
        if "bar" in state:
            state["bar"].close()

    return update, close


def _quiet_loaders() -> None:
    """Turn off the Hub's and transformers' progress bars ("Loading weights", downloads)."""
    from huggingface_hub.utils import disable_progress_bars

    disable_progress_bars()  # transformers reads this when it is imported
    if "transformers" in sys.modules:
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()


def _show_notes() -> None:
    """Print the pipeline's warnings (an output scaled down, ...) as ``note: ...`` lines on stderr."""
    import logging

    log = logging.getLogger("spatialme")
    if not any(getattr(h, "_spatialme_notes", False) for h in log.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("note: %(message)s"))
        handler._spatialme_notes = True  # type: ignore[attr-defined]
        log.addHandler(handler)
        log.propagate = False


def _named(src: Path, exc: BaseException) -> str:
    """``exc``'s line prefixed with the input's name, unless the message starts with it already."""
    line = _one_line(exc)
    return line if line.startswith(f"{src.name}:") else f"{src.name}: {line}"


def _check_output_folder(folder: Path) -> None:
    """Create ``folder`` and check it takes new files, before a batch does any work."""
    from .io import OutputClaim

    with OutputClaim([folder / ".spatialme-check"], overwrite=True):
        pass


def _convert(args: argparse.Namespace) -> int:
    from .comfort import ComfortConfig
    from .depth import DepthModelUnavailable
    from .disparity import DisparityConfig
    from .pipeline import PipelineConfig, StereoPipeline
    from .io import OutputExists, VideoLimits

    if args.quiet:
        _quiet_loaders()
    _show_notes()
    limits = VideoLimits(
        **{k: v for k, v in {"max_seconds": args.max_seconds, "max_side": args.max_side}.items() if v is not None}
    )
    fixed = DisparityConfig(2.0 if args.divergence is None else args.divergence, 0.5 if args.convergence is None else args.convergence)
    auto = args.strength == "auto"
    comfort = ComfortConfig(strength=args.strength, display=args.display, divergence=args.divergence if auto else None,
                            convergence=args.convergence if auto else None)
    config = PipelineConfig(
        disparity=fixed,
        device=args.device,
        depth_model=args.depth_model,
        depth_input_size=args.depth_size,
    )
    jobs, earlier = plan_batch(args.input, args.output, args.format)
    batch = Path(args.input).is_dir()
    for path in earlier:
        print(f"skip {path} (a converted output)")
    if not jobs:
        if earlier:
            return 0
        raise ValueError(f"input: no videos or images in {args.input}")
    if batch:
        for flag in ("disparity", "depth", "report"):
            if getattr(args, flag):
                raise ValueError(f"{flag}: --{flag} applies to one input, not a folder")
        _check_output_folder(Path(args.output))
    pipe = StereoPipeline.from_pretrained(config=config)
    failures, bad_input = 0, 0
    for done, (src, dst) in enumerate(jobs):
        if batch and dst.exists() and not args.overwrite:
            print(f"skip {dst} (exists)")
            continue
        update, close = _progress_bar(args.quiet, src.name)
        try:
            with contextlib.redirect_stdout(io.StringIO()):  # the Hub mixin prints "Loading weights ..."
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
                    overwrite=args.overwrite,
                    depth=args.depth,
                    comfort=comfort,
                    report=args.report,
                )
        except OutputExists as exc:
            if not batch:
                raise ValueError(f"{exc}; pass --overwrite to replace it") from None
            print(f"skip {dst} (another run is writing it)")
            continue
        except DepthModelUnavailable as exc:
            if not batch:
                raise
            print(f"error: {_named(src, exc)}", file=sys.stderr)  # the same for every input: stop here
            print(f"error: stopped; {len(jobs) - done} of {len(jobs)} inputs not converted", file=sys.stderr)
            return EXIT_BAD_INPUT
        except Exception as exc:
            if not batch:
                raise
            failures += 1
            bad_input += _is_bad_input(exc)
            print(f"error: {_named(src, exc)}", file=sys.stderr)
            continue
        finally:
            close()
        print(result.summary())
        if result.report:
            print(f"wrote {result.report['json']} and {result.report['png']}")
    if failures:
        print(f"error: {failures} of {len(jobs)} inputs failed", file=sys.stderr)
        return EXIT_BAD_INPUT if bad_input == failures else EXIT_FAILED
    return 0


def _is_bad_input(exc: BaseException) -> bool:
    """Whether ``exc`` is the user's input or setup (exit 2) rather than a failure of ours (exit 1)."""
    from .depth import DepthModelUnavailable

    return isinstance(exc, (ValueError, FileNotFoundError, DepthModelUnavailable))


def _eval(args: argparse.Namespace) -> int:
    from .eval_suite import EvalRequest, run_evaluation
    from .evaluate import EvalConfig
    from .sweep import SweepConfig

    sweep = None
    if args.sweep:
        sweep = SweepConfig(**{k: v for k, v in {"pcts": args.sweep_pcts, "sizes": args.sweep_sizes}.items() if v},
                            scenes=args.scenes, frames=args.sweep_frames, seed=args.seed, edge_blur=args.edge_blur, edge_grow=args.edge_grow)
    request = EvalRequest(
        config=EvalConfig(variants=args.variants, baselines=args.baselines, every=args.every, max_frames=args.max_frames),
        synthetic=args.synthetic, synthetic_disparity=args.synthetic_disparity, height=args.height, width=args.width,
        frames=args.frames, max_disparity=args.max_disparity, edge_blur=args.edge_blur, edge_grow=args.edge_grow, seed=args.seed,
        textures=args.textures, sweep=sweep, pairs=tuple(tuple(p) for p in args.pair), motorcycle=args.motorcycle,
        stereo=tuple(args.stereo), max_side=args.max_side, cache=args.cache,
    )
    report = run_evaluation(request, weights=args.weights, device=args.device, emit=print, progress=lambda message: print(message, file=sys.stderr))
    if args.json:
        report.write_json(args.json)
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
    from .io import Stopped, stop_on_signals

    try:
        if args.command == "convert":
            with stop_on_signals():
                return _convert(args)
        if args.command == "eval":
            return _eval(args)
        if args.command == "train":
            return _train(args)
    except Stopped as exc:
        what = "interrupted" if exc.signum == signal.SIGINT else f"stopped by {signal.Signals(exc.signum).name}"
        with contextlib.suppress(OSError):  # after SIGHUP the terminal may be gone
            print(f"error: {what}; the output in progress was removed", file=sys.stderr)
        return 128 + exc.signum
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if args.debug:
            raise
        print(f"error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_BAD_INPUT if _is_bad_input(exc) else EXIT_FAILED
    return 0
