"""Poly-based inpainting branch: row-polyline stereo warping.

Why it is built this way
------------------------
The paper's Poly-based branch (Sec. III-B) fills disocclusions with "an advanced polygon
interpolation method [18]" that "treats image rows as polylines, adjusting disparity to
morph these polylines before rasterization". [18] is the polyline fill of the MIT-licensed
``stable-diffusion-webui-depthmap-script``; this module is written from a description of
its observable behaviour alone, and ``tests/data/polylines_check.json`` holds check
vectors of that behaviour.

Every image row is warped on its own:

1. Each source column ``c`` becomes one vertex (``"soft"``) at ``x = c + 0.5 + s(c)``, or two
   vertices (``"sharp"``) at ``x - 0.45`` and ``x + 0.45``, so a pixel is a 0.9 px
   constant-colour segment joined to its neighbour by a 0.1 px link whose colour ramps
   between the two pixels. Two sentinel vertices, at ``x = -W`` with the colour of column 0
   and at ``x = 2W`` with the colour of column ``W - 1`` (both closeness 0), make the
   borders a shift uncovers show the stretched edge colour.
2. Consecutive vertices (in source order) form segments; colour and closeness are
   linearly interpolated along each. A segment that runs backwards after the shift is the
   fold where nearer pixels overtake farther ones; it never contributes.
3. Output pixel ``p`` covers ``[p, p + 1)``. All vertex positions and all integer pixel
   boundaries cut the line into sub-intervals; the winner on a sub-interval is the
   forward segment covering its centre with the largest interpolated closeness ("nearer
   wins"; on an exact tie the segment earlier in source order wins), and the
   sub-interval adds ``length * colour(centre)`` to its pixel, i.e. the exact integral of
   the linear colour. The sum starts at 0.5 and is truncated (it rounds).

A disocclusion gap is therefore covered by the single segment that is stretched between
the two pixels that bound it: a linear gradient from the foreground edge colour to the
background edge colour. That stretch is the polyline "morphing" of the paper; it keeps the
fill stable over time (it is a deterministic function of the row) but it smears the
foreground colour into the gap, the foreground bleeding that the disparity-expansion
branch (paper Algorithm 1) counters and that the MHFU refiner learns to fuse away.

Variant ``"none"`` exists to reproduce the reference's plain forward warp (holes left
black): each source pixel is a 1 px constant-colour segment ``[c + s, c + s + 1)``, with
no links and no sentinels, so uncovered output stays 0.

Where the work is done
----------------------
This module holds the settings, the input checks and the public functions. The row
polyline and the literal method of step 3 are in :mod:`.polyline_rows`; the fast row
rasteriser that gives the same bytes in linear time, and the numba kernel that runs the
rows of an image in parallel, are in :mod:`.polyline_kernel`. Shift and closeness maps
enter the kernel as float32 (the project's disparity dtype; one compiled kernel).
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from ..checks import check_array, check_choice, check_clip, check_disparity, check_finite, check_image
from .polyline_kernel import _warp_image

__all__ = [
    "VARIANTS",
    "PolylineConfig",
    "polyline_warp",
    "polyline_right_view",
    "polyline_right_view_clip",
]

#: Accepted values of ``variant``; ``"none"`` is the plain forward warp with holes left 0.
VARIANTS = ("sharp", "soft", "none")
_MODE = {"soft": 0, "sharp": 1, "none": 2}


@dataclass(frozen=True)
class PolylineConfig:
    """Settings of the Poly-based branch.

    Attributes:
        variant: ``"sharp"`` (pixels stay 0.9 px constant-colour segments joined by
            0.1 px links; crisp edges) or ``"soft"`` (one vertex per pixel, colour ramps
            over whole pixels; a light ``[1/8, 3/4, 1/8]`` blur at zero shift).
            ``"none"`` leaves disocclusions black (for checks only).
    """

    variant: str = "sharp"

    def __post_init__(self) -> None:
        check_choice("variant", self.variant, VARIANTS)


def _check_map(name: str, value, shape: tuple[int, int]) -> np.ndarray:
    """Check an ``(H, W)`` numeric map; returns it C-contiguous float32 (one compiled kernel)."""
    arr = check_array(name, value, (2,))
    if arr.dtype == np.bool_:
        raise ValueError(f"{name}: expected a float array of pixels, got dtype bool")
    if arr.shape != shape:
        raise ValueError(f"{name}: expected shape {shape} to match the image, got {tuple(arr.shape)}")
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    if not arr.flags.writeable:  # a read-only array would compile a second kernel
        arr = arr.copy()
    if not np.isfinite(arr.sum()):  # cheap; the exact check only when the sum is not finite
        check_finite(name, arr)  # NaN, inf, or beyond float32's range
    return arr


def _run(image: np.ndarray, shift: np.ndarray, closeness: np.ndarray | None, variant: str, sign: float, general: bool = False) -> np.ndarray:
    """Run the kernel on checked inputs: ``image (H, W, 3) uint8``, ``shift`` and ``closeness``
    ``(H, W) float32`` C-contiguous (``closeness=None``: ``|shift|``); column ``c`` moves to
    ``c + sign * shift``. ``general=True`` forces the literal method (tests)."""
    clo_abs = closeness is None
    if clo_abs:
        closeness = shift
    image = np.ascontiguousarray(image)
    if not image.flags.writeable:
        image = image.copy()
    nblocks = min(image.shape[0], 16 * max(1, numba.get_num_threads()))
    # blocks are handed out one at a time, so a thread slowed by other load gets fewer
    old = numba.set_parallel_chunksize(1)
    try:
        return _warp_image(image, shift, closeness, _MODE[variant], sign, clo_abs, nblocks, general)
    finally:
        numba.set_parallel_chunksize(old)


def polyline_warp(image: np.ndarray, shift: np.ndarray, variant: str = "sharp", closeness: np.ndarray | None = None) -> np.ndarray:
    """Warp each row of an image as a polyline and rasterise it (the Poly-based branch).

    Args:
        image: ``(H, W, 3) uint8`` RGB image.
        shift: ``(H, W)`` float signed shift in pixels; the source pixel at column ``c``
            moves to ``c + shift``.
        variant: ``"sharp"`` (default), ``"soft"``, or ``"none"`` (plain forward warp with
            uncovered pixels left 0; for checks).
        closeness: optional ``(H, W)`` float, larger = nearer, decides occlusions.
            Defaults to ``|shift|`` as in the reference; for a right view pass the
            disparity (see :func:`polyline_right_view`).

    Returns:
        ``(H, W, 3) uint8`` warped image; disocclusions hold the stretched polyline (a
        gradient between the two bounding edge colours) and uncovered borders the
        stretched edge colour.

    Raises:
        ValueError: naming the argument, for wrong types, shapes or dtypes, NaN or
            infinite values, or an unknown ``variant``.
    """
    check_choice("variant", variant, VARIANTS)
    image = check_image("image", image)
    shape = image.shape[:2]
    shift = _check_map("shift", shift, shape)
    if closeness is not None:
        closeness = _check_map("closeness", closeness, shape)
    return _run(image, shift, closeness, variant, 1.0)


def polyline_right_view(left: np.ndarray, disparity: np.ndarray, variant: str = "sharp") -> np.ndarray:
    """Right view of one frame by the Poly-based branch.

    Args:
        left: ``(H, W, 3) uint8`` left view.
        disparity: ``(H, W)`` float left-view disparity in pixels, ``d >= 0`` near; the
            right view satisfies ``right[y, x - d] = left[y, x]`` and larger ``d`` wins.
        variant: ``"sharp"`` (default) or ``"soft"`` (or ``"none"``).

    Returns:
        ``(H, W, 3) uint8`` right view, equal to
        ``polyline_warp(left, -disparity, variant, closeness=disparity)``.

    Raises:
        ValueError: naming the argument, for bad shapes, dtypes, values or ``variant``.
    """
    check_choice("variant", variant, VARIANTS)
    left = check_image("left", left)
    disparity = _check_map("disparity", disparity, left.shape[:2])
    return _run(left, disparity, disparity, variant, -1.0)


def polyline_right_view_clip(left: np.ndarray, disparity: np.ndarray, variant: str = "sharp") -> np.ndarray:
    """Right views of a clip, frame by frame (rows run in parallel within each frame).

    Args:
        left: ``(T, H, W, 3) uint8`` left views (an ``(H, W, 3)`` image counts as ``T = 1``).
        disparity: ``(T, H, W)`` float left-view disparity in pixels (``(H, W)`` when
            ``T = 1``), ``d >= 0`` near.
        variant: ``"sharp"`` (default) or ``"soft"`` (or ``"none"``).

    Returns:
        ``(T, H, W, 3) uint8`` right views.

    Raises:
        ValueError: naming the argument, for bad shapes, dtypes, values or ``variant``.
    """
    check_choice("variant", variant, VARIANTS)
    clip = check_clip("left", left)
    T, H, W = clip.shape[:3]
    disp = check_disparity("disparity", disparity, T, H, W)
    out = np.empty_like(clip)
    for t in range(T):
        out[t] = _run(clip[t], disp[t], disp[t], variant, -1.0)
    return out
