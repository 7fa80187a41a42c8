"""What the palette and the quick-add popup show alike for a layer type: the dot
in its category's colour, and the line that replaces a list without matches."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QIcon, QPainter, QPixmap

from layerloom.gui.canvas.theme import category_colour

MAX_QUOTED = 40  # characters of the search text quoted in the no-match line


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
