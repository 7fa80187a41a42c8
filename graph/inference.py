"""Shape inference and validation in one topological walk.

Every edge gets the tensor spec flowing through it (batch dim symbolic), every node
its parameter count, FLOPs and activation memory per sample, and an error when it
cannot work. An error never stops the walk: nodes downstream of it simply have no
shapes, and every other node is still inferred.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from layerloom.graph.errors import GraphInvalidError, ShapeError
from layerloom.graph.fileio import human_bytes, memory_budget
from layerloom.graph.structure import Edge, GraphStructure
from layerloom.graph.tensor import TensorSpec

BYTES = {"float": 4, "long": 8}


@dataclass
class NodeInfo:
    """What inference learned about one node."""

    inputs: dict[str, TensorSpec] = field(default_factory=dict)
    outputs: dict[str, TensorSpec] = field(default_factory=dict)
    params: int = 0
    flops: int = 0
    activation_bytes: int = 0
    error: str | None = None
    fix: str | None = None
    blocked: bool = False  # an upstream node has an error, so no shapes here
    shared: bool = False  # a block instance using another instance's weights

    @property
    def out(self) -> TensorSpec | None:
        """The first output's spec (most layers have one output)."""
        return next(iter(self.outputs.values()), None)

    @property
    def message(self) -> str | None:
        if self.error is None:
            return None
        return f"{self.error} — {self.fix}" if self.fix else self.error


@dataclass
class Analysis:
    """Inference results for a whole graph."""

    order: list[str]
    nodes: dict[str, NodeInfo]
    edges: dict[Edge, TensorSpec]
    graph_errors: list[str]
    warnings: list[tuple[str, str]]

    @property
    def errors(self) -> list[tuple[str, str]]:
        """``(node id or "graph", message)`` for every problem, in graph order."""
        out = [("graph", msg) for msg in self.graph_errors]
        out += [(nid, self.nodes[nid].message) for nid in self.order if self.nodes[nid].error]
        return out

    @property
    def valid(self) -> bool:
        return not self.graph_errors and not any(i.error for i in self.nodes.values())

    @property
    def total_params(self) -> int:
        """Parameters of the model: an instance sharing another's weights counts nothing."""
        return sum(i.params for i in self.nodes.values() if not i.shared)

    @property
    def total_flops(self) -> int:
        return sum(i.flops for i in self.nodes.values())

    @property
    def total_activation_bytes(self) -> int:
        return sum(i.activation_bytes for i in self.nodes.values())

    def raise_if_invalid(self) -> None:
        """Raise :class:`GraphInvalidError` listing every error, if there is one."""
        if not self.valid:
            raise GraphInvalidError(self.errors)


def analyse(graph: GraphStructure) -> Analysis:
    """Infer shapes, counts and errors for every node of ``graph``."""
    order = graph.topological_order()
    budget = memory_budget()
    infos: dict[str, NodeInfo] = {}
    edge_specs: dict[Edge, TensorSpec] = {}
    outgoing: dict[str, list[Edge]] = {nid: [] for nid in order}
    for edge in graph.edges:
        outgoing[edge.source].append(edge)
    for nid in order:
        node = graph.node(nid)
        spec = node.spec
        info = NodeInfo()
        infos[nid] = info
        incoming = graph.incoming(nid)
        missing = [p for p in node.input_ports() if p not in incoming]
        if missing:
            ports = ", ".join(missing)
            info.error = f"{node.title}: input {ports} is not connected"
            info.fix = "wire an output into it, or delete the node"
            continue
        for port, edge in incoming.items():
            upstream = infos[edge.source]
            t = upstream.outputs.get(edge.source_port)
            if t is None:
                info.blocked = True
                break
            info.inputs[port] = t
        if info.blocked:
            continue
        try:
            info.outputs = spec.infer(node.params, info.inputs)
            info.params = int(spec.param_count(node.params, info.inputs, info.outputs))
            info.flops = int(spec.flops(node.params, info.inputs, info.outputs))
            if spec.memory is not None:
                info.activation_bytes = int(spec.memory(node.params, info.inputs, info.outputs))
            else:
                info.activation_bytes = sum(t.numel * BYTES[t.dtype] for t in info.outputs.values())
        except ShapeError as exc:
            info.outputs = {}
            # an error inside a block reads "enc (encoder) > attention (Attention): ..."
            sep = " > " if getattr(exc, "inside", False) else ": "
            info.error = f"{node.title} ({spec.name}){sep}{exc.message}"
            info.fix = exc.fix
            if spec.loss:  # name what is wired in: the outputs of the wrong kind
                info.error += f" (wired: {_wiring(graph, incoming)})"
            continue
        if spec.loss:
            _check_loss_wiring(graph, node, incoming, info)
        too_big = _over_budget(info, budget)
        if too_big:
            info.error = f"{node.title} ({spec.name}): {too_big}"
            info.fix = "make the layer smaller (fewer units, channels or a smaller input)"
        for edge in outgoing[nid]:
            if edge.source_port in info.outputs:
                edge_specs[edge] = info.outputs[edge.source_port]

    _check_sharing(graph, infos)
    graph_errors = []
    if graph.nodes:
        if not graph.inputs():
            graph_errors.append("the graph has no Input node; add one from the palette")
        if not graph.outputs():
            graph_errors.append("the graph has no Output node; add one and wire the last layer into it")
    else:
        graph_errors.append("the graph is empty; drag an Input, some layers and an Output onto the canvas")
    return Analysis(order, infos, edge_specs, graph_errors, _warnings(graph, order, outgoing))


def _check_sharing(graph: GraphStructure, infos: dict[str, NodeInfo]) -> None:
    """Block instances that share another's weights: the other must be an instance of
    the same block in this graph, owning its weights, used with the same shapes."""
    for node in graph.nodes:
        other_id = node.params.get("shares_weights_with") if node.is_block else None
        if not other_id:
            continue
        info = infos[node.id]
        where = f"{node.title} ({node.spec.name})"
        problem, fix = _sharing_problem(graph, node, other_id, infos)
        if problem:
            if not info.error:
                info.error, info.fix, info.outputs = f"{where}: {problem}", fix, {}
            continue
        info.shared = True


def _sharing_problem(graph, node, other_id, infos) -> tuple[str, str | None]:
    fix = "clear shares weights with, or pick an instance of the same block"
    if other_id == node.id:
        return "an instance cannot share weights with itself", fix
    if not graph.has_node(other_id):
        return f"shares weights with {other_id!r}, which is not a node of this graph", fix
    other = graph.node(other_id)
    if not other.is_block or other.params["block"] != node.params["block"]:
        kind = f"block {other.params['block']!r}" if other.is_block else other.spec.name
        return (f"shares weights with {other.title}, an instance of {kind}, not of "
                f"block {node.params['block']!r}"), fix
    if other.params.get("shares_weights_with"):
        return (f"shares weights with {other.title}, which itself shares those of "
                f"{other.params['shares_weights_with']!r}; share with that one"), None
    mine = {k: v for k, v in node.params.items() if k != "shares_weights_with"}
    theirs = {k: v for k, v in other.params.items() if k != "shares_weights_with"}
    if mine != theirs:
        diff = ", ".join(f"{k} {mine[k]!r} vs {theirs[k]!r}" for k in mine if mine[k] != theirs[k])
        return f"shares weights with {other.title} but their parameters differ ({diff})", \
            "give both the same parameters"
    a, b = infos[node.id], infos[other_id]
    if not a.error and not b.error and a.inputs != b.inputs:
        def show(info):
            return ", ".join(f"{p} {t}" for p, t in info.inputs.items())
        return (f"shares weights with {other.title}, but receives {show(a)} where "
                f"{other.title} receives {show(b)}"), "feed both the same shapes"
    return "", None


def _over_budget(info: NodeInfo, budget: int) -> str:
    """Why a layer cannot be built or run here (its weights or one sample's output
    need more than the memory budget), or ``""``."""
    weights = info.params * 4
    if weights > budget:
        return (f"its {info.params:,} parameters need {human_bytes(weights)}, over the memory "
                f"budget of {human_bytes(budget)}")
    if info.activation_bytes > budget:
        return (f"one sample's output needs {human_bytes(info.activation_bytes)}, over the "
                f"memory budget of {human_bytes(budget)}")
    return ""


def _warnings(graph: GraphStructure, order: list[str], outgoing: dict[str, list[Edge]]) -> list[tuple[str, str]]:
    """Nodes whose result reaches no Output (they would be computed for nothing)."""
    feeds_output = set()
    for nid in reversed(order):
        node = graph.node(nid)
        if node.spec.is_output or node.spec.loss or any(e.target in feeds_output for e in outgoing[nid]):
            feeds_output.add(nid)
    return [
        (nid, f"{graph.node(nid).title} does not reach any Output; its result is unused")
        for nid in order
        if nid not in feeds_output
    ]


def _wiring(graph: GraphStructure, incoming: dict[str, Edge]) -> str:
    """``mean <- Encoder mean (out), logvar <- Encoder logvar (out)``: where a loss
    node's inputs come from."""
    return ", ".join(f"{port} <- {graph.node(e.source).title} ({e.source_port})"
                     for port, e in incoming.items())


def _check_loss_wiring(graph: GraphStructure, node, incoming: dict[str, Edge], info: NodeInfo) -> None:
    """A loss node fed one output on two ports (a KL with the mean as its logvar too)
    compares a tensor with itself: name the output."""
    seen: dict[tuple[str, str], str] = {}
    for port, edge in incoming.items():
        key = (edge.source, edge.source_port)
        if key in seen:
            source = f"{graph.node(edge.source).title} ({edge.source_port})"
            info.error = (f"{node.title} ({node.spec.name}): {seen[key]} and {port} both come from "
                          f"{source}, so the term compares a tensor with itself")
            info.fix = f"wire {port} from another output"
            return
        seen[key] = port


def validate(graph: GraphStructure) -> list[tuple[str, str]]:
    """The errors of ``graph`` as ``(node id, message)``; empty when it is valid."""
    return graph.analysis().errors
