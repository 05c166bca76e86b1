"""The inspected frames' stages: stored after a conversion, turned into pictures for the frame slider."""

from __future__ import annotations

import json
import os
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..pipeline import ConvertResult, StageFrame
from .convert import ConvertJob
from .jobs import job_folder

_BRANCH_LABELS = {"poly": "Poly branch", "dl": "DL branch", "de": "DE branch"}
_REFINER_LABELS = {"m1": "Refiner mask M1", "m2": "Refiner mask M2", "m3": "Refiner mask M3", "c": "Refiner content C"}
#: What each refiner output does in the fusion (paper eqs. 1-3), one line each.
REFINER_ROLES = {
    "m1": "weight of Poly against DE (eq. 1; bright = Poly)",
    "m2": "weight of the eq.-1 blend against DL (eq. 2; bright = the blend)",
    "m3": "weight of the eq.-2 blend against C (eq. 3; bright = the blend, dark = C)",
    "c": "the colours the refiner paints where M3 is low (eq. 3)",
}
_WARPED = "Warped (holes in magenta)"
#: How the refiner's pictures are drawn (one line under the stage gallery).
REFINER_LEGEND = (
    "Refiner maps are drawn inside the warp's holes, where the branches differ (outside them: the warped view in "
    "grey). Masks M1-M3 are coloured over their range there (dark purple = lowest, yellow = highest, both in the "
    "caption); content C is contrast-stretched from its range to full brightness."
)

#: Every view that can be compared with the final right view, in display order.
BRANCH_VIEWS: tuple[str, ...] = (*_BRANCH_LABELS.values(), _REFINER_LABELS["c"], _WARPED)
_HOLE_RGB = (255, 0, 255)

@dataclass
class StageView:
    """Pictures of one inspected frame, ready for Gradio components.

    Attributes:
        gallery: ``(image, caption)`` pairs, uint8 RGB (masks as grey RGB).
        left_right: ``(left, final right)`` for an image slider.
        branch_pair: ``(chosen branch, final right)`` for an image slider.
        branches: names offered for ``branch_pair``, in display order.
        branch: the name shown in ``branch_pair``.
        caption: one line naming the frame (plus one on the refiner's colours when it ran).
        archive: ``.zip`` of this frame's stage pictures (PNG, named by caption).
    """

    gallery: list[tuple[np.ndarray, str]]
    left_right: tuple[np.ndarray, np.ndarray]
    branch_pair: tuple[np.ndarray, np.ndarray]
    branches: list[str]
    branch: str
    caption: str
    archive: str = ""


def publish_conversion(job: ConvertJob, result: ConvertResult) -> list[str]:
    """Store the inspected stages in the job folder for :func:`stage_view`.

    Writes ``stages/NNNNNN.npz`` per inspected frame and ``stages/index.json`` with the
    frame numbers, times and the clip-wide disparity range used for the colour map.

    Returns:
        The ``.npz`` paths, in frame order.
    """
    folder = Path(job.folder) / "stages"
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for stage in result.stages:
        path = folder / f"{stage.index:06d}.npz"
        np.savez(path, **_stage_arrays(stage))
        paths.append(str(path))
    lo, hi = _disparity_range(result.stages)
    branches = list(_branch_views(_stage_arrays(result.stages[0]))) if result.stages else []
    index = {
        "frames": [s.index for s in result.stages],
        "branches": branches,
        "fps": job.fps,
        "image": job.is_image,
        "disparity_range": [lo, hi],
        "variant": job.variant,
    }
    (folder / "index.json").write_text(json.dumps(index), encoding="utf-8")
    return paths


def _stage_arrays(stage: StageFrame) -> dict[str, np.ndarray]:
    """The arrays of one stage frame, keyed for ``np.savez``."""
    arrays = {
        "left": stage.left,
        "disparity": stage.disparity.astype(np.float32),
        "warped": stage.warped,
        "hole_mask": stage.hole_mask,
        "right": stage.right,
    }
    arrays.update({f"branch_{k}": v for k, v in stage.branches.items()})
    refiner = getattr(stage, "refiner", None) or {}  # M1..M3 and C, when the pipeline reports them
    arrays.update({f"refiner_{k.lower()}": np.asarray(v) for k, v in refiner.items()})
    return arrays


def _disparity_range(stages: list[StageFrame]) -> tuple[float, float]:
    """1st..99th percentile of the disparity over the inspected frames (for a steady colour map)."""
    if not stages:
        return 0.0, 1.0
    sample = np.concatenate([s.disparity[::2, ::2].ravel() for s in stages])
    lo, hi = (float(v) for v in np.percentile(sample, [1.0, 99.0]))
    return (lo, hi) if hi > lo else (lo, lo + 1.0)


# --------------------------------------------------------------------------- pictures


def colorize_disparity(disparity: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Colour-map a disparity (or depth) frame: near = bright yellow, far = dark (inferno).

    Args:
        disparity: ``(H, W)`` float.
        lo, hi: values mapped to the ends of the colour map (``hi > lo``).

    Returns:
        ``(H, W, 3) uint8`` RGB.
    """
    return _colour_map("disparity", disparity, lo, hi, cv2.COLORMAP_INFERNO)


def overlay_holes(image: np.ndarray, mask: np.ndarray, color: tuple[int, int, int] = _HOLE_RGB) -> np.ndarray:
    """Paint the hole pixels of a warped view in a signal colour (magenta by default).

    Args:
        image: ``(H, W, 3) uint8``.
        mask: ``(H, W)`` bool (or 0/1), True = hole.
        color: RGB of the holes.

    Returns:
        A new ``(H, W, 3) uint8`` image.
    """
    if image.ndim != 3 or mask.shape != image.shape[:2]:
        raise ValueError(f"mask: expected shape {image.shape[:2]}, got {mask.shape}")
    out = image.copy()
    out[np.asarray(mask, bool)] = np.asarray(color, np.uint8)
    return out


def mask_image(mask: np.ndarray) -> np.ndarray:
    """A mask as a grey RGB picture (white = 1 / True).

    Args:
        mask: ``(H, W)`` bool or float in [0, 1].

    Returns:
        ``(H, W, 3) uint8``.
    """
    if mask.ndim != 2:
        raise ValueError(f"mask: expected (H, W), got shape {mask.shape}")
    grey = np.round(np.clip(np.asarray(mask, np.float32), 0.0, 1.0) * 255.0).astype(np.uint8)
    return np.repeat(grey[:, :, None], 3, axis=2)


def _stage_index(job_id: str, root: str | os.PathLike | None) -> tuple[Path, dict]:
    """The stage folder of a job and its ``index.json``."""
    folder = job_folder(job_id, root) / "stages"
    index_path = folder / "index.json"
    if not index_path.is_file():
        raise ValueError("job_id: this result has no inspected stages")
    return folder, json.loads(index_path.read_text(encoding="utf-8"))


def stage_summary(job_id: str, root: str | os.PathLike | None = None) -> dict[str, Any]:
    """How many frames a job inspected and which views compare with its right view.

    Returns:
        ``{"frames": n, "branches": [...]}``; ``{"frames": 0, "branches": []}`` for an
        unknown or expired job.
    """
    try:
        _, index = _stage_index(job_id, root)
    except ValueError:
        return {"frames": 0, "branches": []}
    return {"frames": len(index["frames"]), "branches": list(index.get("branches", []))}


def stage_view(
    job_id: str, position: int, branch: str | None = None, root: str | os.PathLike | None = None
) -> StageView:
    """Pictures of every stage of one inspected frame.

    Args:
        job_id: the job (see :func:`job_folder`).
        position: which inspected frame, 0-based (clamped to the available ones).
        branch: the view compared with the final right view (``None`` = the first branch).
        root: where job folders live (``None`` = :func:`jobs_root`).

    Returns:
        A :class:`StageView`.

    Raises:
        ValueError: unknown or expired job, or a job without stages.
    """
    folder, index = _stage_index(job_id, root)
    frames = index["frames"]
    pos = int(min(max(int(position), 0), len(frames) - 1))
    with np.load(folder / f"{frames[pos]:06d}.npz", allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    lo, hi = index["disparity_range"]
    gallery = _gallery(arrays, lo, hi)
    choices = _branch_views(arrays)
    chosen = branch if branch in choices else _default_branch(choices, arrays["right"])
    frame = frames[pos]
    when = "" if index["image"] else f", {frame / index['fps']:.2f} s"
    caption = f"Inspected frame {pos + 1} of {len(frames)}: frame {frame}{when}, variant {index['variant']}"
    if any(k.startswith("refiner_") for k in arrays):
        caption += "\n\n" + REFINER_LEGEND
    return StageView(
        gallery=gallery,
        left_right=(arrays["left"], arrays["right"]),
        branch_pair=(choices[chosen], arrays["right"]),
        branches=list(choices),
        branch=chosen,
        caption=caption,
        archive=str(_archive(folder / f"frame_{frame:06d}_stages.zip", gallery)),
    )


def _archive(path: Path, gallery: list[tuple[np.ndarray, str]]) -> Path:
    """Write (once) a ``.zip`` of the gallery's pictures as ``NN_caption.png``; returns its path."""
    if path.is_file():
        return path
    partial = path.with_suffix(".zip.part")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_STORED) as archive:
        for number, (image, caption) in enumerate(gallery, 1):
            ok, png = cv2.imencode(".png", np.ascontiguousarray(image[:, :, ::-1]))
            if not ok:
                raise ValueError(f"gallery: cannot encode {caption!r} as PNG")
            archive.writestr(f"{number:02d}_{_file_stem(caption)}.png", png.tobytes())
    partial.replace(path)
    return path


def _file_stem(caption: str) -> str:
    """A caption's name part (before any ':' or ',') as a safe file name."""
    head = re.split(r"[:,(]", caption, maxsplit=1)[0]
    return re.sub(r"[^0-9A-Za-z]+", "_", head).strip("_").lower() or "stage"


def _gallery(arrays: dict[str, np.ndarray], lo: float, hi: float) -> list[tuple[np.ndarray, str]]:
    """Stage pictures with captions, in pipeline order."""
    items = [
        (arrays["left"], "Left view (input)"),
        (colorize_disparity(arrays["disparity"], lo, hi), "Depth (as disparity; near = bright)"),
        (overlay_holes(arrays["warped"], arrays["hole_mask"]), _WARPED),
        (mask_image(arrays["hole_mask"]), "Hole mask (white = to fill)"),
    ]
    for key, label in _BRANCH_LABELS.items():
        if f"branch_{key}" in arrays:
            items.append((arrays[f"branch_{key}"], label))
    for key, label in _REFINER_LABELS.items():
        value = arrays.get(f"refiner_{key}")
        if value is not None:
            items.append(refiner_picture(key, value, arrays["hole_mask"], arrays["warped"]))
    items.append((arrays["right"], "Final right view"))
    return items


def refiner_picture(
    key: str, value: np.ndarray, holes: np.ndarray | None = None, context: np.ndarray | None = None
) -> tuple[np.ndarray, str]:
    """One refiner output as a picture that shows its structure, captioned with its range and role.

    A mask can sit in a narrow band (M3 is often 0.97..1.00 everywhere) and the content is
    dark wherever it is not used, so drawn plainly they look like a blank white or a black
    tile. Masks are colour-mapped over their own min..max, the content is stretched from
    its min..max, and the caption gives that range and what the map does in eqs. 1-3.
    With ``holes``, only the hole pixels (where the branches differ) are drawn and measured;
    the rest shows ``context`` in dimmed grey.

    Args:
        key: ``"m1"``, ``"m2"``, ``"m3"`` (``(H, W)`` float in [0, 1]) or ``"c"``
            (``(H, W, 3)`` uint8, or float in [0, 1]).
        value: the refiner's output for one frame.
        holes: optional ``(H, W)`` bool hole mask of the warp.
        context: optional ``(H, W, 3) uint8`` picture shown (grey, dimmed) outside the holes.

    Returns:
        ``((H, W, 3) uint8 picture, caption)``.
    """
    if key not in REFINER_ROLES:
        raise ValueError(f"key: expected one of {', '.join(REFINER_ROLES)}, got {key!r}")
    label = _REFINER_LABELS[key]
    shape = np.shape(value)[:2]
    inside = np.ones(shape, bool) if holes is None else np.asarray(holes, bool)
    if inside.shape != shape:
        raise ValueError(f"holes: expected shape {shape}, got {inside.shape}")
    where = " in the holes" if holes is not None and not inside.all() else ""
    if not inside.any():
        inside, where = np.ones(shape, bool), ""  # no holes: the whole frame
    if key == "c":
        content = _to_uint8(np.asarray(value))
        if content.ndim != 3:
            raise ValueError(f"value: expected (H, W, 3) content, got shape {content.shape}")
        lo, hi = int(content[inside].min()), int(content[inside].max())
        scaled = (content.astype(np.float32) - lo) * (255.0 / max(hi - lo, 1))
        picture = np.round(np.clip(scaled, 0, 255)).astype(np.uint8)
        caption = f"{label}, values {lo}-{hi} of 255{where} (stretched): {REFINER_ROLES[key]}"
    else:
        mask = np.asarray(value, np.float32)
        lo, hi = float(mask[inside].min()), float(mask[inside].max())
        span = hi - lo if hi - lo >= 1e-3 else 1e-3
        picture = value_map_image(mask, lo, lo + span)
        caption = f"{label}, {lo:.3f}-{hi:.3f}{where}: {REFINER_ROLES[key]}"
    if not inside.all():
        picture[~inside] = _dimmed_grey(context, shape)[~inside]
    return picture, caption


def _dimmed_grey(context: np.ndarray | None, shape: tuple[int, int]) -> np.ndarray:
    """``context`` as a dark grey RGB picture (mid-dark grey when there is none)."""
    if context is None:
        return np.full((*shape, 3), 64, np.uint8)
    grey = np.asarray(context, np.float32) @ np.float32([0.299, 0.587, 0.114])
    return np.repeat(np.round(40 + 0.35 * grey).astype(np.uint8)[:, :, None], 3, axis=2)


def value_map_image(values: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Colour-map an ``(H, W)`` float map from ``lo`` (dark purple) to ``hi`` (yellow), viridis.

    Returns:
        ``(H, W, 3) uint8`` RGB.
    """
    return _colour_map("values", values, lo, hi, cv2.COLORMAP_VIRIDIS)


def _colour_map(name: str, values: np.ndarray, lo: float, hi: float, colormap: int) -> np.ndarray:
    """``(H, W)`` floats, ``lo``..``hi`` clipped, through an OpenCV colour map: ``(H, W, 3) uint8`` RGB."""
    if values.ndim != 2:
        raise ValueError(f"{name}: expected (H, W), got shape {values.shape}")
    if not hi > lo:
        raise ValueError(f"hi: expected hi > lo, got lo={lo}, hi={hi}")
    scaled = np.clip((np.asarray(values, np.float32) - lo) / (hi - lo), 0.0, 1.0)
    bgr = cv2.applyColorMap(np.round(scaled * 255.0).astype(np.uint8), colormap)
    return np.ascontiguousarray(bgr[:, :, ::-1])


def _branch_views(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Views that can be compared with the final right view, by display name."""
    views = {label: arrays[f"branch_{key}"] for key, label in _BRANCH_LABELS.items() if f"branch_{key}" in arrays}
    if "refiner_c" in arrays:
        views[_REFINER_LABELS["c"]] = _to_uint8(arrays["refiner_c"])
    views[_WARPED] = overlay_holes(arrays["warped"], arrays["hole_mask"])
    return views


def _default_branch(choices: dict[str, np.ndarray], right: np.ndarray) -> str:
    """The first view that differs from the final right view (the warp when every branch equals it)."""
    return next((name for name, view in choices.items() if not np.array_equal(view, right)), _WARPED)


def _to_uint8(image: np.ndarray) -> np.ndarray:
    """A float image in [0, 1] (or uint8) as uint8 RGB."""
    if image.dtype == np.uint8:
        return image
    return np.round(np.clip(image, 0.0, 1.0) * 255.0).astype(np.uint8)


