"""How the ONNX operators of tensor operations become LayerLoom's Tensor layers.

What torch 2.13's exporter writes for them: ``Split`` (sizes as an input, or
``num_outputs``), ``Slice``, ``Gather`` with a constant index (Select; a list of
positions is IndexSelect), ``GatherElements``, ``Concat`` of ``Unsqueeze`` (Stack),
``Expand``, ``Tile``, the ``Reduce*`` operators (``ReduceMean`` keeps its
GlobalAvgPool mapping where one dim is left), ``ArgMax`` / ``ArgMin``, ``Cast``
and ``RandomNormalLike``. Transpose, Reshape, Flatten, Squeeze and Unsqueeze
keep their general rules.

A constant the model uses where a computed tensor belongs (an initializer added
to the input, a class token expanded over the batch from the input's ``Shape``)
becomes a node repeated over the batch: a Parameter when it is a float
initializer of several values (ONNX does not mark what was trained; LayerLoom
keeps those trainable), else a Constant.
"""

from __future__ import annotations

import numpy as np

from layerloom.backend.importers import onnx_rules as general
from layerloom.backend.importers.common import RecurrentPart, Unsupported, Value, refuse
from layerloom.backend.importers.held_tensors import held_label
from layerloom.backend.importers.onnx_ops import Derived
from layerloom.backend.importers.rules_tensor import Stacked
from layerloom.graph.errors import ParamError
from layerloom.graph.layers.merge import MAX_INPUTS
from layerloom.graph.layers.tensor_shape import MAX_PARTS, chunk_sizes

FLOAT_TYPES, LONG_TYPES = {1, 10, 11}, {6, 7}  # ONNX element types: FLOAT, FLOAT16, DOUBLE; INT32, INT64
REDUCE_OPS = {
    "ReduceMean": "mean", "ReduceSum": "sum", "ReduceMax": "max", "ReduceMin": "min",
    "ReduceProd": "prod", "ReduceLogSumExp": "logsumexp",
}
PASSING = ("Expand", "Tile", "Reshape", "Unsqueeze", "Squeeze", "Identity", "Slice", "Gather", "Cast", "Flatten")
INT64_MAX = 2**63 - 1


# ------------------------------------------------------- constants as tensors
def constant_tensor(mp, op):
    """A constant used as a tensor: a Parameter or Constant node, once per name."""
    name = op.inputs[0]
    refuse(not isinstance(mp.env.get(name), Derived), "is not a constant")
    made = mp.__dict__.setdefault("tensor_constants", {})
    if name not in made:
        made[name] = _make_constant(mp, name)
    return made[name]


def _value_of(mp, name: str) -> np.ndarray:
    found = mp.arrays.get(name)
    return np.asarray(found if found is not None else mp.values[name])


def _make_constant(mp, name: str) -> Value:
    value = _value_of(mp, name)
    full = value.shape
    ranks = [mp.values[o.outputs[0]].ndim for o in mp.ops if name in o.inputs and o.outputs and o.outputs[0] in mp.values]
    rank = max(ranks, default=len(full))
    if rank > len(full):
        per, tensor = (1,) * (rank - 1 - len(full)) + tuple(full), value
    elif rank == len(full) and full and full[0] == 1:
        per, tensor = tuple(full[1:]), value
    elif rank == len(full) and full and full[0] == mp.batch and (value == value[:1]).all():
        per, tensor = tuple(full[1:]), value[:1]  # repeated over the batch already
    else:
        raise Unsupported(f"uses the constant {name!r} of shape {full} where its first dim meets the batch")
    refuse(not per, f"uses the constant {name!r} as one number per sample")
    tensor = np.ascontiguousarray(tensor).reshape(1, *per)
    like = _batch_source(mp, name)
    origin = _initializer(mp, name)
    try:
        if np.issubdtype(tensor.dtype, np.floating):
            tensor = tensor.astype(np.float32)
            if origin is not None and mp.arrays[origin].size == tensor.size > 1:
                return mp.builder.add("parameter", {"shape": list(per)}, [like], per, label=held_label(origin),
                                      weights={"weight": tensor}, sources={"weight": origin})
            dtype = "float"
        elif np.issubdtype(tensor.dtype, np.integer):
            tensor, dtype = tensor.astype(np.int64), "long"
        else:
            raise Unsupported(f"uses the {tensor.dtype} constant {name!r}; LayerLoom's constants are float or long")
        flat = tensor.reshape(-1)
        params = {"shape": list(per), "dtype": dtype}
        if (flat == flat[0]).all():
            params["fill"] = float(flat[0])
        elif flat.size <= 8:
            params["values"] = [float(v) for v in flat]
        return mp.builder.add("constant", params, [like], per, weights={"value": tensor}, dtype=dtype,
                              label=held_label(origin) if origin else "",
                              sources={"value": origin} if origin else None)
    except ParamError as exc:
        raise Unsupported(str(exc)) from None


def _initializer(mp, name: str) -> str | None:
    """The initializer ``name`` is (or is expanded, reshaped or cut from)."""
    for _ in range(16):
        if name in mp.arrays:
            return name
        producer = mp.producers.get(name)
        if producer is None or producer.op_type not in PASSING or not producer.inputs:
            return None
        name = producer.inputs[0]
    return None


def _batch_source(mp, name: str) -> Value:
    """The input whose ``Shape`` the constant was expanded with, or the first input."""
    todo, seen = [name], set()
    while todo and len(seen) < 256:
        current = todo.pop(0)
        if current in seen:
            continue
        seen.add(current)
        producer = mp.producers.get(current)
        if producer is None:
            continue
        if producer.op_type in ("Shape", "Size") and isinstance(mp.env.get(producer.inputs[0]), Value):
            return mp.env[producer.inputs[0]]
        todo.extend(n for n in producer.inputs if n)
    for spec in mp.inputs:
        found = mp.env.get(spec.name)
        if isinstance(found, Value):
            return found
    raise Unsupported("finds no input with a batch to repeat the constant over")


# ------------------------------------------------------------- cut and join
def _axis(axis: int, rank: int, what: str) -> int:
    refuse(not -rank <= axis < rank, f"axis {axis} is out of range for rank {rank}")
    refuse(axis % rank == 0, f"{what} the batch dim; LayerLoom keeps every sample apart")
    return axis % rank


def split(mp, op):
    x = mp.tensor(op.inputs[0])
    axis = _axis(int(op.attrs.get("axis", 0)), x.rank + 1, "splits")
    outputs = [o for o in op.outputs if o]
    sizes = [mp.full_shape(o)[axis] for o in outputs]
    if len(outputs) == 1:
        return x
    refuse(len(sizes) > MAX_PARTS, f"cuts into {len(sizes)} parts; LayerLoom's Split gives {MAX_PARTS} at most")
    if "num_outputs" in op.attrs and sizes == chunk_sizes(len(sizes), x.shape[axis - 1]):
        first = mp.add(op, "chunk", {"chunks": len(sizes), "dim": axis}, [x])
    else:
        first = mp.add(op, "split", {"sizes": sizes, "dim": axis}, [x])
    for i, name in enumerate(outputs):
        mp.env[name] = mp.builder.port_of(first, f"out{i + 1}", mp.shape(name), x.dtype)
    return mp.env[outputs[0]]


def _ints(mp, op, index: int, attr: str) -> list[int] | None:
    """A list of ints given as the op's attribute (older opsets) or constant input."""
    if attr in op.attrs:
        return [int(v) for v in op.attrs[attr]]
    found = mp.optional_const(op, index, attr)
    return None if found is None else [int(v) for v in np.asarray(found).reshape(-1)]


def _one_part(mp, user, name: str) -> bool:
    """Whether ``user`` takes one part of the stacked dim 0 of ``name``: a Gather of a
    scalar, or a Slice of length 1 whose every use squeezes that dim away."""
    if user.inputs[0] != name:
        return False
    if user.op_type == "Gather":
        return int(user.attrs.get("axis", 0)) == 0 and mp.is_const(user.inputs[1]) and \
            np.asarray(mp.const(user.inputs[1])).ndim == 0
    if user.op_type == "Slice":
        if not all(mp.is_const(n) for n in user.inputs[1:] if n):
            return False
        axes = _ints(mp, user, 3, "axes") or [0]
        squeezes = [o for o in mp.ops if user.outputs[0] in o.inputs]
        return axes == [0] and bool(squeezes) and all(
            o.op_type == "Squeeze" and o.inputs[0] == user.outputs[0] and _ints(mp, o, 1, "axes") == [0]
            for o in squeezes)
    return False


def transpose(mp, op):
    """A Transpose that stacks parts in front of the batch (``perm [2, 0, 3, 1, 4]``,
    ViT's and GPT's split of q, k and v) and whose every use takes one part: a
    :class:`~layerloom.backend.importers.rules_tensor.Stacked`; others as before."""
    name = op.inputs[0]
    perm = [int(p) for p in op.attrs.get("perm", ())]
    if len(perm) > 2 and perm[0] != 0 and perm[1] == 0 and isinstance(mp.entry(name), Value):
        users = [o for o in mp.ops if op.outputs[0] in o.inputs]
        if users and all(_one_part(mp, u, op.outputs[0]) for u in users):
            return Stacked(mp.tensor(name), perm)
    return transpose.previous(mp, op)


def slice_(mp, op):
    found = mp.entry(op.inputs[0])
    if isinstance(found, Stacked):  # one part, squeezed by each of its uses
        start = int(np.asarray(mp.const(op.inputs[1])).reshape(-1)[0])
        end = int(np.asarray(mp.const(op.inputs[2])).reshape(-1)[0])
        picked = range(found.count)[slice(start, end)]
        refuse(len(picked) != 1, f"takes parts {start}:{end} of {found.count} stacked parts")
        return found.part(mp, picked[0])
    if isinstance(found, RecurrentPart):
        return slice_.previous(mp, op)
    x = mp.tensor(op.inputs[0])
    starts, ends = (mp.const(n, "the bounds").reshape(-1).tolist() for n in op.inputs[1:3])
    axes = mp.optional_const(op, 3, "the axes")
    steps = mp.optional_const(op, 4, "the steps")
    rank = x.rank + 1
    axes = list(range(len(starts))) if axes is None else axes.reshape(-1).tolist()
    steps = [1] * len(starts) if steps is None else steps.reshape(-1).tolist()
    out = x
    for start, end, axis, step in zip(starts, ends, axes, steps, strict=True):
        refuse(step < 1, f"slices with step {step}; LayerLoom's Slice steps forward")
        axis = axis % rank
        if axis == 0:
            refuse(len(range(*slice(start, end, step).indices(mp.batch))) != mp.batch, "slices the batch dim")
            continue
        size = out.shape[axis - 1]
        start, end = max(min(start, size), -size), max(min(end, size), -size - 1)
        length = len(range(*slice(start, end, step).indices(size)))
        refuse(length == 0, f"slices axis {axis} to nothing")
        if length == size:
            continue
        params = {"dim": axis, "start": start, "end": None if end >= size else end, "step": step}
        shape = out.shape[:axis - 1] + (length,) + out.shape[axis:]
        out = mp.builder.add("slice", params, [out], shape, dtype=x.dtype)
    return out


def gather(mp, op):
    data, indices = op.inputs[:2]
    found = mp.entry(data)
    if isinstance(found, Stacked):
        return found.part(mp, int(np.asarray(mp.const(indices)).reshape(-1)[0]))
    if isinstance(mp.entry(data), RecurrentPart) or mp.is_const(data):
        return gather.previous(mp, op)  # a recurrent layer's step or row, an Embedding
    refuse(not mp.is_const(indices),
           "gathers at positions computed from the inputs, across the whole batch; LayerLoom gathers per sample")
    x = mp.tensor(data)
    axis = _axis(int(op.attrs.get("axis", 0)), x.rank + 1, "gathers along")
    index = mp.const(indices, "the index")
    if index.ndim == 0:
        return mp.add(op, "select", {"dim": axis, "index": int(index)}, [x])
    refuse(index.ndim != 1, f"gathers with an index of shape {index.shape}")
    positions = mp.builder.add("constant", {"shape": [index.size], "dtype": "long",
                                            **({"values": [float(v) for v in index]} if index.size <= 8 else {})},
                               [x], (index.size,), weights={"value": index.astype(np.int64).reshape(1, -1)},
                               dtype="long")
    return mp.add(op, "index_select", {"dim": axis}, [x, positions])


def gather_elements(mp, op):
    x = mp.tensor(op.inputs[0])
    axis = _axis(int(op.attrs.get("axis", 0)), x.rank + 1, "gathers along")
    return mp.add(op, "gather", {"dim": axis}, [x, mp.tensor(op.inputs[1])])


def concat(mp, op):
    """Concat of Unsqueeze on the same axis is a Stack; other joins as before."""
    names = [n for n in op.inputs if n]
    producers = [mp.producers.get(n) for n in names]
    if 1 < len(names) <= MAX_INPUTS and all(p is not None and p.op_type == "Unsqueeze" for p in producers):
        rank = len(mp.full_shape(op.outputs[0]))
        axis = int(op.attrs["axis"]) % rank
        axes = [p.attrs.get("axes") or (mp.const(p.inputs[1]).reshape(-1).tolist() if len(p.inputs) > 1 else None)
                for p in producers]
        sources = [p.inputs[0] for p in producers]
        if all(a is not None and len(a) == 1 and int(a[0]) % rank == axis for a in axes) and axis != 0 and all(
            isinstance(mp.env.get(s), Value) for s in sources
        ):
            return mp.add(op, "stack", {"inputs": len(names), "dim": axis}, [mp.tensor(s) for s in sources])
    return concat.previous(mp, op)


def expand(mp, op):
    x = mp.lazy(op.inputs[0])
    target = mp.shape(op.outputs[0])
    if target == x.shape:
        return x
    refuse(len(target) != x.rank, f"expands {x.shape} to {target}, adding dims")
    sizes = [-1 if a == b else b for a, b in zip(x.shape, target, strict=True)]
    return mp.add(op, "expand", {"sizes": sizes}, [mp.builder.materialise(x)])


def tile(mp, op):
    x = mp.tensor(op.inputs[0])
    repeats = mp.const(op.inputs[1], "the repeats").reshape(-1).tolist()
    refuse(repeats[0] != 1, "repeats the batch")
    if all(r == 1 for r in repeats):
        return x
    return mp.add(op, "repeat", {"repeats": [int(r) for r in repeats[1:]]}, [x])


# ---------------------------------------------------------------- reductions
def _reduce(kind: str):
    def rule(mp, op):
        x = mp.tensor(op.inputs[0])
        axes = op.attrs.get("axes")
        if axes is None and len(op.inputs) > 1 and op.inputs[1]:
            axes = mp.const(op.inputs[1], "the axes").reshape(-1).tolist()
        refuse(not axes, "reduces every value of the batch")
        dims = sorted({_axis(int(a), x.rank + 1, "reduces") for a in axes})
        if kind == "mean" and x.rank - len(dims) == 1:
            return general.reduce_mean(mp, op)  # GlobalAvgPool
        params = {"op": kind, "dims": dims, "keepdim": bool(op.attrs.get("keepdims", 1))}
        return mp.add(op, "reduce", params, [x])

    return rule


def _arg(kind: str):
    def rule(mp, op):
        x = mp.tensor(op.inputs[0])
        refuse(bool(op.attrs.get("select_last_index", 0)), "select_last_index=1; LayerLoom takes the first")
        axis = _axis(int(op.attrs.get("axis", 0)), x.rank + 1, f"arg{kind}s over")
        return mp.add(op, f"arg{kind}", {"dim": axis, "keepdim": bool(op.attrs.get("keepdims", 1))}, [x])

    return rule


def cast(mp, op):
    """A cast to float or long; other casts (to bool: a mask) go to the rule this
    one took the place of."""
    to = int(op.attrs.get("to", 0))
    if to not in FLOAT_TYPES | LONG_TYPES and cast.previous is not None:
        return cast.previous(mp, op)
    refuse(to not in FLOAT_TYPES | LONG_TYPES, f"converts to ONNX element type {to}; LayerLoom's values are float or long")
    target = "float" if to in FLOAT_TYPES else "long"
    x = mp.lazy(op.inputs[0])
    if x.dtype == target:
        return x
    return mp.add(op, "cast", {"dtype": target}, [mp.builder.materialise(x)])


def random_normal_like(mp, op):
    x = mp.tensor(op.inputs[0])
    refuse(x.dtype != "float", "draws noise like token ids")
    params = {"mean": float(op.attrs.get("mean", 0.0)), "std": float(op.attrs.get("scale", 1.0))}
    return mp.add(op, "random_normal", params, [x])


def _with_constant(general_rule, type_id: str):
    """``Add`` / ``Mul`` of a computed tensor and a constant one of its shape (a
    position table, a scale): the constant becomes a Parameter or Constant node.
    The general rule's cases (a Dense's bias, a positional encoding) come first."""

    def with_constant(mp, op):
        try:
            return with_constant.previous(mp, op)
        except Unsupported:
            a, b = op.inputs[:2]
            if mp.is_const(a) == mp.is_const(b):
                raise
        x, y = (mp.tensor(n) for n in op.inputs[:2])
        refuse(x.shape != y.shape, f"broadcasts {x.shape} and {y.shape}; LayerLoom needs equal shapes")
        return mp.merge(op, type_id, [x, y])

    with_constant.previous = general_rule  # families.py may give the rule this one replaces
    return with_constant


# Rules that hand the cases they do not handle to the rule they replace.
slice_.previous = general.slice_
transpose.previous = general.transpose
cast.previous = None
gather.previous = general.gather
concat.previous = general.concat

ONNX = {
    general.CONSTANT_TENSOR: constant_tensor,
    "Add": _with_constant(general.add, "add"),
    "Mul": _with_constant(general.mul, "multiply"),
    "Split": split,
    "Slice": slice_,
    "Transpose": transpose,
    "Gather": gather,
    "GatherElements": gather_elements,
    "Concat": concat,
    "Expand": expand,
    "Tile": tile,
    **{op_type: _reduce(kind) for op_type, kind in REDUCE_OPS.items()},
    "ArgMax": _arg("max"),
    "ArgMin": _arg("min"),
    "Cast": cast,
    "RandomNormalLike": random_normal_like,
}
