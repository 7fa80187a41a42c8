"""Adaptive, global max and LP pooling become the matching ``torch.nn`` modules
(global max pooling: ``torch.amax`` over the spatial dims)."""

from __future__ import annotations

import torch
from torch import nn

from layerloom.backend.lowering import Lowering, lowering

ADAPTIVE = {
    "adaptive_avg_pool1d": nn.AdaptiveAvgPool1d, "adaptive_avg_pool2d": nn.AdaptiveAvgPool2d,
    "adaptive_avg_pool3d": nn.AdaptiveAvgPool3d, "adaptive_max_pool1d": nn.AdaptiveMaxPool1d,
    "adaptive_max_pool2d": nn.AdaptiveMaxPool2d, "adaptive_max_pool3d": nn.AdaptiveMaxPool3d,
}
LP_POOLS = {"lp_pool1d": nn.LPPool1d, "lp_pool2d": nn.LPPool2d}


def torch_output_size(output_size, spatial) -> tuple:
    """LayerLoom's 0 (keep the input's size) is PyTorch's ``None``; the 1-d
    layers take no ``None``, so there it is the input's size."""
    if len(output_size) == 1:
        return (output_size[0] or spatial[0],)
    return tuple(o if o else None for o in output_size)


def _adaptive(cls: type[nn.Module]):
    def lower(p, ins, outs):
        return Lowering(cls(torch_output_size(p["output_size"], ins["in"].shape[1:])))

    return lower


def _lp_pool(cls: type[nn.Module]):
    def lower(p, ins, outs):
        kernel, stride = p["kernel_size"], p["stride"]
        if len(kernel) == 1:  # LPPool1d multiplies by its kernel size: it must be an int
            kernel, stride = kernel[0], stride[0]
        return Lowering(cls(p["norm_type"], kernel, stride=stride, ceil_mode=p["ceil_mode"]))

    return lower


for _type_id, _cls in ADAPTIVE.items():
    lowering(_type_id)(_adaptive(_cls))
for _type_id, _cls in LP_POOLS.items():
    lowering(_type_id)(_lp_pool(_cls))


@lowering("global_max_pool")
def _global_max_pool(p, ins, outs):
    dims = tuple(range(2, ins["in"].rank + 1))

    def emit(graph, args, target):
        return graph.call_function(torch.amax, (args[0],), {"dim": dims})

    return Lowering(None, emit)
