"""PyTorch import rules of the normalisation, activation and dropout layers added
next to BatchNorm, LayerNorm and ReLU (see :mod:`~layerloom.backend.importers.families`).

Each layer is mapped from its ``torch.nn`` class (``nn.ReLU6()``), its function
(``F.relu6(x)``, ``torch.selu(x)``) and, where torch has one, its tensor method
(``x.hardshrink()``). Settings are read from the module's attributes or the
call's arguments, by position or by name; weights come from the module's
state_dict, whose names the lowerings keep. The ONNX rules are in
:mod:`~layerloom.backend.importers.rules_norm_act_onnx`.
"""

from __future__ import annotations

import torch
import torch.fx as fx
import torch.nn.functional as F
from torch import nn

from layerloom.backend.importers.common import Unsupported, Value, refuse
from layerloom.backend.importers.torch_modules import _batch_norm, _layer, _only_input
from layerloom.backend.importers.torch_rules import activation, arg
from layerloom.graph.layers.normalisation import INSTANCE_NORM_KINDS

# type id -> the settings after the input, in the functions' order: (name, default, kind)
SETTINGS = {
    "relu6": (), "selu": (), "softsign": (), "hardswish": (), "hardsigmoid": (), "mish": (),
    "log_sigmoid": (), "tanhshrink": (),
    "celu": (("alpha", 1.0, float),),
    "softplus": (("beta", 1.0, float), ("threshold", 20.0, float)),
    "softshrink": (("lambd", 0.5, float),),
    "hardshrink": (("lambd", 0.5, float),),
    "hardtanh": (("min_val", -1.0, float), ("max_val", 1.0, float)),
    "glu": (("dim", -1, int),),
    "threshold": (("threshold", None, float), ("value", None, float)),
}


def _setting(value, name: str, kind):
    if isinstance(value, fx.Node):
        raise Unsupported(f"computes {name} from the model's tensors; LayerLoom needs a number")
    refuse(value is None, f"gives no {name}")
    return kind(value)


def _source(node):
    return node.args[0] if node.args else node.kwargs.get("input")


# ---------------------------------------------------------------- activations
def _module_activation(type_id: str):
    def rule(mp, node, m):
        source = node.args[0] if len(node.args) == 1 and not node.kwargs else None
        params = {name: _setting(getattr(m, name), name, kind) for name, _, kind in SETTINGS[type_id]}
        return activation(mp, node, source, type_id, params)

    return rule


def _function_activation(type_id: str):
    def rule(mp, node):
        params = {
            name: _setting(arg(node, i + 1, name, default), name, kind)
            for i, (name, default, kind) in enumerate(SETTINGS[type_id])
        }
        return activation(mp, node, _source(node), type_id, params)

    return rule


def _softmax2d(mp, node, m: nn.Softmax2d):
    x = _only_input(mp, node)
    refuse(x.rank != 3, f"receives {x.shape} per sample; Softmax2d over (C, H, W) images only "
           "(on (H, W) it would mix the samples of the batch)")
    return activation(mp, node, node.args[0], "softmax", {"dim": -3})


def _prelu(mp, node, m: nn.PReLU):
    x = _only_input(mp, node)
    return _layer(mp, node, m, "prelu", {"num_parameters": m.num_parameters, "init": float(m.init)}, [x])


# ------------------------------------------------------------- normalisation
def _group_norm_module(mp, node, m: nn.GroupNorm):
    x = _only_input(mp, node)
    refuse(not x.shape or x.shape[0] != m.num_channels,
           f"num_channels={m.num_channels} but the input {x.shape} has {x.shape[0] if x.shape else 0} channels")
    params = {"num_groups": m.num_groups, "eps": float(m.eps), "affine": m.affine}
    return _layer(mp, node, m, "group_norm", params, [x])


def _group_norm_function(mp, node):
    x = mp.tensor(_source(node))
    for index, name in ((2, "weight"), (3, "bias")):
        refuse(arg(node, index, name) is not None,
               f"passes its own {name} tensor; LayerLoom's GroupNorm keeps its weights: use nn.GroupNorm")
    params = {"num_groups": _setting(arg(node, 1, "num_groups"), "num_groups", int),
              "eps": _setting(arg(node, 4, "eps", 1e-5), "eps", float), "affine": False}
    return mp.add(node, "group_norm", params, [x])


def _instance_norm_module(mp, node, m):
    x = _only_input(mp, node)
    expected = {nn.InstanceNorm1d: 2, nn.InstanceNorm2d: 3, nn.InstanceNorm3d: 4}
    rank = next(r for cls, r in expected.items() if isinstance(m, cls))
    refuse(x.rank != rank,
           f"receives {x.shape} per sample; {INSTANCE_NORM_KINDS[rank]} reads such an input without "
           "its batch dim, mixing the samples")
    refuse(m.momentum is None, "momentum=None (a cumulative average); LayerLoom's InstanceNorm needs a momentum")
    refuse(m.affine and x.shape[0] != m.num_features,
           f"num_features={m.num_features} but the input {x.shape} has {x.shape[0]} channels")
    params = {"eps": float(m.eps), "momentum": float(m.momentum), "affine": m.affine,
              "track_running_stats": m.track_running_stats}
    return _layer(mp, node, m, "instance_norm", params, [x])


def _instance_norm_function(mp, node):
    x = mp.tensor(_source(node))
    names = ("running_mean", "running_var", "weight", "bias")
    for index, name in enumerate(names, start=1):
        refuse(arg(node, index, name) is not None,
               f"passes its own {name} tensor; LayerLoom's InstanceNorm keeps its own: use nn.InstanceNorm2d")
    refuse(not arg(node, 5, "use_input_stats", True), "use_input_stats=False")
    refuse(x.rank not in INSTANCE_NORM_KINDS, f"normalises {x.shape} per sample; LayerLoom's InstanceNorm "
           "takes (C, L), (C, H, W) or (C, D, H, W)")
    params = {"eps": _setting(arg(node, 7, "eps", 1e-5), "eps", float), "affine": False,
              "track_running_stats": False}
    return mp.add(node, "instance_norm", params, [x])


def _rms_dims(x: Value, shape) -> int:
    shape = (shape,) if isinstance(shape, int) else tuple(int(d) for d in shape)
    dims = len(shape)
    refuse(dims > x.rank or tuple(x.shape[x.rank - dims:]) != shape,
           f"normalized_shape {shape} is not the last dims of {x.shape}")
    return dims


def _rms_norm_module(mp, node, m: nn.RMSNorm):
    x = _only_input(mp, node)
    params = {"dims": _rms_dims(x, m.normalized_shape), "eps": None if m.eps is None else float(m.eps),
              "elementwise_affine": m.elementwise_affine}
    return _layer(mp, node, m, "rms_norm", params, [x])


def _rms_norm_function(mp, node):
    x = mp.tensor(_source(node))
    refuse(arg(node, 2, "weight") is not None,
           "passes its own weight tensor; LayerLoom's RMSNorm keeps its weights: use nn.RMSNorm")
    eps = arg(node, 3, "eps")
    params = {"dims": _rms_dims(x, arg(node, 1, "normalized_shape")),
              "eps": None if eps is None else _setting(eps, "eps", float), "elementwise_affine": False}
    return mp.add(node, "rms_norm", params, [x])


LRN = (("size", None, int), ("alpha", 1e-4, float), ("beta", 0.75, float), ("k", 1.0, float))


def _lrn_module(mp, node, m: nn.LocalResponseNorm):
    params = {name: _setting(getattr(m, name), name, kind) for name, _, kind in LRN}
    return mp.add(node, "local_response_norm", params, [_only_input(mp, node)])


def _lrn_function(mp, node):
    params = {name: _setting(arg(node, i + 1, name, default), name, kind)
              for i, (name, default, kind) in enumerate(LRN)}
    return mp.add(node, "local_response_norm", params, [mp.tensor(_source(node))])


# ------------------------------------------------------------------- dropout
def _dropout_by_rank(mp, node, x: Value, p: float, kind: str) -> Value:
    """A channel dropout of ``kind`` (1, 2 or 3) on ``x``, as the node that does
    what torch 2.13 does with that rank."""
    if kind == "2" and x.rank == 1:
        # torch 2.13 warns, then drops single values of (N, F): what Dropout does
        return mp.add(node, "dropout", {"p": p}, [x])
    if kind == "2" and x.rank == 4:
        # torch 2.13 warns, then drops whole channels of (N, C, D, H, W)
        return mp.add(node, "dropout3d", {"p": p}, [x])
    ranks = {"1": (2,), "2": (2, 3), "3": (4,)}[kind]
    refuse(x.rank not in ranks,
           f"receives {x.shape} per sample; Dropout{kind}d reads such an input without its batch dim "
           "and drops whole samples")
    return mp.add(node, f"dropout{kind}d", {"p": p}, [x])


def _dropout_module(kind: str):
    def rule(mp, node, m):
        return _dropout_by_rank(mp, node, _only_input(mp, node), float(m.p), kind)

    return rule


def _dropout_function(kind: str):
    def rule(mp, node):
        p = _setting(arg(node, 1, "p", 0.5), "p", float)
        return _dropout_by_rank(mp, node, mp.tensor(_source(node)), p, kind)

    return rule


def _alpha_dropout_module(mp, node, m: nn.AlphaDropout):
    return mp.add(node, "alpha_dropout", {"p": float(m.p)}, [_only_input(mp, node)])


def _alpha_dropout_function(mp, node):
    p = _setting(arg(node, 1, "p", 0.5), "p", float)
    return mp.add(node, "alpha_dropout", {"p": p}, [mp.tensor(_source(node))])


# ------------------------------------------------------------------- tables
MODULE_CLASSES = {
    "relu6": nn.ReLU6, "selu": nn.SELU, "celu": nn.CELU, "softplus": nn.Softplus,
    "softsign": nn.Softsign, "softshrink": nn.Softshrink, "hardshrink": nn.Hardshrink,
    "hardswish": nn.Hardswish, "hardsigmoid": nn.Hardsigmoid, "hardtanh": nn.Hardtanh,
    "mish": nn.Mish, "log_sigmoid": nn.LogSigmoid, "glu": nn.GLU, "threshold": nn.Threshold,
    "tanhshrink": nn.Tanhshrink,
}

MODULES = {
    **{cls: _module_activation(type_id) for type_id, cls in MODULE_CLASSES.items()},
    nn.PReLU: _prelu,
    nn.Softmax2d: _softmax2d,
    nn.BatchNorm3d: _batch_norm,
    nn.GroupNorm: _group_norm_module,
    nn.InstanceNorm1d: _instance_norm_module,
    nn.InstanceNorm2d: _instance_norm_module,
    nn.InstanceNorm3d: _instance_norm_module,
    nn.RMSNorm: _rms_norm_module,
    nn.LocalResponseNorm: _lrn_module,
    nn.Dropout1d: _dropout_module("1"),
    nn.Dropout2d: _dropout_module("2"),
    nn.Dropout3d: _dropout_module("3"),
    nn.AlphaDropout: _alpha_dropout_module,
}

FUNCTIONS = {
    F.relu6: _function_activation("relu6"),
    F.selu: _function_activation("selu"),
    torch.selu: _function_activation("selu"),
    F.celu: _function_activation("celu"),
    torch.celu: _function_activation("celu"),
    F.softplus: _function_activation("softplus"),
    F.softsign: _function_activation("softsign"),
    F.softshrink: _function_activation("softshrink"),
    F.hardshrink: _function_activation("hardshrink"),
    F.hardswish: _function_activation("hardswish"),
    F.hardsigmoid: _function_activation("hardsigmoid"),
    F.hardtanh: _function_activation("hardtanh"),
    F.mish: _function_activation("mish"),
    F.logsigmoid: _function_activation("log_sigmoid"),
    F.glu: _function_activation("glu"),
    F.threshold: _function_activation("threshold"),
    torch.threshold: _function_activation("threshold"),
    F.tanhshrink: _function_activation("tanhshrink"),
    F.group_norm: _group_norm_function,
    F.instance_norm: _instance_norm_function,
    F.rms_norm: _rms_norm_function,
    F.local_response_norm: _lrn_function,
    F.dropout1d: _dropout_function("1"),
    F.dropout2d: _dropout_function("2"),
    F.dropout3d: _dropout_function("3"),
    F.alpha_dropout: _alpha_dropout_function,
    torch.alpha_dropout: _alpha_dropout_function,
}

METHODS = {
    "hardshrink": _function_activation("hardshrink"),
}
