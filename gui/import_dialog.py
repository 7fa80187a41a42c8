"""The options of File ▸ Import Model…: which class, what inputs, which weights.

A PyTorch model is a class in a ``.py`` file. The dialog lists the classes that
file defines, read from its syntax tree by :mod:`layerloom.backend.import_options` (the
file is never run here: running it is the import itself, which the dialog warns
about), and offers one row per ``forward`` input (per-sample shape without the
batch dim, dtype, where the batch is: first, or second for a time-first input or
a recurrent state), the class's keyword arguments as JSON, an optional
state-dict file, and whether submodules become blocks. An ONNX file declares
its shapes: the dialog shows them, asks for the sizes an input leaves open, and
offers the same choice of blocks or one sheet.

:func:`ask_import_options` is what the main window calls; tests build an
:class:`ImportDialog`, fill its fields and read :meth:`ImportDialog.request`.
"""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from layerloom.backend.import_options import OnnxInput, parse_shape, read_classes, read_onnx_inputs
from layerloom.gui.importing import ImportRequest

MAX_INPUTS = 8  # input rows the dialog offers (LayerLoom's merges take up to 8)
DTYPES = ("auto", "float", "long")
DTYPE_TIP = "auto: long (token ids) when the input goes into nn.Embedding, float otherwise"
BATCH_DIMS = ("batch first", "time first")  # the batch in dim 0, or in dim 1
BATCH_TIP = ("Where the input has its batch: first (N, ...), or second (T, N, ...) for a time-first "
             "recurrent model and for an RNN's state (layers, N, hidden)")
FLAT_TIP = ("By default each submodule (a residual block, a stage) becomes a block you can open; "
            "tick to get every layer on one canvas")
WEIGHTS_FILTER = "State dicts (*.pt *.pth *.bin *.safetensors);;All files (*)"
WARNING_STYLE = ("background: #fffbeb; border: 1px solid #fcd34d; border-radius: 5px; "
                 "color: #92400e; padding: 6px 8px;")


# ------------------------------------------------------------------ dialog
class _InputRow:
    """One input: its name, shape field, dtype and batch position (PyTorch) and
    remove button."""

    def __init__(self, dialog: ImportDialog, name: str, declared: str = "", fixed: bool = False):
        self.name = QLabel(name)
        self.shape = QLineEdit()
        self.shape.setObjectName("importShape")
        self.shape.setPlaceholderText("sizes for each ?, e.g. 3, 32, 32" if declared else "e.g. 1, 28, 28")
        self.shape.setToolTip("The shape of one sample, without the batch dim")
        if fixed:
            self.shape.setText(declared)
            self.shape.setEnabled(False)
        self.dtype = QComboBox()
        self.dtype.setObjectName("importDtype")
        self.dtype.addItems(DTYPES)
        self.dtype.setToolTip(DTYPE_TIP)
        self.batch = QComboBox()
        self.batch.setObjectName("importBatchDim")
        self.batch.addItems(BATCH_DIMS)
        self.batch.setToolTip(BATCH_TIP)
        self.remove = QToolButton()
        self.remove.setObjectName("importRemoveInput")
        self.remove.setText("−")
        self.remove.setToolTip("Remove this input")
        self.remove.clicked.connect(lambda _checked=False, row=self: dialog.remove_input(row))
        self.declared = QLabel(f"declared ({declared})" if declared else "")
        self.declared.setProperty("role", "hint")

    def widgets(self) -> list[QWidget]:
        return [self.name, self.shape, self.dtype, self.batch, self.declared, self.remove]


class ImportDialog(QDialog):
    """The import options for one file (objectName ``importDialog``).

    Parameters
    ----------
    path : Path
        A ``.py`` file, or a ``.onnx`` file whose ``onnx_inputs`` are given.
    onnx_inputs : list of OnnxInput, optional
        The ONNX file's inputs: one shape row each, fixed where nothing is open.
    """

    def __init__(self, path: str | Path, onnx_inputs: list[OnnxInput] | None = None,
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("importDialog")
        self.path = Path(path)
        self.is_onnx = onnx_inputs is not None
        self.rows: list[_InputRow] = []
        self._row_names: list[str] = []
        self.setWindowTitle(f"Import {self.path.name}")
        layout = QVBoxLayout(self)
        if self.is_onnx:
            self._build_onnx(layout, onnx_inputs)
        else:
            self._build_python(layout)
        self.error = QLabel()
        self.error.setObjectName("importError")
        self.error.setProperty("role", "error")
        self.error.setWordWrap(True)
        self.error.hide()
        layout.addWidget(self.error)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Import")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.setMinimumWidth(560)

    # --------------------------------------------------------------- build
    def _build_python(self, layout: QVBoxLayout) -> None:
        warning = QLabel(
            f"<b>Importing runs the Python code in {self.path.name}</b> with your rights, as "
            "<code>python</code> would. Import only files you trust."
        )
        warning.setObjectName("importWarning")
        warning.setWordWrap(True)
        warning.setStyleSheet(WARNING_STYLE)
        layout.addWidget(warning)
        self.source = read_classes(self.path)
        form = QFormLayout()
        self.class_name = QComboBox()
        self.class_name.setObjectName("importClass")
        self.class_name.setEditable(True)
        self.class_name.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.class_name.addItems(self.source.modules)
        self.class_name.setEditText(self.source.default)
        self.class_name.lineEdit().setPlaceholderText("the nn.Module class, e.g. Net")
        self.class_name.setToolTip("The nn.Module class to import; the file's classes are listed")
        self.class_name.currentTextChanged.connect(self._class_changed)
        form.addRow("Class:", self.class_name)
        if self.source.error:
            note = QLabel(self.source.error)
            note.setProperty("role", "error")
            note.setWordWrap(True)
            form.addRow("", note)
        self.args = QLineEdit()
        self.args.setObjectName("importArgs")
        self.args.setPlaceholderText('keyword arguments as JSON, e.g. {"hidden": 64}')
        form.addRow("Arguments:", self.args)
        self.weights = QLineEdit()
        self.weights.setObjectName("importWeights")
        self.weights.setPlaceholderText("optional: a state dict (.pt, .pth via torch.save, or .safetensors)")
        browse = QPushButton("Browse…")
        browse.setObjectName("importBrowseWeights")
        browse.clicked.connect(self._browse_weights)
        weights_row = QHBoxLayout()
        weights_row.addWidget(self.weights, 1)
        weights_row.addWidget(browse)
        form.addRow("Weights:", weights_row)
        form.addRow("", self._flat_box("One sheet of layers (no blocks for the model's submodules)"))
        layout.addLayout(form)
        layout.addWidget(self._section("Inputs: the shape of one sample of each, without the batch dim"))
        self.grid = QGridLayout()
        self.grid.setColumnStretch(1, 1)
        layout.addLayout(self.grid)
        self.add_button = QPushButton("Add input")
        self.add_button.setObjectName("importAddInput")
        self.add_button.clicked.connect(lambda _checked=False: self.add_input())
        hint = QLabel("Leave the shape empty when the input goes straight into nn.Linear.")
        hint.setProperty("role", "hint")
        row = QHBoxLayout()
        row.addWidget(self.add_button)
        row.addWidget(hint, 1)
        layout.addLayout(row)
        self._class_changed(self.class_name.currentText())

    def _build_onnx(self, layout: QVBoxLayout, inputs: list[OnnxInput]) -> None:
        if any(item.open for item in inputs):
            text = (f"{self.path.name} leaves some input sizes open. Give the shape of one sample of "
                    "each input, without the batch dim.")
        else:
            text = f"The inputs {self.path.name} declares (one sample of each, without the batch dim):"
        note = QLabel(text)
        note.setWordWrap(True)
        layout.addWidget(note)
        self.grid = QGridLayout()
        self.grid.setColumnStretch(1, 1)
        layout.addLayout(self.grid)
        for item in inputs:
            row = _InputRow(self, item.name, item.sample_shape, fixed=not item.open)
            row.dtype.hide()
            row.batch.hide()
            row.remove.hide()
            self._place(row)
        layout.addWidget(self._flat_box("One sheet of layers (no blocks for the modules the file names)"))

    def _flat_box(self, text: str) -> QCheckBox:
        self.flat = QCheckBox(text)
        self.flat.setObjectName("importFlat")
        self.flat.setToolTip(FLAT_TIP)
        return self.flat

    @staticmethod
    def _section(text: str) -> QLabel:
        label = QLabel(text)
        label.setProperty("role", "section")
        return label

    # ---------------------------------------------------------------- rows
    def _class_changed(self, name: str) -> None:
        """Offer one row per input of the chosen class's ``forward`` (rows stay as
        they are while a name is typed that the file does not show)."""
        names = self.source.inputs.get(name.strip())
        if names is None:
            if not self.rows:
                self.add_input()
            return
        names = names or ["x"]
        self._row_names = names
        while len(self.rows) > len(names):
            self.remove_input(self.rows[-1], force=True)
        while len(self.rows) < min(len(names), MAX_INPUTS):
            self.add_input()
        for row, label in zip(self.rows, names, strict=False):
            row.name.setText(label)

    def add_input(self) -> None:
        if len(self.rows) >= MAX_INPUTS:
            return
        index = len(self.rows)
        name = self._row_names[index] if index < len(self._row_names) else f"input {index + 1}"
        self._place(_InputRow(self, name))
        self._update_rows()

    def remove_input(self, row: _InputRow, force: bool = False) -> None:
        if row not in self.rows or (len(self.rows) == 1 and not force):
            return
        self.rows.remove(row)
        for widget in row.widgets():
            self.grid.removeWidget(widget)
            widget.deleteLater()
        for i, kept in enumerate(self.rows):  # close the gap
            for column, widget in enumerate(kept.widgets()):
                self.grid.addWidget(widget, i, column)
        self._update_rows()

    def _place(self, row: _InputRow) -> None:
        index = len(self.rows)
        self.rows.append(row)
        for column, widget in enumerate(row.widgets()):
            self.grid.addWidget(widget, index, column)

    def _update_rows(self) -> None:
        for row in self.rows:
            row.remove.setEnabled(len(self.rows) > 1)
        self.add_button.setEnabled(len(self.rows) < MAX_INPUTS)

    # ------------------------------------------------------------- weights
    def ask_weights_path(self) -> str | None:
        """The state-dict file chosen in a file dialog (tests replace this)."""
        path, _ = QFileDialog.getOpenFileName(self, "State dict for the model", str(self.path.parent),
                                              WEIGHTS_FILTER)
        return path or None

    def _browse_weights(self) -> None:
        path = self.ask_weights_path()
        if path:
            self.weights.setText(path)

    # -------------------------------------------------------------- result
    def request(self) -> ImportRequest:
        """The options as entered. Raises ``ValueError`` naming the field at fault."""
        if self.is_onnx:  # the file's own shapes, unless it leaves sizes open
            open_dims = any(row.shape.isEnabled() for row in self.rows)
            return ImportRequest(self.path, input_shapes=self._shapes() if open_dims else None,
                                 flat=self.flat.isChecked())
        shapes = self._shapes()
        name = self.class_name.currentText().strip()
        if not name.isidentifier():
            found = ", ".join(self.source.modules) or "none found"
            raise ValueError(f"give the name of the nn.Module class to import (the file's classes: {found}); "
                             f"{name!r} is not a class name")
        dtypes = [row.dtype.currentText() for row in self.rows]
        batch_dims = [row.batch.currentIndex() for row in self.rows]
        return ImportRequest(
            self.path, name, shapes,
            None if all(d == "auto" for d in dtypes) else [("float" if d == "auto" else d) for d in dtypes],
            self._args(), self._weights(), self.flat.isChecked(),
            batch_dims if any(batch_dims) else None,
        )

    def _shapes(self) -> list[tuple[int, ...]] | None:
        texts = [row.shape.text().strip() for row in self.rows]
        if not any(texts) and not self.is_onnx:
            return None
        missing = [row.name.text() for row, text in zip(self.rows, texts, strict=True) if not text]
        if missing:
            raise ValueError(
                f"give the shape of every input, or of none (leave all empty when they go straight into "
                f"nn.Linear); missing: {', '.join(missing)}"
            )
        return [parse_shape(text, f"the shape of input {row.name.text()!r}, {text!r},")
                for row, text in zip(self.rows, texts, strict=True)]

    def _args(self) -> dict | None:
        text = self.args.text().strip()
        if not text:
            return None
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"the arguments are not valid JSON ({exc.msg} at column {exc.colno}): {text!r}; "
                             'write an object such as {"hidden": 64}') from None
        if not isinstance(value, dict):
            raise ValueError(f'the arguments must be a JSON object such as {{"hidden": 64}}, got {text!r}')
        return value

    def _weights(self) -> Path | None:
        text = self.weights.text().strip()
        if not text:
            return None
        path = Path(text).expanduser()
        if not path.is_absolute():
            path = self.path.parent / path
        if not path.is_file():
            raise ValueError(f"the weights file {text!r} does not exist; choose it with Browse… or leave it empty")
        return path

    def accept(self) -> None:
        """Close only with options that make sense; else say what is wrong."""
        try:
            self.request()
        except ValueError as exc:
            text = str(exc)
            self.error.setText(text[:1].upper() + text[1:])
            self.error.show()
            self.adjustSize()
            return
        super().accept()


def ask_import_options(path: Path, parent: QWidget | None = None) -> ImportRequest | None:
    """The options for importing ``path`` from the dialog (for an ONNX file the
    importer reports a file it cannot read). ``None`` when cancelled."""
    path = Path(path)
    if path.suffix.lower() == ".onnx":
        inputs = read_onnx_inputs(path)
        if not inputs:
            return ImportRequest(path)
        dialog = ImportDialog(path, inputs, parent)
    else:
        dialog = ImportDialog(path, parent=parent)
    dialog.setWindowModality(Qt.WindowModality.WindowModal)
    if dialog.exec() != QDialog.DialogCode.Accepted:
        return None
    return dialog.request()
