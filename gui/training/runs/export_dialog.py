"""Export… : write the trained model as ONNX, TorchScript, standalone PyTorch code
or safetensors weights, with the backend's exporters and their checks.

An export can take seconds (ONNX is exported, then reloaded and compared in
onnxruntime), so it runs in a background thread with a busy cursor and the
dialog's buttons disabled; the result (file, what the checks measured, the
exporter's notes) or the reason it failed shows in the dialog. The model is a copy,
so nothing else that uses the run's model can disturb the export.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from layerloom.gui.background import BackgroundCall, CallKeeper

# format name -> (menu text, suffix, file-dialog filter)
FORMATS = {
    "onnx": ("ONNX (.onnx)", ".onnx", "ONNX models (*.onnx)"),
    "torchscript": ("TorchScript (.pt)", ".pt", "TorchScript archives (*.pt)"),
    "python": ("PyTorch code (.py + weights)", ".py", "Python files (*.py)"),
    "safetensors": ("Weights with the graph (.safetensors)", ".safetensors", "safetensors (*.safetensors)"),
}


def _export(graph, model, path: str, fmt: str, network: str = ""):
    from layerloom.backend.export import export_model

    if network:  # one block node alone (a GAN's generator)
        from layerloom.backend.export.network import extract_network

        graph, model = extract_network(graph, model, network)
    return export_model(graph, model, path, fmt)


def describe_result(result) -> str:
    """What was written and what the checks found, for the user."""
    files = ", ".join(Path(p).name for p in result.files) or Path(result.path).name
    lines = [f"Exported to {result.path} ({files})."]
    if result.max_difference:
        lines.append(f"Checked: outputs match the model within {result.max_difference:.2g}.")
    lines += [note[0].upper() + note[1:] + ("" if note.endswith(".") else ".") for note in result.notes if note]
    return "\n".join(lines)


class ExportDialog(QDialog):
    """The export dialog (objectName ``exportDialog``).

    Parameters
    ----------
    graph : Graph
        The graph the model was trained from.
    model : torch.nn.Module
        The trained model (copied before export).
    start_dir : str
        Folder the file name starts in.
    name : str
        File name without suffix.

    Signals
    -------
    exported(object)
        The :class:`~layerloom.backend.export.ExportResult` of a successful export.
    """

    exported = Signal(object)

    def __init__(self, graph, model, start_dir: str, name: str = "model", parent: QWidget | None = None,
                 subject: str = ""):
        super().__init__(parent)
        self.setObjectName("exportDialog")
        self.setWindowTitle(f"Export {subject}" if subject else "Export the trained model")
        self.subject = QLabel(f"Exports the model of <b>{subject}</b>" if subject else "")
        self.subject.setObjectName("exportSubject")
        self.subject.setVisible(bool(subject))
        self.graph = graph
        self.model = model
        self.start_dir = start_dir
        self.name = name
        self.result = None
        self.error: str | None = None
        self.keeper = CallKeeper(self)
        self._running = False
        self.format = QComboBox()
        self.format.setObjectName("exportFormat")
        for key, (text, _, _) in FORMATS.items():
            self.format.addItem(text, key)
        self.path = QLineEdit()
        self.path.setObjectName("exportPath")
        self.path.setMinimumWidth(320)
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        where = QHBoxLayout()
        where.addWidget(self.path, 1)
        where.addWidget(browse)
        self.status = QLabel("ONNX and TorchScript files are checked against the model before they are "
                             "kept; ONNX takes a few seconds.")
        self.status.setObjectName("exportStatus")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.export_button = self.buttons.addButton("Export", QDialogButtonBox.ButtonRole.AcceptRole)
        self.export_button.setObjectName("exportRun")
        self.export_button.clicked.disconnect()
        self.export_button.clicked.connect(self.start_export)
        self.buttons.rejected.connect(self.reject)
        form = QFormLayout()
        self.network = QComboBox()  # a GAN's networks export on their own too
        self.network.setObjectName("exportNetwork")
        if isinstance(getattr(graph, "training", None), dict) and graph.training.get("task") == "gan":
            for text, key in (("The generator alone", "generator"), ("The discriminator alone", "discriminator"),
                              ("The whole graph (noise to score)", "")):
                self.network.addItem(text, key)
            self.network.setToolTip("A GAN's generator is what makes new samples: export it on its own")
            form.addRow("Network", self.network)
        form.addRow("Format", self.format)
        form.addRow("File", where)
        layout = QVBoxLayout(self)
        layout.addWidget(self.subject)
        layout.addLayout(form)
        layout.addWidget(self.status)
        layout.addWidget(self.buttons)
        self.format.currentIndexChanged.connect(self._format_changed)
        self._format_changed()

    @property
    def fmt(self) -> str:
        return self.format.currentData()

    @property
    def busy(self) -> bool:
        return self._running

    def set_format(self, fmt: str) -> None:
        self.format.setCurrentIndex(self.format.findData(fmt))

    def _format_changed(self, *_args) -> None:
        suffix = FORMATS[self.fmt][1]
        current = self.path.text().strip()
        if current:
            self.path.setText(str(Path(current).with_suffix(suffix)))
        else:
            self.path.setText(os.path.join(self.start_dir, self.name + suffix))

    def _browse(self) -> None:
        _, suffix, pattern = FORMATS[self.fmt]
        path, _ = QFileDialog.getSaveFileName(self, "Export to", self.path.text(), pattern)
        if path:
            self.path.setText(path if Path(path).suffix else path + suffix)

    def start_export(self) -> bool:
        """Export to the file named in the dialog, in the background."""
        if self.busy:
            return False
        path = self.path.text().strip()
        if not path:
            self._failed("Give a file name to export to")
            return False
        from layerloom.backend.export import ExportError, WeightsError

        self.result, self.error = None, None
        self.status.setText(f"Exporting to {path}… (the file is checked against the model before it is kept)")
        self._set_busy(True)
        call = BackgroundCall(_export, self.graph, copy.deepcopy(self.model), path, self.fmt,
                              self.network.currentData() or "", expected=(ExportError, WeightsError, OSError), parent=self)
        call.succeeded.connect(self._done)
        call.failed.connect(self._failed)
        self.keeper.start(call)
        return True

    def _set_busy(self, busy: bool) -> None:
        self._running = busy
        for widget in (self.export_button, self.format, self.path, self.network):
            widget.setEnabled(not busy)
        if busy:
            QApplication.setOverrideCursor(Qt.CursorShape.BusyCursor)
        else:
            QApplication.restoreOverrideCursor()

    def _done(self, result) -> None:
        self._set_busy(False)
        self.result = result
        self.status.setText(describe_result(result))
        self.status.setStyleSheet("color: #15803d")
        self.exported.emit(result)

    def _failed(self, message: str) -> None:
        if self.busy:
            self._set_busy(False)
        self.error = message
        self.status.setText(f"Export failed: {message}")
        self.status.setStyleSheet("color: #b91c1c")

    def done(self, code: int) -> None:  # noqa: D401 - Qt override
        """Close only when no export is running (a thread must not outlive the dialog)."""
        if self.busy:
            self.status.setText("Wait for the export to finish before closing")
            return
        self.keeper.wait_all()
        super().done(code)
