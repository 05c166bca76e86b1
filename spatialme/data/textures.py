"""Photo textures for the synthetic stereo scenes: list, load and split a folder of images.

Why it is built this way
------------------------
Synthetic scenes (``spatialme.data.synthetic``) paint real photos on planes and blobs, so
the learned parts see natural image statistics while the geometry stays exact. The
photos come from a plain folder: ``scripts/make_textures.py`` fills one from sources that
need no network beyond the package registries, and a handful of small public-domain
ones are committed under ``assets/textures`` for tests and demos.

A model is only honestly evaluated on scenes painted with photos it never trained on, so
:func:`split_textures` splits by a hash of each *file name* (not its position in a list
nor the folder's location): a photo keeps its side when others are added or removed, and
train and test never share one.

Seventy-odd photos are few: a refiner trained longer on them scored better on new scenes
painted with them but not on held-out photos (model card). :func:`vary_texture` gives a
training scene other-looking photos (colours turned, flipped, transposed, another gamma)
without new files; evaluation scenes never use it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from ..checks import check_range

__all__ = [
    "DEFAULT_TEXTURE_DIR",
    "IMAGE_SUFFIXES",
    "list_textures",
    "read_texture",
    "load_textures",
    "split_textures",
    "resize_short_side",
    "vary_texture",
]

_INSTALLED_TEXTURES = Path(__file__).resolve().parents[1] / "_textures"
#: The committed textures: the installed package's own copy, else the checkout's ``assets/textures``.
DEFAULT_TEXTURE_DIR = _INSTALLED_TEXTURES if _INSTALLED_TEXTURES.is_dir() else Path(__file__).resolve().parents[2] / "assets" / "textures"

#: File suffixes read as images (lower case).
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp")


def list_textures(folder: str | Path | None = None) -> list[Path]:
    """List the image files of a texture folder, sorted by name.

    Args:
        folder: a folder of images (searched recursively); ``None`` = the committed
            ``assets/textures``.

    Returns:
        Sorted paths of the files whose suffix is in :data:`IMAGE_SUFFIXES`.

    Raises:
        ValueError: ``folder`` is not an existing directory.
    """
    root = Path(DEFAULT_TEXTURE_DIR if folder is None else folder)
    if not root.is_dir():
        raise ValueError(f"folder: not a directory: {root}")
    files = [p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    return sorted(files, key=lambda p: (p.relative_to(root).as_posix(), p.name))


def read_texture(path: str | Path) -> np.ndarray:
    """Read one image as RGB.

    Args:
        path: image file; grey images are repeated to three channels and an alpha channel
            is dropped.

    Returns:
        ``(H, W, 3) uint8`` RGB image.

    Raises:
        ValueError: the file cannot be read as an image.
    """
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f"path: cannot read an image from {path}")
    return np.ascontiguousarray(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))


def load_textures(folder: str | Path | Sequence[str | Path] | None = None) -> list[np.ndarray]:
    """Load every texture of a folder (or a list of files) as RGB images.

    Args:
        folder: a folder (see :func:`list_textures`), an explicit sequence of image paths
            (for instance one side of :func:`split_textures`), or ``None`` for the committed
            ``assets/textures``.

    Returns:
        List of ``(H, W, 3) uint8`` RGB images, in file-name order for a folder.

    Raises:
        ValueError: no image was found, or a file cannot be read.
    """
    if folder is None or isinstance(folder, (str, Path)):
        paths = list_textures(folder)
    else:
        paths = [Path(p) for p in folder]
    if not paths:
        raise ValueError(f"folder: no images ({', '.join(IMAGE_SUFFIXES)}) found in {folder}")
    return [read_texture(p) for p in paths]


def _name_fraction(name: str, seed: int) -> float:
    """Map a file name to a stable number in ``[0, 1)`` (SHA-1 of ``"seed:name"``)."""
    digest = hashlib.sha1(f"{seed}:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def split_textures(
    paths: Sequence[str | Path], test_fraction: float = 0.2, seed: int = 0
) -> tuple[list[Path], list[Path]]:
    """Split texture files into train and test sides by a hash of each file name.

    A file goes to the test side when the hash of ``"{seed}:{file name}"`` maps below
    ``test_fraction``, so its side depends on nothing but its name and the seed. Only
    when that leaves one side empty while the other has two or more files (tiny sets) is
    the file nearest the threshold moved over, so both sides are usable.

    Args:
        paths: texture files; only their file names (not folders) enter the hash.
        test_fraction: expected share of the test side, in ``[0, 1]``.
        seed: another seed gives another, equally stable split.

    Returns:
        ``(train, test)``: disjoint lists of paths in input order.

    Raises:
        ValueError: a bad ``test_fraction`` or duplicate file names.
    """
    test_fraction = check_range("test_fraction", test_fraction, 0.0, 1.0)
    items = [Path(p) for p in paths]
    names = [p.name for p in items]
    if len(set(names)) != len(names):
        raise ValueError("paths: file names must be unique (the split hashes names)")
    score = [_name_fraction(n, seed) for n in names]
    is_test = [s < test_fraction for s in score]
    if len(items) >= 2 and 0.0 < test_fraction < 1.0:
        if not any(is_test):
            is_test[int(np.argmin(score))] = True
        elif all(is_test):
            is_test[int(np.argmax(score))] = False
    train = [p for p, t in zip(items, is_test, strict=True) if not t]
    test = [p for p, t in zip(items, is_test, strict=True) if t]
    return train, test


def resize_short_side(image: np.ndarray, size: int) -> np.ndarray:
    """Resize an image so its shorter side is ``size`` px, keeping the aspect ratio.

    Area averaging when shrinking (no aliasing), bicubic when enlarging.

    Args:
        image: ``(H, W, C)`` or ``(H, W)`` image.
        size: target length of the shorter side, px.

    Returns:
        The resized image, same dtype.
    """
    if not isinstance(image, np.ndarray) or image.ndim not in (2, 3) or 0 in image.shape:
        raise ValueError(f"image: expected a non-empty (H, W[, C]) array, got {getattr(image, 'shape', image)!r}")
    size = int(check_range("size", size, 1, 1 << 16))
    h, w = image.shape[:2]
    scale = size / min(h, w)
    new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
    if h < w:
        new_h = size
    else:
        new_w = size
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    return cv2.resize(image, (new_w, new_h), interpolation=interp)


def vary_texture(texture: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Another look of the same photo, for training scenes: same structure, other colours.

    The colour channels are permuted, the hue turned by a random angle and the saturation
    scaled by 0.6-1.3 (HSV), the tone curve bent by a gamma in 0.7-1.4; then the image is
    flipped upside down and / or transposed, each with probability 1/2. Edges, texture
    scale and noise stay those of a real photo.

    Args:
        texture: ``(H, W, 3) uint8`` RGB.
        rng: the random source (the only one used).

    Returns:
        ``(H, W, 3)`` or, transposed, ``(W, H, 3) uint8``.
    """
    if not isinstance(texture, np.ndarray) or texture.dtype != np.uint8 or texture.ndim != 3 or texture.shape[2] != 3:
        raise ValueError(f"texture: expected an (H, W, 3) uint8 array, got {getattr(texture, 'dtype', type(texture))} {getattr(texture, 'shape', '')}")
    out = np.ascontiguousarray(texture[..., rng.permutation(3)])
    hsv = cv2.cvtColor(out, cv2.COLOR_RGB2HSV)
    hsv[..., 0] = ((hsv[..., 0].astype(np.int32) + int(rng.integers(0, 180))) % 180).astype(np.uint8)  # OpenCV hue: 0-179
    hsv[..., 1] = np.clip(hsv[..., 1].astype(np.float32) * rng.uniform(0.6, 1.3), 0, 255).astype(np.uint8)
    out = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
    lut = np.clip(255.0 * (np.arange(256) / 255.0) ** rng.uniform(0.7, 1.4) + 0.5, 0, 255).astype(np.uint8)
    out = lut[out]
    if rng.random() < 0.5:
        out = out[::-1]
    if rng.random() < 0.5:
        out = out.transpose(1, 0, 2)
    return np.ascontiguousarray(out)
