"""Tests for spatialme.io.signals: a termination signal unwinds like an exception, and waits for a step."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from ffmedia import ffmpeg_children, smooth_clip

from spatialme.io.signals import Stopped, signals_deferred, stop_on_signals
from spatialme.io.writer import VideoWriter


def test_signal_inside_stop_on_signals_raises_stopped_and_unwinds(out_dir: Path) -> None:
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Stopped) as err:
        with stop_on_signals():
            with VideoWriter(out_dir / "o.mp4", 30.0) as writer:
                writer.write(smooth_clip(3))
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(5)  # the handler raises here
    assert err.value.signum == signal.SIGTERM and isinstance(err.value, KeyboardInterrupt)
    assert os.listdir(out_dir) == [] and ffmpeg_children() == []
    assert signal.getsignal(signal.SIGTERM) is before


def test_signals_deferred_holds_the_stop_until_the_step_is_done() -> None:
    steps = []
    with pytest.raises(Stopped) as err:
        with stop_on_signals():
            with signals_deferred():
                os.kill(os.getpid(), signal.SIGHUP)
                time.sleep(0.05)
                steps.append("finished")  # not cut short by the signal
            steps.append("after")  # never reached: the stop is raised as the step ends
    assert steps == ["finished"] and err.value.signum == signal.SIGHUP
