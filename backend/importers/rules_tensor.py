"""How PyTorch code that reshapes, cuts, indexes, reduces and casts tensors, and
the tensors a model holds outside its layers, become LayerLoom's Tensor layers.

- ``x.transpose(1, 2)`` -> Transpose; ``x[:, 0]``, ``x[:, -1, :]`` -> Select;
  ``x[:, :T]``, ``x[..., 1:]`` -> Slice (``x[:, None]`` is a view);
- ``x.split(C, dim=2)``, ``q, k, v = x.chunk(3, dim=-1)``, ``x.unbind(1)`` ->
  Split or Chunk, one output port per part;
- ``torch.gather``, ``torch.index_select``, ``torch.stack``, ``x.expand(B, -1, -1)``,
  ``x.repeat(...)``, reductions with dims (``mean`` keeps its GlobalAvgPool
  mapping where that fits), ``argmax`` / ``argmin``, ``x.float()`` / ``x.long()`` /
  ``x.to(dtype)`` / ``x.type_as(y)``;
- ``self.cls_token`` (an ``nn.Parameter``) -> Parameter, a buffer -> Constant,
  repeated over the batch (see :mod:`.held_tensors`); ``self.pos_embed[:, :T]``
  is cut from the stored tensor first; ``torch.randn_like(x)`` -> RandomNormal; ``torch.zeros_like(x)``,
  ``ones_like``, ``full_like`` -> Constant.

Reshapes that keep the batch (``view``, ``flatten``, ``squeeze``, ``unsqueeze``)
stay with the general rule, which follows them lazily.
"""

from __future__ import annotations

import builtins
import math
import operator

import torch
from torch import fx

from layerloom.backend.importers import torch_rules as general
from layerloom.backend.importers.common import Unsupported, Value, refuse
from layerloom.backend.importers.held_tensors import LONG_DTYPES, Attr, get_attr, is_tensor
from layerloom.backend.importers.torch_rules import Items, arg
from layerloom.graph.errors import ParamError
from layerloom.graph.layers.merge import MAX_INPUTS
from layerloom.graph.layers.tensor_shape import MAX_PARTS, chunk_sizes, slice_length

FLOAT_DTYPES = {torch.float32: "float"}
REDUCTIONS = {
    torch.sum: "sum", torch.amax: "max", torch.amin: "min", torch.prod: "prod",
    torch.logsumexp: "logsumexp", torch.var: "var", torch.std: "std", torch.mean: "mean",
    "sum": "sum", "amax": "max", "amin": "min", "prod": "prod", "logsumexp": "logsumexp",
    "var": "var", "std": "std", "mean": "mean",
}


# ------------------------------------------------------------------ indexing
def _resolved(mp, value):
    """A slice bound or index: an int, or a size the recorded run knows."""
    if isinstance(value, fx.Node):
        found = mp.records.get(value)
        refuse(not isinstance(found, int), "indexes with a computed value")
        return found
    return value


def _items(mp, index, rank: int) -> list:
    """The index as one item per dim (ints and slices), with ``None`` where it adds
    a dim and ``...`` spelt out; ``rank`` counts the batch."""
    items = list(index) if isinstance(index, tuple) else [index]
    for item in items:
        if isinstance(item, (list, torch.Tensor)) or (isinstance(item, fx.Node) and is_tensor(mp.records.get(item))):
            raise Unsupported("indexes with a list or a tensor; use torch.gather or torch.index_select")
    items = [slice(*(_resolved(mp, v) for v in (i.start, i.stop, i.step))) if isinstance(i, slice)
             else (i if i is None or i is Ellipsis else _resolved(mp, i)) for i in items]
    used = sum(1 for i in items if i is not None and i is not Ellipsis)
    refuse(used > rank, f"indexes {used} dims of a tensor of rank {rank}")
    if Ellipsis in items:
        at = items.index(Ellipsis)
        items[at:at + 1] = [slice(None)] * (rank - used)
    else:
        items += [slice(None)] * (rank - used)
    return items


def getitem(mp, node):
    container, index = node.args
    entry = mp.entry(container)
    if isinstance(entry, Attr):
        items = _items(mp, index, entry.tensor.dim())
        return entry.cut(entry.tensor[tuple(items)], node)
    if isinstance(entry, Items) and isinstance(index, slice):
        return Items(entry[index])  # q, k = x.unbind(1)[:2]
    if isinstance(entry, Stacked):
        return entry.part(mp, index)
    if not isinstance(entry, Value):
        return getitem.previous(mp, node)
    x = mp.lazy(container)
    items = _items(mp, index, x.rank + 1)
    consuming = [i for i in items if i is not None]
    refuse(consuming[0] != slice(None), "indexes or slices the batch dim; LayerLoom keeps every sample")
    out, d = x, 0  # d: the per-sample dim the next item reads
    for item in consuming[1:]:
        if isinstance(item, slice):
            size = out.shape[d]
            step = 1 if item.step is None else item.step
            refuse(step < 1, f"slices with step {step}; LayerLoom's Slice steps forward")
            length = slice_length(size, item.start or 0, item.stop, step)
            refuse(length == 0, f"slices dim {d + 1} to nothing")
            if length != size:
                params = {"dim": d + 1, "start": item.start or 0, "end": item.stop, "step": step}
                out = _add(mp, "slice", params, out, out.shape[:d] + (length,) + out.shape[d + 1:])
            d += 1
        else:
            size = out.shape[d]
            refuse(not -size <= item < size, f"index {item} is out of range for dim {d + 1} of size {size}")
            out = _add(mp, "select", {"dim": d + 1, "index": item}, out, out.shape[:d] + out.shape[d + 1:])
    return out.viewed(mp.shape(node)) if None in items else out


def _add(mp, type_id: str, params: dict, x: Value, shape) -> Value:
    return mp.builder.add(type_id, params, [mp.builder.materialise(x)], shape, dtype=x.dtype)


# -------------------------------------------------------------- cut and join
def _source(node):
    return node.args[0] if node.args else node.kwargs.get("input")


def _batch_dim(dim: int, rank: int, what: str) -> int:
    """``dim`` normalised for a tensor of ``rank`` (with the batch); refuses the batch."""
    refuse(not -rank <= dim < rank, f"dim {dim} is out of range for rank {rank}")
    refuse(dim % rank == 0, f"{what} the batch dim; LayerLoom keeps every sample apart")
    return dim


def parts(mp, node, type_id: str, params: dict, x: Value, count: int) -> Items:
    """A Split or Chunk node of ``count`` parts; each output port as an item."""
    first = mp.add(node, type_id, params, [x], item=0)
    return Items(mp.builder.port_of(first, f"out{i + 1}", mp.shape(node, i), x.dtype) for i in range(count))


def split(mp, node):
    """``torch.split(x, size_or_sizes, dim)``, ``x.split(...)``."""
    x = mp.tensor(_source(node))
    dim = _batch_dim(arg(node, 2, "dim", 0), x.rank + 1, "splits")
    results = mp.records.get(node)
    refuse(not isinstance(results, tuple), "does not give parts")
    sizes = [r.shape[dim] for r in results]
    refuse(len(sizes) > MAX_PARTS, f"cuts into {len(sizes)} parts; LayerLoom's Split gives {MAX_PARTS} at most")
    if len(sizes) == 1:
        return Items((x,))
    return parts(mp, node, "split", {"sizes": sizes, "dim": dim}, x, len(sizes))


def chunk(mp, node):
    """``x.chunk(n, dim)``: a Chunk, or a Split where torch gives fewer parts."""
    x = mp.tensor(_source(node))
    chunks = arg(node, 1, "chunks")
    dim = _batch_dim(arg(node, 2, "dim", 0), x.rank + 1, "chunks")
    results = mp.records.get(node)
    sizes = [r.shape[dim] for r in results]
    if len(sizes) == 1:
        return Items((x,))
    refuse(len(sizes) > MAX_PARTS, f"cuts into {len(sizes)} parts; LayerLoom's Chunk gives {MAX_PARTS} at most")
    if sizes == chunk_sizes(chunks, x.shape[dim % (x.rank + 1) - 1]) and len(sizes) == chunks:
        return parts(mp, node, "chunk", {"chunks": chunks, "dim": dim}, x, len(sizes))
    return parts(mp, node, "split", {"sizes": sizes, "dim": dim}, x, len(sizes))


def unbind(mp, node):
    """``x.unbind(dim)``: a Split into parts of 1, each viewed without the dim."""
    entry = mp.entry(_source(node))
    if isinstance(entry, Stacked) and arg(node, 1, "dim", 0) == 0:
        return Items(entry.part(mp, i) for i in range(entry.count))
    x = mp.tensor(_source(node))
    dim = _batch_dim(arg(node, 1, "dim", 0), x.rank + 1, "unbinds")
    d = dim % (x.rank + 1) - 1
    count = x.shape[d]
    refuse(count > MAX_PARTS, f"cuts into {count} parts; LayerLoom's Split gives {MAX_PARTS} at most")
    if count == 1:
        return Items((x.viewed(x.shape[:d] + x.shape[d + 1:]),))
    one = x.shape[:d] + (1,) + x.shape[d + 1:]
    node_value = mp.builder.add("split", {"sizes": [1] * count, "dim": dim}, [x], one, dtype=x.dtype)
    return Items([mp.builder.port_of(node_value, f"out{i + 1}", one, x.dtype).viewed(mp.shape(node, i))
                  for i in range(count)])


class Stacked:
    """A permute that brings a dim of stacked parts to the front and the batch to
    dim 1, whose every use takes one part (``qkv.permute(2, 0, 3, 1, 4)`` then
    ``qkv[0]`` or ``q, k, v = qkv.unbind(0)``, as ViT and GPT code split q, k and
    v): each part is a Select of that dim, then the rest of the permute, so the
    batch never leaves dim 0."""

    def __init__(self, x: Value, order: list[int]):
        self.x = x
        self.order = order  # with the batch: order[0] is the parts' dim, order[1] == 0
        self.count = x.shape[order[0] - 1]
        self._made: dict[int, Value] = {}

    def part(self, mp, index) -> Value:
        refuse(not isinstance(index, int) or not -self.count <= index < self.count,
               f"takes {index!r} of {self.count} stacked parts; LayerLoom reads one part at a time")
        index %= self.count
        if index not in self._made:
            dim = self.order[0]
            shape = self.x.shape[:dim - 1] + self.x.shape[dim:]
            out = _add(mp, "select", {"dim": dim, "index": index}, self.x, shape)
            rest = [d - (d > dim) for d in self.order[1:]]
            if rest != list(range(len(rest))):
                out = _add(mp, "permute", {"dims": rest[1:]}, out, tuple(shape[d - 1] for d in rest[1:]))
            self._made[index] = out
        return self._made[index]


def _takes_one_part(user: fx.Node, node: fx.Node) -> bool:
    if user.target is operator.getitem:
        return user.args[0] is node and isinstance(user.args[1], int)
    if user.target in ("unbind", torch.unbind):
        return user.args[0] is node and arg(user, 1, "dim", 0) == 0
    return False


def stacked_permute(mp, node):
    """``x.permute(2, 0, 3, 1, 4)`` read part by part: a :class:`Stacked`; any
    other permute goes to the general rule."""
    dims = node.args[1:] if node.op == "call_method" else (arg(node, 1, "dims"),)
    if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
        dims = dims[0]
    if node.users and all(isinstance(d, int) for d in dims) and all(_takes_one_part(u, node) for u in node.users):
        x = mp.tensor(node.args[0])
        rank = x.rank + 1
        order = [int(d) % rank for d in dims]
        if len(order) == rank and order[0] != 0 and order[1] == 0:
            return Stacked(x, order)
    return stacked_permute.previous(mp, node)


stacked_permute.previous = None


def transpose(mp, node):
    """``x.transpose(a, b)``, ``torch.swapaxes``: a Transpose (nothing when a == b)."""
    x = mp.tensor(_source(node))
    rank = x.rank + 1
    a, b = arg(node, 1, "dim0"), arg(node, 2, "dim1")
    refuse(not (-rank <= a < rank and -rank <= b < rank), f"dims {a}, {b} for a tensor of rank {rank}")
    refuse(a % rank == 0 or b % rank == 0, f"moves the batch dim (transpose({a}, {b})); the batch must stay first")
    if a % rank == b % rank:
        return x
    return mp.add(node, "transpose", {"dim0": a, "dim1": b}, [x])


def stack(mp, node):
    items = node.args[0] if node.args else node.kwargs.get("tensors")
    refuse(not isinstance(items, (list, tuple)), "stacks a computed list of tensors")
    refuse(len(items) > MAX_INPUTS, f"stacks {len(items)} tensors; LayerLoom's Stack takes {MAX_INPUTS} at most")
    values = [mp.tensor(i) for i in items]
    dim = arg(node, 1, "dim", 0)
    rank = values[0].rank + 2
    refuse(not -rank <= dim < rank or dim % rank == 0, f"stacks on dim {dim}, before the batch")
    if len(values) == 1:
        return values[0].viewed(mp.shape(node))
    return mp.add(node, "stack", {"inputs": len(values), "dim": dim}, values)


def gather(mp, node):
    refuse(bool(node.kwargs.get("sparse_grad", False)), "sparse_grad=True")
    x = mp.tensor(_source(node))
    dim = _batch_dim(arg(node, 1, "dim"), x.rank + 1, "gathers along")
    index = mp.tensor(arg(node, 2, "index"))
    return mp.add(node, "gather", {"dim": dim}, [x, index])


def index_select(mp, node):
    """``torch.index_select(x, dim, idx)``: the positions are one list for the whole
    batch, a tensor the model holds (an ``nn.Parameter`` or buffer)."""
    x = mp.tensor(_source(node))
    dim = _batch_dim(arg(node, 1, "dim"), x.rank + 1, "selects along")
    source = arg(node, 2, "index")
    entry = mp.entry(source)
    refuse(not isinstance(entry, Attr),
           "selects with positions computed from the inputs; LayerLoom's IndexSelect reads them per sample")
    refuse(entry.tensor.dim() != 1, f"selects with an index of shape {tuple(entry.tensor.shape)}")
    index = entry.as_value(mp, tuple(entry.tensor.shape))
    return mp.add(node, "index_select", {"dim": dim}, [x, index])


def reshape_held(mp, node):
    """``self.queries.unsqueeze(0)``, ``self.pos.view(1, n, d)``: a reshape of a
    tensor the model holds is that tensor reshaped (it meets the batch later, in an
    ``expand`` or ``repeat`` over ``x.size(0)`` or an addition); others as before."""
    entry = mp.entry(_source(node))
    found = mp.records.get(node)
    if isinstance(entry, Attr) and is_tensor(found) and math.prod(found.shape) == entry.tensor.numel():
        return Attr(entry.tensor.reshape(found.shape), node, entry.parameter, entry.source, entry.label)
    return reshape_held.previous(mp, node)


reshape_held.previous = None


def expand(mp, node):
    """``x.expand(B, -1, -1)``, ``x.expand_as(y)``: nothing when only the batch is
    new (a Parameter is repeated over the batch already), else an Expand."""
    x = mp.lazy(_source(node))
    target = mp.shape(node)
    if target == x.shape:
        return x
    refuse(len(target) != x.rank, f"expands {x.shape} to {target}, adding dims; Unsqueeze them first")
    sizes = [-1 if a == b else b for a, b in zip(x.shape, target, strict=True)]
    return mp.add(node, "expand", {"sizes": sizes}, [mp.builder.materialise(x)])


def repeat(mp, node):
    """``x.repeat(1, 2, 1)``, ``torch.tile``: the counts are the recorded sizes'
    ratios (the batch must not repeat)."""
    x = mp.tensor(_source(node))
    target = mp.shape(node)
    refuse(len(target) != x.rank, f"tiles {x.shape} into {target}, adding dims; Unsqueeze them first")
    repeats = [b // a for a, b in zip(x.shape, target, strict=True)]
    if all(r == 1 for r in repeats):
        return x
    return mp.add(node, "repeat", {"repeats": repeats}, [x])


# ---------------------------------------------------------------- reductions
def _dims(value, rank: int, what: str) -> list[int]:
    refuse(value is None or value == [] or value == (), f"{what} every value of the batch; give dim=")
    dims = [value] if isinstance(value, int) else list(value)
    for d in dims:
        _batch_dim(d, rank, what)
    return dims


def reduce(mp, node):
    """``x.sum(dim, keepdim)``, ``torch.amax``, ``torch.var(x, dim, correction=)``...;
    ``mean`` keeps its GlobalAvgPool mapping where one dim is left."""
    op = REDUCTIONS[node.target]
    x = mp.tensor(_source(node))
    refuse(node.kwargs.get("dtype") is not None or node.kwargs.get("out") is not None, "a dtype or out")
    params: dict = {"op": op}
    if op in ("var", "std"):
        dims, unbiased = arg(node, 1, "dim"), arg(node, 2, "unbiased")
        if isinstance(unbiased, bool):  # the older signature var(x, dim, unbiased, keepdim)
            params["correction"], keepdim = int(unbiased), arg(node, 3, "keepdim", False)
        else:
            params["correction"], keepdim = int(node.kwargs.get("correction", 1)), node.kwargs.get("keepdim", False)
    else:
        dims, keepdim = arg(node, 1, "dim"), arg(node, 2, "keepdim", False)
    dims = _dims(dims, x.rank + 1, "reduces")
    if op == "mean" and x.rank - len({d % (x.rank + 1) for d in dims}) == 1:
        return general.mean(mp, node)
    return mp.add(node, "reduce", {**params, "dims": dims, "keepdim": bool(keepdim)}, [x])


class Pair(Items):
    """``torch.max(x, dim)``'s (values, indices): each made on first use."""

    def __new__(cls, makers):
        pair = super().__new__(cls, (None, None))
        pair.makers = makers
        pair.made = {}
        return pair

    def __getitem__(self, index):
        if index not in self.made:
            self.made[index] = self.makers[index]()
        return self.made[index]


def max_min(kind: str):
    """``torch.max(x, dim)`` / ``x.min(dim, keepdim)``: (values, indices) as a
    Reduce and an ArgMax / ArgMin; without a dim, or between tensors, refused."""

    def rule(mp, node):
        other = arg(node, 1, "dim")
        refuse(other is None, f"takes the {kind} of every value of the batch; give dim=")
        if not isinstance(other, int) and rule.previous is not None:
            return rule.previous(mp, node)  # the element-wise max of two tensors
        refuse(not isinstance(other, int), f"the element-wise {kind} of two tensors; LayerLoom's Tensor {kind} reduces a dim")
        x = mp.tensor(_source(node))
        dim = _batch_dim(other, x.rank + 1, "reduces")
        keepdim = bool(arg(node, 2, "keepdim", False))

        def values():
            return mp.add(node, "reduce", {"op": kind, "dims": [dim], "keepdim": keepdim}, [x], item=0)

        def indices():
            return mp.add(node, f"arg{kind}", {"dim": dim, "keepdim": keepdim}, [x], item=1)

        return Pair({0: values, 1: indices, -2: values, -1: indices})

    rule.previous = None  # the rule this one replaces (families.py sets it)
    return rule


def pair_attribute(mp, node):
    """``torch.max(x, 1).values`` / ``.indices``; other attributes as before."""
    entry = mp.entry(node.args[0])
    name = node.args[1] if len(node.args) > 1 else None
    if isinstance(entry, Pair) and name in ("values", "indices"):
        return entry[0 if name == "values" else 1]
    return pair_attribute.previous(mp, node)


def arg_extreme(kind: str):
    def rule(mp, node):
        x = mp.tensor(_source(node))
        dim = arg(node, 1, "dim")
        refuse(dim is None, f"arg{kind} over every value of the batch; give dim=")
        dim = _batch_dim(dim, x.rank + 1, f"arg{kind}s over")
        return mp.add(node, f"arg{kind}", {"dim": dim, "keepdim": bool(arg(node, 2, "keepdim", False))}, [x])

    return rule


# ------------------------------------------------------------------ dtypes
def _dtype_name(mp, dtype) -> str:
    if dtype in FLOAT_DTYPES:
        return FLOAT_DTYPES[dtype]
    if dtype in LONG_DTYPES:
        return "long"
    raise Unsupported(f"converts to {dtype}; LayerLoom's values are float32 or long")


def cast_to(mp, node, target: str) -> Value:
    x = mp.lazy(_source(node))
    if x.dtype == target:
        return x
    return mp.add(node, "cast", {"dtype": target}, [mp.builder.materialise(x)])


def _fixed_cast(dtype):
    def rule(mp, node):
        return cast_to(mp, node, _dtype_name(mp, dtype))

    return rule


def to(mp, node):
    """``x.to(torch.float32)``, ``x.to(y)``, ``x.to(device)``, ``x.type(dtype)``."""
    found = None
    for value in [*node.args[1:], node.kwargs.get("dtype"), node.kwargs.get("other")]:
        if isinstance(value, torch.dtype):
            found = _dtype_name(mp, value)
        elif isinstance(value, fx.Node) and is_tensor(mp.records.get(value)):
            found = mp.records[value].dtype
    refuse(node.target == "type" and found is None, "asks for the type name")
    if found is None:  # a device or memory format only
        return mp.lazy(_source(node))
    return cast_to(mp, node, found)


def type_as(mp, node):
    other = mp.records.get(arg(node, 1, "other"))
    refuse(not is_tensor(other), "takes the type of something other than a tensor")
    return cast_to(mp, node, other.dtype)


# -------------------------------------------------------- made from a tensor
def randn_like(mp, node):
    refuse(any(node.kwargs.get(k) is not None for k in ("dtype", "layout")), "a dtype or layout")
    x = mp.tensor(_source(node))
    refuse(x.dtype != "float", "draws noise like token ids")
    return mp.add(node, "random_normal", {}, [x])


def randn(mp, node):
    """``torch.randn(x.shape)`` / ``torch.randn(B, T, D)`` with sizes read from a
    tensor of the same shape: noise of that tensor's shape."""
    refuse(node.kwargs.get("generator") is not None, "a generator")
    target = mp.shape(node)
    seen, todo = set(), list(node.all_input_nodes)
    while todo:
        candidate = todo.pop(0)
        if candidate in seen:
            continue
        seen.add(candidate)
        found = mp.env.get(candidate)
        if isinstance(found, Value) and found.shape == target and found.dtype == "float":
            return mp.add(node, "random_normal", {}, [mp.builder.materialise(found)])
        if isinstance(found, general.Size):
            todo.extend(candidate.all_input_nodes)
    raise Unsupported("draws noise of a shape no input tensor has; use torch.randn_like(x)")


def filled_like(fill):
    """``torch.zeros_like(x)``, ``ones_like``, ``full_like(x, v)``: a Constant."""

    def rule(mp, node):
        x = mp.tensor(_source(node))
        value = arg(node, 1, "fill_value") if fill is None else fill
        refuse(not isinstance(value, (int, float)) or isinstance(value, bool), "fills with a computed value")
        recorded = mp.records.get(node)
        dtype = recorded.dtype if is_tensor(recorded) else "float"
        params = {"shape": list(x.shape), "dtype": dtype, "fill": float(value)}
        tensor = torch.full((1, *x.shape), value, dtype=torch.float32 if dtype == "float" else torch.int64)
        try:
            return mp.add(node, "constant", params, [x], weights={"value": tensor})
        except ParamError as exc:
            raise Unsupported(str(exc)) from None

    return rule


# Rules that hand the cases they do not handle to the rule they replace.
getitem.previous = general.getitem
pair_attribute.previous = general.attribute

# ------------------------------------------------------------------- tables
FUNCTIONS = {
    general.GET_ATTR: get_attr,
    operator.getitem: getitem,
    builtins.getattr: pair_attribute,
    torch.split: split,
    torch.chunk: chunk,
    torch.unbind: unbind,
    torch.permute: stacked_permute,
    **{f: reshape_held for f in (torch.flatten, torch.reshape, torch.squeeze, torch.unsqueeze)},
    torch.transpose: transpose,
    torch.swapaxes: transpose,
    torch.stack: stack,
    torch.gather: gather,
    torch.index_select: index_select,
    torch.tile: repeat,
    torch.max: max_min("max"),
    torch.min: max_min("min"),
    torch.argmax: arg_extreme("max"),
    torch.argmin: arg_extreme("min"),
    torch.randn_like: randn_like,
    torch.randn: randn,
    torch.zeros_like: filled_like(0.0),
    torch.ones_like: filled_like(1.0),
    torch.full_like: filled_like(None),
    **{f: reduce for f in REDUCTIONS if callable(f)},
}

METHODS = {
    "split": split,
    "chunk": chunk,
    "unbind": unbind,
    "permute": stacked_permute,
    **{name: reshape_held for name in ("view", "reshape", "flatten", "squeeze", "unsqueeze")},
    "transpose": transpose,
    "swapaxes": transpose,
    "gather": gather,
    "index_select": index_select,
    "expand": expand,
    "expand_as": expand,
    "repeat": repeat,
    "tile": repeat,
    "max": max_min("max"),
    "min": max_min("min"),
    "argmax": arg_extreme("max"),
    "argmin": arg_extreme("min"),
    "float": _fixed_cast(torch.float32),
    "long": _fixed_cast(torch.int64),
    "int": _fixed_cast(torch.int32),
    "double": _fixed_cast(torch.float64),
    "half": _fixed_cast(torch.float16),
    "to": to,
    "type": to,
    "type_as": type_as,
    **{name: reduce for name in REDUCTIONS if isinstance(name, str)},
}
