"""Input validation shared by every public function.

Each check raises ``ValueError`` whose message names the offending argument, so a
user sees ``disparity: expected shape (H, W) or (T, H, W), got (3, 4, 5, 6)`` rather
than a stack trace from deep inside a kernel (kornia's ``KORNIA_CHECK_SHAPE`` and
diffusers' ``check_inputs`` habit).
"""

from __future__ import annotations

from typing import Any

import numpy as np


def check_array(name: str, value: Any, ndims: tuple[int, ...], dtypes: tuple[type, ...] | None = None) -> np.ndarray:
    """Return ``value`` as an ndarray after checking its rank and dtype.

    Args:
        name: argument name used in the error message.
        value: the object to check.
        ndims: accepted numbers of dimensions.
        dtypes: accepted numpy dtypes (``None`` = any numeric).
    """
    if not isinstance(value, np.ndarray):
        raise ValueError(f"{name}: expected a numpy array, got {type(value).__name__}")
    if value.ndim not in ndims:
        raise ValueError(f"{name}: expected {' or '.join(str(n) for n in ndims)} dimensions, got shape {value.shape}")
    if dtypes is not None and value.dtype.type not in dtypes:
        names = ", ".join(np.dtype(d).name for d in dtypes)
        raise ValueError(f"{name}: expected dtype {names}, got {value.dtype}")
    if dtypes is None and not (np.issubdtype(value.dtype, np.number) or value.dtype == np.bool_):
        raise ValueError(f"{name}: expected a numeric array, got dtype {value.dtype}")
    if 0 in value.shape:
        raise ValueError(f"{name}: empty array of shape {value.shape}")
    return value


def check_image(name: str, value: Any) -> np.ndarray:
    """Check one RGB image ``(H, W, 3) uint8``."""
    arr = check_array(name, value, (3,), (np.uint8,))
    if arr.shape[2] != 3:
        raise ValueError(f"{name}: expected shape (H, W, 3), got {arr.shape}")
    return arr


def check_clip(name: str, value: Any) -> np.ndarray:
    """Check an RGB image or clip; returns a clip ``(T, H, W, 3) uint8``."""
    arr = check_array(name, value, (3, 4), (np.uint8,))
    if arr.shape[-1] != 3:
        raise ValueError(f"{name}: expected shape (H, W, 3) or (T, H, W, 3), got {arr.shape}")
    return arr[None] if arr.ndim == 3 else arr


def check_finite(name: str, value: np.ndarray) -> np.ndarray:
    """Reject NaN and infinite values."""
    if not np.isfinite(value).all():
        raise ValueError(f"{name}: contains NaN or infinite values")
    return value


def check_disparity_values(name: str, value: np.ndarray, width: int) -> np.ndarray:
    """Reject NaN, infinities and disparities beyond the frame width.

    A disparity is a horizontal shift in px; one larger than the frame is wide moves the pixel
    out of the frame altogether, so ``|d| <= width`` is the limit (``1e6`` or ``3e38`` px are
    a wrong unit or garbage, not a strong 3D effect). Used on disparity a user supplies
    (:meth:`spatialme.StereoPipeline.convert`); internal stages that pass coarse pyramid
    levels full-resolution disparities use :func:`check_disparity` alone.

    Args:
        name: argument name for messages.
        value: disparity px, any shape, float or int.
        width: frame width, px.

    Returns:
        ``value`` unchanged. Two reductions (min, max) and no temporary array.
    """
    lo, hi = float(np.min(value)), float(np.max(value))  # NaN propagates through both
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise ValueError(f"{name}: contains NaN or infinite values")
    if lo < -width or hi > width:
        worst = hi if hi > width else lo
        raise ValueError(f"{name}: {worst:.4g} px is beyond the frame width; expected values from -{width} to {width} px")
    return value


def check_disparity(name: str, value: Any, frames: int, height: int, width: int) -> np.ndarray:
    """Check a disparity map against the frames it belongs to.

    Args:
        name: argument name for messages.
        value: ``(H, W)`` or ``(T, H, W)`` finite disparity in pixels (any float or int dtype).
        frames, height, width: the clip's ``T, H, W``; an ``(H, W)`` map needs ``frames == 1``.

    Returns:
        ``(T, H, W) float32`` disparity px.
    """
    arr = check_array(name, value, (2, 3))
    if arr.dtype == np.bool_:
        raise ValueError(f"{name}: expected a float array of pixels, got dtype bool")
    if arr.ndim == 2:
        arr = arr[None]
    if arr.shape != (frames, height, width):
        raise ValueError(f"{name}: expected shape {(frames, height, width)} to match the frames, got {tuple(arr.shape)}")
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    return check_finite(name, arr)


def check_range(name: str, value: float, low: float, high: float) -> float:
    """Check a scalar lies in ``[low, high]``."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: expected a number, got {value!r}") from None
    if not np.isfinite(v) or not (low <= v <= high):
        raise ValueError(f"{name}: expected a value in [{low}, {high}], got {value!r}")
    return v


def check_choice(name: str, value: Any, choices: tuple[str, ...] | list[str]) -> str:
    """Check ``value`` is one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{name}: expected one of {', '.join(map(str, choices))}; got {value!r}")
    return value


def check_int(name: str, value: Any, low: int | None = None, high: int | None = None, *, optional: bool = False) -> int | None:
    """Return ``value`` after checking it is an integer (not a bool) within ``[low, high]``.

    Args:
        name: argument name used in the error message.
        value: the object to check.
        low, high: inclusive bounds (``None`` = unbounded on that side).
        optional: also accept ``None`` (returned as is).

    Example:
        >>> check_int("chunk", 16, 1, 1024)
        16
        >>> check_int("chunk", 0, 1)
        Traceback (most recent call last):
        ...
        ValueError: chunk: expected an integer >= 1, got 0
    """
    if optional and value is None:
        return None
    ok = isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))
    if ok and (low is None or value >= low) and (high is None or value <= high):
        return int(value)
    if low is not None and high is not None:
        want = f"an integer in [{low}, {high}]"
    elif low is not None:
        want = f"an integer >= {low}"
    elif high is not None:
        want = f"an integer <= {high}"
    else:
        want = "an integer"
    raise ValueError(f"{name}: expected {'None or ' if optional else ''}{want}, got {value!r}")

