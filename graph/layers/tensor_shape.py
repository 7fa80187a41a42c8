"""Tensor layers that move, cut and join values without computing new ones:
Transpose, FlattenDims, Squeeze, Unsqueeze, Split, Chunk, Slice, Select, Stack,
Expand and Repeat.

Dims are torch dims, counting the batch as dim 0 (``-1`` is the last); none of
these layers may touch the batch dim, so every sample stays apart and first.
Negative positions (``start=-3``, ``index=-1``) count from the end, as in Python.
"""

from __future__ import annotations

from layerloom.graph.errors import ShapeError
from layerloom.graph.layers._util import torch_dim
from layerloom.graph.layers.merge import MAX_INPUTS, merge_ports
from layerloom.graph.params import Int, Ints
from layerloom.graph.registry import Example, LayerSpec
from layerloom.graph.tensor import TensorSpec, fmt_shape

MAX_PARTS = 8  # output ports of Split and Chunk
DIM_RANGE = {"minimum": -9, "maximum": 8}  # a torch dim of a tensor of rank 9 at most


def _no_flops(p, ins, outs) -> int:
    return 0


def _dim(help_text: str, default: int = 1, name: str = "dim") -> Int:
    return Int(name, default, help_text, key=True, **DIM_RANGE)


def new_dim(name: str, dim: int, rank: int) -> int:
    """Where a new dim goes for a torch ``dim`` of the result (which has one more
    dim than the input): the index into the result's per-sample shape."""
    full = rank + 2  # batch + the input's dims + the new one
    if not -full <= dim < full:
        raise ShapeError(f"{name}: dim {dim} is out of range for a result of rank {full} (N + {rank + 1})")
    d = dim % full
    if d == 0:
        raise ShapeError(f"{name}: dim {dim} would put the new dim before the batch",
                         "use a dim of 1 or more, or -1")
    return d - 1


# ------------------------------------------------------------------ rules
def _transpose_rule(p, ins):
    t = ins["in"]
    a, b = torch_dim("Transpose", p["dim0"], t.rank), torch_dim("Transpose", p["dim1"], t.rank)
    shape = list(t.shape)
    shape[a], shape[b] = shape[b], shape[a]
    return {"out": t.with_shape(shape)}


def _flatten_dims_rule(p, ins):
    t = ins["in"]
    if t.rank == 0:
        raise ShapeError("FlattenDims needs at least one dim besides the batch; it receives a scalar per sample")
    start = torch_dim("FlattenDims start_dim", p["start_dim"], t.rank)
    end = torch_dim("FlattenDims end_dim", p["end_dim"], t.rank)
    if start > end:
        raise ShapeError(
            f"FlattenDims: start_dim {p['start_dim']} comes after end_dim {p['end_dim']} for input "
            f"{fmt_shape(t.shape)}", "give a start_dim at or before end_dim",
        )
    merged = 1
    for d in t.shape[start:end + 1]:
        merged *= d
    return {"out": t.with_shape((*t.shape[:start], merged, *t.shape[end + 1:]))}


def squeezed_dims(p, t: TensorSpec) -> tuple[int, ...]:
    """Per-sample indices of the dims Squeeze removes."""
    if p["dim"] is None:
        return tuple(i for i, d in enumerate(t.shape) if d == 1)
    d = torch_dim("Squeeze", p["dim"], t.rank)
    return (d,) if t.shape[d] == 1 else ()


def _squeeze_rule(p, ins):
    t = ins["in"]
    gone = squeezed_dims(p, t)
    return {"out": t.with_shape(tuple(d for i, d in enumerate(t.shape) if i not in gone))}


def _unsqueeze_rule(p, ins):
    t = ins["in"]
    d = new_dim("Unsqueeze", p["dim"], t.rank)
    return {"out": t.with_shape((*t.shape[:d], 1, *t.shape[d:]))}


def split_ports(p) -> tuple[str, ...]:
    return tuple(f"out{i}" for i in range(1, len(p["sizes"]) + 1))


def chunk_ports(p) -> tuple[str, ...]:
    return tuple(f"out{i}" for i in range(1, p["chunks"] + 1))


def _parts(t: TensorSpec, d: int, sizes) -> dict[str, TensorSpec]:
    out = {}
    for i, size in enumerate(sizes, start=1):
        shape = list(t.shape)
        shape[d] = size
        out[f"out{i}"] = t.with_shape(shape)
    return out


def _split_rule(p, ins):
    t = ins["in"]
    d = torch_dim("Split", p["dim"], t.rank)
    sizes = p["sizes"]
    if sum(sizes) != t.shape[d]:
        raise ShapeError(
            f"Split on dim {p['dim']}: the sizes {list(sizes)} add up to {sum(sizes)}, but the input "
            f"{fmt_shape(t.shape)} has {t.shape[d]} there",
            f"give sizes that add up to {t.shape[d]}",
        )
    return _parts(t, d, sizes)


def chunk_sizes(chunks: int, size: int) -> list[int]:
    """torch.chunk's parts of a dim of ``size``: ceil(size / chunks) each, the last
    one smaller (so there may be fewer than ``chunks`` parts)."""
    step = -(-size // chunks)
    return [min(step, size - start) for start in range(0, size, step)]


def _chunk_rule(p, ins):
    t = ins["in"]
    d = torch_dim("Chunk", p["dim"], t.rank)
    sizes = chunk_sizes(p["chunks"], t.shape[d])
    if len(sizes) != p["chunks"]:
        raise ShapeError(
            f"Chunk into {p['chunks']} on dim {p['dim']}: torch cuts {t.shape[d]} values into "
            f"{len(sizes)} parts of {sizes} (input {fmt_shape(t.shape)}), not {p['chunks']}",
            "choose a number of chunks that divides the dim, or use Split with explicit sizes",
        )
    return _parts(t, d, sizes)


def slice_length(size: int, start: int, end: int | None, step: int) -> int:
    return len(range(*slice(start, end, step).indices(size)))


def _slice_rule(p, ins):
    t = ins["in"]
    d = torch_dim("Slice", p["dim"], t.rank)
    length = slice_length(t.shape[d], p["start"], p["end"], p["step"])
    if length == 0:
        end = "" if p["end"] is None else p["end"]
        raise ShapeError(
            f"Slice {p['start']}:{end}:{p['step']} of dim {p['dim']} keeps nothing of the "
            f"{t.shape[d]} values of input {fmt_shape(t.shape)}",
            "choose start and end inside the dim (negative numbers count from its end)",
        )
    shape = list(t.shape)
    shape[d] = length
    return {"out": t.with_shape(shape)}


def _select_rule(p, ins):
    t = ins["in"]
    d = torch_dim("Select", p["dim"], t.rank)
    size, index = t.shape[d], p["index"]
    if not -size <= index < size:
        raise ShapeError(
            f"Select: index {index} is out of range for dim {p['dim']} of size {size} (input {fmt_shape(t.shape)})",
            f"use an index from {-size} to {size - 1}",
        )
    return {"out": t.with_shape(t.shape[:d] + t.shape[d + 1:])}


def _stack_rule(p, ins):
    ts = [ins[port] for port in merge_ports(p)]
    first = ts[0]
    for port, t in zip(merge_ports(p), ts, strict=True):
        if t.shape != first.shape or t.dtype != first.dtype:
            raise ShapeError(
                f"Stack needs inputs of one shape and dtype; in1 is {first} but {port} is {t}",
                "make the inputs agree (a Reshape or Cast on one side), or use Concat to join along a dim",
            )
    d = new_dim("Stack", p["dim"], first.rank)
    return {"out": first.with_shape((*first.shape[:d], len(ts), *first.shape[d:]))}


def _expand_rule(p, ins):
    t = ins["in"]
    sizes = p["sizes"]
    if len(sizes) != t.rank:
        raise ShapeError(
            f"Expand needs one size per dim of the input {fmt_shape(t.shape)} (the batch excluded); "
            f"got {len(sizes)}: {list(sizes)}",
            "new dims would come before the batch: add them with Unsqueeze first",
        )
    shape = []
    for i, (have, want) in enumerate(zip(t.shape, sizes, strict=True)):
        if want == -1 or want == have:
            shape.append(have)
        elif have == 1 and want >= 1:
            shape.append(want)
        else:
            raise ShapeError(
                f"Expand cannot turn dim {i + 1} of size {have} into {want} (input {fmt_shape(t.shape)}, "
                f"sizes {list(sizes)}): only dims of size 1 expand",
                "use -1 to keep a dim, or Repeat to tile it",
            )
    return {"out": t.with_shape(shape)}


def _repeat_rule(p, ins):
    t = ins["in"]
    repeats = p["repeats"]
    if len(repeats) != t.rank:
        raise ShapeError(
            f"Repeat needs one count per dim of the input {fmt_shape(t.shape)} (the batch excluded); "
            f"got {len(repeats)}: {list(repeats)}",
            "new dims would come before the batch: add them with Unsqueeze first",
        )
    return {"out": t.with_shape(tuple(d * r for d, r in zip(t.shape, repeats, strict=True)))}


def _repeat_flops(p, ins, outs) -> int:
    return 0


# ------------------------------------------------------------------ specs
def _ex(shape, dtype="float", **params) -> Example:
    return Example({"in": TensorSpec(shape, dtype)}, params)


SPECS = [
    LayerSpec(
        "transpose", "Transpose", "Tensor",
        "Swaps two dims, like x.transpose(dim0, dim1); the batch (dim 0) cannot move.",
        (_dim("First dim to swap (1 = first after the batch; -1 = last)", 1, "dim0"),
         _dim("Second dim to swap", 2, "dim1")),
        _transpose_rule, flops=_no_flops, keywords=("swap", "swapaxes", "transpose", "axes", "t"),
        examples=(_ex((3, 4, 5), dim0=1, dim1=-1), _ex((4, 6), dim0=-1, dim1=-2)),
    ),
    LayerSpec(
        "flatten_dims", "FlattenDims", "Tensor",
        "Merges the dims start_dim..end_dim into one, like torch.flatten(x, start_dim, end_dim); the batch stays.",
        (_dim("First dim to merge (1 or later: the batch stays apart)", 1, "start_dim"),
         _dim("Last dim to merge (-1 = the last)", -1, "end_dim")),
        _flatten_dims_rule, flops=_no_flops, keywords=("flatten", "merge dims", "reshape", "view"),
        examples=(_ex((2, 3, 4, 5), start_dim=2, end_dim=3), _ex((3, 4, 5))),
    ),
    LayerSpec(
        "squeeze", "Squeeze", "Tensor",
        "Removes a dim of size 1 (or, with no dim, every size-1 dim but the batch), like x.squeeze(dim).",
        (Int("dim", None, "Dim to remove if its size is 1; left unset, every size-1 dim after the batch",
             unset="every size-1 dim", key=True, **DIM_RANGE),),
        _squeeze_rule, flops=_no_flops, keywords=("drop dim", "remove dim"),
        examples=(_ex((1, 4, 1)), _ex((3, 1, 5), dim=2), _ex((3, 4), dim=-1)),
    ),
    LayerSpec(
        "unsqueeze", "Unsqueeze", "Tensor",
        "Inserts a dim of size 1 at dim (of the result), like x.unsqueeze(dim).",
        (_dim("Position of the new dim in the result (1 = right after the batch; -1 = last)"),),
        _unsqueeze_rule, flops=_no_flops, keywords=("add dim", "new axis", "expand dims", "none"),
        examples=(_ex((3, 4)), _ex((5,), dim=-1)),
    ),
    LayerSpec(
        "split", "Split", "Tensor",
        "Cuts one dim into consecutive parts of the given sizes, like torch.split(x, sizes, dim): one output per part.",
        (Ints("sizes", (1, 1), "Size of each part, in order; they add up to the dim's size (8 parts at most)",
              minimum=1, key=True),
         _dim("Dim to cut (1 = first after the batch; -1 = last)")),
        _split_rule, outputs=split_ports, flops=_no_flops,
        keywords=("cut", "separate", "qkv", "parts", "unbind"),
        examples=(_ex((6, 4), sizes=(2, 4), dim=1), _ex((3, 9), sizes=(3, 3, 3), dim=-1)),
    ),
    LayerSpec(
        "chunk", "Chunk", "Tensor",
        "Cuts one dim into N equal parts, like x.chunk(N, dim) (q, k, v = x.chunk(3, dim=-1)): one output per part.",
        (Int("chunks", 2, "Number of parts; the dim's size should be a multiple of it", minimum=1,
             maximum=MAX_PARTS, key=True),
         _dim("Dim to cut (1 = first after the batch; -1 = last)", -1)),
        _chunk_rule, outputs=chunk_ports, flops=_no_flops, keywords=("split", "equal parts", "qkv"),
        examples=(Example({"in": TensorSpec((4, 6))}, {"chunks": 3}, policy=True),),
    ),
    LayerSpec(
        "slice", "Slice", "Tensor",
        "Keeps positions start:end:step of one dim, like x[:, start:end]; negative positions count from the end.",
        (_dim("Dim to slice (1 = first after the batch; -1 = last)"),
         Int("start", 0, "First position kept (negative: from the end)", key=True),
         Int("end", None, "Position to stop before (negative: from the end); left unset, the end of the dim",
             unset="the end of the dim", key=True),
         Int("step", 1, "Keep every step-th position", minimum=1)),
        _slice_rule, flops=_no_flops, keywords=("crop", "range", "getitem", "cut", "narrow"),
        examples=(Example({"in": TensorSpec((5, 4))}, {"dim": 1, "start": 1, "end": 4}, policy=True),
                  Example({"in": TensorSpec((3, 8))}, {"dim": -1, "start": -6, "step": 2}, policy=True)),
    ),
    LayerSpec(
        "select", "Select", "Tensor",
        "Takes one position of a dim and drops that dim, like x[:, -1] (the last time step) or x[:, 0] (a class token).",
        (_dim("Dim to index (1 = first after the batch; -1 = last)"),
         Int("index", 0, "Position taken (negative: from the end, -1 = the last)", key=True)),
        _select_rule, flops=_no_flops, keywords=("index", "last step", "class token", "cls", "getitem", "pick"),
        examples=(_ex((5, 4), dim=1, index=-1), _ex((3, 4, 2), dim=2, index=0)),
    ),
    LayerSpec(
        "stack", "Stack", "Tensor",
        "Stacks equal-shaped inputs along a new dim, like torch.stack((a, b), dim).",
        (Int("inputs", 2, "Number of inputs", minimum=2, maximum=MAX_INPUTS),
         _dim("Position of the new dim in the result (1 = right after the batch; -1 = last)")),
        _stack_rule, inputs=merge_ports, flops=_no_flops, keywords=("join", "new dim", "merge"),
        examples=(Example({"in1": TensorSpec((3, 4)), "in2": TensorSpec((3, 4))}, {"dim": -1}),),
    ),
    LayerSpec(
        "expand", "Expand", "Tensor",
        "Repeats dims of size 1 to the given sizes without copying, like x.expand(-1, *sizes); -1 keeps a dim.",
        (Ints("sizes", (-1,), "New size of each dim after the batch; -1 keeps it; only dims of size 1 change",
              minimum=-1, key=True),),
        _expand_rule, flops=_no_flops, keywords=("broadcast", "tile", "expand_as"),
        examples=(_ex((1, 4), sizes=(3, -1)), _ex((2, 1, 1), sizes=(-1, 3, 4))),
    ),
    LayerSpec(
        "repeat", "Repeat", "Tensor",
        "Tiles each dim a number of times, like x.repeat(1, *repeats) (the batch is not repeated).",
        (Ints("repeats", (2,), "How many times to tile each dim after the batch", minimum=1,
              maximum=10_000, key=True),),
        _repeat_rule, flops=_repeat_flops, keywords=("tile", "copy", "duplicate"),
        examples=(_ex((2, 3), repeats=(2, 1)), _ex((4,), repeats=(3,))),
    ),
]
