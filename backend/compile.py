"""Compile a valid graph into a ``torch.fx.GraphModule``.

The module is built node by node, in the graph's topological order: Input nodes
become placeholders, layers become ``call_module`` (or ``call_function`` for merges)
and Output nodes the returned values. The forward pass is therefore plain generated
Python (see ``module.code``) with no per-step interpretation of the graph, and no
text from the document is ever executed: names are checked identifiers.
"""

from __future__ import annotations

import keyword
import re

import torch
import torch.fx as fx
from torch import nn

import backend.lowerings  # noqa: F401  (registers the lowerings)
from backend.lowering import LOWERINGS, call_module
from graph import Graph, GraphInvalidError

_NAME_RE = re.compile(r"[^0-9A-Za-z_]+")


class CompiledGraph(fx.GraphModule):
    """A GraphModule that remembers which node each input, output and module came from.

    ``input_names`` and ``output_names`` list the Input and Output node ids in the
    order of ``forward``'s arguments and results; ``module_nodes`` maps a submodule
    name to its node id.
    """

    input_names: list[str]
    output_names: list[str]
    module_nodes: dict[str, str]


def module_name(node_id: str, label: str, taken: set[str]) -> str:
    """A readable, unique Python identifier for a node: its label if it has one."""
    base = _NAME_RE.sub("_", label.strip().lower()).strip("_") if label else ""
    if not base or base[0].isdigit() or keyword.iskeyword(base):
        base = node_id
    name, i = base, 2
    while name in taken:
        name, i = f"{base}_{i}", i + 1
    taken.add(name)
    return name


def compile_graph(graph: Graph, seed: int | None = None) -> CompiledGraph:
    """Build the torch model of ``graph``.

    Parameters
    ----------
    graph : Graph
        Must be valid; otherwise :class:`GraphInvalidError` lists the nodes at fault.
    seed : int, optional
        Seeds parameter initialisation (``torch.manual_seed``) for reproducible models.

    Returns
    -------
    CompiledGraph
        ``forward`` takes one tensor per Input node (in graph order) and returns one
        tensor per Output node, a tuple when there are several.
    """
    analysis = graph.analysis()
    if not analysis.valid:
        raise GraphInvalidError(analysis.errors)
    if seed is not None:
        torch.manual_seed(seed)
    root = nn.Module()
    fxg = fx.Graph()
    values: dict[tuple[str, str], fx.Node] = {}
    taken: set[str] = {"self", "torch", "forward"}
    input_names, output_names, module_nodes = [], [], {}
    results: list[fx.Node] = []
    for nid in analysis.order:
        node = graph.node(nid)
        info = analysis.nodes[nid]
        spec = node.spec
        name = module_name(nid, node.label, taken)
        if spec.is_input:
            values[(nid, "out")] = fxg.placeholder(name)
            input_names.append(nid)
            continue
        args = [values[(e.source, e.source_port)] for e in _in_port_order(graph, nid)]
        if spec.is_output:
            results.append(args[0])
            output_names.append(nid)
            continue
        lowered = LOWERINGS[spec.type_id](node.params, info.inputs, info.outputs)
        target = None
        if lowered.module is not None:
            root.add_module(name, lowered.module)
            module_nodes[name] = nid
            target = name
        out = (lowered.emit or call_module)(fxg, args, target)
        out.name = name if lowered.module is None else out.name
        values[(nid, "out")] = out
    fxg.output(results[0] if len(results) == 1 else tuple(results))
    gm = CompiledGraph(root, fxg, class_name="LayerLoomModel")
    gm.input_names = input_names
    gm.output_names = output_names
    gm.module_nodes = module_nodes
    return gm


def _in_port_order(graph: Graph, nid: str):
    incoming = graph.incoming(nid)
    return [incoming[p] for p in graph.node(nid).input_ports()]
