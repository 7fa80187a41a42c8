"""ONNX importer rules of the Math layers, for what torch's exporter writes.

``Add``/``Sub``/``Mul``/``Div``/``Pow`` of two computed tensors or of a tensor and
a one-value constant, ``Max``/``Min``, the unary operators, ``Clip``,
``MatMul`` of two computed tensors, ``CumSum``, and ``Where`` as masked_fill
writes it: ``Where(Cast(mask, to=BOOL), fill, x)``, ``Where(Equal(mask, 0), fill,
x)``, or ``Where(constant, fill, x)`` with the causal mask folded into a constant.
The general rules keep what they handled (a Dense bias, a positional encoding,
a MatMul by a weight matrix, equal-shape Add and Mul joined into one node) and
these take the rest.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from layerloom.backend.importers import onnx_rules as general
from layerloom.backend.importers.common import Unsupported, Value, refuse
from layerloom.backend.importers.rules_math import BoolMask, causal, fill_params
from layerloom.graph.params import FLOAT_LIMIT

BOOL = 9  # ONNX TensorProto.BOOL


def operand(mp, name: str):
    """``("tensor", Value)``, ``("number", float)``, ``("const", array)`` or
    ``("mask", BoolMask)``."""
    if mp.is_const(name):
        value = np.asarray(mp.const(name))
        if value.size == 1:
            return "number", float(value.reshape(-1)[0])
        return "const", value
    entry = mp.entry(name)
    if isinstance(entry, BoolMask):
        return "mask", entry
    return "tensor", mp.tensor(name)


def _number(value: float, what: str) -> float:
    refuse(not np.isfinite(value) or abs(value) > FLOAT_LIMIT,
           f"{what} {value!r}; LayerLoom's constants are finite numbers up to {FLOAT_LIMIT:g}")
    return value


def _two(mp, op, type_id: str, x: Value, y: Value) -> Value:
    refuse(x.rank != y.rank, f"broadcasts {x.shape} and {y.shape}, shapes of different ranks per sample")
    params = {"inputs": 2} if type_id in ("add", "multiply") else {}
    return mp.add(op, type_id, params, [x, y])


CONSTANT_FORMS = {  # (operator, the tensor comes first) -> (layer, param, how to turn c into it)
    ("Add", True): ("add_constant", "value", lambda c: c),
    ("Add", False): ("add_constant", "value", lambda c: c),
    ("Sub", True): ("add_constant", "value", lambda c: -c),
    ("Sub", False): ("constant_subtract", "value", lambda c: c),
    ("Mul", True): ("multiply_constant", "value", lambda c: c),
    ("Mul", False): ("multiply_constant", "value", lambda c: c),
    ("Div", True): ("divide_constant", "value", lambda c: c),
    ("Div", False): ("constant_divide", "value", lambda c: c),
    ("Pow", True): ("power_constant", "exponent", lambda c: c),
    ("Max", True): ("clamp", "min", lambda c: c),
    ("Max", False): ("clamp", "min", lambda c: c),
    ("Min", True): ("clamp", "max", lambda c: c),
    ("Min", False): ("clamp", "max", lambda c: c),
}
TWO_TENSORS = {"Add": "add", "Mul": "multiply", "Sub": "subtract", "Div": "divide", "Pow": "power",
               "Max": "maximum", "Min": "minimum"}


def arithmetic(op_type: str):
    old = {"Add": general.add, "Mul": general.mul}.get(op_type)

    def rule(mp, op):
        refuse(len([n for n in op.inputs if n]) != 2, f"{op_type} of {len(op.inputs)} inputs")
        a, b = op.inputs[:2]
        (ka, va), (kb, vb) = operand(mp, a), operand(mp, b)
        if ka == kb == "tensor":
            if old is not None and va.shape == vb.shape:
                return old(mp, op)  # joins a chain a + b + c into one node
            return _two(mp, op, TWO_TENSORS[op_type], va, vb)
        if "const" in (ka, kb) and old is not None:
            return old(mp, op)  # a Dense bias, a positional encoding, or its message
        if op_type == "Add" and "number" in (ka, kb):
            try:
                return old(mp, op)  # the bias of a Dense with one unit
            except Unsupported:
                pass
        refuse("tensor" not in (ka, kb) or {ka, kb} - {"tensor", "number"},
               f"{op_type} of a constant tensor or a mask; LayerLoom's Math layers take numbers")
        left = ka == "tensor"
        x, c = (va, vb) if left else (vb, va)
        form = CONSTANT_FORMS.get((op_type, left))
        refuse(form is None, f"raises the constant {c!r} to a tensor power")
        type_id, name, convert = form
        return mp.add(op, type_id, {name: _number(convert(c), "the constant")}, [x])

    return rule


def unary(type_id: str):
    def rule(mp, op):
        return mp.add(op, type_id, {}, [mp.tensor(op.inputs[0])])

    return rule


def clip(mp, op):
    """Clamp to any bounds; ReLU6's and ReLU's bounds go to the activation
    family's rule this one took the place of, so they come back as those layers."""
    x = mp.tensor(op.inputs[0])
    bounds = {}
    for i, name in ((1, "min"), (2, "max")):
        value = mp.optional_const(op, i, f"the {name}")
        if value is None and name in op.attrs:  # opset < 11
            value = op.attrs[name]
        if value is not None:
            bounds[name] = _number(float(np.asarray(value).reshape(-1)[0]), f"the {name}")
    refuse(not bounds, "no min and no max")
    if clip.previous is not None and bounds.get("min") == 0 and bounds.get("max") in (6, None):
        return clip.previous(mp, op)
    return mp.add(op, "clamp", bounds, [x])


clip.previous = None  # the activation family's Clip rule (see families._join)


def matmul(mp, op):
    a, b = op.inputs[:2]
    if mp.is_const(b):
        return general.matmul(mp, op)  # by a weight matrix: a Dense
    refuse(mp.is_const(a), "multiplies a constant matrix by a tensor; LayerLoom's Dense holds a weight matrix")
    x, y = mp.tensor(a), mp.tensor(b)
    refuse(x.rank < 2 or x.rank != y.rank,
           f"multiplies {x.shape} @ {y.shape} per sample; LayerLoom's MatMul takes matrices of one rank")
    return mp.add(op, "matmul", {}, [x, y])


def cumsum(mp, op):
    refuse(bool(op.attrs.get("exclusive", 0)) or bool(op.attrs.get("reverse", 0)), "exclusive or reverse")
    x = mp.tensor(op.inputs[0])
    axis = int(np.asarray(mp.const(op.inputs[1], "the axis")).reshape(-1)[0]) % (x.rank + 1)
    refuse(axis == 0, "sums along the batch")
    return mp.add(op, "cumsum", {"dim": axis}, [x])


def cast(mp, op):
    """``Cast(mask, to=BOOL)`` (``mask.bool()``) makes a mask; other casts go to
    the rule this one took the place of."""
    if op.attrs.get("to") != BOOL:
        return cast.previous(mp, op)
    kind, value = operand(mp, op.inputs[0])
    if kind == "mask":
        return value
    refuse(kind != "tensor", "casts a constant")
    return BoolMask(value)


cast.previous = general.cast  # the rule this one replaces (see families._join)


def equal(mp, op):
    """``Equal(mask, 0)``: a mask set where ``mask`` is zero."""
    (ka, a), (kb, b) = (operand(mp, n) for n in op.inputs[:2])
    kind, value, other = (ka, a, (kb, b)) if ka in ("tensor", "mask") else (kb, b, (ka, a))
    refuse(kind not in ("tensor", "mask") or other != ("number", 0.0),
           "compares with something other than 0; LayerLoom reads masks as non-zero or zero")
    if kind == "mask":
        return replace(value, invert=not value.invert)
    return BoolMask(value, invert=True)


def logical_not(mp, op):
    kind, value = operand(mp, op.inputs[0])
    refuse(kind != "mask", "negates something that is not a mask")
    return replace(value, invert=not value.invert)


def where(mp, op):
    cond, a, b = op.inputs[:3]
    kc, c = operand(mp, cond)
    (ka, va), (kb, vb) = operand(mp, a), operand(mp, b)
    if ka == "number" and kb == "tensor":
        return _fill(mp, op, vb, kc, c, va, flip=False)
    if ka == "tensor" and kb == "number":
        return _fill(mp, op, va, kc, c, vb, flip=True)
    refuse(ka != "tensor" or kb != "tensor", "picks between constants")
    if kc == "tensor":
        c = BoolMask(c)
    refuse(kc not in ("tensor", "mask"), "picks by a constant condition")
    first, second = (vb, va) if c.invert else (va, vb)
    refuse(len({first.rank, second.rank, c.value.rank}) != 1, "broadcasts shapes of different ranks per sample")
    return mp.add(op, "where", {}, [c.value, first, second])


def _fill(mp, op, x: Value, kind: str, mask, value: float, flip: bool) -> Value:
    params = fill_params(value)
    if kind in ("const", "number"):
        found = causal(np.asarray(mp.const(op.inputs[0])), mp.full_shape(op.outputs[0]))
        refuse(found is None,
               f"fills where a constant mask of shape {np.shape(mp.const(op.inputs[0]))} is set, which is not "
               "the causal (upper-triangular) mask; LayerLoom's MaskedFill takes a mask input or the causal mask")
        return mp.add(op, "masked_fill", {**params, "mask": "causal", "invert": found != flip}, [x])
    if kind == "tensor":
        mask = BoolMask(mask)
    return mp.add(op, "masked_fill", {**params, "mask": "input", "invert": mask.invert != flip}, [x, mask.value])


ONNX = {
    **{op_type: arithmetic(op_type) for op_type in TWO_TENSORS},
    **{op_type: unary(type_id) for op_type, type_id in {
        "Exp": "exp", "Log": "log", "Sqrt": "sqrt", "Reciprocal": "reciprocal", "Abs": "abs",
        "Neg": "neg", "Sin": "sin", "Cos": "cos", "Erf": "erf",
    }.items()},
    "Clip": clip,
    "MatMul": matmul,
    "CumSum": cumsum,
    "Cast": cast,
    "Equal": equal,
    "Not": logical_not,
    "Where": where,
}
