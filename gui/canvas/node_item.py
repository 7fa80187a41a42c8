"""A node card: header with type and label, key parameters, output shape and
parameter count, ports on the sides, and a red outline and badge on error.

All text is laid out when the node or its analysis changes, never while painting,
and the card is drawn from a device-coordinate cache, so a canvas of hundreds of
nodes pans and zooms without re-laying out anything. A card compares a cheap
record of what it displays (:class:`_Shown`) before doing any layout, and the layout
itself is shared: the header by its two strings, the body by its texts (most cards
of a large graph show the same few bodies), each string measured and prepared once
(:mod:`layerloom.gui.canvas.text_cache`). So an edit that changes the text of three hundred
cards costs dictionary look-ups, not text layout.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QPainter, QPainterPath, QPen, QStaticText
from PySide6.QtWidgets import (
    QGraphicsItem,
    QGraphicsSceneMouseEvent,
    QStyle,
    QStyleOptionGraphicsItem,
)

from layerloom.graph.inference import NodeInfo
from layerloom.graph.model import Node
from layerloom.graph.tensor import TensorSpec
from layerloom.gui.canvas import labels, theme
from layerloom.gui.canvas.error_badge import RADIUS as BADGE_RADIUS
from layerloom.gui.canvas.error_badge import ErrorBadge
from layerloom.gui.canvas.port_item import PortItem
from layerloom.gui.canvas.text_cache import advance, elided, metrics, static_text

TITLE_SIZE, BODY_SIZE, SMALL_SIZE = 9.5, 8.5, 8.0
MAX_KEY_ROWS = 2
MAX_ERROR_ROWS = 3
LAYOUT_CACHE = 2048  # distinct headers / bodies kept laid out

# What :meth:`NodeItem.set_node` did (flags): nothing, the card was drawn anew, and
# its ports moved (so the wires on them must follow).
UNCHANGED, REDRAWN, PORTS_MOVED = 0, 1, 2

# One text run on a card: where, what, colour, point size, bold.
_Text = tuple[QPointF, QStaticText, QColor, float, bool]


class _Shown(NamedTuple):
    """Everything a card displays; a card is laid out again only when this changes
    (a tuple: made and compared at C speed, three hundred times per edit)."""

    label: str
    keys: tuple[str, ...]
    ins: tuple[str, ...]
    outs: tuple[str, ...]
    shape: str
    count: str
    error: str
    message: str | None
    in_tensors: tuple[tuple[str, TensorSpec], ...]
    out_tensors: tuple[tuple[str, TensorSpec], ...]


@dataclass(frozen=True)
class _Body:
    """A laid-out card body: its texts, the card's height, and the ports' heights."""

    texts: tuple[_Text, ...]
    height: float
    in_ys: tuple[float, ...]
    out_ys: tuple[float, ...]


def _node_texts(node: Node) -> tuple[str, tuple[str, ...], tuple[str, ...], tuple[str, ...], bool]:
    """What a card shows of the node itself: label, key parameters (and its
    initialisation), port names, whether it is frozen."""
    keys = tuple(labels.key_param_texts(node)) + labels.init_texts(node)
    return node.label, keys, node.input_ports(), node.output_ports(), node.training.get("trainable") is False


def _shown(node: Node, node_texts: tuple, info: NodeInfo | None) -> _Shown:
    label, keys, ins, outs, frozen = node_texts
    if info is None:
        return _Shown(label, keys, ins, outs, labels.shape_text(node, None), "", "", None, (), ())
    count = labels.count_text(info)
    if frozen:
        count = f"{labels.FROZEN_MARK} {count or 'frozen'}"
    return _Shown(label, keys, ins, outs, labels.shape_text(node, info), count,
                  labels.error_text(node, info), info.message, tuple(info.inputs.items()),
                  tuple(info.outputs.items()))


class NodeItem(QGraphicsItem):
    """The card of one graph node. Its position is the node's (top-left corner);
    while the user drags it, it moves alone and the scene pushes one
    :class:`~layerloom.gui.commands.MoveNodes` on release."""

    def __init__(self, node: Node, info: NodeInfo | None = None):
        super().__init__()
        self.node_id = node.id
        self.width = theme.NODE_WIDTH
        self.height = theme.HEADER_HEIGHT
        self.inputs: dict[str, PortItem] = {}
        self.outputs: dict[str, PortItem] = {}
        self.error: str | None = None
        self.drop_hint: bool | None = None  # over a wire: would go in (True) or not (False)
        self.drawn_simple = False  # whether the last paint was the zoomed-out box
        self._placing = False
        self._texts: list[_Text] = []
        self._shown: _Shown | None = None
        self._info: NodeInfo | None = None
        self._node_texts: tuple | None = None
        self._ports: tuple | None = None  # names and heights the port items were placed for
        self._accent = theme.category_colour(node.spec.category)
        self._header_fill = QColor(self._accent)
        self._header_fill.setAlpha(28)
        self._card = self._header = self._stripe = self._shadow = QPainterPath()
        self._bounds = QRectF()
        self.badge = ErrorBadge(self)
        self.badge.setPos(self.width - theme.BODY_PAD - BADGE_RADIUS, theme.HEADER_HEIGHT / 2)
        flags = QGraphicsItem.GraphicsItemFlag
        self.setFlags(flags.ItemIsMovable | flags.ItemIsSelectable | flags.ItemSendsGeometryChanges)
        self.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.setAcceptedMouseButtons(Qt.MouseButton.LeftButton)
        self.setToolTip(f"{node.spec.name}: {node.spec.doc}")
        self.set_node(node, info)
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

    def set_node(self, node: Node, info: NodeInfo | None, node_changed: bool = True) -> int:
        """Show ``node`` with its analysis ``info``.

        Everything shown is derived here and compared with what is on screen, so
        that an unchanged node is neither laid out nor repainted again.

        Parameters
        ----------
        node, info
            The graph's node and what the analysis says of it.
        node_changed
            ``False`` when the caller knows the node itself (params, label) is as
            it was at the last call: then an equal ``info`` means nothing to do,
            found without deriving a single text.

        Returns
        -------
        int
            ``UNCHANGED`` (0, falsy), else ``REDRAWN``, with ``PORTS_MOVED`` added
            when a port appeared, went or moved (its wires must follow).
        """
        if not node_changed and self._shown is not None and info == self._info:
            return UNCHANGED
        self._info = info
        if node_changed or self._node_texts is None:
            self._node_texts = _node_texts(node)
        shown = _shown(node, self._node_texts, info)
        old = self._shown
        if shown == old:
            return UNCHANGED
        self._shown = shown
        self.error = shown.message
        change = self._layout(node, shown)
        if old is None or old.message != shown.message:
            self.badge.show_message(shown.message)
        if (old is None or change & PORTS_MOVED or old.in_tensors != shown.in_tensors
                or old.out_tensors != shown.out_tensors):
            self._set_port_tips(shown)
        self.update()
        return change

    def _set_port_tips(self, shown: _Shown) -> None:
        """Each port's tooltip: its name and the tensor that passes through it."""
        for ports, tensors in ((self.inputs, dict(shown.in_tensors)),
                               (self.outputs, dict(shown.out_tensors))):
            for name, port in ports.items():
                tensor = tensors.get(name)
                port.set_tip(f"{name}: {tensor}" if tensor is not None else name)

    def port(self, name: str, output: bool) -> PortItem:
        return (self.outputs if output else self.inputs)[name]

    def ports(self) -> list[PortItem]:
        return [*self.inputs.values(), *self.outputs.values()]

    def port_names(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """The input and output port names the card shows now."""
        shown = self._shown
        return (shown.ins, shown.outs) if shown is not None else ((), ())

    # ----------------------------------------------------------------- layout
    def _layout(self, node: Node, shown: _Shown) -> int:
        """Lay out the card for ``shown``; returns ``REDRAWN`` (+ ``PORTS_MOVED``)."""
        # header: the label (or the type) in bold, then the type (or the id) dimmed
        # when it fits whole; a type that does not fit opens the body instead
        labelled = bool(node.label) and node.label != node.spec.name
        title = node.label if labelled else node.spec.name
        subtitle = node.spec.name if labelled else node.id
        header, sub_fits = _header_layout(title, subtitle, bool(shown.message), self.width)
        extra = subtitle if labelled and not sub_fits else None
        body = _body_layout(shown.keys, shown.ins, shown.outs, shown.shape, shown.count,
                            shown.error, extra, self.width)
        self._texts = [*header, *body.texts]
        if body.height != self.height or self._card.isEmpty():
            self.prepareGeometryChange()
            self.height = body.height
            self._bounds = QRectF(-4, -4, self.width + 8, self.height + 10)  # shadow, outlines
            self._card, self._header, self._stripe, self._shadow = _card_paths(self.width, self.height)
        ports = (shown.ins, shown.outs, body.in_ys, body.out_ys)
        if ports == self._ports:
            return REDRAWN
        self._ports = ports
        moved = self._place_ports(self.inputs, shown.ins, False, body.in_ys)
        moved = self._place_ports(self.outputs, shown.outs, True, body.out_ys) or moved
        return REDRAWN | (PORTS_MOVED if moved else 0)

    def _place_ports(self, items: dict[str, PortItem], names, output: bool, ys) -> bool:
        """Match the port items to ``names`` at heights ``ys``; whether any changed."""
        changed = False
        for name in list(items):
            if name not in names:
                changed = True
                port = items.pop(name)
                port.setParentItem(None)
                if port.scene() is not None:
                    port.scene().removeItem(port)
        x = self.width if output else 0.0
        for name, y in zip(names, ys, strict=True):
            port = items.get(name)
            if port is None:
                port = items[name] = PortItem(self.node_id, name, output, self)
            elif port.x() == x and port.y() == y:
                continue
            changed = True
            port.setPos(x, y)
        return changed

    # -------------------------------------------------------------- painting
    def boundingRect(self) -> QRectF:
        return self._bounds

    def shape(self) -> QPainterPath:
        return self._card

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget=None) -> None:
        self.drawn_simple = option.levelOfDetailFromTransform(painter.worldTransform()) < theme.DETAIL_MIN_ZOOM
        if self.drawn_simple:
            self._paint_simple(painter, option)
            return
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QBrush(theme.NODE_SHADOW))
        painter.drawPath(self._shadow)
        painter.setBrush(QBrush(theme.ERROR_FILL if self.error else theme.NODE_FILL))
        painter.drawPath(self._card)
        painter.fillPath(self._header, self._header_fill)
        painter.fillPath(self._stripe, self._accent)
        painter.setPen(QPen(theme.NODE_BORDER, 1))
        painter.drawLine(QPointF(3.5, theme.HEADER_HEIGHT), QPointF(self.width, theme.HEADER_HEIGHT))
        font = None
        for pos, st, colour, size, bold in self._texts:
            if (size, bold) != font:
                font = (size, bold)
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
        if self.drop_hint is not None:
            painter.setPen(QPen(theme.PORT_OK if self.drop_hint else theme.ERROR, 2))
            painter.drawRoundedRect(QRectF(-3, -3, self.width + 6, self.height + 6), 8, 8)
        elif self.error and selected:
            painter.setPen(QPen(theme.SELECTION, 1.2, Qt.PenStyle.DashLine))
            painter.drawRoundedRect(QRectF(-3, -3, self.width + 6, self.height + 6), 8, 8)

    def _paint_simple(self, painter: QPainter, option: QStyleOptionGraphicsItem) -> None:
        """Zoomed out: the card as a box in its colours, no text, no shadow."""
        card = QRectF(0, 0, self.width, self.height)
        painter.fillRect(card, theme.ERROR_FILL if self.error else theme.NODE_FILL)
        painter.fillRect(QRectF(0, 0, self.width, theme.HEADER_HEIGHT), self._header_fill)
        painter.fillRect(QRectF(0, 0, 6, self.height), self._accent)
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        colour = theme.ERROR if self.error else theme.SELECTION if selected else theme.NODE_BORDER
        pen = QPen(colour, 3 if self.error or selected else 0)  # 0: one device pixel
        painter.setPen(pen)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRect(card)

    def set_drop_hint(self, fits: bool | None) -> None:
        """Dragged over a wire: a green ring when it would go into the wire on
        release, a red one when not; ``None``: none."""
        if fits != self.drop_hint:
            self.drop_hint = fits
            self.update()

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

    def mouseMoveEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        super().mouseMoveEvent(event)
        scene = self.scene()
        if scene is not None and hasattr(scene, "node_dragged"):
            scene.node_dragged(self, event.scenePos())

    def mouseReleaseEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        super().mouseReleaseEvent(event)
        scene = self.scene()
        if scene is not None and hasattr(scene, "commit_drag"):
            scene.commit_drag()


def _text(x: float, y: float, s: str, colour: QColor, size: float, bold: bool = False) -> _Text:
    return (QPointF(x, y), static_text(s, size, bold), colour, size, bold)


@lru_cache(maxsize=LAYOUT_CACHE)
def _header_layout(title: str, subtitle: str, badge: bool, width: float) -> tuple[tuple[_Text, ...], bool]:
    """The header's texts (the title, and the subtitle right-aligned when it fits
    whole beside it, leaving room for the error badge) and whether it fit."""
    left = theme.BODY_PAD + 3
    right_edge = width - theme.BODY_PAD - (2 * BADGE_RADIUS + 4 if badge else 0)
    title = elided(title, TITLE_SIZE, True, right_edge - left)
    title_h = metrics(TITLE_SIZE, True).height()
    texts = [_text(left, (theme.HEADER_HEIGHT - title_h) / 2 + 1, title, theme.TEXT, TITLE_SIZE, True)]
    room = right_edge - (left + advance(title, TITLE_SIZE, True) + 8)
    sub_w = advance(subtitle, SMALL_SIZE)
    sub_fits = sub_w <= room
    if sub_fits:
        sy = (theme.HEADER_HEIGHT - metrics(SMALL_SIZE).height()) / 2 + 1
        texts.append(_text(right_edge - sub_w, sy, subtitle, theme.TEXT_DIM, SMALL_SIZE))
    return tuple(texts), sub_fits


@lru_cache(maxsize=LAYOUT_CACHE)
def _body_layout(keys: tuple[str, ...], ins: tuple[str, ...], outs: tuple[str, ...], shape: str,
                 count: str, error: str, extra: str | None, width: float) -> _Body:
    """The body's texts: ``extra`` (a subtitle that did not fit the header), the key
    parameters wrapped on at most two rows, then the error or the shape and count,
    then the names of the ports where a side has several; and where the ports sit."""
    pad, row_h = theme.BODY_PAD, theme.ROW_HEIGHT
    left, inner = pad + 3, width - 2 * pad - 3
    small_h = metrics(SMALL_SIZE).height()
    texts: list[_Text] = []
    y = theme.HEADER_HEIGHT + pad - 2
    if extra is not None:
        texts.append(_text(left, y + 1, elided(extra, SMALL_SIZE, False, inner), theme.TEXT_DIM, SMALL_SIZE))
        y += row_h - 1
    for row in _wrap(keys, BODY_SIZE, inner)[:MAX_KEY_ROWS]:
        texts.append(_text(left, y, elided(row, BODY_SIZE, False, inner), theme.TEXT, BODY_SIZE))
        y += row_h
    if error:
        for row in _wrap_words(error, SMALL_SIZE, inner, MAX_ERROR_ROWS):
            texts.append(_text(left, y + 1, row, theme.ERROR, SMALL_SIZE))
            y += row_h
    else:
        count_w = advance(count, SMALL_SIZE) if count else 0.0
        texts.append(_text(left, y + 1, elided(shape, SMALL_SIZE, False, inner), theme.TEXT_DIM, SMALL_SIZE))
        if count and advance(shape, SMALL_SIZE) + count_w + 10 > inner:
            y += row_h - 2
        if count:
            colour = theme.FROZEN if count.startswith(labels.FROZEN_MARK) else theme.TEXT_FAINT
            texts.append(_text(width - pad - count_w, y + 1, count, colour, SMALL_SIZE))
        y += row_h

    # ports: single ports level with the header, several ports on labelled rows
    def port_ys(names: tuple[str, ...]) -> tuple[float, ...]:
        if len(names) == 1:
            return (theme.PORT_Y,)
        return tuple(y + (i + 0.5) * row_h for i in range(len(names)))

    for names, output in ((ins, False), (outs, True)):
        if len(names) > 1:
            for i, name in enumerate(names):
                ly = y + i * row_h + (row_h - small_h) / 2
                x = width - 12 - advance(name, SMALL_SIZE) if output else 12
                texts.append(_text(x, ly, name, theme.TEXT_DIM, SMALL_SIZE))
    rows = max(len(ins) if len(ins) > 1 else 0, len(outs) if len(outs) > 1 else 0)
    return _Body(tuple(texts), y + rows * row_h + pad - 1, port_ys(ins), port_ys(outs))


@lru_cache(maxsize=256)
def _card_paths(width: float, height: float) -> tuple[QPainterPath, ...]:
    """The card's outline, header band, accent stripe and shadow, shared by every
    card of this size (painter paths are copied on write).

    The shadow is only the sliver that shows below the card: filling a
    translucent path the size of the whole card costs ten times as much, and the
    opaque card covers the rest of it anyway."""
    card = QPainterPath()
    card.addRoundedRect(QRectF(0, 0, width, height), theme.CORNER, theme.CORNER)
    top = QPainterPath()
    top.addRect(QRectF(0, 0, width, theme.HEADER_HEIGHT))
    stripe = QPainterPath()
    stripe.addRect(QRectF(0, 0, 3.5, height))
    return card, card.intersected(top), card.intersected(stripe), card.translated(0, 2.5).subtracted(card)


def _wrap(parts: tuple[str, ...], size: float, width: float) -> list[str]:
    """Join ``parts`` with `` · `` into rows no wider than ``width`` (greedy)."""
    rows: list[str] = []
    for part in parts:
        if rows and advance(rows[-1] + " · " + part, size) <= width:
            rows[-1] += " · " + part
        else:
            rows.append(part)
    return rows


def _wrap_words(text: str, size: float, width: float, max_rows: int) -> list[str]:
    """Break ``text`` into at most ``max_rows`` rows; the last one is elided."""
    rows: list[str] = []
    words = text.split()
    while words and len(rows) < max_rows:
        row = words.pop(0)
        while words and advance(row + " " + words[0], size) <= width:
            row += " " + words.pop(0)
        rows.append(row)
    if words:
        rows[-1] = elided(rows[-1] + " " + " ".join(words), size, False, width)
    return [elided(r, size, False, width) for r in rows]
