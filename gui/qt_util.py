"""Small helpers that make the right thing the short thing in Qt code."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from PySide6.QtCore import QObject


@contextmanager
def signals_blocked(*objects: QObject) -> Iterator[None]:
    """Block the signals of ``objects`` for the ``with`` block, then restore each one's
    previous state, also when the block raises (a bare ``blockSignals(True)`` /
    ``(False)`` pair leaves a widget deaf after an exception)."""
    previous = [obj.blockSignals(True) for obj in objects]
    try:
        yield
    finally:
        for obj, was in zip(objects, previous, strict=True):
            obj.blockSignals(was)
