"""Overlapped I/O: decode ahead and encode behind the synthesis, with bounded queues.

Why
---
A conversion has three stages per chunk: decoding (ffmpeg's pipe into numpy), synthesis
(the GPU or the CPU kernels) and encoding (numpy into x264's pipe). Run in one thread their
times add up; with a decoder thread that keeps the next chunk ready and an encoder thread
that drains finished ones, the conversion takes about as long as its slowest stage. The
queues hold at most ``depth`` chunks each, so memory stays flat in the clip's length.

Both helpers hand errors across threads: an exception in the producer is raised in the
consumer at the item where it happened, and closing early (an error or a signal in the main
thread) stops and joins the thread, so nothing keeps running or holding a file.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Generic, TypeVar

from .checks import check_int

__all__ = ["BackgroundConsumer", "prefetch"]

T = TypeVar("T")

_DONE = object()


class _Failure:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


def _put(q: queue.Queue, item, stop: threading.Event) -> bool:
    """Put ``item`` unless ``stop`` is set first; False when stopped."""
    while not stop.is_set():
        try:
            q.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


def prefetch(items: Iterable[T], depth: int = 2) -> Iterator[T]:
    """Iterate ``items`` in a background thread, up to ``depth`` items ahead.

    Args:
        items: any iterable (for example :func:`spatialme.video.read_frames`' chunks); it is
            consumed in the worker thread only.
        depth: most items waiting (>= 1).

    Yields:
        The items in order; the producer's exception is raised here, where it happened.
        Closing the generator early stops the producer (and closes ``items`` if it has a
        ``close``) before returning.
    """
    check_int("depth", depth, 1)
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def work() -> None:
        iterator = iter(items)
        try:
            for item in iterator:
                if not _put(q, item, stop):
                    return
            _put(q, _DONE, stop)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            _put(q, _Failure(exc), stop)
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()

    thread = threading.Thread(target=work, name="spatialme-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is _DONE:
                return
            if isinstance(item, _Failure):
                raise item.exc
            yield item
    finally:
        stop.set()
        thread.join()


class BackgroundConsumer(Generic[T]):
    """Feed items to ``consume`` in a worker thread, at most ``depth`` waiting.

    Use as a context manager: :meth:`put` hands an item over (blocking while the queue is
    full, raising at once if the worker failed), leaving the block waits for the worker to
    finish every item and re-raises its error; leaving on an exception stops the worker
    without draining.

    Example:
        >>> seen = []
        >>> with BackgroundConsumer(seen.append) as out:
        ...     for i in range(3):
        ...         out.put(i)
        >>> seen
        [0, 1, 2]
    """

    def __init__(self, consume: Callable[[T], None], depth: int = 2) -> None:
        check_int("depth", depth, 1)
        self._consume = consume
        self._q: queue.Queue = queue.Queue(maxsize=depth)
        self._abort = threading.Event()  # the caller failed: drop what is queued
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._work, name="spatialme-consumer", daemon=True)

    def _work(self) -> None:
        while not self._abort.is_set():
            try:
                item = self._q.get(timeout=0.1)
            except queue.Empty:
                continue
            if item is _DONE or self._abort.is_set():
                return
            try:
                self._consume(item)
            except BaseException as exc:  # noqa: BLE001 - re-raised in the caller
                self._error = exc
                return

    def __enter__(self) -> "BackgroundConsumer[T]":
        self._thread.start()
        return self

    def _offer(self, item) -> None:
        while True:
            if self._error is not None:
                raise self._error
            if not self._thread.is_alive():
                raise RuntimeError("the background worker has stopped")
            try:
                self._q.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def put(self, item: T) -> None:
        """Queue ``item`` for the worker; raises the worker's error if it failed."""
        self._offer(item)

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self._abort.set()
            self._thread.join()
            return
        try:
            self._offer(_DONE)
        finally:
            self._thread.join()
