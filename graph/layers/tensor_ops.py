"""Tensor layers that compute or hold values: Gather, IndexSelect, Reduce,
ArgMax / ArgMin, Cast, and the learned and constant tensors (Parameter,
Constant, RandomNormal).

Every edge of a graph carries a batch, so a learned or constant tensor is a node
with one input, ``like``, from which only the batch size is read: its output is
the tensor repeated over the batch, ``(N, *shape)`` (an ``expand``, no copy). The
tensor itself is stored with a leading 1, ``(1, *shape)``, as hand-written models
keep a class token or a position table (``nn.Parameter(torch.zeros(1, 1, D))``).
"""

from __future__ import annotations

import math

from layerloom.graph.errors import ParamError, ShapeError
from layerloom.graph.layers._util import need_float, torch_dim
from layerloom.graph.layers.tensor_shape import DIM_RANGE
from layerloom.graph.params import Bool, Choice, Float, Floats, Int, Ints
from layerloom.graph.registry import Example, LayerSpec
from layerloom.graph.tensor import DTYPES, TensorSpec, fmt_shape

MAX_TENSOR_ELEMENTS = 10**8  # of a Parameter or Constant, checked before anything is allocated
REDUCTIONS = ("mean", "sum", "max", "min", "prod", "logsumexp", "var", "std")
FLOAT_ONLY = ("mean", "logsumexp", "var", "std")
INITS = ("zeros", "ones", "normal", "trunc_normal", "uniform")


def _no_flops(p, ins, outs) -> int:
    return 0


def _input_flops(p, ins, outs) -> int:
    return ins["in"].numel


def _ex(shape, dtype="float", **params) -> Example:
    return Example({"in": TensorSpec(shape, dtype)}, params)


# ------------------------------------------------------------- indexing
def _need_long(name: str, port: str, t: TensorSpec) -> None:
    if t.dtype != "long":
        raise ShapeError(f"{name} needs long indices on {port}; it receives float values {t}",
                         "feed it token ids or a Cast to long")


def _gather_rule(p, ins):
    t, index = ins["in"], ins["index"]
    _need_long("Gather", "index", index)
    if index.rank != t.rank:
        raise ShapeError(
            f"Gather needs an index of the same rank as the input; the input is {t} and the index {index}",
            "Reshape or Unsqueeze the index to the input's rank",
        )
    d = torch_dim("Gather", p["dim"], t.rank)
    for i, (have, want) in enumerate(zip(t.shape, index.shape, strict=True)):
        if i != d and want > have:
            raise ShapeError(
                f"Gather on dim {p['dim']}: the index {index} is larger than the input {t} at dim {i + 1}",
                f"the index may only be larger on dim {p['dim']}",
            )
    return {"out": TensorSpec(index.shape, t.dtype)}


def _index_select_rule(p, ins):
    t, index = ins["in"], ins["index"]
    _need_long("IndexSelect", "index", index)
    if index.rank != 1:
        raise ShapeError(f"IndexSelect needs one list of positions (K,) per sample; the index is {index}",
                         "Flatten the index, or use Gather for an index of the input's rank")
    d = torch_dim("IndexSelect", p["dim"], t.rank)
    shape = list(t.shape)
    shape[d] = index.shape[0]
    return {"out": t.with_shape(shape)}


# ------------------------------------------------------------- reductions
def reduced_dims(name: str, dims, rank: int) -> list[int]:
    """Per-sample indices of the torch ``dims`` reduced, checked and sorted."""
    found = [torch_dim(name, d, rank) for d in dims]
    if len(set(found)) != len(found):
        raise ShapeError(f"{name}: dims {list(dims)} name one dim twice (the input has rank {rank + 1}, N + {rank})",
                         "name each dim once")
    return sorted(found)


def _reduce_rule(p, ins):
    t = ins["in"]
    if p["op"] in FLOAT_ONLY:
        need_float(f"Reduce ({p['op']})", t)
    dims = reduced_dims("Reduce", p["dims"], t.rank)
    if p["keepdim"]:
        shape = tuple(1 if i in dims else d for i, d in enumerate(t.shape))
    else:
        shape = tuple(d for i, d in enumerate(t.shape) if i not in dims)
    return {"out": t.with_shape(shape)}


def _arg_rule(name: str):
    def rule(p, ins):
        t = ins["in"]
        d = torch_dim(name, p["dim"], t.rank)
        shape = tuple(1 if i == d else s for i, s in enumerate(t.shape)) if p["keepdim"] else t.shape[:d] + t.shape[d + 1:]
        return {"out": TensorSpec(shape, "long")}

    return rule


def _cast_rule(p, ins):
    return {"out": TensorSpec(ins["in"].shape, p["dtype"])}


# ------------------------------------------------- learned and constant tensors
def check_elements(shape) -> tuple:
    """``convert`` of a tensor's shape: refuses more than MAX_TENSOR_ELEMENTS values
    while the value is still a list of numbers, before anything is allocated."""
    if isinstance(shape, (list, tuple)) and shape and all(
        isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape
    ):
        count = math.prod(shape)
        if count > MAX_TENSOR_ELEMENTS:
            raise ParamError(
                f"shape {tuple(shape)} holds {count:,} values; a Parameter or Constant holds at most "
                f"{MAX_TENSOR_ELEMENTS:,} (10^8)"
            )
    return shape


def _tensor_shape(name: str, p) -> tuple[int, ...]:
    shape = tuple(p["shape"])
    count = math.prod(shape)
    if count > MAX_TENSOR_ELEMENTS:  # also when a file bypassed the param check
        raise ShapeError(f"{name} of shape {fmt_shape(shape)} holds {count:,} values, over the limit of "
                         f"{MAX_TENSOR_ELEMENTS:,}", "use a smaller shape")
    return shape


def _parameter_rule(p, ins):
    return {"out": TensorSpec(_tensor_shape("Parameter", p), "float")}


def _parameter_count(p, ins, outs) -> int:
    return math.prod(p["shape"])


def _constant_rule(p, ins):
    shape = _tensor_shape("Constant", p)
    values = p["values"]
    if values is not None and len(values) != math.prod(shape):
        raise ShapeError(
            f"Constant of shape {fmt_shape(shape)} needs {math.prod(shape)} values; it has {len(values)}: "
            f"{list(values)}", "give one value per element, or leave values unset and use fill",
        )
    if p["dtype"] == "long":
        given = values if values is not None else (p["fill"],)
        if any(not float(v).is_integer() for v in given):
            raise ShapeError(f"a long Constant holds whole numbers; it is given {list(given)}",
                             "use whole numbers or dtype float")
    return {"out": TensorSpec(shape, p["dtype"])}


def _random_rule(p, ins):
    t = ins["in"]
    need_float("RandomNormal", t)
    return {"out": t}


def _shape_param(default, help_text: str) -> Ints:
    return Ints("shape", default, help_text, minimum=1, key=True, convert=check_elements)


SPECS = [
    LayerSpec(
        "gather", "Gather", "Tensor",
        "Picks values along a dim at the positions of an index tensor, like torch.gather(x, dim, index).",
        (Int("dim", -1, "Dim the index points into (1 = first after the batch; -1 = last)", key=True, **DIM_RANGE),),
        _gather_rule, inputs=("in", "index"), flops=_no_flops,
        keywords=("index", "take along", "lookup", "gather_elements"),
        examples=(Example({"in": TensorSpec((3, 4)), "index": TensorSpec((3, 2), "long")}, {"dim": 2}, high=1),),
    ),
    LayerSpec(
        "index_select", "IndexSelect", "Tensor",
        "Takes the positions listed by an index (K,) along a dim, like torch.index_select(x, dim, index), "
        "each sample with its own index.",
        (Int("dim", 1, "Dim the positions are taken from (1 = first after the batch; -1 = last)", key=True,
             **DIM_RANGE),),
        _index_select_rule, inputs=("in", "index"), flops=_no_flops, keywords=("index", "take", "pick", "lookup"),
        examples=(Example({"in": TensorSpec((4, 5)), "index": TensorSpec((3,), "long")}, {"dim": 1}, high=1),),
    ),
    LayerSpec(
        "reduce", "Reduce", "Tensor",
        "Reduces dims to one value each: mean, sum, max, min, prod, logsumexp, var or std, like x.sum(dims, keepdim).",
        (Choice("op", "mean", REDUCTIONS, "The reduction (max and min give the values, like torch.amax)", key=True),
         Ints("dims", (-1,), "Dims to reduce (1 = first after the batch; -1 = last)", key=True, **DIM_RANGE),
         Bool("keepdim", False, "Keep each reduced dim with size 1"),
         Int("correction", 1, "var and std: divide by (count - correction); 1 is the unbiased estimate",
             minimum=0, maximum=1_000)),
        _reduce_rule, flops=_input_flops,
        keywords=("mean", "sum", "max", "min", "amax", "amin", "prod", "logsumexp", "var", "std", "average", "pool"),
        examples=(_ex((3, 4, 5), op="sum", dims=(1, -1), keepdim=False),
                  _ex((3, 4), op="mean", dims=(2,), keepdim=True),
                  _ex((2, 3, 4), op="max", dims=(-1, -2)),
                  _ex((3, 4), op="min", dims=(1,)),
                  _ex((2, 3, 4), op="prod", dims=(1, 3), keepdim=True),
                  _ex((3, 5), op="logsumexp", dims=(-1,)),
                  _ex((4, 5), op="var", dims=(2,)),
                  _ex((4, 5), op="std", dims=(1,), keepdim=True, correction=0),
                  _ex((6,), "long", op="sum", dims=(1,))),
    ),
    LayerSpec(
        "argmax", "ArgMax", "Tensor",
        "The position of the largest value along a dim (long), like x.argmax(dim).",
        (Int("dim", -1, "Dim searched (1 = first after the batch; -1 = last)", key=True, **DIM_RANGE),
         Bool("keepdim", False, "Keep the searched dim with size 1")),
        _arg_rule("ArgMax"), flops=_input_flops, keywords=("index of max", "prediction", "class", "argmax"),
        examples=(_ex((3, 5)), _ex((4, 3, 2), dim=1, keepdim=True)),
    ),
    LayerSpec(
        "argmin", "ArgMin", "Tensor",
        "The position of the smallest value along a dim (long), like x.argmin(dim).",
        (Int("dim", -1, "Dim searched (1 = first after the batch; -1 = last)", key=True, **DIM_RANGE),
         Bool("keepdim", False, "Keep the searched dim with size 1")),
        _arg_rule("ArgMin"), flops=_input_flops, keywords=("index of min", "argmin"),
        examples=(_ex((3, 5)),),
    ),
    LayerSpec(
        "cast", "Cast", "Tensor",
        "Converts the values to float or to long (whole numbers, cut toward zero), like x.float() or x.long().",
        (Choice("dtype", "float", DTYPES, "float: float32 values; long: 64-bit whole numbers", key=True),),
        _cast_rule, flops=_no_flops, keywords=("dtype", "convert", "float", "long", "int", "to", "type"),
        examples=(_ex((4,), dtype="long"), Example({"in": TensorSpec((3, 2))}, {"dtype": "long"})),
    ),
    LayerSpec(
        "parameter", "Parameter", "Tensor",
        "A learned tensor of the given shape (a class token, a position table, a scale), repeated over the "
        "batch of its input; stored as (1, *shape).",
        (_shape_param((1, 8), "Shape of the tensor without the batch dim (10^8 values at most)"),
         Choice("init", "trunc_normal", INITS,
                "Initial values: zeros, ones, normal(0, std), trunc_normal(0, std) cut at ±2, uniform(-bound, bound)",
                key=True),
         Float("std", 0.02, "Standard deviation of normal and trunc_normal", minimum=0.0),
         Float("bound", 1.0, "uniform draws from -bound to bound", minimum=0.0)),
        _parameter_rule, inputs=("like",), param_count=_parameter_count, flops=_no_flops,
        keywords=("weight", "learned", "class token", "cls", "position embedding", "pos_embed", "scale", "tensor"),
        examples=(Example({"like": TensorSpec((4, 8))}, {"shape": (1, 8)}),
                  Example({"like": TensorSpec((3,), "long")}, {"shape": (3, 4), "init": "normal"})),
    ),
    LayerSpec(
        "constant", "Constant", "Tensor",
        "A fixed tensor (filled with one value, or given value by value), repeated over the batch of its "
        "input; a buffer, not trained.",
        (_shape_param((1,), "Shape of the tensor without the batch dim (10^8 values at most)"),
         Choice("dtype", "float", DTYPES, "float values or long whole numbers", key=True),
         Float("fill", 0.0, "The value of every element (when values is unset)", key=True),
         Floats("values", None, "Every element in order (8 at most); left unset, all are fill",
                unset="all fill")),
        _constant_rule, inputs=("like",), flops=_no_flops,
        keywords=("fixed", "buffer", "literal", "mask", "fill", "full", "zeros", "ones", "tensor"),
        examples=(Example({"like": TensorSpec((4,))}, {"shape": (2, 3), "fill": 0.5}),
                  Example({"like": TensorSpec((2, 2))}, {"shape": (2, 2), "dtype": "long",
                                                         "values": (1, 2, 3, 4)})),
    ),
    LayerSpec(
        "random_normal", "RandomNormal", "Tensor",
        "Normal noise of its input's shape, mean + std · N(0, 1), while training (sampling, a VAE's "
        "reparameterisation); at inference (eval mode) it gives the mean, so results are repeatable.",
        (Float("mean", 0.0, "Mean of the noise (and the value given in eval mode)", key=True),
         Float("std", 1.0, "Standard deviation of the noise", minimum=0.0, key=True)),
        _random_rule, keywords=("noise", "randn", "randn_like", "gaussian", "sample", "random"),
        examples=(_ex((4, 3)),),
    ),
]
