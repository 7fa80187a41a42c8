"""Resampling: Upsample (to a size or by a scale factor, with nearest, linear,
bilinear, bicubic or trilinear interpolation), PixelShuffle and PixelUnshuffle
(channels to space and back), Unfold and Fold (sliding blocks to columns and
back). Padding is in :mod:`~layerloom.graph.layers.padding`.

The shape rules use PyTorch's formulas and refuse what PyTorch refuses;
``tests/graph/test_pooling_resampling_shapes.py`` checks them against torch.
"""

from __future__ import annotations

import math

from layerloom.graph.errors import ParamError, ShapeError
from layerloom.graph.layers._util import conv_out, need_float
from layerloom.graph.layers.conv import MAX_WINDOW
from layerloom.graph.params import Bool, Choice, Float, Int, Ints
from layerloom.graph.registry import Example, LayerSpec
from layerloom.graph.tensor import TensorSpec, fmt_shape

MAX_SIZE = 65_536
MAX_FACTOR = 64


# -------------------------------------------------------------------- upsample
# mode -> the per-sample ranks it works on, as PyTorch's interpolate allows.
UPSAMPLE_RANKS = {"nearest": (2, 3, 4), "linear": (2,), "bilinear": (3,), "bicubic": (3,), "trilinear": (4,)}
INTERPOLATING = ("linear", "bilinear", "bicubic", "trilinear")
_LAYOUT = {2: "(C, L)", 3: "(C, H, W)", 4: "(C, D, H, W)"}
_MODE_OF_RANK = {2: "linear", 3: "bilinear", 4: "trilinear"}


def _one_or_tuple(value):
    """``size=8`` means every spatial dim, as in PyTorch."""
    if isinstance(value, int) and not isinstance(value, bool):
        return (value,)
    return value


def upsample_out(p, t: TensorSpec) -> tuple[int, ...]:
    """The spatial output size: ``size``, or each size times ``scale_factor``
    rounded down (as PyTorch computes it)."""
    spatial = t.shape[1:]
    if p["size"] is not None:
        size = p["size"]
        return tuple(size) * len(spatial) if len(size) == 1 else tuple(size)
    return tuple(int(s * p["scale_factor"]) for s in spatial)


def _upsample_rule(p, ins):
    t = ins["in"]
    need_float("Upsample", t)
    mode = p["mode"]
    if t.rank not in UPSAMPLE_RANKS[mode]:
        if t.rank in _MODE_OF_RANK:
            fix = f"use mode {_MODE_OF_RANK[t.rank]!r} (or 'nearest') for {_LAYOUT[t.rank]} inputs"
        else:
            fix = "insert a Reshape to (C, L), (C, H, W) or (C, D, H, W)"
        layout = " or ".join(_LAYOUT[r] for r in UPSAMPLE_RANKS[mode])
        raise ShapeError(f"Upsample in mode {mode!r} needs {layout}; it receives {fmt_shape(t.shape)}", fix)
    if p["align_corners"] and mode not in INTERPOLATING:
        raise ShapeError(
            f"Upsample align_corners works only with the interpolating modes (linear, bilinear, bicubic, "
            f"trilinear), not {mode!r} (input {fmt_shape(t.shape)})",
            "turn align_corners off, or choose an interpolating mode",
        )
    size = p["size"]
    if size is not None and len(size) not in (1, t.rank - 1):
        raise ShapeError(
            f"Upsample size {fmt_shape(size)} gives {len(size)} sizes for the {t.rank - 1} spatial dims "
            f"of {fmt_shape(t.shape)}",
            f"give one size, or {t.rank - 1}",
        )
    out = upsample_out(p, t)
    if any(o < 1 for o in out):
        raise ShapeError(
            f"Upsample scale_factor {p['scale_factor']} makes the spatial size {fmt_shape(t.shape[1:])} of "
            f"{fmt_shape(t.shape)} into {fmt_shape(out)}",
            "use a larger scale factor or a larger input",
        )
    return {"out": t.with_shape((t.shape[0], *out))}


def _upsample_flops(p, ins, outs):
    per_output = {"nearest": 1, "linear": 4, "bilinear": 8, "bicubic": 32, "trilinear": 16}[p["mode"]]
    return per_output * outs["out"].numel


# ------------------------------------------------------------- pixel shuffle
def _pixel_shuffle_rule(p, ins):
    t = ins["in"]
    need_float("PixelShuffle", t)
    r = p["upscale_factor"]
    _need_image("PixelShuffle", t)
    c, h, w = t.shape[-3:]
    if c % (r * r):
        raise ShapeError(
            f"PixelShuffle upscale_factor {r} needs channels divisible by {r * r}; the input "
            f"{fmt_shape(t.shape)} has {c}",
            f"give the layer before {r * r * max(1, round(c / (r * r)))} channels, or another factor",
        )
    return {"out": t.with_shape((*t.shape[:-3], c // (r * r), h * r, w * r))}


def _pixel_unshuffle_rule(p, ins):
    t = ins["in"]
    need_float("PixelUnshuffle", t)
    r = p["downscale_factor"]
    _need_image("PixelUnshuffle", t)
    c, h, w = t.shape[-3:]
    if h % r or w % r:
        raise ShapeError(
            f"PixelUnshuffle downscale_factor {r} must divide the height and width of {fmt_shape(t.shape)}",
            f"crop or pad the input to a multiple of {r}, or choose a factor dividing {math.gcd(h, w)}",
        )
    return {"out": t.with_shape((*t.shape[:-3], c * r * r, h // r, w // r))}


def _need_image(name: str, t: TensorSpec) -> None:
    if t.rank < 3:
        raise ShapeError(f"{name} needs (C, H, W); it receives {fmt_shape(t.shape)}",
                         "insert a Reshape to (C, H, W)")


# ------------------------------------------------------------- fold, unfold
def _blocks(name, t, p, spatial) -> list[int]:
    blocks = [
        conv_out(s, k, st, pad, d)
        for s, k, st, pad, d in zip(spatial, p["kernel_size"], p["stride"], p["padding"], p["dilation"], strict=True)
    ]
    if any(b < 1 for b in blocks):
        raise ShapeError(
            f"{name} kernel {fmt_shape(p['kernel_size'])} with dilation {fmt_shape(p['dilation'])} does not fit "
            f"the padded size {fmt_shape([s + 2 * pad for s, pad in zip(spatial, p['padding'], strict=True)])} "
            f"(input {fmt_shape(t.shape)})",
            "use a smaller kernel or dilation, or more padding",
        )
    return blocks


def _unfold_rule(p, ins):
    t = ins["in"]
    need_float("Unfold", t)
    if t.rank != 3:
        raise ShapeError(f"Unfold needs (C, H, W); it receives {fmt_shape(t.shape)}",
                         "insert a Reshape to (C, H, W)")
    blocks = _blocks("Unfold", t, p, t.shape[1:])
    return {"out": t.with_shape((t.shape[0] * math.prod(p["kernel_size"]), math.prod(blocks)))}


def _fold_rule(p, ins):
    t = ins["in"]
    need_float("Fold", t)
    if t.rank != 2:
        raise ShapeError(f"Fold needs (C x kernel area, blocks); it receives {fmt_shape(t.shape)}",
                         "feed it what Unfold gives, or insert a Reshape to (C x kernel area, blocks)")
    area = math.prod(p["kernel_size"])
    if t.shape[0] % area:
        raise ShapeError(
            f"Fold kernel {fmt_shape(p['kernel_size'])} covers {area} values; the input {fmt_shape(t.shape)} "
            f"has {t.shape[0]} rows, not a multiple of it",
            f"give it C x {area} rows",
        )
    blocks = _blocks("Fold", t, p, p["output_size"])
    if t.shape[1] != math.prod(blocks):
        raise ShapeError(
            f"Fold to output_size {fmt_shape(p['output_size'])} takes {fmt_shape(blocks)} = {math.prod(blocks)} "
            f"blocks; the input {fmt_shape(t.shape)} has {t.shape[1]}",
            "set output_size, kernel, stride, padding and dilation to those of the Unfold that made the blocks",
        )
    return {"out": t.with_shape((t.shape[0] // area, *p["output_size"]))}


def _window_params(kernel_default: int):
    return (
        Ints("kernel_size", kernel_default, "Size of the sliding block", length=2, minimum=1, maximum=MAX_WINDOW, key=True),
        Ints("dilation", 1, "Spacing between elements of a block", length=2, minimum=1, maximum=MAX_WINDOW),
        Ints("padding", 0, "Zeros added on each side of the (output) image", length=2, minimum=0, maximum=MAX_WINDOW),
        Ints("stride", 1, "Step between blocks", length=2, minimum=1, maximum=MAX_WINDOW, key=True),
    )


def _check_size(value):
    value = _one_or_tuple(value)
    if isinstance(value, (list, tuple)) and len(value) not in (1, 2, 3):
        raise ParamError(f"size needs 1 to 3 values (one for every dim, or one per spatial dim), got {list(value)!r}")
    return value


SPECS = [
    LayerSpec(
        "upsample", "Upsample", "Resampling",
        "Resizes (C, L), (C, H, W) or (C, D, H, W) maps to a size or by a scale factor (torch.nn.Upsample).",
        (
            Float("scale_factor", 2.0, "Every spatial size is multiplied by this (rounded down); unused when size is set",
                  minimum=0, maximum=MAX_FACTOR, exclusive_minimum=True, key=True),
            Ints("size", None, "Output spatial size: one value for every dim, or one per dim; overrides scale_factor",
                 minimum=1, maximum=MAX_SIZE, unset="scale by scale_factor", convert=_check_size),
            Choice(
                "mode", "nearest", ("nearest", "linear", "bilinear", "bicubic", "trilinear"),
                "nearest: copy values; linear: for (C, L); bilinear, bicubic: for (C, H, W); trilinear: for (C, D, H, W)",
                key=True,
            ),
            Bool("align_corners", False, "Interpolating modes: map the corner pixels of input and output onto each other"),
        ),
        _upsample_rule, flops=_upsample_flops,
        keywords=("interpolate", "resize", "enlarge", "zoom", "nearest", "bilinear", "bicubic", "trilinear", "decoder"),
        examples=(Example({"in": TensorSpec((2, 3, 4))}, {"mode": "bilinear", "scale_factor": 1.5}),),
    ),
    LayerSpec(
        "pixel_shuffle", "PixelShuffle", "Resampling",
        "Moves channels into space: (C x r^2, H, W) -> (C, H x r, W x r), sub-pixel upsampling (torch.nn.PixelShuffle).",
        (Int("upscale_factor", 2, "The factor r by which height and width grow", minimum=1, maximum=MAX_FACTOR, key=True),),
        _pixel_shuffle_rule, flops=lambda p, ins, outs: 0,
        keywords=("sub-pixel", "depth to space", "super resolution", "upsample"),
        examples=(Example({"in": TensorSpec((8, 3, 3))}),),
    ),
    LayerSpec(
        "pixel_unshuffle", "PixelUnshuffle", "Resampling",
        "Moves space into channels: (C, H x r, W x r) -> (C x r^2, H, W) (torch.nn.PixelUnshuffle).",
        (Int("downscale_factor", 2, "The factor r by which height and width shrink", minimum=1, maximum=MAX_FACTOR, key=True),),
        _pixel_unshuffle_rule, flops=lambda p, ins, outs: 0,
        keywords=("space to depth", "downsample"),
        examples=(Example({"in": TensorSpec((2, 4, 6))}),),
    ),
    LayerSpec(
        "unfold", "Unfold", "Resampling",
        "Sliding blocks of (C, H, W) maps as columns: (C x kernel area, blocks) (torch.nn.Unfold, im2col).",
        _window_params(2), _unfold_rule, flops=lambda p, ins, outs: 0,
        keywords=("im2col", "patches", "sliding window", "blocks"),
        examples=(Example({"in": TensorSpec((2, 4, 5))}),),
    ),
    LayerSpec(
        "fold", "Fold", "Resampling",
        "Sums sliding blocks (C x kernel area, blocks) back into (C, H, W) maps (torch.nn.Fold, col2im).",
        (
            Ints("output_size", 4, "Height and width of the output", length=2, minimum=1, maximum=MAX_SIZE, key=True),
            *_window_params(2),
        ),
        _fold_rule,
        keywords=("col2im", "patches", "sliding window", "blocks", "overlap add"),
        examples=(Example({"in": TensorSpec((8, 12))}, {"output_size": (4, 5)}),),
    ),
]
