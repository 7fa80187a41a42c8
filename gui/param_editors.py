"""One small editor widget per parameter kind, built from a :class:`~layerloom.graph.Param`.

Each editor shows a value with :meth:`set_value` (signals blocked, so writing the
model's value into the form never echoes back as an edit) and reports a user's
edit with ``edited(value)``. Text it cannot read is refused in place with
``rejected(reason)``; the value itself is checked by the inspector through the
undo command (``Param.coerce`` / ``Graph.set_params`` rules), which gives the
reason for values out of range.

=========  ================================================================
kind       editor
=========  ================================================================
int        :class:`IntEditor`, a spin box limited to the schema's range
float      :class:`FloatEditor`, a line edit: ``0.001``, ``1e-4`` and ``3``
bool       :class:`BoolEditor`, a check box
choice     :class:`ChoiceEditor`, a combo box of the schema's choices
ints       :class:`IntsEditor`, a line edit ``3, 3`` (or ``same``/``valid``)
floats     :class:`FloatsEditor`, a line edit ``0.9, 0.999``
text       :class:`TextEditor`, a line edit (one character: ``tab`` for a tab)
path       :class:`PathEditor`, a line edit with a button that opens a file
columns    :class:`ColumnsEditor`, a line edit ``price, 2, "2019"``
=========  ================================================================

An optional parameter (default ``None``) shows what leaving it unset means as the
grey text of its empty field, and an emptied field is the edit ``None``. An ``object`` (a dataset's options) has no editor of its own: a form shows its
values with the fields of their own schema.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QValidator
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QLineEdit,
    QSizePolicy,
    QSpinBox,
    QStyle,
    QWidget,
)

from layerloom.graph import Param, ParamError
from layerloom.graph.params import INT_LIMIT
from layerloom.gui.qt_util import signals_blocked

QT_INT_MAX = 2**31 - 1
INDEX = re.compile(r"-?\d+")
CHOICE_TEXT = {True: "yes", False: "no"}  # how True and False read in a combo box
TAB_WORDS = ("tab", "\\t")  # typed for a tab in a one-character field


def describe_range(param: Param) -> str:
    """``"1 … 1000000"`` style text for tooltips (``"> 0, ≤ 1000"`` where a bound is
    excluded), empty when unbounded."""
    lo, hi = param.minimum, param.maximum
    if lo is None and hi is None:
        return ""
    fmt = "{:g}".format
    if lo is not None and hi is not None and not (param.exclusive_minimum or param.exclusive_maximum):
        return f"{fmt(lo)} … {fmt(hi)}"
    low = f"{'>' if param.exclusive_minimum else '≥'} {fmt(lo)}" if lo is not None else ""
    high = f"{'<' if param.exclusive_maximum else '≤'} {fmt(hi)}" if hi is not None else ""
    return ", ".join(part for part in (low, high) if part)


def tooltip_for(param: Param) -> str:
    """Help text, allowed range and choices: what a user needs before typing."""
    lines = [param.help or param.title]
    span = describe_range(param)
    if span:
        lines.append(f"Allowed: {span}")
    if param.kind == "ints":
        count = f"{param.length} whole numbers" if param.length else "whole numbers"
        extra = f", or {' / '.join(param.choices)}" if param.choices else ""
        lines.append(f"Enter {count} separated by commas{extra}")
    elif param.kind == "columns":
        lines.append('Names or 0-based indices separated by commas; quote a name that is a number ("2019")')
    elif param.kind == "text" and param.length == 1:
        lines.append("One character; type tab for a tab")
    elif param.kind == "path":
        lines.append("Type the path, or choose the file with the button")
    if param.optional and param.unset:
        lines.append(f"Empty: {param.unset}")
    return "\n".join(lines)


def choice_text(choice: Any) -> str:
    """How a choice reads in a combo box: ``True`` as yes, ``"rgb"`` as is."""
    return CHOICE_TEXT[choice] if isinstance(choice, bool) else str(choice)


def format_value(param: Param, value: Any) -> str:
    """Text shown in a line editor for ``value`` (empty for ``None``); the editor
    reads it back as the same value."""
    if value is None:
        return ""
    if param.kind == "float":
        return repr(float(value))  # shortest text that reads back exactly: 0.001, 1e-05
    if param.kind == "ints":
        return value if isinstance(value, str) else ", ".join(str(v) for v in value)
    if param.kind == "columns":
        columns = value if isinstance(value, (list, tuple)) else [value]
        return ", ".join(f'"{c}"' if isinstance(c, str) and (INDEX.fullmatch(c) or "," in c) else str(c)
                         for c in columns)
    if param.kind == "text" and param.length == 1 and value == "\t":
        return TAB_WORDS[0]
    if param.kind == "floats":
        return ", ".join(repr(float(v)) for v in value)
    return str(value)


class _InvalidMixin:
    """Marks the editor invalid (red border through the stylesheet)."""

    def set_invalid(self, invalid: bool) -> None:
        if bool(self.property("invalid")) != invalid:
            self.setProperty("invalid", invalid)
            self.style().unpolish(self)
            self.style().polish(self)


class IntEditor(_InvalidMixin, QSpinBox):
    """Whole numbers within the schema's range; commits on Enter, arrows or focus-out.

    A number typed outside the range (``-5`` where the least is 1) is refused with
    a message (``rejected``) and the value stays: a plain spin box would drop the
    minus sign as it is typed and silently take 5.
    """

    edited = Signal(object)
    rejected = Signal(str)

    def __init__(self, param: Param, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.param = param
        lo = -INT_LIMIT if param.minimum is None else int(math.ceil(param.minimum))
        hi = INT_LIMIT if param.maximum is None else int(math.floor(param.maximum))
        self.setRange(max(lo, -QT_INT_MAX), min(hi, QT_INT_MAX))
        self.setKeyboardTracking(False)  # one edit per commit, not one per keystroke
        self.setAccelerated(True)
        self.setCorrectionMode(QSpinBox.CorrectionMode.CorrectToNearestValue)
        self.valueChanged.connect(self.edited.emit)

    def set_value(self, value: Any) -> None:
        with signals_blocked(self):
            self.setValue(int(value))
        self.set_invalid(False)

    def set_mixed(self) -> None:
        self.setToolTip(tooltip_for(self.param) + "\n(the selected nodes have different values)")

    def _typed(self, text: str) -> str:
        return text.removeprefix(self.prefix()).removesuffix(self.suffix()).strip().replace("_", "")

    def validate(self, text: str, pos: int):
        state, text, pos = super().validate(text, pos)
        typed = self._typed(text)
        if state == QValidator.State.Invalid and re.fullmatch(r"[+-]?\d*", typed):
            state = QValidator.State.Intermediate  # out of range: refused in fixup, with a message
        return state, text, pos

    def fixup(self, text: str) -> str:
        typed = self._typed(text)
        if re.fullmatch(r"[+-]?\d+", typed):
            value = int(typed)
            if not self.minimum() <= value <= self.maximum():
                span = describe_range(self.param) or f"{self.minimum()} … {self.maximum()}"
                self.rejected.emit(f"{self.param.title.capitalize()} must be {span}, got {value}; "
                                   f"kept {self.value()}")
        return self.textFromValue(self.value())


class _TextEditor(_InvalidMixin, QLineEdit):
    """A value typed as text, checked on every keystroke and committed on Enter or
    leaving the field. Subclasses say how to parse and what to say when they
    cannot (:meth:`parse`, :meth:`refusal`). An emptied field of an optional
    parameter is the edit ``None``. Once marked invalid (a refusal), the field
    commits even the text it showed until it shows a value again, so that typing
    the old value back clears the refusal."""

    edited = Signal(object)
    rejected = Signal(str)
    holds_text = True  # refused text stays for the user to fix
    placeholder = ""

    def __init__(self, param: Param, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.param = param
        self._shown = ""
        self._recheck = False  # refused since the last set_value: commit whatever the text
        if param.optional and param.unset:
            self.placeholder = param.unset
        self.setPlaceholderText(self.placeholder)
        self.editingFinished.connect(self._commit)
        self.textEdited.connect(lambda text: self.set_invalid(not self._readable(text)))

    def parse(self, text: str) -> Any:
        """The value of ``text``, or ``None`` when it is not one."""
        raise NotImplementedError

    def is_blank(self, text: str) -> bool:
        """Whether ``text`` names no value: for an optional parameter, the edit ``None``."""
        return not text.strip()

    def _readable(self, text: str) -> bool:
        return (self.param.optional and self.is_blank(text)) or self.parse(text) is not None

    def set_invalid(self, invalid: bool) -> None:
        super().set_invalid(invalid)
        self._recheck = self._recheck or invalid

    def refusal(self, text: str) -> str:
        """Why ``text`` is refused, quoting it and giving an example."""
        raise NotImplementedError

    def set_value(self, value: Any) -> None:
        self._shown = format_value(self.param, value)
        self._recheck = False
        with signals_blocked(self):
            self.setText(self._shown)
            self.setPlaceholderText(self.placeholder)
        self.set_invalid(False)

    def set_mixed(self) -> None:
        self._shown = ""
        with signals_blocked(self):
            self.clear()
            self.setPlaceholderText("mixed")

    def _commit(self) -> None:
        text = self.text()
        unchanged = text == self._shown or (bool(text.strip()) and text.strip() == self._shown.strip())
        if unchanged and not self._recheck:
            return
        self.setModified(False)  # read: from now on the model's value may replace it
        if self.param.optional and self.is_blank(text):
            self.edited.emit(None)
            return
        value = self.parse(text)
        if value is None:
            self.set_invalid(True)
            self.rejected.emit(self.refusal(text.strip() or text))
            return
        self.edited.emit(value)


class WideIntEditor(_TextEditor):
    """Whole numbers beyond a spin box's 32 bits (a seed such as a timestamp), typed as
    text and checked against the schema's range."""

    def __init__(self, param: Param, parent: QWidget | None = None) -> None:
        super().__init__(param, parent)
        self.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)

    def parse(self, text: str) -> int | None:
        try:
            return self.param.coerce(int(text.replace("_", "").replace(",", "")))
        except (ValueError, ParamError):
            return None

    def refusal(self, text: str) -> str:
        span = describe_range(self.param)
        return f"{self.param.title} must be a whole number{f' ({span})' if span else ''}, got {text!r}"


class FloatEditor(_TextEditor):
    """Real numbers as text, so that ``1e-4`` or ``0.0003`` can be typed exactly
    (a spin box with fixed decimals would round a learning rate to 0)."""

    def __init__(self, param: Param, parent: QWidget | None = None) -> None:
        super().__init__(param, parent)
        self.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)

    def parse(self, text: str) -> float | None:
        return _parse_float(text)

    def refusal(self, text: str) -> str:
        return f"{self.param.title} must be a number such as 0.5, 0.001 or 1e-4, got {text!r}"


class BoolEditor(QCheckBox):
    """On / off. Several nodes that disagree show a partly checked box."""

    edited = Signal(object)
    rejected = Signal(str)

    def __init__(self, param: Param, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.param = param
        # Only as wide as its box: a wide, empty check box ignores most clicks on it.
        self.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        self.clicked.connect(self._on_clicked)

    def set_value(self, value: Any) -> None:
        with signals_blocked(self):
            self.setTristate(False)
            self.setChecked(bool(value))

    def set_mixed(self) -> None:
        with signals_blocked(self):
            self.setTristate(True)
            self.setCheckState(Qt.CheckState.PartiallyChecked)

    def _on_clicked(self) -> None:
        checked = self.checkState() != Qt.CheckState.Unchecked
        self.set_value(checked)
        self.edited.emit(checked)


class ChoiceEditor(QComboBox):
    """One of the schema's choices; only a user's pick (``activated``) is an edit."""

    edited = Signal(object)
    rejected = Signal(str)

    def __init__(self, param: Param, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.param = param
        self.addItems([choice_text(c) for c in param.choices])
        self.activated.connect(lambda index: self.edited.emit(self.param.choices[index]))

    def set_value(self, value: Any) -> None:
        try:
            choice = self.param.coerce(value)
        except ParamError:
            choice = object()  # not offered: no entry shown
        with signals_blocked(self):
            self.setCurrentIndex(next((i for i, c in enumerate(self.param.choices) if c is choice), -1))

    def set_mixed(self) -> None:
        self.setToolTip(tooltip_for(self.param) + "\n(the selected nodes have different values)")


class IntsEditor(_TextEditor):
    """A tuple of whole numbers typed as ``3, 3``; a single number stands for all
    dims of a fixed-length tuple (``3`` means ``(3, 3)``), and words the schema
    allows (``same``, ``valid``) are accepted as they are."""

    def __init__(self, param: Param, parent: QWidget | None = None) -> None:
        self.example = ", ".join(["3"] * (param.length or 2))
        words = " or ".join(param.choices)
        self.placeholder = f"{self.example} or {words}" if words else self.example
        super().__init__(param, parent)

    def parse(self, text: str) -> Any:
        return parse_ints(self.param, text)

    def refusal(self, text: str) -> str:
        words = f", or one of {', '.join(self.param.choices)}" if self.param.choices else ""
        if self.param.optional and self.param.unset:
            words += f", or nothing for {self.param.unset}"
        return (
            f"{self.param.title} takes whole numbers separated by commas such as "
            f"'{self.example}'{words}; got {text!r}"
        )


class TextEditor(_TextEditor):
    """Free text, without the spaces around it; a one-character field keeps a
    lone space (a space can be a separator) and reads ``tab`` or ``\\t`` as a
    tab, which cannot be typed into a field."""

    def parse(self, text: str) -> str | None:
        if self.param.length == 1:
            stripped = text.strip() or text
            return "\t" if stripped.lower() in TAB_WORDS else stripped or None
        return text.strip() or None

    def is_blank(self, text: str) -> bool:
        return not text if self.param.length == 1 else not text.strip()

    def refusal(self, text: str) -> str:
        return f"{self.param.title} takes text, got {text!r}"


class PathEditor(_TextEditor):
    """A file's path, typed or chosen with the folder button at the end of the
    field. A chosen file inside :attr:`base_dir` is given relative to it, so that
    it travels with the files it belongs to."""

    def __init__(self, param: Param, parent: QWidget | None = None) -> None:
        super().__init__(param, parent)
        self.base_dir: Path | None = None
        icon = self.style().standardIcon(QStyle.StandardPixmap.SP_DirOpenIcon)
        self.browse = self.addAction(icon, QLineEdit.ActionPosition.TrailingPosition)
        self.browse.setToolTip(f"Choose the {param.title}")
        self.browse.triggered.connect(self._browse)

    def parse(self, text: str) -> str | None:
        return text.strip() or None

    def refusal(self, text: str) -> str:
        return f"{self.param.title} takes the path of a file, got {text!r}"

    def ask_path(self) -> str | None:
        """Ask for the file (replaced in tests)."""
        start = str(self.base_dir or Path.home())
        path, _ = QFileDialog.getOpenFileName(self, f"Choose the {self.param.title}", start, "All files (*)")
        return path or None

    def relative(self, path: str) -> str:
        """``path`` relative to :attr:`base_dir` when it lies inside it, else as given."""
        if self.base_dir is None:
            return path
        try:
            return Path(path).resolve().relative_to(Path(self.base_dir).resolve()).as_posix()
        except (ValueError, OSError, RuntimeError):  # outside, or a symlink loop
            return path

    def _browse(self) -> None:
        path = self.ask_path()
        if path:
            self.setText(self.relative(path))
            self._commit()


class ColumnsEditor(_TextEditor):
    """Table columns typed as ``price, 2, "2019"``: numbers are 0-based indices,
    anything else (or a quoted number) a name. One column is the value itself,
    several a tuple."""

    placeholder = "price, 2"

    def parse(self, text: str) -> Any:
        columns = parse_columns(text)
        if not columns:
            return None
        return columns[0] if len(columns) == 1 else tuple(columns)

    def is_blank(self, text: str) -> bool:
        return not parse_columns(text)

    def refusal(self, text: str) -> str:
        return f"{self.param.title} takes column names or 0-based indices separated by commas; got {text!r}"


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


class FloatsEditor(_TextEditor):
    """A tuple of numbers typed as ``0.9, 0.999``."""

    def __init__(self, param: Param, parent: QWidget | None = None) -> None:
        self.example = ", ".join(["0.5"] * (param.length or 2))
        self.placeholder = self.example
        super().__init__(param, parent)

    def parse(self, text: str) -> tuple[float, ...] | None:
        parts = [p for p in re.split(r"[,;\s]+", text.strip("()[] ")) if p]
        numbers = tuple(_parse_float(p) for p in parts)
        return numbers if numbers and None not in numbers else None

    def refusal(self, text: str) -> str:
        return (f"{self.param.title} takes numbers separated by commas such as "
                f"'{self.example}'; got {text!r}")


def parse_ints(param: Param, text: str) -> Any:
    """``"3, 3"`` or ``"3x3"`` -> ``(3, 3)``; ``"3"`` -> ``3`` (repeated by the schema for a
    fixed length); an allowed word as is; ``None`` when it is not readable."""
    lowered = text.strip().lower()
    if lowered in param.choices:
        return lowered
    inner = lowered.strip("()[] ")
    if not inner:
        return None
    inner = re.sub(r"(?<=\d)\s*[x×]\s*(?=-?\d)", ",", inner)  # "3x3" as in "3×3 kernel"
    parts = [p for p in re.split(r"[,;\s]+", inner) if p]
    try:
        numbers = tuple(int(p) for p in parts)
    except ValueError:
        return None
    if len(numbers) == 1 and param.length:
        return numbers[0]
    return numbers


def _parse_float(text: str) -> float | None:
    try:
        value = float(text.strip())
    except ValueError:
        return None
    return value if math.isfinite(value) else None


EDITORS = {
    "int": IntEditor,
    "float": FloatEditor,
    "bool": BoolEditor,
    "choice": ChoiceEditor,
    "ints": IntsEditor,
    "floats": FloatsEditor,
    "text": TextEditor,
    "path": PathEditor,
    "columns": ColumnsEditor,
}


def make_editor(param: Param, parent: QWidget | None = None) -> QWidget:
    """The editor for ``param``'s kind, with its help text as tooltip."""
    if param.kind not in EDITORS:
        raise ValueError(f"no editor for {param.name} of kind {param.kind!r}: a form shows it "
                         f"with widgets of its own")
    kind = EDITORS[param.kind]
    if kind is IntEditor and (param.optional or not _fits_spin_box(param)):
        kind = WideIntEditor  # a spin box can show neither "unset" nor 64-bit values
    editor = kind(param, parent)
    editor.setObjectName(f"param_{param.name}")
    editor.setToolTip(tooltip_for(param))
    return editor


def _fits_spin_box(param: Param) -> bool:
    """Whether every allowed value fits a QSpinBox (32-bit signed)."""
    lo = -param.int_limit if param.minimum is None else param.minimum
    hi = param.int_limit if param.maximum is None else param.maximum
    return -QT_INT_MAX <= lo and hi <= QT_INT_MAX
