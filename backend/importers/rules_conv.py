"""Importer rules of the convolution and pooling family: Conv and ConvTranspose in
1, 2 and 3 dims, max and average pooling in 3 dims, adaptive pooling to any size,
global max pooling and LP pooling (see :mod:`layerloom.backend.importers.families`).

Adaptive pooling to size 1 imports as GlobalAvgPool / GlobalMaxPool (then a
Reshape when the size-1 dims are kept and used). What torch 2.13's ONNX exporter
writes, checked layer by layer: ``Conv``, ``ConvTranspose``, ``MaxPool`` and
``AveragePool`` of any rank (adaptive pooling whose sizes divide the input comes
as a plain pool; adaptive average pooling that does not divide it as ``Transpose``
(spatial dims first), ``GatherND`` of the windows, ``Transpose`` back and
``ReduceMean``, which :func:`rewrite_adaptive_avg_pool` folds into one operator whose
rule checks it on the recorded values), ``ReduceMax`` for global max pooling, and
LP pooling as ``Pow``, ``AveragePool``, ``Sign``, ``Abs``, ``Relu``, ``Mul``,
``Mul``, ``Pow``, which :func:`rewrite_lp_pool` turns back into one operator.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from layerloom.backend.importers import onnx_rules
from layerloom.backend.importers.common import Unsupported, Value, label_of, refuse
from layerloom.backend.importers.onnx_ops import Op
from layerloom.backend.importers.torch_modules import (
    _avg_pool,
    _conv,
    _layer,
    _max_pool,
    _only_input,
)
from layerloom.backend.importers.torch_rules import (
    _functional_pool,
    arg,
    as_tuple,
    global_average,
)


# ------------------------------------------------------------ PyTorch: modules
def _conv_transpose(nd: int):
    def rule(mp, node, m):
        refuse(m.padding_mode != "zeros", f"padding_mode={m.padding_mode!r}; LayerLoom pads with zeros")
        params = {
            "channels": m.out_channels, "kernel_size": as_tuple(m.kernel_size, nd), "stride": as_tuple(m.stride, nd),
            "padding": as_tuple(m.padding, nd), "output_padding": as_tuple(m.output_padding, nd),
            "dilation": as_tuple(m.dilation, nd), "groups": m.groups, "bias": m.bias is not None,
        }
        return _layer(mp, node, m, f"conv_transpose{nd}d", params)

    return rule


def _sizes(output_size, nd: int) -> tuple[int, ...]:
    """PyTorch's output size (an int, or a tuple with ``None`` for "keep") as
    LayerLoom's (0 keeps the input's size)."""
    if output_size is None or isinstance(output_size, int):
        output_size = (output_size,) * nd
    sizes = tuple(0 if s is None else int(s) for s in output_size)
    return sizes * nd if len(sizes) == 1 else sizes


def adaptive(mp, node, x: Value, kind: str, nd: int, output_size) -> Value:
    """Adaptive pooling of ``x``: global pooling when every output size is 1."""
    refuse(x.rank != nd + 1, f"pools {x.shape} per sample; LayerLoom's {nd}-d adaptive pooling reads "
           f"{nd + 1} dims (channels first)")
    sizes = _sizes(output_size, nd)
    if all(s == 1 for s in sizes):
        if kind == "avg":
            return global_average(mp, x, 1)
        out = mp.builder.add("global_max_pool", {}, [x], [x.shape[0]])
        return out.viewed([x.shape[0], *(1,) * nd])
    return mp.add(node, f"adaptive_{kind}_pool{nd}d", {"output_size": sizes}, [x])


def _adaptive_module(kind: str, nd: int):
    def rule(mp, node, m):
        refuse(bool(getattr(m, "return_indices", False)), "return_indices=True; LayerLoom's pooling returns the values only")
        return adaptive(mp, node, _only_input(mp, node), kind, nd, m.output_size)

    return rule


def _lp_params(nd: int, norm_type, kernel, stride, ceil_mode) -> dict:
    kernel = as_tuple(kernel, nd)
    refuse(not math.isfinite(float(norm_type)) or float(norm_type) <= 0, f"norm_type {norm_type}")
    return {"norm_type": float(norm_type), "kernel_size": kernel,
            "stride": as_tuple(stride, nd) if stride else kernel, "ceil_mode": bool(ceil_mode)}


def _lp_module(nd: int):
    def rule(mp, node, m):
        params = _lp_params(nd, m.norm_type, m.kernel_size, m.stride, m.ceil_mode)
        return mp.add(node, f"lp_pool{nd}d", params, [_only_input(mp, node)])

    return rule


# ---------------------------------------------------------- PyTorch: functions
def _adaptive_function(kind: str, nd: int):
    def rule(mp, node):
        refuse(bool(arg(node, 2, "return_indices", False)), "return_indices=True")
        return adaptive(mp, node, mp.tensor(node.args[0]), kind, nd, arg(node, 1, "output_size"))

    return rule


def _lp_function(nd: int):
    def rule(mp, node):
        params = _lp_params(nd, arg(node, 1, "norm_type"), arg(node, 2, "kernel_size"), arg(node, 3, "stride"),
                            arg(node, 4, "ceil_mode", False))
        return mp.add(node, f"lp_pool{nd}d", params, [mp.tensor(node.args[0])])

    return rule


def global_max(mp, x: Value, dims, keepdim: bool, fallback=None):
    """``amax`` over every dim but the first (per sample) is GlobalMaxPool."""
    spatial = sorted({int(d) % (x.rank + 1) for d in dims})
    if x.rank < 2 or spatial != list(range(2, x.rank + 1)):
        raise Unsupported(f"takes the max over dims {spatial} of (N, {', '.join(map(str, x.shape))}); "
                          "LayerLoom's GlobalMaxPool takes it over every dim after the channels")
    out = mp.builder.add("global_max_pool", {}, [x], [x.shape[0]])
    return out.viewed([x.shape[0], *(1,) * (x.rank - 1)]) if keepdim else out


def _amax():
    """``amax`` over every spatial dim; other reductions go to the rule this one
    took the place of (see :func:`families._join`)."""
    def rule(mp, node):
        dims = arg(node, 1, "dim", ())
        dims = [dims] if isinstance(dims, int) else list(dims)
        try:
            return global_max(mp, mp.tensor(node.args[0]), dims, bool(arg(node, 2, "keepdim", False)))
        except Unsupported:
            if rule.previous is None:
                raise
            return rule.previous(mp, node)

    rule.previous = None
    return rule


# ---------------------------------------------------------------------- ONNX
def _weights(op, w, bias):
    weights, sources = {"weight": w}, {"weight": op.inputs[1]}
    if bias is not None:
        weights["bias"], sources["bias"] = bias, op.inputs[2]
    return weights, sources


def _pad_apart(mp, x: Value, a: dict, nd: int) -> tuple[Value, dict]:
    """A convolution padded more at one end than the other (the exporter joins a
    causal ``F.pad(x, (k - 1, 0))`` into the Conv's ``pads``) becomes a zero
    padding node before a convolution without padding: LayerLoom's Conv pads both
    sides alike. Returns the input and the attributes the Conv keeps."""
    pads = [int(p) for p in a.get("pads") or ()]
    if a.get("auto_pad", "NOTSET") != "NOTSET" or len(pads) != 2 * nd or pads[:nd] == pads[nd:]:
        return x, a
    refuse(nd > 3 or any(p < 0 for p in pads), f"pads {pads}")
    begins, ends = pads[:nd], pads[nd:]
    padding = tuple(p for d in reversed(range(nd)) for p in (begins[d], ends[d]))  # F.pad's order
    shape = (*x.shape[:-nd], *(s + b + e for s, b, e in zip(x.shape[-nd:], begins, ends, strict=True)))
    padded = mp.builder.add(f"zero_pad{nd}d", {"padding": padding}, [mp.builder.materialise(x)], shape)
    return padded, {**a, "pads": [0] * (2 * nd)}


def onnx_conv(mp, op):
    a = op.attrs
    x = mp.tensor(op.inputs[0])
    w = mp.const(op.inputs[1], "the kernel")
    nd = w.ndim - 2
    refuse(nd not in (1, 2, 3), f"a {nd}-d convolution; LayerLoom has Conv1d, Conv2d and Conv3d")
    strides = onnx_rules._ints(a.get("strides"), nd)
    bias = mp.optional_const(op, 2, "the bias")
    x, a = _pad_apart(mp, x, a, nd)
    params = {
        "channels": w.shape[0], "kernel_size": tuple(w.shape[2:]), "stride": strides,
        "padding": onnx_rules._auto_pad(a, nd, strides), "dilation": onnx_rules._ints(a.get("dilations"), nd),
        "groups": int(a.get("group", 1)), "bias": bias is not None,
    }
    weights, sources = _weights(op, w, bias)
    return mp.add(op, f"conv{nd}d", params, [x], weights=weights, sources=sources, label=label_of(op.inputs[1]))


def onnx_conv_transpose(mp, op):
    a = op.attrs
    x = mp.tensor(op.inputs[0])
    w = mp.const(op.inputs[1], "the kernel")
    nd = w.ndim - 2
    refuse(nd not in (1, 2, 3), f"a {nd}-d transposed convolution")
    refuse("output_shape" in a, "output_shape is set")
    refuse(a.get("auto_pad", "NOTSET") != "NOTSET", f"auto_pad={a.get('auto_pad')}")
    groups = int(a.get("group", 1))
    bias = mp.optional_const(op, 2, "the bias")
    params = {
        "channels": w.shape[1] * groups, "kernel_size": tuple(w.shape[2:]),
        "stride": onnx_rules._ints(a.get("strides"), nd), "padding": onnx_rules._symmetric(a.get("pads"), nd),
        "output_padding": onnx_rules._ints(a.get("output_padding"), nd, 0),
        "dilation": onnx_rules._ints(a.get("dilations"), nd), "groups": groups, "bias": bias is not None,
    }
    weights, sources = _weights(op, w, bias)
    return mp.add(op, f"conv_transpose{nd}d", params, [x], weights=weights, sources=sources,
                  label=label_of(op.inputs[1]))


def _onnx_pool(kind: str):
    def rule(mp, op):
        a = op.attrs
        mp.unused(op, 1)
        x = mp.tensor(op.inputs[0])
        kernel = tuple(int(k) for k in a["kernel_shape"])
        nd = len(kernel)
        refuse(nd not in (1, 2, 3), f"{nd}-d pooling")
        refuse(a.get("auto_pad", "NOTSET") not in ("NOTSET", "VALID"), f"auto_pad={a.get('auto_pad')}")
        params = {
            "kernel_size": kernel, "stride": onnx_rules._ints(a.get("strides"), nd),
            "padding": onnx_rules._symmetric(a.get("pads"), nd), "ceil_mode": bool(a.get("ceil_mode", 0)),
        }
        if kind == "max":
            params["dilation"] = onnx_rules._ints(a.get("dilations"), nd)
        else:
            refuse(any(d != 1 for d in a.get("dilations") or ()), "dilations")
            params["count_include_pad"] = bool(a.get("count_include_pad", 0))
        return mp.add(op, f"{kind}_pool{nd}d", params, [x])

    return rule


def _onnx_reduce_max():
    def rule(mp, op):
        x = mp.tensor(op.inputs[0])
        axes = op.attrs.get("axes")
        if axes is None and len(op.inputs) > 1 and op.inputs[1]:
            axes = mp.const(op.inputs[1], "the axes").reshape(-1).tolist()
        try:
            refuse(not axes, "takes the max of every value")
            return global_max(mp, x, axes, bool(op.attrs.get("keepdims", 1)))
        except Unsupported:
            if rule.previous is None:
                raise
            return rule.previous(mp, op)

    rule.previous = None
    return rule


def onnx_lp_pool(mp, op):
    """The ONNX ``LpPool`` operator (``p`` an integer) and LayerLoom's rewrite of
    torch's decomposition, whose constants are checked here."""
    a = op.attrs
    x = mp.tensor(op.inputs[0])
    kernel = tuple(int(k) for k in a["kernel_shape"])
    nd = len(kernel)
    refuse(nd not in (1, 2), f"{nd}-d LP pooling; LayerLoom has LPPool1d and LPPool2d")
    refuse(any(int(p) for p in a.get("pads") or ()), "pads")
    refuse(a.get("auto_pad", "NOTSET") not in ("NOTSET", "VALID"), f"auto_pad={a.get('auto_pad')}")
    if op.op_type == "LpPool":
        norm = float(a.get("p", 2))
    else:  # the rewritten decomposition: x ** p, mean, sign * relu(abs), * window, ** (1 / p)
        norm, area, root = (float(np.asarray(mp.const(n, "the power")).reshape(-1)[0]) for n in op.inputs[1:4])
        refuse(not np.isclose(area, math.prod(kernel)) or not np.isclose(root * norm, 1.0, rtol=1e-6),
               "computes powers and means that are not an LP pooling")
        refuse(bool(a.get("count_include_pad", 1)) is False and any(int(p) for p in a.get("pads") or ()), "padding")
        norm = float(f"{norm:.7g}")
    params = {"norm_type": norm, "kernel_size": kernel, "stride": onnx_rules._ints(a.get("strides"), nd),
              "ceil_mode": bool(a.get("ceil_mode", 0))}
    return mp.add(op, f"lp_pool{nd}d", params, [x])


LP_CHAIN = ("AveragePool", "Sign", "Abs", "Relu", "Mul", "Mul", "Pow")


def rewrite_lp_pool(ops: list, outputs=(), constants=()) -> list:
    """Turn torch's decomposition of LP pooling, ``Pow(x, p) -> AveragePool ->
    Mul(Sign, Relu(Abs)) -> Mul(k) -> Pow(1 / p)``, into one ``LayerLoomLpPool``
    operator with the constants as inputs."""
    users: dict[str, list] = {}
    for op in ops:
        for name in op.inputs:
            users.setdefault(name, []).append(op)

    def only_user(name: str, op_type: str):
        found = users.get(name, [])
        return found[0] if len(found) == 1 and found[0].op_type == op_type else None

    replaced: dict[int, Op] = {}
    dropped: set[int] = set()
    for op in ops:
        if op.op_type != "Pow" or op.domain not in ("", "ai.onnx"):
            continue
        pool = only_user(op.outputs[0], "AveragePool")
        if pool is None:
            continue
        after = users.get(pool.outputs[0], [])
        sign = next((u for u in after if u.op_type == "Sign"), None)
        absolute = next((u for u in after if u.op_type == "Abs"), None)
        if len(after) != 2 or sign is None or absolute is None:
            continue
        relu = only_user(absolute.outputs[0], "Relu")
        both = users.get(sign.outputs[0], [])
        if relu is None or len(both) != 1 or both[0].op_type != "Mul":
            continue
        product = both[0]
        if sorted(product.inputs) != sorted([sign.outputs[0], relu.outputs[0]]):
            continue
        scale = only_user(product.outputs[0], "Mul")
        root = only_user(scale.outputs[0], "Pow") if scale is not None else None
        if root is None:
            continue
        area = next(n for n in scale.inputs if n != product.outputs[0])
        chain = (op, pool, sign, absolute, relu, product, scale)
        dropped.update(id(o) for o in chain)
        replaced[id(root)] = Op("LayerLoomLpPool", root.name, [op.inputs[0], op.inputs[1], area, root.inputs[1]],
                                list(root.outputs), dict(pool.attrs))
    return [replaced.get(id(op), op) for op in ops if id(op) not in dropped]


def rewrite_adaptive_avg_pool(ops: list, outputs=(), constants=()) -> list:
    """Fold torch's export of adaptive average pooling whose windows overlap,
    ``Transpose(spatial dims first) -> GatherND(windows) -> Transpose -> ReduceMean``,
    into one ``LayerLoomAdaptiveAvgPool`` operator (checked by its rule)."""
    users: dict[str, list] = {}
    for op in ops:
        for name in op.inputs:
            users.setdefault(name, []).append(op)

    def only_user(op, op_type: str):
        found = users.get(op.outputs[0], [])
        ok = len(found) == 1 and found[0].op_type == op_type and op.outputs[0] not in outputs
        return found[0] if ok else None

    replaced: dict[int, Op] = {}
    dropped: set[int] = set()
    for op in ops:
        perm = [int(p) for p in op.attrs.get("perm", ())] if op.op_type == "Transpose" else []
        if len(perm) < 3 or perm[-2:] != [0, 1] or perm[:-2] != list(range(2, len(perm))):
            continue
        gather = only_user(op, "GatherND")
        back = only_user(gather, "Transpose") if gather is not None else None
        mean = only_user(back, "ReduceMean") if back is not None else None
        if mean is None or gather.inputs[0] != op.outputs[0]:
            continue
        dropped.update(id(o) for o in (op, gather, back))
        replaced[id(mean)] = Op("LayerLoomAdaptiveAvgPool", mean.name, [op.inputs[0]], list(mean.outputs), {},
                                mean.domain, mean.modules, mean.fx_node)
    return [replaced.get(id(op), op) for op in ops if id(op) not in dropped]


def onnx_adaptive_avg_pool(mp, op):
    """:func:`rewrite_adaptive_avg_pool`'s operator: adaptive average pooling to the
    recorded output size, when that is what the gathered windows computed."""
    x = mp.tensor(op.inputs[0])
    out = mp.shape(op.outputs[0])
    nd = len(out) - 1
    why = (f"gathers and averages values of {x.shape} per sample into {out} (Transpose, GatherND, "
           "ReduceMean), which is not adaptive average pooling, the one such pattern LayerLoom reads")
    refuse(nd not in (1, 2, 3) or x.rank != nd + 1 or out[0] != x.shape[0], why)
    pool = getattr(F, f"adaptive_avg_pool{nd}d")
    source = torch.from_numpy(np.asarray(mp.values[op.inputs[0]], dtype=np.float32))
    want = torch.from_numpy(np.asarray(mp.values[op.outputs[0]], dtype=np.float32))
    refuse(not torch.allclose(pool(source, out[1:]), want, atol=1e-5, rtol=1e-4), why)
    return mp.add(op, f"adaptive_avg_pool{nd}d", {"output_size": tuple(out[1:])}, [x])


# ------------------------------------------------------------------- tables
MODULES = {
    nn.Conv3d: _conv(3),
    nn.ConvTranspose1d: _conv_transpose(1),
    nn.ConvTranspose2d: _conv_transpose(2),
    nn.ConvTranspose3d: _conv_transpose(3),
    nn.MaxPool3d: _max_pool(3),
    nn.AvgPool3d: _avg_pool(3),
    nn.AdaptiveAvgPool1d: _adaptive_module("avg", 1),
    nn.AdaptiveAvgPool2d: _adaptive_module("avg", 2),
    nn.AdaptiveAvgPool3d: _adaptive_module("avg", 3),
    nn.AdaptiveMaxPool1d: _adaptive_module("max", 1),
    nn.AdaptiveMaxPool2d: _adaptive_module("max", 2),
    nn.AdaptiveMaxPool3d: _adaptive_module("max", 3),
    nn.LPPool1d: _lp_module(1),
    nn.LPPool2d: _lp_module(2),
}

FUNCTIONS = {
    F.adaptive_avg_pool1d: _adaptive_function("avg", 1),
    F.adaptive_avg_pool2d: _adaptive_function("avg", 2),
    F.adaptive_avg_pool3d: _adaptive_function("avg", 3),
    F.adaptive_max_pool1d: _adaptive_function("max", 1),
    F.adaptive_max_pool2d: _adaptive_function("max", 2),
    F.adaptive_max_pool3d: _adaptive_function("max", 3),
    F.max_pool3d: _functional_pool("max", 3),
    F.avg_pool3d: _functional_pool("avg", 3),
    F.lp_pool1d: _lp_function(1),
    F.lp_pool2d: _lp_function(2),
    # amax over every spatial dim is GlobalMaxPool; other reductions go to Reduce
    torch.amax: _amax(),
}

METHODS = {"amax": _amax()}


ONNX = {
    "Conv": onnx_conv,
    "ConvTranspose": onnx_conv_transpose,
    "MaxPool": _onnx_pool("max"),
    "AveragePool": _onnx_pool("avg"),
    "ReduceMax": _onnx_reduce_max(),
    "LpPool": onnx_lp_pool,
    "LayerLoomLpPool": onnx_lp_pool,
    "LayerLoomAdaptiveAvgPool": onnx_adaptive_avg_pool,
}

ONNX_REWRITES = (rewrite_lp_pool, rewrite_adaptive_avg_pool)
