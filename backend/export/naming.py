"""Names of a compiled model's inputs and outputs, for files that name them."""

from __future__ import annotations

from layerloom.backend.compile import VALUE_RESERVED, CompiledGraph, module_name
from layerloom.graph import Graph


def input_names(model: CompiledGraph) -> list[str]:
    """The ``forward`` argument names (the Input nodes' labels or ids)."""
    return [n.name for n in model.graph.nodes if n.op == "placeholder"]


def io_names(graph: Graph, model: CompiledGraph) -> tuple[list[str], list[str]]:
    """Readable, distinct names for the inputs and the outputs: the Input and
    Output nodes' labels (or ids), as Python identifiers."""
    inputs = input_names(model)
    taken = set(inputs)
    outputs = [
        module_name(nid, graph.node(nid).label, taken, VALUE_RESERVED) if graph.has_node(nid) else f"output_{i + 1}"
        for i, nid in enumerate(model.output_names)
    ]
    return inputs, outputs
