"""Math layers become the operators and torch functions people write in
``forward()``: ``a - b``, ``x * 0.5``, ``1.0 - x``, ``torch.exp(x)``,
``torch.matmul(q, k)``, ``x.masked_fill(mask, float("-inf"))``, ... so the Python
export reads like hand-written code and the PyTorch importer finds them again."""

from __future__ import annotations

import builtins
import operator

import torch

from layerloom.backend.lowering import Lowering, lowering
from layerloom.graph.layers.matrix import fill_value


def _call(function, **kwargs):
    """A lowering that emits ``function(*inputs, **kwargs)``."""

    def emit(graph, args, target):
        return graph.call_function(function, tuple(args), kwargs)

    return Lowering(None, emit)


def _register(type_id: str, function) -> None:
    @lowering(type_id)
    def lower(p, ins, outs):
        return _call(function)


for _type_id, _function in {
    "subtract": operator.sub, "divide": operator.truediv, "power": torch.pow,
    "maximum": torch.maximum, "minimum": torch.minimum, "matmul": torch.matmul,
    "exp": torch.exp, "log": torch.log, "sqrt": torch.sqrt, "rsqrt": torch.rsqrt,
    "abs": torch.abs, "neg": operator.neg, "reciprocal": torch.reciprocal,
    "sin": torch.sin, "cos": torch.cos, "erf": torch.erf,
}.items():
    _register(_type_id, _function)


def _with_constant(function, value_first: bool = False):
    def lower(value):
        def emit(graph, args, target):
            operands = (value, args[0]) if value_first else (args[0], value)
            return graph.call_function(function, operands)

        return Lowering(None, emit)

    return lower


@lowering("add_constant")
def _add_constant(p, ins, outs):
    value = p["value"]
    if value < 0:  # x - 1.5 rather than x + -1.5: the same number, as people write it
        return _with_constant(operator.sub)(-value)
    return _with_constant(operator.add)(value)


@lowering("multiply_constant")
def _multiply_constant(p, ins, outs):
    return _with_constant(operator.mul)(p["value"])


@lowering("divide_constant")
def _divide_constant(p, ins, outs):
    return _with_constant(operator.truediv)(p["value"])


@lowering("constant_subtract")
def _constant_subtract(p, ins, outs):
    return _with_constant(operator.sub, value_first=True)(p["value"])


@lowering("constant_divide")
def _constant_divide(p, ins, outs):
    return _with_constant(operator.truediv, value_first=True)(p["value"])


@lowering("power_constant")
def _power_constant(p, ins, outs):
    return _with_constant(operator.pow)(p["exponent"])


@lowering("scale_shift")
def _scale_shift(p, ins, outs):
    scale, shift = p["scale"], p["shift"]

    def emit(graph, args, target):
        scaled = graph.call_function(operator.mul, (args[0], scale))
        if shift < 0:
            return graph.call_function(operator.sub, (scaled, -shift))
        return graph.call_function(operator.add, (scaled, shift))

    return Lowering(None, emit)


@lowering("clamp")
def _clamp(p, ins, outs):
    bounds = {k: p[k] for k in ("min", "max") if p[k] is not None}
    if not bounds:  # nothing to limit (torch.clamp refuses to be called so)
        return Lowering(None, lambda graph, args, target: args[0])
    return _call(torch.clamp, **bounds)


@lowering("cumsum")
def _cumsum(p, ins, outs):
    return _call(torch.cumsum, dim=p["dim"])


def as_condition(graph, mask, invert: bool):
    """``mask.bool()`` (non-zero is set) or ``mask == 0``: torch needs a bool mask,
    LayerLoom's masks are float or long."""
    if invert:
        return graph.call_function(operator.eq, (mask, 0))
    return graph.call_method("bool", (mask,))


def causal_mask(graph, x, rows: int, cols: int):
    """``torch.ones(rows, cols, dtype=torch.bool, device=x.device).triu(1)``: set
    above the diagonal, where a query would see later keys."""
    device = graph.call_function(builtins.getattr, (x, "device"))
    ones = graph.call_function(torch.ones, (rows, cols), {"dtype": torch.bool, "device": device})
    return graph.call_method("triu", (ones, 1))


@lowering("masked_fill")
def _masked_fill(p, ins, outs):
    value = fill_value(p)
    invert = p["invert"]
    rows, cols = ins["in"].shape[-2:] if p["mask"] == "causal" else (0, 0)

    def emit(graph, args, target):
        x = args[0]
        if p["mask"] == "causal":
            mask = causal_mask(graph, x, rows, cols)
            if invert:
                mask = graph.call_method("logical_not", (mask,))
        else:
            mask = as_condition(graph, args[1], invert)
        return graph.call_method("masked_fill", (x, mask, value))

    return Lowering(None, emit)


@lowering("where")
def _where(p, ins, outs):
    def emit(graph, args, target):
        cond, a, b = args
        return graph.call_function(torch.where, (as_condition(graph, cond, False), a, b))

    return Lowering(None, emit)
