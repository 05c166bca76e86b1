"""Compose a stereo pair into the frame layout a display or player expects (paper Fig. 2, stage 6).

Why it is built this way
------------------------
The pipeline ends with two views of the same size, ``left`` and ``right`` (``(H, W, 3)``
or ``(T, H, W, 3)`` uint8 RGB). What a viewer needs depends on the device, so
this module offers the layouts that public converters ship (iw3 offers full/half SBS, full/half TB, cross-eyed and several anaglyphs):

==================  ===============  ==============================================
format              output (H, W)    layout
==================  ===============  ==============================================
``full-sbs``        ``(H, 2W)``      left | right, full resolution per eye
``half-sbs``        ``(H, W)``       each eye squeezed to half width (3D TVs)
``full-tb``         ``(2H, W)``      left over right, full resolution per eye
``half-tb``         ``(H, W)``       each eye squeezed to half height
``cross``           ``(H, 2W)``      right | left, for cross-eyed free viewing
``right``           ``(H, W)``       the synthesised right view alone
``anaglyph``        ``(H, W)``       red-cyan, Dubois least-squares projection
``anaglyph-color``  ``(H, W)``       red from left, green and blue from right
``anaglyph-gray``   ``(H, W)``       red = luma(left), green = blue = luma(right)
==================  ===============  ==============================================

Half layouts resize with ``cv2.INTER_AREA`` (a box filter, the right choice for
downscaling: no aliasing, exact pair averages at a factor of 2). For an odd size the left
(or top) eye gets the larger half, so the output always has the input's size.

Every anaglyph is a pair of 3x3 matrices, ``out = clip(A_L @ left + A_R @ right)`` per
pixel, evaluated on RGB in ``[0, 1]`` and rounded to uint8:

* Dubois: the red-cyan least-squares projection of E. Dubois, "A projection method to
  generate anaglyph stereo images", Proc. IEEE ICASSP 2001, vol. 3, pp. 1661-1664, with the
  red-cyan matrix pair he published for it (also on his page
  ``site.uottawa.ca/~edubois/anaglyph/``). Dubois derived them for *linear* light. Most
  players and tools apply them straight to gamma-encoded sRGB; that is an approximation
  (a darker, slightly different colour balance) but it is what viewers are used to, so it
  is the default here. ``linear=True`` decodes sRGB to linear light first (IEC 61966-2-1
  transfer function) and re-encodes the result.
* Colour: the plain channel split (no mixing), brightest but with retinal rivalry on
  saturated reds and cyans.
* Grey: ITU-R BT.601 luma weights ``(0.299, 0.587, 0.114)`` per eye; no colour, least
  rivalry.

Filename tags (:func:`layout_tag`) follow the suffixes VR players read to pick a layout
without user input. SKYBOX (``skybox.xyz`` support page "Add suffix to help recognize the
correct format") treats ``LR``/``SBS``/``HSBS``/``3dh`` as side-by-side and
``TB``/``OU``/``HOU``/``3dv`` as top-bottom; Rad TV (``docs.rad.live`` "File Naming
Conventions") looks for ``sbs``/``lr``/``rl`` and ``tb``/``ou`` anywhere in the name. The
tags below are chosen to be recognised by both and to say "half" where the eye is
squeezed: ``_LR``, ``_HSBS``, ``_TB``, ``_HOU``, ``_RL`` (cross). The single right view is
tagged ``_right`` rather than ``_R``, because some players read a trailing ``_r`` as an
R-L side-by-side frame; the anaglyphs are tagged ``_anaglyph`` (none of the layout
substrings, so players show them flat, as they should).

Aliases (:func:`canonical_format`): ``sbs``/``lr`` mean ``full-sbs`` and ``tb``/``ou``
mean ``full-tb``, because VR players play an unqualified TB/SBS file at full resolution
per eye (a 2x-tall / 2x-wide frame); the squeezed variants must be asked for by name
(``half-sbs``, ``hsbs``, ``half-tb``, ``hou``).
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from .checks import check_clip

__all__ = [
    "ALIASES",
    "DUBOIS_LEFT",
    "DUBOIS_RIGHT",
    "FORMATS",
    "LUMA_BT601",
    "anaglyph_color",
    "anaglyph_dubois",
    "anaglyph_gray",
    "canonical_format",
    "compose",
    "cross_eyed",
    "layout_tag",
    "output_shape",
    "right_only",
    "side_by_side",
    "top_bottom",
]

FORMATS: tuple[str, ...] = (
    "full-sbs",
    "half-sbs",
    "full-tb",
    "half-tb",
    "cross",
    "right",
    "anaglyph",
    "anaglyph-color",
    "anaglyph-gray",
)

ALIASES: dict[str, str] = {
    "sbs": "full-sbs",
    "lr": "full-sbs",
    "fsbs": "full-sbs",
    "hsbs": "half-sbs",
    "tb": "full-tb",
    "ou": "full-tb",
    "full-ou": "full-tb",
    "htb": "half-tb",
    "hou": "half-tb",
    "half-ou": "half-tb",
    "rl": "cross",
    "cross-eyed": "cross",
    "crosseyed": "cross",
    "right-only": "right",
    "dubois": "anaglyph",
    "red-cyan": "anaglyph",
    "anaglyph-dubois": "anaglyph",
    "anaglyph-colour": "anaglyph-color",
    "color": "anaglyph-color",
    "colour": "anaglyph-color",
    "anaglyph-grey": "anaglyph-gray",
    "gray": "anaglyph-gray",
    "grey": "anaglyph-gray",
}

_TAGS: dict[str, str] = {
    "full-sbs": "_LR",
    "half-sbs": "_HSBS",
    "full-tb": "_TB",
    "half-tb": "_HOU",
    "cross": "_RL",
    "right": "_right",
    "anaglyph": "_anaglyph",
    "anaglyph-color": "_anaglyph",
    "anaglyph-gray": "_anaglyph",
}


def _frozen(rows: list[list[float]]) -> np.ndarray:
    """Return a read-only float64 matrix."""
    arr = np.array(rows, dtype=np.float64)
    arr.flags.writeable = False
    return arr


#: Dubois (2001) red-cyan projection, applied to the left view's RGB.
DUBOIS_LEFT = _frozen([[0.456, 0.500, 0.176], [-0.040, -0.038, -0.016], [-0.015, -0.021, -0.005]])
#: Dubois (2001) red-cyan projection, applied to the right view's RGB.
DUBOIS_RIGHT = _frozen([[-0.043, -0.088, -0.002], [0.378, 0.734, -0.018], [-0.072, -0.113, 1.226]])
#: ITU-R BT.601 luma weights for R, G, B.
LUMA_BT601 = (0.299, 0.587, 0.114)

_GRAY_LEFT = _frozen([list(LUMA_BT601), [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
_GRAY_RIGHT = _frozen([[0.0, 0.0, 0.0], list(LUMA_BT601), list(LUMA_BT601)])


# --------------------------------------------------------------------------- names


def canonical_format(name: str) -> str:
    """Resolve a format name or alias to one of :data:`FORMATS`.

    Matching ignores case, surrounding spaces, and ``_`` versus ``-``.

    Args:
        name: a format such as ``"half-sbs"`` or an alias such as ``"tb"`` (= ``"full-tb"``),
            ``"sbs"`` (= ``"full-sbs"``), ``"rl"``/``"cross-eyed"`` (= ``"cross"``) or
            ``"dubois"`` (= ``"anaglyph"``).

    Returns:
        The canonical format name.

    Raises:
        ValueError: naming ``format`` when the name is unknown or not a string.
    """
    if not isinstance(name, str):
        raise ValueError(f"format: expected a string, got {type(name).__name__}")
    key = name.strip().lower().replace("_", "-")
    key = ALIASES.get(key, key)
    if key not in FORMATS:
        choices = ", ".join(FORMATS)
        raise ValueError(f"format: expected one of {choices} (or an alias: {', '.join(ALIASES)}); got {name!r}")
    return key


def layout_tag(fmt: str) -> str:
    """Filename tag that lets VR players detect the layout (e.g. ``movie_LR.mp4``).

    Args:
        fmt: a format name or alias.

    Returns:
        ``"_LR"`` (full-sbs), ``"_HSBS"`` (half-sbs), ``"_TB"`` (full-tb), ``"_HOU"``
        (half-tb), ``"_RL"`` (cross), ``"_right"`` (right) or ``"_anaglyph"`` (all
        anaglyphs). See the module docstring for the sources.
    """
    return _TAGS[canonical_format(fmt)]


def output_shape(fmt: str, height: int, width: int) -> tuple[int, int]:
    """Frame size ``(H_out, W_out)`` that :func:`compose` produces for ``(height, width)`` views.

    Args:
        fmt: a format name or alias.
        height: height of one view in pixels (>= 1; >= 2 for ``half-tb``).
        width: width of one view in pixels (>= 1; >= 2 for ``half-sbs``).

    Raises:
        ValueError: naming ``format``, ``height`` or ``width``.
    """
    fmt = canonical_format(fmt)
    h = _check_size("height", height, 2 if fmt == "half-tb" else 1)
    w = _check_size("width", width, 2 if fmt == "half-sbs" else 1)
    if fmt in ("full-sbs", "cross"):
        return h, 2 * w
    if fmt == "full-tb":
        return 2 * h, w
    return h, w


def _check_size(name: str, value: int, minimum: int) -> int:
    """Check a positive integer size."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name}: expected an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name}: expected at least {minimum}, got {value}")
    return int(value)


# --------------------------------------------------------------------------- inputs


def _pair(left: np.ndarray, right: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
    """Validate a stereo pair.

    Returns:
        ``(left, right, single)``: both as ``(T, H, W, 3) uint8`` clips, and whether the
        input was a single ``(H, W, 3)`` image.
    """
    lc = check_clip("left", left)
    rc = check_clip("right", right)
    if left.shape != right.shape:
        raise ValueError(f"right: expected the shape of left {left.shape}, got {right.shape}")
    return lc, rc, left.ndim == 3


def _restore(clip: np.ndarray, single: bool) -> np.ndarray:
    """Drop the frame axis again when the input was a single image."""
    return clip[0] if single else clip


def _resize_clip(clip: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize every frame of a ``(T, H, W, 3) uint8`` clip with ``cv2.INTER_AREA``."""
    out = np.empty((clip.shape[0], height, width, 3), np.uint8)
    for t, frame in enumerate(clip):
        out[t] = cv2.resize(np.ascontiguousarray(frame), (width, height), interpolation=cv2.INTER_AREA)
    return out


# --------------------------------------------------------------------------- layouts


def side_by_side(left: np.ndarray, right: np.ndarray, half: bool = False) -> np.ndarray:
    """Left view on the left, right view on the right.

    Args:
        left: ``(H, W, 3)`` or ``(T, H, W, 3)`` uint8.
        right: same shape as ``left``.
        half: squeeze each eye to half width so the output keeps the input's size; for odd
            ``W`` the left eye gets ``ceil(W / 2)`` columns and the right eye ``floor(W / 2)``.

    Returns:
        ``(..., H, 2W, 3)`` uint8, or ``(..., H, W, 3)`` when ``half``.
    """
    lc, rc, single = _pair(left, right)
    return _restore(_join(lc, rc, axis=2, half=half), single)


def top_bottom(left: np.ndarray, right: np.ndarray, half: bool = False) -> np.ndarray:
    """Left view on top, right view below.

    Args:
        left: ``(H, W, 3)`` or ``(T, H, W, 3)`` uint8.
        right: same shape as ``left``.
        half: squeeze each eye to half height so the output keeps the input's size; for odd
            ``H`` the top (left) eye gets ``ceil(H / 2)`` rows.

    Returns:
        ``(..., 2H, W, 3)`` uint8, or ``(..., H, W, 3)`` when ``half``.
    """
    lc, rc, single = _pair(left, right)
    return _restore(_join(lc, rc, axis=1, half=half), single)


def cross_eyed(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Right view on the left, left view on the right (full width), for cross-eyed viewing.

    Args:
        left: ``(H, W, 3)`` or ``(T, H, W, 3)`` uint8.
        right: same shape as ``left``.

    Returns:
        ``(..., H, 2W, 3)`` uint8.
    """
    lc, rc, single = _pair(left, right)
    return _restore(_join(rc, lc, axis=2, half=False), single)


def right_only(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """The right view alone (e.g. to pair with the untouched original in an editor).

    Args:
        left: ``(H, W, 3)`` or ``(T, H, W, 3)`` uint8 (validated, not used).
        right: same shape as ``left``.

    Returns:
        A copy of ``right``, same shape.
    """
    _pair(left, right)
    return right.copy()


def _join(first: np.ndarray, second: np.ndarray, axis: int, half: bool) -> np.ndarray:
    """Concatenate two ``(T, H, W, 3)`` clips along ``axis`` (1 = rows, 2 = columns)."""
    if half:
        t, h, w, _ = first.shape
        size = (h, w)[axis - 1]
        name = "height" if axis == 1 else "width"
        if size < 2:
            raise ValueError(f"left: a half layout needs a {name} of at least 2, got shape {first.shape}")
        big, small = size - size // 2, size // 2
        if axis == 1:
            first, second = _resize_clip(first, big, w), _resize_clip(second, small, w)
        else:
            first, second = _resize_clip(first, h, big), _resize_clip(second, h, small)
    return np.concatenate([first, second], axis=axis)


# --------------------------------------------------------------------------- anaglyphs


def _srgb_decode_table() -> np.ndarray:
    """Linear-light value in [0, 1] of every uint8 sRGB code (IEC 61966-2-1), float32 ``(256,)``."""
    c = np.arange(256, dtype=np.float64) / 255.0
    lin = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    return lin.astype(np.float32)


_LINEAR_TABLE = _srgb_decode_table()


def _srgb_encode(lin: np.ndarray) -> np.ndarray:
    """sRGB-encode linear values in [0, 1] (IEC 61966-2-1); same shape, float32."""
    return np.where(lin <= 0.0031308, 12.92 * lin, 1.055 * np.power(lin, 1.0 / 2.4) - 0.055).astype(np.float32)


def _mix_frame(
    left: np.ndarray, right: np.ndarray, mat_left: np.ndarray, mat_right: np.ndarray, linear: bool
) -> np.ndarray:
    """Apply ``clip(mat_left @ left + mat_right @ right)`` to every pixel of one frame pair.

    Args:
        left, right: ``(H, W, 3) uint8`` frames.
        mat_left, mat_right: ``(3, 3) float32`` matrices acting on RGB column vectors.
        linear: decode sRGB to linear light before mixing and re-encode after.

    Returns:
        ``(H, W, 3) float32`` in ``[0, 255]``, already rounded to whole numbers.
    """
    left, right = np.ascontiguousarray(left), np.ascontiguousarray(right)
    if linear:  # [0, 1] linear light; the matrices are scale-free, so no rescaling needed
        a, b = cv2.LUT(left, _LINEAR_TABLE), cv2.LUT(right, _LINEAR_TABLE)
    else:  # the matrices are linear maps, so they act on 0..255 codes directly
        a, b = left.astype(np.float32), right.astype(np.float32)
    mixed = cv2.transform(a, mat_left)
    mixed += cv2.transform(b, mat_right)
    if linear:
        np.clip(mixed, 0.0, 1.0, out=mixed)
        mixed = _srgb_encode(mixed) * np.float32(255.0)
    np.clip(mixed, 0.0, 255.0, out=mixed)
    return np.rint(mixed, out=mixed)


def _mix(left: np.ndarray, right: np.ndarray, mat_left: np.ndarray, mat_right: np.ndarray, linear: bool) -> np.ndarray:
    """Per-pixel 3x3 mixing of two ``(T, H, W, 3) uint8`` clips into one, rounded to uint8.

    Vectorised per frame with ``cv2.transform``; looping over frames keeps the float32
    working set to one frame.
    """
    ml = np.asarray(mat_left, dtype=np.float32)
    mr = np.asarray(mat_right, dtype=np.float32)
    out = np.empty(left.shape, np.uint8)
    for t in range(left.shape[0]):
        out[t] = _mix_frame(left[t], right[t], ml, mr, linear)
    return out


def anaglyph_dubois(left: np.ndarray, right: np.ndarray, linear: bool = False) -> np.ndarray:
    """Red-cyan anaglyph by Dubois' least-squares projection (:data:`DUBOIS_LEFT`, :data:`DUBOIS_RIGHT`).

    Args:
        left: ``(H, W, 3)`` or ``(T, H, W, 3)`` uint8 RGB; seen through the red filter.
        right: same shape as ``left``; seen through the cyan filter.
        linear: if True, decode sRGB to linear light, project (as Dubois derived the
            matrices), and re-encode; if False (default, what most tools do), project the
            gamma-encoded values directly.

    Returns:
        Same shape as ``left``, uint8.
    """
    lc, rc, single = _pair(left, right)
    return _restore(_mix(lc, rc, DUBOIS_LEFT, DUBOIS_RIGHT, bool(linear)), single)


def anaglyph_color(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Colour red-cyan anaglyph: red channel of ``left``, green and blue of ``right``.

    Args:
        left: ``(H, W, 3)`` or ``(T, H, W, 3)`` uint8 RGB.
        right: same shape as ``left``.

    Returns:
        Same shape as ``left``, uint8 (values copied exactly).
    """
    _pair(left, right)
    out = right.copy()
    out[..., 0] = left[..., 0]
    return out


def anaglyph_gray(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Grey red-cyan anaglyph: red = BT.601 luma of ``left``, green = blue = luma of ``right``.

    Args:
        left: ``(H, W, 3)`` or ``(T, H, W, 3)`` uint8 RGB.
        right: same shape as ``left``.

    Returns:
        Same shape as ``left``, uint8; luma rounded to nearest.
    """
    lc, rc, single = _pair(left, right)
    return _restore(_mix(lc, rc, _GRAY_LEFT, _GRAY_RIGHT, False), single)


# --------------------------------------------------------------------------- dispatch

_COMPOSERS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "full-sbs": lambda a, b: side_by_side(a, b, half=False),
    "half-sbs": lambda a, b: side_by_side(a, b, half=True),
    "full-tb": lambda a, b: top_bottom(a, b, half=False),
    "half-tb": lambda a, b: top_bottom(a, b, half=True),
    "cross": cross_eyed,
    "right": right_only,
    "anaglyph-color": anaglyph_color,
    "anaglyph-gray": anaglyph_gray,
}


def compose(left: np.ndarray, right: np.ndarray, fmt: str, *, linear: bool = False) -> np.ndarray:
    """Compose a stereo pair into one output frame (or clip) in format ``fmt``.

    Args:
        left: ``(H, W, 3)`` or ``(T, H, W, 3)`` uint8 RGB, the left eye.
        right: same shape as ``left``, the right eye.
        fmt: one of :data:`FORMATS` or an alias (see :func:`canonical_format`).
        linear: for ``"anaglyph"`` (Dubois) only: project in linear light (see
            :func:`anaglyph_dubois`). Ignored by the other formats, so one setting can be
            passed for any format.

    Returns:
        uint8 array of the input's rank: ``(H_out, W_out, 3)`` or ``(T, H_out, W_out, 3)``
        with ``(H_out, W_out) = output_shape(fmt, H, W)``.

    Raises:
        ValueError: naming ``format``, ``left`` or ``right``.
    """
    name = canonical_format(fmt)
    if name == "anaglyph":
        return anaglyph_dubois(left, right, linear=linear)
    return _COMPOSERS[name](left, right)
