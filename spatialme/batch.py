"""Folder batches: which files of a request to convert, and where each result goes.

A folder input maps into the output folder with the layout's tag (``clip.mp4`` ->
``clip_LR.mp4``); a file there that is named as a conversion of another one is an earlier
output, not an input, so a batch into its own folder never converts its results again.
"""

from __future__ import annotations

import os
from pathlib import Path

from .compose import FORMATS, layout_tag
from .io import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, is_image_path, output_name

__all__ = ["plan_batch"]


def _media_files(folder: Path) -> list[Path]:
    exts = set(IMAGE_EXTENSIONS) | set(VIDEO_EXTENSIONS)
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in exts and not p.name.startswith("."))


def _earlier_outputs(files: list[Path]) -> set[Path]:
    """The files among ``files`` that are a conversion of another one (``clip_LR.mp4`` beside ``clip.mp4``)."""
    tags = {layout_tag(f) for f in FORMATS}
    names = {Path(output_name(p, p.parent, tag, is_image_path(p))).name for p in files for tag in tags}
    return {p for p in files if p.name in names}


def plan_batch(input_path: str | os.PathLike, output_path: str | os.PathLike, fmt: str) -> tuple[list[tuple[Path, Path]], list[Path]]:
    """(input, output) pairs of a conversion request, and the folder inputs skipped as earlier outputs.

    A folder input maps into the output folder with layout tags; files in it named as a
    conversion of another file there (``clip_LR.mp4`` beside ``clip.mp4``) are not inputs,
    so a batch into its own input folder does not convert its earlier outputs again.
    """
    src, dst = Path(input_path), Path(output_path)
    tag = layout_tag(fmt)
    if src.is_dir():
        if dst.exists() and not dst.is_dir():
            raise ValueError(f"output: {dst} must be a folder when the input is a folder")
        files = _media_files(src)
        done = _earlier_outputs(files)
        return [(p, Path(output_name(p, dst, tag, is_image_path(p)))) for p in files if p not in done], sorted(done)
    if dst.is_dir():
        return [(src, Path(output_name(src, dst, tag, is_image_path(src))))], []
    return [(src, dst)], []
