"""Fold the operator patterns torch 2.13's exporter writes for some layers back
into one ``LayerLoom*`` operator each, before the ONNX importer maps them.

torch.onnx (``dynamo=True``) decomposes, for example, ``nn.Tanhshrink`` into
``Sub(x, Tanh(x))`` and ``nn.GroupNorm`` into a reshape, an
``InstanceNormalization`` per group, a reshape back, a scale and a shift. Each
pattern below starts from the last operator of such a decomposition and walks
back through the operators that made its inputs. A match is folded only when
every value inside it is used by the pattern alone (not by another operator,
nor as a model output), so that nothing else loses an input. Constants inside a
pattern (a threshold, an epsilon) become inputs of the folded operator, whose
rule (:mod:`~layerloom.backend.importers.rules_norm_act_onnx`) reads and checks
them. Operators are tried from the last to the first, so that the largest
pattern wins (RMSNorm with its scale over RMSNorm without).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from layerloom.backend.importers.onnx_ops import Op

STANDARD = ("", "ai.onnx")


class Patterns:
    """The operators of a model by the values they make and use."""

    def __init__(self, ops: list[Op], outputs: Iterable[str], constants: Iterable[str]):
        self.producer = {name: op for op in ops for name in op.outputs if name}
        self.users: dict[str, list[Op]] = {}
        for op in ops:
            for name in op.inputs:
                if name:
                    self.users.setdefault(name, []).append(op)
        self.outputs = set(outputs)
        self.constants = set(constants) | {
            name for op in ops if op.op_type == "Constant" and op.domain in STANDARD for name in op.outputs
        }

    def made(self, name: str, *types: str) -> Op | None:
        """The operator that makes ``name``, if it is one of ``types``."""
        op = self.producer.get(name)
        if op is not None and op.op_type in types and op.domain in STANDARD:
            return op
        return None

    def is_const(self, name: str) -> bool:
        return name in self.constants

    def private(self, op: Op, inside: set[int]) -> bool:
        """Every value ``op`` makes is used only by operators ``inside`` the pattern."""
        return all(
            name not in self.outputs and all(id(user) in inside for user in self.users.get(name, ()))
            for name in op.outputs if name
        )


Match = tuple[Op, list[Op]]  # the folded operator, the operators it replaces besides the last


def _pairs(op: Op):
    """Both orders of a commutative operator's two inputs."""
    a, b = op.inputs[:2]
    return ((a, b), (b, a))


def _folded(kind: str, last: Op, inputs: list[str], attrs: dict | None = None) -> Op:
    return Op(f"LayerLoom{kind}", last.name, inputs, list(last.outputs), dict(attrs or {}))


# ---------------------------------------------------------------- activations
def _tanhshrink(g: Patterns, op: Op) -> Match | None:
    x, t = op.inputs[:2]
    tanh = g.made(t, "Tanh")
    if tanh and tanh.inputs[0] == x:
        return _folded("Tanhshrink", op, [x]), [tanh]
    return None


def _log_sigmoid(g: Patterns, op: Op) -> Match | None:
    sigmoid = g.made(op.inputs[0], "Sigmoid")
    if sigmoid:
        return _folded("LogSigmoid", op, [sigmoid.inputs[0]]), [sigmoid]
    return None


def _glu(g: Patterns, op: Op) -> Match | None:
    """Split(x) into a, b; Mul(a, Sigmoid(b))."""
    for a, s in _pairs(op):
        sigmoid = g.made(s, "Sigmoid")
        split = sigmoid and g.made(sigmoid.inputs[0], "Split")
        if split and len(split.outputs) == 2 and split.outputs == [a, sigmoid.inputs[0]]:
            return _folded("GLU", op, [split.inputs[0]], {"axis": split.attrs.get("axis", 0)}), [sigmoid, split]
    return None


def _softsign(g: Patterns, op: Op) -> Match | None:
    """Div(x, Add(Abs(x), 1))."""
    x, d = op.inputs[:2]
    add = g.made(d, "Add")
    for a, one in _pairs(add) if add else ():
        absolute = g.made(a, "Abs")
        if absolute and absolute.inputs[0] == x and g.is_const(one):
            return _folded("Softsign", op, [x, one]), [add, absolute]
    return None


def _softplus(g: Patterns, op: Op) -> Match | None:
    """Where(Greater(beta·x, threshold), x, Softplus(beta·x) / beta); no Mul and Div for beta 1."""
    condition, x, soft = op.inputs[:3]
    greater = g.made(condition, "Greater")
    if not greater or not g.is_const(greater.inputs[1]):
        return None
    scaled, threshold = greater.inputs[:2]
    if scaled == x:
        softplus = g.made(soft, "Softplus")
        if softplus and softplus.inputs[0] == x:
            return _folded("Softplus", op, [x, threshold, ""]), [greater, softplus]
        return None
    mul, div = g.made(scaled, "Mul"), g.made(soft, "Div")
    if not mul or not div:
        return None
    beta = next((b for a, b in _pairs(mul) if a == x and g.is_const(b)), None)
    softplus = g.made(div.inputs[0], "Softplus")
    if beta and softplus and softplus.inputs[0] == scaled and div.inputs[1] == beta:
        return _folded("Softplus", op, [x, threshold, beta]), [greater, mul, div, softplus]
    return None


def _softshrink(g: Patterns, op: Op) -> Match | None:
    """Where(Greater(Abs(x), l), Sub(x, Mul(Sign(x), l)), Mul(x, 0))."""
    condition, kept, zeroed = op.inputs[:3]
    greater = g.made(condition, "Greater")
    absolute = greater and g.made(greater.inputs[0], "Abs")
    sub, times_zero = g.made(kept, "Sub"), g.made(zeroed, "Mul")
    if not (absolute and sub and times_zero):
        return None
    x, lambd = absolute.inputs[0], greater.inputs[1]
    shift = g.made(sub.inputs[1], "Mul") if sub.inputs[0] == x else None
    for s, again in _pairs(shift) if shift else ():
        sign = g.made(s, "Sign")
        zero = next((b for a, b in _pairs(times_zero) if a == x and g.is_const(b)), None)
        if sign and sign.inputs[0] == x and zero and g.is_const(lambd):
            return _folded("Softshrink", op, [x, lambd, again, zero]), [greater, absolute, sub, shift, sign, times_zero]
    return None


def _hardshrink(g: Patterns, op: Op) -> Match | None:
    """Where(LessOrEqual(Abs(x), l), 0, x)."""
    condition, zero, x = op.inputs[:3]
    less = g.made(condition, "LessOrEqual")
    absolute = less and g.made(less.inputs[0], "Abs")
    if absolute and absolute.inputs[0] == x and g.is_const(less.inputs[1]) and g.is_const(zero):
        return _folded("Hardshrink", op, [x, less.inputs[1], zero]), [less, absolute]
    return None


def _threshold(g: Patterns, op: Op) -> Match | None:
    """Where(LessOrEqual(x, threshold), value, x)."""
    condition, value, x = op.inputs[:3]
    less = g.made(condition, "LessOrEqual")
    if less and less.inputs[0] == x and g.is_const(less.inputs[1]) and g.is_const(value):
        return _folded("Threshold", op, [x, less.inputs[1], value]), [less]
    return None


# ------------------------------------------------------------- normalisation
def _rms_core(g: Patterns, op: Op):
    """Mul(x, Reciprocal(Sqrt(Add(ReduceMean(Pow(x, 2)), eps)))): (x, constant inputs, ops, ReduceMean attrs)."""
    for x, r in _pairs(op):
        reciprocal = g.made(r, "Reciprocal")
        root = reciprocal and g.made(reciprocal.inputs[0], "Sqrt")
        add = root and g.made(root.inputs[0], "Add")
        for m, eps in _pairs(add) if add else ():
            mean = g.made(m, "ReduceMean")
            power = mean and g.made(mean.inputs[0], "Pow")
            if power and power.inputs[0] == x and g.is_const(eps):
                axes = mean.inputs[1] if len(mean.inputs) > 1 else ""
                if not mean.attrs.get("keepdims", 1):
                    return None
                return x, [power.inputs[1], axes, eps], [reciprocal, root, add, mean, power], mean.attrs
    return None


def _rms_norm(g: Patterns, op: Op) -> Match | None:
    for m, weight in _pairs(op):
        inner = g.made(m, "Mul")
        core = inner and g.is_const(weight) and _rms_core(g, inner)
        if core:
            x, inputs, ops, attrs = core
            return _folded("RMSNorm", op, [x, *inputs, weight], {"axes": attrs.get("axes")}), [inner, *ops]
    core = _rms_core(g, op)
    if core:
        x, inputs, ops, attrs = core
        return _folded("RMSNorm", op, [x, *inputs, ""], {"axes": attrs.get("axes")}), ops
    return None


def _group_norm(g: Patterns, op: Op) -> Match | None:
    """Add(Mul(Reshape(InstanceNormalization(Reshape(x, (0, G, -1))), shape of x), w), b)."""
    for m, bias in _pairs(op):
        mul = g.made(m, "Mul")
        for r, weight in _pairs(mul) if mul and g.is_const(bias) else ():
            back = g.made(r, "Reshape")
            norm = back and g.made(back.inputs[0], "InstanceNormalization")
            grouped = norm and g.made(norm.inputs[0], "Reshape")
            if grouped and g.is_const(weight):
                x = grouped.inputs[0]
                inputs = [x, norm.inputs[1], norm.inputs[2], weight, bias]
                attrs = {"epsilon": norm.attrs.get("epsilon", 1e-5)}
                return _folded("GroupNorm", op, inputs, attrs), [mul, back, norm, grouped]
    return None


def _instance_norm_stats(g: Patterns, op: Op) -> Match | None:
    """Reshape(BatchNormalization(Reshape(x, (1, N·C, ...)), Tile(w), Tile(b), Tile(mean), Tile(var)))."""
    norm = g.made(op.inputs[0], "BatchNormalization")
    flat = norm and g.made(norm.inputs[0], "Reshape")
    tiles = [g.made(n, "Tile") for n in norm.inputs[1:5]] if norm and len(norm.inputs) >= 5 else []
    if flat and len(tiles) == 4 and all(tiles):
        inputs = [flat.inputs[0], *(t.inputs[0] for t in tiles)]
        attrs = {k: v for k, v in norm.attrs.items() if k in ("epsilon", "momentum")}
        return _folded("InstanceNormStats", op, inputs, attrs), [norm, flat]
    return None


def _lrn(g: Patterns, op: Op) -> Match | None:
    """x / (avg_pool(pad(x² with one more dim)) · alpha + k) ^ beta, across the channels."""
    x, d = op.inputs[:2]
    power = g.made(d, "Pow")
    add = power and g.made(power.inputs[0], "Add")
    for m, k in _pairs(add) if add else ():
        mul = g.made(m, "Mul")
        for s, alpha in _pairs(mul) if mul else ():
            ops = [power, add, mul]
            view = g.made(s, "Reshape")
            if view:
                ops.append(view)
                s = view.inputs[0]
            squeeze = g.made(s, "Squeeze")
            pool = squeeze and g.made(squeeze.inputs[0], "AveragePool")
            pad = pool and g.made(pool.inputs[0], "Pad")
            lifted = pad and g.made(pad.inputs[0], "Reshape", "Unsqueeze")
            square = lifted and g.made(lifted.inputs[0], "Mul")
            if square and square.inputs[:2] == [x, x] and all(g.is_const(c) for c in (alpha, k, power.inputs[1])):
                size = int(pool.attrs["kernel_shape"][0])
                inputs = [x, alpha, k, power.inputs[1]]
                return _folded("LRN", op, inputs, {"size": size}), [*ops, squeeze, pool, pad, lifted, square]
    return None


# op type of the last operator -> the patterns ending in it, tried in order
PATTERNS: dict[str, tuple[Callable[[Patterns, Op], Match | None], ...]] = {
    "Sub": (_tanhshrink,),
    "Log": (_log_sigmoid,),
    "Mul": (_rms_norm, _glu),
    "Div": (_lrn, _softsign),
    "Where": (_softplus, _softshrink, _hardshrink, _threshold),
    "Add": (_group_norm,),
    "Reshape": (_instance_norm_stats,),
}


def fold(ops: list[Op], outputs: Iterable[str] = (), constants: Iterable[str] = ()) -> list[Op]:
    """``ops`` with every pattern of :data:`PATTERNS` folded into one operator.

    ``outputs`` are the model's outputs and ``constants`` its initializers' names
    (the patterns check that scales and thresholds are constants).
    """
    g = Patterns(ops, outputs, constants)
    replaced: dict[int, Op] = {}
    dropped: set[int] = set()
    for op in reversed(ops):
        if id(op) in dropped or op.domain not in STANDARD:
            continue
        for pattern in PATTERNS.get(op.op_type, ()):
            found = pattern(g, op)
            if found is None:
                continue
            new, inner = found
            inside = {id(o) for o in inner} | {id(op)}
            if len(inside) != len(inner) + 1 or inside & (dropped | set(replaced)):
                continue
            if all(g.private(o, inside) for o in inner):
                replaced[id(op)] = new
                dropped |= inside - {id(op)}
                break
    return [replaced.get(id(op), op) for op in ops if id(op) not in dropped]
