"""What the palette and the quick-add popup show alike: a list of layers with a dot
in each category's colour, and the line that replaces a list without matches."""

from __future__ import annotations

from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QFontMetrics, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import QHeaderView, QTreeWidget, QWidget

from layerloom.gui.canvas.theme import category_colour

MAX_QUOTED = 40  # characters of the search text quoted in the no-match line
NOTE_ALIGNMENT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter  # the dim note column


def category_dot(category: str, size: int = 10) -> QIcon:
    """A round swatch in the category's colour (the same as the canvas headers)."""
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(category_colour(category))
    painter.drawEllipse(1, 1, size - 2, size - 2)
    painter.end()
    return QIcon(pixmap)


def no_match_text(text: str) -> str:
    """``No layer matches 'xyz'`` (a long search quoted up to :data:`MAX_QUOTED` characters)."""
    text = " ".join(text.split())
    if len(text) > MAX_QUOTED:
        text = text[:MAX_QUOTED - 1] + "…"
    return f"No layer matches '{text}'"


class LayerRows(QTreeWidget):
    """A two-column list of layers: the name, then a dim note (the category, or a
    category's count). The name column gets the room its longest name needs and
    the note the rest, elided first: a long name stays whole as long as it can."""

    NOTE_MIN = 56  # pixels the note keeps before the names are elided
    PAD = 14  # pixels of an item's padding and margins beside its text

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setColumnCount(2)
        self.setHeaderHidden(True)
        self.setUniformRowHeights(True)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setTextElideMode(Qt.TextElideMode.ElideRight)
        header = self.header()
        header.setStretchLastSection(False)
        header.setMinimumSectionSize(1)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self._name_width = 0

    def fit_columns(self) -> None:
        """Size the name column for the rows now in the list (call after filling it)."""
        widest = 0
        icon = self.iconSize().width() if not self.iconSize().isEmpty() else 16
        for depth, item in _walk(self):
            metrics = QFontMetrics(item.font(0))
            widest = max(widest, metrics.horizontalAdvance(item.text(0)) + icon
                         + depth * self.indentation() + self.PAD)
        if self.rootIsDecorated():
            widest += self.indentation()
        self._name_width = widest
        self._apply_widths()

    def _apply_widths(self) -> None:
        room = self.viewport().width()
        name = max(40, min(self._name_width, room - self.NOTE_MIN))
        self.header().resizeSection(0, name)
        self.header().resizeSection(1, max(1, room - name))

    def viewportEvent(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Resize:  # also when a scroll bar comes or goes
            self._apply_widths()
        return super().viewportEvent(event)


def _walk(tree: QTreeWidget):
    """``(depth, item)`` for every item of ``tree``."""
    stack = [(0, tree.topLevelItem(i)) for i in reversed(range(tree.topLevelItemCount()))]
    while stack:
        depth, item = stack.pop()
        yield depth, item
        stack.extend((depth + 1, item.child(i)) for i in reversed(range(item.childCount())))


def elide_lines(text: str, metrics: QFontMetrics, width: int, lines: int = 2) -> str:
    """``text`` cut at a word, with "…", so that wrapped at ``width`` it takes at
    most ``lines`` lines."""
    def fits(candidate: str) -> bool:
        rect = metrics.boundingRect(0, 0, max(width, 1), 10_000, Qt.TextFlag.TextWordWrap, candidate)
        return rect.height() <= lines * metrics.lineSpacing()

    if fits(text):
        return text
    words = text.split()
    while len(words) > 1:
        words.pop()
        candidate = " ".join(words).rstrip(",;:") + "…"
        if fits(candidate):
            return candidate
    return metrics.elidedText(text, Qt.TextElideMode.ElideRight, width)
