"""File names: which suffixes are images and videos, and the name of a converted file."""

from __future__ import annotations

import os
import re
from pathlib import Path

__all__ = ["IMAGE_EXTENSIONS", "OUTPUT_VIDEO_EXTENSIONS", "VIDEO_EXTENSIONS", "is_image_path", "output_name"]

IMAGE_EXTENSIONS: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")
"""Suffixes (lowercase) treated as still images; they are decoded with OpenCV."""

VIDEO_EXTENSIONS: tuple[str, ...] = (".mp4", ".mov", ".mkv", ".webm", ".gif", ".avi", ".m4v")
"""Suffixes (lowercase) accepted as video input; anything ffmpeg decodes also works."""

OUTPUT_VIDEO_EXTENSIONS: tuple[str, ...] = (".mp4", ".m4v", ".mov", ".mkv")
"""Suffixes :class:`~spatialme.io.writer.VideoWriter` can produce (H.264 + AAC)."""

_UNSAFE_CHARS = re.compile(r"[^\w\-.+() ]")


def is_image_path(path: str | os.PathLike[str]) -> bool:
    """True when ``path`` has a still-image suffix (see :data:`IMAGE_EXTENSIONS`)."""
    return Path(os.fspath(path)).suffix.lower() in IMAGE_EXTENSIONS


def output_name(input_path: str | os.PathLike[str], out_dir: str | os.PathLike[str], layout_tag: str,
                image: bool) -> str:
    """Name the converted file: ``clip.mov`` + ``"_LR"`` -> ``out_dir/clip_LR.mp4``.

    Videos always become ``.mp4`` (H.264 plays everywhere) and images ``.png`` (lossless).
    The stem is made safe: characters outside letters, digits and ``-._+() `` become ``_``,
    leading dots are dropped (hidden files are not served by Gradio) and it is cut to 120
    characters. If the result would overwrite the input, ``_3d`` is appended.

    Args:
        input_path: the source file.
        out_dir: destination folder.
        layout_tag: appended to the stem verbatim, e.g. ``"_LR"``, ``"_3dh_half"`` (letters,
            digits and ``-._`` only).
        image: True for a still image.

    Returns:
        The output path as ``str``.
    """
    if not isinstance(layout_tag, str) or not re.fullmatch(r"[\w\-.]*", layout_tag, flags=re.ASCII):
        raise ValueError(f"layout_tag: expected letters, digits, '-', '_' or '.', got {layout_tag!r}")
    stem = _UNSAFE_CHARS.sub("_", Path(os.fspath(input_path)).stem).lstrip(".").strip()[:120] or "output"
    suffix = ".png" if image else ".mp4"
    out = os.path.join(os.fspath(out_dir), f"{stem}{layout_tag}{suffix}")
    if os.path.abspath(out) == os.path.abspath(os.fspath(input_path)):
        out = os.path.join(os.fspath(out_dir), f"{stem}{layout_tag}_3d{suffix}")
    return out
