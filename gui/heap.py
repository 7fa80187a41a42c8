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
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_paused = 0


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
            if _paused == 0:
                gc.enable()


def settle() -> None:
    """Leave every object alive now out of later collections (until :func:`release`)."""
    gc.freeze()


def release() -> None:
    """Hand the settled objects back to the collector (the graph they made is gone)."""
    gc.unfreeze()


def settled() -> int:
    """How many objects are out of the collector's reach now."""
    return gc.get_freeze_count()
