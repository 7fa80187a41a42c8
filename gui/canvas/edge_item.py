"""A wire between two ports: a selectable cubic curve labelled with the shape of
the tensor it carries.

The wire's geometry is computed lazily: when a port moves (a node dragged, a card
grown by a longer error) the wire is only marked stale, and its curve, hit area and
label box are rebuilt the next time the scene asks for them (to index, hit-test or
paint it). Moving a node with many wires, or three hundred nodes at once (auto
layout), so rebuilds each wire once, not once per moved end. A new label that fits
where the wire already reaches only repaints: an edit that blanks and restores the
shapes of every wire downstream does not re-index them all.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import (
    QBrush,
    QColor,
    QPainter,
    QPainterPath,
    QPainterPathStroker,
    QPen,
    QStaticText,
)
from PySide6.QtWidgets import QGraphicsItem, QStyle, QStyleOptionGraphicsItem

from layerloom.graph.model import Edge
from layerloom.graph.tensor import TensorSpec
from layerloom.gui.canvas import theme
from layerloom.gui.canvas.port_item import PortItem
from layerloom.gui.canvas.text_cache import static_text, text_size

LABEL_SIZE = 7.5
LABEL_MIN_ZOOM = 0.45  # below this the labels would be unreadable; skip them
HIT_WIDTH = 10.0
HALO_WIDTH = 9.0  # the glow of a wire a node is about to be dropped into


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

    def __init__(self, edge: Edge, source: PortItem, target: PortItem, spec: TensorSpec | None = None):
        super().__init__()
        self.edge = edge
        self.source = source
        self.target = target
        self.label = ""
        self._spec: TensorSpec | None = None
        self._long = False
        self._static = QStaticText()
        self._path = QPainterPath()
        self._hit: QPainterPath | None = None
        self._mid = QPointF()
        self._label_rect = QRectF()
        self._bounds = QRectF()
        self._stale = True  # the geometry above must be rebuilt before use
        self.drop_hint: bool | None = None  # a node over it: fits (True) or not (False)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable)
        self.setAcceptedMouseButtons(Qt.MouseButton.LeftButton)
        self.setZValue(-1)
        self.set_spec(spec)

    def __repr__(self) -> str:
        return f"<EdgeItem {self.edge}>"

    def set_spec(self, spec: TensorSpec | None) -> bool:
        """Label the wire with ``spec`` (``None``: unknown); returns whether it changed.

        A label that fits in the area the wire already covers (the same shape
        again, or none) only repaints; the wire's bounds change only to grow, or
        when its ports move.
        """
        if spec == self._spec:
            return False
        self._spec = spec
        label = str(spec) if spec is not None else ""  # names the dtype when not float
        if label == self.label:
            return False
        self.label = label
        self._long = spec is not None and spec.dtype == "long"
        self._static = static_text(label, LABEL_SIZE) if label else QStaticText()
        self._hit = None
        if not self._stale:
            self._label_rect = self._label_box()
            if label and not self._bounds.contains(self._padded_label()):
                self.prepareGeometryChange()
                self._bounds = self._bounds.united(self._padded_label())
        self.update()
        return True

    def set_drop_hint(self, fits: bool | None) -> None:
        """Light the wire while a node is dragged over it: green when the node
        would be inserted on release, red when it would not; ``None``: plain."""
        if fits != self.drop_hint:
            self.drop_hint = fits
            self.update()

    def update_geometry(self) -> None:
        """Follow the ports (after a node moved or changed its ports): mark the
        geometry stale; it is rebuilt once, when next needed."""
        if not self._stale:
            self.prepareGeometryChange()  # while the old bounds are still valid
            self._stale = True
        self.update()

    def _ensure_geometry(self) -> None:
        if not self._stale:
            return
        self._stale = False
        self._path = wire_path(self.source.scene_anchor(), self.target.scene_anchor())
        self._mid = self._path.pointAtPercent(0.5)
        self._hit = None
        self._label_rect = self._label_box()
        bounds = self._path.boundingRect().adjusted(-HIT_WIDTH, -HIT_WIDTH, HIT_WIDTH, HIT_WIDTH)
        self._bounds = bounds.united(self._padded_label()) if self.label else bounds

    def _label_box(self) -> QRectF:
        """The rounded box of the label, centred on the middle of the curve."""
        if not self.label:
            return QRectF()
        w, h = text_size(self.label, LABEL_SIZE)
        w, h = w + 10, h + 4
        return QRectF(self._mid.x() - w / 2, self._mid.y() - h / 2, w, h)

    def _padded_label(self) -> QRectF:
        return self._label_rect.adjusted(-HIT_WIDTH, -HIT_WIDTH, HIT_WIDTH, HIT_WIDTH)

    def path(self) -> QPainterPath:
        self._ensure_geometry()
        return self._path

    def label_rect(self) -> QRectF:
        self._ensure_geometry()
        return QRectF(self._label_rect)

    def boundingRect(self) -> QRectF:
        self._ensure_geometry()
        return self._bounds

    def shape(self) -> QPainterPath:
        self._ensure_geometry()
        if self._hit is None:  # only hit tests and rubber bands need it
            stroker = QPainterPathStroker()
            stroker.setWidth(HIT_WIDTH)
            self._hit = stroker.createStroke(self._path)
            if not self._label_rect.isNull():
                self._hit.addRect(self._label_rect)
        return self._hit

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget=None) -> None:
        self._ensure_geometry()
        zoom = option.levelOfDetailFromTransform(painter.worldTransform())
        if zoom >= theme.DETAIL_MIN_ZOOM:  # zoomed out, plain lines draw several times faster
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        colour = theme.SELECTION if selected else (theme.WIRE_LONG if self._long else theme.WIRE)
        width = 2.4 if selected else 1.6
        painter.setBrush(Qt.BrushStyle.NoBrush)
        if self.drop_hint is not None:
            colour = theme.PORT_OK if self.drop_hint else theme.ERROR
            halo = QColor(colour)
            halo.setAlpha(60)
            painter.setPen(QPen(halo, HALO_WIDTH, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap))
            painter.drawPath(self._path)
            width = 2.6
        painter.setPen(QPen(colour, width))
        painter.drawPath(self._path)
        if not self.label or zoom < LABEL_MIN_ZOOM:
            return
        rect = self._label_rect
        painter.setPen(QPen(colour if selected else theme.WIRE_LABEL_BORDER, 1))
        painter.setBrush(QBrush(theme.WIRE_LABEL_FILL))
        painter.drawRoundedRect(rect, rect.height() / 2, rect.height() / 2)
        painter.setFont(theme.font(LABEL_SIZE))
        painter.setPen(colour if (selected or self._long) else theme.TEXT_DIM)
        painter.drawStaticText(QPointF(rect.x() + 5, rect.y() + 2), self._static)
