"""Importer rules of the padding and resampling family: the padding modules and
``F.pad`` in every mode, ``nn.Upsample`` / ``F.interpolate``, PixelShuffle and
PixelUnshuffle, Fold and Unfold (see :mod:`layerloom.backend.importers.families`).

What torch 2.13's ONNX exporter writes, checked layer by layer: ``Pad`` (modes
constant, reflect, edge, wrap), ``Resize`` (nearest, linear, cubic), PixelShuffle
as ``DepthToSpace`` (CRD), Fold as ``Col2Im``, and Unfold as ``Pad``, two
``Gather`` of sliding-window indices, ``Transpose`` and ``Reshape``, which
:func:`rewrite_unfold` turns back into one operator. PixelUnshuffle comes as
``Reshape``, ``Transpose``, ``Reshape`` and imports as those layers (it computes
the same); one-dimensional linear Upsample comes as ``GatherND`` arithmetic and
is reported.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from layerloom.backend.importers.common import Unsupported, Value, refuse
from layerloom.backend.importers.onnx_ops import Op
from layerloom.backend.importers.torch_modules import _only_input
from layerloom.backend.importers.torch_rules import arg, as_tuple
from layerloom.graph.layers.resampling import UPSAMPLE_RANKS

PAD_MODES = {"constant": "constant", "reflect": "reflection", "replicate": "replication", "circular": "circular"}
ONNX_PAD_MODES = {"constant": "constant", "reflect": "reflection", "edge": "replication", "wrap": "circular"}
PAD_CLASSES = {
    nn.ZeroPad1d: ("zero", 1), nn.ZeroPad2d: ("zero", 2), nn.ZeroPad3d: ("zero", 3),
    nn.ConstantPad1d: ("constant", 1), nn.ConstantPad2d: ("constant", 2), nn.ConstantPad3d: ("constant", 3),
    nn.ReflectionPad1d: ("reflection", 1), nn.ReflectionPad2d: ("reflection", 2), nn.ReflectionPad3d: ("reflection", 3),
    nn.ReplicationPad1d: ("replication", 1), nn.ReplicationPad2d: ("replication", 2),
    nn.ReplicationPad3d: ("replication", 3),
    nn.CircularPad1d: ("circular", 1), nn.CircularPad2d: ("circular", 2), nn.CircularPad3d: ("circular", 3),
}


# ----------------------------------------------------------------------- pads
def pad(mp, node, x: Value, mode: str, padding, value=0.0) -> Value:
    """A padding node: ``mode`` is LayerLoom's (zero, constant, reflection, ...);
    a constant of 0 is a zero padding."""
    padding = tuple(int(p) for p in padding)
    refuse(len(padding) % 2 or not 2 <= len(padding) <= 6,
           f"padding {padding}; LayerLoom pads 1 to 3 dims, two sides each")
    nd = len(padding) // 2
    value = 0.0 if value is None else float(value)
    if mode == "constant" and value == 0.0:
        mode = "zero"
    params = {"padding": padding}
    if mode == "constant":
        params["value"] = value
    return mp.add(node, f"{mode}_pad{nd}d", params, [x])


def _pad_module(mp, node, m):
    mode, nd = PAD_CLASSES[type(m)] if type(m) in PAD_CLASSES else _pad_kind(m)
    padding = as_tuple(m.padding, 2 * nd)
    return pad(mp, node, _only_input(mp, node), mode, padding, getattr(m, "value", 0.0))


def _pad_kind(m):
    for cls in type(m).__mro__:
        if cls in PAD_CLASSES:
            return PAD_CLASSES[cls]
    raise Unsupported()


def _functional_pad(mp, node):
    mode = arg(node, 2, "mode", "constant")
    refuse(mode not in PAD_MODES, f"mode {mode!r}")
    return pad(mp, node, mp.tensor(node.args[0]), PAD_MODES[mode], arg(node, 1, "pad"), arg(node, 3, "value"))


def onnx_pad(mp, op):
    x = mp.tensor(op.inputs[0])
    mode = op.attrs.get("mode", "constant")
    refuse(mode not in ONNX_PAD_MODES, f"mode {mode!r}")
    pads = [int(p) for p in np.asarray(mp.const(op.inputs[1], "the pads")).reshape(-1)]
    rank = x.rank + 1
    axes = list(range(rank))
    axes_value = mp.optional_const(op, 3, "the axes")
    if axes_value is not None:
        axes = [int(a) % rank for a in np.asarray(axes_value).reshape(-1)]
    before, after = dict(zip(axes, pads[: len(axes)], strict=True)), dict(zip(axes, pads[len(axes):], strict=True))
    padded = [a for a in range(rank) if before.get(a, 0) or after.get(a, 0)]
    refuse(0 in padded, "pads the batch dim")
    value = mp.optional_const(op, 2, "the padding value")
    value = 0.0 if value is None else float(np.asarray(value).reshape(-1)[0])
    if not padded:
        return x
    nd = rank - min(padded)
    if mode != "constant" and x.rank - 1 >= nd:
        nd = x.rank - 1  # reflection & co. read (C, ...) with every spatial dim listed
    refuse(nd > 3, f"pads {nd} dims; LayerLoom pads at most 3")
    padding = []
    for d in range(rank - 1, rank - 1 - nd, -1):
        padding += [before.get(d, 0), after.get(d, 0)]
    return pad(mp, op, x, ONNX_PAD_MODES[mode], padding, value)


# ------------------------------------------------------------------- upsample
def upsample(mp, node, x: Value, size, scale_factor, mode: str, align_corners, recompute=None, antialias=False):
    refuse(mode not in UPSAMPLE_RANKS, f"mode {mode!r}; LayerLoom's Upsample has {', '.join(UPSAMPLE_RANKS)}")
    refuse(bool(antialias), "antialias=True")
    params = {"mode": mode, "align_corners": bool(align_corners)}
    if size is not None:
        params["size"] = (size,) if isinstance(size, int) else tuple(int(s) for s in size)
    elif recompute:  # the scale is recomputed from the output size: the same as that size
        params["size"] = tuple(mp.shape(node)[1:])
    else:
        factors = scale_factor if isinstance(scale_factor, (tuple, list)) else (scale_factor,)
        refuse(len({float(f) for f in factors}) != 1,
               f"scale_factor {scale_factor}; LayerLoom's Upsample scales every dim by one factor (or give a size)")
        params["scale_factor"] = float(factors[0])
    return mp.add(node, "upsample", params, [x])


def _upsample_module(mp, node, m: nn.Upsample):
    return upsample(mp, node, _only_input(mp, node), m.size, m.scale_factor, m.mode, m.align_corners,
                    getattr(m, "recompute_scale_factor", None))


def _interpolate(mp, node):
    return upsample(
        mp, node, mp.tensor(node.args[0]), arg(node, 1, "size"), arg(node, 2, "scale_factor"),
        arg(node, 3, "mode", "nearest"), arg(node, 4, "align_corners"), arg(node, 5, "recompute_scale_factor"),
        arg(node, 6, "antialias", False),
    )


def _float(value) -> float:
    return float(f"{float(value):.7g}")


def onnx_resize(mp, op):
    a = op.attrs
    x = mp.tensor(op.inputs[0])
    mode, coords = a.get("mode", "nearest"), a.get("coordinate_transformation_mode", "half_pixel")
    refuse(bool(a.get("antialias", 0)), "antialias")
    refuse(a.get("keep_aspect_ratio_policy", "stretch") != "stretch", "keeps the aspect ratio")
    if mode == "nearest":
        refuse(coords != "asymmetric" or a.get("nearest_mode", "round_prefer_floor") != "floor",
               f"nearest resizing with {coords} coordinates")
        kind, align = "nearest", False
    elif mode in ("linear", "cubic") and coords in ("half_pixel", "pytorch_half_pixel", "align_corners"):
        refuse(mode == "cubic" and (not np.isclose(a.get("cubic_coeff_a", -0.75), -0.75) or a.get("exclude_outside", 0)),
               "a cubic kernel other than PyTorch's")
        kind = {2: "linear", 3: "bilinear", 4: "trilinear"}.get(x.rank) if mode == "linear" else "bicubic"
        refuse(kind is None, f"linear resizing of {x.shape}")
        align = coords == "align_corners"
    else:
        raise Unsupported(f"mode {mode!r} with {coords} coordinates")
    scales = mp.optional_const(op, 2, "the scales")
    params = {"mode": kind, "align_corners": align}
    if scales is not None and np.asarray(scales).size:
        scales = [float(s) for s in np.asarray(scales).reshape(-1)]
        refuse(scales[:2] != [1.0, 1.0] or len(set(scales[2:])) != 1,
               f"scales {scales}; LayerLoom's Upsample scales every spatial dim by one factor")
        params["scale_factor"] = _float(scales[2])
    else:
        sizes = mp.const(op.inputs[3], "the sizes")
        params["size"] = tuple(int(s) for s in np.asarray(sizes).reshape(-1)[2:])
    return mp.add(op, "upsample", params, [x])


# -------------------------------------------------------- shuffles and blocks
def _shuffle(type_id: str, key: str):
    def module_rule(mp, node, m):
        return mp.add(node, type_id, {key: int(getattr(m, key))}, [_only_input(mp, node)])

    def function_rule(mp, node):
        return mp.add(node, type_id, {key: int(arg(node, 1, key))}, [mp.tensor(node.args[0])])

    return module_rule, function_rule


def _window(kernel, dilation, padding, stride) -> dict:
    return {"kernel_size": as_tuple(kernel, 2), "dilation": as_tuple(dilation, 2),
            "padding": as_tuple(padding, 2), "stride": as_tuple(stride, 2)}


def _unfold_module(mp, node, m: nn.Unfold):
    return mp.add(node, "unfold", _window(m.kernel_size, m.dilation, m.padding, m.stride), [_only_input(mp, node)])


def _fold_module(mp, node, m: nn.Fold):
    params = {"output_size": as_tuple(m.output_size, 2), **_window(m.kernel_size, m.dilation, m.padding, m.stride)}
    return mp.add(node, "fold", params, [_only_input(mp, node)])


def _unfold_function(mp, node):
    params = _window(arg(node, 1, "kernel_size"), arg(node, 2, "dilation", 1), arg(node, 3, "padding", 0),
                     arg(node, 4, "stride", 1))
    return mp.add(node, "unfold", params, [mp.tensor(node.args[0])])


def _fold_function(mp, node):
    params = {"output_size": as_tuple(arg(node, 1, "output_size"), 2),
              **_window(arg(node, 2, "kernel_size"), arg(node, 3, "dilation", 1), arg(node, 4, "padding", 0),
                        arg(node, 5, "stride", 1))}
    return mp.add(node, "fold", params, [mp.tensor(node.args[0])])


def onnx_depth_to_space(mp, op):
    refuse(op.attrs.get("mode", "DCR") != "CRD", "DCR order (depth, column, row); PixelShuffle is CRD")
    return mp.add(op, "pixel_shuffle", {"upscale_factor": int(op.attrs["blocksize"])}, [mp.tensor(op.inputs[0])])


def onnx_col2im(mp, op):
    a = op.attrs
    x = mp.tensor(op.inputs[0])
    image = [int(s) for s in np.asarray(mp.const(op.inputs[1], "the image shape")).reshape(-1)]
    block = [int(s) for s in np.asarray(mp.const(op.inputs[2], "the block shape")).reshape(-1)]
    refuse(len(image) != 2, f"a {len(image)}-d image; LayerLoom's Fold makes (C, H, W) maps")
    pads = list(a.get("pads") or [0] * 4)
    refuse(pads[:2] != pads[2:], f"pads {pads} differ at the start and end")
    params = {"output_size": tuple(image), "kernel_size": tuple(block),
              "dilation": tuple(int(d) for d in a.get("dilations") or (1, 1)), "padding": tuple(pads[:2]),
              "stride": tuple(int(s) for s in a.get("strides") or (1, 1))}
    return mp.add(op, "fold", params, [x])


def _window_of(index: np.ndarray, padded: int) -> tuple[int, int, int]:
    """(kernel, dilation, stride) of a ``[kernel, blocks]`` array of the positions
    each block reads, as torch's decomposition of Unfold gathers them."""
    refuse(index.ndim != 2, "gathers with indices that are not sliding windows")
    kernel, blocks = index.shape
    dilation = int(index[1, 0] - index[0, 0]) if kernel > 1 else 1
    span = dilation * (kernel - 1) + 1
    stride = int(index[0, 1] - index[0, 0]) if blocks > 1 else padded - span + 1
    expected = np.arange(kernel)[:, None] * dilation + np.arange(blocks)[None, :] * stride
    refuse(dilation < 1 or stride < 1 or not np.array_equal(index, expected),
           "gathers with indices that are not sliding windows")
    return kernel, dilation, stride


def onnx_unfold(mp, op):
    x = mp.tensor(op.inputs[0])
    refuse(x.rank != 3, f"unfolds {x.shape}; LayerLoom's Unfold reads (C, H, W)")
    padding = [0, 0]
    if op.inputs[1]:
        pads = [int(p) for p in np.asarray(mp.const(op.inputs[1], "the pads")).reshape(-1)]
        refuse(len(pads) != 8 or pads[:4] != pads[4:] or pads[0] or pads[1], f"pads {pads}")
        padding = pads[2:4]
        value = op.inputs[4] if len(op.inputs) > 4 and op.inputs[4] else None
        refuse(value is not None and float(np.asarray(mp.const(value)).reshape(-1)[0]) != 0.0, "pads with a constant")
    found = [_window_of(np.asarray(mp.const(op.inputs[i], "the window indices")), x.shape[i - 1] + 2 * padding[i - 2])
             for i in (2, 3)]
    params = {"kernel_size": tuple(f[0] for f in found), "dilation": tuple(f[1] for f in found),
              "padding": tuple(padding), "stride": tuple(f[2] for f in found)}
    return mp.add(op, "unfold", params, [x])


def rewrite_unfold(ops: list, outputs=(), constants=()) -> list:
    """Turn torch's decomposition of Unfold, ``[Pad ->] Gather(axis 2) ->
    Gather(axis 4) -> Transpose(0, 1, 2, 4, 3, 5) -> Reshape``, into one
    ``LayerLoomUnfold`` operator (inputs: x, pads, row and column indices)."""
    users: dict[str, list] = {}
    producers = {name: op for op in ops for name in op.outputs}
    for op in ops:
        for name in op.inputs:
            users.setdefault(name, []).append(op)

    def only_user(name: str, op_type: str):
        found = users.get(name, [])
        return found[0] if len(found) == 1 and found[0].op_type == op_type else None

    replaced: dict[int, Op] = {}
    dropped: set[int] = set()
    for op in ops:
        if op.op_type != "Gather" or int(op.attrs.get("axis", 0)) != 2:
            continue
        second = only_user(op.outputs[0], "Gather")
        if second is None or int(second.attrs.get("axis", 0)) != 4:
            continue
        transpose = only_user(second.outputs[0], "Transpose")
        if transpose is None or list(transpose.attrs.get("perm", ())) != [0, 1, 2, 4, 3, 5]:
            continue
        reshape = only_user(transpose.outputs[0], "Reshape")
        if reshape is None:
            continue
        chain = [op, second, transpose]
        source, pads, value = op.inputs[0], "", ""
        padder = producers.get(source)
        if padder is not None and padder.op_type == "Pad" and padder.attrs.get("mode", "constant") == "constant" \
                and len(users.get(source, [])) == 1 and (len(padder.inputs) < 4 or not padder.inputs[3]):
            chain.append(padder)
            source, pads = padder.inputs[0], padder.inputs[1]
            value = padder.inputs[2] if len(padder.inputs) > 2 else ""
        dropped.update(id(o) for o in chain)
        replaced[id(reshape)] = Op("LayerLoomUnfold", reshape.name,
                                   [source, pads, op.inputs[1], second.inputs[1], value], list(reshape.outputs))
    return [replaced.get(id(op), op) for op in ops if id(op) not in dropped]


# ------------------------------------------------------------------- tables
_shuffle_module, _shuffle_function = _shuffle("pixel_shuffle", "upscale_factor")
_unshuffle_module, _unshuffle_function = _shuffle("pixel_unshuffle", "downscale_factor")

MODULES = {
    **dict.fromkeys(PAD_CLASSES, _pad_module),
    nn.Upsample: _upsample_module,
    nn.PixelShuffle: _shuffle_module,
    nn.PixelUnshuffle: _unshuffle_module,
    nn.Unfold: _unfold_module,
    nn.Fold: _fold_module,
}

FUNCTIONS = {
    F.pad: _functional_pad,
    F.interpolate: _interpolate,
    F.upsample: _interpolate,
    torch.pixel_shuffle: _shuffle_function,
    torch.pixel_unshuffle: _unshuffle_function,
    F.unfold: _unfold_function,
    F.fold: _fold_function,
}

ONNX = {
    "Pad": onnx_pad,
    "Resize": onnx_resize,
    "DepthToSpace": onnx_depth_to_space,
    "Col2Im": onnx_col2im,
    "LayerLoomUnfold": onnx_unfold,
}

ONNX_REWRITES = (rewrite_unfold,)
