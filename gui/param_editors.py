"""One small editor widget per parameter kind, built from a :class:`~graph.Param`.

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
text       :class:`TextEditor`, a line edit
=========  ================================================================

An ``object`` (a dataset's options) has no editor of its own: a form shows its
values with the fields of their own schema.
"""

from __future__ import annotations

import math
import re
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QLineEdit, QSizePolicy, QSpinBox, QWidget

from layerloom.graph import Param
from layerloom.graph.params import INT_LIMIT

QT_INT_MAX = 2**31 - 1


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
    return "\n".join(lines)


def format_value(param: Param, value: Any) -> str:
    """Text shown in a line editor for ``value``."""
    if param.kind == "float":
        return repr(float(value))  # shortest text that reads back exactly: 0.001, 1e-05
    if param.kind == "ints":
        return value if isinstance(value, str) else ", ".join(str(v) for v in value)
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
    """Whole numbers within the schema's range; commits on Enter, arrows or focus-out."""

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
        self.blockSignals(True)
        self.setValue(int(value))
        self.blockSignals(False)
        self.set_invalid(False)

    def set_mixed(self) -> None:
        self.setToolTip(tooltip_for(self.param) + "\n(the selected nodes have different values)")


class _TextEditor(_InvalidMixin, QLineEdit):
    """A value typed as text, checked on every keystroke and committed on Enter or
    leaving the field. Subclasses say how to parse and what to say when they
    cannot (:meth:`parse`, :meth:`refusal`)."""

    edited = Signal(object)
    rejected = Signal(str)
    holds_text = True  # refused text stays for the user to fix
    placeholder = ""

    def __init__(self, param: Param, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.param = param
        self._shown = ""
        self.setPlaceholderText(self.placeholder)
        self.editingFinished.connect(self._commit)
        self.textEdited.connect(lambda text: self.set_invalid(self.parse(text) is None))

    def parse(self, text: str) -> Any:
        """The value of ``text``, or ``None`` when it is not one."""
        raise NotImplementedError

    def refusal(self, text: str) -> str:
        """Why ``text`` is refused, quoting it and giving an example."""
        raise NotImplementedError

    def set_value(self, value: Any) -> None:
        self._shown = format_value(self.param, value)
        self.blockSignals(True)
        self.setText(self._shown)
        self.setPlaceholderText(self.placeholder)
        self.blockSignals(False)
        self.set_invalid(False)

    def set_mixed(self) -> None:
        self._shown = ""
        self.blockSignals(True)
        self.clear()
        self.setPlaceholderText("mixed")
        self.blockSignals(False)

    def _commit(self) -> None:
        text = self.text().strip()
        if text == self._shown:
            return
        value = self.parse(text)
        if value is None:
            self.set_invalid(True)
            self.rejected.emit(self.refusal(text))
            return
        self.edited.emit(value)


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
        self.blockSignals(True)
        self.setTristate(False)
        self.setChecked(bool(value))
        self.blockSignals(False)

    def set_mixed(self) -> None:
        self.blockSignals(True)
        self.setTristate(True)
        self.setCheckState(Qt.CheckState.PartiallyChecked)
        self.blockSignals(False)

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
        self.addItems(list(param.choices))
        self.activated.connect(lambda index: self.edited.emit(self.param.choices[index]))

    def set_value(self, value: Any) -> None:
        self.blockSignals(True)
        self.setCurrentIndex(self.findText(str(value)))
        self.blockSignals(False)

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
        return (
            f"{self.param.title} takes whole numbers separated by commas such as "
            f"'{self.example}'{words}; got {text!r}"
        )


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


class TextEditor(_TextEditor):
    """Text as typed (surrounding spaces dropped)."""

    def parse(self, text: str) -> str:
        return text

    def refusal(self, text: str) -> str:  # every text is read
        return ""


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
}


def make_editor(param: Param, parent: QWidget | None = None) -> QWidget:
    """The editor for ``param``'s kind, with its help text as tooltip."""
    if param.kind not in EDITORS:
        raise ValueError(f"no editor for {param.name} of kind {param.kind!r}: a form shows it "
                         f"with widgets of its own")
    editor = EDITORS[param.kind](param, parent)
    editor.setObjectName(f"param_{param.name}")
    editor.setToolTip(tooltip_for(param))
    return editor
