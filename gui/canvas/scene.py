"""The scene: one item per node and per edge of a :class:`~layerloom.graph.model.Graph`.

The scene follows the graph's events (node and edge added, removed, changed,
moved; reset) and holds no state the graph does not: a node item sits at
``node.position`` except while the user drags it, and the drag becomes one
:class:`~layerloom.gui.commands.MoveNodes` on release. Shapes, counts and errors come from
``graph.analysis()``, re-read once per undo-stack step (or once per burst of
events from elsewhere), and only the items whose text changed are repainted.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass, field

import shiboken6
from PySide6.QtCore import QPointF, QRectF, QTimer, Signal
from PySide6.QtGui import QUndoCommand, QUndoStack
from PySide6.QtWidgets import QGraphicsScene

from layerloom.graph.errors import GraphError
from layerloom.graph.inference import Analysis
from layerloom.graph.model import Edge, Event, Graph
from layerloom.graph.registry import REGISTRY
from layerloom.gui import commands
from layerloom.gui.canvas import theme
from layerloom.gui.canvas.edge_item import EdgeItem
from layerloom.gui.canvas.insertion import (
    Plan,
    PortRef,
    attach_plan,
    insert_plan,
    make_room,
    not_wired_text,
)
from layerloom.gui.canvas.node_item import PORTS_MOVED, NodeItem
from layerloom.gui.canvas.port_item import BAD, NORMAL, OK, PortItem
from layerloom.gui.canvas.scene_build import SceneBuilder
from layerloom.gui.canvas.wire_check import wire_problem
from layerloom.gui.canvas.wire_drop import WireDrop
from layerloom.gui.canvas.wire_preview import WirePreview
from layerloom.gui.commands_wiring import insert_node, place_node

SCENE_EXTENT = 50_000.0  # the canvas is this far in every direction
NEW_CARD_HEIGHT = theme.HEADER_HEIGHT + 3 * theme.ROW_HEIGHT  # about, before it is laid out
WIRE_DROP_MIN = 3 * theme.PORT_HIT  # a wire released nearer its port was a click


@dataclass
class _WireDrag:
    """A wire being dragged from ``port``: the preview and, per candidate port, why
    it would be refused (``None``: accepted)."""

    port: PortItem
    preview: WirePreview
    verdicts: dict[PortItem, str | None] = field(default_factory=dict)


class GraphScene(QGraphicsScene):
    """Items for ``graph``; user edits go to ``undo_stack`` as commands.

    Signals
    -------
    selectionChangedIds(list)
        The selected node ids, in graph order, whenever they change.
    statusMessage(str)
        A short message for the status bar (why a wire was refused, ...).
    wireDropped(PortRef, QPointF)
        A wire dragged from a port was let go over empty canvas at that scene
        point (the view offers to add a layer there, wired to the port).
    """

    selectionChangedIds = Signal(list)
    statusMessage = Signal(str)
    wireDropped = Signal(object, QPointF)

    def __init__(self, graph: Graph, undo_stack: QUndoStack, parent=None):
        super().__init__(parent)
        self.undo_stack = undo_stack
        self.graph: Graph | None = None
        self._nodes: dict[str, NodeItem] = {}
        self._edges: dict[Edge, EdgeItem] = {}
        self._adjacent: dict[str, set[Edge]] = {}
        self._analysis: Analysis | None = None
        self._dirty = False
        self._touched: set[str] = set()  # nodes changed (params, label) since the refresh
        self._wire: _WireDrag | None = None
        self.wire_drop = WireDrop(self)  # the wire a dragged node would go into
        self._selection_batch = False
        self._last_selection: list[str] = []
        ref = weakref.ref(self)
        following: list[Graph] = []  # the graph the listener is subscribed to

        def listener(event: Event) -> None:
            # Holds the scene weakly: a scene deleted with its window (without
            # detach) unsubscribes itself at the graph's next event.
            scene = ref()
            if scene is not None and shiboken6.isValid(scene):
                scene._on_graph_event(event)
            elif following:
                following.pop().unsubscribe(listener)

        self._listener = listener
        self._following = following
        self._refresh_timer = QTimer(self)
        self._refresh_timer.setSingleShot(True)
        self._refresh_timer.setInterval(0)
        self._refresh_timer.timeout.connect(self.refresh_analysis)
        self.builder = SceneBuilder(self)  # a big graph's items, a slice at a time
        undo_stack.indexChanged.connect(self.refresh_analysis)
        self.selectionChanged.connect(self._emit_selection)
        self.setSceneRect(-SCENE_EXTENT, -SCENE_EXTENT, 2 * SCENE_EXTENT, 2 * SCENE_EXTENT)
        self.set_graph(graph)

    # ------------------------------------------------------------------ graph
    def set_graph(self, graph: Graph) -> None:
        """Show ``graph`` instead of the current one (the document opened another)."""
        self.detach()
        self.graph = graph
        graph.subscribe(self._listener)
        self._following.append(graph)
        self._rebuild()

    def detach(self) -> None:
        """Stop following the graph (before the scene is thrown away)."""
        while self._following:
            self._following.pop().unsubscribe(self._listener)

    def _rebuild(self) -> None:
        """Throw the items away and build them again for the whole graph, in one
        pass with the analysis at hand (each card laid out once, each wire labelled
        as it is made)."""
        self.cancel_wire()
        self.builder.stop()
        self._selection_batch = True
        try:
            for item in self._edges.values():
                self.removeItem(item)
            for item in self._nodes.values():
                self.removeItem(item)
        finally:
            self._selection_batch = False
        self._nodes.clear()
        self._edges.clear()
        self._adjacent.clear()
        self._refresh_timer.stop()
        self._dirty = False
        self._touched.clear()
        self._analysis = self.graph.analysis()
        self.builder.start()
        self._emit_selection()

    def _on_graph_event(self, event: Event) -> None:
        kind, nid = event.kind, event.node_id
        if kind != "settings_changed":
            self.wire_drop.forget()  # its plans were for the graph as it was
            if self._wire is not None:
                self.cancel_wire()  # so were its verdicts
        if kind == "node_added":
            self._add_node_item(nid)
        elif kind == "node_removed":
            self._remove_node_item(nid)
        elif kind == "node_changed":
            self._touched.add(nid)
            node, item = self.graph.node(nid), self._nodes.get(nid)
            if item is not None and item.port_names() != (node.input_ports(), node.output_ports()):
                # wires to new ports may follow at once: make the ports now (the
                # texts are redone with the new analysis at the refresh)
                info = self._analysis.nodes.get(nid) if self._analysis else None
                if item.set_node(node, info) & PORTS_MOVED:
                    self.node_item_moved(item)
        elif kind == "node_moved":
            if nid in self._nodes:  # else it is made where it is, later
                self._nodes[nid].place(self.graph.node(nid).position)
            return  # positions do not change the analysis
        elif kind == "edge_added":
            if not self.builder.building_nodes:  # else it is made with the wires, later
                self._add_edge_item(event.edge)
        elif kind == "edge_removed":
            if event.edge in self._edges:
                self._remove_edge_item(event.edge)
        elif kind == "reset":
            self._rebuild()
            return
        elif kind in ("block_changed", "block_added", "block_removed"):
            # a definition changed: its instances' sizes, shapes and texts may have
            self._touched.update(n.id for n in self.graph.nodes if n.is_block)
        else:
            return
        self._dirty = True
        if not self._refresh_timer.isActive():
            self._refresh_timer.start()

    def _add_node_item(self, node_id: str) -> None:
        node = self.graph.node(node_id)
        info = self._analysis.nodes.get(node_id) if self._analysis else None
        item = NodeItem(node, info)
        self._nodes[node_id] = item
        self._adjacent[node_id] = set()
        self.addItem(item)

    def _remove_node_item(self, node_id: str) -> None:
        item = self._nodes.pop(node_id, None)
        self._adjacent.pop(node_id, None)
        if item is not None:
            self.removeItem(item)

    def _add_edge_item(self, edge: Edge) -> None:
        source = self._port(edge.source, edge.source_port, output=True)
        target = self._port(edge.target, edge.target_port, output=False)
        spec = self._analysis.edges.get(edge) if self._analysis else None
        item = EdgeItem(edge, source, target, spec)
        self._edges[edge] = item
        self._adjacent[edge.source].add(edge)
        self._adjacent[edge.target].add(edge)
        self.addItem(item)

    def _port(self, node_id: str, name: str, output: bool) -> PortItem:
        """A node item's port; made first when the node's ports changed before
        its own event came (a block whose port was renamed inside moves its wires
        to the new name, then says it changed)."""
        item = self._nodes[node_id]
        if name not in (item.outputs if output else item.inputs):
            info = self._analysis.nodes.get(node_id) if self._analysis else None
            if item.set_node(self.graph.node(node_id), info) & PORTS_MOVED:
                self.node_item_moved(item)
        return item.port(name, output)

    def _remove_edge_item(self, edge: Edge) -> None:
        item = self._edges.pop(edge)
        for nid in (edge.source, edge.target):
            if nid in self._adjacent:
                self._adjacent[nid].discard(edge)
        self.removeItem(item)

    def refresh_analysis(self) -> None:
        """Re-read the analysis after changes and update the items it affects.

        Runs at once after each undo-stack step, and otherwise once per burst of
        graph events (a zero-delay timer); call it to bring the items up to date
        now. Each card compares what it shows before laying anything out, and only
        the wires of cards whose ports moved are re-routed.
        """
        self._refresh_timer.stop()
        if not self._dirty or self.graph is None:
            return
        self._dirty = False
        analysis = self._analysis = self.graph.analysis()
        infos, node, touched = analysis.nodes, self.graph.node, self._touched
        self._touched = set()
        for nid, item in self._nodes.items():
            if item.set_node(node(nid), infos.get(nid), nid in touched) & PORTS_MOVED:
                self.node_item_moved(item)
        specs = analysis.edges
        for edge, item in self._edges.items():
            item.set_spec(specs.get(edge))

    # ---------------------------------------------------------------- lookups
    def node_item(self, node_id: str) -> NodeItem:
        if node_id not in self._nodes:
            self.builder.finish()
        return self._nodes[node_id]

    def node_item_or_none(self, node_id: str) -> NodeItem | None:
        """The node's card, or ``None`` while it is not made yet."""
        return self._nodes.get(node_id)

    def edge_item(self, edge: Edge) -> EdgeItem:
        if edge not in self._edges:
            self.builder.finish()
        return self._edges[edge]

    def has_edge_item(self, edge: Edge) -> bool:
        return edge in self._edges

    def node_items(self) -> list[NodeItem]:
        self.builder.finish()
        return list(self._nodes.values())

    def edge_items(self) -> list[EdgeItem]:
        self.builder.finish()
        return list(self._edges.values())

    def nodes_bounding_rect(self) -> QRectF:
        """The area the nodes cover (empty when there are none); while a big graph
        is still being built, the area its nodes' positions cover."""
        if self.builder.busy:
            return _positions_rect(self.graph)
        self.refresh_analysis()  # card heights follow the texts
        rect = QRectF()
        for item in self._nodes.values():
            rect = rect.united(item.sceneBoundingRect())
        return rect

    # -------------------------------------------------------------- selection
    def selected_node_ids(self) -> list[str]:
        chosen = {i.node_id for i in self.selectedItems() if isinstance(i, NodeItem)}
        return [n.id for n in self.graph.nodes if n.id in chosen]

    def selected_edges(self) -> list[Edge]:
        chosen = {i.edge for i in self.selectedItems() if isinstance(i, EdgeItem)}
        return [e for e in self.graph.edges if e in chosen]

    def select_nodes(self, node_ids) -> None:
        """Select exactly these nodes (one selection signal, not one per node)."""
        node_ids = list(node_ids)
        if any(nid not in self._nodes for nid in node_ids):
            self.builder.finish()
        self._selection_batch = True
        try:
            self.clearSelection()
            for nid in node_ids:
                if nid in self._nodes:
                    self._nodes[nid].setSelected(True)
        finally:
            self._selection_batch = False
        self._emit_selection()

    def select_all(self) -> None:
        self.builder.finish()
        self.select_nodes(list(self._nodes))

    def _emit_selection(self) -> None:
        if self._selection_batch or self.graph is None:
            return
        ids = self.selected_node_ids()
        if ids != self._last_selection:
            self._last_selection = ids
            self.selectionChangedIds.emit(ids)

    # ---------------------------------------------------------------- editing
    def push(self, build: Callable[[], QUndoCommand]) -> QUndoCommand | None:
        """Push the command ``build()`` makes, or report why it was refused."""
        try:
            command = build()
        except GraphError as exc:
            self.statusMessage.emit(str(exc))
            return None
        self.undo_stack.push(command)
        return command

    def delete_selection(self) -> bool:
        """Delete the selected nodes (with their wires) and selected wires."""
        nodes, edges = self.selected_node_ids(), self.selected_edges()
        if not nodes and not edges:
            return False
        return self.push(lambda: commands.DeleteItems(self.graph, nodes, edges)) is not None

    def add_node(self, type_id: str, position: tuple[float, float],
                 attach: PortRef | Edge | None = None) -> str | None:
        """Add a layer at ``position`` (top-left, snapped) and select it.

        With ``attach`` (a port, or a wire to insert the layer into) the layer is
        wired in as the same undo step when it fits; when it does not, it is
        added unwired and the status bar says why.
        """
        snapped = (theme.snap(position[0]), theme.snap(position[1]))
        plan = Plan()

        def build():
            nonlocal plan
            spec = REGISTRY.get(type_id)
            node_id = self.graph.new_id(spec.type_id)
            if isinstance(attach, Edge):
                plan = insert_plan(self.graph, attach, node_id, spec.type_id)
            elif attach is not None:
                plan = attach_plan(self.graph, attach, node_id, spec.type_id)
            if not plan.fits:
                return commands.AddNode(self.graph, spec.type_id, position=snapped, node_id=node_id)
            at, moves = snapped, {}
            if plan.cut:
                at, moves = self._make_room(plan.cut[0], snapped, NEW_CARD_HEIGHT)
            return place_node(self.graph, spec.type_id, at, plan.cut, plan.add, node_id, moves=moves)

        command = self.push(build)
        if command is None:
            return None
        if plan.problem:
            self.statusMessage.emit(not_wired_text(self.graph, REGISTRY.get(type_id).name, attach, plan.problem))
        self.select_nodes([command.node_id])
        return command.node_id

    def paste(self, data: dict, offset: tuple[float, float] = (40.0, 40.0)) -> list[str]:
        """Paste copied nodes (see :mod:`layerloom.gui.clipboard`) and select them."""
        command = self.push(lambda: commands.Paste(self.graph, data, offset))
        if command is None:
            return []
        self.select_nodes(command.node_ids)
        return list(command.node_ids)

    def auto_layout(self) -> None:
        """Arrange the nodes in columns, sized for the cards on this canvas."""
        self.builder.finish()
        if not self._nodes:
            return
        self.refresh_analysis()  # card heights follow the texts
        tallest = max(item.height for item in self._nodes.values())
        self.push(lambda: commands.AutoLayout(
            self.graph, node_width=theme.NODE_WIDTH, node_height=theme.snap(tallest + 10),
            h_gap=5 * theme.GRID, v_gap=2 * theme.GRID,
        ))

    # -------------------------------------------------------- dragging nodes
    def node_item_moved(self, item: NodeItem) -> None:
        """Keep the wires of ``item`` attached while it moves (or its ports move)."""
        for edge in self._adjacent.get(item.node_id, ()):
            self._edges[edge].update_geometry()

    def node_dragged(self, item: NodeItem, cursor: QPointF) -> None:
        """While a card is dragged: light the wire it would be inserted into."""
        self.wire_drop.node_dragged(item, cursor)

    def commit_drag(self) -> None:
        """After a mouse drag: one :class:`MoveNodes` for every node that moved, or,
        for a node let go over a lit wire, one command that moves it and inserts it
        into the wire (or, when it does not fit there, the move and the reason)."""
        moves = {}
        for nid, item in self._nodes.items():
            pos = (item.pos().x(), item.pos().y())
            old = self.graph.node(nid).position
            if pos != old:
                moves[nid] = (old, pos)
        lit = self.wire_drop.take(next(iter(moves))) if len(moves) == 1 else None
        self.wire_drop.clear()
        if lit is not None:
            edge, plan = lit
            (nid,) = moves
            if plan.fits:
                at, pushed = self._make_room(edge, moves[nid][1], self._nodes[nid].height)
                moves = {nid: (moves[nid][0], at), **pushed}
                self.push(lambda: insert_node(self.graph, nid, moves, plan.cut, plan.add))
                return
            self.statusMessage.emit(not_wired_text(self.graph, self.graph.node(nid).spec.name, edge, plan.problem))
        if moves:
            self.push(lambda: commands.MoveNodes(self.graph, moves))

    def _make_room(self, edge: Edge, position: tuple[float, float], height: float):
        """Where a card of ``height`` dropped at ``position`` goes into ``edge``, and
        the nodes that step aside (see :func:`~layerloom.gui.canvas.insertion.make_room`)."""
        source, target = self._nodes[edge.source], self._nodes[edge.target]
        return make_room(self.graph, edge, (*position, theme.NODE_WIDTH, height),
                         (source.x(), source.y(), source.width, source.height),
                         (target.x(), target.y(), target.width, target.height))

    # -------------------------------------------------------- dragging wires
    def begin_wire(self, port: PortItem, pos: QPointF) -> None:
        """Start a wire from ``port``; light up the ports that would take it."""
        self.cancel_wire()
        preview = WirePreview(port.scene_anchor(), port.is_output)
        self.addItem(preview)
        self._wire = drag = _WireDrag(port, preview)
        self.refresh_analysis()
        analysis = self.graph.analysis()
        for item in self._nodes.values():
            for other in item.ports():
                if other.is_output == port.is_output:
                    other.set_state(BAD if other is not port else OK)
                    continue
                src, dst = (port, other) if port.is_output else (other, port)
                problem = wire_problem(self.graph, analysis, src.node_id, src.name, dst.node_id, dst.name)
                drag.verdicts[other] = problem
                other.set_state(OK if problem is None else BAD)

    def drag_wire(self, pos: QPointF) -> None:
        drag = self._wire
        if drag is None:
            return
        target = self._drop_port(pos)
        if target is None:
            drag.preview.follow(pos)
            drag.preview.set_verdict(None)
        else:
            drag.preview.follow(target.scene_anchor())
            drag.preview.set_verdict(drag.verdicts.get(target) is None)

    def end_wire(self, pos: QPointF) -> None:
        """Finish the wire over ``pos``: connect, or say why not."""
        drag = self._wire
        if drag is None:
            return
        target = self._drop_port(pos)
        self.cancel_wire()
        if target is None:
            if _distance(drag.port.scene_anchor(), pos) >= WIRE_DROP_MIN:
                self.wireDropped.emit(PortRef(drag.port.node_id, drag.port.name, drag.port.is_output), pos)
            return
        problem = drag.verdicts.get(target)
        if problem is not None:
            self.statusMessage.emit(f"Wire refused: {problem}")
            return
        src, dst = (drag.port, target) if drag.port.is_output else (target, drag.port)
        self.push(lambda: commands.Connect(self.graph, src.node_id, src.name, dst.node_id, dst.name))

    def _drop_port(self, pos: QPointF) -> PortItem | None:
        """The candidate port under ``pos``; over a node's card, its first port that
        accepts the wire (or else its first candidate, to say why not)."""
        drag = self._wire
        r = theme.PORT_HIT
        near = [i for i in self.items(QRectF(pos.x() - r, pos.y() - r, 2 * r, 2 * r))
                if isinstance(i, PortItem) and i in drag.verdicts]
        if near:
            return min(near, key=lambda p: _distance(p.scene_anchor(), pos))
        for item in self.items(pos):
            if isinstance(item, NodeItem) and item.node_id != drag.port.node_id:
                ports = [p for p in item.ports() if p in drag.verdicts]
                free = [p for p in ports if drag.verdicts[p] is None]
                return (free or ports or [None])[0]
        return None

    def cancel_wire(self) -> None:
        """Drop the wire being dragged, if any (Escape, or its node went away)."""
        drag, self._wire = self._wire, None
        if drag is None:
            return
        if shiboken6.isValid(drag.preview) and drag.preview.scene() is self:
            self.removeItem(drag.preview)
        for item in self._nodes.values():
            for port in item.ports():
                port.set_state(NORMAL)

    def wire_in_progress(self) -> bool:
        return self._wire is not None


def _positions_rect(graph: Graph) -> QRectF:
    """The area the cards of ``graph`` cover, from the positions and a card's usual size."""
    nodes = graph.nodes
    if not nodes:
        return QRectF()
    xs = [n.position[0] for n in nodes]
    ys = [n.position[1] for n in nodes]
    left, top = min(xs), min(ys)
    return QRectF(left, top, max(xs) - left + theme.NODE_WIDTH, max(ys) - top + NEW_CARD_HEIGHT)


def _distance(a: QPointF, b: QPointF) -> float:
    return ((a.x() - b.x()) ** 2 + (a.y() - b.y()) ** 2) ** 0.5
