"""A graph as plain JSON-ready data: the writing half of the ``.loom`` format.

:mod:`layerloom.graph.fileformat` turns this data into text and reads it back; the graph
model compares and copies documents through it (``Graph.to_dict``). It reads a
:class:`~layerloom.graph.structure.GraphStructure` only, so both can use it.
"""

from __future__ import annotations

from typing import Any

from layerloom.graph.node_training import to_json as training_json
from layerloom.graph.structure import GraphStructure

FORMAT = "layerloom.graph"
FORMAT_VERSION = 2


def graph_to_data(graph: GraphStructure) -> dict[str, Any]:
    """Plain JSON-ready data for ``graph``, in a fixed order."""
    nodes, edges = nodes_to_data(graph)
    blocks = []
    for definition in graph.blocks or ():
        inner_nodes, inner_edges = nodes_to_data(definition.body)
        blocks.append({
            "name": definition.name,
            "exposed": [{"name": name, "node": node, "param": param}
                        for name, (node, param) in definition.exposed.items()],
            "nodes": inner_nodes,
            "edges": inner_edges,
        })
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "meta": graph.meta,
        "nodes": nodes,
        "edges": edges,
        "blocks": blocks,
        "dataset": graph.dataset,
        "training": graph.training,
    }


def nodes_to_data(graph: GraphStructure) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The nodes and edges of one graph (the document's or a block's inside)."""
    nodes = []
    for node in graph.nodes:
        spec = node.spec
        # An Output's loss settings are written only when set, so the files of graphs
        # that train with the settings' loss stay as they were before Outputs had any.
        nodes.append({
            "id": node.id,
            "type": node.type,
            "label": node.label,
            "position": [_num(node.position[0]), _num(node.position[1])],
            "params": {p.name: p.to_json(node.params[p.name]) for p in spec.params
                       if not (spec.is_output and node.params[p.name] == p.default)},
        })
        if node.training:  # written only when set: older files stay byte-identical
            nodes[-1]["training"] = training_json(node.training)
    edges = [
        {"source": e.source, "source_port": e.source_port, "target": e.target, "target_port": e.target_port}
        for e in graph.edges
    ]
    return nodes, edges


def _num(x: float) -> float | int:
    return int(x) if float(x).is_integer() else round(float(x), 3)
