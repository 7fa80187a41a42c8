"""Shape and indexing layers become plain torch calls and indexing in the forward:
``torch.transpose(x, 1, 2)``, ``torch.split(x, [2, 4], dim=1)``, ``x[:, -1]``,
``x[:, 1:4]``, ``x.expand(-1, 3, 4)``, as a person writes them."""

from __future__ import annotations

import operator

import torch

from layerloom.backend.lowering import Lowering, lowering
from layerloom.graph.layers._util import torch_dim
from layerloom.graph.layers.tensor_shape import squeezed_dims

ALL = slice(None)


def _call(function, *args, **kwargs):
    """An emit calling ``function(x, *args, **kwargs)``."""

    def emit(graph, inputs, target):
        return graph.call_function(function, (inputs[0], *args), kwargs)

    return Lowering(None, emit)


def _method(name: str, *args):
    def emit(graph, inputs, target):
        return graph.call_method(name, (inputs[0], *args))

    return Lowering(None, emit)


def _index(item):
    """An emit writing ``x[item]``."""

    def emit(graph, inputs, target):
        return graph.call_function(operator.getitem, (inputs[0], item))

    return Lowering(None, emit)


@lowering("transpose")
def _transpose(p, ins, outs):
    return _call(torch.transpose, p["dim0"], p["dim1"])


@lowering("flatten_dims")
def _flatten_dims(p, ins, outs):
    return _call(torch.flatten, p["start_dim"], p["end_dim"])


@lowering("squeeze")
def _squeeze(p, ins, outs):
    if p["dim"] is not None:
        return _call(torch.squeeze, p["dim"])
    # torch.squeeze(x) would drop a batch of 1 too: name the dims
    return _call(torch.squeeze, tuple(d + 1 for d in squeezed_dims(p, ins["in"])))


@lowering("unsqueeze")
def _unsqueeze(p, ins, outs):
    return _call(torch.unsqueeze, p["dim"])


@lowering("split")
def _split(p, ins, outs):
    return _call(torch.split, list(p["sizes"]), dim=p["dim"])


@lowering("chunk")
def _chunk(p, ins, outs):
    return _call(torch.chunk, p["chunks"], dim=p["dim"])


@lowering("slice")
def _slice(p, ins, outs):
    d = torch_dim("Slice", p["dim"], ins["in"].rank)
    start = p["start"] or None
    step = None if p["step"] == 1 else p["step"]
    return _index((ALL,) * (d + 1) + (slice(start, p["end"], step),))


@lowering("select")
def _select(p, ins, outs):
    d = torch_dim("Select", p["dim"], ins["in"].rank)
    return _index((ALL,) * (d + 1) + (p["index"],))


@lowering("stack")
def _stack(p, ins, outs):
    dim = p["dim"]

    def emit(graph, args, target):
        return graph.call_function(torch.stack, (tuple(args),), {"dim": dim})

    return Lowering(None, emit)


@lowering("expand")
def _expand(p, ins, outs):
    return _method("expand", -1, *p["sizes"])


@lowering("repeat")
def _repeat(p, ins, outs):
    return _method("repeat", 1, *p["repeats"])
