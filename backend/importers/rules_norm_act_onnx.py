"""ONNX import rules of the normalisation and activation layers added next to
BatchNorm, LayerNorm and ReLU (see :mod:`~layerloom.backend.importers.families`).

torch 2.13's exporter (``dynamo=True``) writes some of them as one operator
(``PRelu``, ``Selu``, ``Celu``, ``HardSwish``, ``HardSigmoid``, ``Mish``,
``Clip`` for Hardtanh and ReLU6, ``InstanceNormalization``,
``BatchNormalization`` on 5-d inputs) and decomposes the others into a few
operators each. :func:`fold` finds those decompositions
(:mod:`~layerloom.backend.importers.onnx_patterns`) and puts one ``LayerLoom*``
operator in their place, which a rule here maps to the layer; the values inside
a decomposition must not be used anywhere else. The channel dropouts and
AlphaDropout are left out of exported files (they do nothing at inference).
A GroupNorm or InstanceNorm whose scale is 1 and shift 0 everywhere imports
without ``affine``: exporters write those constants for a norm without it, and
the outputs are the same either way.
Opset 18+ ``GroupNormalization``, opset 23 ``RMSNormalization``, ``LRN``,
``Shrink`` and ``Softsign``, which other exporters write, are mapped too.
"""

from __future__ import annotations

import numpy as np

from layerloom.backend.importers.common import Unsupported, label_of, refuse
from layerloom.backend.importers.onnx_patterns import fold
from layerloom.backend.importers.onnx_rules import _activation, _float

FLOAT32_EPS = float(np.finfo(np.float32).eps)
SELU = {"alpha": 1.6732632423543772, "gamma": 1.0507009873554805}


def _scalar(mp, name: str, what: str) -> float:
    value = mp.const(name, what)
    refuse(np.size(value) != 1, f"{what} is not a single number but of shape {np.shape(value)}")
    return float(np.asarray(value).reshape(-1)[0])


def _channel_vector(mp, name: str, what: str, x, broadcast: bool = True) -> np.ndarray:
    """A per-channel constant: one value per channel of ``x`` (C values), or with
    ``broadcast`` a constant broadcast against the batched ``x`` along its channels:
    shape (C, 1, ...), (1, C, 1, ...) or a single value."""
    value = np.asarray(mp.const(name, what))
    channels = x.shape[0]
    if broadcast:
        full = x.rank + 1
        shape = (1,) * (full - value.ndim) + tuple(value.shape)
        ok = len(shape) == full and all(d == 1 for i, d in enumerate(shape) if i != 1) and shape[1] in (1, channels)
    else:
        ok = value.ndim == 1 and value.size == channels
    refuse(not ok, f"{what} of shape {value.shape} is not one value per channel of {x.shape}")
    return np.broadcast_to(value.reshape(-1), (channels,)).astype(np.float32)


def _plain(weight: np.ndarray, bias: np.ndarray) -> bool:
    """Scale 1 and shift 0 everywhere: how an exporter writes a norm without ``affine``."""
    return bool(np.all(weight == 1) and np.all(bias == 0))


# ---------------------------------------------------------------- activations
def prelu(mp, op):
    x = mp.tensor(op.inputs[0])
    slope = _channel_vector(mp, op.inputs[1], "the slope", x)
    n = 1 if np.size(mp.const(op.inputs[1])) == 1 else x.shape[0]
    return mp.add(op, "prelu", {"num_parameters": n}, [x], weights={"weight": slope[:n].copy()},
                  sources={"weight": op.inputs[1]}, label=label_of(op.inputs[1]))


def clip(mp, op):
    """Clip with both bounds: Hardtanh (ReLU6 for 0 and 6); with 0 alone: ReLU."""
    lo = _bound(mp, op, 1, "min")
    hi = _bound(mp, op, 2, "max")
    if lo == 0 and hi == 6:
        return _activation("relu6")(mp, op)
    if lo == 0 and hi is None:
        return _activation("relu")(mp, op)
    refuse(lo is None or hi is None,
           "clips with one bound only; LayerLoom's Hardtanh clips to a range between two")
    refuse(hi <= lo, f"clips to an empty range [{lo}, {hi}]")
    return _activation("hardtanh", lambda mp, op, x: {"min_val": _float(lo), "max_val": _float(hi)})(mp, op)


def _bound(mp, op, index: int, attr: str) -> float | None:
    if len(op.inputs) > index and op.inputs[index]:
        return _scalar(mp, op.inputs[index], f"the {attr} bound")
    value = op.attrs.get(attr)
    if value is None or abs(float(value)) >= 3.0e38:  # opset 6 writes float limits for no bound
        return None
    return float(value)


def selu(mp, op):
    for name, value in SELU.items():
        refuse(not np.isclose(float(op.attrs.get(name, value)), value),
               f"{name}={op.attrs.get(name)}; LayerLoom's SELU has PyTorch's fixed constants")
    return _activation("selu")(mp, op)


def shrink(mp, op):
    lambd = _float(op.attrs.get("lambd", 0.5))
    bias = _float(op.attrs.get("bias", 0.0))
    if bias == 0:
        return _activation("hardshrink", lambda mp, op, x: {"lambd": lambd})(mp, op)
    refuse(bias != lambd, f"bias {bias} differs from lambd {lambd} (neither Softshrink nor Hardshrink)")
    return _activation("softshrink", lambda mp, op, x: {"lambd": lambd})(mp, op)


def hard_sigmoid(mp, op):
    alpha, beta = float(op.attrs.get("alpha", 0.2)), float(op.attrs.get("beta", 0.5))
    refuse(not (np.isclose(alpha, 1 / 6) and np.isclose(beta, 0.5)),
           f"alpha={alpha:.7g}, beta={beta:.7g}; LayerLoom's Hardsigmoid is relu6(x + 3) / 6")
    return _activation("hardsigmoid")(mp, op)


def softplus_folded(mp, op):
    threshold = _scalar(mp, op.inputs[1], "the threshold")
    beta = _scalar(mp, op.inputs[2], "beta") if op.inputs[2] else 1.0
    refuse(beta <= 0, f"beta={beta}")
    return _activation("softplus", lambda mp, op, x: {"beta": _float(beta), "threshold": _float(threshold)})(mp, op)


def softsign_folded(mp, op):
    refuse(_scalar(mp, op.inputs[1], "the added constant") != 1, "adds another number than 1 to |x|")
    return _activation("softsign")(mp, op)


def softshrink_folded(mp, op):
    lambd, again = (_scalar(mp, n, "lambd") for n in op.inputs[1:3])
    refuse(lambd != again or _scalar(mp, op.inputs[3], "the zero") != 0, "is not a soft shrinkage")
    return _activation("softshrink", lambda mp, op, x: {"lambd": _float(lambd)})(mp, op)


def hardshrink_folded(mp, op):
    lambd = _scalar(mp, op.inputs[1], "lambd")
    refuse(_scalar(mp, op.inputs[2], "the zero") != 0, "sets small values to another number than 0")
    return _activation("hardshrink", lambda mp, op, x: {"lambd": _float(lambd)})(mp, op)


def threshold_folded(mp, op):
    values = {"threshold": _float(_scalar(mp, op.inputs[1], "the threshold")),
              "value": _float(_scalar(mp, op.inputs[2], "the value"))}
    return _activation("threshold", lambda mp, op, x: values)(mp, op)


def glu_folded(mp, op):
    x = mp.tensor(op.inputs[0])
    axis = int(op.attrs.get("axis", 0))
    full = x.rank + 1
    refuse(axis % full == 0, "splits the batch dim")
    shape = list(x.shape)
    shape[axis % full - 1] //= 2
    refuse(tuple(shape) != mp.shape(op.outputs[0]), "splits into unequal halves")
    return mp.add(op, "glu", {"dim": axis}, [x])


# ------------------------------------------------------------- normalisation
def instance_norm(mp, op):
    x = mp.tensor(op.inputs[0])
    refuse(x.rank not in (2, 3, 4), f"normalises {x.shape} per sample; LayerLoom's InstanceNorm takes "
           "(C, L), (C, H, W) or (C, D, H, W)")
    weight = _channel_vector(mp, op.inputs[1], "the scale", x, False)
    bias = _channel_vector(mp, op.inputs[2], "the bias", x, False)
    affine = not _plain(weight, bias)
    params = {"eps": _float(op.attrs.get("epsilon", 1e-5)), "affine": affine, "track_running_stats": False}
    weights = {"weight": weight, "bias": bias} if affine else None
    sources = {"weight": op.inputs[1], "bias": op.inputs[2]}
    return mp.add(op, "instance_norm", params, [x], weights=weights, sources=sources,
                  label=label_of(op.inputs[1]) if affine else "")


def instance_norm_stats_folded(mp, op):
    """InstanceNorm with running statistics, at inference: a BatchNormalization of
    the batch folded into the channels, with each statistic tiled per sample."""
    x = mp.tensor(op.inputs[0])
    refuse(x.rank not in (2, 3, 4), f"normalises {x.shape} per sample")
    weight, bias, mean, var = (_channel_vector(mp, n, what, x, False) for n, what in
                               zip(op.inputs[1:5], ("the scale", "the bias", "the mean", "the variance"), strict=True))
    affine = not _plain(weight, bias)
    momentum = _float(1.0 - float(op.attrs.get("momentum", 0.9)))
    params = {"eps": _float(op.attrs.get("epsilon", 1e-5)), "momentum": min(max(momentum, 0.0), 1.0),
              "affine": affine, "track_running_stats": True}
    weights = {"running_mean": mean, "running_var": var, "num_batches_tracked": np.array(0, dtype=np.int64)}
    sources = dict(zip(("weight", "bias", "running_mean", "running_var"), op.inputs[1:5], strict=True))
    if affine:
        weights.update(weight=weight, bias=bias)
    return mp.add(op, "instance_norm", params, [x], weights=weights, sources=sources,
                  label=label_of(op.inputs[3]))


def _group_norm(mp, op, x, groups: int, weight, bias, eps: float):
    refuse(groups < 1 or x.shape[0] % groups, f"{groups} groups do not divide the channels of {x.shape}")
    affine = not _plain(weight, bias)
    params = {"num_groups": groups, "eps": _float(eps), "affine": affine}
    return mp.add(op, "group_norm", params, [x], weights={"weight": weight, "bias": bias} if affine else None)


def group_norm_folded(mp, op):
    """Reshape to (N, G, -1), InstanceNormalization, reshape back, scale and shift."""
    x = mp.tensor(op.inputs[0])
    scale, shift = (np.asarray(mp.const(n, "the group statistics")) for n in op.inputs[1:3])
    refuse(not _plain(scale, shift), "scales the groups before the channels")
    refuse(mp.shape(op.outputs[0]) != x.shape, "does not give its input's shape")
    weight = _channel_vector(mp, op.inputs[3], "the scale", x)
    bias = _channel_vector(mp, op.inputs[4], "the shift", x)
    return _group_norm(mp, op, x, scale.size, weight, bias, float(op.attrs.get("epsilon", 1e-5)))


def group_normalization(mp, op):
    """Opset 18 scales each group, opset 21 each channel."""
    x = mp.tensor(op.inputs[0])
    groups = int(op.attrs["num_groups"])
    channels = x.shape[0] if x.shape else 0
    refuse(groups < 1 or channels % groups, f"{groups} groups do not divide the channels of {x.shape}")
    scale, bias = (np.asarray(mp.const(n, "the scale")).reshape(-1) for n in op.inputs[1:3])
    if scale.size == groups and groups != channels:
        scale, bias = (np.repeat(v, channels // groups) for v in (scale, bias))
    refuse(scale.size != channels, f"a scale of {scale.size} values for {channels} channels")
    return _group_norm(mp, op, x, groups, scale.astype(np.float32), bias.astype(np.float32),
                       float(op.attrs.get("epsilon", 1e-5)))


def _rms_params(mp, x, dims: int, eps: float, weight_name: str) -> tuple[dict, dict | None]:
    eps = None if np.isclose(eps, FLOAT32_EPS, rtol=1e-6, atol=0) else _float(eps)
    params = {"dims": dims, "eps": eps, "elementwise_affine": bool(weight_name)}
    if not weight_name:
        return params, None
    shape = x.shape[x.rank - dims:]
    weight = np.asarray(mp.const(weight_name, "the scale"))
    try:
        weight = np.broadcast_to(weight.reshape(weight.shape[max(0, weight.ndim - dims):]), shape)
    except ValueError:
        raise Unsupported(f"a scale of shape {weight.shape} for the normalised dims {shape}") from None
    return params, {"weight": weight.astype(np.float32)}


def rms_norm_folded(mp, op):
    """x · 1 / sqrt(mean(x², last dims) + eps), times a scale when there is one."""
    x = mp.tensor(op.inputs[0])
    refuse(_scalar(mp, op.inputs[1], "the power") != 2, "raises to another power than 2")
    axes = op.attrs.get("axes")
    if op.inputs[2]:
        axes = np.asarray(mp.const(op.inputs[2], "the axes")).reshape(-1).tolist()
    refuse(not axes, "averages every value")
    full = x.rank + 1
    axes = sorted(int(a) % full for a in axes)
    dims = len(axes)
    refuse(axes != list(range(full - dims, full)) or 0 in axes,
           f"averages over the axes {axes}, not the last dims of {x.shape}")
    params, weights = _rms_params(mp, x, dims, _scalar(mp, op.inputs[3], "eps"), op.inputs[4])
    return mp.add(op, "rms_norm", params, [x], weights=weights)


def rms_normalization(mp, op):
    x = mp.tensor(op.inputs[0])
    axis = int(op.attrs.get("axis", -1)) % (x.rank + 1)
    refuse(axis == 0, "normalises over the batch")
    params, weights = _rms_params(mp, x, x.rank + 1 - axis, float(op.attrs.get("epsilon", 1e-5)), op.inputs[1])
    return mp.add(op, "rms_norm", params, [x], weights=weights)


def _lrn(mp, op, size: int, alpha: float, beta: float, k: float):
    x = mp.tensor(op.inputs[0])
    params = {"size": size, "alpha": _float(alpha), "beta": _float(beta), "k": _float(k)}
    return mp.add(op, "local_response_norm", params, [x])


def lrn_folded(mp, op):
    alpha, k, beta = (_scalar(mp, n, what) for n, what in zip(op.inputs[1:4], ("alpha", "k", "beta"), strict=True))
    return _lrn(mp, op, int(op.attrs["size"]), alpha, beta, k)


def lrn(mp, op):
    # odd sizes only (onnxruntime refuses even ones), where ONNX's window is PyTorch's
    a = op.attrs
    return _lrn(mp, op, int(a["size"]), float(a.get("alpha", 1e-4)), float(a.get("beta", 0.75)),
                float(a.get("bias", 1.0)))


ONNX = {
    "PRelu": prelu,
    "Clip": clip,
    "Selu": selu,
    "Celu": _activation("celu", lambda mp, op, x: {"alpha": _float(op.attrs.get("alpha", 1.0))}),
    "Softplus": _activation("softplus"),
    "Softsign": _activation("softsign"),
    "Shrink": shrink,
    "HardSwish": _activation("hardswish"),
    "HardSigmoid": hard_sigmoid,
    "Mish": _activation("mish"),
    "InstanceNormalization": instance_norm,
    "GroupNormalization": group_normalization,
    "RMSNormalization": rms_normalization,
    "LRN": lrn,
    "LayerLoomSoftplus": softplus_folded,
    "LayerLoomSoftsign": softsign_folded,
    "LayerLoomSoftshrink": softshrink_folded,
    "LayerLoomHardshrink": hardshrink_folded,
    "LayerLoomThreshold": threshold_folded,
    "LayerLoomLogSigmoid": _activation("log_sigmoid"),
    "LayerLoomTanhshrink": _activation("tanhshrink"),
    "LayerLoomGLU": glu_folded,
    "LayerLoomGroupNorm": group_norm_folded,
    "LayerLoomInstanceNormStats": instance_norm_stats_folded,
    "LayerLoomRMSNorm": rms_norm_folded,
    "LayerLoomLRN": lrn_folded,
}

ONNX_REWRITES = (fold,)
