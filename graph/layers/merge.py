"""Merges: Add (residual), Concat, Multiply. The number of inputs is a parameter,
so the ports are ``in1 .. inN`` in a fixed order (Concat's order).

Add and Multiply broadcast as torch does: inputs of one rank whose dims agree or
are 1 (``x * gate`` with a gate of shape (C, 1, 1)). Equal shapes, all that
older versions took, mean what they always meant."""

from __future__ import annotations

from layerloom.graph.errors import ShapeError
from layerloom.graph.layers._util import need_float, torch_dim
from layerloom.graph.params import Int
from layerloom.graph.registry import Example, LayerSpec
from layerloom.graph.tensor import TensorSpec, fmt_shape

MAX_INPUTS = 8


def merge_ports(p) -> tuple[str, ...]:
    return tuple(f"in{i}" for i in range(1, p["inputs"] + 1))


def _ordered(p, ins):
    return [ins[port] for port in merge_ports(p)]


def _broadcast(name: str, verb: str):
    def rule(p, ins):
        ports = merge_ports(p)
        ts = _ordered(p, ins)
        for t in ts:
            need_float(name, t)
        first = ts[0]
        shape = list(first.shape)
        for port, t in zip(ports[1:], ts[1:], strict=True):
            fits = t.rank == first.rank and all(
                x == y or 1 in (x, y) for x, y in zip(shape, t.shape, strict=True))
            if not fits:
                raise ShapeError(
                    f"{name} needs equal shapes; in1 is {fmt_shape(first.shape)} but "
                    f"{port} is {fmt_shape(t.shape)} (of one rank, a dim of size 1 broadcasts)",
                    f"make the branches agree (a Dense or 1x1 Conv on one side), or use Concat to {verb}",
                )
            shape = [max(x, y) if 1 in (x, y) else x for x, y in zip(shape, t.shape, strict=True)]
        return {"out": first.with_shape(shape)}

    return rule


def _concat_rule(p, ins):
    ts = _ordered(p, ins)
    first = ts[0]
    for t in ts[1:]:
        if t.rank != first.rank or t.dtype != first.dtype:
            raise ShapeError(
                f"Concat needs inputs of one rank and dtype; got "
                f"{', '.join(str(x) for x in ts)}"
            )
    d = torch_dim("Concat", p["dim"], first.rank)
    for port, t in zip(merge_ports(p), ts, strict=True):
        rest = t.shape[:d] + t.shape[d + 1:]
        if rest != first.shape[:d] + first.shape[d + 1:]:
            raise ShapeError(
                f"Concat on dim {p['dim']}: {port} is {fmt_shape(t.shape)} but in1 is "
                f"{fmt_shape(first.shape)}; all other dims must match"
            )
    shape = list(first.shape)
    shape[d] = sum(t.shape[d] for t in ts)
    return {"out": first.with_shape(shape)}


def _inputs_param():
    return Int("inputs", 2, "Number of inputs", minimum=2, maximum=MAX_INPUTS)


_EXAMPLES = (
    Example({"in1": TensorSpec((8,)), "in2": TensorSpec((8,))}),
    Example({"in1": TensorSpec((3, 4, 4)), "in2": TensorSpec((3, 1, 1))}),
)

SPECS = [
    LayerSpec(
        "add", "Add", "Merge", "Sums its inputs element-wise (residual connections), broadcasting dims of size 1.",
        (_inputs_param(),), _broadcast("Add", "join them"), inputs=merge_ports,
        keywords=("sum", "residual", "skip", "plus", "broadcast"), examples=_EXAMPLES,
    ),
    LayerSpec(
        "concat", "Concat", "Merge", "Joins its inputs along one dim (torch.cat).",
        (_inputs_param(), Int("dim", 1, "Dim to join on (1 = channels/features; batch is 0)", minimum=-8, maximum=8, key=True)),
        _concat_rule, inputs=merge_ports, flops=lambda p, i, o: 0,
        keywords=("cat", "join", "stack", "merge"),
    ),
    LayerSpec(
        "multiply", "Multiply", "Merge", "Multiplies its inputs element-wise (gating), broadcasting dims of size 1.",
        (_inputs_param(),), _broadcast("Multiply", "join them"), inputs=merge_ports,
        keywords=("product", "gate", "hadamard", "mul", "broadcast"), examples=_EXAMPLES,
    ),
]
