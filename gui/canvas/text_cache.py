"""Text measured and laid out once per distinct string, shared by every card and wire.

A 300-node canvas shows a few dozen distinct strings (``→ (N, 64)``, ``shape ?``,
``units 64 · relu``) many times over. Measuring them (``QFontMetricsF``) and laying
them out (``QStaticText.prepare``) was most of the cost of drawing a card, so both
are kept here by ``(text, size, bold)`` and reused: a re-analysis that changes three
hundred cards to strings seen before costs dictionary look-ups, not text layout.

A ``QStaticText`` is implicitly shared and never changed after it is made here, so
one object can be drawn by any number of items. Each cache is cleared when it grows
past :data:`MAX_ENTRIES`, so a long session with many distinct error messages does
not grow it without end (the next use simply measures again).
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QFontMetricsF, QStaticText, QTransform

from layerloom.gui.canvas import theme

MAX_ENTRIES = 4096

_metrics: dict[tuple[float, bool], QFontMetricsF] = {}
_advances: dict[tuple[str, float, bool], float] = {}
_elided: dict[tuple[str, float, bool, float], str] = {}
_static: dict[tuple[str, float, bool], QStaticText] = {}
_sizes: dict[tuple[str, float, bool], tuple[float, float]] = {}


def metrics(size: float, bold: bool = False) -> QFontMetricsF:
    """The metrics of the canvas font at ``size`` points."""
    key = (size, bold)
    fm = _metrics.get(key)
    if fm is None:
        fm = _metrics[key] = QFontMetricsF(theme.font(size, bold))
    return fm


def advance(text: str, size: float, bold: bool = False) -> float:
    """How far ``text`` reaches horizontally in the canvas font at ``size``."""
    key = (text, size, bold)
    width = _advances.get(key)
    if width is None:
        _bound(_advances)
        width = _advances[key] = metrics(size, bold).horizontalAdvance(text)
    return width


def elided(text: str, size: float, bold: bool, width: float) -> str:
    """``text`` cut with an ellipsis to fit ``width`` (unchanged when it fits)."""
    key = (text, size, bold, width)
    out = _elided.get(key)
    if out is None:
        _bound(_elided)
        out = _elided[key] = metrics(size, bold).elidedText(text, Qt.TextElideMode.ElideRight, width)
    return out


def static_text(text: str, size: float, bold: bool = False) -> QStaticText:
    """``text`` as plain static text laid out in the canvas font at ``size``."""
    key = (text, size, bold)
    st = _static.get(key)
    if st is None:
        _bound(_static)
        st = QStaticText(text)
        st.setTextFormat(Qt.TextFormat.PlainText)
        st.prepare(QTransform(), theme.font(size, bold))
        _static[key] = st
    return st


def text_size(text: str, size: float, bold: bool = False) -> tuple[float, float]:
    """Width and height of :func:`static_text` ``(text, size, bold)``."""
    key = (text, size, bold)
    out = _sizes.get(key)
    if out is None:
        _bound(_sizes)
        box = static_text(text, size, bold).size()
        out = _sizes[key] = (box.width(), box.height())
    return out


def _bound(cache: dict) -> None:
    if len(cache) >= MAX_ENTRIES:
        cache.clear()
