"""How ONNX operators become LayerLoom nodes (see :mod:`layerloom.backend.importers.onnx`).

:data:`RULES` maps an operator type to a rule ``(mapper, op) -> entry`` that
returns what the operator's first output is (rules with several outputs set the
others on ``mapper.env``). The rules cover what torch 2.13's exporter
(``dynamo=True``) writes for LayerLoom's layers, checked layer by layer:

- Dense: ``Gemm`` on features, ``MatMul`` by a constant then ``Add`` on sequences;
- ``ReduceMean`` (GlobalAvgPool), ``BatchNormalization`` (a BatchNorm right
  after a convolution is folded into the convolution by the exporter),
  ``LayerNormalization``;
- activations (SiLU arrives as ``Sigmoid`` and ``Mul``), ``Reshape``, ``Flatten``,
  ``Transpose`` (Permute), ``Add``, ``Mul``, ``Concat``;
- Embedding as ``Gather`` from a table, PositionalEncoding as ``Add`` of a slice
  of its table;
- LSTM and GRU as ``LSTM`` and ``GRU`` operators, with the transposes, reshapes
  and ``Gather`` of the last step around them (:mod:`~layerloom.backend.importers.onnx_recurrent`).

Dropout is left out of exported files. The layer families add their operators
(convolutions, pooling and ``Resize`` in ``rules_conv`` and ``rules_resampling``,
arithmetic in ``rules_math_onnx``, ...) through
:mod:`~layerloom.backend.importers.families`.
"""

from __future__ import annotations

import math

import numpy as np

from layerloom.backend.importers import recurrent as rnn
from layerloom.backend.importers.common import (
    RecurrentPart,
    TimeMajor,
    Unsupported,
    Value,
    label_of,
    refuse,
)
from layerloom.backend.importers.onnx_ops import DERIVED, Op
from layerloom.backend.importers.onnx_recurrent import recurrent_rule

# RULES[CONSTANT_TENSOR], when a family gives it, is called as ``rule(mapper, op)``
# with ``op.inputs[0]`` a constant the model uses where a computed tensor belongs
# (an initializer added to the input, an expanded class token); it returns a Value.
CONSTANT_TENSOR = "LayerLoomConstant"


def _symmetric(pads, nd: int) -> tuple[int, ...]:
    pads = list(pads or [0] * (2 * nd))
    refuse(pads[:nd] != pads[nd:], f"pads {pads} differ at the start and end; LayerLoom pads both sides alike")
    return tuple(int(p) for p in pads[:nd])


def _float(value) -> float:
    """An ONNX float attribute (stored as float32) as the decimal it was written
    from: 9.999999747e-06 -> 1e-05."""
    return float(f"{float(value):.7g}")


def _ints(values, nd: int, default: int = 1) -> tuple[int, ...]:
    return tuple(int(v) for v in values) if values else (default,) * nd


# ------------------------------------------------------------------- layers
def gemm(mp, op):
    a = op.attrs
    refuse(a.get("transA", 0) != 0, "transA=1")
    refuse(a.get("alpha", 1.0) != 1.0 or a.get("beta", 1.0) != 1.0, "alpha or beta is not 1")
    x = mp.tensor(op.inputs[0])
    w = mp.const(op.inputs[1], "the weight matrix")
    weight = w if a.get("transB", 0) else w.T
    bias = mp.optional_const(op, 2, "the bias")
    return _dense(mp, op, x, weight, bias)


def _dense(mp, op, x: Value, weight, bias) -> Value:
    units = weight.shape[0]
    weights = {"weight": weight}
    sources = {"weight": op.inputs[1]}
    if bias is not None:
        weights["bias"] = np.broadcast_to(bias, (units,)).astype(np.float32)
        sources["bias"] = op.inputs[2]
    return mp.add(op, "dense", {"units": units, "bias": bias is not None}, [x],
                  weights=weights, sources=sources, label=label_of(op.inputs[1]))


def matmul(mp, op):
    a, b = op.inputs[:2]
    if not _is_const(mp, b):
        raise Unsupported(
            "multiplies two computed tensors, as attention does; LayerLoom rebuilds attention layers "
            "from PyTorch models (layerloom import FILE.py:Class), not from their ONNX decomposition"
        )
    w = mp.const(b, "the weight matrix")
    refuse(w.ndim != 2, f"multiplies by a constant of shape {w.shape}; Dense needs a matrix")
    value = _dense(mp, op, mp.tensor(a), w.T, None)
    mp.matmuls.add(value.node)
    return value


def _is_const(mp, name: str) -> bool:
    return mp.is_const(name)


def add(mp, op):
    a, b = op.inputs[:2]
    if _is_const(mp, a) or _is_const(mp, b):
        x_name, c_name = (b, a) if _is_const(mp, a) else (a, b)
        x = mp.lazy(x_name)
        c = mp.const(c_name)
        if (
            x.node in mp.matmuls and mp.made_by.get(x.node) == x_name and mp.consumers[x_name] == 1
            and x.shape == x.node_shape and not mp.builder.graph.node(x.node).params["bias"]
            and c.ndim >= 1 and c.shape[-1] == x.shape[-1] == c.size
        ):
            mp.builder.set_param(x, "bias", True)
            mp.builder.add_weights(x.node, {"bias": c.reshape(-1).astype(np.float32)}, {"bias": c_name})
            return x
        encoding = _positional_encoding(mp, op, x_name, c_name)
        if encoding is not None:
            return encoding
        raise Unsupported("adds a constant tensor; LayerLoom's Add joins computed tensors")
    return _merge(mp, op, "add")


def _positional_encoding(mp, op, x_name: str, c_name: str) -> Value | None:
    """``x + pe[:T]`` on a (T, E) sequence: a PositionalEncoding, sinusoidal when
    the table is the sine/cosine one, else learned (the table is its weight)."""
    from layerloom.backend.lowerings.attention import PositionalEncoding

    x = mp.tensor(x_name)
    c = mp.const(c_name)
    if x.rank != 2 or c.shape[-2:] != x.shape or c.size != x.shape[0] * x.shape[1]:
        return None
    c = c.reshape(x.shape)
    table, source = c, c_name
    producer = mp.producers.get(c_name)
    if producer is not None and producer.op_type in ("Slice", "Gather") and producer.inputs[0] in mp.arrays:
        full = mp.arrays[producer.inputs[0]]
        if full.ndim == 2 and full.shape[1] == x.shape[1] and full.shape[0] >= x.shape[0]:
            if np.array_equal(full[: x.shape[0]], c):
                table, source = full, producer.inputs[0]
    max_len = table.shape[0]
    sinusoidal = PositionalEncoding.sinusoidal(max_len, x.shape[1]).numpy()
    params = {"max_len": max_len, "dropout": 0.0}
    if np.allclose(table, sinusoidal, atol=1e-6):
        return mp.add(op, "positional_encoding", {**params, "kind": "sinusoidal"}, [x], label=label_of(source))
    return mp.add(op, "positional_encoding", {**params, "kind": "learned"}, [x],
                  weights={"pe": table}, sources={"pe": source}, label=label_of(source))


def mul(mp, op):
    if any(_is_const(mp, n) for n in op.inputs[:2]):
        raise Unsupported("multiplies by a constant tensor; LayerLoom's Multiply joins computed tensors")
    return _merge(mp, op, "multiply")


def _merge(mp, op, type_id: str):
    x, y = (mp.tensor(n) for n in op.inputs[:2])
    refuse(x.shape != y.shape, f"broadcasts {x.shape} and {y.shape}; LayerLoom needs equal shapes")
    return mp.merge(op, type_id, [x, y])


def _auto_pad(a, nd: int, strides):
    mode = a.get("auto_pad", "NOTSET")
    if mode == "VALID":
        return "valid"
    if mode == "SAME_UPPER" and all(s == 1 for s in strides):
        return "same"
    refuse(mode != "NOTSET", f"auto_pad={mode}")
    return _symmetric(a.get("pads"), nd)


def global_average_pool(mp, op):
    x = mp.tensor(op.inputs[0])
    return mp.builder.mean(x, range(1, x.rank), keepdim=True)


def reduce_mean(mp, op):
    x = mp.tensor(op.inputs[0])
    axes = op.attrs.get("axes")
    if axes is None and len(op.inputs) > 1 and op.inputs[1]:
        axes = mp.const(op.inputs[1], "the axes").reshape(-1).tolist()
    refuse(not axes, "averages every value")
    axes = [int(d) % (x.rank + 1) for d in axes]
    refuse(0 in axes, "averages over the batch")
    return mp.builder.mean(x, [d - 1 for d in axes], bool(op.attrs.get("keepdims", 1)))


def batch_norm(mp, op):
    refuse(bool(op.attrs.get("training_mode", 0)), "training_mode=1")
    mp.unused(op, 1, 2)
    x = mp.tensor(op.inputs[0])
    scale, shift, mean, var = (mp.const(n, "the statistics") for n in op.inputs[1:5])
    momentum = _float(1.0 - float(op.attrs.get("momentum", 0.9)))
    params = {"eps": _float(op.attrs.get("epsilon", 1e-5)), "momentum": min(max(momentum, 0.0), 1.0)}
    weights = {"weight": scale, "bias": shift, "running_mean": mean, "running_var": var,
               "num_batches_tracked": np.array(0, dtype=np.int64)}
    sources = dict(zip(("weight", "bias", "running_mean", "running_var"), op.inputs[1:5], strict=True))
    return mp.add(op, "batch_norm", params, [x], weights=weights, sources=sources, label=label_of(op.inputs[1]))


def layer_norm(mp, op):
    mp.unused(op, 1, 2)
    x = mp.tensor(op.inputs[0])
    axis = int(op.attrs.get("axis", -1)) % (x.rank + 1)
    refuse(axis == 0, "normalises over the batch")
    dims = x.rank + 1 - axis
    scale = mp.const(op.inputs[1], "the scale")
    bias = mp.optional_const(op, 2, "the bias")
    refuse(tuple(scale.shape) != x.shape[x.rank - dims:], f"a scale of shape {scale.shape}")
    params = {"dims": dims, "eps": _float(op.attrs.get("epsilon", 1e-5)), "elementwise_affine": True,
              "bias": bias is not None}
    weights, sources = {"weight": scale}, {"weight": op.inputs[1]}
    if bias is not None:
        weights["bias"], sources["bias"] = bias, op.inputs[2]
    return mp.add(op, "layer_norm", params, [x], weights=weights, sources=sources, label=label_of(op.inputs[1]))


# -------------------------------------------------------------- activations
FOLDABLE = {"relu": {}, "sigmoid": {}, "tanh": {}, "silu": {}, "gelu": {"approximate": "none"},
            "elu": {"alpha": 1.0}, "leaky_relu": {"negative_slope": 0.01}}


def _activation(type_id: str, params=lambda mp, op, x: {}):
    def rule(mp, op):
        name = op.inputs[0]
        x = mp.tensor(name)
        values = params(mp, op, x)
        foldable = FOLDABLE.get(type_id)
        if type_id == "softmax" and values.get("dim") in (-1, x.rank):
            foldable = dict(values)
        if foldable is not None and all(np.isclose(values.get(k, v), v) if isinstance(v, float) else values.get(k, v) == v
                                        for k, v in foldable.items()):
            folded = mp.fold(name, x, type_id)
            if folded is not None:
                return folded
        return mp.add(op, type_id, values, [x])

    return rule


def _softmax_axis(mp, op, x):
    default = -1 if mp.opset >= 13 else 1
    return {"dim": int(op.attrs.get("axis", default))}


def _softmax(type_id: str):
    """Softmax / LogSoftmax over one dim; before opset 13, over every dim from
    ``axis`` on as one (the values flattened, normalised, put back in shape)."""
    plain = _activation(type_id, _softmax_axis)

    def rule(mp, op):
        x = mp.tensor(op.inputs[0])
        axis = int(op.attrs.get("axis", -1 if mp.opset >= 13 else 1)) % (x.rank + 1)
        if mp.opset >= 13 or axis == x.rank:
            return plain(mp, op)
        refuse(axis == 0, "normalises over the batch")
        flat = mp.builder.materialise(x.viewed([*x.shape[:axis - 1], math.prod(x.shape[axis - 1:])]))
        out = mp.builder.add(type_id, {"dim": axis}, [flat], flat.shape)
        return out.viewed(x.shape)

    return rule


# ------------------------------------------------------- shapes and merges
def reshape(mp, op):
    """Reshape / Flatten / Squeeze / Unsqueeze: the recorded result shape."""
    name = op.inputs[0]
    found = mp.entry(name)
    if isinstance(found, RecurrentPart):
        return _recurrent_reshape(mp, op, found)
    return mp.lazy(name).viewed(mp.shape(op.outputs[0]))


def _recurrent_reshape(mp, op, part: RecurrentPart):
    rec = part.rec
    out = mp.full_shape(op.outputs[0])
    width = rec.hidden * rec.dirs
    if part.kind == "yt" and op.op_type == "Reshape" and out == (rec.steps, mp.batch, width):
        return RecurrentPart(rec, "seq_tm")
    if part.kind == "y" and op.op_type == "Squeeze" and rec.dirs == 1 and out == (rec.steps, mp.batch, rec.hidden):
        return RecurrentPart(rec, "seq_tm")
    if part.kind == "hn" and op.op_type == "Squeeze" and len(part.rows) == 1:
        return rnn.squeeze_rows(part)
    if part.kind in ("seq", "last"):
        return rnn.materialise(part).viewed(mp.shape(op.outputs[0]))
    raise Unsupported(f"reshapes {rnn.describe(part)}")


def transpose(mp, op):
    name = op.inputs[0]
    found = mp.entry(name)
    perm = [int(p) for p in op.attrs["perm"]]
    if isinstance(found, RecurrentPart):
        if found.kind == "y" and perm == [0, 2, 1, 3]:
            return RecurrentPart(found.rec, "yt")
        if found.kind == "seq_tm" and perm == [1, 0, 2]:
            return RecurrentPart(found.rec, "seq")
        if found.kind not in ("seq", "last"):
            raise Unsupported(f"transposes {rnn.describe(found)} with perm {perm}")
    if isinstance(found, TimeMajor):
        refuse(perm != [1, 0, 2], f"transposes a time-major sequence with perm {perm}")
        return found.value
    x = mp.tensor(name)
    if perm[0] == 0:
        if perm == sorted(perm):
            return x
        return mp.add(op, "permute", {"dims": perm[1:]}, [x])
    if len(perm) == 3 and perm[1] == 0:  # to (T, N, F) for a recurrent operator
        inner = [perm[1], perm[0], perm[2]]
        if inner != [0, 1, 2]:
            x = mp.builder.add("permute", {"dims": inner[1:]}, [x], [x.shape[d - 1] for d in inner[1:]])
        return TimeMajor(x)
    raise Unsupported(f"moves the batch dim (perm {perm}); the batch must stay first")


def concat(mp, op):
    names = [n for n in op.inputs if n]
    entries = [mp.entry(n) for n in names]
    axis = int(op.attrs["axis"])
    if all(isinstance(e, RecurrentPart) for e in entries):
        kinds = {e.kind for e in entries}
        if kinds == {"hn"}:
            refuse(axis != 0, f"joins hidden states on axis {axis}")
            return rnn.join_rows(entries)
        if kinds <= {"half_fwd", "half_bwd"}:
            return rnn.join_halves(entries)
    return mp.builder.concat([mp.tensor(n) for n in names], axis)


def identity(mp, op):
    return mp.entry(op.inputs[0])


def dropout(mp, op):
    mp.unused(op, 1)
    ratio = mp.optional_const(op, 1, "the ratio")
    p = _float(ratio if ratio is not None else op.attrs.get("ratio", 0.5))
    return mp.add(op, "dropout", {"p": p}, [mp.tensor(op.inputs[0])])


def gather(mp, op):
    data, indices = op.inputs[:2]
    axis = int(op.attrs.get("axis", 0))
    found = mp.entry(data)
    if isinstance(found, RecurrentPart):
        index = mp.const(indices, "the index")
        refuse(index.ndim != 0, "gathers several rows")
        if found.kind == "hn" and axis == 0:
            return rnn.select_row(found, int(index))
        if found.kind == "seq" and axis == 1:
            return rnn.select_step(found, int(index))
        raise Unsupported(f"indexes {rnn.describe(found)} on axis {axis}")
    if _is_const(mp, data) and axis == 0:
        table = mp.const(data)
        ids = mp.tensor(indices)
        refuse(table.ndim != 2 or ids.dtype != "long", "looks up something other than token vectors")
        params = {"num_embeddings": table.shape[0], "embedding_dim": table.shape[1], "padding_idx": -1}
        return mp.add(op, "embedding", params, [ids], weights={"weight": table},
                      sources={"weight": data}, label=label_of(data))
    raise Unsupported("indexes a tensor; LayerLoom has no indexing layer")


def slice_(mp, op):
    found = mp.entry(op.inputs[0])
    if isinstance(found, RecurrentPart) and found.kind.startswith("select"):
        starts, ends = (int(mp.const(n).reshape(-1)[0]) for n in op.inputs[1:3])
        axes = mp.optional_const(op, 3, "the axes")
        steps = mp.optional_const(op, 4, "the steps")
        refuse(axes is not None and int(axes.reshape(-1)[0]) % 2 != 1, "slices another axis than the features")
        step = int(steps.reshape(-1)[0]) if steps is not None else 1
        width = found.rec.hidden * found.rec.dirs
        return rnn.slice_features(found, slice(max(starts, -width), min(ends, width), step))
    raise Unsupported("slices a tensor; LayerLoom has no slicing layer")


def cast(mp, op):
    x = mp.lazy(op.inputs[0])
    refuse(op.attrs.get("to") != 1 or x.dtype != "float", "changes the element type")
    return x


def size_of(mp, op):
    """Shape / Size: a tensor's sizes are constants to the rest of the model."""
    return DERIVED


def silu(mp, op):
    return _activation("silu")(mp, op)


# ------------------------------------------------------------------ tables
RULES = {
    "Gemm": gemm,
    "MatMul": matmul,
    "Add": add,
    "Mul": mul,
    "GlobalAveragePool": global_average_pool,
    "ReduceMean": reduce_mean,
    "BatchNormalization": batch_norm,
    "LayerNormalization": layer_norm,
    "Relu": _activation("relu"),
    "Sigmoid": _activation("sigmoid"),
    "Tanh": _activation("tanh"),
    "LeakyRelu": _activation("leaky_relu", lambda mp, op, x: {"negative_slope": _float(op.attrs.get("alpha", 0.01))}),
    "Elu": _activation("elu", lambda mp, op, x: {"alpha": _float(op.attrs.get("alpha", 1.0))}),
    "Gelu": _activation("gelu", lambda mp, op, x: {"approximate": op.attrs.get("approximate", "none")}),
    "Softmax": _softmax("softmax"),
    "LogSoftmax": _softmax("log_softmax"),
    "LayerLoomSiLU": silu,
    "Flatten": reshape,
    "Reshape": reshape,
    "Squeeze": reshape,
    "Unsqueeze": reshape,
    "Transpose": transpose,
    "Concat": concat,
    "Identity": identity,
    "Dropout": dropout,
    "Gather": gather,
    "Slice": slice_,
    "Cast": cast,
    "Shape": size_of,
    "Size": size_of,
    "LSTM": recurrent_rule("lstm"),
    "GRU": recurrent_rule("gru"),
    "RNN": recurrent_rule("rnn"),
}


# More folds of the families, run after :func:`rewrite` (see families.py):
# ``fold(ops, model output names, initializer names) -> ops``.
REWRITES: list = []


def rewrite(ops: list) -> list:
    """Turn ``Mul(x, Sigmoid(x))`` into one SiLU operator (how SiLU is exported);
    the families' :data:`REWRITES` run after it."""
    users: dict[str, list] = {}
    for op in ops:
        for name in op.inputs:
            users.setdefault(name, []).append(op)
    replaced: dict[int, Op] = {}
    dropped: set[int] = set()
    for op in ops:
        if op.op_type != "Sigmoid" or op.domain not in ("", "ai.onnx"):
            continue
        x, y = op.inputs[0], op.outputs[0]
        consumers = users.get(y, [])
        if len(consumers) == 1 and consumers[0].op_type == "Mul" and sorted(consumers[0].inputs) == sorted([x, y]):
            mul_op = consumers[0]
            dropped.add(id(op))
            replaced[id(mul_op)] = Op("LayerLoomSiLU", mul_op.name, [x], list(mul_op.outputs))
    return [replaced.get(id(op), op) for op in ops if id(op) not in dropped]
