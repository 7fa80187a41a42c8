"""Sharing the interpreter lock between the GUI thread and the training thread.

Only one thread runs Python at a time. While a run goes, the dock shortens the
hand-over period (``sys.setswitchinterval``) so that the GUI thread gets the lock
quickly when an event arrives; :func:`gui_first` lengthens it again for the short
moments the GUI draws, so that a redraw runs as one piece instead of giving the
lock away every millisecond.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Iterator

RUN_SWITCH_INTERVAL = 0.001  # hand-over period while a run goes (Python's default: 0.005)
DRAW_SWITCH_INTERVAL = 0.05  # ... and while the GUI thread draws


@contextlib.contextmanager
def gui_first() -> Iterator[None]:
    """Let a short piece of GUI work (one redraw) finish without handing the
    interpreter lock back and forth with the training thread.

    While a run goes the lock is handed over every millisecond, so that the GUI
    thread gets it quickly when an event arrives; but a redraw that gives the lock
    away every millisecond then takes several times its own cost on the clock, and
    the event loop falls behind. During the redraw the hand-over period is
    :data:`DRAW_SWITCH_INTERVAL`; the training thread waits just as long as the
    drawing takes.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = sys.getswitchinterval()
    sys.setswitchinterval(max(before, DRAW_SWITCH_INTERVAL))
    try:
        yield
    finally:
        sys.setswitchinterval(before)


class RunSwitchInterval:
    """Shortens the hand-over period from the start of a run to its end."""

    def __init__(self) -> None:
        self._saved: float | None = None

    def start(self) -> None:
        if self._saved is None:
            self._saved = sys.getswitchinterval()
            sys.setswitchinterval(min(self._saved, RUN_SWITCH_INTERVAL))

    def stop(self) -> None:
        if self._saved is not None:
            sys.setswitchinterval(self._saved)
            self._saved = None


class FramePacer:
    """Keeps the GUI thread's share of a core under ``budget`` while a run goes.

    Every moment the GUI thread runs Python (drawing plots included) the training
    thread waits for the interpreter lock. Where a frame is cheap the plots update
    every ``fastest_ms``; where drawing is slow (software rendering, a busy
    machine) the period grows in steps up to ``slowest_ms``, and comes back when
    frames get cheaper again. The share is the GUI thread's own CPU time
    (``time.thread_time``) over the wall time, smoothed over a few frames.
    """

    STEP_MS = 25

    def __init__(self, fastest_ms: int, slowest_ms: int, budget: float):
        self.fastest_ms = fastest_ms
        self.slowest_ms = slowest_ms
        self.budget = budget
        self.share = 0.0
        self._mark: tuple[float, float] | None = None
        self._settled = fastest_ms  # the interval of the last frame paced

    def reset(self, timer) -> None:
        """A new run: start at the rate the previous run settled at (the fastest
        for the first run). What a frame costs depends on the machine and the
        plots, not on the model; starting fast again would spend the first
        second of every run drawing at 10 Hz on a machine known to be slow.
        The smoothed share carries over with it, so that the first frames of the
        run do not read as cheap and speed up again."""
        self._mark = None
        timer.setInterval(self._settled)

    def pace(self, timer) -> None:
        """Called at each frame: adjust ``timer``'s interval to the recent share."""
        now, cpu = time.monotonic(), time.thread_time()
        if self._mark is not None and now > self._mark[0]:
            share = (cpu - self._mark[1]) / (now - self._mark[0])
            self.share = 0.7 * self.share + 0.3 * share
            interval = timer.interval()
            if self.share > self.budget and interval < self.slowest_ms:
                timer.setInterval(min(self.slowest_ms, interval + self.STEP_MS))
            elif self.share < self.budget / 2 and interval > self.fastest_ms:
                timer.setInterval(max(self.fastest_ms, interval - self.STEP_MS))
        self._mark = (now, cpu)
        self._settled = timer.interval()
