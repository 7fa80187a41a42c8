"""Run one slow call (load a dataset, export a model) off the GUI thread.

The result, or the error's message, comes back through a signal connected to a
bound method of a main-thread object, so the receiving code runs on the GUI
thread (a lambda connected to a signal of an object living in another thread runs
in that thread instead). Errors the user can cause arrive as their message, never
as a traceback.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal


class BackgroundCall(QThread):
    """``fn(*args)`` in a thread of its own.

    Signals
    -------
    succeeded(object)
        The return value.
    failed(str)
        The error's message (``Type: message`` for an unexpected error type).
    """

    succeeded = Signal(object)
    failed = Signal(str)

    def __init__(self, fn: Callable[..., Any], *args: Any, expected: tuple[type, ...] = (),
                 parent: QObject | None = None):
        super().__init__(parent)
        self.fn = fn
        self.args = args
        self.expected = expected

    def run(self) -> None:
        try:
            result = self.fn(*self.args)
        except self.expected as exc:
            self.failed.emit(str(exc))
        except Exception as exc:  # an unexpected error still only shows its first line
            text = str(exc).strip().splitlines()
            self.failed.emit(f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": "))
        else:
            self.succeeded.emit(result)


class CallKeeper(QObject):
    """Keeps running :class:`BackgroundCall` objects alive until they end, and
    waits for them before its owner goes away (a QThread destroyed while it runs
    aborts the process)."""

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.calls: set[BackgroundCall] = set()

    def start(self, call: BackgroundCall) -> BackgroundCall:
        self.calls.add(call)
        call.finished.connect(self._ended)
        call.start()
        return call

    def _ended(self) -> None:
        for call in [c for c in self.calls if c.isFinished()]:
            self.calls.discard(call)
            call.deleteLater()

    @property
    def busy(self) -> bool:
        return any(c.isRunning() for c in self.calls)

    def wait_all(self, ms: int = 30_000) -> None:
        for call in list(self.calls):
            call.wait(ms)
