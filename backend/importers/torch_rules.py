"""How calls of functions and tensor methods in a traced PyTorch model become
LayerLoom nodes, and the helpers the module rules share.

:data:`FUNCTION_RULES` (``torch.*``, ``F.*`` and operators) and
:data:`METHOD_RULES` (tensor methods) are looked up by
:mod:`layerloom.backend.importers.pytorch` for each ``call_function`` and ``call_method``
node of the ``torch.fx`` trace; layer classes are in
:mod:`layerloom.backend.importers.torch_modules`. A rule receives the mapper and the fx node
and returns what the node's result is: a
:class:`~layerloom.backend.importers.common.Value`, a recurrent layer's partial result, a
size, or a tuple. It raises :class:`~layerloom.backend.importers.common.Unsupported` with
the reason when the call uses an option LayerLoom's layer does not have.
"""

from __future__ import annotations

import builtins
import operator

import torch
import torch.nn.functional as F

from layerloom.backend.importers import recurrent as rnn
from layerloom.backend.importers.common import RecurrentPart, Unsupported, Value, refuse


class Size:
    """A size read from a tensor (``x.size(0)``, ``x.shape``): fine as an argument
    of a reshape, whose result shape is known from the recorded run anyway."""


class Items(tuple):
    """The tuple a module returns (``nn.MultiheadAttention``'s output and
    weights); ``None`` marks an item LayerLoom does not give."""


SIZE = Size()
# FUNCTION_RULES[GET_ATTR], when a family gives it, maps a ``get_attr`` node: a
# tensor the model holds outside a layer (``self.cls_token``, a buffer).
GET_ATTR = "get_attr"


def arg(node, index: int, name: str, default=None):
    """An argument of an fx node, given by position or by keyword."""
    if len(node.args) > index:
        return node.args[index]
    return node.kwargs.get(name, default)


def as_tuple(value, n: int) -> tuple[int, ...]:
    if isinstance(value, int):
        return (value,) * n
    value = tuple(int(v) for v in value)
    return value * n if len(value) == 1 else value



def pool_params(nd: int, kind: str, kernel, stride, padding, ceil_mode, dilation=1, count_include_pad=True):
    kernel = as_tuple(kernel, nd)
    params = {
        "kernel_size": kernel, "stride": as_tuple(stride, nd) if stride else kernel,
        "padding": as_tuple(padding, nd), "ceil_mode": bool(ceil_mode),
    }
    if kind == "max":
        params["dilation"] = as_tuple(dilation, nd)
    else:
        params["count_include_pad"] = bool(count_include_pad)
    return params


def global_average(mp, x: Value, output_size) -> Value:
    refuse(any(s != 1 for s in as_tuple(output_size, x.rank - 1)),
            f"output size {output_size}; only output size 1 maps to GlobalAvgPool")
    return mp.builder.mean(x, range(1, x.rank), keepdim=True)


# ------------------------------------------------------------ activations
FOLDABLE = {  # activation -> the params it must have to become a Dense/Conv option
    "relu": {}, "sigmoid": {}, "tanh": {}, "silu": {},
    "gelu": {"approximate": "none"}, "elu": {"alpha": 1.0}, "leaky_relu": {"negative_slope": 0.01},
}


def activation(mp, node, source, type_id: str, params: dict) -> Value:
    """An activation of ``source``: folded into the Dense or convolution before it
    when it is that layer's only use and has default settings, else its own node."""
    if source is None:
        raise Unsupported("is called with more than one argument")
    x = mp.tensor(source)
    foldable = FOLDABLE.get(type_id)
    if type_id == "softmax" and params.get("dim") in (-1, x.rank):
        foldable = {"dim": params["dim"]}
    if foldable is not None and all(params.get(k, v) == v for k, v in foldable.items()):
        folded = mp.fold(source, x, type_id)
        if folded is not None:
            return folded
    return mp.add(node, type_id, params, [x])


def _function_activation(type_id: str, names: tuple[str, ...] = (), defaults: tuple = ()):
    """Rule for ``F.relu(x)``, ``F.leaky_relu(x, 0.2)``, ``x.softmax(dim=1)``, ...:
    ``names`` are the parameters after the input, by position and keyword."""

    def rule(mp, node):
        params = {name: arg(node, i + 1, name, default) for i, (name, default) in enumerate(zip(names, defaults, strict=True))}
        if type_id in ("softmax", "log_softmax"):
            refuse(params["dim"] is None, "no dim (an implicit, deprecated choice); give dim=")
            refuse(arg(node, 3, "dtype") is not None, "a dtype")
        if type_id == "leaky_relu" or type_id == "elu":
            params = {k: float(v) for k, v in params.items()}
        return activation(mp, node, node.args[0] if node.args else node.kwargs.get("input"), type_id, params)

    return rule


# ------------------------------------------------------- shapes and merges
def reshape(mp, node):
    """flatten / view / reshape / squeeze / unsqueeze / Flatten / Unflatten: the
    result shape is the recorded one; only the batch dim must stay in place."""
    source = node.args[0] if node.args else node.kwargs.get("input")
    entry = mp.entry(source)
    if isinstance(entry, RecurrentPart) and node.target in ("squeeze", torch.squeeze):
        return rnn.squeeze_rows(entry)
    return mp.lazy(source).viewed(mp.shape(node))


def identity(mp, node):
    return mp.lazy(node.args[0])


def permute(mp, node):
    x = mp.tensor(node.args[0])
    rank = x.rank + 1
    if node.target in ("transpose", torch.transpose, "swapaxes"):
        a, b = (arg(node, 1, "dim0") % rank, arg(node, 2, "dim1") % rank)
        order = list(range(rank))
        order[a], order[b] = order[b], order[a]
    else:
        dims = node.args[1:] if node.op == "call_method" else (arg(node, 1, "dims"),)
        if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
            dims = dims[0]
        order = [int(d) % rank for d in dims]
    refuse(order[0] != 0, f"moves the batch dim (order {order}); the batch must stay first")
    if order == list(range(rank)):
        return x
    return mp.add(node, "permute", {"dims": order[1:]}, [x])


def mean(mp, node):
    x = mp.tensor(node.args[0])
    dims = arg(node, 1, "dim")
    refuse(dims is None, "averages every value of the batch")
    refuse(arg(node, 3, "dtype") is not None, "a dtype")
    dims = [dims] if isinstance(dims, int) else list(dims)
    full = [d % (x.rank + 1) for d in dims]
    refuse(0 in full, "averages over the batch")
    return mp.builder.mean(x, [d - 1 for d in full], bool(arg(node, 2, "keepdim", False)))


def _functional_pool(kind: str, nd: int):
    def rule(mp, node):
        x = mp.tensor(node.args[0])
        kernel, stride, padding = arg(node, 1, "kernel_size"), arg(node, 2, "stride"), arg(node, 3, "padding", 0)
        if kind == "max":
            refuse(bool(arg(node, 6, "return_indices", False)), "return_indices=True")
            params = pool_params(nd, "max", kernel, stride, padding, arg(node, 5, "ceil_mode", False),
                                  arg(node, 4, "dilation", 1))
        else:
            refuse(arg(node, 6, "divisor_override") is not None, "divisor_override is set")
            params = pool_params(nd, "avg", kernel, stride, padding, arg(node, 4, "ceil_mode", False),
                                  count_include_pad=arg(node, 5, "count_include_pad", True))
        return mp.add(node, f"{kind}_pool{nd}d", params, [x])

    return rule


def functional_dropout(mp, node):
    x = mp.tensor(node.args[0])
    return mp.add(node, "dropout", {"p": float(arg(node, 1, "p", 0.5))}, [x])


def _merge(type_id: str, symbol: str):
    def rule(mp, node):
        a = node.args[0] if node.args else node.kwargs.get("input")
        b = arg(node, 1, "other")
        refuse(float(node.kwargs.get("alpha", 1)) != 1, "alpha is set")
        for operand in (a, b):
            if not isinstance(operand, torch.fx.Node):
                raise Unsupported(f"{symbol} with the constant {operand!r}; LayerLoom's {type_id.title()} joins tensors")
        x, y = mp.tensor(a), mp.tensor(b)
        refuse(x.shape != y.shape, f"broadcasts {x.shape} {symbol} {y.shape}; LayerLoom needs equal shapes")
        return mp.merge(node, type_id, a, x, y)

    return rule


def concat(mp, node):
    items = node.args[0] if node.args else node.kwargs.get("tensors")
    dim = arg(node, 1, "dim", 0)
    entries = [mp.entry(i) for i in items]
    if any(isinstance(e, RecurrentPart) and e.kind.startswith("half") for e in entries):
        return rnn.join_halves(entries)
    return mp.builder.concat([mp.tensor(i) for i in items], dim)


def getitem(mp, node):
    container, index = node.args
    entry = mp.entry(container)
    if isinstance(entry, Items):
        item = entry[index]
        refuse(item is None, "uses the attention weights; LayerLoom's attention returns the output only")
        return item
    if isinstance(entry, Size):
        return SIZE
    if isinstance(entry, RecurrentPart):
        return _recurrent_item(entry, index)
    raise Unsupported("indexes or slices a tensor; LayerLoom has no slicing layer")


def _recurrent_item(part: RecurrentPart, index):
    kind, rec = part.kind, part.rec
    if kind == "call" and index in (0, 1):
        if index == 0:
            return RecurrentPart(rec, "seq_tm" if rec.time_major else "seq")
        return RecurrentPart(rec, "state") if rec.where == "LSTM" else RecurrentPart(rec, "hn", rec.rows())
    if kind == "state" and index in (0, 1):
        return RecurrentPart(rec, "hn", rec.rows()) if index == 0 else RecurrentPart(rec, "cn")
    if kind == "hn" and isinstance(index, int):
        return rnn.select_row(part, index)
    if kind == "seq_tm":  # output[-1], output[-1, :, :h] of a time-major output
        items = index if isinstance(index, tuple) else (index,)
        if isinstance(items[0], int) and len(items) <= 3 and (len(items) < 2 or _all(items[1])):
            features = items[2] if len(items) == 3 else None
            if features is None or isinstance(features, slice):
                return rnn.select_step(RecurrentPart(rec, "seq"), items[0], features)
    if kind == "seq" and isinstance(index, tuple) and len(index) in (2, 3) and _all(index[0]):
        features = index[2] if len(index) == 3 else None
        if isinstance(index[1], int) and (features is None or isinstance(features, slice)):
            return rnn.select_step(part, index[1], features)
    if kind.startswith("select") and isinstance(index, tuple) and len(index) == 2 and _all(index[0]):
        if isinstance(index[1], slice):
            return rnn.slice_features(part, index[1])
    raise Unsupported(f"indexes {rnn.describe(part)} with {index!r}")


def _all(index) -> bool:
    return isinstance(index, slice) and index == slice(None)


def size(mp, node):
    return SIZE


def attribute(mp, node):
    """``x.shape`` (and ``x.dtype``, ``x.device``) read sizes and settings; other
    attributes (``x.T``) compute tensors LayerLoom has no layer for."""
    name = node.args[1] if len(node.args) > 1 else None
    refuse(name not in ("shape", "dtype", "device"), f"reads the attribute .{name} of a tensor")
    return SIZE


def skip(mp, node):
    return None


FUNCTION_RULES = {
    torch.relu: _function_activation("relu"),
    F.relu: _function_activation("relu"),
    torch.sigmoid: _function_activation("sigmoid"),
    F.sigmoid: _function_activation("sigmoid"),
    torch.tanh: _function_activation("tanh"),
    F.tanh: _function_activation("tanh"),
    F.silu: _function_activation("silu"),
    F.gelu: _function_activation("gelu", ("approximate",), ("none",)),
    F.elu: _function_activation("elu", ("alpha",), (1.0,)),
    F.leaky_relu: _function_activation("leaky_relu", ("negative_slope",), (0.01,)),
    F.softmax: _function_activation("softmax", ("dim",), (None,)),
    torch.softmax: _function_activation("softmax", ("dim",), (None,)),
    F.log_softmax: _function_activation("log_softmax", ("dim",), (None,)),
    torch.log_softmax: _function_activation("log_softmax", ("dim",), (None,)),
    torch.flatten: reshape,
    torch.reshape: reshape,
    torch.squeeze: reshape,
    torch.unsqueeze: reshape,
    torch.cat: concat,
    torch.concat: concat,
    torch.concatenate: concat,
    operator.add: _merge("add", "+"),
    torch.add: _merge("add", "+"),
    operator.mul: _merge("multiply", "*"),
    torch.mul: _merge("multiply", "*"),
    torch.mean: mean,
    torch.permute: permute,
    torch.transpose: permute,
    F.max_pool1d: _functional_pool("max", 1),
    F.max_pool2d: _functional_pool("max", 2),
    F.avg_pool1d: _functional_pool("avg", 1),
    F.avg_pool2d: _functional_pool("avg", 2),
    F.dropout: functional_dropout,
    operator.getitem: getitem,
    builtins.getattr: attribute,
    torch.fx._symbolic_trace._assert_is_none: skip,
}


METHOD_RULES = {
    "relu": _function_activation("relu"),
    "sigmoid": _function_activation("sigmoid"),
    "tanh": _function_activation("tanh"),
    "softmax": _function_activation("softmax", ("dim",), (None,)),
    "log_softmax": _function_activation("log_softmax", ("dim",), (None,)),
    "view": reshape,
    "reshape": reshape,
    "flatten": reshape,
    "squeeze": reshape,
    "unsqueeze": reshape,
    "contiguous": identity,
    "permute": permute,
    "transpose": permute,
    "swapaxes": permute,
    "mean": mean,
    "add": _merge("add", "+"),
    "mul": _merge("multiply", "*"),
    "size": size,
    "dim": size,
}
