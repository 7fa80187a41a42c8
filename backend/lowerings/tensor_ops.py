"""Gather, IndexSelect, Reduce, ArgMax / ArgMin and Cast become torch calls;
Parameter, Constant and RandomNormal become the small modules below.

The modules use nothing but torch, so the Python export copies their source into
a standalone file. A Parameter keeps its tensor as ``weight`` of shape
``(1, *shape)`` and a Constant as the buffer ``value``: the shapes hand-written
models give a class token or a registered buffer.
"""

from __future__ import annotations

import torch
from torch import nn

from layerloom.backend.lowering import Lowering, lowering
from layerloom.graph.layers._util import torch_dim
from layerloom.graph.layers.tensor_ops import reduced_dims


class LearnedTensor(nn.Module):
    """A trainable tensor of ``shape``, returned repeated over the batch of the
    tensor it is given (``like``, of which only the batch size is read).

    ``init``: ``zeros``, ``ones``, ``normal`` (std), ``trunc_normal`` (std, cut at
    ±2 as ``nn.init.trunc_normal_``) or ``uniform`` (-bound to bound).
    """

    def __init__(self, shape: tuple[int, ...], init: str = "trunc_normal", std: float = 0.02,
                 bound: float = 1.0):
        super().__init__()
        self.shape = tuple(shape)
        self.init = init
        self.std = std
        self.bound = bound
        self.weight = nn.Parameter(torch.empty(1, *self.shape))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        with torch.no_grad():
            if self.init == "zeros":
                self.weight.zero_()
            elif self.init == "ones":
                self.weight.fill_(1.0)
            elif self.init == "normal":
                nn.init.normal_(self.weight, std=self.std)
            elif self.init == "trunc_normal":
                nn.init.trunc_normal_(self.weight, std=self.std)
            elif self.init == "uniform":
                nn.init.uniform_(self.weight, -self.bound, self.bound)
            else:
                raise ValueError(f"unknown init {self.init!r}")

    def forward(self, like: torch.Tensor) -> torch.Tensor:
        return self.weight.expand(like.shape[0], *self.shape)

    def extra_repr(self) -> str:
        return f"shape={self.shape}, init={self.init!r}"


class ConstantTensor(nn.Module):
    """A fixed tensor of ``shape`` (every element ``fill``, or ``values`` in order;
    whole numbers when ``long``), returned repeated over the batch of ``like``.
    A buffer: saved with the weights, never trained."""

    def __init__(self, shape: tuple[int, ...], fill: float = 0.0, values: tuple[float, ...] | None = None,
                 long: bool = False):
        super().__init__()
        self.shape = tuple(shape)
        self.fill = fill
        self.values = None if values is None else tuple(values)
        self.long = long
        dtype = torch.int64 if long else torch.float32
        if self.values is None:
            value = torch.full((1, *self.shape), fill, dtype=dtype)
        else:
            value = torch.tensor(self.values, dtype=dtype).reshape(1, *self.shape)
        self.register_buffer("value", value)

    def forward(self, like: torch.Tensor) -> torch.Tensor:
        return self.value.expand(like.shape[0], *self.shape)

    def extra_repr(self) -> str:
        return f"shape={self.shape}, long={self.long}"


class RandomNormal(nn.Module):
    """``mean + std * noise`` of the input's shape while training; ``mean``
    everywhere in eval mode, so inference and exports are repeatable."""

    def __init__(self, mean: float = 0.0, std: float = 1.0):
        super().__init__()
        self.mean = mean
        self.std = std

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            return torch.randn_like(x) * self.std + self.mean
        return torch.full_like(x, self.mean)

    def extra_repr(self) -> str:
        return f"mean={self.mean}, std={self.std}"


# ---------------------------------------------------------------- indexing
@lowering("gather")
def _gather(p, ins, outs):
    dim = p["dim"]

    def emit(graph, args, target):
        return graph.call_function(torch.gather, (args[0], dim, args[1]))

    return Lowering(None, emit)


@lowering("index_select")
def _index_select(p, ins, outs):
    """Each sample takes its own positions: the (N, K) index is laid along the dim
    and spread over the others, then gathered (torch.index_select takes one
    index for the whole batch)."""
    t = ins["in"]
    d = torch_dim("IndexSelect", p["dim"], t.rank)
    k = ins["index"].shape[0]
    view = [k if i == d else 1 for i in range(t.rank)]
    out = outs["out"].shape if outs else (*t.shape[:d], k, *t.shape[d + 1:])

    def emit(graph, args, target):
        index = graph.call_method("view", (args[1], -1, *view))
        index = graph.call_method("expand", (index, -1, *out))
        return graph.call_function(torch.gather, (args[0], d + 1, index))

    return Lowering(None, emit)


# -------------------------------------------------------------- reductions
REDUCE_FUNCTIONS = {
    "mean": torch.mean, "sum": torch.sum, "max": torch.amax, "min": torch.amin,
    "logsumexp": torch.logsumexp, "var": torch.var, "std": torch.std,
}


@lowering("reduce")
def _reduce(p, ins, outs):
    op, keepdim = p["op"], p["keepdim"]
    dims = tuple(p["dims"])
    if op == "prod":  # torch.prod takes one dim: reduce the last ones first
        order = [d + 1 for d in reversed(reduced_dims("Reduce", dims, ins["in"].rank))]

        def emit_prod(graph, args, target):
            out = args[0]
            for d in order:
                out = graph.call_function(torch.prod, (out,), {"dim": d, "keepdim": keepdim})
            return out

        return Lowering(None, emit_prod)
    kwargs = {"dim": dims}
    if op in ("var", "std"):
        kwargs["correction"] = p["correction"]
    kwargs["keepdim"] = keepdim
    function = REDUCE_FUNCTIONS[op]

    def emit(graph, args, target):
        return graph.call_function(function, (args[0],), kwargs)

    return Lowering(None, emit)


def _arg(function):
    def lower(p, ins, outs):
        kwargs = {"dim": p["dim"], "keepdim": p["keepdim"]}

        def emit(graph, args, target):
            return graph.call_function(function, (args[0],), kwargs)

        return Lowering(None, emit)

    return lower


lowering("argmax")(_arg(torch.argmax))
lowering("argmin")(_arg(torch.argmin))


@lowering("cast")
def _cast(p, ins, outs):
    method = p["dtype"]  # x.float() or x.long()

    def emit(graph, args, target):
        return graph.call_method(method, (args[0],))

    return Lowering(None, emit)


# ------------------------------------------------------ learned and constant
@lowering("parameter")
def _parameter(p, ins, outs):
    return Lowering(LearnedTensor(p["shape"], p["init"], p["std"], p["bound"]))


@lowering("constant")
def _constant(p, ins, outs):
    return Lowering(ConstantTensor(p["shape"], p["fill"], p["values"], p["dtype"] == "long"))


@lowering("random_normal")
def _random_normal(p, ins, outs):
    return Lowering(RandomNormal(p["mean"], p["std"]))
