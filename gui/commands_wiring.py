"""Undoable edits that place a node and wire it in, in one step.

The quick-add popup adds a layer already connected to the port it was opened
from, or inserted into the wire under the cursor; a node dropped onto a wire is
inserted there (``source -> node``, ``node -> target``, the old wire gone). Each is
one command on the stack: one undo takes the node and its wires away and gives
the old wire back, in its old place in the edge list.

Like every command (see :mod:`layerloom.gui.commands`), these are checked when built:
the whole edit is first played on a copy of the graph, so one that the graph
would refuse half-way raises before it is pushed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from layerloom.graph.model import Edge, Graph
from layerloom.graph.registry import REGISTRY
from layerloom.gui.commands import (
    AddNode,
    Command,
    CompoundCommand,
    MoveNodes,
    Point,
    _edge_text,
    restore_edges,
)


class Rewire(Command):
    """Cut some wires and add others; undo takes the new ones away and puts the
    cut ones back at their old places."""

    def __init__(self, graph: Graph, cut: Iterable[Edge], add: Iterable[Edge],
                 parent: CompoundCommand | None = None):
        super().__init__("Rewire", parent)
        self.graph = graph
        self.cut = list(cut)
        self.add = list(add)
        self._before: list[Edge] = []

    def redo(self) -> None:
        self._before = self.graph.edges
        for edge in self.cut:
            self.graph.remove_edge(edge)
        for edge in self.add:
            self.graph.add_edge(edge)

    def undo(self) -> None:
        for edge in reversed(self.add):
            self.graph.remove_edge(edge)
        restore_edges(self.graph, self._before)


def _checked(graph: Graph, build: Callable[[Graph], CompoundCommand]) -> CompoundCommand:
    """``build(graph)``, once ``build`` played on a copy of the graph has gone
    through: an edit the graph refuses raises its :class:`GraphError` here."""
    build(graph.copy()).redo()
    return build(graph)


def _wiring_text(graph: Graph, verb: str, name: str, cut: list[Edge], add: list[Edge],
                 node_id: str) -> str:
    if cut:
        return f"{verb} {name} into {_edge_text(graph, cut[0])}"
    others = [e.source if e.target == node_id else e.target for e in add]
    if others:
        return f"{verb} {name} wired to {graph.node(others[0]).title}"
    return f"{verb} {name}"


def place_node(graph: Graph, type_id: str, position: Point, cut: Iterable[Edge] = (),
               add: Iterable[Edge] = (), node_id: str | None = None,
               params: Mapping | None = None,
               moves: Mapping[str, tuple[Point, Point]] | None = None) -> CompoundCommand:
    """Add a layer at ``position``, cut the wires ``cut`` and add the wires ``add``
    (which name the new node by ``node_id``; pick it with ``graph.new_id``);
    ``moves`` (``{id: (old, new)}``) moves other nodes aside to make room.

    Returns one command: "Add Dense", "Add Dense wired to input_1" or "Insert
    Dense into input_1 → output_1".
    """
    spec = REGISTRY.get(type_id)
    node_id = node_id or graph.new_id(spec.type_id)
    cut, add = list(cut), list(add)

    def build(target: Graph) -> CompoundCommand:
        verb = "Insert" if cut else "Add"
        command = CompoundCommand(_wiring_text(graph, verb, spec.name, cut, add, node_id))
        AddNode(target, spec.type_id, params, position, node_id=node_id, parent=command)
        if moves:
            MoveNodes(target, moves, command)
        if cut or add:
            Rewire(target, cut, add, command)
        return command

    command = _checked(graph, build)
    command.node_id = node_id
    return command


def insert_node(graph: Graph, node_id: str, moves: Mapping[str, tuple[Point, Point]],
                cut: Iterable[Edge], add: Iterable[Edge]) -> CompoundCommand:
    """A node dragged onto a wire: its move and those of the nodes that make room
    for it (``{id: (old, new)}``, may be empty), then the wire ``cut`` replaced by
    ``add`` through the node. One command, "Insert Dense into input_1 → output_1"."""
    cut, add = list(cut), list(add)
    name = graph.node(node_id).spec.name

    def build(target: Graph) -> CompoundCommand:
        command = CompoundCommand(_wiring_text(graph, "Insert", name, cut, add, node_id))
        if moves:
            MoveNodes(target, moves, command)
        Rewire(target, cut, add, command)
        return command

    command = _checked(graph, build)
    command.node_id = node_id
    return command
