"""Loading a ``transformers`` depth network from the Hub or a local directory.

The weights come from the Hub at a pinned revision, cached by ``huggingface_hub``; a local
directory (as written by ``save_pretrained``) works too. A model whose weights are already
cached is loaded with ``local_files_only=True`` first, so a pinned, cached model never
touches the network. Offline with nothing cached, loading fails at once with
:class:`~spatialme.depth.DepthModelUnavailable`, a one-line message that says how to fix
it (cache the model, point to a local copy, or supply the disparity).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import torch

from .base import DepthModelUnavailable
from .config import DepthConfig

__all__ = ["load_network", "read_preprocessor"]

_SHA = re.compile(r"[0-9a-f]{40}")


def _hub_offline() -> bool:
    """Whether Hub access is switched off (``HF_HUB_OFFLINE`` / ``TRANSFORMERS_OFFLINE``)."""
    from huggingface_hub import constants

    flags = (os.environ.get("HF_HUB_OFFLINE"), os.environ.get("TRANSFORMERS_OFFLINE"))
    from_env = any(str(f).strip().upper() in {"1", "ON", "YES", "TRUE"} for f in flags if f is not None)
    return from_env or bool(getattr(constants, "HF_HUB_OFFLINE", False))


def _is_local_path(model_id: str) -> bool:
    """Whether ``model_id`` names a directory rather than a Hub repo id."""
    text = str(model_id)
    return os.path.isdir(text) or text.startswith(("/", "./", "../", "~", ".\\")) or os.path.isabs(text)


def _label(model_id: str, revision: str | None) -> str:
    """Short name for messages: ``org/name@abc1234``."""
    if revision is None:
        return model_id
    return f"{model_id}@{revision[:7] if _SHA.fullmatch(revision) else revision}"


def _not_cached(error: BaseException) -> bool:
    """Whether an exception (or one it was raised from) means "not in the local cache"."""
    from huggingface_hub.errors import LocalEntryNotFoundError

    seen: BaseException | None = error
    for _ in range(8):
        if seen is None:
            return False
        if isinstance(seen, LocalEntryNotFoundError) or "couldn't connect to" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _first_line(error: BaseException) -> str:
    """First non-empty line of an exception message (or its class name)."""
    for line in str(error).splitlines():
        if line.strip():
            return line.strip()
    return type(error).__name__


def _unavailable_message(label: str, reason: str) -> str:
    return (
        f"Depth model {label} is not cached and the Hub is unreachable ({reason}). Fix: run once online to cache "
        "it, pass a local copy with --depth-model DIR, or supply --disparity FILE.npy."
    )


def _load_local(model_id: str, dtype: torch.dtype) -> torch.nn.Module:
    """``from_pretrained`` of a ``save_pretrained`` directory, with one-line errors."""
    from transformers import AutoModelForDepthEstimation

    if not os.path.isdir(model_id):
        raise DepthModelUnavailable(f"Depth model directory {model_id} does not exist.")
    if not os.path.isfile(os.path.join(model_id, "config.json")):
        raise DepthModelUnavailable(f"Depth model directory {model_id} has no config.json (write it with save_pretrained).")
    try:
        return AutoModelForDepthEstimation.from_pretrained(model_id, dtype=dtype)
    except (OSError, ValueError) as err:
        reason = _first_line(err)
        raise DepthModelUnavailable(f"Depth model directory {model_id} could not be loaded: {reason}") from err


def load_network(config: DepthConfig, dtype: torch.dtype) -> torch.nn.Module:
    """``AutoModelForDepthEstimation.from_pretrained`` with one-line, fix-it errors.

    A Hub model is first looked up in the local cache only (no network at all when the
    pinned revision is cached), then, unless offline mode is on, fetched from the Hub.

    Args:
        config: ``model_id`` (Hub repo id or local directory), ``revision`` and ``cache_dir``.
        dtype: precision of the loaded weights.

    Returns:
        The network, as ``transformers`` builds it (on the CPU).

    Raises:
        DepthModelUnavailable: not cached and offline or unreachable, a missing or broken
            local directory, or a cache entry that cannot be read.
    """
    from huggingface_hub.errors import HfHubHTTPError
    from transformers import AutoModelForDepthEstimation

    model_id = os.path.expanduser(str(config.model_id))
    if _is_local_path(model_id):
        return _load_local(model_id, dtype)

    label = _label(model_id, config.revision)
    kwargs = {"revision": config.revision, "cache_dir": config.cache_dir, "dtype": dtype}
    try:
        return AutoModelForDepthEstimation.from_pretrained(model_id, local_files_only=True, **kwargs)
    except OSError as err:
        if not _not_cached(err):
            reason = _first_line(err)
            raise DepthModelUnavailable(f"Depth model {label} could not be loaded from the cache: {reason}") from err
    if _hub_offline():
        raise DepthModelUnavailable(_unavailable_message(label, "HF_HUB_OFFLINE=1")) from None
    try:
        return AutoModelForDepthEstimation.from_pretrained(model_id, **kwargs)
    except (OSError, HfHubHTTPError) as err:
        if _not_cached(err):
            raise DepthModelUnavailable(_unavailable_message(label, "no connection")) from None
        raise DepthModelUnavailable(f"Depth model {label} could not be loaded: {_first_line(err)}") from err


def read_preprocessor(config: DepthConfig) -> dict:
    """The model's ``preprocessor_config.json`` as a dict, or ``{}`` when it has none."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError

    model_id = os.path.expanduser(str(config.model_id))
    if _is_local_path(model_id):
        path = Path(model_id) / "preprocessor_config.json"
    else:
        try:  # the model itself loaded, so the cache (or the Hub) answers quickly
            path = Path(
                hf_hub_download(
                    model_id,
                    "preprocessor_config.json",
                    revision=config.revision,
                    cache_dir=config.cache_dir,
                    local_files_only=_hub_offline(),
                )
            )
        except (EntryNotFoundError, HfHubHTTPError, OSError):
            return {}
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
