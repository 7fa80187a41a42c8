"""Importer rules of the Recurrent and Attention families.

ONNX: torch's exporter decomposes attention layers and plain RNNs into matrix
products and unrolled steps; :mod:`~layerloom.backend.importers.onnx_modules`
folds each call back into one operator, and the fitters below say which
LayerLoom layer settings to try for each module class.
"""

from __future__ import annotations

import math
import operator

import torch
from torch import fx, nn

from layerloom.backend.importers import torch_masks
from layerloom.backend.importers.common import clean_label, refuse
from layerloom.backend.importers.held_tensors import Attr
from layerloom.backend.importers.onnx_modules import (
    FOLDED,
    Call,
    divisors,
    fitter,
    head_hints,
    module_rule,
)
from layerloom.backend.importers.onnx_rules import _float
from layerloom.backend.importers.torch_masks import causal_flag, padding_mask
from layerloom.backend.importers.torch_modules import _layer, _only_input
from layerloom.backend.importers.torch_rules import Items, arg
from layerloom.backend.lowerings import attention as ll_attention

LL_ATTENTION = "layerloom.backend.lowerings.attention."
TORCH_ATTENTION = "torch.nn.modules.activation.MultiheadAttention"
TORCH_ENCODER = "torch.nn.modules.transformer.TransformerEncoderLayer"


# ------------------------------------------------------------------ ONNX fitters
@fitter(f"{LL_ATTENTION}SelfAttention", f"{LL_ATTENTION}CrossAttention", TORCH_ATTENTION)
def _fit_attention(call: Call):
    shape = call.weight_shape("out_proj.weight")
    sequences = [s for s in call.shapes if len(s) == 2]
    masks = [s for s in call.shapes if len(s) == 1]
    if shape is None or len(sequences) not in (1, 2) or len(masks) > 1:
        return
    embed = shape[0]
    mode = "self" if len(sequences) == 1 else "cross"
    weights = ((True, True), (True, False)) if len(call.op.outputs) > 1 else ((False, True),)
    for heads in divisors(embed, head_hints(call, embed)):
        for causal in (False, True):
            for bias in (True, False):
                for need, average in weights:
                    yield "multi_head_attention", {
                        "mode": mode, "num_heads": heads, "causal": causal, "bias": bias, "dropout": 0.0,
                        "key_padding_mask": bool(masks), "need_weights": need, "average_attn_weights": average,
                    }


@fitter(f"{LL_ATTENTION}EncoderLayer")
def _fit_encoder(call: Call):
    shape = call.weight_shape("linear1.weight")
    if shape is None or len(call.shapes) != 1:
        return
    d = call.shapes[0][-1]
    feedforward = shape[0] if shape[1] == d else shape[1]
    eps = _float(call.epsilons[0])
    for heads in divisors(d, head_hints(call, d)):
        for norm_first in (False, True):
            for activation in ("relu", "gelu"):
                for causal in (False, True):
                    for bias in (True, False):
                        yield "transformer_encoder_layer", {
                            "nhead": heads, "dim_feedforward": feedforward, "dropout": 0.0,
                            "activation": activation, "norm_first": norm_first, "causal": causal,
                            "layer_norm_eps": eps, "bias": bias,
                        }


@fitter("torch.nn.modules.sparse.Embedding")
def _fit_embedding(call: Call):
    shape = call.weight_shape("weight")
    if shape is None or len(call.shapes) != 1:
        return
    for max_norm in (0.0, *sorted({_float(v) for v in call.scalars if v > 0})):
        yield "embedding", {"num_embeddings": shape[0], "embedding_dim": shape[1], "max_norm": max_norm}


@fitter("torch.nn.modules.sparse.EmbeddingBag")
def _fit_embedding_bag(call: Call):
    shape = call.weight_shape("weight")
    if shape is None or len(call.shapes) != 1:
        return
    for mode in ("mean", "sum", "max"):
        yield "embedding_bag", {"num_embeddings": shape[0], "embedding_dim": shape[1], "mode": mode}


@fitter("torch.nn.modules.linear.Bilinear")
def _fit_bilinear(call: Call):
    shape = call.weight_shape("weight")
    if shape is None or len(call.shapes) != 2:
        return
    count = math.prod(shape) // (call.shapes[0][-1] * call.shapes[1][-1])
    for bias in (True, False):
        yield "bilinear", {"out_features": count, "bias": bias}


# ------------------------------------------------------------------ PyTorch modules
def _padding(m) -> int:
    return -1 if m.padding_idx is None else m.padding_idx % m.num_embeddings


def _max_norm(m) -> float:
    if m.max_norm is None:
        return 0.0
    refuse(float(m.norm_type) != 2.0, f"norm_type={m.norm_type}; LayerLoom renormalises by the L2 norm")
    return float(m.max_norm)


def _embedding(mp, node, m: nn.Embedding):
    ids = node.args[0] if node.args else node.kwargs.get("input")
    positions = mp.known.get(ids) if isinstance(ids, fx.Node) else None
    if isinstance(positions, torch.Tensor):  # self.wpe(torch.arange(t)): a table the model holds
        return _rows(node, m, positions)
    x = _only_input(mp, node)
    refuse(x.dtype != "long", "receives float values; token ids must be an integer (long) input")
    refuse(m.scale_grad_by_freq or m.sparse, "scale_grad_by_freq or sparse is set")
    params = {"num_embeddings": m.num_embeddings, "embedding_dim": m.embedding_dim,
              "padding_idx": _padding(m), "max_norm": _max_norm(m)}
    return _layer(mp, node, m, "embedding", params, [x])


def _rows(node, m: nn.Embedding, ids: torch.Tensor) -> Attr:
    """The rows an Embedding gives for ids that are the same on every call (the
    positions ``torch.arange(t)`` of a GPT): a tensor the model holds, which becomes
    a Parameter where it meets the batch (added to the token embeddings). Only when
    every row is taken in order is it the Embedding's weight itself; a part of the
    table is a copy (LayerLoom fixes the length, so the other rows are never used)."""
    refuse(ids.dtype not in (torch.int64, torch.int32) or ids.numel() == 0 or int(ids.min()) < 0
           or int(ids.max()) >= m.num_embeddings, f"looks up the constant ids {ids.tolist()[:8]}")
    refuse(m.max_norm is not None, "max_norm is set on an Embedding looked up with constant ids")
    whole = ids.dim() == 1 and torch.equal(ids, torch.arange(m.num_embeddings, dtype=ids.dtype))
    return Attr(m.weight[ids.long()], node, True, f"{node.target}.weight" if whole else None, clean_label(node.target))


def _embedding_bag(mp, node, m: nn.EmbeddingBag):
    x = _only_input(mp, node)
    refuse(x.dtype != "long" or x.rank != 1,
           f"receives {x.dtype} {x.shape} per sample; LayerLoom's EmbeddingBag reads a bag (T,) of token ids "
           "per sample (no offsets, no per_sample_weights)")
    refuse(m.scale_grad_by_freq or m.sparse or m.include_last_offset,
           "scale_grad_by_freq, sparse or include_last_offset is set")
    params = {"num_embeddings": m.num_embeddings, "embedding_dim": m.embedding_dim, "mode": m.mode,
              "padding_idx": _padding(m), "max_norm": _max_norm(m)}
    return _layer(mp, node, m, "embedding_bag", params, [x])


def _bilinear(mp, node, m: nn.Bilinear):
    refuse(len(node.args) != 2 or bool(node.kwargs), "is called with other than its two inputs")
    inputs = [mp.tensor(a) for a in node.args]
    return _layer(mp, node, m, "bilinear", {"out_features": m.out_features, "bias": m.bias is not None}, inputs)


def item_used(node, index: int) -> bool:
    """Whether the ``index``-th item of a module's tuple result is read."""
    return any(u.op == "call_function" and u.target is operator.getitem and u.args[1] == index
               for u in node.users)


MHA_ARGS = ("query", "key", "value", "key_padding_mask", "need_weights", "attn_mask",
            "average_attn_weights", "is_causal")
MHA_DEFAULTS = (None, None, None, None, True, None, True, False)


def _call_args(node, names, defaults) -> dict:
    refuse(len(node.args) > len(names) or any(k not in names for k in node.kwargs),
           f"is called with arguments besides {', '.join(names)}")
    return {name: arg(node, i, name, default) for i, (name, default) in enumerate(zip(names, defaults, strict=True))}


def _multihead_attention(mp, node, m: nn.MultiheadAttention):
    """``nn.MultiheadAttention``: self-attention (query, key and value one tensor)
    or cross-attention (key and value one tensor), with the causal mask, a
    key-padding mask and the attention weights when they are read."""
    refuse(not m.batch_first, "batch_first=False; set batch_first=True")
    refuse(m.bias_k is not None or m.add_zero_attn, "add_bias_kv or add_zero_attn is set")
    refuse(m.kdim != m.vdim, f"kdim {m.kdim} differs from vdim {m.vdim}")
    a = _call_args(node, MHA_ARGS, MHA_DEFAULTS)
    q, k, v = a["query"], a["key"], a["value"]
    refuse(k is not v, "gives different key and value tensors; LayerLoom's attention uses one for both")
    mode = "self" if q is k else "cross"
    inputs = [mp.tensor(q)] if mode == "self" else [mp.tensor(q), mp.tensor(k)]
    mask = padding_mask(mp, a["key_padding_mask"])
    causal = causal_flag(mp, a["attn_mask"], inputs[0].shape[0], inputs[-1].shape[0], bool(a["is_causal"]))
    need = bool(a["need_weights"]) and item_used(node, 1)
    params = {"mode": mode, "num_heads": m.num_heads, "dropout": float(m.dropout),
              "bias": m.in_proj_bias is not None, "causal": causal, "key_padding_mask": mask is not None,
              "need_weights": need, "average_attn_weights": bool(a["average_attn_weights"])}
    out = _layer(mp, node, m, "multi_head_attention", params, inputs + ([mask] if mask is not None else []), item=0)
    return Items((out, mp.builder.port_of(out, "weights", mp.shape(node, 1)) if need else None))


def _layerloom_attention(mode: str):
    def rule(mp, node, m):
        inputs = [mp.tensor(a) for a in node.args]
        base = 1 if mode == "self" else 2
        refuse(bool(node.kwargs) or len(inputs) not in (base, base + 1), "is called with other arguments")
        params = {"mode": mode, "num_heads": m.num_heads, "dropout": float(m.dropout),
                  "bias": m.in_proj_bias is not None, "causal": bool(m.causal),
                  "key_padding_mask": len(inputs) > base, "need_weights": bool(m.need_weights),
                  "average_attn_weights": bool(m.average_attn_weights)}
        if not m.need_weights:
            return _layer(mp, node, m, "multi_head_attention", params, inputs)
        out = _layer(mp, node, m, "multi_head_attention", params, inputs, item=0)
        return Items((out, mp.builder.port_of(out, "weights", mp.shape(node, 1))))

    return rule


MODULES = {
    nn.MultiheadAttention: _multihead_attention,
    ll_attention.SelfAttention: _layerloom_attention("self"),
    ll_attention.CrossAttention: _layerloom_attention("cross"),
    nn.Embedding: _embedding,
    nn.EmbeddingBag: _embedding_bag,
    nn.Bilinear: _bilinear,
}

FUNCTIONS = dict(torch_masks.FUNCTIONS)
METHODS = dict(torch_masks.METHODS)
ONNX = {FOLDED: module_rule}
