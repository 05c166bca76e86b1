"""A rendered stereo clip with exact ground truth (:class:`StereoScene`), and its storage on disk."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..checks import check_array

__all__ = ["StereoScene", "write_scene", "read_scene"]


@dataclass
class StereoScene:
    """A rendered stereo clip with its exact ground truth.

    Attributes:
        left: ``(T, H, W, 3) uint8`` left view.
        right: ``(T, H, W, 3) uint8`` true right view.
        disparity: ``(T, H, W) float32`` left-view disparity, px (``>= 0``);
            ``right[y, x - d] = left[y, x]``.
        right_disparity: ``(T, H, W) float32`` disparity of what the right view shows, px.
        meta: JSON-serialisable description (seed, config, background kind, the object
            disparities, the camera path).
    """

    left: np.ndarray
    right: np.ndarray
    disparity: np.ndarray
    right_disparity: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)


def check_scene(scene: Any) -> StereoScene:
    """Validate a :class:`StereoScene`'s arrays against each other."""
    if not isinstance(scene, StereoScene):
        raise ValueError(f"scene: expected a StereoScene, got {type(scene).__name__}")
    left = check_array("scene.left", scene.left, (4,), (np.uint8,))
    if left.shape[-1] != 3:
        raise ValueError(f"scene.left: expected shape (T, H, W, 3), got {left.shape}")
    if scene.right.shape != left.shape or scene.right.dtype != np.uint8:
        raise ValueError(f"scene.right: expected uint8 of shape {left.shape}, got {scene.right.dtype} {scene.right.shape}")
    for name in ("disparity", "right_disparity"):
        arr = getattr(scene, name)
        if arr.shape != left.shape[:3] or arr.dtype != np.float32:
            raise ValueError(f"scene.{name}: expected float32 of shape {left.shape[:3]}, got {arr.dtype} {arr.shape}")
    return scene


def _shuffle_bytes(values: np.ndarray) -> np.ndarray:
    """``float32`` array -> ``(4, N) uint8`` byte planes (all first bytes, then all second, ...).

    Smooth float maps compress about 30x better this way (the exponent and high mantissa
    bytes barely change from pixel to pixel) than as interleaved bytes.
    """
    return np.ascontiguousarray(np.ascontiguousarray(values, dtype="<f4").view(np.uint8).reshape(-1, 4).T)


def _unshuffle_bytes(planes: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Inverse of :func:`_shuffle_bytes`: ``(4, N) uint8`` -> ``float32`` of ``shape``."""
    return np.ascontiguousarray(planes.T).view("<f4").reshape(shape).astype(np.float32)


def write_scene(scene: StereoScene, folder: str | Path) -> Path:
    """Save a scene losslessly and compactly.

    Layout: ``left/000000.png ...`` and ``right/000000.png ...`` (RGB PNG frames),
    ``disparity.npz`` (both disparity maps, exact ``float32`` stored as compressed byte
    planes) and ``meta.json``. Existing frames of an earlier scene in the folder are removed.

    Args:
        scene: the scene to save.
        folder: destination folder, created if missing.

    Returns:
        The folder.
    """
    scene = check_scene(scene)
    folder = Path(folder)
    for view, frames in (("left", scene.left), ("right", scene.right)):
        view_dir = folder / view
        view_dir.mkdir(parents=True, exist_ok=True)
        for old in view_dir.glob("*.png"):
            old.unlink()
        for t, frame in enumerate(frames):
            ok = cv2.imwrite(str(view_dir / f"{t:06d}.png"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 3])
            if not ok:
                raise ValueError(f"folder: cannot write frames to {view_dir}")
    np.savez_compressed(
        folder / "disparity.npz",
        shape=np.array(scene.disparity.shape, np.int64),
        disparity=_shuffle_bytes(scene.disparity),
        right_disparity=_shuffle_bytes(scene.right_disparity),
    )
    (folder / "meta.json").write_text(json.dumps(scene.meta, indent=1))
    return folder


def _read_frames(view_dir: Path) -> np.ndarray:
    """Read ``view_dir/*.png`` in name order as ``(T, H, W, 3) uint8`` RGB."""
    paths = sorted(view_dir.glob("*.png"))
    if not paths:
        raise ValueError(f"folder: no frames in {view_dir}")
    frames = []
    for path in paths:
        frame = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if frame is None:
            raise ValueError(f"folder: cannot read {path}")
        frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    return np.stack(frames)


def read_scene(folder: str | Path) -> StereoScene:
    """Load a scene saved by :func:`write_scene`.

    Args:
        folder: the scene folder (``meta.json`` is optional).

    Returns:
        The :class:`StereoScene`, arrays identical to those written.
    """
    folder = Path(folder)
    path = folder / "disparity.npz"
    if not path.is_file():
        raise ValueError(f"folder: no disparity.npz in {folder}")
    with np.load(path) as data:
        shape = tuple(int(n) for n in data["shape"])
        disparity = _unshuffle_bytes(data["disparity"], shape)
        right_disparity = _unshuffle_bytes(data["right_disparity"], shape)
    meta_path = folder / "meta.json"
    meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
    scene = StereoScene(
        left=_read_frames(folder / "left"),
        right=_read_frames(folder / "right"),
        disparity=disparity,
        right_disparity=right_disparity,
        meta=meta,
    )
    return check_scene(scene)
