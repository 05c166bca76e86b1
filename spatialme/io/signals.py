"""Termination signals as an exception, so a stopped run cleans up like a failed one.

SIGTERM and SIGHUP (what ``timeout``, a service manager or a closed terminal send) end a
process at once by default, leaving temp files and claimed output names behind.
:func:`stop_on_signals` turns them, like SIGINT, into :class:`Stopped`, which unwinds through
every ``with`` block. The few steps that create or rename a file and record it run inside
:func:`signals_deferred`, so a signal at any point leaves neither a temp file nor an empty
claim behind (see :mod:`spatialme.io.atomic`).
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import Any

__all__ = ["Stopped", "signals_deferred", "stop_on_signals"]


class Stopped(KeyboardInterrupt):
    """A termination signal stopped the run inside :func:`stop_on_signals`.

    A ``KeyboardInterrupt`` (so ``except Exception`` does not swallow it, and everything that
    cleans up after Ctrl-C cleans up after it too).

    Attributes:
        signum: the signal number (``signal.SIGTERM``, ``signal.SIGHUP`` or ``signal.SIGINT``).
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = int(signum)


_SIGNAL_STATE = threading.local()


def _signal_state() -> Any:
    """This thread's deferral depth, pending signal and whether a stop is under way."""
    state = _SIGNAL_STATE
    if not hasattr(state, "depth"):
        state.depth, state.pending, state.stopping = 0, None, False
    return state


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold back :class:`Stopped` until the block ends (no-op outside :func:`stop_on_signals`).

    For the steps that must not be cut in two: create a file and record it for clean-up,
    move a finished file into place and forget its temp name, remove temp files. A signal
    that arrives inside is raised when the outermost such block ends normally.
    """
    state = _signal_state()
    state.depth += 1
    try:
        yield
    finally:
        state.depth -= 1
    if state.depth == 0 and state.pending is not None and not state.stopping:
        state.stopping = True
        raise Stopped(state.pending)


def _on_signal(signum: int, frame: Any) -> None:
    state = _signal_state()
    if state.stopping:  # already unwinding: a repeated signal must not cut the clean-up short
        return
    if state.depth:
        state.pending = state.pending or signum
        return
    state.stopping = True
    raise Stopped(signum)


@contextlib.contextmanager
def stop_on_signals(signums: tuple[int, ...] | None = None) -> Iterator[None]:
    """Inside the block, SIGINT, SIGTERM and SIGHUP raise :class:`Stopped` in the main thread.

    Their default action ends the process at once, leaving temp files and claimed names
    behind; as an exception they unwind through every ``with`` block, which removes them.
    A repeated signal during that clean-up is ignored. The previous handlers come back at
    the end. Outside the main thread (where Python cannot set handlers) this does nothing.

    Args:
        signums: the signals to catch (default: SIGINT, SIGTERM and, where it exists, SIGHUP).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    if signums is None:
        signums = tuple(getattr(signal, n) for n in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, n))
    state = _signal_state()
    state.pending, state.stopping = None, False
    previous = {signum: signal.signal(signum, _on_signal) for signum in signums}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        state.pending, state.stopping = None, False
