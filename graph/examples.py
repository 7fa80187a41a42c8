"""Small, valid graphs around one layer type, built from its declared examples.

:func:`examples_of` gives a layer's :class:`~layerloom.graph.registry.Example` list
(its own, or the first of a few standard inputs its shape rule accepts);
:func:`example_graph` wires an example into a graph (an Input per port, the node,
an Output per result) and :func:`showcase` puts many layers' examples side by side
in one graph, each branch labelled after its layer. ``layerloom layers NAME``
prints them, and the parity tests send them through every export and importer.
"""

from __future__ import annotations

from collections.abc import Iterable

from layerloom.graph.errors import GraphError, ShapeError
from layerloom.graph.model import Graph
from layerloom.graph.registry import Example, LayerSpec
from layerloom.graph.tensor import TensorSpec

# Tried in order for a layer that declares no example.
STANDARD_INPUTS = (
    TensorSpec((8,)), TensorSpec((6, 8)), TensorSpec((4, 8, 8)), TensorSpec((6,), "long"),
    TensorSpec((2, 4, 6, 6)),
)
# Keeps the defaults of the older layers small in their standard examples.
SMALL = {
    "units": 4, "channels": 4, "hidden_size": 4, "num_embeddings": 10, "embedding_dim": 8,
    "dim_feedforward": 16, "nhead": 2, "num_heads": 2, "max_len": 16,
}


def examples_of(spec: LayerSpec) -> list[Example]:
    """The layer's declared examples, or one built from the standard inputs."""
    if spec.examples:
        return list(spec.examples)
    params = {k: v for k, v in SMALL.items() if any(p.name == k for p in spec.params)}
    checked = spec.check_params(params)
    for t in STANDARD_INPUTS:
        ins = {port: t for port in spec.input_ports(checked)}
        try:
            spec.infer(checked, ins)
        except ShapeError:
            continue
        return [Example(ins, params)]
    return []


def add_example(graph: Graph, spec: LayerSpec, example: Example, label: str = "") -> str:
    """Wire ``example`` into ``graph``: an Input per port, the node, an Output per
    result. Returns the node's id."""
    node = graph.add_node(spec.type_id, dict(example.params), label=label)
    prefix = f"{label}_" if label else ""
    for port in node.input_ports():
        t = example.inputs[port]
        source = graph.add_node("input", {"shape": list(t.shape), "dtype": t.dtype},
                                label=f"{prefix}{port}" if label else "")
        graph.connect(source.id, "out", node.id, port)
    for port in node.output_ports():
        out = graph.add_node("output", label=f"{prefix}{port}" if label else "")
        graph.connect(node.id, port, out.id, "in")
    return node.id


def example_graph(spec: LayerSpec, example: Example | None = None) -> Graph:
    """A graph of one example of ``spec`` (its first when none is given)."""
    if example is None:
        found = examples_of(spec)
        if not found:
            raise GraphError(f"{spec.name} has no example")
        example = found[0]
    graph = Graph()
    graph.meta = {"title": f"{spec.name} example"}
    add_example(graph, spec, example)
    return graph


def showcase(specs: Iterable[LayerSpec], title: str = "Layers") -> Graph:
    """One graph holding the first example of every layer in ``specs``, side by
    side; each branch's nodes are labelled after the layer's id."""
    graph = Graph()
    graph.meta = {"title": title}
    for spec in specs:
        found = examples_of(spec)
        if found:
            add_example(graph, spec, found[0], label=spec.type_id)
    return graph
