"""Small helpers that make the right thing the short thing in Qt code."""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import shiboken6
from PySide6.QtCore import QObject

if TYPE_CHECKING:
    from layerloom.graph import Event


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


def qt_listener(method: Callable[[Event], None]) -> Callable[[Event], None]:
    """A graph listener calling ``method`` (of a Qt object) only while that object
    lives: the graph may outlive the widgets that follow it, and an event must
    never reach a deleted one. Holds the object weakly."""
    ref = weakref.WeakMethod(method)

    def listener(event: Event) -> None:
        bound = ref()
        if bound is not None and shiboken6.isValid(bound.__self__):
            bound(event)

    return listener
