"""Where the project's learned weights come from: the repository, a folder, or the Hub.

The learned inpainter and the MHFU refiner ship in the repository under ``assets/weights``
(``inpainter/`` and ``refiner/``, each ``config.json`` + ``model.safetensors`` as written by
``PyTorchModelHubMixin.save_pretrained``), so everything but depth works offline. The same
layout in a Hub model repo works too: it is fetched once with ``snapshot_download`` and then
read from the local cache.

An installed package (``pip install .``) carries its own copy of ``assets/weights`` as
``spatialme/_weights`` (see ``setup.py``) and reads that one; a checkout, where the Hugging
Face Space runs ``app.py``, has no ``spatialme/_weights`` and reads ``assets/weights``.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["SHIPPED_WEIGHTS", "resolve_weights", "holds_model", "component_dir", "find_component"]

_PACKAGE = Path(__file__).resolve().parent
_INSTALLED_WEIGHTS = _PACKAGE / "_weights"
_CHECKOUT_WEIGHTS = _PACKAGE.parent / "assets" / "weights"
#: The shipped weights: the installed package's own copy, else the checkout's ``assets/weights``.
SHIPPED_WEIGHTS = _INSTALLED_WEIGHTS if _INSTALLED_WEIGHTS.is_dir() else _CHECKOUT_WEIGHTS


#: What ``save_pretrained`` writes for one model.
_MODEL_FILES = ("config.json", "model.safetensors")


def _looks_local(value: str) -> bool:
    return value.startswith(("/", "./", "../", "~")) or os.path.exists(os.path.expanduser(value))


def resolve_weights(pretrained: str | os.PathLike | None = None, revision: str | None = None) -> Path:
    """A local folder holding the weight sub-folders.

    Args:
        pretrained: ``None`` (the shipped weights), a local folder (a ``Path`` always is
            one), or a Hub repo id (``"user/spatialme-weights"``).
        revision: Hub revision for a repo id.

    Returns:
        The folder (it may lack a component, :func:`component_dir` says so, or be one
        model itself, which :func:`find_component` accepts).

    Raises:
        FileNotFoundError: one line, when a Hub repo cannot be fetched or found in the cache.
    """
    if pretrained is None:
        return SHIPPED_WEIGHTS
    text = os.fspath(pretrained)
    if isinstance(pretrained, Path) or _looks_local(text):
        return Path(os.path.expanduser(text))
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    try:
        return Path(snapshot_download(text, revision=revision, allow_patterns=[*_MODEL_FILES, *(f"*/{f}" for f in _MODEL_FILES), "README.md"]))
    except (LocalEntryNotFoundError, HfHubHTTPError, OSError, ValueError) as exc:
        raise FileNotFoundError(f"weights: cannot fetch {text!r} from the Hub or its cache ({exc.__class__.__name__})") from None


def holds_model(folder: Path) -> bool:
    """Whether ``folder`` holds one saved model (``config.json`` + ``model.safetensors``)."""
    return all((folder / name).is_file() for name in _MODEL_FILES)


def component_dir(root: Path, name: str) -> Path:
    """``root / name`` if it holds a saved model, else a one-line ``FileNotFoundError``."""
    folder = root / name
    if not holds_model(folder):
        raise FileNotFoundError(f"weights: no trained {name} at {folder} (train one with `python -m spatialme train` or pass another weights folder)")
    return folder


def find_component(pretrained: str | os.PathLike | None, name: str, revision: str | None = None) -> Path:
    """The folder of one component, where ``pretrained`` may also be that component alone.

    Args:
        pretrained: as for :func:`resolve_weights`; the folder (or Hub repo) may hold the
            weights layout (a ``name/`` sub-folder) or the saved model itself.
        name: the component (``"inpainter"``, ``"refiner"``).
        revision: Hub revision for a repo id.

    Returns:
        A folder holding ``config.json`` + ``model.safetensors``.

    Raises:
        FileNotFoundError: one line, as :func:`resolve_weights` and :func:`component_dir`.
    """
    root = resolve_weights(pretrained, revision)
    return root if holds_model(root) else component_dir(root, name)
