"""The dashed wire that follows the mouse while the user drags from a port."""

from __future__ import annotations

from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QPen
from PySide6.QtWidgets import QGraphicsPathItem

from layerloom.gui.canvas import theme
from layerloom.gui.canvas.edge_item import wire_path


class WirePreview(QGraphicsPathItem):
    """A wire from a fixed port to the cursor; green over a port that accepts it,
    red over one that refuses it."""

    def __init__(self, anchor: QPointF, from_output: bool):
        super().__init__()
        self.anchor = QPointF(anchor)
        self.from_output = from_output
        self.setZValue(10)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self.set_verdict(None)
        self.follow(anchor)

    def follow(self, pos: QPointF) -> None:
        start, end = (self.anchor, pos) if self.from_output else (pos, self.anchor)
        self.setPath(wire_path(start, end))

    def set_verdict(self, ok: bool | None) -> None:
        """``True`` over an accepting port, ``False`` over a refusing one, else ``None``."""
        colour = theme.WIRE if ok is None else theme.PORT_OK if ok else theme.ERROR
        pen = QPen(colour, 2, Qt.PenStyle.SolidLine if ok else Qt.PenStyle.DashLine)
        pen.setCapStyle(Qt.PenCapStyle.RoundCap)
        self.setPen(pen)
