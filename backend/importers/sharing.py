"""Weight sharing in an imported model: one module (or one set of ONNX weights)
used more than once.

The importers add one layer node per use, each with the same source tensors. Here
the first use becomes an instance of a one-layer block and every other use an
instance of the same block marked ``shares_weights_with`` the first, so the graph
calls one module several times as the source did: the parameters are counted and
trained once (a Siamese network keeps its size). A use that cannot be rewired that
way stays a copy, and a note says so.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from layerloom.graph import Graph
from layerloom.graph.errors import GraphError
from layerloom.graph.grouping import make_block
from layerloom.graph.structure import Edge

BLOCK_NAME = re.compile(r"[^A-Za-z0-9_]")


def shared_groups(graph: Graph, sources: Mapping[str, Mapping[str, str]]) -> list[list[str]]:
    """Node ids, in graph order, that hold the same source tensors (per group)."""
    order = {n.id: i for i, n in enumerate(graph.nodes)}
    groups: dict[tuple, list[str]] = {}
    for nid, keys in sources.items():
        if keys and graph.has_node(nid):
            node = graph.node(nid)
            groups.setdefault((node.type, tuple(sorted(keys.items()))), []).append(nid)
    found = [sorted(ids, key=order.__getitem__) for ids in groups.values() if len(ids) > 1]
    return sorted(found, key=lambda ids: order[ids[0]])


def block_name(text: str, taken) -> str:
    """A block name made from ``text`` (a module path or label) that is not in
    ``taken``: letters, digits and underscores, starting with a letter."""
    base = BLOCK_NAME.sub("_", text).strip("_")[:60] or "block"
    if not base[0].isalpha():
        base = f"m_{base}"
    name, i = base, 2
    while name in taken:
        name, i = f"{base}_{i}", i + 1
    return name


def share(graph: Graph, ids: list[str], label: str) -> tuple[str, str, list[str]] | None:
    """Make the nodes ``ids`` (same type and source tensors) instances of one block,
    the later ones sharing the first one's weights. Returns the block's name, the
    first instance's id and the ids of the replaced uses; ``None`` when the
    first use cannot become a block. Uses whose wiring differs from the first
    one's stay as they are (not in the returned list)."""
    first = graph.node(ids[0])
    if any(graph.node(nid).params != first.params for nid in ids[1:]):
        return None
    name = block_name(label or first.id, graph.blocks)
    try:
        edit = make_block(graph, [first.id], name)
    except GraphError:
        return None
    instance = edit.node_id
    body = graph.blocks.get(name).body
    feeds = {e.target_port: e.source for e in body.edges if e.target == first.id}  # inner port -> Input node
    port_of_input = {n.id: n.label for n in graph.blocks.get(name).port_nodes("in")}
    exposed = {e.source_port: next(n.label for n in graph.blocks.get(name).port_nodes("out") if n.id == e.target)
               for e in body.edges if e.source == first.id}  # inner output port -> block port
    sharing = []
    for nid in ids[1:]:
        ins = [e for e in graph.edges if e.target == nid]
        outs = [e for e in graph.edges if e.source == nid]
        into: dict[str, tuple[str, str]] = {}
        fits = True
        for e in ins:
            port = port_of_input.get(feeds.get(e.target_port, ""))
            if port is None or into.setdefault(port, (e.source, e.source_port)) != (e.source, e.source_port):
                fits = False
        if not fits or len(into) != len(port_of_input) or any(e.source_port not in exposed for e in outs):
            continue
        node = graph.node(nid)
        index = [n.id for n in graph.nodes].index(nid)
        graph.remove_node(nid)
        k = 2
        while graph.has_node(f"{instance}_{k}"):
            k += 1
        block = graph.add_node("block", {"block": name, "shares_weights_with": instance}, node.position,
                               node_id=f"{instance}_{k}", label=node.label, index=index)
        for port, (src, src_port) in into.items():
            graph.add_edge(Edge(src, src_port, block.id, port))
        for e in outs:
            graph.add_edge(Edge(block.id, exposed[e.source_port], e.target, e.target_port))
        sharing.append(nid)
    return name, instance, sharing


def share_repeated(graph: Graph, sources: Mapping[str, Mapping[str, str]], expected: dict,
                   notes: list[str]) -> dict[str, str]:
    """Every group of uses of one source module becomes instances of a block
    sharing its weights (:func:`share`). Returns inner node id -> first instance
    id (where the weights now live); forgets the ``expected`` shapes of the nodes
    that moved and says in ``notes`` what was done."""
    inside: dict[str, str] = {}
    for ids in shared_groups(graph, sources):
        source = next(iter(sources[ids[0]].values()))
        module = source.rsplit(".", 1)[0] if "." in source else source
        done = share(graph, ids, graph.node(ids[0]).label or module)
        shared = done[2] if done else []
        if done:
            name, instance, _ = done
            inside[ids[0]] = instance
            for nid in (ids[0], *shared):
                expected.pop(nid, None)
            notes.append(f"'{module}' is used {len(shared) + 1} times: block '{name}', whose instances "
                         "share its weights")
        if len(shared) + 1 < len(ids):
            notes.append(f"'{module}' is used {len(ids)} times; {len(ids) - len(shared) - 1} of its uses "
                         "became layers with a copy of its weights (they train apart)")
    return inside
