"""Small builders for graph tests."""

from __future__ import annotations

from layerloom.graph import Graph


def chain(graph: Graph, *layers, start: str | None = None) -> list[str]:
    """Add ``layers`` (type id or (type id, params)) wired one after another.

    Starts from node ``start`` when given. Returns the new node ids.
    """
    ids = []
    prev = start
    for layer in layers:
        type_id, params = (layer, {}) if isinstance(layer, str) else layer
        node = graph.add_node(type_id, params)
        if prev is not None:
            graph.connect(prev, "out", node.id, graph.node(node.id).input_ports()[0])
        ids.append(node.id)
        prev = node.id
    return ids


def mlp(hidden=(16,), inputs=4, classes=3) -> Graph:
    g = Graph()
    chain(
        g,
        ("input", {"shape": [inputs]}),
        *[("dense", {"units": h, "activation": "relu"}) for h in hidden],
        ("dense", {"units": classes}),
        "output",
    )
    return g
