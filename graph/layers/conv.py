"""Convolution and pooling: Conv1d/2d/3d, ConvTranspose1d/2d/3d, max and average
pooling in 1, 2 and 3 dims, and global average pooling.

Inputs are channels-first per sample: ``(C, L)`` for the 1-d layers,
``(C, H, W)`` for the 2-d ones and ``(C, D, H, W)`` for the 3-d ones. The shape rules use PyTorch's formulas and refuse
exactly what PyTorch refuses (kernel larger than the padded input, groups that do
not divide the channels, ``padding='same'`` with a stride, pool padding over half
the kernel, empty outputs), so a graph that infers here also runs in torch;
``tests/graph/test_conv_shapes.py`` checks that against torch itself.
"""

from __future__ import annotations

import math

from layerloom.graph.errors import ShapeError
from layerloom.graph.layers._util import conv_out, need_float
from layerloom.graph.layers.io_core import ACTIVATIONS
from layerloom.graph.params import Bool, Choice, Int, Ints
from layerloom.graph.registry import Example, LayerSpec
from layerloom.graph.tensor import TensorSpec, fmt_shape

# Softmax over the last dim (the width) means nothing for feature maps.
CONV_ACTIVATIONS = tuple(a for a in ACTIVATIONS if a != "softmax")
LAYOUTS = {1: "(C, L)", 2: "(C, H, W)", 3: "(C, D, H, W)"}
KINDS = {1: "sequences", 2: "images", 3: "volumes"}
MAX_CHANNELS = 65_536
MAX_WINDOW = 1_024  # kernel, stride, padding and dilation bounds


def layer_name(family: str, nd: int) -> str:
    return f"{family}{nd}d"


def spatial_input(family: str, t: TensorSpec, nd: int, nds: tuple[int, ...] = (1, 2, 3)) -> tuple[int, tuple[int, ...]]:
    """Check a channels-first input of ``nd`` spatial dims; return (C, spatial).

    ``family`` names the layer without its suffix (``"Conv"`` for Conv2d); the
    fix names the family's layer of the input's rank when ``nds`` has one.
    """
    name = layer_name(family, nd)
    need_float(name, t)
    if t.rank != nd + 1:
        raise ShapeError(f"{name} needs {LAYOUTS[nd]}; it receives {fmt_shape(t.shape)}", _rank_fix(family, nds, t, nd))
    return t.shape[0], t.shape[1:]


def _rank_fix(family: str, nds: tuple[int, ...], t: TensorSpec, nd: int) -> str:
    if t.rank == 1:
        if nd == 1:
            return f"insert a Reshape to (1, {t.shape[0]})"
        side = math.isqrt(t.shape[0])
        if nd == 2 and side * side == t.shape[0]:
            return f"insert a Reshape to (1, {side}, {side}), or use an image Input"
        return f"insert a Reshape to {LAYOUTS[nd]}" + (", or use an image Input" if nd == 2 else "")
    other = t.rank - 1
    if other in nds and other != nd:
        return f"use {layer_name(family, other)} for {LAYOUTS[other]} {KINDS[other]}, or insert a Reshape to {LAYOUTS[nd]}"
    return f"insert a Reshape to {LAYOUTS[nd]}"


def _check_groups(name: str, t: TensorSpec, out_channels: int, groups: int) -> None:
    """PyTorch splits both channel counts into ``groups`` equal parts."""
    in_channels = t.shape[0]
    for what, count in (("input channels", in_channels), ("output channels", out_channels)):
        if count % groups:
            raise ShapeError(
                f"{name} groups={groups} must divide the {what} ({count}); the input is "
                f"{fmt_shape(t.shape)} and channels={out_channels}",
                f"choose a groups value that divides both {in_channels} and {out_channels} "
                f"(for example {math.gcd(in_channels, out_channels)})",
            )


def _empty(name: str, t: TensorSpec, out: list[int], fix: str) -> ShapeError:
    return ShapeError(
        f"{name} would produce spatial size {fmt_shape(out)} from input {fmt_shape(t.shape)}",
        fix,
    )


# ------------------------------------------------------------------ convolutions
def _conv_rule(nd: int):
    name = layer_name("Conv", nd)

    def rule(p, ins):
        t = ins["in"]
        _, spatial = spatial_input("Conv", t, nd)
        _check_groups(name, t, p["channels"], p["groups"])
        kernel, stride, dilation, padding = p["kernel_size"], p["stride"], p["dilation"], p["padding"]
        if padding == "same":
            if any(s != 1 for s in stride):
                raise ShapeError(
                    f"{name} padding 'same' works only with stride 1 (as in PyTorch); "
                    f"stride is {fmt_shape(stride)} for input {fmt_shape(t.shape)}",
                    "set stride to 1, or give the padding as numbers",
                )
            return {"out": t.with_shape((p["channels"], *spatial))}
        if padding == "valid":
            padding = (0,) * nd
        spans = [d * (k - 1) + 1 for k, d in zip(kernel, dilation, strict=True)]
        padded = [s + 2 * pad for s, pad in zip(spatial, padding, strict=True)]
        if any(span > size for span, size in zip(spans, padded, strict=True)):
            raise ShapeError(
                f"{name} kernel {fmt_shape(kernel)} with dilation {fmt_shape(dilation)} "
                f"spans {fmt_shape(spans)}, more than the padded input {fmt_shape(padded)} "
                f"(input {fmt_shape(t.shape)}, padding {fmt_shape(padding)})",
                "use a smaller kernel or dilation, more padding, or a larger input",
            )
        out = [
            conv_out(*args)
            for args in zip(spatial, kernel, stride, padding, dilation, strict=True)
        ]
        return {"out": t.with_shape((p["channels"], *out))}

    return rule


def _conv_transpose_rule(nd: int):
    name = layer_name("ConvTranspose", nd)

    def rule(p, ins):
        t = ins["in"]
        _, spatial = spatial_input("ConvTranspose", t, nd)
        _check_groups(name, t, p["channels"], p["groups"])
        kernel, stride, padding = p["kernel_size"], p["stride"], p["padding"]
        dilation, extra = p["dilation"], p["output_padding"]
        for op, s, d in zip(extra, stride, dilation, strict=True):
            if op >= s and op >= d:
                raise ShapeError(
                    f"{name} output_padding {fmt_shape(extra)} must be smaller than the stride "
                    f"{fmt_shape(stride)} or the dilation {fmt_shape(dilation)} in every dim "
                    f"(input {fmt_shape(t.shape)})",
                    "lower output_padding (it only picks between sizes a stride leaves open)",
                )
        out = [
            (size - 1) * s - 2 * pad + d * (k - 1) + op + 1
            for size, k, s, pad, d, op in zip(spatial, kernel, stride, padding, dilation, extra, strict=True)
        ]
        if any(o < 1 for o in out):
            raise _empty(name, t, out, "use less padding, or a larger kernel or stride")
        return {"out": t.with_shape((p["channels"], *out))}

    return rule


def _conv_params(p, ins, outs):
    weight = ins["in"].shape[0] * p["channels"] // p["groups"] * math.prod(p["kernel_size"])
    return weight + (p["channels"] if p["bias"] else 0)


def _conv_flops(p, ins, outs):
    """2 x multiply-adds, the bias left out (as torch.utils.flop_counter counts)."""
    per_output = ins["in"].shape[0] // p["groups"] * math.prod(p["kernel_size"])
    return 2 * outs["out"].numel * per_output


def _conv_transpose_flops(p, ins, outs):
    """Every input value is scattered into (C_out / groups) x kernel outputs."""
    per_input = p["channels"] // p["groups"] * math.prod(p["kernel_size"])
    return 2 * ins["in"].numel * per_input


# ---------------------------------------------------------------------- pooling
def _pool_rule(family: str, nd: int):
    name = layer_name(family, nd)

    def rule(p, ins):
        t = ins["in"]
        channels, spatial = spatial_input(family, t, nd)
        kernel, stride, padding = p["kernel_size"], p["stride"], p["padding"]
        dilation = p.get("dilation", (1,) * nd)
        if any(pad > k // 2 for pad, k in zip(padding, kernel, strict=True)):
            raise ShapeError(
                f"{name} padding {fmt_shape(padding)} must be at most half the kernel "
                f"{fmt_shape(kernel)} (as in PyTorch); the input is {fmt_shape(t.shape)}",
                f"use padding of at most {fmt_shape([k // 2 for k in kernel])}",
            )
        out = [
            conv_out(size, k, s, pad, d, p["ceil_mode"])
            for size, k, s, pad, d in zip(spatial, kernel, stride, padding, dilation, strict=True)
        ]
        if any(o < 1 for o in out):
            raise _empty(name, t, out, "use a smaller kernel, more padding, or a larger input")
        return {"out": t.with_shape((channels, *out))}

    return rule


def _pool_flops(p, ins, outs):
    """One comparison or addition per window element."""
    return outs["out"].numel * math.prod(p["kernel_size"])


def _global_avg_rule(p, ins):
    t = ins["in"]
    need_float("GlobalAvgPool", t)
    if t.rank < 2:
        raise ShapeError(
            f"GlobalAvgPool needs (C, L) or (C, H, W); it receives {fmt_shape(t.shape)}",
            "it averages feature maps away: put it after a convolution",
        )
    return {"out": t.with_shape((t.shape[0],))}


# ---------------------------------------------------------------- declarations
def _window(name: str, default, nd: int, help: str, minimum: int, **kw):
    return Ints(name, default, help, length=nd, minimum=minimum, maximum=MAX_WINDOW, **kw)


def _conv_params_schema(nd: int, transpose: bool):
    out_ch = Int(
        "channels", 16, "Number of output channels (feature maps), PyTorch's out_channels",
        minimum=1, maximum=MAX_CHANNELS, label="out channels", key=True,
    )
    if transpose:
        padding = _window("padding", 0, nd, "Size cut from each side of the output (PyTorch's padding of a transposed convolution)", 0)
    else:
        padding = Ints(
            "padding", 0, "Zeros added on each side of the input, or 'same' (keep the size; stride 1) or 'valid' (none)",
            length=nd, minimum=0, maximum=MAX_WINDOW, choices=("same", "valid"),
        )
    schema = [
        out_ch,
        _window("kernel_size", 2 if transpose else 3, nd, "Size of the sliding window", 1, key=True),
        _window("stride", 2 if transpose else 1, nd, "Step between windows" + (" (the upsampling factor)" if transpose else ""), 1, key=transpose),
        padding,
    ]
    if transpose:
        schema.append(_window("output_padding", 0, nd, "Extra size on one side of the output; smaller than stride or dilation", 0))
    schema += [
        _window("dilation", 1, nd, "Spacing between kernel elements (à trous)", 1),
        Int("groups", 1, "Split the channels into this many independent groups; must divide both channel counts", minimum=1, maximum=MAX_CHANNELS),
        Bool("bias", True, "Learn an additive bias per output channel"),
    ]
    if not transpose:
        schema.append(Choice("activation", "none", CONV_ACTIVATIONS, "Activation applied after the layer", key=True))
    return tuple(schema)


def _pool_params_schema(nd: int, kind: str):
    schema = [
        _window("kernel_size", 2, nd, "Size of the pooling window", 1, key=True),
        _window("stride", 2, nd, "Step between windows (PyTorch's default is the kernel size)", 1, key=True),
        _window("padding", 0, nd, "Padding on each side; at most half the kernel", 0),
    ]
    if kind == "max":
        schema.append(_window("dilation", 1, nd, "Spacing between window elements", 1))
    schema.append(Bool("ceil_mode", False, "Round the output size up: keep a last, partial window"))
    if kind == "avg":
        schema.append(Bool("count_include_pad", True, "Count padding zeros in the average"))
    return tuple(schema)


def _conv_spec(nd: int, doc: str, keywords: tuple[str, ...]) -> LayerSpec:
    return LayerSpec(
        f"conv{nd}d", layer_name("Conv", nd), "Convolution", doc,
        _conv_params_schema(nd, transpose=False), _conv_rule(nd),
        param_count=_conv_params, flops=_conv_flops, keywords=("convolution", "cnn", "filter", *keywords),
        examples=(Example({"in": TensorSpec((2, *(5,) * nd))}, {"channels": 3}),),
    )


def _conv_transpose_spec(nd: int, doc: str, keywords: tuple[str, ...]) -> LayerSpec:
    return LayerSpec(
        f"conv_transpose{nd}d", layer_name("ConvTranspose", nd), "Convolution", doc,
        _conv_params_schema(nd, transpose=True), _conv_transpose_rule(nd),
        param_count=_conv_params, flops=_conv_transpose_flops,
        keywords=("deconvolution", "deconv", "upsample", "upconvolution", "fractionally strided", "decoder", *keywords),
        examples=(Example({"in": TensorSpec((2, *(3,) * nd))}, {"channels": 3}),),
    )


def _pool_spec(kind: str, nd: int, doc: str, keywords: tuple[str, ...]) -> LayerSpec:
    family = "MaxPool" if kind == "max" else "AvgPool"
    return LayerSpec(
        f"{kind}_pool{nd}d", layer_name(family, nd), "Pooling", doc,
        _pool_params_schema(nd, kind), _pool_rule(family, nd), flops=_pool_flops,
        keywords=keywords,
        examples=(Example({"in": TensorSpec((2, *(4,) * nd))}),),
    )


SPECS = [
    _conv_spec(1, "1-d convolution over (C, L) sequences or signals (torch.nn.Conv1d).",
               ("temporal", "sequence", "signal", "audio")),
    _conv_spec(2, "2-d convolution over (C, H, W) images (torch.nn.Conv2d).",
               ("image", "kernel", "feature map")),
    _conv_spec(3, "3-d convolution over (C, D, H, W) volumes or video clips (torch.nn.Conv3d).",
               ("volume", "video", "voxel", "medical", "kernel")),
    _conv_transpose_spec(1, "Transposed 1-d convolution: learnt upsampling of (C, L) sequences (torch.nn.ConvTranspose1d).",
                         ("sequence", "audio")),
    _conv_transpose_spec(2, "Transposed 2-d convolution: learnt upsampling of (C, H, W) maps (torch.nn.ConvTranspose2d).",
                         ("image",)),
    _conv_transpose_spec(3, "Transposed 3-d convolution: learnt upsampling of (C, D, H, W) volumes (torch.nn.ConvTranspose3d).",
                         ("volume", "video")),
    _pool_spec("max", 1, "Largest value in each window of (C, L) sequences (torch.nn.MaxPool1d).",
               ("max pooling", "downsample", "subsample")),
    _pool_spec("max", 2, "Largest value in each window of (C, H, W) maps (torch.nn.MaxPool2d).",
               ("max pooling", "downsample", "subsample", "image")),
    _pool_spec("max", 3, "Largest value in each window of (C, D, H, W) volumes (torch.nn.MaxPool3d).",
               ("max pooling", "downsample", "subsample", "volume", "video")),
    _pool_spec("avg", 1, "Mean of each window of (C, L) sequences (torch.nn.AvgPool1d).",
               ("average pooling", "mean", "downsample", "subsample")),
    _pool_spec("avg", 2, "Mean of each window of (C, H, W) maps (torch.nn.AvgPool2d).",
               ("average pooling", "mean", "downsample", "subsample", "image")),
    _pool_spec("avg", 3, "Mean of each window of (C, D, H, W) volumes (torch.nn.AvgPool3d).",
               ("average pooling", "mean", "downsample", "subsample", "volume", "video")),
    LayerSpec(
        "global_avg_pool", "GlobalAvgPool", "Pooling",
        "Mean over all positions of each channel: (C, L) or (C, H, W) -> (C,).",
        (), _global_avg_rule, flops=lambda p, ins, outs: ins["in"].numel,
        keywords=("global average pooling", "gap", "adaptive", "mean", "head"),
        examples=(Example({"in": TensorSpec((3, 4, 4))}),),
    ),
]
