"""Where the networks run: the one place that turns a device name into a device.

The parts that run torch take a device *name*, ``"auto"``, ``"cpu"``, ``"cuda"``,
``"cuda:N"`` or ``"mps"``, and resolve it here: the depth model, the learned inpainter, the
pipeline (and through it the refiner and the web app) and the LPIPS metric.
:func:`resolve_device` checks the name, turns ``"auto"`` into CUDA when torch sees a GPU
and into the CPU otherwise (never MPS: ask for it by name), and checks that an explicitly
requested accelerator exists, so a wrong name or a missing GPU fails at once with a
one-line ``ValueError`` rather than deep inside a ``.to()`` call.
:func:`check_device_name` is the spelling check alone, for configs that are built before
(or without) torch being imported.

On a ZeroGPU Space ``spaces`` patches torch before it is imported, so ``"auto"`` sees CUDA
there outside GPU functions too and the models load onto it at start-up.
"""

from __future__ import annotations

import re
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # torch is imported only when a device is resolved
    import torch

__all__ = ["DEVICE_NAMES", "check_device_name", "resolve_device", "torch_device"]

#: The accepted device names, for messages and ``--help``.
DEVICE_NAMES = "auto, cpu, cuda, cuda:N or mps"

_NAME = re.compile(r"auto|cpu|mps|cuda(:\d+)?")


def check_device_name(device: Any, name: str = "device") -> str:
    """Check the spelling of a device name without asking torch what exists.

    Args:
        device: ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"mps"`` (a
            ``torch.device`` of those kinds is accepted and turned into its name).
        name: the argument named in the error message.

    Returns:
        The name as a string.

    Raises:
        ValueError: naming ``name``, for anything else.
    """
    torch = sys.modules.get("torch")  # a torch.device can only exist once torch is imported
    text = str(device) if torch is not None and isinstance(device, torch.device) else device
    if not isinstance(text, str) or not _NAME.fullmatch(text):
        raise ValueError(f"{name}: expected {DEVICE_NAMES}, got {device!r}")
    return text


def resolve_device(device: Any = "auto", name: str = "device") -> str:
    """Turn a device name into the device to run on, checking that it exists.

    Args:
        device: a name as in :func:`check_device_name` (or a ``torch.device``).
            ``"auto"`` is ``"cuda"`` when ``torch.cuda.is_available()``, else ``"cpu"``.
        name: the argument named in error messages.

    Returns:
        ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"mps"``.

    Raises:
        ValueError: naming ``name``, for a bad name, or for CUDA / MPS (or a CUDA index)
            that this machine does not have.

    Example:
        >>> resolve_device("cpu")
        'cpu'
    """
    text = check_device_name(device, name)
    if text == "cpu":
        return text
    import torch

    if text == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if text == "mps":
        if not torch.backends.mps.is_available():
            raise ValueError(f"{name}: {text!r} requested but MPS is not available")
        return text
    if not torch.cuda.is_available():
        raise ValueError(f"{name}: {text!r} requested but CUDA is not available (use auto or cpu)")
    if ":" in text:
        count = torch.cuda.device_count()
        if int(text.split(":")[1]) >= count:
            raise ValueError(f"{name}: {text!r} requested but only {count} CUDA device(s) are visible")
    return text


def torch_device(device: Any = "auto", name: str = "device") -> torch.device:
    """:func:`resolve_device` as a ``torch.device``."""
    import torch

    return torch.device(resolve_device(device, name))
