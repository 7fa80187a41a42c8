"""Core layers: Dense, Flatten, Reshape, Permute, Dropout."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from layerloom.backend.lowering import Lowering, lowering, then

ACTIVATION_FUNCTIONS = {
    "relu": (torch.relu, {}),
    "leaky_relu": (F.leaky_relu, {}),
    "elu": (F.elu, {}),
    "gelu": (F.gelu, {}),
    "silu": (F.silu, {}),
    "sigmoid": (torch.sigmoid, {}),
    "tanh": (torch.tanh, {}),
    "softmax": (torch.softmax, {"dim": -1}),
}


@lowering("dense")
def _dense(p, ins, outs):
    module = nn.Linear(ins["in"].shape[-1], p["units"], bias=p["bias"])
    if p["activation"] == "none":
        return Lowering(module)
    function, kwargs = ACTIVATION_FUNCTIONS[p["activation"]]
    return Lowering(module, then(function, **kwargs))


@lowering("flatten")
def _flatten(p, ins, outs):
    def emit(graph, args, target):
        return graph.call_function(torch.flatten, (args[0], 1))

    return Lowering(None, emit)


@lowering("reshape")
def _reshape(p, ins, outs):
    shape = outs["out"].shape

    def emit(graph, args, target):
        return graph.call_method("reshape", (args[0], -1, *shape))

    return Lowering(None, emit)


@lowering("permute")
def _permute(p, ins, outs):
    dims = (0, *p["dims"])

    def emit(graph, args, target):
        return graph.call_method("permute", (args[0], *dims))

    return Lowering(None, emit)


@lowering("dropout")
def _dropout(p, ins, outs):
    return Lowering(nn.Dropout(p["p"]))
