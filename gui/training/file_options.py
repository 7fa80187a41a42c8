"""The options of a user data file, as a form in the set-up panel.

A CSV table, an ``.npz`` archive, an image folder and IDX files each take a few
options (:data:`layerloom.backend.datasets.files.FILE_OPTIONS`). This form shows one editor
per option of the chosen file's kind: a combo box for a choice, a line edit for
free text whose placeholder says the default. Typed text becomes the value the
reader takes (``0, 2`` -> the column indices ``[0, 2]``, ``28, 28`` -> an image
size ``[28, 28]``); an empty field or the default choice means the default, so
the key leaves the options instead of being stored as ``""``.

An edit is checked the one sure way, by loading the file with the new options off
the GUI thread (the load the preview needs anyway). Options the reader accepts
come out as ``accepted(options, dataset)`` for the panel to store (one undoable
step) and preview; a refusal comes out as ``rejected(message)`` with the
reader's own message, and the stored options stay as they were. One check runs
at a time: an edit made meanwhile waits and builds on it, so no edit is lost or
applied out of order, and a check overtaken by a change of the graph (undo,
another file) is dropped.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from layerloom.gui.training.background import BackgroundCall, CallKeeper

KIND_NAMES = {"csv": "CSV table", "npz": "NumPy archive", "images": "image folder", "idx": "IDX images"}
CHOICE_TEXT = {True: "yes", False: "no"}  # how csv header's True/False read in its combo box
INDEX = re.compile(r"-?\d+")


@dataclass(frozen=True)
class Field:
    """How one option is edited: its label and, for free text, the placeholder
    (the default in words) and how to type a value."""

    key: str
    label: str
    placeholder: str = ""
    hint: str = ""


FIELDS: dict[str, tuple[Field, ...]] = {
    "csv": (
        Field("features", "Features", "all but the target",
              'Names or 0-based indices separated by commas; quote a name that is a number ("2019").'),
        Field("target", "Target", "last column",
              "A name or 0-based index; several separated by commas make a multi-output regression."),
        Field("task", "Task"),
        Field("header", "Header"),
        Field("delimiter", "Delimiter", "guessed from , ; tab |", "One character; type tab for a tab."),
    ),
    "npz": (Field("task", "Task"),),
    "images": (
        Field("size", "Size", "original size", "Height and width in pixels, such as 28, 28 (one number: a square)."),
        Field("mode", "Mode"),
    ),
    "idx": (
        Field("labels", "Labels file", "found by name next to the images", "The path of the IDX labels file."),
        Field("split", "Split"),
    ),
}


def parse_columns(text: str) -> list[int | str]:
    """``a, 2, "2019"`` -> ``["a", 2, "2019"]``: numbers are 0-based column
    indices, anything else (or a quoted number) a column name."""
    columns: list[int | str] = []
    for item in (part.strip() for part in text.split(",")):
        if len(item) >= 2 and item[0] == item[-1] and item[0] in "\"'":
            columns.append(item[1:-1])
        elif INDEX.fullmatch(item):
            columns.append(int(item))
        elif item:
            columns.append(item)
    return columns


def parse_option(key: str, text: str) -> Any:
    """The value of option ``key`` typed as ``text``, ``None`` for the default.

    Raises
    ------
    ValueError
        Text that cannot be a value of ``key`` (only ``size`` has such), with a
        message that quotes it and shows what to type.
    """
    if key == "delimiter":  # a space is a delimiter, so not stripped away
        stripped = text.strip() or text
        return {"": None, "tab": "\t", "\\t": "\t"}.get(stripped.lower(), stripped)
    text = text.strip()
    if not text:
        return None
    if key in ("features", "target"):
        columns = parse_columns(text)
        if not columns:
            return None
        return columns if key == "features" or len(columns) > 1 else columns[0]
    if key == "size":
        parts = [p for p in re.split(r"[\s,;x×]+", text.strip("()[] ").lower()) if p]
        if not 1 <= len(parts) <= 2 or not all(INDEX.fullmatch(p) for p in parts):
            raise ValueError(f"size takes the height and width in pixels such as '28, 28' (one number "
                             f"for a square), or nothing for the original size; got {text!r}")
        return [int(parts[0]), int(parts[-1])]
    return text


def format_option(key: str, value: Any) -> str:
    """The text that :func:`parse_option` reads back as ``value``."""
    if value is None:
        return ""
    if key == "delimiter":
        return "tab" if value == "\t" else str(value)
    if key in ("features", "target", "size"):
        values = value if isinstance(value, (list, tuple)) else [value]
        return ", ".join(f'"{v}"' if isinstance(v, str) and INDEX.fullmatch(v) else str(v) for v in values)
    return str(value)


@dataclass(frozen=True)
class _Check:
    key: str  # the option edited
    path: str
    base: dict  # the options the graph holds when the check began (or the check before it keeps)
    options: dict
    generation: int


def _load(load_dataset, path: str, options: dict):
    return load_dataset(path, **options)


def beside(path: str, folder: Path) -> str:
    """``path`` relative to ``folder`` when it lies inside it (a labels file next
    to its images travels with them; the reader looks there first), else as given."""
    try:
        return Path(path).resolve().relative_to(folder.resolve()).as_posix()
    except ValueError:
        return path


class FileOptionsForm(QWidget):
    """The editors of a user data file's options (objectName ``fileOptions``; each
    editor ``fileOption_<key>``); hidden while the data is a built-in.

    Parameters
    ----------
    keeper : CallKeeper
        Keeps the checking loads alive (the panel's, so that closing waits for them).
    stored : callable
        Returns the options the graph holds now: a check whose starting point is
        no longer there (undone meanwhile) is dropped, not applied on top.
    stored_path : callable, optional
        Returns the data the graph names now (resolved as :meth:`show_file` gets
        it): a check of another file (the user picked a new one meanwhile) is
        dropped too.

    Signals
    -------
    accepted(dict, Dataset)
        Options the reader accepted, and the data they load.
    rejected(str)
        Why an edit was refused (the reader's message, or how to type the value);
        the form shows it under its fields too.
    """

    accepted = Signal(object, object)
    rejected = Signal(str)

    def __init__(self, keeper: CallKeeper, stored: Callable[[], dict[str, Any]],
                 stored_path: Callable[[], str] | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("fileOptions")
        self.keeper = keeper
        self.stored = stored
        self.stored_path = stored_path
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        self.form = QFormLayout()
        self.form.setContentsMargins(0, 0, 0, 0)
        outer.addLayout(self.form)
        self.message = QLabel()  # why the last edit was refused, under the fields
        self.message.setObjectName("fileOptionsProblem")
        self.message.setWordWrap(True)
        self.message.setStyleSheet("color: #b91c1c")
        self.message.hide()
        outer.addWidget(self.message)
        self.path = ""
        self.kind: str | None = None
        self.options: dict[str, Any] = {}  # as stored in the graph
        self.editors: dict[str, QComboBox | QLineEdit] = {}
        self.choices: dict[str, tuple] = {}
        self.refused: str | None = None  # the key whose edit was refused last
        self._shown: dict[str, str] = {}
        self._running: _Check | None = None
        self._queued: _Check | None = None
        self._generation = 0
        self.hide()

    # ------------------------------------------------------------------ show
    def show_file(self, path: str) -> None:
        """Show the options of the user data at ``path`` (``""``: none, hide) as
        the graph stores them now; a stored change not made here drops the edits
        still being checked."""
        options = dict(self.stored())
        if path != self.path or options != self.options:
            self._generation += 1
            self._queued = None
        if path != self.path:
            self._say("")
            self.path = path
            self._build()
        self.options = options
        self.refused = None
        self._show_values()
        self.setVisible(bool(path))

    def _build(self) -> None:
        from layerloom.backend.datasets import DatasetError
        from layerloom.backend.datasets.files import FILE_CHOICES, FILE_OPTIONS, file_kind

        while self.form.rowCount():
            self.form.removeRow(0)
        self.editors, self.choices, self._shown = {}, {}, {}
        self.kind = None
        if not self.path:
            return
        path = Path(self.path)
        try:
            self.kind = file_kind(path)
        except (DatasetError, OSError):
            pass
        name = QLabel(f"{path.name} ({KIND_NAMES[self.kind]})" if self.kind else path.name)
        name.setObjectName("fileOptionsName")
        name.setToolTip(str(path))
        name.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)  # a long name clips
        self.form.addRow("File", name)
        for field in FIELDS.get(self.kind, ()):
            if self.kind == "idx" and field.key != ("split" if path.is_dir() else "labels"):
                continue  # a folder is split by name; one images file takes its labels file
            tip = FILE_OPTIONS[self.kind][field.key]
            tip = tip[0].upper() + tip[1:] + (f"\n{field.hint}" if field.hint else "")
            choices = FILE_CHOICES[self.kind].get(field.key)
            if choices:
                editor = QComboBox()
                editor.addItems([CHOICE_TEXT[c] if isinstance(c, bool) else str(c) for c in choices])
                editor.activated.connect(lambda i, key=field.key, cs=choices: self._edit(key, cs[i] if i else None))
                self.choices[field.key] = choices
            else:
                editor = QLineEdit()
                editor.setPlaceholderText(field.placeholder)
                editor.editingFinished.connect(lambda key=field.key: self._text_committed(key))
            editor.setObjectName(f"fileOption_{field.key}")
            editor.setToolTip(tip)
            self.editors[field.key] = editor
            self.form.addRow(field.label, self._with_browse(editor) if field.key == "labels" else editor)

    def _with_browse(self, editor: QLineEdit) -> QWidget:
        row = QWidget()
        layout = QHBoxLayout(row)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(editor, 1)
        browse = QToolButton()
        browse.setObjectName("fileOption_labels_browse")
        browse.setText("…")
        browse.setToolTip("Choose the labels file")
        browse.clicked.connect(self._browse_labels)
        layout.addWidget(browse)
        return row

    def _wanted(self) -> dict[str, Any]:
        """The options the editors show: the newest edit still being checked, else the stored ones."""
        for check in (self._queued, self._running):
            if check is not None and check.generation == self._generation:
                return check.options
        return self.options

    def _show_values(self) -> None:
        values = self._wanted()
        for key, editor in self.editors.items():
            value = values.get(key)
            if isinstance(editor, QComboBox):
                editor.blockSignals(True)
                editor.setCurrentIndex(0 if value is None else next(
                    (i for i, c in enumerate(self.choices[key]) if c == value and type(c) is type(value)), -1))
                editor.blockSignals(False)
            elif not (editor.hasFocus() and editor.isModified()):  # never under the user's typing
                self._shown[key] = format_option(key, value)
                editor.blockSignals(True)
                editor.setText(self._shown[key])
                editor.blockSignals(False)
            self._mark_invalid(editor, False)

    @staticmethod
    def _mark_invalid(editor: QWidget, invalid: bool) -> None:
        if bool(editor.property("invalid")) != invalid:
            editor.setProperty("invalid", invalid)
            editor.style().unpolish(editor)
            editor.style().polish(editor)

    # ------------------------------------------------------------------ edit
    def _text_committed(self, key: str) -> None:
        editor = self.editors[key]
        text = editor.text()
        editor.setModified(False)  # read: from now on undo or a check may show another value
        if text == self._shown.get(key) and self.refused != key:
            return
        try:
            value = parse_option(key, text)
        except ValueError as exc:
            self._refuse(key, str(exc))
            return
        self._edit(key, value)

    def _browse_labels(self) -> None:
        path = self.ask_labels_path()
        if path:
            self.editors["labels"].setText(beside(path, Path(self.path).parent))
            self._text_committed("labels")

    def ask_labels_path(self) -> str | None:
        """Ask for the IDX labels file (replaced in tests)."""
        path, _ = QFileDialog.getOpenFileName(self, "Open IDX labels file", str(Path(self.path).parent),
                                              "IDX files (*.gz *-ubyte *.idx*);;All files (*)")
        return path or None

    def _edit(self, key: str, value: Any) -> None:
        """Check the options with ``key`` set to ``value`` (``None``: the default)."""
        wanted = self._wanted()
        options = {k: v for k, v in wanted.items() if k != key}
        if value is not None:
            options[key] = value
        if options == wanted and self.refused is None:
            return
        if self.refused is not None:
            self._mark_invalid(self.editors[self.refused], False)
            self.refused = None
        self._say("")
        self._queued = _Check(key, self.path, wanted, options, self._generation)
        if self._running is None:
            self._start_next()

    def _start_next(self) -> None:
        from layerloom.backend.datasets import DatasetError, load_dataset
        from layerloom.graph import GraphError

        self._running, self._queued = self._queued, None
        if self._running is None:
            return
        call = BackgroundCall(_load, load_dataset, self._running.path, dict(self._running.options),
                              expected=(DatasetError, OSError, GraphError), parent=self)
        call.succeeded.connect(self._checked)
        call.failed.connect(self._check_failed)
        self.keeper.start(call)

    def _current(self, check: _Check | None) -> bool:
        """Whether ``check`` still applies: nothing changed the file or its options since it began."""
        if (check is not None and check.generation == self._generation and check.base == self.stored()
                and (self.stored_path is None or check.path == self.stored_path())):
            return True
        self._generation += 1  # the graph changed first: drop what builds on it
        self._queued = None
        self.options = dict(self.stored())
        self._show_values()
        return False

    def _checked(self, dataset) -> None:
        check, self._running = self._running, None
        if self._current(check):
            self.options = dict(check.options)
            self.accepted.emit(dict(check.options), dataset)
        self._start_next()

    def _check_failed(self, message: str) -> None:
        check, self._running = self._running, None
        if not self._current(check):
            return
        queued, self._queued = self._queued, None  # it built on the refused value ...
        self._show_values()
        value = check.options.get(check.key)
        editor = self.editors.get(check.key)
        if isinstance(editor, QComboBox):
            editor.blockSignals(True)
            editor.setCurrentIndex(0 if value is None else self.choices[check.key].index(value))
            editor.blockSignals(False)
        elif editor is not None:
            editor.setText(format_option(check.key, value))
        self._refuse(check.key, message)
        if queued is not None and queued.key != check.key:  # ... so try its own edit alone
            options = {k: v for k, v in self.options.items() if k != queued.key}
            if queued.key in queued.options:
                options[queued.key] = queued.options[queued.key]
            if options != self.options:
                self._queued = _Check(queued.key, self.path, dict(self.options), options, self._generation)
                self._start_next()

    def _say(self, text: str) -> None:
        self.message.setText(text)
        self.message.setVisible(bool(text))

    def _refuse(self, key: str, message: str) -> None:
        self._say(message)  # stays until the next edit or another file
        self.refused = key
        if key in self.editors:
            self._mark_invalid(self.editors[key], True)
        self.rejected.emit(message)
