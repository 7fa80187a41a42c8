"""A port dot on the side of a node: inputs on the left, outputs on the right.

Pressing a port starts a wire; the scene follows the drag and decides on release
(see :meth:`GraphScene.begin_wire`). While a wire is dragged every other port
shows whether it would accept it: green when it would, faded when not.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsItem, QGraphicsSceneMouseEvent, QStyleOptionGraphicsItem

from layerloom.gui.canvas import theme

NORMAL, OK, BAD = "normal", "ok", "bad"

_BOUNDS = QRectF(-theme.PORT_HIT, -theme.PORT_HIT, 2 * theme.PORT_HIT, 2 * theme.PORT_HIT)
_SHAPE = QPainterPath()
_SHAPE.addEllipse(_BOUNDS)


class PortItem(QGraphicsItem):
    """One input or output port of a node, placed by its :class:`NodeItem`."""

    def __init__(self, node_id: str, name: str, is_output: bool, parent: QGraphicsItem):
        super().__init__(parent)
        self.node_id = node_id
        self.name = name
        self.is_output = is_output
        self.state = NORMAL
        self._tip = ""
        self.setAcceptedMouseButtons(Qt.MouseButton.LeftButton)
        self.setCursor(Qt.CursorShape.CrossCursor)
        self.setZValue(1)

    def __repr__(self) -> str:
        side = "out" if self.is_output else "in"
        return f"<PortItem {self.node_id}.{self.name} ({side})>"

    def scene_anchor(self) -> QPointF:
        """Where wires attach, in scene coordinates."""
        return self.scenePos()

    def set_tip(self, text: str) -> None:
        """Set the tooltip (the tensor through the port) unless it already says ``text``."""
        if text != self._tip:
            self._tip = text
            self.setToolTip(text)

    def set_state(self, state: str) -> None:
        if state != self.state:
            self.state = state
            self.update()

    # ------------------------------------------------------------- geometry
    def boundingRect(self) -> QRectF:
        return QRectF(_BOUNDS)

    def shape(self) -> QPainterPath:
        return QPainterPath(_SHAPE)

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget=None) -> None:
        if self.state == NORMAL and option.levelOfDetailFromTransform(painter.worldTransform()) \
                < theme.DETAIL_MIN_ZOOM:
            return  # a dot of a pixel or two; the card's box says enough
        r = theme.PORT_RADIUS
        if self.state == OK:
            painter.setPen(QPen(theme.PORT_OK, 2))
            painter.setBrush(QBrush(theme.PORT_OK.lighter(170)))
            r += 1.5
        elif self.state == BAD:
            painter.setPen(QPen(theme.PORT_BAD, 1.2))
            painter.setBrush(QBrush(theme.BACKGROUND))
        else:
            painter.setPen(QPen(theme.PORT_BORDER, 1.4))
            painter.setBrush(QBrush(theme.PORT_FILL))
        painter.drawEllipse(QRectF(-r, -r, 2 * r, 2 * r))

    # --------------------------------------------------------------- wiring
    def mousePressEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        scene = self.scene()
        if scene is not None and hasattr(scene, "begin_wire"):
            scene.begin_wire(self, event.scenePos())
            event.accept()
        else:
            event.ignore()

    def mouseMoveEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        self.scene().drag_wire(event.scenePos())

    def mouseReleaseEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        self.scene().end_wire(event.scenePos())
