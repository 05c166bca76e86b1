"""No partial outputs: the project's one atomic writer, and the claim on a run's output names.

* **Written beside, moved into place.** Every output (a video, an image, a checkpoint, a
  disparity cache) is written to a hidden temp file ``.<stem>.tmp-<random><suffix>`` in the
  destination folder and moved onto its name with ``os.replace`` only when complete, so a
  reader never sees half a file and a failed write leaves the old one. :func:`atomic_write`
  is that writer for anything that writes a file by name (``np.savez``, ``torch.save``,
  bytes); :class:`~spatialme.io.writer.VideoWriter` uses the same temp names and move.
  Errors, exceptions in a ``with`` block and garbage collection all remove the temp files.
* **Claimed before any work.** :class:`OutputClaim` reserves a run's output names first (an
  exclusive create, so a second run into the same path fails at once) and checks the folder
  takes new files, then gives everything back if the run fails.
* **Signal-safe steps.** Creating a temp file and recording it, moving it into place and
  forgetting it, and removing files each run inside
  :func:`~spatialme.io.signals.signals_deferred`, so a stop at any point leaves neither a
  temp file nor an empty claim behind.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import secrets
from collections.abc import Iterator
from typing import Any

from .errors import OutputExists, VideoError, _name, _reason
from .signals import signals_deferred

__all__ = ["OutputClaim", "atomic_write"]


# --------------------------------------------------------------------------- temp files


def _reserve_temp(dest: str, registry: list[str]) -> str:
    """Create an empty hidden file ``.<stem>.tmp-<random><suffix>`` beside ``dest``.

    ``O_EXCL`` with mode 0o666 (the umask applies) so the final file gets normal permissions,
    unlike ``mkstemp``'s 0o600. The name is appended to ``registry`` (whoever owns it removes
    it) in the same signal-deferred step that creates it, so no signal can leave it unowned.

    Raises:
        VideoError: the folder does not take new files (the message gives the reason, not
            the hidden name).
    """
    folder, base = os.path.split(os.path.abspath(dest))
    stem, suffix = os.path.splitext(base)
    for _ in range(100):
        candidate = os.path.join(folder, f".{stem}.tmp-{secrets.token_hex(4)}{suffix}")
        try:
            with signals_deferred():
                os.close(os.open(candidate, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
                registry.append(candidate)
            return candidate
        except FileExistsError:
            continue
        except OSError as err:
            raise VideoError(f"{base}: cannot write to its folder ({_reason(err)})") from None
    raise VideoError(f"{base}: could not create a temporary file in its folder")


def _remove_quietly(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.remove(path)


def _remove_all(paths: list[str]) -> None:
    """Remove and forget every path in ``paths`` (signals deferred: clean-up runs to the end)."""
    with signals_deferred():
        while paths:
            _remove_quietly(paths[-1])
            paths.pop()


def _make_folder(dest: str) -> None:
    """Create the folder of ``dest`` if needed; a :class:`VideoError` with the reason if that fails."""
    try:
        os.makedirs(os.path.dirname(os.path.abspath(dest)), exist_ok=True)
    except OSError as err:
        raise VideoError(f"{_name(dest)}: cannot create its folder ({_reason(err)})") from None


def _place(tmp: str, dest: str, registry: list[str]) -> None:
    """Move the finished ``tmp`` onto ``dest`` and drop it from ``registry``, as one step.

    Raises:
        VideoError: the move failed (``tmp`` stays in ``registry`` for its owner to remove).
    """
    try:
        with signals_deferred():
            os.replace(tmp, dest)
            registry.remove(tmp)
    except OSError as err:
        raise VideoError(f"{_name(dest)}: could not move the finished file into place ({_reason(err)})") from None


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str]) -> Iterator[str]:
    """Write a file all at once: the block writes a temp file, which then replaces ``path``.

    The temp file is hidden, in the same folder (so the move is a rename on one file system)
    and keeps ``path``'s suffix (``np.savez`` and friends add theirs otherwise). When the
    block ends normally it replaces ``path`` with ``os.replace``; when the block raises (an
    error, :class:`~spatialme.io.signals.Stopped`) it is removed and ``path`` stays as it was.
    The folder is created if missing.

    Example:
        >>> with atomic_write("cache/clip.npz") as tmp:  # doctest: +SKIP
        ...     np.savez_compressed(tmp, disparity=disp)

    Args:
        path: the destination file.

    Yields:
        The temp file's path (``str``), created empty.

    Raises:
        ValueError: ``path`` is not a path.
        VideoError: the folder cannot be created or takes no new files, or the move failed.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise ValueError(f"path: expected a str or os.PathLike, got {type(path).__name__}")
    dest = os.fspath(path)
    _make_folder(dest)
    temps: list[str] = []
    try:
        tmp = _reserve_temp(dest, temps)
        yield tmp
        _place(tmp, dest, temps)
    finally:
        _remove_all(temps)


# --------------------------------------------------------------------------- claiming outputs


_CLAIMED: dict[str, tuple[int, int]] = {}  # path -> (st_dev, st_ino) of a file this process owns there


def _identity(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _release(path: str) -> None:
    """Remove ``path`` if it is still the file this process claimed there, and forget it."""
    with signals_deferred():
        owned = _CLAIMED.pop(path, None)
        if owned is not None and _identity(path) == owned:
            _remove_quietly(path)


def _release_all_at_exit() -> None:
    for path in list(_CLAIMED):
        _release(path)


atexit.register(_release_all_at_exit)


class OutputClaim:
    """Reserve a run's output names before any work, and give them back if the run fails.

    On entry every output is checked: not an input file (refused even with ``overwrite``),
    not listed twice, its folder exists (it is created) and takes new files. With
    ``overwrite=False`` each name is then created exclusively (``O_EXCL``) as an empty file,
    which the finished output replaces with ``os.replace``: a second run into the same path
    fails at once with :class:`OutputExists` instead of replacing the first run's result at
    the end. With ``overwrite=True`` existing files stay until complete new ones replace them.

    When the block raises (an error, :class:`~spatialme.io.signals.Stopped`), every name this
    claim created is removed again, and so is every output :meth:`placed` since (the run did
    not finish), as well as folders the claim created that are left empty. An ``atexit`` hook
    removes claims still held when the interpreter exits.

    Example:
        >>> with OutputClaim(["out/clip_LR.mp4"], inputs=["clip.mp4"]) as claim:  # doctest: +SKIP
        ...     with VideoWriter("out/clip_LR.mp4", 30) as w:
        ...         ...
        ...     claim.placed("out/clip_LR.mp4")

    Args:
        outputs: destination files.
        overwrite: replace existing files (see above).
        inputs: files the run reads; an output that is one of them raises ``ValueError``.

    Raises (on entry):
        OutputExists: an output exists (or is claimed by another run) and ``overwrite`` is False.
        VideoError: an output is an input file, a folder, or in a folder that cannot be created
            or written; the message names the path as given and the reason, never a temp name.
    """

    def __init__(self, outputs: list[str | os.PathLike[str]] | tuple[str | os.PathLike[str], ...], *,
                 overwrite: bool = False, inputs: tuple[str | os.PathLike[str], ...] | list[str | os.PathLike[str]] = ()) -> None:
        if isinstance(outputs, (str, os.PathLike)):
            outputs = [outputs]
        self.outputs = [os.fspath(p) for p in outputs]
        self.inputs = [os.fspath(p) for p in inputs]
        self.overwrite = bool(overwrite)
        self._held: list[str] = []  # absolute paths whose file this claim owns
        self._folders: list[str] = []  # folders created by the claim, deepest last

    def __enter__(self) -> OutputClaim:
        try:
            self._check()
            for path in self.outputs:
                self._claim(path)
        except BaseException:
            self._give_back()
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        if exc_type is not None:
            self._give_back()
            return
        with signals_deferred():
            for path in self._held:  # a name that was claimed but never written is no output
                if _CLAIMED.get(path) == _identity(path) and os.path.getsize(path) == 0:
                    _release(path)
                _CLAIMED.pop(path, None)
            self._held.clear()

    def placed(self, path: str | os.PathLike[str]) -> None:
        """Record that ``path`` now holds this run's finished output (removed if the run fails)."""
        full = os.path.abspath(os.fspath(path))
        with signals_deferred():
            ident = _identity(full)
            if ident is not None and not self.overwrite:
                _CLAIMED[full] = ident
                if full not in self._held:
                    self._held.append(full)

    # -- internals -------------------------------------------------------------------------

    def _check(self) -> None:
        seen: set[str] = set()
        for path in self.outputs:
            full = os.path.realpath(path)
            if full in seen:
                raise VideoError(f"output: {path} is named twice")
            seen.add(full)
            for src in self.inputs:
                if full == os.path.realpath(src) or (os.path.exists(path) and os.path.exists(src)
                                                     and os.path.samefile(path, src)):
                    raise VideoError(f"output: {path} is the input file; choose another output name")
            if os.path.isdir(path):
                raise VideoError(f"output: {path} is a folder; give a file name")

    def _make_folders(self, folder: str) -> None:
        missing = []
        probe_dir = folder
        while probe_dir and not os.path.exists(probe_dir):
            missing.append(probe_dir)
            probe_dir = os.path.dirname(probe_dir)
        if probe_dir and not os.path.isdir(probe_dir):
            raise VideoError(f"output: cannot create the folder {folder} ({probe_dir} is a file)")
        for path in reversed(missing):
            try:
                with signals_deferred():
                    os.mkdir(path)
                    self._folders.append(path)
            except FileExistsError:
                continue
            except OSError as err:
                raise VideoError(f"output: cannot create the folder {path} ({_reason(err)})") from None

    def _claim(self, path: str) -> None:
        full = os.path.abspath(path)
        folder = os.path.dirname(full)
        shown = os.path.dirname(path) or "."
        self._make_folders(folder)
        try:
            with signals_deferred():
                if self.overwrite:  # the name stays as it is: prove the folder takes new files
                    test = os.path.join(folder, f".{os.path.basename(full)}.tmp-{secrets.token_hex(4)}")
                    os.close(os.open(test, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
                    os.remove(test)
                    return
                os.close(os.open(full, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
                _CLAIMED[full] = _identity(full) or (0, 0)
                self._held.append(full)
        except FileExistsError:
            if os.path.isfile(full) and os.path.getsize(full) == 0:
                raise OutputExists(f"output: {path} is being written by another run (or is an empty file left by one)") from None
            raise OutputExists(f"output: {path} exists") from None
        except OSError as err:
            raise VideoError(f"output: cannot write to the folder {shown} ({_reason(err)})") from None

    def _give_back(self) -> None:
        with signals_deferred():
            while self._held:
                _release(self._held.pop())
            while self._folders:
                with contextlib.suppress(OSError):
                    os.rmdir(self._folders[-1])  # only if empty
                self._folders.pop()
