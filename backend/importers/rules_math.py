"""PyTorch importer rules of the Math layers: the operators, torch functions and
tensor methods people write in ``forward()``.

``a + b``, ``x * 0.5``, ``1.0 - x``, ``x / math.sqrt(d)``, ``q @ k.transpose(-2, -1)``,
``torch.exp(x)``, ``x.clamp(min=0)``, ``scores.masked_fill(mask == 0, float("-inf"))``,
``torch.where(mask, x, 0.0)``, ``x.cumsum(-1)``. Each operand is a tensor, a
number (also a size, or a one-value constant tensor) or a constant tensor
(:mod:`~layerloom.backend.importers.torch_constants`): two tensors make a layer
with two inputs, a tensor and a number a layer with a constant. Add and Multiply
of two equal shapes join a chain into one Merge node (``a + b + c``), as before.

A mask is a bool tensor in torch and a float or long one in LayerLoom: ``mask.bool()``,
``mask != 0``, ``mask == 0`` and ``~mask`` give a :class:`BoolMask` that MaskedFill
and Where read; a constant mask becomes MaskedFill's causal option when it is
exactly causal.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass, replace

import numpy as np
import torch
import torch.fx as fx

from layerloom.backend.importers.common import Unsupported, Value, refuse
from layerloom.backend.importers.torch_constants import Constant
from layerloom.backend.importers.torch_rules import SIZE, Size, arg
from layerloom.graph.layers.matrix import LOWEST
from layerloom.graph.params import FLOAT_LIMIT


@dataclass(frozen=True)
class BoolMask:
    """``value != 0`` (``value == 0`` when ``invert``): a condition on a tensor."""

    value: Value
    invert: bool = False

    def __repr__(self) -> str:
        return f"a mask of shape {self.value.shape}"


# ---------------------------------------------------------------- operands
def operand(mp, item):
    """``("tensor", Value)``, ``("number", float)``, ``("const", Tensor)``,
    ``("mask", BoolMask)`` or ``("size", None)`` (a size whose value is not fixed)."""
    if isinstance(item, bool):
        return "number", float(item)
    if isinstance(item, (int, float)):
        return "number", float(item)
    if not isinstance(item, fx.Node):
        return "other", item  # a tuple of sizes: x.size()[:-1] + (heads, width)
    known = mp.known.get(item)
    if isinstance(known, torch.Tensor):  # a buffer, or computed from buffers and sizes
        if known.numel() == 1:
            return "number", float(known.reshape(-1)[0])
        return "const", known
    entry = mp.entry(item)
    if isinstance(entry, bool) or isinstance(entry, (int, float)):
        return "number", float(entry)
    if isinstance(entry, Size):
        known = mp.known.get(item)
        if isinstance(known, (int, float)):
            return "number", float(known)
        return "size", None
    if isinstance(entry, BoolMask):
        return "mask", entry
    return "tensor", mp.tensor(item)


def _first(node):
    return node.args[0] if node.args else node.kwargs.get("input", node.kwargs.get("self"))


def _number(value: float, what: str) -> float:
    refuse(not math.isfinite(value) or abs(value) > FLOAT_LIMIT,
           f"{what} {value!r}; LayerLoom's constants are finite numbers up to {FLOAT_LIMIT:g}")
    return value


def _float_tensor(x: Value, what: str) -> Value:
    refuse(x.dtype != "float", f"{what} on token ids (long); LayerLoom's Math layers compute on float tensors")
    return x


# -------------------------------------------------------------- arithmetic
CONSTANT_FORMS = {  # (operation, the tensor is on the left) -> (layer, its param, how to turn c into it)
    ("add", True): ("add_constant", "value", lambda c: c),
    ("add", False): ("add_constant", "value", lambda c: c),
    ("sub", True): ("add_constant", "value", lambda c: -c),
    ("sub", False): ("constant_subtract", "value", lambda c: c),
    ("mul", True): ("multiply_constant", "value", lambda c: c),
    ("mul", False): ("multiply_constant", "value", lambda c: c),
    ("div", True): ("divide_constant", "value", lambda c: c),
    ("div", False): ("constant_divide", "value", lambda c: c),
    ("pow", True): ("power_constant", "exponent", lambda c: c),
}
TWO_TENSORS = {"add": "add", "mul": "multiply", "sub": "subtract", "div": "divide", "pow": "power"}
SYMBOLS = {"add": "+", "sub": "-", "mul": "*", "div": "/", "pow": "**", "floordiv": "//", "mod": "%"}


def arithmetic(kind: str):
    """Rule for ``a (+|-|*|/|**|//|%) b`` as an operator, a torch function or a
    method; ``//`` and ``%`` only on sizes."""

    def rule(mp, node):
        a = _first(node)
        b = arg(node, 1, "exponent" if kind == "pow" and "exponent" in node.kwargs else "other")
        refuse(float(node.kwargs.get("alpha", 1)) != 1, "alpha is set")
        refuse(node.kwargs.get("rounding_mode") is not None, f"rounding_mode={node.kwargs.get('rounding_mode')!r}")
        refuse("out" in node.kwargs, "out= is set")
        if kind == "pow" and isinstance(a, (int, float)) and isinstance(b, fx.Node):
            raise Unsupported(f"raises the constant {a!r} to a tensor power; LayerLoom has x ** constant only")
        (ka, va), (kb, vb) = operand(mp, a), operand(mp, b)
        if "tensor" not in (ka, kb):
            if {ka, kb} & {"mask", "const"}:
                raise Unsupported(f"computes {SYMBOLS[kind]} on a mask or a constant tensor")
            return mp.known.get(node, SIZE)  # size arithmetic: C // n_head
        refuse(kind in ("floordiv", "mod"), f"{SYMBOLS[kind]} of tensors; LayerLoom has no such layer")
        if ka == kb == "tensor":
            return _two_tensors(mp, node, kind, a, va, vb)
        left = ka == "tensor"
        x, (other_kind, c) = (va, (kb, vb)) if left else (vb, (ka, va))
        if other_kind == "number":
            return _with_constant(mp, node, kind, left, x, c)
        if other_kind == "const":
            try:  # a tensor the model holds, where a layer family gives it a node
                y = mp.tensor(b if left else a)
            except Unsupported:
                raise Unsupported(
                    f"computes {SYMBOLS[kind]} with a constant tensor of shape {tuple(c.shape)}; LayerLoom's "
                    "Math layers take numbers (use a learned Parameter or an input for a tensor)"
                ) from None
            return _two_tensors(mp, node, kind, a, *((x, y) if left else (y, x)))
        raise Unsupported(f"computes {SYMBOLS[kind]} with a mask or a size it cannot read")

    return rule


def _two_tensors(mp, node, kind: str, source, x: Value, y: Value) -> Value:
    type_id = TWO_TENSORS[kind]
    _float_tensor(x, SYMBOLS[kind])
    _float_tensor(y, SYMBOLS[kind])
    if type_id in ("add", "multiply") and x.shape == y.shape:
        return mp.merge(node, type_id, source, x, y)  # joins a chain a + b + c
    refuse(x.rank != y.rank,
           f"broadcasts {x.shape} {SYMBOLS[kind]} {y.shape}, shapes of different ranks per sample: torch lines "
           "up the batch dim of one with a dim of the other; LayerLoom broadcasts inputs of one rank "
           "(insert unsqueeze or reshape)")
    params = {"inputs": 2} if type_id in ("add", "multiply") else {}
    return mp.add(node, type_id, params, [x, y])


def _with_constant(mp, node, kind: str, left: bool, x: Value, c: float) -> Value:
    form = CONSTANT_FORMS.get((kind, left))
    refuse(form is None, f"raises the constant {c!r} to a tensor power; LayerLoom has x ** constant only")
    type_id, name, convert = form
    _float_tensor(x, SYMBOLS[kind])
    return mp.add(node, type_id, {name: _number(convert(c), "the constant")}, [x])


def negate(mp, node):
    kind, x = operand(mp, _first(node))
    if kind != "tensor":
        return mp.known.get(node, SIZE)
    return mp.add(node, "neg", {}, [_float_tensor(x, "negation")])


# ------------------------------------------------------------------ unary
def unary(type_id: str):
    def rule(mp, node):
        refuse("out" in node.kwargs, "out= is set")
        kind, x = operand(mp, _first(node))
        if kind != "tensor":
            return mp.known.get(node, SIZE)
        return mp.add(node, type_id, {}, [_float_tensor(x, type_id)])

    return rule


def clamp(low: str | None = "min", high: str | None = "max"):
    """``torch.clamp(x, min, max)`` and ``clip``; ``clamp_min`` / ``clamp_max``
    name only one bound (``low``/``high`` is ``None`` for the other)."""

    def rule(mp, node):
        x = _float_tensor(mp.tensor(_first(node)), "clamp")
        bounds = {}
        position = 1
        for name, key in (("min", low), ("max", high)):
            if key is None:
                continue
            value = arg(node, position, key if key in node.kwargs else name)
            position += 1
            if value is None:
                continue
            kind, number = operand(mp, value)
            refuse(kind != "number", f"a {name} that is a tensor; LayerLoom's Clamp takes numbers")
            bounds[name] = _number(number, f"the {name}")
        refuse(not bounds, "no min and no max")
        return mp.add(node, "clamp", bounds, [x])

    return rule


def extreme(type_id: str):
    """``torch.maximum(a, b)`` / ``torch.minimum(a, b)`` and their methods."""

    def rule(mp, node):
        (ka, a), (kb, b) = operand(mp, _first(node)), operand(mp, arg(node, 1, "other"))
        refuse(ka != "tensor" or kb != "tensor", "compares with a constant; use Clamp (x.clamp(min=c))")
        return _two_tensors_plain(mp, node, type_id, a, b)

    return rule


def _two_tensors_plain(mp, node, type_id: str, a: Value, b: Value) -> Value:
    _float_tensor(a, type_id)
    _float_tensor(b, type_id)
    refuse(a.rank != b.rank, f"broadcasts {a.shape} with {b.shape}, shapes of different ranks per sample")
    return mp.add(node, type_id, {}, [a, b])


def matmul(mp, node):
    (ka, a), (kb, b) = operand(mp, _first(node)), operand(mp, arg(node, 1, "other", arg(node, 1, "mat2")))
    if "const" in (ka, kb):
        raise Unsupported("multiplies by a constant matrix; LayerLoom's Dense holds a weight matrix")
    refuse(ka != "tensor" or kb != "tensor", "multiplies by a number or a mask")
    _float_tensor(a, "matmul")
    _float_tensor(b, "matmul")
    refuse(a.rank < 2 or b.rank < 2 or a.rank != b.rank,
           f"multiplies {a.shape} @ {b.shape} per sample; LayerLoom's MatMul takes matrices of one rank")
    return mp.add(node, "matmul", {}, [a, b])


def cumsum(mp, node):
    refuse(arg(node, 2, "dtype") is not None, "a dtype")
    x = mp.tensor(_first(node))
    dim = arg(node, 1, "dim")
    refuse(not isinstance(dim, int) or dim % (x.rank + 1) == 0, f"sums along dim {dim!r}, the batch")
    return mp.add(node, "cumsum", {"dim": dim}, [x])


# ------------------------------------------------------------------ masks
def as_mask(mp, node):
    """``mask.bool()``, ``mask != 0``, ``mask.ne(0)``: a condition on a tensor."""
    kind, x = operand(mp, _first(node))
    if kind == "mask":
        return x
    refuse(kind != "tensor", "makes a mask of something that is not a tensor")
    return BoolMask(x)


def compare_zero(invert: bool):
    """``mask == 0`` (``invert``) or ``mask != 0``; other comparisons are refused."""

    def rule(mp, node):
        (ka, a), (kb, b) = operand(mp, _first(node)), operand(mp, arg(node, 1, "other"))
        if "tensor" not in (ka, kb) and "mask" not in (ka, kb):
            return mp.known.get(node, SIZE)
        mask, (other_kind, c) = (a, (kb, b)) if ka in ("tensor", "mask") else (b, (ka, a))
        symbol = "==" if invert else "!="
        refuse(other_kind != "number" or c != 0,
               f"compares a tensor {symbol} {c!r}; LayerLoom reads masks as non-zero (mask != 0) or zero (mask == 0)")
        if isinstance(mask, BoolMask):  # (mask == 0) on a bool: a second inversion
            return replace(mask, invert=mask.invert != invert)
        return BoolMask(mask, invert)

    return rule


def invert(mp, node):
    kind, mask = operand(mp, _first(node))
    refuse(kind != "mask", "inverts the bits of a tensor that is not a mask")
    return replace(mask, invert=not mask.invert)


def fill_params(value: float) -> dict:
    """MaskedFill's ``fill`` and ``value`` for a number written where the mask is set."""
    if value == -math.inf:
        return {"fill": "-inf"}
    if value == math.inf:
        return {"fill": "inf"}
    if value == LOWEST or value == float(torch.finfo(torch.float32).min):
        return {"fill": "lowest"}
    return {"fill": "value", "value": _number(value, "fills with")}


def causal(mask: np.ndarray, shape: tuple[int, ...]) -> bool | None:
    """Whether a constant ``mask`` over a tensor of full ``shape`` (batch first)
    is the causal mask (``False``), its opposite (``True``) or neither (``None``)."""
    if mask.ndim < 2 or mask.ndim > len(shape) or len(shape) < 3:
        return None
    rows, cols = shape[-2:]
    if tuple(mask.shape[-2:]) != (rows, cols):
        return None
    try:
        if np.broadcast_shapes(mask.shape, tuple(shape)) != tuple(shape):
            return None
    except ValueError:
        return None
    upper = np.broadcast_to(np.triu(np.ones((rows, cols), dtype=bool), 1), mask.shape)
    set_ = mask != 0
    if np.array_equal(set_, upper):
        return False
    if np.array_equal(set_, ~upper):
        return True
    return None


def _fill(mp, node, x: Value, mask_kind: str, mask, value: float, flip: bool = False) -> Value:
    params = fill_params(value)
    x = _float_tensor(x, "masked_fill")
    if mask_kind == "const":
        full = mp.records[node].shape
        found = causal(mask.cpu().numpy(), full)
        if found is None:
            raise Unsupported(
                f"fills where a constant mask of shape {tuple(mask.shape)} is set, which is not the causal "
                "(upper-triangular) mask; LayerLoom's MaskedFill takes a mask input or the causal mask"
            )
        return mp.add(node, "masked_fill", {**params, "mask": "causal", "invert": found != flip}, [x])
    if mask_kind == "tensor":
        mask = BoolMask(mask)
    refuse(mask_kind not in ("mask", "tensor"), "fills where a number is set")
    return mp.add(node, "masked_fill", {**params, "mask": "input", "invert": mask.invert != flip},
                  [x, mask.value])


def masked_fill(mp, node):
    x = mp.tensor(_first(node))
    mask_kind, mask = operand(mp, arg(node, 1, "mask"))
    value_kind, value = operand(mp, arg(node, 2, "value"))
    refuse(value_kind != "number", "fills with a tensor; LayerLoom's MaskedFill writes a number")
    result = _fill(mp, node, x, mask_kind, mask, value)
    if isinstance(node.target, str) and node.target.endswith("_"):  # in place: later uses see the result
        mp.env[_first(node)] = result
    return result


def where(mp, node):
    cond, a, b = (arg(node, i, name) for i, name in enumerate(("condition", "input", "other")))
    refuse(a is None or b is None, "torch.where(cond) with one argument gives indices")
    cond_kind, c = operand(mp, cond)
    (ka, va), (kb, vb) = operand(mp, a), operand(mp, b)
    if ka == "number" and kb == "tensor":  # where(cond, -inf, x): fill where cond is set
        return _fill(mp, node, vb, cond_kind, c, va)
    if ka == "tensor" and kb == "number":  # where(cond, x, 0.0): fill where cond is not set
        return _fill(mp, node, va, cond_kind, c, vb, flip=True)
    refuse(ka != "tensor" or kb != "tensor", "picks between constants")
    if cond_kind == "tensor":
        c = BoolMask(c)
    refuse(cond_kind not in ("mask", "tensor"), "picks by a constant condition")
    first, second = (vb, va) if c.invert else (va, vb)
    refuse(len({first.rank, second.rank, c.value.rank}) != 1, "broadcasts shapes of different ranks per sample")
    return mp.add(node, "where", {}, [c.value, first, second])


# ------------------------------------------------------------------ tables
def folds(rule):
    """``rule``, except on a value that is the same on every call (a mask made
    from a buffer): that stays a constant, for the rule that reads it."""

    def folded(mp, node):
        known = mp.known.get(node)
        if isinstance(known, torch.Tensor):
            return Constant(known)
        return rule(mp, node)

    return folded


_ADD, _SUB, _MUL, _DIV, _POW = (arithmetic(k) for k in ("add", "sub", "mul", "div", "pow"))
_UNARY = {name: unary(name) for name in ("exp", "log", "sqrt", "rsqrt", "abs", "reciprocal", "sin", "cos", "erf")}

FUNCTIONS = {  # (folds() wraps every rule below)
    operator.add: _ADD, torch.add: _ADD,
    operator.sub: _SUB, torch.sub: _SUB, torch.subtract: _SUB,
    operator.mul: _MUL, torch.mul: _MUL, torch.multiply: _MUL,
    operator.truediv: _DIV, torch.div: _DIV, torch.divide: _DIV, torch.true_divide: _DIV,
    operator.pow: _POW, torch.pow: _POW,
    operator.floordiv: arithmetic("floordiv"), operator.mod: arithmetic("mod"),
    operator.neg: negate, torch.neg: negate, torch.negative: negate,
    operator.matmul: matmul, torch.matmul: matmul, torch.bmm: matmul,
    torch.maximum: extreme("maximum"), torch.minimum: extreme("minimum"),
    torch.clamp: clamp(), torch.clip: clamp(),
    torch.clamp_min: clamp(high=None), torch.clamp_max: clamp(low=None),
    torch.cumsum: cumsum,
    torch.where: where, torch.masked_fill: masked_fill,
    operator.eq: compare_zero(True), operator.ne: compare_zero(False),
    torch.eq: compare_zero(True), torch.ne: compare_zero(False),
    operator.invert: invert, torch.logical_not: invert,
    **{getattr(torch, name): rule for name, rule in _UNARY.items()},
    torch.special.erf: _UNARY["erf"],
}

METHODS = {
    "add": _ADD, "sub": _SUB, "subtract": _SUB, "mul": _MUL, "multiply": _MUL,
    "div": _DIV, "divide": _DIV, "true_divide": _DIV, "pow": _POW,
    "neg": negate, "negative": negate,
    "matmul": matmul, "bmm": matmul,
    "maximum": extreme("maximum"), "minimum": extreme("minimum"),
    "clamp": clamp(), "clip": clamp(), "clamp_min": clamp(high=None), "clamp_max": clamp(low=None),
    "cumsum": cumsum,
    "masked_fill": masked_fill, "masked_fill_": masked_fill,
    "bool": as_mask, "eq": compare_zero(True), "ne": compare_zero(False), "logical_not": invert,
    **_UNARY,
}

FUNCTIONS = {key: folds(rule) for key, rule in FUNCTIONS.items()}
METHODS = {key: folds(rule) for key, rule in METHODS.items()}
