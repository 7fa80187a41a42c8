"""Run one slow call (load a dataset, export a model, import a model) off the GUI
thread: one worker class for every such job.

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

    Parameters
    ----------
    fn, args
        The call. It touches no widget.
    expected : tuple of exception types
        Errors the user can cause, whose message is for the user as it is.
    what : str, optional
        What the call does, for the message of an unexpected error
        (``"importing model.py:Net"`` gives ``"importing model.py:Net failed with
        ValueError: ..."``).

    Signals
    -------
    succeeded(object)
        The return value.
    failed(str)
        The error's message: an expected error's own, else ``Type: first line``
        (after ``what failed with`` where ``what`` is given).
    """

    succeeded = Signal(object)
    failed = Signal(str)

    def __init__(self, fn: Callable[..., Any], *args: Any, expected: tuple[type, ...] = (),
                 what: str = "", parent: QObject | None = None):
        super().__init__(parent)
        self.fn = fn
        self.args = args
        self.expected = expected
        self.what = what

    def run(self) -> None:
        try:
            result = self.fn(*self.args)
        except self.expected as exc:
            self.failed.emit(str(exc))
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # user code (an imported model) may raise anything, SystemExit included
            self.failed.emit(self.unexpected_message(exc))
        else:
            self.succeeded.emit(result)

    def unexpected_message(self, exc: BaseException) -> str:
        """An unexpected error in one line: its type and the first line of its message."""
        lines = str(exc).strip().splitlines()
        text = f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__
        return f"{self.what} failed with {text}" if self.what else text


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
