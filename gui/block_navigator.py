"""Which graph the canvas shows: the document, or the inside of a block.

Opening a block node (double-click, Enter, the context menu) shows its
definition's body on the same canvas and inspector, with the path in a
:class:`~layerloom.gui.canvas.breadcrumb.Breadcrumb` above; Escape or a part of the
path goes back out. Edits inside are ordinary commands on the body, on the one
undo stack, and apply to every instance (the block library tells the document).
Undo and redo of an edit made at another level bring the canvas to that level,
so an undone change is always seen. Making a block of the selection (Ctrl+G) and
ungrouping one (Ctrl+Shift+G) act on the graph shown, so blocks nest.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import shiboken6
from PySide6.QtCore import QObject, QPointF, Signal
from PySide6.QtGui import QUndoCommand, QUndoStack

from layerloom.graph.model import Event, Graph
from layerloom.gui.canvas.breadcrumb import Breadcrumb
from layerloom.gui.canvas.scene import GraphScene
from layerloom.gui.canvas.view import GraphView
from layerloom.gui.commands_blocks import MakeBlock, Ungroup, default_block_name
from layerloom.gui.qt_util import qt_listener


@dataclass
class _Level:
    """One open block: its definition, the node it was opened from, and where the
    view looked at the level outside it (restored on the way back)."""

    block: str
    node_id: str
    zoom: float
    centre: QPointF


class BlockNavigator(QObject):
    """Shows ``root`` or a block's body on ``scene``/``view`` and ``inspector``.

    Signals
    -------
    graphChanged(object)
        The canvas now shows this graph.
    statusMessage(str)
        Why a block could not be opened.
    """

    graphChanged = Signal(object)
    statusMessage = Signal(str)

    def __init__(self, root: Graph, scene: GraphScene, view: GraphView, inspector, undo_stack: QUndoStack,
                 breadcrumb: Breadcrumb, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.root = root
        self.scene = scene
        self.view = view
        self.inspector = inspector
        self.undo_stack = undo_stack
        self.breadcrumb = breadcrumb
        self.levels: list[_Level] = []
        self._index = undo_stack.index()
        self._listener = qt_listener(self._on_root_event)
        root.subscribe(self._listener)
        undo_stack.indexChanged.connect(self._follow_undo)
        breadcrumb.levelChosen.connect(self.go_to)
        view.blockOpenRequested.connect(self.open_block)
        view.leaveRequested.connect(self.leave)

    # ----------------------------------------------------------------- state
    @property
    def path(self) -> list[str]:
        """The open definitions, outermost first (empty at the document)."""
        return [level.block for level in self.levels]

    @property
    def current(self) -> Graph:
        """The graph the canvas shows."""
        return self._graph_at(len(self.levels))

    def _graph_at(self, depth: int) -> Graph:
        return self.root if depth == 0 else self.root.blocks[self.levels[depth - 1].block].body

    # ----------------------------------------------------------- navigation
    def open_block(self, node_id: str) -> bool:
        """Show the inside of the block node ``node_id`` of the current graph."""
        graph = self.current
        if not graph.has_node(node_id):
            return False
        node = graph.node(node_id)
        if not node.is_block:
            self.statusMessage.emit(f"{node.title} is a {node.spec.name}, not a block; only a block can be opened")
            return False
        centre = self.view.mapToScene(self.view.viewport().rect().center())
        self.levels.append(_Level(node.params["block"], node_id, self.view.zoom, centre))
        self._show()
        self.view.fit_to_view()
        return True

    def leave(self) -> bool:
        """Go out one level; False at the document."""
        if not self.levels:
            return False
        self.go_to(len(self.levels) - 1)
        return True

    def go_to(self, depth: int) -> None:
        """Show the level ``depth`` (0: the document), selecting the block node the
        canvas came out of and putting the view back where it was."""
        if depth >= len(self.levels):
            return
        left = self.levels[depth]
        del self.levels[depth:]
        self._show()
        self.view.set_zoom(left.zoom)
        self.view.centerOn(left.centre)
        if self.current.has_node(left.node_id):
            self.scene.select_nodes([left.node_id])

    def go_to_graph(self, graph: Graph) -> bool:
        """Show ``graph`` (the document or a definition's body), opening the blocks
        on the way to it; False when it is neither."""
        if graph is self.current:
            return True
        if graph is self.root:
            self.go_to(0)
            return True
        if not graph.is_body or graph.blocks is not self.root.blocks:
            return False
        route = self._route_to(graph.block_name)
        if route is None:
            return False
        self.levels = []
        for name, node_id in route:
            centre = self.view.mapToScene(self.view.viewport().rect().center())
            self.levels.append(_Level(name, node_id, self.view.zoom, centre))
        self._show()
        self.view.fit_to_view()
        return True

    def _route_to(self, target: str) -> list[tuple[str, str]] | None:
        """The shortest chain of instances from the document to definition ``target``."""
        todo: list[tuple[Graph, list[tuple[str, str]]]] = [(self.root, [])]
        seen: set[str] = set()
        while todo:
            graph, route = todo.pop(0)
            for node in graph.nodes:
                if not node.is_block:
                    continue
                name = node.params["block"]
                step = [*route, (name, node.id)]
                if name == target:
                    return step
                if name not in seen and name in self.root.blocks:
                    seen.add(name)
                    todo.append((self.root.blocks[name].body, step))
        return None

    def _show(self) -> None:
        graph = self.current
        if self.scene.graph is not graph:
            self.scene.set_graph(graph)
            self.inspector.set_graph(graph)
        self._update_breadcrumb()
        self.graphChanged.emit(graph)

    def _update_breadcrumb(self) -> None:
        note = ""
        if self.levels:
            name = self.levels[-1].block
            count = len(self.root.blocks.instances(name))
            uses = "its instance" if count == 1 else f"all {count} of its instances"
            note = f"Inside block '{name}': edits apply to {uses}. Esc goes back out."
        self.breadcrumb.set_path(self.path, note)

    # ---------------------------------------------------------- block edits
    def make_block(self, ask_name: Callable[[str], str | None]) -> str | None:
        """Replace the selected nodes of the graph shown by one block node (selected
        afterwards), named by ``ask_name(default)`` (``None`` cancels). A refused
        selection leaves the graph as it was; the status bar says why. Returns the
        block node's id."""
        graph, ids = self.current, self.scene.selected_node_ids()
        if not ids:
            self.statusMessage.emit("Select the layers to group into a block first "
                                    "(drag a rubber band or Ctrl+click them)")
            return None
        name = ask_name(default_block_name(graph, ids))
        if not name:
            return None
        command = self.scene.push(lambda: MakeBlock(graph, ids, name))
        if command is None:
            return None
        self.scene.select_nodes([command.node_id])
        self.statusMessage.emit(f"Made block '{name}' of {len(ids)} layers; double-click it (or Enter) to open it")
        return command.node_id

    def ungroup(self) -> list[str]:
        """Replace the selected block node by its inside (selected afterwards)."""
        graph, ids = self.current, self.scene.selected_node_ids()
        blocks = [nid for nid in ids if graph.node(nid).is_block]
        if len(blocks) != 1:
            self.statusMessage.emit("Select one block node to ungroup")
            return []
        command = self.scene.push(lambda: Ungroup(graph, blocks[0]))
        if command is None:
            return []
        self.scene.select_nodes(command.added)
        return command.added

    def open_selected(self) -> bool:
        ids = self.scene.selected_node_ids()
        if len(ids) != 1:
            self.statusMessage.emit("Select one block node to open")
            return False
        return self.open_block(ids[0])

    # ------------------------------------------------------- following edits
    def _on_root_event(self, event: Event) -> None:
        if event.kind == "reset":
            self.levels = []
            self._show()
        elif event.kind == "block_removed" and event.detail.get("block") in self.path:
            self.go_to(self.path.index(event.detail["block"]))
        elif event.kind == "block_changed" and "renamed_from" in event.detail:
            for level in self.levels:
                if level.block == event.detail["renamed_from"]:
                    level.block = event.detail["block"]
            self._update_breadcrumb()
        elif event.kind in ("node_added", "node_removed", "block_added") and self.levels:
            self._update_breadcrumb()  # the number of instances may have changed

    def _follow_undo(self, index: int) -> None:
        """After undo or redo, show the graph the command changed."""
        before, self._index = self._index, index
        if index == before or not shiboken6.isValid(self.undo_stack) or not shiboken6.isValid(self.scene):
            return
        command = self.undo_stack.command(index if index < before else index - 1)
        graph = _graph_of(command)
        if graph is not None and graph is not self.current:
            self.go_to_graph(graph)


def _graph_of(command: QUndoCommand | None) -> Graph | None:
    """The graph a LayerLoom command edits (a compound command's first child's)."""
    while command is not None:
        graph = getattr(command, "graph", None)
        if isinstance(graph, Graph):
            return graph
        children = getattr(command, "children", None)
        command = children[0] if children else None
    return None
