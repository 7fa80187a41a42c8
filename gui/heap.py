"""Keeping Python's cycle collector from freezing the window while a big graph opens.

A 20,000-node graph is a few million Python objects (nodes, parameter dicts,
shapes, canvas items). Python's oldest-generation collection walks all of them,
and it runs again each time the heap grows by a quarter: while such a graph is
read and drawn, those walks took 60 ms at first and 500 ms at the end, each one
a stall of the whole window (the collector holds the interpreter, so a reader
thread's collection stops the GUI thread too).

The objects of an opened graph live as long as the document, so walking them
again finds nothing. :func:`settle` moves every object alive now out of the
collector's reach (``gc.freeze``); the walks then cover only what is new.
:func:`release` gives them back when the document is replaced by another graph,
so that cycles among the old graph's objects are collected again.

Objects that live as long as the app (PyTorch's, some 280,000 once it is
imported) are set apart for good with :func:`keep`: :func:`release` collects
once and sets everything alive then apart again, so they never rejoin the walks.

In the app, collections run only on the GUI thread (:func:`collect_on_gui_thread`).
A collection runs in whichever thread happens to allocate, and the garbage it
frees may hold a Qt object (a widget's wrapper in a reference cycle): destroyed
in a worker thread (an ONNX export, a training step), the widget's destructor
waits for the interpreter lock that the collecting thread holds, and the app
hangs. So the app turns automatic collection off and a GUI-thread timer collects
what is due, generation by generation, as the interpreter would have.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_paused = 0
_gui_timer = None  # the GUI-thread timer that collects, once collect_on_gui_thread ran
COLLECT_EVERY_MS = 1000
_added = 0  # objects set apart by settle since the last release (some may be gone since)


@contextmanager
def quiet() -> Iterator[None]:
    """No cycle collection while the block runs (in any thread); what it made is
    settled at the end. Nested and concurrent uses are counted."""
    global _paused
    with _lock:
        _paused += 1
        gc.disable()
    try:
        yield
    finally:
        with _lock:
            _paused -= 1
            settle()
            if _paused == 0 and _gui_timer is None:
                gc.enable()


def collect_on_gui_thread(interval_ms: int = COLLECT_EVERY_MS) -> None:
    """From now on, collect garbage only on the thread calling this (the GUI
    thread), from a timer: automatic collection is turned off. Calling it again
    changes nothing."""
    global _gui_timer
    if _gui_timer is not None:
        return
    from PySide6.QtCore import QCoreApplication, QTimer

    _gui_timer = QTimer(QCoreApplication.instance())
    _gui_timer.setObjectName("guiThreadCollector")
    _gui_timer.timeout.connect(collect_due)
    _gui_timer.start(interval_ms)
    gc.disable()


def collects_on_gui_thread() -> bool:
    """Whether collections run only on the GUI thread's timer."""
    return _gui_timer is not None


def paused() -> bool:
    """Whether a :func:`quiet` block is running (no collection at all)."""
    return _paused > 0


def collect_due() -> int:
    """Collect the generations the interpreter would have collected by now (none
    inside :func:`quiet`); returns the generation collected, -1 for none."""
    if _paused or gc.isenabled():
        return -1
    counts, thresholds = gc.get_count(), gc.get_threshold()
    generation = -1
    for gen in range(3):
        if counts[gen] <= thresholds[gen]:
            break
        generation = gen
    if generation >= 0:
        gc.collect(generation)
    return generation


def settle() -> None:
    """Leave every object alive now out of later collections (until :func:`release`)."""
    global _added
    before = gc.get_freeze_count()
    gc.freeze()
    _added += gc.get_freeze_count() - before


_keeping = False  # whether keep() was called: release sets everything apart again


def keep() -> None:
    """Set every object alive now apart for as long as the app runs (what an
    import brought): :func:`release` does not hand these back to the walks."""
    global _keeping
    gc.freeze()
    _keeping = True


def release() -> None:
    """Hand the settled objects back to the collector (the graph they made is gone).
    Where objects are kept for good, their garbage is collected now, once, and what
    is left is set apart again."""
    global _added
    gc.unfreeze()
    _added = 0
    if _keeping:
        gc.collect()
        gc.freeze()


def settled() -> int:
    """How many objects :func:`settle` set apart since the last :func:`release`
    (counted when set apart; some may be gone since)."""
    return _added
