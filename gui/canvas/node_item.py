"""A node card: header with type and label, key parameters, output shape and
parameter count, ports on the sides, and a red outline and badge on error.

All text is laid out when the node or its analysis changes (``QStaticText``), never
while painting, and the card is drawn from a device-coordinate cache, so a
canvas of hundreds of nodes pans and zooms without re-laying out anything.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QFontMetricsF, QPainter, QPainterPath, QPen, QStaticText
from PySide6.QtWidgets import (
    QGraphicsItem,
    QGraphicsSceneMouseEvent,
    QStyle,
    QStyleOptionGraphicsItem,
)

from graph.inference import NodeInfo
from graph.model import Node
from gui.canvas import labels, theme
from gui.canvas.error_badge import RADIUS as BADGE_RADIUS
from gui.canvas.error_badge import ErrorBadge
from gui.canvas.port_item import PortItem

TITLE_SIZE, BODY_SIZE, SMALL_SIZE = 9.5, 8.5, 8.0
MAX_KEY_ROWS = 2
MAX_ERROR_ROWS = 3


@dataclass(frozen=True)
class _Shown:
    """Everything a card displays; a card is laid out again only when this changes."""

    label: str
    keys: tuple[str, ...]
    ins: tuple[str, ...]
    outs: tuple[str, ...]
    shape: str
    count: str
    error: str
    message: str | None
    tensors: tuple[str, ...]


def _tensor_texts(info: NodeInfo | None) -> tuple[str, ...]:
    if info is None:
        return ()
    return tuple(f"{p}={t}" for p, t in (*info.inputs.items(), *info.outputs.items()))


class NodeItem(QGraphicsItem):
    """The card of one graph node. Its position is the node's (top-left corner);
    while the user drags it, it moves alone and the scene pushes one
    :class:`~gui.commands.MoveNodes` on release."""

    def __init__(self, node: Node):
        super().__init__()
        self.node_id = node.id
        self.width = theme.NODE_WIDTH
        self.height = theme.HEADER_HEIGHT
        self.inputs: dict[str, PortItem] = {}
        self.outputs: dict[str, PortItem] = {}
        self.error: str | None = None
        self._placing = False
        self._texts: list[tuple[QPointF, QStaticText, QColor, float, bool]] = []
        self._shown: _Shown | None = None
        self._accent = theme.category_colour(node.spec.category)
        self._card = QPainterPath()
        self._header = QPainterPath()
        self._stripe = QPainterPath()
        self.badge = ErrorBadge(self)
        flags = QGraphicsItem.GraphicsItemFlag
        self.setFlags(flags.ItemIsMovable | flags.ItemIsSelectable | flags.ItemSendsGeometryChanges)
        self.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.setAcceptedMouseButtons(Qt.MouseButton.LeftButton)
        self.setToolTip(f"{node.spec.name}: {node.spec.doc}")
        self.set_node(node, None)
        self.place(node.position)

    def __repr__(self) -> str:
        return f"<NodeItem {self.node_id}>"

    # ------------------------------------------------------------ model -> item
    def place(self, position: tuple[float, float]) -> None:
        """Move to the model's position (no snapping: the model is the truth)."""
        self._placing = True
        try:
            self.setPos(QPointF(*position))
        finally:
            self._placing = False

    def set_node(self, node: Node, info: NodeInfo | None) -> bool:
        """Show ``node`` with its analysis ``info``; returns whether anything changed.

        Everything shown is derived here, and compared with what is on screen so
        that an unchanged node is neither laid out nor repainted again.
        """
        shown = _Shown(
            label=node.label,
            keys=tuple(labels.key_param_texts(node)),
            ins=node.input_ports(),
            outs=node.output_ports(),
            shape=labels.shape_text(node, info),
            count=labels.count_text(info),
            error=labels.error_text(node, info),
            message=info.message if info else None,
            tensors=_tensor_texts(info),
        )
        if shown == self._shown:
            return False
        self.prepareGeometryChange()
        self._shown = shown
        self.error = shown.message
        self._layout(node, shown)
        self.badge.show_message(self.error)
        self._set_port_tips(info)
        self.update()
        return True

    def _set_port_tips(self, info: NodeInfo | None) -> None:
        """Each port's tooltip: its name and the tensor that passes through it."""
        for ports, tensors in ((self.inputs, info.inputs if info else {}),
                               (self.outputs, info.outputs if info else {})):
            for name, port in ports.items():
                tensor = tensors.get(name)
                port.setToolTip(f"{name}: {tensor}" if tensor is not None else name)

    def port(self, name: str, output: bool) -> PortItem:
        return (self.outputs if output else self.inputs)[name]

    def ports(self) -> list[PortItem]:
        return [*self.inputs.values(), *self.outputs.values()]

    # ----------------------------------------------------------------- layout
    def _layout(self, node: Node, shown: _Shown) -> None:
        keys, ins, outs = shown.keys, shown.ins, shown.outs
        shape, count, error = shown.shape, shown.count, shown.error
        w = self.width
        pad = theme.BODY_PAD
        title_font = theme.font(TITLE_SIZE, bold=True)
        body_font, small_font = theme.font(BODY_SIZE), theme.font(SMALL_SIZE)
        title_fm, body_fm, small_fm = (QFontMetricsF(f) for f in (title_font, body_font, small_font))
        self._texts = []

        def text(x: float, y: float, s: str, colour: QColor, size: float, bold: bool = False,
                 right: float | None = None) -> None:
            st = QStaticText(s)
            st.setTextFormat(Qt.TextFormat.PlainText)
            st.prepare(font=theme.font(size, bold))
            if right is not None:
                x = right - st.size().width()
            self._texts.append((QPointF(x, y), st, colour, size, bold))

        # header: the label (or the type) in bold, then the type (or the id) dimmed
        # when it fits whole; a type that does not fit opens the body instead
        labelled = bool(node.label) and node.label != node.spec.name
        title = node.label if labelled else node.spec.name
        subtitle = node.spec.name if labelled else node.id
        left = pad + 3
        right_edge = w - pad - (2 * BADGE_RADIUS + 4 if shown.message else 0)
        title = title_fm.elidedText(title, Qt.TextElideMode.ElideRight, right_edge - left)
        title_w = title_fm.horizontalAdvance(title)
        text(left, (theme.HEADER_HEIGHT - title_fm.height()) / 2 + 1, title, theme.TEXT, TITLE_SIZE, bold=True)
        room = right_edge - (left + title_w + 8)
        sub_fits = small_fm.horizontalAdvance(subtitle) <= room
        if sub_fits:
            sy = (theme.HEADER_HEIGHT - small_fm.height()) / 2 + 1
            text(0, sy, subtitle, theme.TEXT_DIM, SMALL_SIZE, right=right_edge)

        # body: key parameters (wrapped on at most two rows), then shape and count
        y = theme.HEADER_HEIGHT + pad - 2
        row_h = theme.ROW_HEIGHT
        inner = w - 2 * pad - 3
        if labelled and not sub_fits:
            text(left, y + 1, small_fm.elidedText(subtitle, Qt.TextElideMode.ElideRight, inner),
                 theme.TEXT_DIM, SMALL_SIZE)
            y += row_h - 1
        for row in _wrap(keys, body_fm, inner)[:MAX_KEY_ROWS]:
            text(pad + 3, y, body_fm.elidedText(row, Qt.TextElideMode.ElideRight, inner),
                 theme.TEXT, BODY_SIZE)
            y += row_h
        if error:
            for row in _wrap_words(error, small_fm, inner, MAX_ERROR_ROWS):
                text(pad + 3, y + 1, row, theme.ERROR, SMALL_SIZE)
                y += row_h
        else:
            count_w = small_fm.horizontalAdvance(count) if count else 0
            shape_w = small_fm.horizontalAdvance(shape)
            text(pad + 3, y + 1, small_fm.elidedText(shape, Qt.TextElideMode.ElideRight, inner),
                 theme.TEXT_DIM, SMALL_SIZE)
            if count and shape_w + count_w + 10 > inner:
                y += row_h - 2
            if count:
                text(0, y + 1, count, theme.TEXT_FAINT, SMALL_SIZE, right=w - pad)
            y += row_h

        # ports: single ports level with the header, several ports on labelled rows
        self._place_ports(self.inputs, ins, False, y)
        self._place_ports(self.outputs, outs, True, y)
        rows = max(len(ins) if len(ins) > 1 else 0, len(outs) if len(outs) > 1 else 0)
        for names, output in ((ins, False), (outs, True)):
            if len(names) > 1:
                for i, name in enumerate(names):
                    ly = y + i * row_h + (row_h - small_fm.height()) / 2
                    if output:
                        text(0, ly, name, theme.TEXT_DIM, SMALL_SIZE, right=w - 12)
                    else:
                        text(12, ly, name, theme.TEXT_DIM, SMALL_SIZE)
        self.height = y + rows * row_h + pad - 1
        self._build_paths()
        self.badge.setPos(w - pad - BADGE_RADIUS, theme.HEADER_HEIGHT / 2)

    def _place_ports(self, items: dict[str, PortItem], names, output: bool, rows_top: float) -> None:
        for name in list(items):
            if name not in names:
                port = items.pop(name)
                port.setParentItem(None)
                if port.scene() is not None:
                    port.scene().removeItem(port)
        x = self.width if output else 0.0
        for i, name in enumerate(names):
            port = items.get(name)
            if port is None:
                port = items[name] = PortItem(self.node_id, name, output, self)
            y = theme.PORT_Y if len(names) == 1 else rows_top + (i + 0.5) * theme.ROW_HEIGHT
            port.setPos(x, y)

    def _build_paths(self) -> None:
        rect = QRectF(0, 0, self.width, self.height)
        card = QPainterPath()
        card.addRoundedRect(rect, theme.CORNER, theme.CORNER)
        top = QPainterPath()
        top.addRect(QRectF(0, 0, self.width, theme.HEADER_HEIGHT))
        stripe = QPainterPath()
        stripe.addRect(QRectF(0, 0, 3.5, self.height))
        self._card = card
        self._header = card.intersected(top)
        self._stripe = card.intersected(stripe)

    # -------------------------------------------------------------- painting
    def boundingRect(self) -> QRectF:
        return QRectF(-4, -4, self.width + 8, self.height + 10)

    def shape(self) -> QPainterPath:
        return self._card

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget=None) -> None:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QBrush(theme.NODE_SHADOW))
        painter.drawPath(self._card.translated(0, 2.5))
        painter.setBrush(QBrush(theme.ERROR_FILL if self.error else theme.NODE_FILL))
        painter.drawPath(self._card)
        header = QColor(self._accent)
        header.setAlpha(28)
        painter.fillPath(self._header, header)
        painter.fillPath(self._stripe, self._accent)
        painter.setPen(QPen(theme.NODE_BORDER, 1))
        painter.drawLine(QPointF(3.5, theme.HEADER_HEIGHT), QPointF(self.width, theme.HEADER_HEIGHT))
        for pos, st, colour, size, bold in self._texts:
            painter.setFont(theme.font(size, bold))
            painter.setPen(colour)
            painter.drawStaticText(pos, st)
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        if self.error:
            pen = QPen(theme.ERROR, 2.2 if selected else 1.8)
        elif selected:
            pen = QPen(theme.SELECTION, 2)
        else:
            pen = QPen(theme.NODE_BORDER, 1)
        painter.setPen(pen)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawPath(self._card)
        if self.error and selected:
            painter.setPen(QPen(theme.SELECTION, 1.2, Qt.PenStyle.DashLine))
            painter.drawRoundedRect(QRectF(-3, -3, self.width + 6, self.height + 6), 8, 8)

    # ------------------------------------------------------------ interaction
    def itemChange(self, change: QGraphicsItem.GraphicsItemChange, value):
        kind = QGraphicsItem.GraphicsItemChange
        if change == kind.ItemPositionChange and not self._placing:
            return theme.snap_point(value)
        if change == kind.ItemPositionHasChanged:
            scene = self.scene()
            if scene is not None and hasattr(scene, "node_item_moved"):
                scene.node_item_moved(self)
        return super().itemChange(change, value)

    def mouseReleaseEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        super().mouseReleaseEvent(event)
        scene = self.scene()
        if scene is not None and hasattr(scene, "commit_drag"):
            scene.commit_drag()


def _wrap(parts: list[str], fm: QFontMetricsF, width: float) -> list[str]:
    """Join ``parts`` with `` · `` into rows no wider than ``width`` (greedy)."""
    rows: list[str] = []
    for part in parts:
        if rows and fm.horizontalAdvance(rows[-1] + " · " + part) <= width:
            rows[-1] += " · " + part
        else:
            rows.append(part)
    return rows


def _wrap_words(text: str, fm: QFontMetricsF, width: float, max_rows: int) -> list[str]:
    """Break ``text`` into at most ``max_rows`` rows; the last one is elided."""
    rows: list[str] = []
    words = text.split()
    while words and len(rows) < max_rows:
        row = words.pop(0)
        while words and fm.horizontalAdvance(row + " " + words[0]) <= width:
            row += " " + words.pop(0)
        rows.append(row)
    if words:
        rows[-1] = fm.elidedText(rows[-1] + " " + " ".join(words), Qt.TextElideMode.ElideRight, width)
    return [fm.elidedText(r, Qt.TextElideMode.ElideRight, width) for r in rows]
