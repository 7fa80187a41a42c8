"""File ▸ Import Model…: bring a PyTorch or ONNX model in as a new graph.

The import itself (:mod:`layerloom.backend.importers`) traces the model, maps it, compiles
the graph and checks its outputs; for a PyTorch file it also runs the file's code.
That takes a second or more, so it runs in a
:class:`~layerloom.gui.background.BackgroundCall` thread that touches no widget: it reports through signals connected to bound methods of
:class:`ModelImport`, which lives on the GUI thread (a lambda would run in the
worker's thread instead). While it runs, the status bar shows a busy indicator
and the window stays usable.

On success the graph opens as a new untitled document ("Untitled — imported from
model.py:Net") and its weights become the Training dock's current model (Save
Weights, Export and Try it work on them); the dock opens trained weights from a
file, so the worker also writes them to a temporary ``.safetensors`` that is
deleted once the dock has read it. On failure the importer's message (every
unsupported part, or what is wrong with the inputs) is shown, never a traceback,
and the current document stays as it was.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QMainWindow, QProgressBar, QWidget

from layerloom.gui.background import BackgroundCall

IMPORT_FILTER = "Models (*.py *.onnx);;PyTorch code (*.py);;ONNX models (*.onnx);;All files (*)"
SHUTDOWN_WAIT_MS = 60_000  # longest wait for an import still running when the window closes


@dataclass(frozen=True)
class ImportRequest:
    """What to import and how (the options of the Import dialog).

    Attributes
    ----------
    path : Path
        A ``.py`` file (PyTorch) or a ``.onnx`` file.
    class_name : str
        The ``nn.Module`` class to import from a ``.py`` file.
    input_shapes : list of tuple, optional
        Per-sample shape of each input, without the batch dim; ``None`` lets the
        importer read them (from the first ``nn.Linear``, or the ONNX file).
    input_dtypes : list of str, optional
        ``"float"`` or ``"long"`` per input (PyTorch only).
    args : dict, optional
        Keyword arguments for the class (PyTorch only).
    weights : Path, optional
        A state dict to load into the PyTorch model first.
    flat : bool
        One sheet of layers rather than a block per submodule (or per module an
        ONNX file names).
    batch_dims : list of int, optional
        Where each input has its batch: 0, or 1 for a time-first input or a
        recurrent state (PyTorch only).
    """

    path: Path
    class_name: str = ""
    input_shapes: list[tuple[int, ...]] | None = None
    input_dtypes: list[str] | None = None
    args: dict[str, Any] | None = None
    weights: Path | None = None
    flat: bool = False
    batch_dims: list[int] | None = None

    @property
    def is_onnx(self) -> bool:
        return self.path.suffix.lower() == ".onnx"

    @property
    def origin(self) -> str:
        """``model.py:Net`` or ``model.onnx``: what the title and messages name."""
        return self.path.name if self.is_onnx else f"{self.path.name}:{self.class_name}"


@dataclass
class ImportOutcome:
    """A finished import: the backend's result (graph and model with weights)."""

    request: ImportRequest
    result: Any  # backend.importers.ImportResult
    notes: list[str] = field(default_factory=list)


class ImportFailed(Exception):
    """An import that cannot be done; the message is for the user."""


def run_import(request: ImportRequest) -> ImportOutcome:
    """Import ``request``.

    Runs in the worker thread: no Qt here. Raises :class:`ImportFailed` with the
    importer's message for anything the user's model or options cause.
    """
    from layerloom.backend.importers import ModelImportError, import_file, import_onnx

    try:
        if request.is_onnx:
            result = import_onnx(request.path, request.input_shapes, flat=request.flat)
        else:
            result = import_file(
                f"{request.path}:{request.class_name}", request.args, request.weights,
                request.input_shapes, request.input_dtypes, flat=request.flat,
                batch_dims=request.batch_dims,
            )
    except ModelImportError as exc:
        raise ImportFailed(str(exc)) from None
    return ImportOutcome(request, result, list(result.notes))


def import_worker(request: ImportRequest, parent: QObject | None = None) -> BackgroundCall:
    """:func:`run_import` in a thread of its own. Its ``succeeded`` gives the
    :class:`ImportOutcome`; its ``failed`` the importer's message, or the first line
    of an error the user's code raised in an unexpected place."""
    return BackgroundCall(run_import, request, expected=(ImportFailed,), what=f"importing {request.origin}",
                          parent=parent)


class BusyIndicator(QWidget):
    """``Importing model.py:Net…`` and a moving bar, at the right of the status bar
    (objectName ``importBusy``); hidden while nothing is imported."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("importBusy")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 6, 0)
        self.label = QLabel(self)
        self.bar = QProgressBar(self)
        self.bar.setRange(0, 0)  # busy: no known end
        self.bar.setMaximumWidth(110)
        self.bar.setMaximumHeight(14)
        self.bar.setTextVisible(False)
        layout.addWidget(self.label)
        layout.addWidget(self.bar)
        self.hide()

    def start(self, text: str) -> None:
        self.label.setText(text)
        self.show()

    def stop(self) -> None:
        self.hide()


class ModelImport(QObject):
    """The Import Model command of a :class:`~layerloom.gui.main_window.MainWindow`.

    Asks through the window's replaceable ``maybe_save``, ``ask_import_path``,
    ``ask_import_options`` and ``show_error``, so tests script every dialog.

    Parameters
    ----------
    window : QMainWindow
        The :class:`~layerloom.gui.main_window.MainWindow` (typed by its Qt base: that
        module imports this one). Besides those four it provides ``show_status``,
        ``action(name)``, ``graph``, ``document``, ``view`` and ``training_dock``.

    Signals
    -------
    importFinished(bool)
        An import has ended: True when its graph was opened.
    """

    importFinished = Signal(bool)

    def __init__(self, window: QMainWindow):
        super().__init__(window)
        self.window = window
        self.worker: BackgroundCall | None = None
        self._dropped: BackgroundCall | None = None
        self.request: ImportRequest | None = None  # the import running, or the last one
        self._revision = -1  # the graph's revision when the user let it go
        self.busy_indicator = BusyIndicator(window.statusBar())
        window.statusBar().addPermanentWidget(self.busy_indicator)

    @property
    def busy(self) -> bool:
        return self.worker is not None

    def begin(self, path: str | Path | None = None) -> bool:
        """Ask about unsaved changes, then for the file and its options, and start
        the import. False when the user cancelled or one is running already."""
        window = self.window
        if self.busy:
            window.show_status("An import is running already; wait for it to finish")
            return False
        if not window.maybe_save():
            return False
        path = path or window.ask_import_path()
        if not path:
            return False
        path = Path(path)
        if path.suffix.lower() not in (".py", ".onnx"):
            window.show_error(
                f"Cannot import {path.name}",
                "LayerLoom imports PyTorch models from Python files (.py, naming the nn.Module class) "
                f"and ONNX models (.onnx); {path.name} is neither. Choose a .py or .onnx file.")
            return False
        request = window.ask_import_options(path)
        if request is None:
            return False
        self.start(request)
        return True

    def start(self, request: ImportRequest) -> None:
        """Run ``request`` in the background; the result arrives on the GUI thread."""
        self._dropped = None
        self._revision = self.window.graph.revision
        self.request = request
        worker = import_worker(request, self)
        worker.succeeded.connect(self._succeeded)
        worker.failed.connect(self._failed)
        worker.finished.connect(self._ended)
        self.worker = worker
        self.busy_indicator.start(f"Importing {request.origin}…")
        self.window.action("import_model").setEnabled(False)
        worker.start()

    def wait(self, ms: int = SHUTDOWN_WAIT_MS) -> None:
        """Block until the running import ends, dropping its result (window closing)."""
        worker = self.worker
        if worker is None:
            return
        self._dropped = worker  # a result already on its way is ignored too
        worker.succeeded.disconnect(self._succeeded)
        worker.failed.disconnect(self._failed)
        if worker.wait(ms):
            self._ended()

    # ------------------------------------------------------------- results
    def _succeeded(self, outcome: ImportOutcome) -> None:
        if self._dropped is not None:
            return
        window = self.window
        origin = outcome.request.origin
        # Edits made while the import ran are asked about again before they go.
        if window.graph.revision != self._revision and not window.maybe_save():
            window.show_status(f"The import of {origin} was not opened; the current graph is kept", 8000)
            self.importFinished.emit(False)
            return
        window.document.open_imported(outcome.result.graph, origin)
        window.view.fit_to_view()
        held = self._hand_to_dock(outcome)
        analysis = window.graph.analysis()
        difference = outcome.result.max_difference
        match = f"within {difference:.2g}" if difference else "exactly"
        message = (f"Imported {origin}: {len(window.graph)} nodes, {analysis.total_params:,} parameters "
                   f"(outputs match the source model {match})")
        if outcome.notes or held:
            message += "; " + "; ".join([*outcome.notes, *held])
        window.show_status(message, 15000)
        self.importFinished.emit(True)

    def _hand_to_dock(self, outcome: ImportOutcome) -> list[str]:
        """Make the imported weights the Training dock's current model; returns
        what the user should know when it cannot."""
        dock = self.window.training_dock
        if dock.running:
            return ["a training run is going on, so the imported weights are not in the Training dock: "
                    "stop the run and import again to try or export them"]
        origin = outcome.request.origin
        result = outcome.result
        if dock.adopt_model(result.graph.copy(), result.model, f"imported from {origin}") is not None:
            dock.run_bar.show_message(
                f"Imported the weights of {origin}: Save Weights, Export and Try it use them", "done")
        return []

    def _failed(self, message: str) -> None:
        if self._dropped is not None:
            return
        name = self.request.origin if self.worker is not None and self.request is not None else "the model"
        self.window.show_error(f"Cannot import {name}", message)
        self.importFinished.emit(False)

    def _ended(self) -> None:
        worker, self.worker = self.worker, None
        if worker is not None:
            worker.deleteLater()
        self.busy_indicator.stop()
        self.window.action("import_model").setEnabled(True)
