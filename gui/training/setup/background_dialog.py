"""What the dialogs that run one job in the background share (Find learning rate,
Sweep): the progress bar and status line, the button row (start, stop, use the
result, Close), the thread the job runs in, and stopping it when the dialog closes.

The job's thread reports through signals only (it never touches a widget); its
``finished`` signal gives the dialog its controls back.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QThread
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QLayout,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)


class BackgroundRunDialog(QDialog):
    """A dialog whose job runs in :attr:`thread` (``None`` while none runs).

    Subclasses say what the controls do while a job runs (:meth:`_set_running`) and
    how to stop it at once (:meth:`_cancel`); closing the dialog cancels a job that
    still runs and waits up to :attr:`wait_ms` for its thread to end.
    """

    wait_ms = 30_000

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.thread: QThread | None = None
        self.progress = QProgressBar()
        self.status = QLabel()
        self.status.setWordWrap(True)

    @property
    def running(self) -> bool:
        return self.thread is not None

    # --------------------------------------------------------------- building
    @staticmethod
    def _button(text: str, name: str, slot: Callable, tip: str = "", enabled: bool = True) -> QPushButton:
        button = QPushButton(text)
        button.setObjectName(name)
        if tip:
            button.setToolTip(tip)
        button.setEnabled(enabled)
        button.clicked.connect(slot)
        return button

    def _lay_out(self, intro: QWidget, form: QLayout, body: QWidget, buttons: list[QPushButton]) -> None:
        """The intro, the form, the body (which takes the spare height), the progress
        bar, the status line, then ``buttons`` and Close."""
        row = QHBoxLayout()
        for b in buttons:
            row.addWidget(b)
        row.addStretch(1)
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.reject)
        row.addWidget(close)

        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(body, 1)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addLayout(row)

    # ---------------------------------------------------------------- the job
    def _launch(self, thread: QThread) -> None:
        """Run ``thread`` (its own signals already connected)."""
        thread.finished.connect(self._ended)
        self.thread = thread
        self._set_running(True)
        thread.start()

    def _set_running(self, running: bool) -> None:
        raise NotImplementedError

    def _cancel(self) -> None:
        """Ask the job to stop at once."""
        raise NotImplementedError

    def _ended(self) -> None:
        self.thread = None
        self._set_running(False)

    def done(self, result: int) -> None:  # Close, Escape, the window's close button
        if self.thread is not None:
            self._cancel()
            self.thread.wait(self.wait_ms)
        super().done(result)
