"""Labels for read-outs that change many times a second."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QSizePolicy


def steady_label(text: str = "", lines: int = 1, name: str = "") -> QLabel:
    """A label whose text never moves the layout: a fixed height of ``lines`` lines
    and no width of its own. Live read-outs change text ten times a second, and a
    label that grows or shrinks makes the plots beside it resize, which costs a
    full re-layout and repaint of every plot each time."""
    label = QLabel(text)
    if name:
        label.setObjectName(name)
    label.setWordWrap(lines > 1)
    label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
    label.setFixedHeight(label.fontMetrics().lineSpacing() * lines + 4)
    return label
