"""Math: matrix product of two computed tensors, masks and running sums.

- MatMul: ``torch.matmul`` on (N, ..., n, k) @ (N, ..., k, m), the middle dims
  broadcasting (attention scores ``q @ k.transpose(-2, -1)``);
- MaskedFill: ``x.masked_fill(mask, value)`` with the mask from an input (float
  or long: non-zero is set) or the built-in causal mask over the last two dims;
- Where: ``torch.where(cond, a, b)`` (cond non-zero picks a);
- CumSum: ``torch.cumsum`` along one dim.
"""

from __future__ import annotations

import math

from layerloom.graph.errors import ShapeError
from layerloom.graph.layers._util import need_float, torch_dim
from layerloom.graph.layers.arithmetic import RANK_FIX, broadcast_shape
from layerloom.graph.params import Bool, Choice, Float, Int
from layerloom.graph.registry import Example, LayerSpec
from layerloom.graph.tensor import TensorSpec, fmt_shape

FILLS = ("-inf", "value", "lowest", "inf")
LOWEST = -3.4028234663852886e38  # torch.finfo(torch.float32).min


def fill_value(p) -> float:
    """The number a MaskedFill writes: its ``value``, or an infinity, or the lowest float."""
    return {"-inf": -math.inf, "inf": math.inf, "lowest": LOWEST}.get(p["fill"], p["value"])


# ----------------------------------------------------------------- MatMul
def _matmul_rule(p, ins):
    a, b = ins["a"], ins["b"]
    need_float("MatMul", a)
    need_float("MatMul", b)
    for port, t in (("a", a), ("b", b)):
        if t.rank < 2:
            raise ShapeError(
                f"MatMul needs a matrix in every sample, (n, k) @ (k, m); {port} is {fmt_shape(t.shape)}",
                "insert Unsqueeze or Reshape to give it a dim of size 1, or use Dense for a vector "
                "times a weight matrix",
            )
    if a.rank != b.rank:
        raise ShapeError(
            f"MatMul: a is {fmt_shape(a.shape)} but b is {fmt_shape(b.shape)}, of another rank; torch "
            "would line up the batch dim of one with a dim of the other",
            RANK_FIX,
        )
    if a.shape[-1] != b.shape[-2]:
        raise ShapeError(
            f"MatMul: inner dims differ: k={a.shape[-1]} of {fmt_shape(a.shape)} and "
            f"{b.shape[-2]} of {fmt_shape(b.shape)}",
            "the last dim of a must equal the second-to-last of b: transpose one of them "
            "(Transpose or Permute) or swap the inputs",
        )
    lead = broadcast_shape("MatMul", [("a", a.with_shape(a.shape[:-2])), ("b", b.with_shape(b.shape[:-2]))])
    return {"out": TensorSpec((*lead, a.shape[-2], b.shape[-1]))}


def _matmul_flops(p, ins, outs):
    return 2 * outs["out"].numel * ins["a"].shape[-1]


# ------------------------------------------------------------- MaskedFill
def masked_fill_ports(p) -> tuple[str, ...]:
    return ("in", "mask") if p["mask"] == "input" else ("in",)


def _masked_fill_rule(p, ins):
    x = ins["in"]
    need_float("MaskedFill", x)
    if p["mask"] == "causal":
        if x.rank < 2:
            raise ShapeError(
                f"MaskedFill's causal mask covers the last two dims (query, key); the input "
                f"{fmt_shape(x.shape)} has one dim per sample",
                "feed it attention scores (…, T, T), or use a mask input",
            )
        return {"out": x}
    return {"out": x.with_shape(broadcast_shape("MaskedFill", [("in", x), ("mask", ins["mask"])]))}


# ------------------------------------------------------------------ Where
def _where_rule(p, ins):
    a, b = ins["a"], ins["b"]
    if a.dtype != b.dtype:
        raise ShapeError(
            f"Where picks from a and b, which must have one dtype; a is {a} and b is {b}",
            "feed both from float tensors (or both from token ids)",
        )
    shape = broadcast_shape("Where", [("cond", ins["cond"]), ("a", a), ("b", b)])
    return {"out": TensorSpec(shape, a.dtype)}


# ----------------------------------------------------------------- CumSum
def _cumsum_rule(p, ins):
    t = ins["in"]
    torch_dim("CumSum", p["dim"], t.rank)
    return {"out": t}


def _dim(help: str) -> Int:
    return Int("dim", -1, help, minimum=-9, maximum=8, key=True)


SPECS = [
    LayerSpec(
        "matmul", "MatMul",
        "Math", "Matrix product of two computed tensors (torch.matmul): (…, n, k) @ (…, k, m) -> (…, n, m), "
        "the leading dims broadcasting.",
        (), _matmul_rule, inputs=("a", "b"), flops=_matmul_flops,
        keywords=("matrix multiply", "bmm", "@", "dot", "attention scores", "product"),
        examples=(
            Example({"a": TensorSpec((4, 8)), "b": TensorSpec((8, 3))}),
            Example({"a": TensorSpec((2, 4, 8)), "b": TensorSpec((1, 8, 3))}),
        ),
    ),
    LayerSpec(
        "masked_fill", "MaskedFill", "Math",
        "Writes a value where a mask is set (x.masked_fill): the mask comes from an input "
        "(non-zero is set) or is the causal mask that hides later positions.",
        (
            Choice("mask", "causal", ("causal", "input"),
                   "'causal': positions after the query's own (upper triangle of the last two dims); "
                   "'input': a second input, non-zero where to fill", key=True),
            Bool("invert", False, "Fill where the mask is zero instead (mask == 0)"),
            Choice("fill", "-inf", FILLS,
                   "What to write: -inf (attention scores before softmax), a number (value), the "
                   "lowest float or +inf", key=True),
            Float("value", 0.0, "The number written when fill is 'value'"),
        ),
        _masked_fill_rule, inputs=masked_fill_ports, flops=lambda p, i, o: o["out"].numel,
        keywords=("mask", "causal", "attention", "fill", "where", "triangular"),
        examples=(
            Example({"in": TensorSpec((2, 5, 5))}),
            Example({"in": TensorSpec((2, 5, 5)), "mask": TensorSpec((1, 5, 5), "long")},
                    {"mask": "input", "invert": True, "fill": "value", "value": -1e9}, high=2),
        ),
    ),
    LayerSpec(
        "where", "Where", "Math",
        "Picks a where cond is non-zero and b elsewhere (torch.where), broadcasting dims of size 1.",
        (), _where_rule, inputs=("cond", "a", "b"),
        keywords=("select", "condition", "if", "mask", "choose"),
        examples=(
            Example({"cond": TensorSpec((3, 4), "long"), "a": TensorSpec((3, 4)), "b": TensorSpec((1, 4))},
                    high=2),
        ),
    ),
    LayerSpec(
        "cumsum", "CumSum", "Math", "Running sum along one dim (torch.cumsum).",
        (_dim("Dim to sum along, counting the batch as 0 (-1: the last dim)"),),
        _cumsum_rule,
        keywords=("cumulative", "running sum", "prefix sum", "scan", "positions"),
        examples=(Example({"in": TensorSpec((4, 6))}), Example({"in": TensorSpec((6,), "long")}, high=3)),
    ),
]
