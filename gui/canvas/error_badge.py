"""The red "!" badge in a node's header; its tooltip is the node's error and fix."""

from __future__ import annotations

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QBrush, QPainter, QPen
from PySide6.QtWidgets import QGraphicsItem, QStyleOptionGraphicsItem

from layerloom.gui.canvas import theme

RADIUS = 7.5


class ErrorBadge(QGraphicsItem):
    """Shown while the node's analysis has an error; hidden otherwise."""

    def __init__(self, parent: QGraphicsItem):
        super().__init__(parent)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.setZValue(2)
        self.hide()

    def show_message(self, message: str | None) -> None:
        """Show the badge with ``message`` as tooltip, or hide it for ``None``."""
        if message:
            self.setToolTip(message)
            self.show()
        else:
            self.setToolTip("")
            self.hide()

    def boundingRect(self) -> QRectF:
        return QRectF(-RADIUS - 1, -RADIUS - 1, 2 * RADIUS + 2, 2 * RADIUS + 2)

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget=None) -> None:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QPen(theme.NODE_FILL, 1.5))
        painter.setBrush(QBrush(theme.ERROR))
        painter.drawEllipse(QRectF(-RADIUS, -RADIUS, 2 * RADIUS, 2 * RADIUS))
        if option.levelOfDetailFromTransform(painter.worldTransform()) < theme.DETAIL_MIN_ZOOM:
            return  # the red dot alone; the "!" would be unreadable
        painter.setPen(QPen(theme.NODE_FILL))
        painter.setFont(theme.font(8.5, bold=True))
        painter.drawText(QRectF(-RADIUS, -RADIUS, 2 * RADIUS, 2 * RADIUS), Qt.AlignmentFlag.AlignCenter, "!")
