"""Import an ONNX file into an editable LayerLoom graph.

The file is read without its external data first; every external data location
must name a file inside the model's folder (absolute paths and ``..`` escapes are
refused) before any of it is loaded. The model then runs once in onnxruntime with
every intermediate value exposed, which gives the shape of each tensor and the
value of each shape computation, and each operator is mapped by the rules of
:mod:`layerloom.backend.importers.onnx_rules`. Operators that only compute on constants and
shapes (``Shape``, ``Gather`` of a shape, ``Concat`` of sizes, ``Expand`` of
zeros) are followed as constants. Anything else is reported by operator type and
node name, all at once.

The imported graph is compiled with the file's initializers as weights and its
outputs compared with onnxruntime's, on the recorded inputs and, when the batch
dim is free, on another batch size.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from layerloom.backend.export.common import as_tuple, first_line
from layerloom.backend.import_options import declared_dims
from layerloom.backend.importers import onnx_rules as rules
from layerloom.backend.importers import recurrent as rnn
from layerloom.backend.importers.builder import GraphBuilder
from layerloom.backend.importers.common import (
    ImportResult,
    ModelImportError,
    Problem,
    Recurrent,
    RecurrentPart,
    TimeMajor,
    Unsupported,
    Value,
    compare,
    map_until_settled,
    per_sample,
)
from layerloom.backend.importers.hierarchy import CONTAINERS
from layerloom.backend.importers.onnx_file import load_model
from layerloom.backend.importers.onnx_modules import file_info, fold_modules, module_chain
from layerloom.backend.importers.onnx_ops import DERIVED, Derived, Op
from layerloom.graph.fileio import OverBudget, check_budget

RECORD_BATCH = 3
CHECK_BATCH = 2
FLOAT_TYPES = {1: np.float32, 11: np.float64, 10: np.float16}  # FLOAT, DOUBLE, FLOAT16
INT_TYPES = {7: np.int64, 6: np.int32}
FAILED = object()


class _Blocked(Exception):
    """An input of this operator could not be mapped (already reported)."""


# ------------------------------------------------------------------ running
@dataclass
class _Input:
    name: str
    shape: tuple[int, ...]  # per sample
    dtype: str
    numpy: type
    fixed_batch: int | None
    batch_dim: int = 0  # 1: a time-first sequence or a recurrent state, (T, N, F)


def _inputs(proto, shapes, title: str) -> list[_Input]:
    initializers = {t.name for t in proto.graph.initializer}
    real = [v for v in proto.graph.input if v.name not in initializers]
    if shapes and len(shapes) != len(real):
        raise ModelImportError(
            f"{title} has {len(real)} input(s) ({', '.join(v.name for v in real)}) but {len(shapes)} "
            "shape(s) were given; give one --input-shape per input, in order"
        )
    found = []
    batch_names = {_dim_names(v)[0] for v in real} - {""}
    for i, value in enumerate(real):
        kind = value.type.tensor_type.elem_type
        if kind in FLOAT_TYPES:
            dtype, numpy = "float", FLOAT_TYPES[kind]
        elif kind in INT_TYPES:
            dtype, numpy = "long", INT_TYPES[kind]
        else:
            raise ModelImportError(f"input {value.name!r} of {title} has ONNX element type {kind}; LayerLoom takes float32 or int64 inputs")
        dims = declared_dims(value)
        if not dims:
            raise ModelImportError(f"input {value.name!r} of {title} has no batch dim")
        batch_dim = 1 if not shapes and _time_first(value, dims, batch_names) else 0
        if batch_dim:  # (T, N, F) or (layers, N, H)
            dims = [dims[1], dims[0], *dims[2:]]
        if len(dims) == 1:
            raise ModelImportError(
                f"input {value.name!r} of {title} is declared as {_dims_text(dims)}: a batch of single numbers; "
                "a LayerLoom input holds at least one value per sample: export the model with the input "
                "shaped (N, 1) (x.unsqueeze(1) before it is called)"
            )
        if shapes:
            shape = tuple(int(d) for d in shapes[i])
            if len(shape) != len(dims) - 1 or any(f is not None and f != s for f, s in zip(dims[1:], shape, strict=True)):
                raise ModelImportError(
                    f"input {value.name!r} of {title} is declared as {_dims_text(dims)}; "
                    f"the shape given, {shape}, does not fit it"
                )
        elif any(d is None for d in dims[1:]):
            raise ModelImportError(
                f"input {value.name!r} of {title} is declared as {_dims_text(dims)}: give the shape of one "
                "sample without the batch dim (on the command line: --input-shape, once per input)"
            )
        else:
            shape = tuple(dims[1:])
        if any(d < 1 for d in shape):
            raise ModelImportError(f"input shape {shape} of {value.name!r} must be positive sizes")
        try:
            check_budget(math.prod(shape) * np.dtype(numpy).itemsize * RECORD_BATCH,
                         f"input {value.name!r} of {title} with shape {shape} (a batch of "
                         f"{RECORD_BATCH} to trace it)")
        except OverBudget as exc:
            raise ModelImportError(str(exc)) from None
        found.append(_Input(value.name, shape, dtype, numpy, dims[0], batch_dim))
    if not found:
        raise ModelImportError(f"{title} has no inputs")
    return found


def _dim_names(value) -> list[str]:
    return [d.dim_param for d in value.type.tensor_type.shape.dim]


def _time_first(value, dims, batch_names: set[str]) -> bool:
    """Whether an input has its batch in dim 1: (T, N, F) or (layers, N, H), dim 1
    its only open dim and named as the batch (the name holds "batch", or another
    input has it in dim 0)."""
    if len(dims) < 3 or dims[0] is None or dims[1] is not None or None in dims[2:]:
        return False
    name = _dim_names(value)[1]
    return "batch" in name.lower() or name in batch_names


def _dims_text(dims) -> str:
    return "(" + ", ".join("?" if d is None else str(d) for d in dims) + ")"


def _feeds(inputs: Sequence[_Input], batch: int, token_limit: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    feeds = {}
    for spec in inputs:
        shape = list(spec.shape)
        shape.insert(spec.batch_dim, batch)
        if spec.dtype == "long":
            feeds[spec.name] = rng.integers(0, token_limit, shape).astype(spec.numpy)
        else:
            feeds[spec.name] = rng.standard_normal(shape).astype(spec.numpy)
    return feeds


def _session(proto, path, expose: bool):
    import onnx
    import onnxruntime as ort

    model = onnx.ModelProto()
    model.CopyFrom(proto)
    if expose:
        present = {o.name for o in model.graph.output}
        for node in model.graph.node:
            for name in node.output:
                if name and name not in present:
                    model.graph.output.append(onnx.ValueInfoProto(name=name))
                    present.add(name)
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    try:
        # onnxruntime prints its provider fallback ("EP Error ...") on stdout; the
        # failure, if any, is raised and reported below in one line.
        with contextlib.redirect_stdout(io.StringIO()):
            return ort.InferenceSession(model.SerializeToString(), options,
                                        providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise ModelImportError(f"onnxruntime cannot load {path}: {first_line(exc)}") from None


def _run(session, feeds, path) -> dict[str, np.ndarray]:
    try:
        results = session.run(None, feeds)
    except Exception as exc:
        raise ModelImportError(f"onnxruntime cannot run {path} on inputs of these shapes: {first_line(exc)}") from None
    return {o.name: np.asarray(r) for o, r in zip(session.get_outputs(), results, strict=True)}


# ------------------------------------------------------------------ mapping
class OnnxMapper:
    """One pass over the operators, building the graph."""

    def __init__(self, ops, arrays, values, inputs, batch, modes, opset, title, description):
        self.ops = ops
        self.arrays = arrays  # initializer name -> array
        self.values = values  # every intermediate, from the recorded run
        self.inputs = inputs
        self.batch = batch
        self.modes = modes
        self.opset = opset
        self.builder = GraphBuilder(title, description)
        self.env: dict[str, object] = {name: DERIVED for name in arrays}
        self.made_by: dict[str, str] = {}
        self.matmuls: set[str] = set()
        self.recurrents: dict[str, tuple[Recurrent, Op]] = {}
        self.problems: list[Problem] = []
        self.consumers = Counter(name for op in ops for name in op.inputs if name)
        self.producers = {name: op for op in ops for name in op.outputs if name}

    # -------------------------------------------------- used by the rules
    def entry(self, name: str):
        found = self.env.get(name, FAILED)
        if found is FAILED:
            raise _Blocked
        return found

    def lazy(self, name: str) -> Value:
        found = self.entry(name)
        if isinstance(found, Value):
            return found
        if isinstance(found, RecurrentPart):
            return rnn.materialise(found)
        if isinstance(found, TimeMajor):
            raise Unsupported(
                "computes on a sequence in time-major order (T, N, F) outside an LSTM or GRU "
                "operator, as an unrolled RNN or decomposed attention does; LayerLoom rebuilds "
                "those from PyTorch models (layerloom import FILE.py:Class)"
            )
        maker = rules.RULES.get(rules.CONSTANT_TENSOR)  # a family may make a node of it
        if isinstance(found, Derived) and maker is not None:
            return maker(self, Op(rules.CONSTANT_TENSOR, name, [name], [name]))
        raise Unsupported(f"uses the constant {name!r} where LayerLoom needs a computed tensor")

    def tensor(self, name: str) -> Value:
        return self.builder.materialise(self.lazy(name))

    def is_const(self, name: str) -> bool:
        """Whether ``name`` is a constant; a value that could not be mapped counts
        as computed, so the operators after it are still checked and reported."""
        return isinstance(self.env.get(name), Derived)

    def merge(self, op: Op, type_id: str, values: list[Value]) -> Value:
        """Add or Multiply; joins the one that made the first input when that is
        its only use (``a + b + c`` is one Add of 3)."""
        first = op.inputs[0]
        value = None
        if self.made_by.get(values[0].node) == first and self.consumers[first] == 1:
            value = self.builder.extend_merge(values[0], values[1:], type_id)
        if value is None:
            value = self.builder.merge(type_id, {}, values, self.shape(op.outputs[0]))
        self.made_by[value.node] = op.outputs[0]
        return value

    def const(self, name: str, what: str = "this input") -> np.ndarray:
        if not isinstance(self.entry(name), Derived):
            raise Unsupported(f"computes {what} from the model's inputs; LayerLoom needs a constant here")
        found = self.arrays.get(name)
        return found if found is not None else self.values[name]

    def optional_const(self, op: Op, index: int, what: str):
        if len(op.inputs) <= index or not op.inputs[index]:
            return None
        return self.const(op.inputs[index], what)

    def full_shape(self, name: str) -> tuple[int, ...]:
        return tuple(self.values[name].shape)

    def shape(self, name: str) -> tuple[int, ...]:
        return per_sample(self.full_shape(name), self.batch, "it")

    def add(self, op: Op, type_id: str, params, inputs, **kwargs) -> Value:
        out = op.outputs[0]
        dtype = "float" if np.issubdtype(self.values[out].dtype, np.floating) else "long"
        value = self.builder.add(type_id, params, inputs, self.shape(out), dtype=dtype, **kwargs)
        self.made_by[value.node] = out
        return value

    def fold(self, name: str, x: Value, type_id: str) -> Value | None:
        if self.made_by.get(x.node) != name or self.consumers[name] != 1:
            return None
        return self.builder.fold_activation(x, type_id)

    def unused(self, op: Op, *indices: int) -> None:
        """Refuse when an extra output (indices, mean, mask) is used."""
        for i in indices:
            if len(op.outputs) > i and op.outputs[i] and self.consumers[op.outputs[i]]:
                raise Unsupported(f"uses its output {i + 1} ({op.outputs[i]!r}), which LayerLoom's layer does not give")

    # -------------------------------------------------------- the pass
    def run(self, graph_inputs, graph_outputs) -> None:
        for spec in graph_inputs:
            value = self.builder.add_input(spec.shape, spec.dtype, label=spec.name)
            self.env[spec.name] = TimeMajor(value) if spec.batch_dim == 1 else value
        graph = self.builder.graph
        for op in self.ops:
            made = len(graph)
            try:
                self._map(op)
                for added in list(graph.nodes)[made:]:  # the nodes this operator made live in its module
                    self.builder.scopes[added.id] = scope_of(op)
            except _Blocked:
                self._set_all(op, FAILED)
            except Unsupported as exc:
                self.problems.append(self._problem(op, exc.why))
                self._set_all(op, FAILED)
        for name in graph_outputs:
            try:
                self.builder.add_output(self.tensor(name), label=name)
            except _Blocked:
                pass
            except Unsupported as exc:
                self.problems.append(Problem("the model output", f"{name!r}", why=exc.why))

    def _set_all(self, op: Op, entry) -> None:
        for name in op.outputs:
            if name:
                self.env[name] = entry

    def _map(self, op: Op) -> None:
        present = [n for n in op.inputs if n]
        if op.domain in ("", "ai.onnx") and all(isinstance(self.env.get(n), Derived) for n in present):
            self._set_all(op, DERIVED)  # constants and shape arithmetic
            return
        rule = rules.RULES.get(op.op_type) if op.domain in ("", "ai.onnx") else None
        if rule is None:
            raise Unsupported()
        result = rule(self, op)  # reads its inputs; a blocked one raises _Blocked
        if result is not None:
            self.env[op.outputs[0]] = result

    def _problem(self, op: Op, why: str) -> Problem:
        kind = op.op_type if op.domain in ("", "ai.onnx") else f"{op.domain}.{op.op_type}"
        name = op.name or (op.outputs[0] if op.outputs else "?")
        return Problem(f"ONNX {kind}", f"node {name!r}", why=why)

    def modes_needed(self) -> dict[str, str]:
        modes = {}
        for key, (rec, op) in self.recurrents.items():
            if {"seq", "last"} <= rec.uses:
                self.problems.append(self._problem(
                    op, "the model uses both every step's output and the last step; LayerLoom's "
                    "recurrent layer gives one of them (return_sequences)",
                ))
            modes[key] = "last" if rec.uses == {"last"} else "seq"
        return modes


def _ops(graph) -> list[Op]:
    import onnx

    ops = []
    for node in graph.node:
        attrs = {}
        for a in node.attribute:
            value = onnx.helper.get_attribute_value(a)
            attrs[a.name] = value.decode() if isinstance(value, bytes) else value
        meta = {m.key: m.value for m in node.metadata_props}
        ops.append(Op(node.op_type, node.name, list(node.input), list(node.output), attrs, node.domain,
                      module_chain(meta), meta.get("pkg.torch.onnx.fx_node", "")))
    ops = rules.rewrite(ops)
    outputs, constants = [o.name for o in graph.output], [t.name for t in graph.initializer]
    for fold in rules.REWRITES:
        ops = fold(ops, outputs, constants)
    return fold_modules(ops, file_info(graph))


def _opset(proto) -> int:
    return next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), 0)


def _token_limit(proto, arrays, inputs) -> int:
    """Token ids valid for every table a long input indexes (2 when none)."""
    names = {i.name for i in inputs if i.dtype == "long"}
    sizes = [
        arrays[n.input[0]].shape[0] for n in proto.graph.node
        if n.op_type == "Gather" and len(n.input) > 1 and n.input[1] in names and n.input[0] in arrays
    ]
    return max(1, min(sizes)) if sizes else 2


# ------------------------------------------------------------------- public
def scope_of(op: Op) -> tuple[tuple[str, str], ...]:
    """The modules (path, class name) whose ``forward`` made ``op``, outermost
    first, from the exporter's record; a layer's own module (a ``torch.nn`` class
    that is not a container) is not among them."""
    chain = [(path, cls.rsplit(".", 1)[-1], cls) for path, cls in op.modules]
    while chain and chain[-1][2].startswith("torch.nn.") and chain[-1][1] not in CONTAINERS:
        chain.pop()
    return tuple((path, name) for path, name, _ in chain)


def import_onnx(path: str | os.PathLike, input_shapes: Sequence[Sequence[int]] | None = None,
                flat: bool = False) -> ImportResult:
    """Import the ONNX file ``path`` with its initializers as weights.

    Parameters
    ----------
    path : path-like
        The ``.onnx`` file; external data must sit in its folder.
    input_shapes : list of shapes, optional
        Per-sample shape of each input (without the batch dim); needed only when
        the file leaves a dim other than the batch open.
    flat : bool
        One sheet of layers; by default the modules the exporter recorded for each
        operator (torch's exporter writes them, as in ``/layer1/layer1.0/conv1/Conv``)
        become blocks, as in a PyTorch import (see :mod:`.hierarchy`).

    Raises
    ------
    ModelImportError
        Listing every operator LayerLoom cannot map (by type and node name), or
        saying why the file cannot be read or run.
    """
    from onnx import numpy_helper

    path = Path(path)
    title = path.stem
    proto = load_model(path)
    arrays = {t.name: numpy_helper.to_array(t) for t in proto.graph.initializer}
    inputs = _inputs(proto, input_shapes, title)
    fixed = sorted({i.fixed_batch for i in inputs} - {None, 0})  # 0 or None: a free batch dim
    if len(fixed) > 1:
        raise ModelImportError(f"the inputs of {title} fix different batch sizes ({', '.join(map(str, fixed))})")
    batch = fixed[0] if fixed else RECORD_BATCH
    notes = [f"input {i.name!r} is {np.dtype(i.numpy).name} in {path.name}; the imported graph takes "
             f"{'float32' if i.dtype == 'float' else 'int64'}"
             for i in inputs if np.dtype(i.numpy) not in (np.dtype(np.float32), np.dtype(np.int64))]
    if fixed:
        notes.append(f"{path.name} fixes the batch size at {batch}; the imported graph takes any batch size")
    notes += [f"input {i.name!r} has its batch in dim 1 in {path.name} (its only open dim); the imported graph "
              "takes it batch first" for i in inputs if i.batch_dim]
    limit = _token_limit(proto, arrays, inputs)
    feeds = _feeds(inputs, batch, limit, seed=0)
    values = {**feeds, **_run(_session(proto, path, expose=True), feeds, path)}
    outputs = [o.name for o in proto.graph.output]
    ops = _ops(proto.graph)
    description = f"Imported from {path.name}"

    def attempt(modes: dict[str, str]) -> OnnxMapper:
        mapper = OnnxMapper(ops, arrays, values, inputs, batch, modes, _opset(proto), title, description)
        mapper.builder.keep_modules = not flat
        mapper.run(inputs, outputs)
        return mapper

    mapper = map_until_settled(attempt, path.name, "operator")
    model, origins = mapper.builder.finish()
    notes += mapper.builder.notes
    difference = _check(model, inputs, feeds, [values[o] for o in outputs], title)
    if not fixed:  # onnxruntime runs the file on the batch it declares only
        other = _feeds(inputs, CHECK_BATCH, limit, seed=1)
        expected = _run(_session(proto, path, expose=False), other, path)
        difference = max(difference, _check(model, inputs, other, [expected[o] for o in outputs], title))
    dims = [i.batch_dim for i in inputs]
    return ImportResult(mapper.builder.graph, model, origins, notes, difference, dims if any(dims) else [])


def _check(model, inputs, feeds, expected, title: str) -> float:
    tensors = [torch.from_numpy(feeds[i.name]).movedim(i.batch_dim, 0) for i in inputs]
    tensors = [t.long() if i.dtype == "long" else t.float() for t, i in zip(tensors, inputs, strict=True)]
    with torch.no_grad():
        got = as_tuple(model(*tensors))
    return compare(got, [_as_graph_dtype(torch.from_numpy(np.asarray(e))) for e in expected], title)


def _as_graph_dtype(tensor: torch.Tensor) -> torch.Tensor:
    """float64 / float16 as float32, int32 as int64: what the imported graph computes in."""
    if tensor.is_floating_point():
        return tensor.float()
    return tensor.long() if tensor.dtype in (torch.int32, torch.int16, torch.int8, torch.uint8) else tensor
