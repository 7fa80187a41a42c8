"""Opening a big ``.loom`` file without freezing the window.

Reading a 20,000-node file and inferring its shapes takes a few seconds, so a
file over :data:`BACKGROUND_BYTES` is read and analysed in a
:class:`~layerloom.gui.background.BackgroundCall` thread (no Qt there); meanwhile the
status bar shows what is being opened, with a Cancel button, and the current
document stays as it is, editable. Cancel, or a damaged file, leaves it untouched.
Once read, the graph becomes the document and the canvas draws it a slice at a
time (:mod:`layerloom.gui.canvas.scene_build`), the status bar counting the items.
Smaller files open at once, as before.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QMainWindow, QProgressBar, QToolButton, QWidget

from layerloom.graph import Graph, GraphFileError
from layerloom.gui import heap
from layerloom.gui.background import BackgroundCall

BACKGROUND_BYTES = 256 * 1024  # larger files (about 700 nodes and up) are read in the background
SHUTDOWN_WAIT_MS = 30_000


class LoadCancelled(Exception):
    """The user cancelled the open before the file was read."""


def read_graph(read: Callable[[], Graph], cancelled: threading.Event) -> Graph:
    """``read()`` and the shapes of what it read, in the worker thread (no Qt).

    No cycle collection runs meanwhile, and what was read is left out of later
    ones (:mod:`layerloom.gui.heap`): each would stop the window too."""
    with heap.quiet():
        graph = read()
        if cancelled.is_set():
            raise LoadCancelled("cancelled")
        graph.analysis()  # cached on the graph; the document takes it over
    return graph


def is_big(path: Path) -> bool:
    """Whether ``path`` is a regular file large enough to be read in the background."""
    try:
        return path.is_file() and path.stat().st_size > BACKGROUND_BYTES
    except OSError:
        return False  # the loader says what is wrong


class LoadProgress(QWidget):
    """``Opening big.loom…``, a bar and Cancel, at the right of the status bar
    (objectName ``loadProgress``; the button ``loadCancel``); hidden when idle."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("loadProgress")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 6, 0)
        self.label = QLabel(self)
        self.bar = QProgressBar(self)
        self.bar.setMaximumWidth(140)
        self.bar.setMaximumHeight(14)
        self.bar.setTextVisible(False)
        self.cancel = QToolButton(self)
        self.cancel.setObjectName("loadCancel")
        self.cancel.setText("Cancel")
        self.cancel.setToolTip("Stop opening the file; the current graph stays as it is")
        layout.addWidget(self.label)
        layout.addWidget(self.bar)
        layout.addWidget(self.cancel)
        self.hide()

    def busy(self, text: str) -> None:
        """A moving bar (no known end) and Cancel."""
        self.label.setText(text)
        self.bar.setRange(0, 0)
        self.cancel.show()
        self.show()

    def count(self, text: str, done: int, total: int) -> None:
        """A filling bar, no Cancel (the document is replaced by then)."""
        self.label.setText(text)
        self.bar.setRange(0, max(total, 1))
        self.bar.setValue(min(done, total))
        self.cancel.hide()
        self.show()


class FileLoad(QObject):
    """Reads big files for a :class:`~layerloom.gui.main_window.MainWindow` in the
    background and hands the graph over on the GUI thread.

    Signals
    -------
    loadFinished(bool)
        A background open has ended: True when its graph became the document
        (its items may still be drawn, see ``progress``), False when it was
        cancelled or the file was refused.
    progress(str, int, int)
        What is happening, and items drawn and in all (0, 0 while reading).
    """

    loadFinished = Signal(bool)
    progress = Signal(str, int, int)

    def __init__(self, window: QMainWindow):
        super().__init__(window)
        self.window = window
        self.worker: BackgroundCall | None = None
        self._threads: list[BackgroundCall] = []  # every worker not yet ended, dropped ones too
        self._cancelled = threading.Event()
        self._name = ""
        self._revision = -1
        self._adopt: Callable[[Graph], None] | None = None
        self._fail: Callable[[str], None] | None = None
        self.indicator = LoadProgress(window.statusBar())
        self.indicator.cancel.clicked.connect(self.cancel)
        window.statusBar().addPermanentWidget(self.indicator)
        builder = window.scene.builder
        builder.progress.connect(self._drawn)
        builder.finished.connect(self._drawing_done)
        self._drawing = False

    @property
    def busy(self) -> bool:
        """Whether a file is being read (not counting the drawing after)."""
        return self.worker is not None

    def start(self, name: str, read: Callable[[], Graph], adopt: Callable[[Graph], None],
              fail: Callable[[str], None]) -> None:
        """Run ``read`` (which raises ``GraphFileError`` for a bad file) in the
        background; then ``adopt(graph)`` on the GUI thread, or ``fail(message)``.
        A load already running is dropped first."""
        self.drop()
        self._threads = [w for w in self._threads if not w.isFinished()]
        self._cancelled = threading.Event()
        self._name, self._adopt, self._fail = name, adopt, fail
        self._revision = self.window.graph.revision
        worker = BackgroundCall(read_graph, read, self._cancelled, expected=(GraphFileError, LoadCancelled),
                                what=f"opening {name}", parent=self)
        worker.succeeded.connect(self._succeeded)
        worker.failed.connect(self._failed)
        self.worker = worker
        self._threads.append(worker)
        self.indicator.busy(f"Opening {name}…")
        self.progress.emit(f"Opening {name}", 0, 0)
        worker.start()

    def cancel(self) -> None:
        """Stop opening: the result, when it comes, is dropped; the document stays."""
        if self.worker is None:
            return
        name = self._name
        self.drop()
        self.window.show_status(f"Opening {name} cancelled; the current graph is unchanged", 6000)
        self.loadFinished.emit(False)

    def drop(self) -> None:
        """Forget the load running (its thread ends on its own; its result is ignored)."""
        worker, self.worker = self.worker, None
        if worker is not None:
            self._cancelled.set()
            worker.succeeded.disconnect(self._succeeded)
            worker.failed.disconnect(self._failed)
        if not self._drawing:
            self.indicator.hide()

    def wait(self, ms: int = SHUTDOWN_WAIT_MS) -> None:
        """Drop the load running and wait for its thread (the window is closing)."""
        self.drop()
        for worker in self._threads:
            worker.wait(ms)

    # ------------------------------------------------------------- results
    def _succeeded(self, graph: Graph) -> None:
        self.worker = None
        self.indicator.hide()
        window = self.window
        # Edits made while the file was read are asked about again before they go.
        if window.graph.revision != self._revision and not window.maybe_save():
            window.show_status(f"{self._name} was not opened; the current graph is kept", 8000)
            self.loadFinished.emit(False)
            return
        self._drawing = True
        self._adopt(graph)
        if not window.scene.builder.busy:
            self._drawing_done()
        self.loadFinished.emit(True)

    def _failed(self, message: str) -> None:
        self.worker = None
        self.indicator.hide()
        self._fail(message)
        self.loadFinished.emit(False)

    def _drawn(self, done: int, total: int) -> None:
        text = f"Drawing {len(self.window.graph):,} nodes"
        self.indicator.count(text, done, total)
        self.progress.emit(text, done, total)

    def _drawing_done(self) -> None:
        self._drawing = False
        if self.worker is None:
            self.indicator.hide()
