"""Still images: decoded and encoded with OpenCV, written atomically, always 8-bit RGB."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..checks import check_image
from .atomic import atomic_write
from .errors import VideoError, _check_input_file, _name
from .naming import IMAGE_EXTENSIONS

__all__ = ["read_image", "write_image"]


def read_image(path: str | os.PathLike[str]) -> np.ndarray:
    """Decode a still image with OpenCV.

    EXIF orientation is applied, alpha is dropped, 16-bit and grey images become 8-bit RGB.

    Args:
        path: an image file (any format OpenCV reads; see :data:`~spatialme.io.naming.IMAGE_EXTENSIONS`).

    Returns:
        ``(H, W, 3)`` uint8 RGB.

    Raises:
        VideoError: missing, empty or undecodable file.
    """
    import cv2

    p = _check_input_file(path)
    data = np.fromfile(p, dtype=np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if image is None or image.ndim != 3 or 0 in image.shape:
        raise VideoError(f"{_name(p)}: not an image (could not decode it)")
    return np.ascontiguousarray(image[:, :, ::-1])


def write_image(path: str | os.PathLike[str], image: np.ndarray) -> None:
    """Write an RGB image atomically (:func:`~spatialme.io.atomic.atomic_write`).

    Args:
        path: destination; the suffix picks the format (.png lossless; .jpg/.jpeg quality 95;
            .webp quality 95; .bmp, .tif, .tiff). The folder is created if missing.
        image: ``(H, W, 3)`` uint8 RGB.

    Raises:
        ValueError: bad ``image`` or unsupported suffix.
        VideoError: the encoder failed, or the folder takes no files.
    """
    import cv2

    image = check_image("image", image)
    dest = os.fspath(path)
    suffix = Path(dest).suffix.lower()
    if suffix not in IMAGE_EXTENSIONS:
        raise ValueError(f"path: unsupported image suffix {suffix!r}; use one of {', '.join(IMAGE_EXTENSIONS)}")
    params = {".jpg": [cv2.IMWRITE_JPEG_QUALITY, 95], ".jpeg": [cv2.IMWRITE_JPEG_QUALITY, 95],
              ".webp": [cv2.IMWRITE_WEBP_QUALITY, 95], ".png": [cv2.IMWRITE_PNG_COMPRESSION, 3]}.get(suffix, [])
    ok, encoded = cv2.imencode(suffix, np.ascontiguousarray(image[:, :, ::-1]), params)
    if not ok:
        raise VideoError(f"{_name(dest)}: could not encode the image as {suffix}")
    with atomic_write(dest) as tmp, open(tmp, "wb") as f:
        f.write(encoded.tobytes())
