"""How the layer classes of a traced PyTorch model become LayerLoom nodes.

:data:`MODULE_RULES` maps a ``torch.nn`` class (or one of LayerLoom's own
modules, so that a compiled graph imports back as itself) to a rule
``(mapper, fx node, module) -> result``; the tracer keeps these classes as leaves.
Rules apply to the listed classes and to subclasses that keep their ``forward``:
a subclass with its own ``forward`` is traced through instead. The parameters a
rule reads are the module's own attributes, and its weights are the module's
state_dict, whose names LayerLoom's lowerings keep.
"""

from __future__ import annotations

from torch import nn

from layerloom.backend.export.source_bundle import is_own_module
from layerloom.backend.importers.bundled import twin_of
from layerloom.backend.importers.common import Recurrent, RecurrentPart, Unsupported, Value, refuse
from layerloom.backend.importers.torch_rules import (
    Items,
    activation,
    arg,
    as_tuple,
    pool_params,
    reshape,
)
from layerloom.backend.lowerings import attention as ll_attention
from layerloom.backend.lowerings import recurrent as ll_recurrent


def _only_input(mp, node) -> Value:
    """The single tensor a layer is called with; other arguments are refused."""
    if len(node.args) != 1 or node.kwargs:
        raise Unsupported("is called with more than one argument; LayerLoom's layer takes one tensor")
    return mp.tensor(node.args[0])


def _module_weights(mp, node, module: nn.Module):
    """The module's state_dict and the source names of its tensors."""
    state = {k: v for k, v in module.state_dict().items()}
    return state, {k: f"{node.target}.{k}" for k in state}


def _layer(mp, node, module, type_id: str, params: dict, inputs=None, item: int | None = None) -> Value:
    weights, sources = _module_weights(mp, node, module)
    inputs = [_only_input(mp, node)] if inputs is None else inputs
    return mp.add(node, type_id, params, inputs, item=item, weights=weights, sources=sources, label=node.target)


# ---------------------------------------------------------------- modules
def _linear(mp, node, m: nn.Linear):
    return _layer(mp, node, m, "dense", {"units": m.out_features, "bias": m.bias is not None})


def _conv(nd: int):
    def rule(mp, node, m):
        refuse(m.padding_mode != "zeros", f"padding_mode={m.padding_mode!r}; LayerLoom pads with zeros")
        padding = m.padding if isinstance(m.padding, str) else as_tuple(m.padding, nd)
        params = {
            "channels": m.out_channels, "kernel_size": as_tuple(m.kernel_size, nd),
            "stride": as_tuple(m.stride, nd), "padding": padding, "dilation": as_tuple(m.dilation, nd),
            "groups": m.groups, "bias": m.bias is not None,
        }
        return _layer(mp, node, m, f"conv{nd}d", params)

    return rule


def _max_pool(nd: int):
    def rule(mp, node, m):
        refuse(m.return_indices, "return_indices=True; LayerLoom's pooling returns the values only")
        params = pool_params(nd, "max", m.kernel_size, m.stride, m.padding, m.ceil_mode, m.dilation)
        return mp.add(node, f"max_pool{nd}d", params, [_only_input(mp, node)])

    return rule


def _avg_pool(nd: int):
    def rule(mp, node, m):
        refuse(getattr(m, "divisor_override", None) is not None, "divisor_override is set")
        params = pool_params(nd, "avg", m.kernel_size, m.stride, m.padding, m.ceil_mode,
                              count_include_pad=m.count_include_pad)
        return mp.add(node, f"avg_pool{nd}d", params, [_only_input(mp, node)])

    return rule


def _batch_norm(mp, node, m: nn.modules.batchnorm._BatchNorm):
    refuse(m.momentum is None, "momentum=None (a cumulative average); LayerLoom's BatchNorm needs a momentum")
    params = {"eps": m.eps, "momentum": m.momentum, "affine": m.affine,
              "track_running_stats": m.track_running_stats}
    return _layer(mp, node, m, "batch_norm", params)


def _layer_norm(mp, node, m: nn.LayerNorm):
    x = _only_input(mp, node)
    dims = len(m.normalized_shape)
    refuse(tuple(x.shape[x.rank - dims:]) != tuple(m.normalized_shape),
            f"normalized_shape {tuple(m.normalized_shape)} is not the last dims of {x.shape}")
    params = {"dims": dims, "eps": m.eps, "elementwise_affine": m.elementwise_affine,
              "bias": getattr(m, "bias", None) is not None or not m.elementwise_affine}
    return _layer(mp, node, m, "layer_norm", params, [x])


def _dropout(mp, node, m: nn.Dropout):
    return mp.add(node, "dropout", {"p": float(m.p)}, [_only_input(mp, node)])


def _identity(mp, node, m):
    return mp.lazy(node.args[0])


def _reshaping_module(mp, node, m):
    return reshape(mp, node)


def _module_activation(type_id: str, params=lambda m: {}):
    def rule(mp, node, m):
        return activation(mp, node, node.args[0] if len(node.args) == 1 and not node.kwargs else None,
                          type_id, params(m))

    return rule


def _softmax_dim(m):
    refuse(m.dim is None, "no dim (an implicit, deprecated choice); give dim=")
    return {"dim": m.dim}


def _torch_recurrent(kind: str):
    def rule(mp, node, m):
        refuse(not m.batch_first,
                "batch_first=False; LayerLoom's sequences are batch first (N, T, F): set batch_first=True")
        refuse(getattr(m, "proj_size", 0) > 0, "proj_size is set")
        x = _only_input(mp, node)
        refuse(x.rank != 2, f"receives {x.shape} per sample; LayerLoom's recurrent layers read (T, F)")
        rec = mp.recurrent(node, kind, m, x)
        return RecurrentPart(rec, "call")

    return rule


def _recurrent_params(kind: str, m, return_sequences: bool) -> dict:
    params = {
        "hidden_size": m.hidden_size, "num_layers": m.num_layers, "bidirectional": m.bidirectional,
        "dropout": float(m.dropout), "bias": m.bias, "return_sequences": return_sequences,
    }
    if kind == "rnn":
        params["nonlinearity"] = m.nonlinearity
    return params


def _layerloom_recurrent(kind: str):
    def rule(mp, node, m):
        return _layer(mp, node, m, kind, _recurrent_params(kind, m, m.return_sequences))

    return rule


def _attention_inputs(mp, node):
    names = ("query", "key", "value")
    q, k, v = (arg(node, i, name) for i, name in enumerate(names))
    extra = {key: val for key, val in node.kwargs.items() if key not in names}
    for key in ("key_padding_mask", "attn_mask"):
        refuse(extra.pop(key, None) is not None, f"is given {key}; LayerLoom's attention takes no mask")
    refuse(bool(extra.pop("is_causal", False)), "is_causal=True with a mask")
    extra.pop("need_weights", None)
    extra.pop("average_attn_weights", None)
    refuse(len(node.args) > 3 or bool(extra), "is called with arguments besides query, key and value")
    if q is k and k is v:
        return "self", [mp.tensor(q)]
    refuse(k is not v, "gives different key and value tensors; LayerLoom's cross-attention uses one")
    return "cross", [mp.tensor(q), mp.tensor(k)]


def _multihead_attention(mp, node, m: nn.MultiheadAttention):
    refuse(not m.batch_first, "batch_first=False; set batch_first=True")
    refuse(m.bias_k is not None or m.add_zero_attn, "add_bias_kv or add_zero_attn is set")
    refuse(m.kdim != m.vdim, f"kdim {m.kdim} differs from vdim {m.vdim}")
    mode, inputs = _attention_inputs(mp, node)
    params = {"mode": mode, "num_heads": m.num_heads, "dropout": float(m.dropout),
              "bias": m.in_proj_bias is not None, "causal": False}
    return Items((_layer(mp, node, m, "multi_head_attention", params, inputs, item=0), None))


def _layerloom_attention(mode: str):
    def rule(mp, node, m):
        inputs = [mp.tensor(a) for a in node.args]
        refuse(bool(node.kwargs) or len(inputs) != (1 if mode == "self" else 2), "is called with other arguments")
        params = {"mode": mode, "num_heads": m.num_heads, "dropout": float(m.dropout),
                  "bias": m.in_proj_bias is not None, "causal": bool(m.causal)}
        return _layer(mp, node, m, "multi_head_attention", params, inputs)

    return rule


def _encoder_params(m, causal: bool) -> dict:
    kind = getattr(m, "activation_relu_or_gelu", 0)
    refuse(kind not in (1, 2), "a custom activation; LayerLoom's encoder layer uses relu or gelu")
    refuse(not m.self_attn.batch_first, "batch_first=False; set batch_first=True")
    return {
        "nhead": m.self_attn.num_heads, "dim_feedforward": m.linear1.out_features,
        "dropout": float(m.dropout.p), "activation": "relu" if kind == 1 else "gelu",
        "norm_first": m.norm_first, "causal": causal, "layer_norm_eps": m.norm1.eps,
        "bias": m.linear1.bias is not None,
    }


def _encoder_layer(mp, node, m: nn.TransformerEncoderLayer):
    extra = dict(node.kwargs)
    for key in ("src_mask", "src_key_padding_mask"):
        refuse(extra.pop(key, None) is not None, f"is given {key}; LayerLoom's encoder layer takes no mask")
    refuse(bool(extra.pop("is_causal", False)) or len(node.args) != 1 or bool(extra),
            "is called with arguments besides the sequence")
    return _layer(mp, node, m, "transformer_encoder_layer", _encoder_params(m, False), [mp.tensor(node.args[0])])


def _layerloom_encoder(mp, node, m):
    return _layer(mp, node, m, "transformer_encoder_layer", _encoder_params(m, bool(m.causal)))


def _positional_encoding(mp, node, m):
    learned = isinstance(m.pe, nn.Parameter)
    params = {"kind": "learned" if learned else "sinusoidal", "max_len": m.pe.shape[0], "dropout": float(m.dropout.p)}
    return _layer(mp, node, m, "positional_encoding", params)


MODULE_RULES = {
    nn.Linear: _linear,
    nn.Conv1d: _conv(1),
    nn.Conv2d: _conv(2),
    nn.MaxPool1d: _max_pool(1),
    nn.MaxPool2d: _max_pool(2),
    nn.AvgPool1d: _avg_pool(1),
    nn.AvgPool2d: _avg_pool(2),
    nn.BatchNorm1d: _batch_norm,
    nn.BatchNorm2d: _batch_norm,
    nn.LayerNorm: _layer_norm,
    nn.Dropout: _dropout,
    nn.Identity: _identity,
    nn.Flatten: _reshaping_module,
    nn.Unflatten: _reshaping_module,
    nn.ReLU: _module_activation("relu"),
    nn.LeakyReLU: _module_activation("leaky_relu", lambda m: {"negative_slope": m.negative_slope}),
    nn.ELU: _module_activation("elu", lambda m: {"alpha": m.alpha}),
    nn.GELU: _module_activation("gelu", lambda m: {"approximate": m.approximate}),
    nn.SiLU: _module_activation("silu"),
    nn.Sigmoid: _module_activation("sigmoid"),
    nn.Tanh: _module_activation("tanh"),
    nn.Softmax: _module_activation("softmax", _softmax_dim),
    nn.LogSoftmax: _module_activation("log_softmax", _softmax_dim),
    nn.RNN: _torch_recurrent("rnn"),
    nn.LSTM: _torch_recurrent("lstm"),
    nn.GRU: _torch_recurrent("gru"),
    nn.MultiheadAttention: _multihead_attention,
    nn.TransformerEncoderLayer: _encoder_layer,
    # LayerLoom's own modules: a compiled graph imports back as itself.
    ll_recurrent.RNN: _layerloom_recurrent("rnn"),
    ll_recurrent.LSTM: _layerloom_recurrent("lstm"),
    ll_recurrent.GRU: _layerloom_recurrent("gru"),
    ll_attention.SelfAttention: _layerloom_attention("self"),
    ll_attention.CrossAttention: _layerloom_attention("cross"),
    ll_attention.EncoderLayer: _layerloom_encoder,
    ll_attention.PositionalEncoding: _positional_encoding,
}


def module_rule(module: nn.Module):
    """The rule for ``module``: its class's, or a base class's when the subclass
    keeps that class's ``forward``; ``None`` when there is none. An unchanged copy
    of one of LayerLoom's own classes (as the Python export writes them) has the
    rule of the class it copies."""
    twin = twin_of(type(module), (cls for cls in MODULE_RULES if is_own_module(cls.__module__)))
    if twin is not None:
        return MODULE_RULES[twin]
    for cls in type(module).__mro__:
        rule = MODULE_RULES.get(cls)
        if rule is not None:
            return rule if type(module).forward is cls.forward else None
    return None


def make_recurrent(mp, node, kind: str, m, x: Value, mode: str) -> Recurrent:
    """Add the LayerLoom node of a torch recurrent module called on ``x``."""
    steps = x.shape[0]
    rec = Recurrent(
        key=node.target, node="", hidden=m.hidden_size, dirs=2 if m.bidirectional else 1,
        layers=m.num_layers, steps=steps, mode=mode, where=kind.upper(),
    )
    width = rec.hidden * rec.dirs
    shape = (steps, width) if mode == "seq" else (width,)
    weights, sources = _module_weights(mp, node, m)
    value = mp.builder.add(kind, _recurrent_params(kind, m, mode == "seq"), [x], shape,
                           label=node.target, weights=weights, sources=sources)
    rec.node = value.node
    return rec
