"""Building an imported graph: its nodes, wires and weights, then the checked,
compiled model (:class:`GraphBuilder`). Both importers map their source onto it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import torch

from layerloom.backend.compile import CompiledGraph, compile_graph
from layerloom.backend.importers.common import (
    MAX_LISTED_ERRORS,
    ModelImportError,
    Problem,
    Unsupported,
    Value,
    as_tensor,
    clean_label,
    refuse,
)
from layerloom.backend.importers.hierarchy import keep_hierarchy, module_name
from layerloom.backend.importers.sharing import share_repeated
from layerloom.graph import Graph, auto_layout
from layerloom.graph.layers.merge import MAX_INPUTS


class GraphBuilder:
    """Builds the imported graph and keeps the weights of each node.

    Parameters
    ----------
    title : str
        Stored as the graph's title.
    description : str
        Stored as the graph's description: where it came from.
    """

    def __init__(self, title: str, description: str):
        self.graph = Graph()
        self.graph.meta = {"title": title[:200], "description": description[:1000]}
        self.weights: dict[str, dict[str, torch.Tensor]] = {}
        self.sources: dict[str, dict[str, str]] = {}  # node -> {local key: source key}
        self.expected: dict[str, tuple[tuple[int, ...], str]] = {}
        self._views: dict[tuple[str, str, tuple[int, ...]], Value] = {}
        self._labels: set[str] = set()
        self.notes: list[str] = []  # what finish() changed (shared weights)
        self.scopes: dict[str, tuple[tuple[str, str], ...]] = {}  # node -> the source modules it came from
        self.keep_modules = True  # group nodes into blocks by source module (see hierarchy.py)

    # ----------------------------------------------------------- nodes
    def add_input(self, shape: Sequence[int], dtype: str, label: str = "") -> Value:
        shape = tuple(int(d) for d in shape)
        label = clean_label(label)
        node = self.graph.add_node("input", {"shape": list(shape), "dtype": dtype}, label=label)
        self._labels.add(label)
        return Value(node.id, "out", shape, shape, dtype)

    def add(
        self,
        type_id: str,
        params: Mapping[str, Any],
        inputs: Sequence[Value],
        shape: Sequence[int],
        *,
        label: str = "",
        weights: Mapping[str, Any] | None = None,
        sources: Mapping[str, str] | None = None,
        dtype: str = "float",
    ) -> Value:
        """Add a node fed by ``inputs`` (in port order) whose output has ``shape``.

        ``weights`` are the node's tensors under the names of its compiled module
        (``weight``, ``bias``, ``weight_ih_l0``, ...); ``sources`` maps those names
        to the names they had in the source model, for the key map.
        """
        label = clean_label(label)
        if label in self._labels:  # a shared weight or module: the first use keeps the name
            label = ""
        node = self.graph.add_node(type_id, dict(params), label=label)
        self._labels.add(label)
        ports = node.input_ports()
        if len(ports) != len(inputs):
            raise Unsupported(f"{node.spec.name} takes {len(ports)} inputs, got {len(inputs)}")
        for port, value in zip(ports, inputs, strict=True):
            value = self.materialise(value)
            self.graph.connect(value.node, value.port, node.id, port)
        if weights:
            self.add_weights(node.id, weights, sources)
        shape = tuple(int(d) for d in shape)
        self.expected[node.id] = (shape, dtype)
        return Value(node.id, "out", shape, shape, dtype)

    def add_weights(self, node_id: str, weights: Mapping[str, Any], sources: Mapping[str, str] | None = None) -> None:
        store = self.weights.setdefault(node_id, {})
        keys = self.sources.setdefault(node_id, {})
        for name, tensor in weights.items():
            store[name] = as_tensor(tensor)
            if sources and name in sources:
                keys[name] = sources[name]

    @staticmethod
    def port_of(value: Value, port: str, shape: Sequence[int], dtype: str = "float") -> Value:
        """Another output ``port`` of the node that made ``value`` (Split's
        ``out2``, a recurrent layer's final state), whose result has ``shape``."""
        shape = tuple(int(d) for d in shape)
        return Value(value.node, port, shape, shape, dtype)

    def add_output(self, value: Value, label: str = "") -> None:
        value = self.materialise(value)
        node = self.graph.add_node("output", label=clean_label(label))
        self.graph.connect(value.node, value.port, node.id, "in")

    def set_param(self, value: Value, name: str, new: Any) -> Value:
        """Change a parameter of ``value``'s node (a bias found after a MatMul)."""
        self.graph.set_param(value.node, name, new)
        return value

    def materialise(self, value: Value) -> Value:
        """``value`` as a node output of its shape: adds a Flatten or Reshape node
        when it is a lazy view (one per distinct view)."""
        if value.shape == value.node_shape:
            return value
        key = (value.node, value.port, value.shape)
        if key not in self._views:
            if len(value.shape) == 1:
                made = self.add("flatten", {}, [self.direct(value)], value.shape, dtype=value.dtype)
            elif not value.shape and value.node_shape:  # one number per sample: .view(-1, 1).squeeze(1)
                made = self.add("squeeze", {"dim": None}, [self.direct(value)], (), dtype=value.dtype)
            elif not value.shape or len(value.shape) > 8:
                raise Unsupported(f"reshapes each sample to {value.shape}, which LayerLoom cannot hold")
            else:
                made = self.add(
                    "reshape", {"shape": list(value.shape)}, [self.direct(value)], value.shape, dtype=value.dtype
                )
            self._views[key] = made
        return self._views[key]

    @staticmethod
    def direct(value: Value) -> Value:
        return replace(value, shape=value.node_shape)

    def fold_activation(self, value: Value, activation: str) -> Value | None:
        """Set ``activation`` on the Dense or convolution that made ``value``;
        ``None`` when it cannot be folded. The caller makes sure the activation is
        the only use of ``value``."""
        if value.shape != value.node_shape:
            return None
        node = self.graph.node(value.node)
        if "activation" not in node.params or node.params["activation"] != "none":
            return None
        if activation not in node.spec.param("activation").choices:
            return None
        if len(self.graph.outgoing(value.node)) or value.port != "out":
            return None
        self.graph.set_param(value.node, "activation", activation)
        return value

    def extend_merge(self, value: Value, others: Sequence[Value], type_id: str) -> Value | None:
        """Feed ``others`` into the Add or Multiply that made ``value`` (``a + b + c``
        becomes one Add of 3); ``None`` when that node cannot take them. The
        caller makes sure ``value`` has no other use."""
        node = self.graph.node(value.node)
        if (
            node.type != type_id or value.shape != value.node_shape or self.graph.outgoing(value.node)
            or node.params["inputs"] + len(others) > MAX_INPUTS
        ):
            return None
        others = [self.materialise(v) for v in others]
        first = node.params["inputs"] + 1
        self.graph.set_param(node.id, "inputs", node.params["inputs"] + len(others))
        for i, other in enumerate(others):
            self.graph.connect(other.node, other.port, node.id, f"in{first + i}")
        return value

    def merge(self, type_id: str, params: Mapping[str, Any], inputs: Sequence[Value], shape: Sequence[int]) -> Value:
        """Add, Multiply or Concat over any number of inputs (nested past 8)."""
        inputs = list(inputs)
        while len(inputs) > MAX_INPUTS:
            head = self.merge(type_id, params, inputs[:MAX_INPUTS], _merged_shape(type_id, params, inputs[:MAX_INPUTS]))
            inputs = [head, *inputs[MAX_INPUTS:]]
        return self.add(type_id, {**params, "inputs": len(inputs)}, inputs, shape)

    def concat(self, values: Sequence[Value], dim: int) -> Value:
        """``values`` joined along ``dim`` (a torch dim: the batch is dim 0); one
        value is passed through."""
        rank = values[0].rank + 1
        refuse(dim % rank == 0, "joins along the batch dim")
        if len(values) == 1:
            return values[0]
        params = {"dim": dim % rank}
        return self.merge("concat", params, values, _merged_shape("concat", params, values))

    def mean(self, value: Value, dims: Sequence[int], keepdim: bool) -> Value:
        """The mean over per-sample ``dims`` (0-based, batch excluded) as a
        GlobalAvgPool, after a Permute when the kept dim is not the first."""
        rank = value.rank
        dims = sorted({d % rank for d in dims})
        kept = [d for d in range(rank) if d not in dims]
        if len(kept) != 1:
            raise Unsupported(
                f"averages dims {[d + 1 for d in dims]} of a tensor of shape (N, "
                f"{', '.join(map(str, value.shape))}); LayerLoom's GlobalAvgPool keeps exactly one dim"
            )
        if kept[0] != 0:
            order = [kept[0], *dims]
            value = self.add(
                "permute", {"dims": [d + 1 for d in order]}, [value],
                [value.shape[d] for d in order], dtype=value.dtype,
            )
        out = self.add("global_avg_pool", {}, [value], [value.shape[0]])
        if keepdim:
            return out.viewed([value.shape[0] if i == kept[0] else 1 for i in range(rank)])
        return out

    # ----------------------------------------------------------- finish
    def finish(self) -> tuple[CompiledGraph, dict[str, str]]:
        """Lay out, validate and compile the graph, then load the weights.

        Returns the compiled model (eval mode) and where its tensors came from:
        name in the compiled model's state_dict -> source tensor name.
        """
        graph = self.graph
        blocks = share_repeated(graph, self.sources, self.expected, self.notes)
        placed = keep_hierarchy(graph, self.scopes) if self.keep_modules else {}
        for nid in placed:
            self.expected.pop(nid, None)
        for definition in graph.blocks:
            auto_layout(definition.body)
        auto_layout(graph)
        analysis = graph.analysis()
        problems = [Problem(graph.node(nid).title, f"node {nid!r}", why=msg)
                    for nid, msg in analysis.errors if nid != "graph"]
        problems += [Problem("the graph", "the imported graph", why=msg)
                     for nid, msg in analysis.errors if nid == "graph"]
        for nid, (shape, dtype) in self.expected.items():
            info = analysis.nodes.get(nid)
            out = info.out if info is not None else None
            if out is not None and (out.shape != shape or out.dtype != dtype):
                problems.append(Problem(
                    graph.node(nid).spec.name, f"node {nid!r}",
                    why=f"gives {out} where the source model has {shape}",
                ))
        if problems:
            raise ModelImportError(
                "LayerLoom cannot rebuild this model: the imported graph does not check", problems
            )
        model = compile_graph(graph, seed=0)
        top = {nid: name for name, nid in model.module_nodes.items()}
        for inner, instance in blocks.items():  # a shared layer's weights live in its block
            placed.setdefault(inner, (instance, inner))
        state: dict[str, torch.Tensor] = {}
        origins: dict[str, str] = {}
        for nid, tensors in self.weights.items():
            name = module_name(model, top, placed, nid)
            if name is None:  # a use that shares the first one's weights
                continue
            for key, tensor in tensors.items():
                target = f"{name}.{key}"
                state[target] = tensor
                source = self.sources.get(nid, {}).get(key)
                if source is not None:
                    origins[target] = source
        load_state(model, state)
        model.eval()
        return model, origins


def load_state(model: torch.nn.Module, state: Mapping[str, torch.Tensor]) -> None:
    """Copy ``state`` into ``model``; every tensor must be there with its shape."""
    expected = model.state_dict()
    wrong = [k for k in expected if k not in state or tuple(state[k].shape) != tuple(expected[k].shape)]
    wrong += [k for k in state if k not in expected]
    if wrong:
        listed = ", ".join(
            f"{k} {tuple(state[k].shape) if k in state else 'missing'}"
            f" (needs {tuple(expected[k].shape) if k in expected else 'nothing'})"
            for k in wrong[:MAX_LISTED_ERRORS]
        )
        raise ModelImportError(f"the weights do not fit the imported graph: {listed}")
    with torch.no_grad():
        for key, target in expected.items():
            target.copy_(state[key].to(dtype=target.dtype))


def _merged_shape(type_id: str, params: Mapping[str, Any], inputs: Sequence[Value]) -> tuple[int, ...]:
    shape = list(inputs[0].shape)
    if type_id == "concat":
        d = params["dim"] % (len(shape) + 1) - 1
        shape[d] = sum(v.shape[d] for v in inputs)
    return tuple(shape)


# ------------------------------------------------------------------ results
