"""A wire between two ports: a selectable cubic curve labelled with the shape of
the tensor it carries."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import (
    QBrush,
    QPainter,
    QPainterPath,
    QPainterPathStroker,
    QPen,
    QStaticText,
)
from PySide6.QtWidgets import QGraphicsItem, QStyle, QStyleOptionGraphicsItem

from graph.model import Edge
from graph.tensor import TensorSpec
from gui.canvas import theme
from gui.canvas.port_item import PortItem

LABEL_SIZE = 7.5
LABEL_MIN_ZOOM = 0.45  # below this the labels would be unreadable; skip them
HIT_WIDTH = 10.0


def wire_path(start: QPointF, end: QPointF) -> QPainterPath:
    """A horizontal-tangent cubic from ``start`` (an output) to ``end`` (an input)."""
    dx = max(abs(end.x() - start.x()) * 0.5, 40.0)
    if end.x() < start.x():  # a wire going back left loops out wider
        dx = max(dx, 80.0)
    path = QPainterPath(start)
    path.cubicTo(QPointF(start.x() + dx, start.y()), QPointF(end.x() - dx, end.y()), end)
    return path


class EdgeItem(QGraphicsItem):
    """One graph edge, drawn between its two :class:`PortItem` s."""

    def __init__(self, edge: Edge, source: PortItem, target: PortItem):
        super().__init__()
        self.edge = edge
        self.source = source
        self.target = target
        self.label = ""
        self._long = False
        self._static = QStaticText()
        self._path = QPainterPath()
        self._hit = QPainterPath()
        self._label_rect = QRectF()
        self._bounds = QRectF()
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable)
        self.setAcceptedMouseButtons(Qt.MouseButton.LeftButton)
        self.setZValue(-1)
        self.update_geometry()

    def __repr__(self) -> str:
        return f"<EdgeItem {self.edge}>"

    def set_spec(self, spec: TensorSpec | None) -> bool:
        """Label the wire with ``spec`` (``None``: unknown); returns whether it changed."""
        label = str(spec) if spec is not None else ""
        if label == self.label:
            return False
        self.label = label
        self._long = spec is not None and spec.dtype == "long"
        self._static = QStaticText(label)
        self._static.setTextFormat(Qt.TextFormat.PlainText)
        self._static.prepare(font=theme.font(LABEL_SIZE))
        self.update_geometry()
        return True

    def update_geometry(self) -> None:
        """Follow the ports (after a node moved or changed its ports)."""
        self.prepareGeometryChange()
        start, end = self.source.scene_anchor(), self.target.scene_anchor()
        self._path = wire_path(start, end)
        stroker = QPainterPathStroker()
        stroker.setWidth(HIT_WIDTH)
        self._hit = stroker.createStroke(self._path)
        bounds = self._path.boundingRect()
        if self.label:
            size = self._static.size()
            mid = self._path.pointAtPercent(0.5)
            w, h = size.width() + 10, size.height() + 4
            self._label_rect = QRectF(mid.x() - w / 2, mid.y() - h / 2, w, h)
            bounds = bounds.united(self._label_rect)
        else:
            self._label_rect = QRectF()
        self._bounds = bounds.adjusted(-HIT_WIDTH, -HIT_WIDTH, HIT_WIDTH, HIT_WIDTH)
        self.update()

    def path(self) -> QPainterPath:
        return self._path

    def label_rect(self) -> QRectF:
        return QRectF(self._label_rect)

    def boundingRect(self) -> QRectF:
        return self._bounds

    def shape(self) -> QPainterPath:
        if self._label_rect.isNull():
            return self._hit
        shape = QPainterPath(self._hit)
        shape.addRect(self._label_rect)
        return shape

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget=None) -> None:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        colour = theme.SELECTION if selected else (theme.WIRE_LONG if self._long else theme.WIRE)
        painter.setPen(QPen(colour, 2.4 if selected else 1.6))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawPath(self._path)
        if not self.label:
            return
        zoom = option.levelOfDetailFromTransform(painter.worldTransform())
        if zoom < LABEL_MIN_ZOOM:
            return
        rect = self._label_rect
        painter.setPen(QPen(colour if selected else theme.WIRE_LABEL_BORDER, 1))
        painter.setBrush(QBrush(theme.WIRE_LABEL_FILL))
        painter.drawRoundedRect(rect, rect.height() / 2, rect.height() / 2)
        painter.setFont(theme.font(LABEL_SIZE))
        painter.setPen(colour if (selected or self._long) else theme.TEXT_DIM)
        painter.drawStaticText(QPointF(rect.x() + 5, rect.y() + 2), self._static)
