import threading
import time

import pytest

from spatialme.overlap import BackgroundConsumer, prefetch


def test_prefetch_keeps_order_and_runs_ahead_boundedly():
    made = []

    def produce():
        for i in range(6):
            made.append(i)
            yield i

    it = prefetch(produce(), depth=2)
    assert next(it) == 0
    time.sleep(0.3)
    assert len(made) <= 4  # one handed out, two queued, one waiting to be queued
    assert list(it) == [1, 2, 3, 4, 5]


def test_prefetch_raises_the_producers_error_in_place():
    def produce():
        yield 1
        raise OSError("decoder died")

    it = prefetch(produce())
    assert next(it) == 1
    with pytest.raises(OSError, match="decoder died"):
        next(it)


def test_closing_prefetch_early_stops_and_closes_the_source():
    closed = threading.Event()

    def produce():
        try:
            for i in range(1000):
                yield i
        finally:
            closed.set()

    it = prefetch(produce(), depth=1)
    assert next(it) == 0
    it.close()
    assert closed.is_set() and not any(t.name == "spatialme-prefetch" and t.is_alive() for t in threading.enumerate())


def test_decode_synthesis_and_encode_run_at_the_same_time():
    spans = {"decode": [], "synth": [], "encode": []}

    def span(stage):
        t0 = time.perf_counter()
        time.sleep(0.05)
        spans[stage].append((t0, time.perf_counter()))

    def produce():
        for i in range(4):
            span("decode")
            yield i

    out = []
    with BackgroundConsumer(lambda i: (span("encode"), out.append(i))) as sink:
        for item in prefetch(produce()):
            span("synth")
            sink.put(item)
    assert out == [0, 1, 2, 3]

    def overlaps(a, b):
        return any(s0 < e1 and s1 < e0 for s0, e0 in spans[a] for s1, e1 in spans[b])

    assert overlaps("decode", "synth") and overlaps("synth", "encode")


def test_consumer_error_reaches_the_caller_and_abort_drops_the_rest():
    def fail(item):
        raise ValueError(f"encoder refused {item}")

    with pytest.raises(ValueError, match="encoder refused 0"):
        with BackgroundConsumer(fail, depth=1) as sink:
            for i in range(10):
                sink.put(i)
    seen = []
    with pytest.raises(KeyError):
        with BackgroundConsumer(lambda i: (time.sleep(0.05), seen.append(i)), depth=4) as sink:
            for i in range(4):
                sink.put(i)
            raise KeyError("caller failed")
    assert len(seen) < 4
    with pytest.raises(ValueError, match="depth"):
        BackgroundConsumer(print, depth=0)
    with pytest.raises(ValueError, match="depth"):
        list(prefetch([], depth=0))
