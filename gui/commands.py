"""Undoable edits of a :class:`~layerloom.graph.model.Graph`.

Every change a user makes goes through one of these :class:`QUndoCommand` classes,
and every command touches the document only through ``Graph`` methods, so the
canvas and the inspector (which follow the graph's events) stay in step on undo
and redo as well. A command checks its arguments when it is built: an edit the
graph would refuse raises before it is pushed, and the undo stack never holds a
command that fails half-way. Undo gives back the exact document: the same
``graph.to_dict()``, node order and edge order included.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

from PySide6.QtGui import QUndoCommand

from layerloom.graph.errors import GraphError
from layerloom.graph.layout import layered_positions
from layerloom.graph.model import Edge, Graph, Node, check_label, check_position
from layerloom.graph.registry import REGISTRY

Point = tuple[float, float]


def _count(n: int, what: str) -> str:
    return f"{n} {what}" if n == 1 else f"{n} {what}s"


def _nodes_text(graph: Graph, verb: str, node_ids: list[str]) -> str:
    """``"Delete Dense"`` for one node, ``"Delete 3 nodes"`` for several."""
    if len(node_ids) == 1:
        return f"{verb} {graph.node(node_ids[0]).spec.name}"
    return f"{verb} {_count(len(node_ids), 'node')}"


def _edge_text(graph: Graph, edge: Edge) -> str:
    return f"{graph.node(edge.source).title} → {graph.node(edge.target).title}"


class Command(QUndoCommand):
    """Base of LayerLoom's commands: ``parent`` is a :class:`CompoundCommand`.

    PySide6 does not hand a child made with ``QUndoCommand(text, parent)`` over
    to its C++ parent: the Python wrapper keeps owning it and deletes it when
    collected, leaving the parent a dangling pointer. So children are kept and
    run by their Python parent instead.
    """

    def __init__(self, text: str, parent: CompoundCommand | None = None):
        super().__init__(text)
        if parent is not None:
            parent.add(self)


class CompoundCommand(Command):
    """A parent command: its children run in order on redo, backwards on undo."""

    def __init__(self, text: str, parent: CompoundCommand | None = None):
        super().__init__(text, parent)
        self.children: list[QUndoCommand] = []

    def add(self, command: QUndoCommand) -> QUndoCommand:
        self.children.append(command)
        return command

    def redo(self) -> None:
        for child in self.children:
            child.redo()

    def undo(self) -> None:
        for child in reversed(self.children):
            child.undo()


def restore_edges(graph: Graph, edges: list[Edge]) -> None:
    """Add back every edge of ``edges`` that ``graph`` lacks, each at its index.

    ``edges`` is an earlier edge list of the graph. Walking it in order and
    inserting each missing edge at its old index rebuilds that exact list,
    because every edge before it is then already in place.
    """
    present = set(graph.edges)
    for index, edge in enumerate(edges):
        if edge not in present:
            graph.add_edge(edge, index)


class AddNode(Command):
    """Add one layer. The node id is chosen once, so redo after undo brings back
    the same id (later commands on the stack refer to it)."""

    def __init__(self, graph: Graph, type_id: str, params: Mapping[str, Any] | None = None,
                 position: Iterable[float] = (0.0, 0.0), label: str = "",
                 node_id: str | None = None, parent: CompoundCommand | None = None):
        spec = REGISTRY.get(type_id)
        self.graph = graph
        self.type_id = spec.type_id
        self.params = spec.check_params(params)
        self.position = check_position(position)
        self.label = check_label(label)
        self.node_id = node_id or graph.new_id(spec.type_id)
        if graph.has_node(self.node_id):
            raise GraphError(f"a node with id {self.node_id!r} already exists")
        super().__init__(f"Add {spec.name}", parent)

    def redo(self) -> None:
        self.graph.add_node(self.type_id, self.params, self.position, self.label, self.node_id)

    def undo(self) -> None:
        self.graph.remove_node(self.node_id)


class RemoveNodes(Command):
    """Delete nodes with their wires; undo brings back the same nodes, wires and
    node order (the order of a model's inputs and outputs depends on it)."""

    def __init__(self, graph: Graph, node_ids: Iterable[str], parent: CompoundCommand | None = None):
        self.graph = graph
        self.node_ids = list(dict.fromkeys(node_ids))
        if not self.node_ids:
            raise GraphError("no nodes to delete")
        for nid in self.node_ids:
            # an unknown id raises here, not half-way through redo; so does a node
            # a block's inside must keep (a port wired outside, an exposed layer)
            graph._check_remove(graph.node(nid))
        super().__init__(_nodes_text(graph, "Delete", self.node_ids), parent)
        self._removed: dict[str, tuple[int, Node]] = {}
        self._edges: list[Edge] = []

    def redo(self) -> None:
        graph = self.graph
        order = [node.id for node in graph.nodes]
        self._edges = graph.edges
        self._removed = {nid: (order.index(nid), copy.deepcopy(graph.node(nid))) for nid in self.node_ids}
        for nid in self.node_ids:
            graph.remove_node(nid)

    def undo(self) -> None:
        graph = self.graph
        for index, node in sorted(self._removed.values(), key=lambda item: item[0]):
            graph.add_node(node.type, node.params, node.position, node.label, node.id, index=index,
                           training=node.training)
        restore_edges(graph, self._edges)


class Connect(Command):
    """Wire an output port to an input port; refused wires raise
    :class:`~layerloom.graph.errors.ConnectionRefused` before the command is pushed."""

    def __init__(self, graph: Graph, source: str, source_port: str, target: str, target_port: str,
                 parent: CompoundCommand | None = None):
        self.graph = graph
        self.edge = graph.check_connect(source, source_port, target, target_port)
        super().__init__(f"Connect {_edge_text(graph, self.edge)}", parent)

    def redo(self) -> None:
        self.graph.add_edge(self.edge)

    def undo(self) -> None:
        self.graph.remove_edge(self.edge)


class Disconnect(Command):
    """Remove wires; undo puts each back at its old place in the edge list."""

    def __init__(self, graph: Graph, edges: Iterable[Edge], parent: CompoundCommand | None = None):
        self.graph = graph
        self.edges = list(dict.fromkeys(edges))
        present = set(graph.edges)
        missing = [str(e) for e in self.edges if e not in present]
        if missing:
            raise GraphError(f"no wire {missing[0]} in the graph")
        if not self.edges:
            raise GraphError("no wires to remove")
        text = (f"Disconnect {_edge_text(graph, self.edges[0])}" if len(self.edges) == 1
                else f"Disconnect {_count(len(self.edges), 'wire')}")
        super().__init__(text, parent)
        self._before: list[Edge] = []

    def redo(self) -> None:
        self._before = self.graph.edges
        for edge in self.edges:
            self.graph.remove_edge(edge)

    def undo(self) -> None:
        restore_edges(self.graph, self._before)


class MoveNodes(Command):
    """One drag of one or more nodes: ``{node id: (old position, new position)}``."""

    def __init__(self, graph: Graph, moves: Mapping[str, tuple[Point, Point]],
                 parent: CompoundCommand | None = None):
        self.graph = graph
        self.moves = {nid: (check_position(old), check_position(new))
                      for nid, (old, new) in moves.items()}
        if not self.moves:
            raise GraphError("no nodes to move")
        for nid in self.moves:
            graph.node(nid)
        super().__init__(_nodes_text(graph, "Move", list(self.moves)), parent)

    def redo(self) -> None:
        self.graph.move_nodes({nid: new for nid, (_, new) in self.moves.items()})

    def undo(self) -> None:
        self.graph.move_nodes({nid: old for nid, (old, _) in self.moves.items()})


class SetParams(Command):
    """Set the same parameter values on one or more nodes of one layer type.

    Values are checked against the schema (and against wired ports a change would
    remove) when the command is built, so an invalid value raises before it is
    pushed; undo restores each node's own old values.
    """

    def __init__(self, graph: Graph, node_ids: Iterable[str], values: Mapping[str, Any],
                 parent: CompoundCommand | None = None):
        self.graph = graph
        self.node_ids = list(dict.fromkeys(node_ids))
        if not self.node_ids:
            raise GraphError("no nodes to change")
        nodes = [graph.node(nid) for nid in self.node_ids]
        types = sorted({n.type for n in nodes})
        if len(types) > 1:
            raise GraphError(f"can only set parameters on nodes of one type at once, got {', '.join(types)}")
        spec = nodes[0].spec
        self.values = {name: spec.param(name).coerce(v) for name, v in values.items()}
        for node in nodes:
            graph.check_params(node.id, self.values)
        names = ", ".join(spec.param(n).title for n in self.values)
        target = spec.name if len(nodes) == 1 else _count(len(nodes), spec.name)
        super().__init__(f"Set {names} of {target}", parent)
        self._old: dict[str, dict[str, Any]] = {}

    def redo(self) -> None:
        self._old = {nid: self.graph.set_params(nid, self.values) for nid in self.node_ids}

    def undo(self) -> None:
        for nid in reversed(self.node_ids):
            self.graph.set_params(nid, self._old[nid])


class Rename(Command):
    """Give a node a new label ("" shows its id again)."""

    def __init__(self, graph: Graph, node_id: str, label: str, parent: CompoundCommand | None = None):
        self.graph = graph
        self.node_id = node_id
        self.label = check_label(label)
        graph._check_label(graph.node(node_id), self.label)  # a block's port names must differ
        self._old = graph.node(node_id).label
        shown = f"'{label}'" if label else "its id"
        super().__init__(f"Rename {graph.node(node_id).title} to {shown}", parent)

    def redo(self) -> None:
        self._old = self.graph.set_label(self.node_id, self.label)

    def undo(self) -> None:
        self.graph.set_label(self.node_id, self._old)


class Paste(Command):
    """Add copied nodes (fresh ids, positions shifted by ``offset``) and the wires
    between them.

    ``data`` is the plain dict of :func:`layerloom.gui.clipboard.copy_selection`; it may come
    from another window or program, so it is built into a scratch graph first,
    which checks every type, value and wire before anything is pushed.
    """

    def __init__(self, graph: Graph, data: Mapping[str, Any], offset: Point = (40.0, 40.0),
                 parent: CompoundCommand | None = None):
        from layerloom.gui.clipboard import build_paste

        self.graph = graph
        self.scratch = build_paste(graph, data, offset)
        self.node_ids = [node.id for node in self.scratch.nodes]
        if not self.node_ids:
            raise GraphError("nothing to paste")
        super().__init__(f"Paste {_count(len(self.node_ids), 'node')}", parent)

    def redo(self) -> None:
        for node in self.scratch.nodes:
            self.graph.add_node(node.type, node.params, node.position, node.label, node.id,
                                training=node.training)
        for edge in self.scratch.edges:
            self.graph.add_edge(edge)

    def undo(self) -> None:
        for nid in reversed(self.node_ids):
            self.graph.remove_node(nid)


class AutoLayout(Command):
    """Arrange every node in layered columns, inputs at the left.

    ``sizes`` go to :func:`layerloom.graph.layout.layered_positions` (node width, height and
    gaps), so the canvas can pass the size of its node boxes.
    """

    def __init__(self, graph: Graph, parent: CompoundCommand | None = None, **sizes: float):
        super().__init__("Auto layout", parent)
        self.graph = graph
        self.positions = layered_positions(graph, **sizes)
        self._old: dict[str, Point] = {}

    def redo(self) -> None:
        self._old = self.graph.move_nodes(self.positions)

    def undo(self) -> None:
        self.graph.move_nodes(self._old)


class SetSettings(Command):
    """Replace one settings section (``meta``, ``dataset`` or ``training``)."""

    SECTIONS = {"meta": "document info", "dataset": "dataset settings", "training": "training settings"}

    def __init__(self, graph: Graph, section: str, values: Mapping[str, Any],
                 parent: CompoundCommand | None = None):
        if section not in self.SECTIONS:
            raise GraphError(f"unknown settings section {section!r}; use one of {', '.join(self.SECTIONS)}")
        super().__init__(f"Change {self.SECTIONS[section]}", parent)
        self.graph = graph
        self.section = section
        self.values = copy.deepcopy(dict(values))
        self._old: dict[str, Any] = {}

    def redo(self) -> None:
        self._old = self.graph.set_settings(self.section, self.values)

    def undo(self) -> None:
        self.graph.set_settings(self.section, self._old)


class DeleteItems(CompoundCommand):
    """Delete nodes and wires at once (the canvas's Delete key).

    A parent command with children: first the wires that do not touch a deleted
    node (:class:`Disconnect`), then the nodes with their own wires
    (:class:`RemoveNodes`); undo runs them backwards.
    """

    def __init__(self, graph: Graph, node_ids: Iterable[str], edges: Iterable[Edge],
                 parent: CompoundCommand | None = None):
        node_ids = list(dict.fromkeys(node_ids))
        gone = set(node_ids)
        loose = [e for e in dict.fromkeys(edges) if e.source not in gone and e.target not in gone]
        if not node_ids and not loose:
            raise GraphError("nothing selected to delete")
        parts = [_nodes_text(graph, "", node_ids).strip()] if node_ids else []
        if loose:
            parts.append(_count(len(loose), "wire"))
        super().__init__("Delete " + " and ".join(parts), parent)
        if loose:
            Disconnect(graph, loose, self)
        if node_ids:
            RemoveNodes(graph, node_ids, self)
        if len(self.children) == 1:
            self.setText(self.children[0].text())
