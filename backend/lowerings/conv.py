"""Convolution and pooling layers become the matching ``torch.nn`` modules.

Input channel counts come from the inferred input spec (the graph stores only the
output channels), so a convolution adapts when the layer before it changes.
"""

from __future__ import annotations

import torch
from torch import nn

from layerloom.backend.lowering import Lowering, lowering, then
from layerloom.backend.lowerings.core import ACTIVATION_FUNCTIONS


def _convolution(cls: type[nn.Module]):
    def lower(p, ins, outs):
        module = cls(
            ins["in"].shape[0], p["channels"], p["kernel_size"],
            stride=p["stride"], padding=p["padding"], dilation=p["dilation"],
            groups=p["groups"], bias=p["bias"],
        )
        if p["activation"] == "none":
            return Lowering(module)
        function, kwargs = ACTIVATION_FUNCTIONS[p["activation"]]
        return Lowering(module, then(function, **kwargs))

    return lower


def _conv_transpose(cls: type[nn.Module]):
    def lower(p, ins, outs):
        return Lowering(cls(
            ins["in"].shape[0], p["channels"], p["kernel_size"],
            stride=p["stride"], padding=p["padding"], output_padding=p["output_padding"],
            groups=p["groups"], bias=p["bias"], dilation=p["dilation"],
        ))

    return lower


lowering("conv1d")(_convolution(nn.Conv1d))
lowering("conv2d")(_convolution(nn.Conv2d))
lowering("conv3d")(_convolution(nn.Conv3d))
lowering("conv_transpose1d")(_conv_transpose(nn.ConvTranspose1d))
lowering("conv_transpose2d")(_conv_transpose(nn.ConvTranspose2d))
lowering("conv_transpose3d")(_conv_transpose(nn.ConvTranspose3d))


def _max_pool(cls: type[nn.Module]):
    def lower(p, ins, outs):
        return Lowering(cls(
            p["kernel_size"], stride=p["stride"], padding=p["padding"],
            dilation=p["dilation"], ceil_mode=p["ceil_mode"],
        ))

    return lower


def _avg_pool(cls: type[nn.Module]):
    def lower(p, ins, outs):
        return Lowering(cls(
            p["kernel_size"], stride=p["stride"], padding=p["padding"],
            ceil_mode=p["ceil_mode"], count_include_pad=p["count_include_pad"],
        ))

    return lower


lowering("max_pool1d")(_max_pool(nn.MaxPool1d))
lowering("max_pool2d")(_max_pool(nn.MaxPool2d))
lowering("max_pool3d")(_max_pool(nn.MaxPool3d))
lowering("avg_pool1d")(_avg_pool(nn.AvgPool1d))
lowering("avg_pool2d")(_avg_pool(nn.AvgPool2d))
lowering("avg_pool3d")(_avg_pool(nn.AvgPool3d))


@lowering("global_avg_pool")
def _global_avg_pool(p, ins, outs):
    # Spatial dims of the batched tensor: everything after (N, C).
    dims = tuple(range(2, ins["in"].rank + 1))

    def emit(graph, args, target):
        return graph.call_function(torch.mean, (args[0],), {"dim": dims})

    return Lowering(None, emit)
