"""What the PyTorch and ONNX importers share: errors, values, the graph builder.

An importer walks the source model once, in data-flow order, and turns each
operation into LayerLoom nodes through a :class:`GraphBuilder`. Reshapes are kept
lazy (a :class:`Value` remembers the shape it is viewed as), so a chain such as
``x.view(n, -1).unsqueeze(1)`` becomes one Reshape node, or none at all when the
shape comes back to what the producing node gives. Whatever the importer cannot
map is collected as a :class:`Problem`; at the end the import either fails with
the whole list (:class:`ModelImportError`) or the builder lays the graph out,
validates it, compiles it and loads the source weights into the compiled model.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from layerloom.backend.compile import CompiledGraph, compile_graph
from layerloom.backend.export.common import check_close
from layerloom.graph import Graph, auto_layout
from layerloom.graph.fileio import describe_write_error
from layerloom.graph.layers.merge import MAX_INPUTS

MAX_LABEL = 80
MAX_LISTED_ERRORS = 8
MAX_GROUPED = 4  # places named for one kind of problem


# ------------------------------------------------------------------- errors
@dataclass(frozen=True)
class Problem:
    """One part of a source model that LayerLoom cannot represent.

    Attributes
    ----------
    what : str
        The operation: ``"torch.nn.Bilinear"``, ``"torch.sin"``, ``"ONNX Einsum"``.
    where : str
        Where it is: ``"module 'head.bil'"``, ``"'sin' in module 'block'"``,
        ``"node 'node_Einsum_3'"``.
    line : str
        ``"model.py:12: return torch.sin(x)"`` when the source line is known.
    why : str
        What exactly is not supported, when more than the operation itself.
    """

    what: str
    where: str
    line: str = ""
    why: str = ""

    def __str__(self) -> str:
        text = f"{self.what} at {self.where}"
        if self.why:
            text += f": {self.why}"
        if self.line:
            text += f" ({self.line})"
        return text


class ModelImportError(Exception):
    """A model cannot be imported. ``problems`` lists every part at fault, so the
    user sees the whole list at once rather than one problem per attempt."""

    def __init__(self, summary: str, problems: Iterable[Problem] = ()):
        self.summary = summary
        self.problems = list(problems)
        lines = [summary, *(f"  - {line}" for line in _grouped(self.problems))]
        super().__init__("\n".join(lines))


def _grouped(problems: list[Problem]) -> list[str]:
    """One line per kind of problem: an unrolled loop or a decomposed layer repeats
    the same operation many times, and a long list would hide the other kinds."""
    groups: dict[tuple[str, str], list[Problem]] = {}
    for p in problems:
        groups.setdefault((p.what, p.why), []).append(p)
    lines = []
    for (what, why), group in groups.items():
        if len(group) == 1:
            lines.append(str(group[0]))
            continue
        places = ", ".join(p.where for p in group[:MAX_GROUPED])
        more = f" and {len(group) - MAX_GROUPED} more" if len(group) > MAX_GROUPED else ""
        text = f"{what} at {places}{more}"
        if why:
            text += f": {why}"
        if group[0].line:
            text += f" ({group[0].line})"
        lines.append(text)
    return lines


class Unsupported(Exception):
    """Raised by a mapping rule: the operation cannot be mapped, ``why`` says why."""

    def __init__(self, why: str = ""):
        super().__init__(why)
        self.why = why


def map_until_settled(attempt: Callable[[dict[str, str]], Any], subject: str, part: str) -> Any:
    """Map a source model with ``attempt(modes)`` (a mapper after its pass), and
    once more when the recurrent layers' uses ask for other modes than assumed.

    ``modes`` is recurrent layer -> ``"seq"`` or ``"last"`` (see
    :class:`Recurrent`); the first pass assumes every step. Returns the mapper of
    the last pass.

    Raises
    ------
    ModelImportError
        Listing the mapper's problems, ``part`` naming what is at fault
        (``"operator"``) and ``subject`` the source model.
    """
    modes: dict[str, str] = {}
    for _ in range(2):
        mapper = attempt(modes)
        needed = mapper.modes_needed()
        if mapper.problems:
            count = len(mapper.problems)
            raise ModelImportError(
                f"cannot import {subject}: {count} {part}{'s' if count > 1 else ''} "
                f"{'have' if count > 1 else 'has'} no LayerLoom equivalent:", mapper.problems,
            )
        if needed == modes:
            break
        modes = needed
    return mapper


def refuse(condition: bool, why: str) -> None:
    """Raise :class:`Unsupported` with ``why`` when ``condition`` holds."""
    if condition:
        raise Unsupported(why)


# ------------------------------------------------------------------- values
@dataclass(frozen=True)
class Value:
    """A tensor of the source model, as an output port of a LayerLoom node.

    ``node_shape`` is the per-sample shape the node gives on ``port``; ``shape`` the
    per-sample shape the source model sees. They differ when the source reshaped
    the tensor and no Reshape node has been made yet (it is made on first use).
    """

    node: str
    port: str
    node_shape: tuple[int, ...]
    shape: tuple[int, ...]
    dtype: str = "float"

    def viewed(self, shape: Sequence[int]) -> Value:
        """The same values seen with another per-sample shape (a lazy reshape)."""
        shape = tuple(int(d) for d in shape)
        if math.prod(shape) != math.prod(self.shape):
            raise Unsupported(f"reshapes {self.shape} into {shape}, which mixes samples of the batch")
        return replace(self, shape=shape)

    @property
    def rank(self) -> int:
        return len(self.shape)


@dataclass
class Recurrent:
    """An RNN, LSTM or GRU node being imported, with the uses seen of its results.

    ``mode`` is ``"seq"`` (every step) or ``"last"`` (the last step): LayerLoom's
    recurrent layers return one of them (``return_sequences``). Importers run a
    first pass with ``"seq"``, read ``uses``, and map again when the model only
    uses the last step.
    """

    key: str
    node: str
    hidden: int
    dirs: int
    layers: int
    steps: int
    mode: str = "seq"
    uses: set[str] = field(default_factory=set)
    where: str = ""

    def rows(self) -> tuple[tuple[int, int], ...]:
        """(layer, direction) of each row of torch's ``h_n``."""
        return tuple((layer, d) for layer in range(self.layers) for d in range(self.dirs))


@dataclass(frozen=True)
class RecurrentPart:
    """A piece of a recurrent layer's results on the way to a tensor LayerLoom has.

    ``kind`` is one of: ``call`` (torch's ``(output, state)`` tuple), ``state``
    (an LSTM's ``(h_n, c_n)``), ``hn`` (``h_n``; ``rows`` says which (layer,
    direction) each row holds), ``cn``, ``seq`` (every step, batch first),
    ``select_last`` / ``select_first`` (one step of a bidirectional output),
    ``half_fwd`` / ``half_bwd`` (one direction's last step), ``y``, ``yt`` and
    ``seq_tm`` (ONNX's time-major outputs on the way to ``seq``).
    """

    rec: Recurrent
    kind: str
    rows: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True)
class TimeMajor:
    """``value`` (a batch-first sequence) transposed to (T, N, F), as ONNX's
    recurrent operators read it."""

    value: Value


# ------------------------------------------------------------------ builder
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
        from layerloom.backend.importers.hierarchy import keep_hierarchy, module_name

        graph = self.graph
        blocks = self._share_weights()
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


    def _share_weights(self) -> dict[str, str]:
        """Uses of one source module become instances of a block sharing its
        weights (see :mod:`.sharing`); returns inner node id -> first instance id
        and notes what was done in :attr:`notes`."""
        from layerloom.backend.importers.sharing import share, shared_groups

        inside: dict[str, str] = {}
        for ids in shared_groups(self.graph, self.sources):
            source = next(iter(self.sources[ids[0]].values()))
            module = source.rsplit(".", 1)[0] if "." in source else source
            done = share(self.graph, ids, self.graph.node(ids[0]).label or module)
            shared = done[2] if done else []
            if done:
                name, instance, _ = done
                inside[ids[0]] = instance
                for nid in (ids[0], *shared):
                    self.expected.pop(nid, None)
                self.notes.append(f"'{module}' is used {len(shared) + 1} times: block '{name}', whose instances "
                                  "share its weights")
            if len(shared) + 1 < len(ids):
                self.notes.append(f"'{module}' is used {len(ids)} times; {len(ids) - len(shared) - 1} of its uses "
                                  "became layers with a copy of its weights (they train apart)")
        return inside


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
@dataclass
class ImportResult:
    """An imported model.

    Attributes
    ----------
    graph : Graph
        The editable graph, laid out and valid.
    model : CompiledGraph
        ``graph`` compiled, holding the source model's weights (eval mode).
    origins : dict
        Name in ``model.state_dict()`` -> the source tensor it was made from
        (``features.0.weight``, an ONNX initializer). One source tensor may give
        several (a module used twice; an ONNX recurrent operator's weights, split
        by direction).
    notes : list of str
        What the user should know (shared weights, a fixed batch size, ...).
    max_difference : float
        Largest difference between the source model's and ``model``'s outputs on
        random inputs (eval mode).
    """

    graph: Graph
    model: CompiledGraph
    origins: dict[str, str]
    notes: list[str] = field(default_factory=list)
    max_difference: float = 0.0

    @property
    def key_map(self) -> dict[str, str]:
        """Source tensor name -> name in ``model.state_dict()`` (the first, when a
        source tensor gives several): loads a source checkpoint into ``model``."""
        mapping: dict[str, str] = {}
        for target, source in self.origins.items():
            mapping.setdefault(source, target)
        return mapping

    @property
    def state_dict(self) -> dict[str, torch.Tensor]:
        return dict(self.model.state_dict())


def save_import(result: ImportResult, path: str | Path) -> list[Path]:
    """Write the graph to ``path`` (``.loom``) and its weights next to it as
    ``<name>.safetensors`` (with the graph embedded). Returns both paths.

    Raises
    ------
    ModelImportError
        The files cannot be written.
    """
    from layerloom.backend.export.common import ExportError
    from layerloom.backend.export.weights import save_weights
    from layerloom.graph import save_graph

    path = Path(path)
    if path.suffix.lower() == ".safetensors":
        raise ModelImportError(f"give the graph file a .loom name, not {path.name}; the weights go next to it")
    weights = path.with_suffix(".safetensors")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise ModelImportError(f"cannot write {path}: the folder {parent} does not exist")
    if path.is_dir():
        raise ModelImportError(f"cannot write {path}: it is a folder; give a file name")
    try:
        save_weights(result.graph, result.model, weights)
        save_graph(result.graph, path)
    except ExportError as exc:
        raise ModelImportError(str(exc)) from None
    except OSError as exc:
        raise ModelImportError(describe_write_error(exc, str(path))) from None
    return [path, weights]


# ------------------------------------------------------------------- helpers
def clean_label(text: str) -> str:
    """A node label from a source name: one line, at most :data:`MAX_LABEL` chars
    (the end of a long dotted path is kept: it names the layer)."""
    text = "".join(c if c.isprintable() else " " for c in str(text)).strip()
    return text if len(text) <= MAX_LABEL else text[-MAX_LABEL:]


def label_of(name: str) -> str:
    """A node label from a weight's name: ``features.0.weight`` -> ``features.0``;
    a generated name without a dot gives none."""
    head, dot, _ = name.rpartition(".")
    return clean_label(head) if dot else ""


def as_tensor(value: Any) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value.detach().to("cpu").clone()
    return torch.from_numpy(value.copy()) if hasattr(value, "dtype") else torch.as_tensor(value)


def compare(got: Sequence[torch.Tensor], expected: Sequence[torch.Tensor], what: str) -> float:
    """Largest difference between the imported model's outputs and the source's;
    raises :class:`ModelImportError` beyond the exporters' tolerance (relative for
    large outputs), since an import that changes the results must not be kept."""
    return check_close(got, expected, "the imported graph", what, ModelImportError,
                       "; please report this model")


def per_sample(shape: Sequence[int], batch: int, what: str) -> tuple[int, ...]:
    """Drop the batch dim of a recorded shape; refuse a tensor whose first dim is
    not the batch (the operation moved or mixed samples)."""
    shape = tuple(int(d) for d in shape)
    if not shape or shape[0] != batch:
        raise Unsupported(
            f"{what} gives a tensor of shape {shape} whose first dim is not the batch ({batch} in the "
            "trial run): LayerLoom keeps the batch first and each sample apart"
        )
    return shape[1:]
