"""The options of a user data file, as a form in the set-up panel.

Each kind of data file (a CSV table, an ``.npz`` archive, an image folder, IDX
files, or any other registered :class:`~layerloom.backend.datasets.FileKind`) declares its
options as ``Param`` schemas. This form shows one editor per option that applies
to the chosen file, made by the same factory as a layer's property form
(:func:`layerloom.gui.param_editors.make_editor`): a combo box for a choice, a line edit for
text, columns or a size, whose grey text says what leaving it empty means. An
emptied field or the default choice means the default, so the key leaves the
options instead of being stored.

An edit is first checked against the kind's declaration (at once, on the GUI
thread), then the one sure way, by loading the file with the new options off the
GUI thread (the load the preview needs anyway). Options the reader accepts come
out as ``accepted(options, dataset)`` for the panel to store (one undoable step)
and preview; a refusal comes out as ``rejected(message)`` with the declaration's
or the reader's own message, and the stored options stay as they were. One check
runs at a time: an edit made meanwhile waits and builds on it, so no edit is lost
or applied out of order, and a check overtaken by a change of the graph (undo,
another file) is dropped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFormLayout, QLabel, QLineEdit, QSizePolicy, QVBoxLayout, QWidget

from layerloom.graph import Param
from layerloom.gui.background import BackgroundCall, CallKeeper
from layerloom.gui.param_editors import make_editor

if TYPE_CHECKING:
    from layerloom.backend.datasets import FileKind


def data_filter() -> str:
    """The Open Data dialog's filter: the name endings of every registered file kind."""
    from layerloom.backend.datasets import list_file_kinds

    patterns = dict.fromkeys(f"*{suffix}" for kind in list_file_kinds() for suffix in kind.suffixes)
    return f"Data files ({' '.join(patterns)});;All files (*)"


@dataclass(frozen=True)
class _Check:
    key: str  # the option edited
    path: str
    base: dict  # the options the graph holds when the check began (or the check before it keeps)
    options: dict
    generation: int


def _load(load_dataset, path: str, options: dict):
    return load_dataset(path, **options)


def _is_default(param: Param, value: Any) -> bool:
    """Whether canonical ``value`` is the default (``True`` is not ``1``)."""
    default = param.coerce(param.default)
    return value is None or (type(value) is type(default) and value == default)


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
        Why an edit was refused (the declaration's or the reader's message, or how
        to type the value); the form shows it under its fields too.
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
        self.kind: FileKind | None = None
        self.params: dict[str, Param] = {}  # the options shown, by name
        self.options: dict[str, Any] = {}  # as stored in the graph
        self.editors: dict[str, QWidget] = {}
        self.refused: str | None = None  # the key whose edit was refused last
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
        """One row per option of the file's kind that applies to it, from its declaration."""
        from layerloom.backend.datasets import DatasetError, file_kind

        while self.form.rowCount():
            self.form.removeRow(0)
        self.editors, self.params, self.kind = {}, {}, None
        if not self.path:
            return
        path = Path(self.path)
        try:
            self.kind = file_kind(path)
        except (DatasetError, OSError):
            pass
        name = QLabel(f"{path.name} ({self.kind.display_name})" if self.kind else path.name)
        name.setObjectName("fileOptionsName")
        name.setToolTip(str(path))
        name.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)  # a long name clips
        self.form.addRow("File", name)
        for param in self.kind.options_for(path) if self.kind else ():
            editor = make_editor(param)
            editor.setObjectName(f"fileOption_{param.name}")
            if param.kind == "path":
                editor.base_dir = path.parent  # a relative path is taken next to the data
            editor.edited.connect(lambda value, key=param.name: self._edit(key, value))
            editor.rejected.connect(lambda message, key=param.name: self._refuse(key, message))
            self.params[param.name] = param
            self.editors[param.name] = editor
            self.form.addRow(param.title.capitalize(), editor)

    def _wanted(self) -> dict[str, Any]:
        """The options the editors show: the newest edit still being checked, else the stored ones."""
        for check in (self._queued, self._running):
            if check is not None and check.generation == self._generation:
                return check.options
        return self.options

    def _show_values(self) -> None:
        values = self._wanted()
        for key, editor in self.editors.items():
            typing = isinstance(editor, QLineEdit) and editor.hasFocus() and editor.isModified()
            if not typing:  # never under the user's typing
                editor.set_value(values.get(key, self.params[key].default))
            self._mark_invalid(editor, False)

    @staticmethod
    def _mark_invalid(editor: QWidget, invalid: bool) -> None:
        if hasattr(editor, "set_invalid"):  # a text field also commits its old text again
            editor.set_invalid(invalid)
        elif bool(editor.property("invalid")) != invalid:
            editor.setProperty("invalid", invalid)
            editor.style().unpolish(editor)
            editor.style().polish(editor)

    # ------------------------------------------------------------------ edit
    def _edit(self, key: str, value: Any) -> None:
        """Check the options with ``key`` set to ``value`` (``None``: the default):
        against the declaration at once, then by loading the file."""
        from layerloom.backend.datasets import DatasetError

        param = self.params[key]
        try:
            value = self.kind.check_options(Path(self.path), {key: value})[key]
        except DatasetError as exc:
            self._refuse(key, str(exc))
            return
        wanted = self._wanted()
        options = {k: v for k, v in wanted.items() if k != key}
        if not _is_default(param, value):
            options[key] = param.to_json(value)
        if options == wanted and self.refused is None:
            self._show_values()  # "16" typed over "16, 16": show it as stored
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
        editor = self.editors.get(check.key)
        if editor is not None:  # the refused value stays for the user to fix
            editor.set_value(check.options.get(check.key, self.params[check.key].default))
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
