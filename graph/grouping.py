"""Make a block from a set of nodes, and ungroup a block node back into its nodes.

Both are compound edits made of the graph's own checked mutations, so every step
emits its event. Each returns a :class:`GroupEdit` whose :meth:`GroupEdit.undo`
puts the graph back exactly (node order and edge order included): an undo command
calls the edit in ``redo`` and the record's ``undo`` in ``undo``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import networkx as nx

from layerloom.graph.blocks import BlockDefinition, check_block_name, port_name
from layerloom.graph.errors import GraphError
from layerloom.graph.registry import BLOCK_TYPE
from layerloom.graph.structure import Edge, Node

if TYPE_CHECKING:
    from layerloom.graph.model import Graph


@dataclass
class GroupEdit:
    """What a make-block or ungroup changed, enough to undo it exactly."""

    graph: Graph
    removed: list[tuple[int, Node]] = field(default_factory=list)  # (index, node), in index order
    removed_edges: list[tuple[int, Edge]] = field(default_factory=list)
    added: list[str] = field(default_factory=list)  # node ids added, in order
    definition: BlockDefinition | None = None  # a definition the edit created
    definition_index: int | None = None

    @property
    def node_id(self) -> str:
        """The block node a make-block made (its first added node)."""
        return self.added[0]

    def undo(self) -> None:
        g = self.graph
        for nid in reversed(self.added):
            g.remove_node(nid)
        if self.definition is not None:
            g.blocks.remove(self.definition.name)
        for index, node in self.removed:
            g.add_node(node.type, node.params, node.position, node.label, node.id, index, node.training)
        for index, edge in sorted(self.removed_edges, key=lambda item: item[0]):
            g.add_edge(edge, index)


def _remove_nodes(graph: Graph, ids: list[str], edit: GroupEdit) -> None:
    """Remove ``ids`` with their wires, recording indexes so undo restores the order."""
    order = [n.id for n in graph.nodes]
    edges = graph.edges
    gone = set(ids)
    for index in sorted((i for i, e in enumerate(edges) if {e.source, e.target} & gone), reverse=True):
        edit.removed_edges.append((index, edges[index]))
        graph.remove_edge(edges[index])
    for nid in sorted(ids, key=order.index, reverse=True):
        edit.removed.append((order.index(nid), graph.remove_node(nid)[0]))
    edit.removed.reverse()


def border(graph: Graph, ids: list[str]) -> tuple[list[Edge], list[Edge]]:
    """The wires into and out of the selection ``ids``, in edge order."""
    inside = set(ids)
    into = [e for e in graph.edges if e.target in inside and e.source not in inside]
    out = [e for e in graph.edges if e.source in inside and e.target not in inside]
    return into, out


def check_selection(graph: Graph, ids: list[str]) -> None:
    """Refuse, with the reason, a selection that cannot become a block."""
    if not ids:
        raise GraphError("select the nodes to group into a block first")
    nodes = [graph.node(nid) for nid in ids]  # a GraphError for a missing id
    if len(set(ids)) != len(ids):
        raise GraphError(f"the selection names a node twice: {ids!r}")
    ends = [n.title for n in nodes if n.spec.is_input or n.spec.is_output]
    if ends:
        raise GraphError(f"the model's Input and Output nodes stay outside blocks: {', '.join(ends)}")
    into, out = border(graph, ids)
    if not into and not out:
        raise GraphError("the selection has no border: no wire enters or leaves it, so the block "
                         "would have no ports; select nodes wired to the rest of the graph")
    inside = set(ids)
    g = graph.nx_graph()
    after = set().union(*(nx.descendants(g, n) for n in ids)) - inside
    before = set().union(*(nx.ancestors(g, n) for n in ids)) - inside
    through = sorted(after & before)
    if through:
        raise GraphError(
            f"grouping these nodes would make a cycle through {', '.join(through)}, which both "
            "receives from the selection and feeds it; add those nodes to the selection or leave "
            "out the nodes on either side of them"
        )


def make_block(graph: Graph, ids: list[str], name: str, node_id: str | None = None) -> GroupEdit:
    """Replace the nodes ``ids`` by one instance of a new block definition ``name``.

    The wires that crossed the selection's border become the block's ports: one
    input port per outside output feeding the selection, one output port per
    inside output read from outside (``in``/``out`` when there is one, else
    ``in_1``, ``in_2``, ...), typed by inference. Returns the edit (its
    ``node_id`` is the block node).
    """
    ids = list(ids)
    check_block_name(name)
    if name in graph.blocks:
        raise GraphError(f"a block definition {name!r} already exists; choose another name")
    check_selection(graph, ids)
    if node_id is not None and graph.has_node(node_id) and node_id not in ids:
        raise GraphError(f"a node with id {node_id!r} already exists")
    analysis = graph.analysis()
    into, out = border(graph, ids)
    sources = list(dict.fromkeys((e.source, e.source_port) for e in into))
    results = list(dict.fromkeys((e.source, e.source_port) for e in out))
    in_names = _port_names("in", len(sources))
    out_names = _port_names("out", len(results))
    order = [n.id for n in graph.nodes]
    ids.sort(key=order.index)
    members = [graph.node(nid) for nid in ids]
    xs = [n.position[0] for n in members]
    ys = [n.position[1] for n in members]
    centre = (sum(xs) / len(xs), sum(ys) / len(ys))

    inside = set(ids)
    edit = GroupEdit(graph)
    definition = graph.blocks.add(name)
    edit.definition, edit.definition_index = definition, len(graph.blocks) - 1
    body = definition.body
    for port, (src, src_port) in zip(in_names, sources, strict=True):
        spec = analysis.edges.get(next(e for e in into if (e.source, e.source_port) == (src, src_port)))
        params = {"shape": spec.shape, "dtype": spec.dtype} if spec and spec.shape else {}
        body.add_node("input", params, (min(xs) - 200, centre[1]), label=port,
                      node_id=_free(body, f"{port}_input", inside))
    for node in members:
        body.add_node(node.type, node.params, node.position, node.label, node.id, training=node.training)
    for port in out_names:
        body.add_node("output", {}, (max(xs) + 200, centre[1]), label=port,
                      node_id=_free(body, f"{port}_output", inside))
    in_nodes = {s: n.id for s, n in zip(sources, definition.port_nodes("in"), strict=True)}
    out_nodes = {r: n.id for r, n in zip(results, definition.port_nodes("out"), strict=True)}
    for e in graph.edges:
        if e.source in inside and e.target in inside:
            body.add_edge(e)
        elif e.target in inside:
            body.add_edge(Edge(in_nodes[(e.source, e.source_port)], "out", e.target, e.target_port))
    for r in results:
        body.add_edge(Edge(r[0], r[1], out_nodes[r], "in"))

    _remove_nodes(graph, ids, edit)
    block = graph.add_node(BLOCK_TYPE, {"block": name}, centre, node_id=node_id or _free(graph, name.lower()),
                           index=edit.removed[0][0])
    edit.added.append(block.id)
    for port, src in zip(in_names, sources, strict=True):
        graph.add_edge(Edge(src[0], src[1], block.id, port))
    for e in out:
        graph.add_edge(Edge(block.id, out_names[results.index((e.source, e.source_port))], e.target, e.target_port))
    return edit


def ungroup(graph: Graph, node_id: str) -> GroupEdit:
    """Replace the block node ``node_id`` by a copy of its definition's inside (its
    exposed values written in) wired to what the block node was wired to. The
    definition stays in the library (other instances may use it)."""
    node = graph.node(node_id)
    if not node.is_block:
        raise GraphError(f"{node.title} is a {node.spec.name}, not a block; only a block can be ungrouped")
    if node.params["repeat"] != 1:
        raise GraphError(f"{node.title} repeats {node.params['repeat']} times; set repeat to 1 to ungroup it")
    sharers = [n.id for n in graph.nodes if n.is_block and n.params.get("shares_weights_with") == node_id]
    if node.params.get("shares_weights_with") or sharers:
        who = ", ".join(sharers) or node.params["shares_weights_with"]
        raise GraphError(f"{node.title} shares weights with {who}; clear shares weights with to ungroup it")
    definition = graph.blocks[node.params["block"]]
    values: dict[str, dict[str, Any]] = {}
    for pname, (inner_id, inner) in definition.exposed.items():
        values.setdefault(inner_id, {})[inner] = node.params[pname]
    ends = {n.id for kind in ("in", "out") for n in definition.port_nodes(kind)}
    members = [n for n in definition.body.nodes if n.id not in ends]
    feeds = {e.target_port: (e.source, e.source_port) for e in graph.edges if e.target == node_id}
    reads = [e for e in graph.edges if e.source == node_id]
    edit = GroupEdit(graph)
    index = [n.id for n in graph.nodes].index(node_id)
    _remove_nodes(graph, [node_id], edit)
    if members:
        cx = sum(n.position[0] for n in members) / len(members)
        cy = sum(n.position[1] for n in members) / len(members)
        dx, dy = node.position[0] - cx, node.position[1] - cy
    rename: dict[str, str] = {}
    for i, inner in enumerate(members):
        new_id = inner.id if not graph.has_node(inner.id) else _free(graph, inner.id)
        rename[inner.id] = new_id
        graph.add_node(inner.type, {**inner.params, **values.get(inner.id, {})},
                       (inner.position[0] + dx, inner.position[1] + dy), inner.label, new_id, index + i,
                       inner.training)
        edit.added.append(new_id)
    port_of = {n.id: port_name(n) for kind in ("in", "out") for n in definition.port_nodes(kind)}
    for e in definition.body.edges:
        if e.source in rename and e.target in rename:
            graph.add_edge(Edge(rename[e.source], e.source_port, rename[e.target], e.target_port))
        elif e.target in rename and port_of.get(e.source) in feeds:
            src = feeds[port_of[e.source]]
            graph.add_edge(Edge(src[0], src[1], rename[e.target], e.target_port))
    for e in reads:
        inner = next((b for b in definition.body.edges if port_of.get(b.target) == e.source_port), None)
        if inner is not None and inner.source in rename:
            graph.add_edge(Edge(rename[inner.source], inner.source_port, e.target, e.target_port))
    return edit


def _port_names(prefix: str, count: int) -> list[str]:
    return [prefix] if count == 1 else [f"{prefix}_{i}" for i in range(1, count + 1)]


def _free(graph: Graph, base: str, taken: set[str] = frozenset()) -> str:
    """``base`` if no node has that id (nor is in ``taken``), else ``base_2``, ``base_3``, ..."""
    base = base if base[:1].isalpha() or base[:1] == "_" else f"b_{base}"
    name, i = base[:60], 2
    while graph.has_node(name) or name in taken:
        name, i = f"{base[:56]}_{i}", i + 1
    return name
