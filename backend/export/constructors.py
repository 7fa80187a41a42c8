"""How to write a module's constructor call: ``nn.Conv2d(1, 6, kernel_size=(5, 5))``.

A module does not remember the arguments it was built with, so they are read back
from what it keeps. Most torch modules store each argument under its own name
(``in_channels``, ``stride``): the constructor's signature says which to read, and
an argument equal to its default is left out. A ``bias`` argument becomes whether
the module has a bias tensor. Modules that keep their arguments in another form
(attention layers, the positional encoding) have a rule here. The exported file is
run against the model before it is kept, so a wrong reading cannot go unnoticed.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from layerloom.backend.export.common import ExportError
from layerloom.backend.lowerings import attention, transformer

SKIPPED = ("device", "dtype")  # placement is the user's choice, not the model's
MAX_POSITIONAL = 2  # in_channels, out_channels: further arguments are named

Arguments = dict[str, Any]


def _activation_name(function: Callable) -> str:
    for name, known in (("relu", F.relu), ("gelu", F.gelu)):
        if function is known:
            return name
    raise ExportError(f"unknown transformer activation {function!r}")


def _mha(m: nn.MultiheadAttention) -> Arguments:
    return {
        "embed_dim": m.embed_dim, "num_heads": m.num_heads, "dropout": m.dropout,
        "bias": m.in_proj_bias is not None, "add_bias_kv": m.bias_k is not None,
        "add_zero_attn": m.add_zero_attn, "kdim": m.kdim, "vdim": m.vdim,
        "batch_first": m.batch_first,
    }


def _self_attention(m: attention.SelfAttention) -> Arguments:
    return {"embed_dim": m.embed_dim, "num_heads": m.num_heads, "dropout": m.dropout,
            "bias": m.in_proj_bias is not None, "causal": m.causal, "need_weights": m.need_weights,
            "average_attn_weights": m.average_attn_weights}


def _cross_attention(m: attention.CrossAttention) -> Arguments:
    return {"embed_dim": m.embed_dim, "kv_dim": m.kdim, "num_heads": m.num_heads,
            "dropout": m.dropout, "bias": m.in_proj_bias is not None, "causal": m.causal,
            "need_weights": m.need_weights, "average_attn_weights": m.average_attn_weights}


def _encoder_layer(m: nn.TransformerEncoderLayer) -> Arguments:
    values = {
        "d_model": m.self_attn.embed_dim, "nhead": m.self_attn.num_heads,
        "dim_feedforward": m.linear1.out_features, "dropout": m.dropout.p,
        "activation": _activation_name(m.activation), "layer_norm_eps": m.norm1.eps,
        "norm_first": m.norm_first, "bias": m.linear1.bias is not None,
    }
    if values["activation"] == "relu":  # the default (given as a function, F.relu)
        del values["activation"]
    if isinstance(m, attention.EncoderLayer):
        values["causal"] = m.causal
    else:
        values["batch_first"] = m.self_attn.batch_first
    return values


def _decoder_layer(m) -> Arguments:
    values = {
        "d_model": m.self_attn.embed_dim, "nhead": m.self_attn.num_heads,
        "dim_feedforward": m.linear1.out_features, "dropout": m.dropout.p,
        "activation": _activation_name(m.activation), "layer_norm_eps": m.norm1.eps,
        "norm_first": m.norm_first, "bias": m.linear1.bias is not None, "causal": m.causal,
    }
    if values["activation"] == "relu":
        del values["activation"]
    return values


def _transformer(m) -> Arguments:
    layer = m.encoder.layers[0]
    return {
        "d_model": m.d_model, "nhead": m.nhead, "num_encoder_layers": len(m.encoder.layers),
        "num_decoder_layers": len(m.decoder.layers), "dim_feedforward": layer.linear1.out_features,
        "dropout": layer.dropout.p, "activation": _activation_name(layer.activation),
        "layer_norm_eps": layer.norm1.eps, "norm_first": layer.norm_first,
        "bias": layer.linear1.bias is not None, "causal": m.causal,
    }


def _positional_encoding(m: attention.PositionalEncoding) -> Arguments:
    return {"d_model": m.pe.shape[1], "max_len": m.pe.shape[0], "dropout": m.dropout.p,
            "learned": isinstance(m.pe, nn.Parameter)}


def _hardtanh(m: nn.Hardtanh) -> Arguments:
    # min_value and max_value are deprecated spellings of min_val and max_val
    return {"min_val": m.min_val, "max_val": m.max_val, "inplace": m.inplace}


# Exact class -> rule reading its constructor arguments.
RULES: dict[type, Callable[[Any], Arguments]] = {
    nn.Hardtanh: _hardtanh,
    nn.MultiheadAttention: _mha,
    nn.TransformerEncoderLayer: _encoder_layer,
    attention.SelfAttention: _self_attention,
    attention.CrossAttention: _cross_attention,
    attention.EncoderLayer: _encoder_layer,
    attention.PositionalEncoding: _positional_encoding,
    transformer.DecoderLayer: _decoder_layer,
    transformer.Transformer: _transformer,
}


def constructor_call(module: nn.Module, class_name: str) -> str:
    """The Python expression that builds a module like ``module`` (same class, same
    settings; its weights come from the weights file)."""
    cls = type(module)
    if cls in RULES:
        values = RULES[cls](module)
    elif issubclass(cls, nn.RNNBase) and cls.__module__.startswith("torch."):
        return f"{class_name}({module.extra_repr()})"  # torch's RNNs take *args
    else:
        values = _from_signature(module)
    return f"{class_name}({_arguments(cls, values)})"


def _signature(cls: type) -> list[inspect.Parameter]:
    params = list(inspect.signature(cls.__init__).parameters.values())[1:]
    return [p for p in params if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]


def _from_signature(module: nn.Module) -> Arguments:
    cls = type(module)
    params = list(inspect.signature(cls.__init__).parameters.values())[1:]
    if any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in params):
        if _plain_default(module):
            return {}  # nn.Sigmoid() on torch 2.13: __init__(*args, **kwargs), nothing to set
        raise ExportError(
            f"cannot read the settings of {cls.__name__} back: its constructor takes *args "
            "or **kwargs"
        )
    values = {}
    for p in params:
        if p.name in SKIPPED or (p.name.startswith("_") and p.default is not p.empty):
            continue
        if not hasattr(module, p.name):
            raise ExportError(
                f"cannot read the setting {p.name!r} of {cls.__name__} back: the module does "
                "not keep it under that name"
            )
        value = getattr(module, p.name)
        if isinstance(value, torch.Tensor) or (value is None and isinstance(p.default, bool)):
            value = value is not None  # bias=True means "has a bias tensor"
        if not _plain(value):
            raise ExportError(f"the setting {p.name!r} of {cls.__name__} is {value!r}; it cannot be written out")
        values[p.name] = value
    return values


def _plain_default(module: nn.Module) -> bool:
    """Whether ``type(module)()`` builds the same module: it keeps no tensors of
    its own and shows the same settings as a default one."""
    cls = type(module)
    if any(True for _ in module.parameters(recurse=False)) or any(True for _ in module.buffers(recurse=False)):
        return False
    try:
        fresh = cls()
    except Exception:
        return False
    return not list(module.children()) and fresh.extra_repr() == module.extra_repr() and all(
        _plain(v) and getattr(fresh, k, None) == v
        for k, v in vars(module).items() if not k.startswith("_") and k != "training"
    )


def _default(cls: type, name: str) -> Any:
    """The default of constructor argument ``name``, looked up along the class's
    bases (a subclass passing ``**kwargs`` on takes its base's defaults)."""
    for klass in cls.__mro__:
        if klass is object or "__init__" not in vars(klass):
            continue
        try:
            param = inspect.signature(klass.__init__).parameters.get(name)
        except (TypeError, ValueError):
            continue
        if param is not None and param.kind not in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            return param.default
    return inspect.Parameter.empty


def _same(value: Any, default: Any) -> bool:
    if default is inspect.Parameter.empty:
        return False
    if isinstance(value, tuple) and not isinstance(default, tuple):
        return all(_same(v, default) for v in value)
    return type(value) is type(default) and value == default or (
        isinstance(value, float) and isinstance(default, int) and value == default
    )


def _arguments(cls: type, values: Arguments) -> str:
    """``1, 6, kernel_size=(5, 5)``: the first required arguments by position, the
    others by name, and arguments equal to their default left out."""
    order = [p.name for p in _signature(cls)]
    names = [n for n in order if n in values] + [n for n in values if n not in order]
    parts = []
    positional = True
    for name in names:
        default = _default(cls, name)
        value = values[name]
        if default is not inspect.Parameter.empty and _same(value, default):
            positional = False
            continue
        if positional and default is inspect.Parameter.empty and len(parts) < MAX_POSITIONAL:
            parts.append(literal(value))
        else:
            positional = False
            parts.append(f"{name}={literal(value)}")
    return ", ".join(parts)


def _plain(value: Any) -> bool:
    if isinstance(value, (bool, int, float, str, type(None))):
        return True
    return isinstance(value, (tuple, list)) and all(_plain(v) for v in value)


def literal(value: Any) -> str:
    """Python text for a plain value (numbers, text, tuples, dtypes)."""
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return f'float("{value}")'
        return repr(value)
    if isinstance(value, (bool, int, str, type(None))):
        return repr(value)
    if isinstance(value, tuple):
        inner = ", ".join(literal(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, list):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    if isinstance(value, torch.dtype):
        return str(value)  # torch.float32
    if isinstance(value, torch.device):
        return f"torch.device({str(value)!r})"
    if isinstance(value, torch.memory_format | torch.layout):
        return str(value)
    raise ExportError(f"the value {value!r} cannot be written into Python source")
