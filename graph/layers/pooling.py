"""Pooling to a chosen size and by norm: adaptive average and max pooling in 1, 2
and 3 dims, global max pooling and power-average (LP) pooling.

Adaptive pooling gives every input the same output size (PyTorch splits the input
into ``output_size`` windows of nearly equal size); an output size of 0 in a dim
keeps the input's size there (PyTorch's ``None``). The shape rules refuse what
PyTorch refuses; ``tests/graph/test_pooling_resampling_shapes.py`` checks them
against torch itself.
"""

from __future__ import annotations

import math

from layerloom.graph.errors import ShapeError
from layerloom.graph.layers._util import conv_out, need_float
from layerloom.graph.layers.conv import MAX_WINDOW, layer_name, spatial_input
from layerloom.graph.params import Bool, Float, Ints
from layerloom.graph.registry import Example, LayerSpec
from layerloom.graph.tensor import TensorSpec, fmt_shape

MAX_OUTPUT = 65_536


# --------------------------------------------------------------- adaptive pools
def adaptive_out(output_size, spatial) -> tuple[int, ...]:
    """The output sizes: 0 keeps the input's size in that dim."""
    return tuple(o or s for o, s in zip(output_size, spatial, strict=True))


def _adaptive_rule(family: str, nd: int):
    def rule(p, ins):
        t = ins["in"]
        channels, spatial = spatial_input(family, t, nd)
        return {"out": t.with_shape((channels, *adaptive_out(p["output_size"], spatial)))}

    return rule


def _adaptive_spec(kind: str, nd: int) -> LayerSpec:
    family = "AdaptiveMaxPool" if kind == "max" else "AdaptiveAvgPool"
    what = "largest value" if kind == "max" else "mean"
    layout = {1: "(C, L)", 2: "(C, H, W)", 3: "(C, D, H, W)"}[nd]
    return LayerSpec(
        f"adaptive_{kind}_pool{nd}d", layer_name(family, nd), "Pooling",
        f"The {what} of each of output_size windows over {layout} inputs of any size (torch.nn.{layer_name(family, nd)}).",
        (
            Ints("output_size", 1, "Spatial size of the output, whatever the input's size; 0 keeps the input's size in that dim",
                 length=nd, minimum=0, maximum=MAX_OUTPUT, key=True),
        ),
        _adaptive_rule(family, nd),
        flops=lambda p, ins, outs: ins["in"].numel,
        keywords=("adaptive pooling", "resize", "any size", "head", "max" if kind == "max" else "average"),
        examples=(Example({"in": TensorSpec((2, *(6,) * nd))}, {"output_size": 3}),),
    )


# ------------------------------------------------------------------ global max
def _global_max_rule(p, ins):
    t = ins["in"]
    need_float("GlobalMaxPool", t)
    if t.rank < 2:
        raise ShapeError(
            f"GlobalMaxPool needs (C, L), (C, H, W) or more dims; it receives {fmt_shape(t.shape)}",
            "it takes the largest value of each feature map: put it after a convolution",
        )
    return {"out": t.with_shape((t.shape[0],))}


# -------------------------------------------------------------------- LP pools
def _lp_rule(nd: int):
    name = layer_name("LPPool", nd)

    def rule(p, ins):
        t = ins["in"]
        channels, spatial = spatial_input("LPPool", t, nd, nds=(1, 2))
        kernel, stride = p["kernel_size"], p["stride"]
        out = [conv_out(s, k, st, 0, 1, p["ceil_mode"]) for s, k, st in zip(spatial, kernel, stride, strict=True)]
        if any(o < 1 for o in out):
            raise ShapeError(
                f"{name} kernel {fmt_shape(kernel)} is larger than the input's spatial size "
                f"{fmt_shape(spatial)} (input {fmt_shape(t.shape)})",
                "use a smaller kernel, ceil_mode, or a larger input",
            )
        return {"out": t.with_shape((channels, *out))}

    return rule


def _lp_spec(nd: int) -> LayerSpec:
    layout = {1: "(C, L)", 2: "(C, H, W)"}[nd]
    return LayerSpec(
        f"lp_pool{nd}d", layer_name("LPPool", nd), "Pooling",
        f"Power-average pooling of {layout}: (sum of x^p over each window)^(1/p) (torch.nn.LPPool{nd}d).",
        (
            Float("norm_type", 2.0, "The power p: 1 sums each window, large values approach max pooling",
                  minimum=0, maximum=64, exclusive_minimum=True, key=True),
            Ints("kernel_size", 2, "Size of the pooling window", length=nd, minimum=1, maximum=MAX_WINDOW, key=True),
            Ints("stride", 2, "Step between windows (PyTorch's default is the kernel size)",
                 length=nd, minimum=1, maximum=MAX_WINDOW),
            Bool("ceil_mode", False, "Round the output size up: keep a last, partial window"),
        ),
        _lp_rule(nd),
        flops=lambda p, ins, outs: 3 * outs["out"].numel * math.prod(p["kernel_size"]),
        keywords=("lp pooling", "power average", "norm pooling", "downsample"),
        examples=(Example({"in": TensorSpec((2, *(6,) * nd))}),),
    )


SPECS = [
    *(_adaptive_spec("avg", nd) for nd in (1, 2, 3)),
    *(_adaptive_spec("max", nd) for nd in (1, 2, 3)),
    LayerSpec(
        "global_max_pool", "GlobalMaxPool", "Pooling",
        "Largest value over all positions of each channel: (C, L) or (C, H, W) -> (C,).",
        (), _global_max_rule, flops=lambda p, ins, outs: ins["in"].numel,
        keywords=("global max pooling", "gmp", "adaptive", "max", "head"),
        examples=(Example({"in": TensorSpec((3, 4, 4))}),),
    ),
    _lp_spec(1),
    _lp_spec(2),
]
