"""The canvas widget: zoom, pan, grid, rubber-band selection and drops.

Wheel zooms around the cursor (anchored by hand: Qt's own anchor needs a
recent mouse move over the view); the middle button, or the left button with Space
held, pans; a left drag on empty canvas selects with a rubber band; Delete or
Backspace removes the selection. Layers dragged from the palette (mime type
:data:`LAYER_MIME_TYPE`) land snapped to the grid, inserted into the wire they are
dropped on when they fit there; ``.loom`` files dropped on the canvas are handed to
the window with :attr:`GraphView.fileDropped`.

Tab, a double-click on empty canvas, or a wire let go over empty canvas opens the
quick-add popup (:class:`~layerloom.gui.canvas.quick_add.QuickAdd`) at the cursor; the
layer picked there lands at the cursor, wired to the port next to the cursor (or
the port the wire came from), or inserted into the wire under the cursor.

A double-click on a block node, or Enter with one selected, asks to open the block
(:attr:`GraphView.blockOpenRequested`); Escape asks to go back out
(:attr:`GraphView.leaveRequested`); a right-click asks for the canvas menu.
"""

from __future__ import annotations

import math

from PySide6.QtCore import QEvent, QLineF, QPoint, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import (
    QContextMenuEvent,
    QCursor,
    QDragEnterEvent,
    QDragMoveEvent,
    QDropEvent,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPen,
    QWheelEvent,
)
from PySide6.QtWidgets import QGraphicsView

from layerloom.graph.model import Edge
from layerloom.graph.registry import REGISTRY
from layerloom.gui.block_catalog import key_block_name
from layerloom.gui.canvas import theme
from layerloom.gui.canvas.insertion import PortRef
from layerloom.gui.canvas.node_item import NodeItem
from layerloom.gui.canvas.port_item import NORMAL, OK, PortItem
from layerloom.gui.canvas.quick_add import QuickAdd
from layerloom.gui.canvas.scene import GraphScene
from layerloom.gui.canvas.wire_drop import wire_near

LAYER_MIME_TYPE = "application/x-layerloom-layer"
GRAPH_SUFFIX = ".loom"
MIN_ZOOM, MAX_ZOOM = 0.15, 3.0
READABLE_ZOOM = 0.75  # a graph opened is shown no smaller: its 9 pt card text stays about 9 px
ZOOM_STEP = 1.25
MIN_LINE_GAP = 10.0  # pixels; denser minor grid lines are skipped
MIN_MAJOR_GAP = 28.0  # pixels; below this the grid would crowd the zoomed-out nodes
PICK_RADIUS = 14.0  # pixels; a port or wire this near the cursor is the one meant


class GraphView(QGraphicsView):
    """Shows a :class:`GraphScene`.

    Signals
    -------
    fileDropped(str)
        A ``.loom`` file was dropped on the canvas; the window opens it.
    zoomChanged(float)
        The zoom level changed (1.0 is 100 %).

    blockOpenRequested(str)
        A block node was double-clicked, or Enter pressed with it alone selected.
    leaveRequested()
        Escape with no wire being dragged: go out of the block shown, if any.
    contextMenuRequested(QPoint)
        A right-click (or the menu key) at this global point; the node under it
        is selected first, as in every editor.
    """

    fileDropped = Signal(str)
    blockRequested = Signal(str, QPointF)  # a stored block's name, the card's top-left (scene)
    zoomChanged = Signal(float)
    blockOpenRequested = Signal(str)
    leaveRequested = Signal()
    contextMenuRequested = Signal(QPoint)

    def __init__(self, scene: GraphScene, parent=None):
        super().__init__(scene, parent)
        self.setObjectName("canvas")
        hint = QPainter.RenderHint
        self.setRenderHints(hint.Antialiasing | hint.TextAntialiasing | hint.SmoothPixmapTransform)
        self.setDragMode(QGraphicsView.DragMode.RubberBandDrag)
        self.setRubberBandSelectionMode(Qt.ItemSelectionMode.IntersectsItemShape)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.NoAnchor)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setOptimizationFlag(QGraphicsView.OptimizationFlag.DontAdjustForAntialiasing)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.SmartViewportUpdate)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setFrameShape(QGraphicsView.Shape.NoFrame)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setAcceptDrops(True)
        self._pan_from: QPointF | None = None
        self._space_held = False
        self._mouse: QPoint | None = None  # the cursor over the viewport, when it is
        self.quick_add = QuickAdd(self)
        self.quick_add.chosen.connect(self._quick_add_chosen)
        self.quick_add.closed.connect(self._quick_add_closed)
        self.quick_add.list.currentItemChanged.connect(self._quick_add_hint)
        self._quick: tuple[QPointF, PortRef | Edge | None] | None = None
        scene.wireDropped.connect(self._wire_dropped)
        self.centerOn(0, 0)

    def graph_scene(self) -> GraphScene:
        return self.scene()

    # ------------------------------------------------------------------- zoom
    @property
    def zoom(self) -> float:
        """The current scale (1.0 shows the scene at its own size)."""
        return self.transform().m11()

    @zoom.setter
    def zoom(self, value: float) -> None:
        self.set_zoom(value)

    def set_zoom(self, value: float, anchor: QPointF | None = None) -> None:
        """Zoom to ``value`` keeping the scene point under ``anchor`` (viewport
        coordinates; the centre by default) where it is on screen."""
        value = min(max(value, MIN_ZOOM), MAX_ZOOM)
        current = self.zoom
        if math.isclose(value, current):
            return
        if anchor is None:
            anchor = QPointF(self.viewport().rect().center())
        fixed = self.mapToScene(anchor.toPoint())
        self.scale(value / current, value / current)
        moved = QPointF(self.mapFromScene(fixed)) - anchor
        self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() + round(moved.x()))
        self.verticalScrollBar().setValue(self.verticalScrollBar().value() + round(moved.y()))
        self.zoomChanged.emit(self.zoom)

    def zoom_in(self) -> None:
        self.set_zoom(self.zoom * ZOOM_STEP)

    def zoom_out(self) -> None:
        self.set_zoom(self.zoom / ZOOM_STEP)

    def show_beginning(self) -> None:
        """Show the top-left of the graph at 100 % (a graph still being drawn: a
        frame then paints a screenful of cards, not all of them as boxes)."""
        rect = self.graph_scene().nodes_bounding_rect()
        self.set_zoom(1.0)
        view = self.viewport().rect()
        margin = 3 * theme.GRID
        self.centerOn(rect.left() - margin + view.width() / 2, rect.top() - margin + view.height() / 2)

    def fit_to_view(self, readable: bool = False) -> None:
        """Show every node, at most at 100 % (a small graph is not blown up).

        ``readable``: never below :data:`READABLE_ZOOM` (a graph just opened): a
        graph too big for that shows its beginning, the inputs at the left, and
        Fit to Window (this without ``readable``) still shows it whole.
        """
        rect = self.graph_scene().nodes_bounding_rect()
        if rect.isEmpty():
            self.set_zoom(1.0)
            self.centerOn(0, 0)
            return
        margin = 3 * theme.GRID
        rect = rect.adjusted(-margin, -margin, margin, margin)
        view = self.viewport().rect()
        fit = min(view.width() / rect.width(), view.height() / rect.height())
        if readable and fit < READABLE_ZOOM:
            self.set_zoom(READABLE_ZOOM)
            half_w = view.width() / 2 / READABLE_ZOOM
            half_h = view.height() / 2 / READABLE_ZOOM
            y = rect.center().y() if rect.height() <= 2 * half_h else rect.top() + half_h
            self.centerOn(rect.left() + half_w, y)
            return
        self.set_zoom(min(fit, 1.0))
        self.centerOn(rect.center())

    def wheelEvent(self, event: QWheelEvent) -> None:
        delta = event.angleDelta().y() or event.angleDelta().x()
        if not delta:
            event.ignore()
            return
        self.set_zoom(self.zoom * 1.2 ** (delta / 120), anchor=event.position())
        event.accept()

    # ------------------------------------------------------------- background
    def drawBackground(self, painter: QPainter, rect: QRectF) -> None:
        """A grid: minor lines every cell, major every few; only the visible ones,
        and only where they are far enough apart on screen to be worth drawing."""
        painter.fillRect(rect, theme.BACKGROUND)
        zoom = self.zoom
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        major = theme.GRID * theme.MAJOR_EVERY
        if theme.GRID * zoom >= MIN_LINE_GAP:
            painter.setPen(QPen(theme.GRID_MINOR, 0))
            painter.drawLines(_grid_lines(rect, theme.GRID, skip=theme.MAJOR_EVERY))
        if major * zoom >= MIN_MAJOR_GAP:
            painter.setPen(QPen(theme.GRID_MAJOR, 0))
            painter.drawLines(_grid_lines(rect, major))

    # ------------------------------------------------------------- panning
    def mousePressEvent(self, event: QMouseEvent) -> None:
        self.quick_add.close_popup()  # a click beside it closes the popup
        button = event.button()
        if button == Qt.MouseButton.MiddleButton or (button == Qt.MouseButton.LeftButton and self._space_held):
            self._pan_from = event.position()
            self.viewport().setCursor(Qt.CursorShape.ClosedHandCursor)
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        self._mouse = event.position().toPoint()
        if self._pan_from is not None:
            delta = event.position() - self._pan_from
            self._pan_from = event.position()
            self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() - round(delta.x()))
            self.verticalScrollBar().setValue(self.verticalScrollBar().value() - round(delta.y()))
            event.accept()
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._pan_from is not None and event.button() in (Qt.MouseButton.MiddleButton, Qt.MouseButton.LeftButton):
            self._pan_from = None
            self._set_idle_cursor()
            event.accept()
            return
        super().mouseReleaseEvent(event)

    def _set_idle_cursor(self) -> None:
        if self._space_held:
            self.viewport().setCursor(Qt.CursorShape.OpenHandCursor)
        else:
            self.viewport().unsetCursor()

    # ------------------------------------------------------------------ keys
    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = event.key()
        if key == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space_held = True
            self._set_idle_cursor()
            event.accept()
            return
        if key == Qt.Key.Key_Escape:
            if self.graph_scene().wire_in_progress():
                self.graph_scene().cancel_wire()
            else:
                self.leaveRequested.emit()
            event.accept()
            return
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and not event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier:
            block = self._selected_block()
            if block is not None:
                self.blockOpenRequested.emit(block)
                event.accept()
                return
        if key in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace):
            self.graph_scene().delete_selection()
            event.accept()
            return
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space_held = False
            if self._pan_from is None:
                self._set_idle_cursor()
            event.accept()
            return
        super().keyReleaseEvent(event)

    def focusOutEvent(self, event) -> None:
        self._space_held = False
        super().focusOutEvent(event)

    # -------------------------------------------------------------- quick add
    def event(self, event: QEvent) -> bool:
        """Tab opens the quick-add popup instead of moving the focus on."""
        if (event.type() == QEvent.Type.KeyPress and event.key() == Qt.Key.Key_Tab
                and not event.modifiers() & (Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.AltModifier)
                and not self.graph_scene().wire_in_progress()):
            self.open_quick_add(self.cursor_point())
            return True
        return super().event(event)

    def viewportEvent(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Leave:
            self._mouse = None
        return super().viewportEvent(event)

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        """A double-click on empty canvas (or on a wire) opens the quick-add popup;
        on a block node, opens the block."""
        point = event.position().toPoint()
        item = self.itemAt(point)
        card = item.topLevelItem() if item is not None else None
        if event.button() == Qt.MouseButton.LeftButton and isinstance(card, NodeItem):
            graph = self.graph_scene().graph
            if graph.has_node(card.node_id) and graph.node(card.node_id).is_block:
                self.blockOpenRequested.emit(card.node_id)
                event.accept()
                return
        if event.button() == Qt.MouseButton.LeftButton and not isinstance(
                item.topLevelItem() if item is not None else None, NodeItem):
            self.open_quick_add(point)
            event.accept()
            return
        super().mouseDoubleClickEvent(event)

    def _selected_block(self) -> str | None:
        """The id of the selected node when it is the only one and a block."""
        scene = self.graph_scene()
        ids = scene.selected_node_ids()
        if len(ids) == 1 and scene.graph.node(ids[0]).is_block:
            return ids[0]
        return None

    def contextMenuEvent(self, event: QContextMenuEvent) -> None:
        """Select the node under the cursor (keeping a selection it is part of) and
        ask for the canvas menu."""
        item = self.itemAt(event.pos())
        card = item.topLevelItem() if item is not None else None
        if isinstance(card, NodeItem) and not card.isSelected():
            self.graph_scene().select_nodes([card.node_id])
        self.contextMenuRequested.emit(event.globalPos())
        event.accept()

    def cursor_point(self) -> QPoint:
        """The cursor in viewport coordinates; the centre when it is not over the canvas."""
        area = self.viewport().rect()
        if self._mouse is not None and area.contains(self._mouse):
            return QPoint(self._mouse)
        point = self.viewport().mapFromGlobal(QCursor.pos())
        return point if area.contains(point) and self.viewport().underMouse() else area.center()

    def quick_add_target(self, point: QPoint) -> PortRef | Edge | None:
        """What a layer quick-added at ``point`` (viewport) is wired to: the port
        nearest the cursor within :data:`PICK_RADIUS`, else the wire under it."""
        scene, pos = self.graph_scene(), self.mapToScene(point)
        r = PICK_RADIUS / self.zoom
        ports = [i for i in scene.items(QRectF(pos.x() - r, pos.y() - r, 2 * r, 2 * r))
                 if isinstance(i, PortItem)]
        if ports:
            port = min(ports, key=lambda p: QLineF(p.scene_anchor(), pos).length())
            return PortRef(port.node_id, port.name, port.is_output)
        wire = wire_near(scene, pos, r)
        return wire.edge if wire is not None else None

    def open_quick_add(self, point: QPoint, target: PortRef | Edge | None = None) -> None:
        """Open the popup at ``point`` (viewport coordinates); the layer picked will
        be wired to ``target`` (found under the cursor when not given)."""
        self._quick_add_closed()
        if target is None:
            target = self.quick_add_target(point)
        self._quick = (self.mapToScene(point), target)
        graph = self.graph_scene().graph
        if isinstance(target, PortRef):
            self._port_item(target).set_state(OK)
            context = f"Wired to {graph.node(target.node_id).title}.{target.port}"
        elif isinstance(target, Edge):
            context = f"Into the wire {graph.node(target.source).title} → {graph.node(target.target).title}"
        else:
            context = "Add a layer here"
        self.quick_add.open_at(self.viewport().mapTo(self, point), context)
        self._quick_add_hint(self.quick_add.list.currentItem())

    def _port_item(self, ref: PortRef) -> PortItem:
        return self.graph_scene().node_item(ref.node_id).port(ref.port, ref.is_output)

    def _quick_add_hint(self, item, _previous=None) -> None:
        """Over a wire: light it green or red for the highlighted layer."""
        if self._quick is None or not isinstance(self._quick[1], Edge) or item is None:
            return
        if key_block_name(item.data(0, Qt.ItemDataRole.UserRole)) is not None:
            self.graph_scene().wire_drop.clear()
            return
        self.graph_scene().wire_drop.light(self._quick[1], item.data(0, Qt.ItemDataRole.UserRole))

    def _quick_add_closed(self) -> None:
        quick, self._quick = self._quick, None
        if quick is None:
            return
        scene, target = self.graph_scene(), quick[1]
        scene.wire_drop.clear()
        if isinstance(target, PortRef) and scene.graph.has_node(target.node_id):
            item = scene.node_item(target.node_id)
            port = (item.outputs if target.is_output else item.inputs).get(target.port)
            if port is not None:
                port.set_state(NORMAL)

    def _quick_add_chosen(self, type_id: str) -> None:
        if self._quick is None:
            return
        pos, target = self._quick
        self._quick_add_closed()
        spot = self._landing(pos, target)
        name = key_block_name(type_id)
        if name is not None:
            self.blockRequested.emit(name, spot)
            return
        self.graph_scene().add_node(type_id, (spot.x(), spot.y()), target)

    def _landing(self, pos: QPointF, target: PortRef | Edge | None) -> QPointF:
        """Top-left of a quick-added card for the cursor at ``pos`` (scene): its
        header centred on the cursor, or, wired to a port, beside that port (to its
        right for an output, its left for an input) so that it covers neither."""
        top = pos.y() - theme.HEADER_HEIGHT / 2
        if isinstance(target, PortRef):
            anchor = self._port_item(target).scene_anchor()
            gap = 2 * theme.GRID
            if target.is_output:
                return QPointF(max(pos.x(), anchor.x() + gap), top)
            return QPointF(min(pos.x(), anchor.x() - gap) - theme.NODE_WIDTH, top)
        return QPointF(pos.x() - theme.NODE_WIDTH / 2, top)

    def _wire_dropped(self, port: PortRef, pos: QPointF) -> None:
        """A wire let go over empty canvas: offer the layers to wire to its port."""
        if self.isVisible():
            self.open_quick_add(self.mapFromScene(pos), port)

    # ----------------------------------------------------------------- drops
    def scene_pos_for_drop(self, view_point: QPointF | QPoint) -> QPointF:
        """Top-left scene position, snapped, for a node whose header centres on
        ``view_point`` (viewport coordinates)."""
        point = view_point.toPoint() if isinstance(view_point, QPointF) else view_point
        pos = self.mapToScene(point)
        return theme.snap_point(QPointF(pos.x() - theme.NODE_WIDTH / 2, pos.y() - theme.HEADER_HEIGHT / 2))

    def add_layer(self, type_id: str) -> str | None:
        """Add a layer in the middle of the visible canvas (palette double-click),
        stepping aside from any node already placed exactly there."""
        pos = self.scene_pos_for_drop(self.viewport().rect().center())
        taken = {tuple(n.position) for n in self.graph_scene().graph.nodes}
        while (pos.x(), pos.y()) in taken:
            pos += QPointF(theme.GRID, theme.GRID)
        return self.graph_scene().add_node(type_id, (pos.x(), pos.y()))

    def _dropped_files(self, event) -> list[str]:
        mime = event.mimeData()
        if not mime.hasUrls():
            return []
        return [u.toLocalFile() for u in mime.urls()
                if u.isLocalFile() and u.toLocalFile().lower().endswith(GRAPH_SUFFIX)]

    def _accepts(self, event) -> bool:
        return event.mimeData().hasFormat(LAYER_MIME_TYPE) or bool(self._dropped_files(event))

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if self._accepts(event):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        if self._accepts(event):
            event.acceptProposedAction()
            self._wire_under_drop(event)
        else:
            event.ignore()

    def dragLeaveEvent(self, event) -> None:
        self.graph_scene().wire_drop.clear()
        super().dragLeaveEvent(event)

    def _wire_under_drop(self, event) -> Edge | None:
        """Light the wire a layer dragged from the palette would go into; returns it."""
        mime = event.mimeData()
        if not mime.hasFormat(LAYER_MIME_TYPE):
            return None
        type_id = bytes(mime.data(LAYER_MIME_TYPE).data()).decode("utf-8", "replace").strip()
        if key_block_name(type_id) is not None:
            return None
        pos = self.mapToScene(event.position().toPoint())
        return self.graph_scene().wire_drop.light_at(pos, type_id, PICK_RADIUS / self.zoom)

    def dropEvent(self, event: QDropEvent) -> None:
        mime = event.mimeData()
        if mime.hasFormat(LAYER_MIME_TYPE):
            type_id = bytes(mime.data(LAYER_MIME_TYPE).data()).decode("utf-8", "replace").strip()
            name = key_block_name(type_id)
            if name is not None:
                self.graph_scene().wire_drop.clear()
                self.blockRequested.emit(name, self.scene_pos_for_drop(event.position()))
                event.acceptProposedAction()
                self.setFocus()
                return
            if type_id not in REGISTRY:
                self.graph_scene().statusMessage.emit(f"Unknown layer type {type_id[:60]!r}; nothing added")
                event.ignore()
                return
            wire = self._wire_under_drop(event)
            self.graph_scene().wire_drop.clear()
            pos = self.scene_pos_for_drop(event.position())
            self.graph_scene().add_node(type_id, (pos.x(), pos.y()), wire)
            event.acceptProposedAction()
            self.setFocus()
            return
        files = self._dropped_files(event)
        if files:
            event.acceptProposedAction()
            self.fileDropped.emit(files[0])
            return
        event.ignore()


def _grid_lines(rect: QRectF, step: float, skip: int = 0) -> list[QLineF]:
    """Vertical and horizontal lines every ``step`` inside ``rect``; with ``skip``,
    leave out every ``skip``-th line (drawn by the major grid)."""
    lines = []
    first_x = math.floor(rect.left() / step)
    last_x = math.ceil(rect.right() / step)
    first_y = math.floor(rect.top() / step)
    last_y = math.ceil(rect.bottom() / step)
    for i in range(first_x, last_x + 1):
        if not skip or i % skip:
            x = i * step
            lines.append(QLineF(x, rect.top(), x, rect.bottom()))
    for j in range(first_y, last_y + 1):
        if not skip or j % skip:
            y = j * step
            lines.append(QLineF(rect.left(), y, rect.right(), y))
    return lines
