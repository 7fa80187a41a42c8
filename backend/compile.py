"""Compile a valid graph into a ``torch.fx.GraphModule``.

The module is built node by node, in the graph's topological order: Input nodes
become placeholders, layers become ``call_module`` (or ``call_function`` for merges)
and Output nodes the returned values. The forward pass is therefore plain generated
Python (see ``module.code``) with no per-step interpretation of the graph, and no
text from the document is ever executed: names are checked identifiers.

Names follow the document so that ``module.code``, error traces and exported source
read like the graph: each node's submodule and its result are called after the
node's label (or its id when it has none); a value computed on the way inside one
node is called ``<node>_out`` (a module's result before its activation) or
``<node>_<operation>``.
"""

from __future__ import annotations

import builtins
import copy
import itertools
import keyword
import operator
import re

import torch
import torch.fx as fx
from torch import nn

import layerloom.backend.lowerings  # noqa: F401  (registers the lowerings)
from layerloom.backend.lowering import LOWERINGS, Lowering, call_module
from layerloom.backend.node_training import apply_node_training
from layerloom.graph import Graph

_NAME_RE = re.compile(r"[^0-9A-Za-z_]+")
_SUFFIX_RE = re.compile(r"_\d+$")

# Attributes the compiled module keeps besides its submodules.
METADATA = ("input_names", "output_names", "module_nodes", "input_specs", "output_specs")

# Names no value of the generated forward may take: Python keywords and builtins
# (a variable would shadow them) and the names generated code and exported source
# use. A layer's name is also an attribute of the model, so it may not be any
# attribute of a GraphModule either (a submodule called ``training`` or ``graph``
# would replace it).
VALUE_RESERVED = (
    set(keyword.kwlist)
    | set(dir(builtins))
    | {"self", "torch", "nn", "F", "math", "operator", "output"}
)
RESERVED = (
    VALUE_RESERVED
    | set(dir(fx.GraphModule))
    | set(vars(fx.GraphModule(nn.Module(), fx.Graph())))
    | {"graph", "code", "meta"}
    | set(METADATA)
)


class CompiledGraph(fx.GraphModule):
    """A GraphModule that remembers which node each input, output and module came from.

    Attributes
    ----------
    input_names, output_names : list of str
        The Input and Output node ids in the order of ``forward``'s arguments and
        results.
    input_specs, output_specs : list of TensorSpec
        The per-sample shape and dtype of each argument and result (what exporters
        need to build example inputs).
    module_nodes : dict
        Submodule name -> id of the node it implements.
    """

    # The attributes are set by compile_graph and not annotated here on purpose:
    # torch.jit.script reads class annotations as TorchScript attribute types.

    def __deepcopy__(self, memo):
        # GraphModule's deepcopy rebuilds the module and keeps only its own
        # attributes; a copy (a training run's, an export's) must keep ours too.
        result = super().__deepcopy__(memo)
        type(result).__name__ = type(self).__name__
        for attr in METADATA:
            if attr in self.__dict__:
                setattr(result, attr, copy.deepcopy(self.__dict__[attr], memo))
        return result


def module_name(node_id: str, label: str, taken: set[str], reserved: set[str] = RESERVED) -> str:
    """A readable, unique Python identifier for a node: its label if it has one.

    ``taken`` holds the names already given; the new name is added to it. A label
    that is not usable (empty after cleaning, starting with a digit) falls back to
    the node id; a ``reserved`` or taken name gets a ``_2``, ``_3``, ... suffix.
    """
    base = _NAME_RE.sub("_", label.strip().lower()).strip("_") if label else ""
    if not base or base[0].isdigit():
        base = node_id
    name, i = base, 2
    while name in taken or name in reserved:
        name, i = f"{base}_{i}", i + 1
    taken.add(name)
    return name


def compile_graph(graph: Graph, seed: int | None = None, with_losses: bool = False) -> CompiledGraph:
    """Build the torch model of ``graph``.

    Parameters
    ----------
    graph : Graph
        Must be valid; otherwise :class:`GraphInvalidError` lists the nodes at fault
        with the messages of validation.
    seed : int, optional
        Seeds parameter initialisation, for reproducible models. The global random
        state is left as it was, so compiling never changes a training run's draws.
    with_losses : bool
        Loss nodes are left out of the model (they are no part of what is exported);
        with this, ``forward`` also returns what training computes them from: after
        the Outputs' tensors, the tensors wired into each loss node (graph order,
        port order, listed in ``loss_inputs`` as ``(node id, port)``), then the
        model's inputs, always as a tuple.

    Returns
    -------
    CompiledGraph
        ``forward`` takes one tensor per Input node (in graph order) and returns one
        tensor per Output node, a tuple when there are several.
    """
    analysis = graph.analysis()
    analysis.raise_if_invalid()
    if seed is None:
        return _build(graph, analysis, with_losses=with_losses)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return _build(graph, analysis, with_losses=with_losses)


def _build(graph: Graph, analysis, class_name: str = "LayerLoomModel",
           with_losses: bool = False) -> CompiledGraph:
    root = nn.Module()
    fxg = fx.Graph()
    values: dict[tuple[str, str], fx.Node] = {}
    names = node_names(graph, analysis)
    input_names, output_names, module_nodes = [], [], {}
    input_specs, output_specs = [], []
    results: list[fx.Node] = []
    loss_inputs: list[tuple[tuple[str, str], fx.Node]] = []
    owner: dict[fx.Node, str] = {}  # fx node -> name of the graph node that made it
    final: dict[fx.Node, str] = {}  # fx node -> the name its value must have
    for nid in analysis.order:
        node = graph.node(nid)
        info = analysis.nodes[nid]
        spec = node.spec
        name = names[nid]
        if spec.is_input:
            placeholder = fxg.placeholder(name)
            values[(nid, "out")] = placeholder
            final[placeholder] = name
            input_names.append(nid)
            input_specs.append(info.outputs["out"])
            continue
        args = [values[(e.source, e.source_port)] for e in _in_port_order(graph, nid)]
        if spec.is_output:
            results.append(args[0])
            output_names.append(nid)
            output_specs.append(next(iter(info.inputs.values())))
            continue
        if spec.loss:
            loss_inputs.extend(((nid, port), arg) for port, arg in zip(node.input_ports(), args, strict=True))
            continue
        if node.is_block:
            lowered = _lower_block(graph, node, info, names)
        else:
            lowered = LOWERINGS[spec.type_id](node.params, info.inputs, info.outputs)
        target = None
        if lowered.module is not None:
            apply_node_training(lowered.module, node.training)
            root.add_module(name, lowered.module)
            module_nodes[name] = nid
            target = name
        before = len(fxg.nodes)
        out = (lowered.emit or call_module)(fxg, args, target)
        for made in itertools.islice(reversed(fxg.nodes), len(fxg.nodes) - before):
            owner[made] = name
        ports = node.output_ports()
        for port, value in _by_port(out, ports, fxg).items():
            values[(nid, port)] = value
            final[value] = name if port == ports[0] else f"{name}_{port}"
    if with_losses:
        inputs = [values[(nid, "out")] for nid in input_names]
        fxg.output(tuple([*results, *(arg for _, arg in loss_inputs), *inputs]))
    else:
        fxg.output(results[0] if len(results) == 1 else tuple(results))
    gm = CompiledGraph(root, _renamed(fxg, final, owner), class_name=class_name)
    for name, module in root.named_children():
        if isinstance(module, nn.ModuleList):  # a repeated block: fx copied it as a plain Module
            gm.add_module(name, module)
    gm.input_names = input_names
    gm.output_names = output_names
    gm.input_specs = input_specs
    gm.output_specs = output_specs
    gm.module_nodes = module_nodes
    if with_losses:
        gm.loss_inputs = [key for key, _ in loss_inputs]
    return gm


def node_names(graph: Graph, analysis=None) -> dict[str, str]:
    """Node id -> the name of its submodule and of its result in the compiled
    module's code (``conv_1``): from its label, or its id when it has none."""
    analysis = analysis if analysis is not None else graph.analysis()
    # Unlabelled nodes keep their ids, so a label never takes another node's id.
    taken = {n.id for n in graph.nodes if not n.label}
    names: dict[str, str] = {}
    for nid in analysis.order:
        node = graph.node(nid)
        if not node.label:
            taken.discard(nid)
        # An input is only a variable; every other node may own a submodule.
        reserved = VALUE_RESERVED if node.spec.is_input else RESERVED
        names[nid] = module_name(nid, node.label, taken, reserved)
    return names


def _lower_block(graph: Graph, node, info, names: dict[str, str]) -> Lowering:
    """A block node: its definition compiled for this instance's inputs and exposed
    values, as a sub-module (a ``CompiledGraph`` of its own, so blocks nest), one
    per copy when it repeats (``encoder.0``, ``encoder.1``, ...). An instance that
    shares another's weights owns no module: it calls the other's."""
    definition = graph.blocks[node.params["block"]]
    inst = graph.blocks.instance(definition.name, node.params, info.inputs)
    repeat = node.params["repeat"]
    owner = node.params["shares_weights_with"]
    class_name = _class_name(definition.name)
    copies = [] if owner else [_build(inst.graph, inst.analysis, class_name) for _ in range(repeat)]
    sample = copies[0] if copies else _build(inst.graph, inst.analysis, class_name)
    in_ids = [n.id for n in definition.port_nodes("in")]
    out_ids = [n.id for n in definition.port_nodes("out")]
    arg_order = [in_ids.index(nid) for nid in sample.input_names]
    result_index = [sample.output_names.index(nid) for nid in out_ids]

    def emit(fxg: fx.Graph, args, target):
        base = names[owner] if owner else target
        for i in range(repeat):
            call = fxg.call_module(f"{base}.{i}" if repeat > 1 else base, tuple(args[j] for j in arg_order))
            if len(out_ids) == 1:
                args = [call]
            else:
                args = [fxg.call_function(operator.getitem, (call, k)) for k in result_index]
        return args[0] if len(args) == 1 else tuple(args)

    if owner:
        return Lowering(None, emit)
    return Lowering(copies[0] if repeat == 1 else nn.ModuleList(copies), emit)


def _class_name(block: str) -> str:
    """``res_block`` -> ``ResBlock``: the Python class name of a block's module."""
    name = "".join(part[:1].upper() + part[1:] for part in block.split("_") if part)
    return name if name.isidentifier() and not keyword.iskeyword(name) else f"Block{name}"


def _by_port(out, ports: tuple[str, ...], fxg: fx.Graph) -> dict[str, fx.Node]:
    """Map an emit's result to the node's output ports.

    One fx node for a one-port layer; for a layer with several ports, a dict by
    port, a tuple in port order, or one fx node whose value is such a tuple.
    """
    if isinstance(out, dict):
        return {port: out[port] for port in ports}
    if isinstance(out, (tuple, list)):
        return dict(zip(ports, out, strict=True))
    if len(ports) == 1:
        return {ports[0]: out}
    return {port: fxg.call_function(operator.getitem, (out, i)) for i, port in enumerate(ports)}


def _renamed(fxg: fx.Graph, final: dict[fx.Node, str], owner: dict[fx.Node, str]) -> fx.Graph:
    """A copy of ``fxg`` whose values carry the document's names.

    Each node's result gets the node's name; a value made on the way inside a node
    is named after that node (``conv_1_out`` for a module's result before its
    activation). The names are chosen first, all distinct and none reserved, and
    the graph is then copied with them, so torch.fx keeps them exactly.
    """
    used = set(final.values())
    chosen: dict[fx.Node, str] = {}
    for n in fxg.nodes:
        if n.op == "output":
            continue
        if n in final:
            chosen[n] = final[n]
            continue
        node_name = owner.get(n)
        if node_name is None:
            base = _SUFFIX_RE.sub("", n.name)
        elif n.op == "call_module":
            base = f"{node_name}_out"
        else:
            base = f"{node_name}_{_SUFFIX_RE.sub('', n.name)}"
        name, i = base, 2
        while name in used or name in VALUE_RESERVED:
            name, i = f"{base}_{i}", i + 1
        used.add(name)
        chosen[n] = name
    new = fx.Graph()
    env: dict[fx.Node, fx.Node] = {}
    for n in fxg.nodes:
        if n.op != "output":
            n.name = chosen[n]
        env[n] = new.node_copy(n, lambda x: env[x])
    return new


def _in_port_order(graph: Graph, nid: str):
    incoming = graph.incoming(nid)
    return [incoming[p] for p in graph.node(nid).input_ports()]
