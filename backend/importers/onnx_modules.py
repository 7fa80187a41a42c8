"""Folding a decomposed module back into one LayerLoom node, in an ONNX file.

torch's exporter (``dynamo=True``) writes attention layers as matrix products,
softmax and reshapes, and a plain RNN as its unrolled steps: no single ONNX
operator says "attention". It does record, on every node, the module it came from
(``pkg.torch.onnx.name_scopes`` and ``pkg.torch.onnx.class_hierarchy``) and the
fx node it was made from (``pkg.torch.onnx.fx_node``, which names the module's
parameters, ``%p_block_attn_in_proj_weight``).

:func:`fold_modules` groups the operators of each call of a module class in
:data:`FITTERS` (the outermost such module, when they nest) into one operator
``LayerLoomModule`` whose inputs are the tensors the call reads and whose
outputs are those it gives. Its rule (:func:`module_rule`) then finds the
LayerLoom layer that computes the same: the fitter proposes the settings the
weights leave open (head count, causal mask, activation, pre- or post-norm),
in the order of the defaults; each is lowered, given the file's weights, and run
on the values onnxruntime recorded for the call's inputs; the first whose
outputs equal the recorded ones (within :data:`FIT_TOLERANCE`) is kept.

Weights are found through the fx node of each operator: the exporter folds
constants (``in_proj_weight`` arrives transposed under a generated name, with
``pkg.onnxscript.optimizer.folded_from`` naming it), drops a bias that is all
zeros, and keeps one copy of equal initializers (a fresh ``norm2`` reads
``norm1``'s tensors). A parameter whose tensor cannot be found makes that
candidate fail; a missing bias is zeros.

Settings an ONNX file does not hold at all (dropout rates; they only act in
training) are left at 0.
"""

from __future__ import annotations

import ast
import itertools
import math
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.fx as fx
from torch import nn

from layerloom.backend.importers.common import Unsupported, label_of
from layerloom.backend.importers.onnx_ops import Op

FOLDED = "LayerLoomModule"
FIT_TOLERANCE = 1e-4
MAX_PERMUTED_INPUTS = 4
_PARAM_RE = re.compile(r"%([pb]_\w+)")
_STATIC_OPS = ("Shape", "Size")
_SUBGRAPH_OPS = ("Loop", "If", "Scan")
MAX_WEIGHT_LAYOUTS = 64


# ------------------------------------------------------------------ reading
def module_chain(metadata: dict[str, str]) -> tuple[tuple[str, str], ...]:
    """``((module path, class name), ...)`` of an ONNX node, outermost first,
    from the exporter's metadata (empty when it has none)."""
    try:
        scopes = ast.literal_eval(metadata.get("pkg.torch.onnx.name_scopes", "[]"))
        classes = ast.literal_eval(metadata.get("pkg.torch.onnx.class_hierarchy", "[]"))
    except (ValueError, SyntaxError):
        return ()
    if not isinstance(scopes, list) or not isinstance(classes, list) or len(scopes) != len(classes):
        return ()
    chain = []
    path = ""
    for depth in range(1, len(scopes) - 1):  # the root, then modules, then the op itself
        scope = str(scopes[depth])
        # torch writes each module's full path ("layer1", "layer1.0"); older records its attribute name only
        path = scope if not path or scope.startswith(f"{path}.") else f"{path}.{scope}"
        chain.append((path, str(classes[depth])))
    return tuple(chain)


@dataclass(frozen=True)
class FileInfo:
    """What :func:`fold_modules` reads from the file besides the operators."""

    initializers: frozenset[str]
    parameters: dict[str, str]  # initializer -> the fx name of the parameter it holds (p_...)
    folded_from: dict[str, tuple[str, ...]]  # initializer -> initializers it was computed from
    outputs: tuple[str, ...]


def file_info(graph) -> FileInfo:
    """The initializers, which parameter each holds, and the graph's outputs."""
    initializers = frozenset(t.name for t in graph.initializer)
    parameters, folded = {}, {}
    for value in graph.value_info:
        meta = {m.key: m.value for m in value.metadata_props}
        if meta.get("pkg.torch.export.graph_signature.InputSpec.kind") in ("PARAMETER", "BUFFER"):
            original = meta.get("pkg.torch.onnx.original_node_name")
            if original:
                parameters[value.name] = original
        if "pkg.onnxscript.optimizer.folded_from" in meta:
            try:
                folded[value.name] = tuple(ast.literal_eval(meta["pkg.onnxscript.optimizer.folded_from"]))
            except (ValueError, SyntaxError):
                pass
    return FileInfo(initializers, parameters, folded, tuple(o.name for o in graph.output))


# ------------------------------------------------------------------ folding
def fold_modules(ops: list[Op], info: FileInfo) -> list[Op]:
    """Replace the operators of each call of a module in :data:`FITTERS` by one
    ``LayerLoomModule`` operator (see the module docstring)."""
    static = _static_names(ops, info.initializers)
    learned = _learned_from(ops, static, info)
    regions: dict[str, list[int]] = {}
    classes: dict[str, str] = {}
    for i, op in enumerate(ops):
        for path, cls in op.modules:
            if cls in FITTERS:
                if all(name in static for name in op.outputs if name) and not _foreign(op.outputs, learned, path):
                    break  # shape arithmetic and weight preparation stay where they are
                regions.setdefault(path, []).append(i)
                classes[path] = cls
                break
    if not regions:
        return ops
    consumers: dict[str, list[int]] = {}
    for i, op in enumerate(ops):
        for name in op.inputs:
            consumers.setdefault(name, []).append(i)
    replace: dict[int, Op] = {}
    dropped: set[int] = set()
    for path, members in regions.items():
        if len(members) == 1:
            continue  # one operator: nothing was decomposed, its own rule maps it
        folded = _fold(path, classes[path], members, ops, consumers, static, info, learned)
        if folded is not None:
            replace[members[-1]] = folded
            dropped.update(members[:-1])
    return [replace.get(i, op) for i, op in enumerate(ops) if i not in dropped]


def _static_names(ops: Sequence[Op], initializers: frozenset[str]) -> set[str]:
    """Names computed from constants and sizes only (the importer follows them as
    constants)."""
    static = set(initializers)
    for op in ops:
        present = [n for n in op.inputs if n]
        if op.op_type in _SUBGRAPH_OPS:  # its body reads outer values that are not its inputs
            continue
        if op.op_type in _STATIC_OPS or all(n in static for n in present):
            static.update(n for n in op.outputs if n)
    return static


def _fold(path, cls, members, ops, consumers, static, info: FileInfo, learned) -> Op | None:
    members = _absorb(members, ops, consumers, static)
    inside = set(members)
    produced = {name for i in members for name in ops[i].outputs if name}
    inputs: list[str] = []
    for i in members:
        for name in ops[i].inputs:
            if name and name not in produced and name not in inputs and (
                    name not in static or _foreign([name], learned, path)):
                inputs.append(name)
    last = members[-1]
    outputs = []
    for i in members:
        for name in ops[i].outputs:
            if not name:
                continue
            outside = [c for c in consumers.get(name, []) if c not in inside
                       and not all(n in static for n in ops[c].outputs if n)]  # a Shape of it
            if outside or name in info.outputs:
                if any(c < last for c in outside):
                    return None  # the call is not in one piece; leave it to the operator rules
                outputs.append(name)
    if not inputs or not outputs:
        return None
    weights = _weights(path, [ops[i] for i in members], info)
    for name in {n for i in members for n in ops[i].inputs if n in static and n not in info.initializers}:
        whole = _split_parameter(name, ops, info)
        if whole is not None:  # a slice of a packed weight (a decoder's in_proj_weight for q and kv)
            weights.setdefault(info.parameters[whole], (whole, False))
    epsilons = sorted({float(ops[i].attrs.get("epsilon", 1e-5)) for i in members
                       if ops[i].op_type == "LayerNormalization"})
    constants = sorted({name for i in members for name in ops[i].inputs if name in info.initializers})
    attrs = {"class": cls, "path": path, "weights": weights, "epsilons": epsilons,
             "inner": sorted(produced - set(outputs)), "constants": constants,
             "ops": [ops[i] for i in members]}
    chain = ops[members[-1]].modules
    outer = chain[:[p for p, _ in chain].index(path)] if path in [p for p, _ in chain] else ()
    return Op(FOLDED, f"{path} ({cls.rsplit('.', 1)[-1]})", inputs, outputs, attrs, modules=tuple(outer))


_SIZE_OPS = frozenset({"Shape", "Size"})


def _learned_from(ops: Sequence[Op], static: set[str], info: FileInfo) -> dict[str, frozenset[str]]:
    """For each constant value computed from parameters and repeated over the
    batch (its shape made with a ``Shape`` of a computed tensor), the parameters
    (fx names) it is computed from."""
    found: dict[str, frozenset[str]] = {}
    sized: set[str] = set()  # made with a size of a computed tensor: repeated over the batch
    for op in ops:
        if op.op_type in _SIZE_OPS:
            if any(n and n not in static for n in op.inputs):
                sized.update(n for n in op.outputs if n)
            continue
        if any(n in sized for n in op.inputs):
            sized.update(n for n in op.outputs if n)
        if not all(n in static for n in op.outputs if n):
            continue
        params: set[str] = set()
        for name in op.inputs:
            if name in found:
                params |= found[name]
            elif name in info.initializers:
                params |= _origins(name, info)
        if params:
            found.update((n, frozenset(params)) for n in op.outputs if n)
    # A weight prepared for use (a packed bias split in parts) stays a constant of
    # the module, even when the file stores it once for several modules.
    return {n: params for n, params in found.items() if n in sized}


def _origins(name: str, info: FileInfo) -> set[str]:
    """The parameters (fx names) an initializer holds or was folded from; a
    parameter folded away (``queries`` in ``queries.unsqueeze(0)``) by its name."""
    param = _parameter_of(name, info)
    if param is not None:
        return {param}
    return {info.parameters.get(s) or "p_" + flat(s) for s in info.folded_from.get(name, ())
            if not s.startswith("val_") and s not in info.folded_from}


def _foreign(names, learned: dict[str, frozenset[str]], path: str) -> bool:
    """Whether one of ``names`` is computed from a parameter of another module than
    ``path``: learned query tokens repeated over the batch (``queries.repeat(N, 1,
    1)``) are an input of the attention they feed, not one of its constants."""
    own = "p_" + flat(path) + "_"
    return any(not p.startswith(own) for n in names for p in learned.get(n, ()))


def _split_parameter(name: str, ops, info: FileInfo) -> str | None:
    """The parameter initializer that ``name`` is a ``Split`` piece of (perhaps
    transposed), if any."""
    producer = next((op for op in ops if name in op.outputs), None)
    if producer is not None and producer.op_type == "Transpose":
        producer = next((op for op in ops if producer.inputs[0] in op.outputs), None)
    if producer is not None and producer.op_type == "Split" and producer.inputs[0] in info.parameters:
        return producer.inputs[0]
    return None


def _absorb(members: list[int], ops, consumers, static) -> list[int]:
    """``members`` with the operators of no module (an ``Identity`` the exporter
    adds) that sit inside the call and read only its values."""
    inside = set(members)
    changed = True
    while changed:
        changed = False
        produced = {name for i in inside for name in ops[i].outputs if name}
        last = max(inside)
        for name in sorted(produced):
            for c in consumers.get(name, []):
                op = ops[c]
                if (c not in inside and c < last and not op.modules
                        and all(n in produced or n in static for n in op.inputs if n)):
                    inside.add(c)
                    changed = True
    return sorted(inside)


def _weights(path: str, region: Sequence[Op], info: FileInfo) -> dict[str, tuple[str, bool]]:
    """fx parameter name -> (initializer holding it, whether it is transposed)."""
    found: dict[str, tuple[str, bool]] = {}
    by_fx: dict[str, list[Op]] = {}
    for op in region:
        by_fx.setdefault(op.fx_node, []).append(op)
    for fx_text, group in by_fx.items():
        args = fx_text.split("args = ", 1)[-1]
        params = list(dict.fromkeys(_PARAM_RE.findall(args)))
        held = []
        for op in group:
            for index, name in enumerate(op.inputs):
                if name in info.initializers and _holds_parameter(name, info) and name not in [h[0] for h in held]:
                    held.append((name, _transposed(name, op, index, info)))
        by_name = {_parameter_of(name, info): (name, t) for name, t in held}
        rest = [p for p in params if p not in by_name]
        unnamed = [h for h in held if _parameter_of(h[0], info) not in params]
        for param in params:
            if param in by_name:
                found.setdefault(param, by_name[param])
        if len(rest) == len(unnamed):
            for param, holder in zip(rest, unnamed, strict=True):
                found.setdefault(param, holder)
    return found


def _holds_parameter(name: str, info: FileInfo) -> bool:
    return _parameter_of(name, info) is not None


def _parameter_of(name: str, info: FileInfo) -> str | None:
    """The fx name (``p_attn_in_proj_weight``) of the parameter an initializer
    holds, itself or folded from it alone."""
    if name in info.parameters:
        return info.parameters[name]
    sources = [s for s in info.folded_from.get(name, ())
               if s in info.parameters or ("." in s and not s.startswith("val_") and s not in info.folded_from)]
    if len(sources) != 1:
        return None  # folded from helper constants only, or from several parameters
    return info.parameters.get(sources[0]) or "p_" + flat(sources[0])


def _transposed(name: str, op: Op, index: int, info: FileInfo) -> bool:
    """A folded weight read as ``x @ W.T`` (how ``linear`` is exported)."""
    if name in info.parameters or name not in info.folded_from:
        return False
    if op.op_type == "MatMul" and index == 1:
        return True
    return op.op_type == "Gemm" and index == 1 and not op.attrs.get("transB", 0)


# ------------------------------------------------------------------ fitting
Candidate = tuple[str, dict]
Fitter = Callable[["Call"], Iterator[Candidate]]
FITTERS: dict[str, Fitter] = {}


def fitter(*class_names: str):
    """Register a candidate generator for the given module classes (full names,
    as the exporter writes them)."""

    def register(fn: Fitter) -> Fitter:
        for name in class_names:
            FITTERS[name] = fn
        return fn

    return register


@dataclass
class Call:
    """One folded module call, as a fitter sees it."""

    op: Op
    shapes: list[tuple[int, ...]]  # per-sample shapes of the inputs (file order)
    dtypes: list[str]
    weights: dict[str, np.ndarray]  # module-local parameter name -> value
    inner_shapes: list[tuple[int, ...]]  # full shapes of the values made inside
    scalars: list[float]  # the one-value constants the call uses (a max_norm, an epsilon)

    def weight_shape(self, key: str) -> tuple[int, ...] | None:
        """The shape of the parameter ``key`` (``self_attn.in_proj_weight``) as the
        module holds it, or ``None`` when the file does not have it."""
        value = self.weights.get(flat(key))
        return None if value is None else tuple(value.shape)

    def has(self, prefix: str) -> bool:
        return any(k == flat(prefix) or k.startswith(flat(prefix) + "_") for k in self.weights)

    @property
    def epsilons(self) -> list[float]:
        return list(self.op.attrs.get("epsilons") or [1e-5])


def module_rule(mp, op: Op):
    """The rule for a folded ``LayerLoomModule`` operator."""
    cls, path = op.attrs["class"], op.attrs["path"]
    values = [mp.tensor(name) for name in op.inputs]
    weights = _local_weights(mp, op)
    call = Call(op, [v.shape for v in values], [v.dtype for v in values], weights,
                [tuple(mp.values[n].shape) for n in op.attrs["inner"] if n in mp.values],
                [float(mp.arrays[n].reshape(-1)[0]) for n in op.attrs["constants"]
                 if n in mp.arrays and mp.arrays[n].size == 1 and np.issubdtype(mp.arrays[n].dtype, np.floating)])
    recorded_in = [_as_torch(mp.values[name]) for name in op.inputs]
    recorded_out = [_as_torch(mp.values[name]) for name in op.outputs]
    reasons: list[str] = []
    orders = (list(itertools.permutations(range(len(values)))) if len(values) <= MAX_PERMUTED_INPUTS
              else [tuple(range(len(values)))])
    for type_id, params in FITTERS[cls](call):
        for order in orders:
            fitted = _try(type_id, params, [values[i] for i in order], [recorded_in[i] for i in order],
                          recorded_out, weights, reasons)
            if fitted is not None:
                return _add(mp, op, type_id, params, [values[i] for i in order], *fitted, path)
    why = f"; {reasons[0]}" if reasons else ""
    raise Unsupported(
        f"the operators of module '{path}' ({cls}) compute something no LayerLoom layer setting "
        f"reproduces{why}"
    )


def flat(key: str) -> str:
    """A parameter name as the exporter spells it in fx names: ``norm1_weight``."""
    return key.replace(".", "_")


def _local_weights(mp, op: Op) -> dict[str, np.ndarray]:
    """The call's parameters by module-local name, flattened (``self_attn_in_proj_weight``)."""
    prefix = "p_" + flat(op.attrs["path"]) + "_"
    found = {}
    for param, (name, transposed) in op.attrs["weights"].items():
        if not param.startswith(prefix) or name not in mp.arrays:
            continue
        value = mp.arrays[name]
        found[param[len(prefix):]] = np.ascontiguousarray(value.T if transposed and value.ndim == 2 else value)
    return found


def _as_torch(array: np.ndarray) -> torch.Tensor:
    tensor = torch.from_numpy(np.ascontiguousarray(array))
    return tensor.long() if not tensor.is_floating_point() and tensor.dtype != torch.bool else tensor


def _try(type_id, params, values, tensors, expected, weights, reasons):
    """Run the candidate; ``({output index: port}, state)`` when it reproduces
    every output, else ``None``."""
    from layerloom.backend.compile import _by_port
    from layerloom.backend.lowering import LOWERINGS, call_module
    from layerloom.graph import REGISTRY, ShapeError, TensorSpec

    spec = REGISTRY.get(type_id)
    try:
        params = spec.check_params(params)
        ins = dict(zip(spec.input_ports(params), (TensorSpec(v.shape, v.dtype) for v in values), strict=True))
        outs = spec.infer(params, ins)
    except (ShapeError, ValueError):
        return None
    lowered = LOWERINGS[type_id](params, ins, outs)
    root, graph = nn.Module(), fx.Graph()
    args = [graph.placeholder(f"in_{i}") for i in range(len(values))]
    target, choices = None, {}
    if lowered.module is not None:
        root.add_module("layer", lowered.module)
        target = "layer"
        for key, current in lowered.module.state_dict().items():
            found = layouts(weights.get(flat(key)), tuple(current.shape), key)
            if not found:
                reasons.append(f"its parameter {key} {tuple(current.shape)} is not in the file")
                return None
            choices[key] = found
    out_ports = spec.output_ports(params)
    by_port = _by_port((lowered.emit or call_module)(graph, args, target), out_ports, graph)
    graph.output(tuple(by_port[p] for p in out_ports))
    module = fx.GraphModule(root, graph).eval()
    keys = list(choices)
    for combo in itertools.islice(itertools.product(*(choices[k] for k in keys)), MAX_WEIGHT_LAYOUTS):
        state = dict(zip(keys, combo, strict=True))
        module.load_state_dict({f"layer.{k}": torch.from_numpy(np.array(v, dtype=np.float32))
                                for k, v in state.items()})
        try:
            with torch.no_grad():
                results = dict(zip(out_ports, module(*tensors), strict=True))
        except Exception:  # a candidate torch refuses is simply not the one
            return None
        matched = _match(results, expected)
        if matched is not None:
            return matched, state
    return None


def layouts(value: np.ndarray | None, shape: tuple[int, ...], key: str) -> list[np.ndarray]:
    """The ways ``value`` (as the file holds it) can be the parameter of ``shape``:
    itself, or its dims reordered (a folded ``weight.permute(...).reshape(...)``).
    A missing bias is zeros (the exporter drops an all-zero bias)."""
    if value is None:
        last = key.rsplit(".", 1)[-1]
        return [np.zeros(shape, dtype=np.float32)] if last.startswith("bias") or last.endswith("_bias") else []
    if tuple(value.shape) == shape:
        return [value]
    if value.size != math.prod(shape):
        return []
    found = []
    for source in (value, value.T) if value.ndim == 2 else (value,):
        for order in itertools.permutations(range(len(shape))):
            moved = np.ascontiguousarray(source).reshape([shape[i] for i in order])
            found.append(np.ascontiguousarray(moved.transpose(np.argsort(order))))
    return found


def _match(results: dict[str, torch.Tensor], expected: Sequence[torch.Tensor]) -> dict[int, str] | None:
    matched: dict[int, str] = {}
    for i, want in enumerate(expected):
        port = next((p for p, got in results.items() if p not in matched.values() and _close(got, want)), None)
        if port is None:
            return None
        matched[i] = port
    return matched


def _close(got: torch.Tensor, want: torch.Tensor) -> bool:
    if tuple(got.shape) != tuple(want.shape):
        return False
    if not got.numel():
        return True
    scale = max(1.0, float(want.double().abs().max()))
    return float((got.double() - want.double()).abs().max()) <= FIT_TOLERANCE * scale


def _add(mp, op, type_id, params, values, matched, state, path):
    from layerloom.graph import REGISTRY, TensorSpec

    spec = REGISTRY.get(type_id)
    checked = spec.check_params(params)
    ports = spec.output_ports(checked)
    held = op.attrs["weights"]
    sources = {key: held[f"p_{flat(path)}_{flat(key)}"][0] for key in state if f"p_{flat(path)}_{flat(key)}" in held}
    first = op.outputs[0]
    # the shape of the node's first port (the file may use another port first, or only another)
    ins = dict(zip(spec.input_ports(checked), (TensorSpec(v.shape, v.dtype) for v in values), strict=True))
    shape = spec.infer(checked, ins)[ports[0]].shape
    value = mp.builder.add(type_id, params, values, shape, label=label_of(f"{path}.x"),
                           weights=state, sources=sources)
    mp.made_by[value.node] = first
    results = {}
    for i, name in enumerate(op.outputs):
        port = matched[i]
        results[name] = value if port == ports[0] else mp.builder.port_of(value, port, mp.shape(name))
    for name in op.outputs[1:]:
        mp.env[name] = results[name]
    return results[first]


# ------------------------------------------------------------------ helpers for fitters
def divisors(n: int, hints: Sequence[int] = ()) -> list[int]:
    """The divisors of ``n``, those in ``hints`` first."""
    found = [d for d in range(1, n + 1) if n % d == 0]
    return [d for d in found if d in hints] + [d for d in found if d not in hints]


def head_hints(call: Call, embed: int) -> list[int]:
    """Head counts seen in the call's 4-d values (N, heads, T, E / heads)."""
    return sorted({s[1] for s in call.inner_shapes if len(s) == 4 and s[1] * s[3] == embed})
