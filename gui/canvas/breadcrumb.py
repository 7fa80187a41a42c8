"""The bar above the canvas while it shows the inside of a block:
``Graph › encoder › attention``, each part a button that goes back to that level,
and a note saying where edits go."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QToolButton, QWidget

ROOT_TEXT = "Graph"
SEPARATOR = "›"


class Breadcrumb(QWidget):
    """Path buttons (objectNames ``crumb_0`` for the graph, ``crumb_1`` …); hidden
    at the top level.

    Signals
    -------
    levelChosen(int)
        A part was clicked: go back to that depth (0 is the graph itself).
    """

    levelChosen = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("blockPath")
        self.setAutoFillBackground(True)
        self._layout = QHBoxLayout(self)
        self._layout.setContentsMargins(8, 3, 8, 3)
        self._layout.setSpacing(2)
        self.note = QLabel(self)
        self.note.setObjectName("blockPathNote")
        self.note.setProperty("role", "hint")
        self.buttons: list[QToolButton] = []
        self.hide()

    def set_path(self, names: list[str], note: str = "") -> None:
        """Show ``Graph › names[0] › …``; the last part is where the canvas is."""
        while self._layout.count():
            item = self._layout.takeAt(0)
            widget = item.widget()
            if widget is not None and widget is not self.note:
                widget.deleteLater()
        self.buttons = []
        parts = [ROOT_TEXT, *names]
        for depth, text in enumerate(parts):
            if depth:
                arrow = QLabel(SEPARATOR, self)
                arrow.setProperty("role", "hint")
                self._layout.addWidget(arrow)
            button = QToolButton(self)
            button.setObjectName(f"crumb_{depth}")
            button.setText(text)
            button.setAutoRaise(True)
            current = depth == len(parts) - 1
            if current:
                font = button.font()
                font.setBold(True)
                button.setFont(font)
            else:
                button.setToolTip(f"Back to {text} (Esc goes up one level)")
                button.setCursor(Qt.CursorShape.PointingHandCursor)
            button.clicked.connect(lambda _checked=False, d=depth: self.levelChosen.emit(d))
            self._layout.addWidget(button)
            self.buttons.append(button)
        self._layout.addSpacing(12)
        self.note.setText(note)
        self._layout.addWidget(self.note)
        self._layout.addStretch(1)
        self.setVisible(bool(names))

    def texts(self) -> list[str]:
        return [b.text() for b in self.buttons]
