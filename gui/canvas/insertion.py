"""How a new or dragged node wires in: the plans behind quick-add and drop-on-wire.

A plan is worked out on a copy of the graph, so nothing on screen changes until
the user commits: a node dropped onto the wire ``a.out -> b.in`` goes in as
``a.out -> node.<first input>`` and ``node.<first output> -> b.in`` when the
graph's own inference says the node can work there; a layer quick-added at a
port takes the first of its ports that accepts the wire (see
:func:`~layerloom.gui.canvas.wire_check.wire_problem`). Otherwise the plan carries the
reason, which the canvas shows in the status bar as it drops the node unwired.

A layer with several inputs (Add, Concat) inserted into a wire takes it on its
first input; the other inputs then wait for their own wires (a residual: drop an
Add on the main path, then wire the skip into ``in2``). It is refused only when
the wire's tensor does not fit its shape rule.

A card inserted into a wire too short for it makes room (:func:`make_room`), as
Blender's auto-offset does: it moves off the source's card, and the target with
everything after it steps right.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import networkx as nx

from layerloom.graph.errors import ConnectionRefused, GraphError, ShapeError
from layerloom.graph.model import Edge, Graph, Node
from layerloom.graph.tensor import TensorSpec
from layerloom.gui.canvas import theme
from layerloom.gui.canvas.wire_check import wire_problem

Point = tuple[float, float]
Rect = tuple[float, float, float, float]  # left, top, width, height


@dataclass(frozen=True)
class PortRef:
    """A port of a node in the graph."""

    node_id: str
    port: str
    is_output: bool


@dataclass(frozen=True)
class Plan:
    """The wires to cut and to add for a node, or why it cannot be wired in."""

    cut: tuple[Edge, ...] = ()
    add: tuple[Edge, ...] = ()
    problem: str | None = None

    @property
    def fits(self) -> bool:
        return self.problem is None and bool(self.add)


def _scratch(graph: Graph, node_id: str, new_type: str | None) -> Graph:
    """A copy of ``graph`` holding ``node_id`` (added, unwired, when ``new_type``)."""
    scratch = graph.copy()
    if new_type is not None:
        scratch.add_node(new_type, node_id=node_id)
    return scratch


def insert_plan(graph: Graph, edge: Edge, node_id: str, new_type: str | None = None) -> Plan:
    """How to put node ``node_id`` into the wire ``edge``.

    Parameters
    ----------
    graph
        The document (left unchanged).
    edge
        A wire of ``graph``.
    node_id
        A node of ``graph`` without wires, or the id a new node will get.
    new_type
        The layer type of that new node; ``None`` for a node already in ``graph``.
    """
    try:
        scratch = _scratch(graph, node_id, new_type)
    except GraphError as exc:
        return Plan(problem=str(exc))
    node = scratch.node(node_id)
    name = node.spec.name
    ins, outs = node.input_ports(), node.output_ports()
    if not ins:
        return Plan(problem=f"{name} takes no input")
    if not outs:
        return Plan(problem=f"{name} gives no output")
    add = (Edge(edge.source, edge.source_port, node_id, ins[0]),
           Edge(node_id, outs[0], edge.target, edge.target_port))
    try:
        scratch.remove_edge(edge)
        for wire in add:
            scratch.add_edge(wire)
    except GraphError as exc:
        return Plan(problem=str(exc))
    problem = _node_problem(scratch, node, graph.analysis().edges.get(edge))
    return Plan(problem=problem) if problem else Plan((edge,), add)


def _node_problem(scratch: Graph, node: Node, tensor: TensorSpec | None) -> str | None:
    """Why ``node``, wired into ``scratch``, cannot work; ``None`` when it can (or
    when nothing is known of the tensor it receives)."""
    info = scratch.analysis().nodes[node.id]
    if info.error is None:
        return None
    waiting = [p for p in node.input_ports() if p not in scratch.incoming(node.id)]
    if not waiting:
        return info.message
    if tensor is None:
        return None
    try:  # the other inputs wait for wires: does this tensor fit the rule at all?
        node.spec.infer(node.params, {port: tensor for port in node.input_ports()})
    except ShapeError as exc:
        return f"{node.spec.name} cannot take {tensor}: {exc}"
    except Exception:  # a rule that needs the real second input to say anything
        return None
    return None


def attach_plan(graph: Graph, port: PortRef, node_id: str, new_type: str) -> Plan:
    """How to wire a new ``new_type`` node to ``port``: the first of its inputs
    that takes the wire from an output port, or the first of its outputs that
    may feed a free input port. An input port that has a wire already gets the
    node inserted into that wire."""
    if not port.is_output:
        existing = graph.incoming(port.node_id).get(port.port)
        if existing is not None:
            return insert_plan(graph, existing, node_id, new_type)
    try:
        scratch = _scratch(graph, node_id, new_type)
    except GraphError as exc:
        return Plan(problem=str(exc))
    node = scratch.node(node_id)
    problems = []
    if port.is_output:
        analysis = graph.analysis()
        for name in node.input_ports():
            problem = wire_problem(scratch, analysis, port.node_id, port.port, node_id, name)
            if problem is None:
                return Plan(add=(Edge(port.node_id, port.port, node_id, name),))
            problems.append(problem)
        return Plan(problem=problems[0] if problems else f"{node.spec.name} takes no input")
    for name in node.output_ports():
        try:
            return Plan(add=(scratch.check_connect(node_id, name, port.node_id, port.port),))
        except ConnectionRefused as exc:
            problems.append(str(exc))
    return Plan(problem=problems[0] if problems else f"{node.spec.name} gives no output")


def not_wired_text(graph: Graph, name: str, attach: PortRef | Edge, problem: str) -> str:
    """The status line for a layer added or dropped without its wires:
    ``"Conv2d not inserted into input_1 → dense_1: <why>"`` for a wire,
    ``"Conv2d not connected to input_1.out: <why>"`` for a port."""
    if isinstance(attach, Edge):
        where = f"inserted into {graph.node(attach.source).title} → {graph.node(attach.target).title}"
    else:
        where = f"connected to {graph.node(attach.node_id).title}.{attach.port}"
    return f"{name} not {where}: {problem}"


def make_room(graph: Graph, edge: Edge, card: Rect, source: Rect, target: Rect,
              gap: float = 2 * theme.GRID) -> tuple[Point, dict[str, tuple[Point, Point]]]:
    """Where a card going into ``edge`` lands, and which nodes step aside.

    Parameters
    ----------
    graph, edge
        The document and the wire the card goes into.
    card, source, target
        The scene rectangles of the inserted card (where it was dropped) and of
        the wire's two nodes.
    gap
        The room kept between cards.

    Returns
    -------
    position, moves
        The card's top-left, moved right off the source's card when it covered it;
        and ``{node id: (old, new position)}`` for the target and every node after
        it, pushed right as far as the card needs, when the card would cover the
        target. A wire running right to left leaves everything as it is.
    """
    x, y, width, height = card
    sx, sy, sw, sh = source
    tx, ty, tw, th = target
    if tx <= sx:
        return (x, y), {}
    if _overlap((x, y, width, height), (sx, sy, sw + gap, sh)):
        x = _grid_ceil(sx + sw + gap)
    moves: dict[str, tuple[Point, Point]] = {}
    if _overlap((x, y, width + gap, height), (tx, ty, tw, th)):
        dx = _grid_ceil(x + width + gap - tx)
        after = nx.descendants(graph.nx_graph(), edge.target) | {edge.target}
        for node in graph.nodes:
            if node.id in after:
                old = node.position
                moves[node.id] = (old, (old[0] + dx, old[1]))
    return (x, y), moves


def _overlap(a: Rect, b: Rect) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def _grid_ceil(value: float) -> float:
    return math.ceil(value / theme.GRID) * theme.GRID
