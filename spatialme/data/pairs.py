"""Real stereo image pairs with their true disparity (Middlebury-style ground truth).

Why
---
Synthetic scenes have exact ground truth but synthetic photometrics; a real rectified pair
with a measured disparity map (structured light, as Middlebury's) scores the methods on
real cameras: two exposures, real sensor noise, real silhouettes. One such pair ships with
scikit-image (``skimage.data.stereo_motorcycle``: Middlebury 2014 *Motorcycle*, 741x500,
disparity 7-60 px), so :func:`motorcycle` needs no network. It is for evaluation only:
nothing trains on it.

Disparity files (left view, px, ``right[y, x - d] = left[y, x]``):

* ``.npy``: ``(H, W)`` float; NaN, inf or values <= 0 mark unknown pixels;
* ``.pfm``: Middlebury's portable float map (bottom-to-top rows; inf = unknown);
* ``.png``: 16-bit = px x 256 (the KITTI convention), 8-bit = px; 0 = unknown.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import cv2
import numpy as np

from ..inpaint.flow import fill_from_background

__all__ = ["StereoPair", "read_disparity", "load_pair", "motorcycle"]


class StereoPair:
    """A rectified pair with its left-view disparity.

    Attributes:
        left, right: ``(H, W, 3) uint8`` RGB views.
        disparity: ``(H, W) float32`` px, unknown pixels filled from their nearest known row
            neighbour on the farther side (:func:`spatialme.inpaint.flow.fill_from_background`)
            so the warp can run.
        valid: ``(H, W) bool``, where the given disparity was known.
        name: a label for tables.
    """

    def __init__(self, left: np.ndarray, right: np.ndarray, disparity: np.ndarray, valid: np.ndarray, name: str) -> None:
        self.left, self.right, self.disparity, self.valid, self.name = left, right, disparity, valid, name


def _read_pfm(path: Path) -> np.ndarray:
    with path.open("rb") as fh:
        header = fh.readline().strip()
        if header not in (b"Pf", b"PF"):
            raise ValueError(f"disparity: {path.name} is not a PFM file (header {header[:8]!r})")
        dims = re.findall(rb"\d+", fh.readline())
        if len(dims) != 2:
            raise ValueError(f"disparity: {path.name} has a malformed PFM size line")
        width, height = int(dims[0]), int(dims[1])
        scale = float(fh.readline().strip())
        channels = 3 if header == b"PF" else 1
        data = np.fromfile(fh, "<f4" if scale < 0 else ">f4")
    if data.size != width * height * channels:
        raise ValueError(f"disparity: {path.name} holds {data.size} values, expected {width * height * channels}")
    data = data.reshape(height, width, channels)[..., 0]
    return np.flipud(data).astype(np.float32)


def read_disparity(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Read a left-view disparity map.

    Args:
        path: ``.npy``, ``.pfm`` or ``.png`` (see the module docstring).

    Returns:
        ``(disparity (H, W) float32 px, valid (H, W) bool)``; invalid pixels hold 0.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"disparity: no such file {path}")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        try:
            disp = np.load(path, allow_pickle=False)
        except Exception as exc:  # noqa: BLE001 - any unreadable file is one error line
            raise ValueError(f"disparity: {path.name} is not a readable .npy ({type(exc).__name__})") from None
        if disp.ndim == 3 and disp.shape[0] == 1:
            disp = disp[0]
        if disp.ndim != 2 or not np.issubdtype(disp.dtype, np.number):
            raise ValueError(f"disparity: expected an (H, W) numeric array in {path.name}, got {disp.dtype} {disp.shape}")
        disp = disp.astype(np.float32)
    elif suffix == ".pfm":
        disp = _read_pfm(path)
    elif suffix == ".png":
        raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if raw is None or raw.ndim != 2:
            raise ValueError(f"disparity: {path.name} is not a single-channel PNG")
        disp = raw.astype(np.float32) / (256.0 if raw.dtype == np.uint16 else 1.0)
    else:
        raise ValueError(f"disparity: expected a .npy, .pfm or .png file, got {path.name}")
    valid = np.isfinite(disp) & (disp > 0)
    return np.where(valid, disp, 0.0).astype(np.float32), valid


def _read_image(path: str | os.PathLike, what: str) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f"{what}: {path} is not a readable image")
    return np.ascontiguousarray(image[..., ::-1])


def _pair(left: np.ndarray, right: np.ndarray, disparity: np.ndarray, valid: np.ndarray, name: str) -> StereoPair:
    if right.shape != left.shape:
        raise ValueError(f"right: expected the size of left {left.shape[:2]}, got {right.shape[:2]}")
    if disparity.shape != left.shape[:2]:
        raise ValueError(f"disparity: expected shape {left.shape[:2]} (the images' size), got {disparity.shape}")
    if not valid.any():
        raise ValueError("disparity: no pixel has a known disparity")
    if float(disparity[valid].max()) > left.shape[1]:
        raise ValueError(f"disparity: values up to {float(disparity[valid].max()):.0f} px exceed the width {left.shape[1]}")
    return StereoPair(left, right, fill_from_background(disparity, ~valid, disparity), valid, name)


def load_pair(left: str | os.PathLike, right: str | os.PathLike, disparity: str | os.PathLike) -> StereoPair:
    """A pair from files: two images and the left view's disparity (``.npy``/``.pfm``/``.png``)."""
    disp, valid = read_disparity(disparity)
    return _pair(_read_image(left, "left"), _read_image(right, "right"), disp, valid, Path(left).stem)


def motorcycle() -> StereoPair:
    """Middlebury 2014 *Motorcycle* as bundled by scikit-image (741x500, 7-60 px): evaluation only."""
    try:
        from skimage import data
    except ImportError:  # pragma: no cover - scikit-image is a test dependency
        raise ValueError("pair: the built-in motorcycle pair needs scikit-image (pip install scikit-image)") from None
    left, right, disp = data.stereo_motorcycle()
    disp = np.asarray(disp, np.float32)
    valid = np.isfinite(disp) & (disp > 0)
    return _pair(np.ascontiguousarray(left), np.ascontiguousarray(right), np.where(valid, disp, 0.0).astype(np.float32), valid, "motorcycle")
