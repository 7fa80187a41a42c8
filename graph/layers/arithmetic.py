"""Math: element-wise arithmetic, as written inside ``forward()``.

- between two inputs, with broadcasting (Subtract, Divide, Power, Maximum,
  Minimum; Add and Multiply are the Merge layers, which broadcast alike);
- with a constant (``x + c``, ``x * c``, ``x / c``, ``c - x``, ``c / x``,
  ``x ** c``, ``a * x + b``);
- unary functions (Exp, Log, Sqrt, Rsqrt, Abs, Negate, Reciprocal, Clamp, Sin,
  Cos, Erf).

Broadcasting follows torch, per sample: both inputs carry the batch N, so they
must have the same number of dims, and a dim of size 1 stretches to the other's
size. Inputs of different ranks are refused, because torch would line up the
batch dim of the shorter one with a dim of the other's samples.
"""

from __future__ import annotations

from collections.abc import Sequence

from layerloom.graph.errors import ShapeError
from layerloom.graph.layers._util import need_float
from layerloom.graph.params import Float
from layerloom.graph.registry import Example, LayerSpec
from layerloom.graph.tensor import TensorSpec, fmt_shape

BINARY_PORTS = ("a", "b")
RANK_FIX = (
    "insert Unsqueeze or Reshape so that both have the same number of dims, "
    "with size 1 where one should be repeated"
)


def broadcast_shape(name: str, inputs: Sequence[tuple[str, TensorSpec]]) -> tuple[int, ...]:
    """The per-sample shape ``inputs`` (port, spec) broadcast to, as torch does;
    raises :class:`ShapeError` quoting both shapes when they do not broadcast."""
    first_port, first = inputs[0]
    for port, t in inputs[1:]:
        if t.rank != first.rank:
            raise ShapeError(
                f"{name}: {first_port} is {fmt_shape(first.shape)} but {port} is {fmt_shape(t.shape)}, "
                f"of another rank; torch would line up the batch dim of one with a dim of the other",
                RANK_FIX,
            )
    shape = []
    for d in range(first.rank):
        sizes = {t.shape[d] for _, t in inputs}
        wide = sizes - {1}
        if len(wide) > 1:
            (pa, a), (pb, b) = [(p, t) for p, t in inputs if t.shape[d] != 1][:2]
            raise ShapeError(
                f"{name}: {pa} {fmt_shape(a.shape)} and {pb} {fmt_shape(b.shape)} do not broadcast: "
                f"dim {d + 1} is {a.shape[d]} against {b.shape[d]}",
                "make the sizes equal, or 1 where one input should be repeated",
            )
        shape.append(wide.pop() if wide else 1)
    return tuple(shape)


# ------------------------------------------------------------- two inputs
def _binary_rule(name: str):
    def rule(p, ins):
        for port in BINARY_PORTS:
            need_float(name, ins[port])
        shape = broadcast_shape(name, [(port, ins[port]) for port in BINARY_PORTS])
        return {"out": TensorSpec(shape)}

    return rule


def _binary(type_id: str, name: str, doc: str, keywords: tuple[str, ...]) -> LayerSpec:
    return LayerSpec(
        type_id, name, "Math", doc, (), _binary_rule(name), inputs=BINARY_PORTS,
        keywords=("elementwise", "broadcast", *keywords),
        examples=(
            Example({"a": TensorSpec((3, 4)), "b": TensorSpec((3, 4))}),
            Example({"a": TensorSpec((2, 3, 4)), "b": TensorSpec((2, 1, 4))}),
        ),
    )


# ------------------------------------------------------------- a constant
def _same_rule(name: str):
    def rule(p, ins):
        t = ins["in"]
        need_float(name, t)
        return {"out": t}

    return rule


def _per_value(cost: int):
    def flops(p, ins, outs):
        return cost * ins["in"].numel

    return flops


def _value(help: str, default: float = 1.0) -> Float:
    return Float("value", default, help, key=True)


def _with_constant(type_id: str, name: str, doc: str, params: tuple, keywords: tuple[str, ...],
                   example: dict, cost: int = 1) -> LayerSpec:
    return LayerSpec(
        type_id, name, "Math", doc, params, _same_rule(name), flops=_per_value(cost),
        keywords=("constant", "scalar", *keywords), passes_width=True,
        examples=(Example({"in": TensorSpec((4, 6))}, example),),
    )


# ------------------------------------------------------------------ unary
def _unary(type_id: str, name: str, doc: str, keywords: tuple[str, ...], cost: int = 1,
           params: tuple = (), example: dict | None = None) -> LayerSpec:
    return LayerSpec(
        type_id, name, "Math", doc, params, _same_rule(name), flops=_per_value(cost),
        keywords=("elementwise", "unary", *keywords), passes_width=True,
        examples=(Example({"in": TensorSpec((4, 6))}, example or {}),),
    )


# ------------------------------------------------------------------ specs
SPECS = [
    _binary("subtract", "Subtract", "a − b element-wise, broadcasting dims of size 1.",
            ("sub", "minus", "difference", "-")),
    _binary("divide", "Divide", "a / b element-wise, broadcasting dims of size 1.",
            ("div", "quotient", "ratio", "/")),
    _binary("power", "Power", "a ** b element-wise (torch.pow), broadcasting dims of size 1.",
            ("pow", "exponent", "**")),
    _binary("maximum", "Maximum", "The larger of a and b element-wise (torch.maximum).",
            ("max", "larger", "elementwise max")),
    _binary("minimum", "Minimum", "The smaller of a and b element-wise (torch.minimum).",
            ("min", "smaller", "elementwise min")),
    _with_constant("add_constant", "Add constant", "x + value (x − c is x + (−c)).",
                   (_value("Number added to every value (negative: subtracted)", 1.0),),
                   ("add", "plus", "offset", "bias", "subtract"), {"value": 0.5}),
    _with_constant("multiply_constant", "Multiply by constant", "x · value (x * 0.5).",
                   (_value("Factor every value is multiplied by", 2.0),),
                   ("mul", "scale", "times", "factor"), {"value": 0.5}),
    _with_constant("divide_constant", "Divide by constant", "x / value (x / math.sqrt(d)).",
                   (_value("Number every value is divided by", 2.0),),
                   ("div", "scale", "temperature", "normalise"), {"value": 8.0}),
    _with_constant("constant_subtract", "Subtract from constant", "value − x (1 − x).",
                   (_value("Number each value is subtracted from", 1.0),),
                   ("rsub", "minus", "complement", "one minus"), {"value": 1.0}),
    _with_constant("constant_divide", "Divide constant by", "value / x (1 / x scaled).",
                   (_value("Number that is divided by each value", 1.0),),
                   ("rdiv", "reciprocal", "inverse"), {"value": 2.0}, cost=4),
    _with_constant("power_constant", "Power by constant", "x ** exponent (x ** 2, x ** 0.5).",
                   (Float("exponent", 2.0, "Power every value is raised to", key=True),),
                   ("pow", "square", "cube", "**"), {"exponent": 2.0}, cost=4),
    _with_constant("scale_shift", "Scale and shift", "x · scale + shift, with constant scale and shift.",
                   (Float("scale", 1.0, "Factor every value is multiplied by", key=True),
                    Float("shift", 0.0, "Number added after scaling", key=True)),
                   ("affine", "linear", "rescale", "normalise"), {"scale": 2.0, "shift": -1.0}, cost=2),
    _unary("exp", "Exp", "e ** x element-wise.", ("exponential", "e"), cost=4),
    _unary("log", "Log", "Natural logarithm element-wise (NaN below 0, −inf at 0).",
           ("ln", "logarithm", "natural log"), cost=4),
    _unary("sqrt", "Sqrt", "Square root element-wise (NaN below 0).", ("square root", "root"), cost=4),
    _unary("rsqrt", "Rsqrt", "1 / sqrt(x) element-wise (NaN below 0).",
           ("reciprocal square root", "inverse sqrt"), cost=4),
    _unary("abs", "Abs", "|x| element-wise.", ("absolute", "magnitude")),
    _unary("neg", "Negate", "−x element-wise.", ("negative", "minus", "neg", "flip sign")),
    _unary("reciprocal", "Reciprocal", "1 / x element-wise.", ("inverse", "one over"), cost=4),
    _unary("clamp", "Clamp", "Limits every value to [min, max]; an unset bound does not limit (neither: x unchanged).",
           ("clip", "limit", "bound", "range"),
           params=(Float("min", None, "Lowest value kept; smaller values become min", key=True,
                         unset="no lower bound"),
                   Float("max", None, "Highest value kept; larger values become max", key=True,
                         unset="no upper bound")),
           example={"min": -0.5, "max": 0.5}),
    _unary("sin", "Sin", "Sine element-wise (x in radians).", ("sine", "trigonometric", "periodic"), cost=4),
    _unary("cos", "Cos", "Cosine element-wise (x in radians).", ("cosine", "trigonometric", "periodic"), cost=4),
    _unary("erf", "Erf", "The Gauss error function element-wise.", ("error function", "gaussian"), cost=8),
]
