"""A graph as plain JSON-ready data: the writing half of the ``.loom`` format.

:mod:`layerloom.graph.fileformat` turns this data into text and reads it back; the graph
model compares and copies documents through it (``Graph.to_dict``). It reads a
:class:`~layerloom.graph.structure.GraphStructure` only, so both can use it.
"""

from __future__ import annotations

from typing import Any

from layerloom.graph.structure import GraphStructure

FORMAT = "layerloom.graph"
FORMAT_VERSION = 1


def graph_to_data(graph: GraphStructure) -> dict[str, Any]:
    """Plain JSON-ready data for ``graph``, in a fixed order."""
    nodes = []
    for node in graph.nodes:
        spec = node.spec
        nodes.append({
            "id": node.id,
            "type": node.type,
            "label": node.label,
            "position": [_num(node.position[0]), _num(node.position[1])],
            "params": {p.name: p.to_json(node.params[p.name]) for p in spec.params},
        })
    edges = [
        {"source": e.source, "source_port": e.source_port, "target": e.target, "target_port": e.target_port}
        for e in graph.edges
    ]
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "meta": graph.meta,
        "nodes": nodes,
        "edges": edges,
        "dataset": graph.dataset,
        "training": graph.training,
    }


def _num(x: float) -> float | int:
    return int(x) if float(x).is_integer() else round(float(x), 3)
