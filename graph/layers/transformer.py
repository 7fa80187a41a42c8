"""Transformer layers beyond the encoder: TransformerDecoderLayer, the whole
encoder-decoder Transformer, and scaled dot-product attention as one node.

Sequences are batch first, ``(T, E)`` per sample, as in
:mod:`layerloom.graph.layers.attention`; the shape rules accept what
``torch.nn.TransformerDecoderLayer`` and ``torch.nn.Transformer`` accept with
``batch_first=True``, and what ``torch.nn.functional.scaled_dot_product_attention``
accepts, except that q, k and v must have the same rank per sample (with fewer
dims torch would broadcast the batch against another dim).
"""

from __future__ import annotations

import math

from layerloom.graph.errors import ShapeError
from layerloom.graph.layers._util import need_float
from layerloom.graph.layers.attention import (
    _check_heads,
    _dropout,
    _sequence,
    attention_flops,
    attention_param_count,
)
from layerloom.graph.params import Bool, Choice, Float, Int
from layerloom.graph.registry import Example, LayerSpec
from layerloom.graph.tensor import TensorSpec, fmt_shape


# ----------------------------------------------------- TransformerDecoderLayer
def _decoder_dims(name: str, p, tgt: TensorSpec, memory: TensorSpec, heads: str = "nhead") -> tuple[int, int, int]:
    """``(T, S, d_model)`` of a target and a memory sequence of equal width."""
    t, d = _sequence(name, tgt, "in" if name.endswith("Layer") else "tgt")
    s, dm = _sequence(name, memory, "memory" if name.endswith("Layer") else "src")
    if dm != d:
        raise ShapeError(
            f"{name}: the memory has {dm} features but the target {d}; both are d_model",
            "insert a Dense layer to bring both to the same width",
        )
    _check_heads(name, d, p[heads], heads)
    return t, s, d


def _decoder_rule(p, ins):
    _decoder_dims("TransformerDecoderLayer", p, ins["in"], ins["memory"])
    return {"out": ins["in"]}


def block_params(d: int, ff: int, bias: bool, attentions: int, norms: int) -> int:
    """Weights of an encoder (1 attention, 2 norms) or decoder (2, 3) layer."""
    linears = 2 * d * ff + ((ff + d) if bias else 0)
    return attentions * attention_param_count(d, d, bias) + linears + norms * (2 * d if bias else d)


def _decoder_params(p, ins, outs):
    return block_params(ins["in"].shape[1], p["dim_feedforward"], p["bias"], 2, 3)


def decoder_flops(t: int, s: int, d: int, ff: int, heads: int) -> int:
    return attention_flops(t, d, t, d, heads) + attention_flops(t, d, s, d, heads) + 2 * 2 * t * d * ff


def _decoder_flops(p, ins, outs):
    t, d = ins["in"].shape
    return decoder_flops(t, ins["memory"].shape[0], d, p["dim_feedforward"], p["nhead"])


def block_options(causal_help: str) -> tuple:
    return (
        Int("nhead", 4, "Attention heads; must divide d_model (the input's feature size)",
            minimum=1, maximum=1024, key=True),
        Int("dim_feedforward", 2048, "Hidden size of the feed-forward block",
            minimum=1, maximum=1_000_000, key=True),
        _dropout(0.1, "values in the attention and feed-forward blocks"),
        Choice("activation", "relu", ("relu", "gelu"), "Activation of the feed-forward block"),
        Bool("norm_first", False, "Apply LayerNorm before each block (pre-norm) instead of after"),
        Bool("causal", False, causal_help, key=True),
        Float("layer_norm_eps", 1e-5, "Epsilon added to the variance in LayerNorm", minimum=0.0, maximum=1.0),
        Bool("bias", True, "Learn biases in the linear layers and LayerNorms"),
    )


# ------------------------------------------------------------------ Transformer
def _transformer_rule(p, ins):
    t, _, d = _decoder_dims("Transformer", p, ins["tgt"], ins["src"])
    return {"out": TensorSpec((t, d))}


def _transformer_params(p, ins, outs):
    d, ff, bias = ins["src"].shape[1], p["dim_feedforward"], p["bias"]
    final_norms = 2 * (2 * d if bias else d)
    return (p["num_encoder_layers"] * block_params(d, ff, bias, 1, 2)
            + p["num_decoder_layers"] * block_params(d, ff, bias, 2, 3) + final_norms)


def _transformer_flops(p, ins, outs):
    s, d = ins["src"].shape
    t = ins["tgt"].shape[0]
    ff, heads = p["dim_feedforward"], p["nhead"]
    encoder = attention_flops(s, d, s, d, heads) + 2 * 2 * s * d * ff
    return p["num_encoder_layers"] * encoder + p["num_decoder_layers"] * decoder_flops(t, s, d, ff, heads)


# ---------------------------------------------- scaled dot-product attention
def sdpa_ports(p) -> tuple[str, ...]:
    return ("q", "k", "v", "mask") if p["mask"] else ("q", "k", "v")


def _broadcast(name: str, shapes: dict[str, tuple[int, ...]]) -> tuple[int, ...]:
    rank = len(next(iter(shapes.values())))
    out = []
    for i in range(rank):
        sizes = {s[i] for s in shapes.values()} - {1}
        if len(sizes) > 1:
            shown = ", ".join(f"{port} {fmt_shape(s)}" for port, s in shapes.items())
            raise ShapeError(
                f"{name}: the leading dims do not broadcast ({shown}): dim {i + 1} is "
                f"{' vs '.join(str(s[i]) for s in shapes.values())}",
                "make the leading dims (the heads) equal, or 1 where one side is shared",
            )
        out.append(sizes.pop() if sizes else 1)
    return tuple(out)


def _sdpa_rule(p, ins):
    name = "ScaledDotProductAttention"
    q, k, v = ins["q"], ins["k"], ins["v"]
    for port, t in (("q", q), ("k", k), ("v", v)):
        need_float(name, t)
        if t.rank < 2:
            raise ShapeError(
                f"{name} needs (..., L, E) on {port}; it receives {fmt_shape(t.shape)}",
                "insert a Reshape to (L, E), or (heads, L, E) for several heads",
            )
    if not q.rank == k.rank == v.rank:
        raise ShapeError(
            f"{name}: q {fmt_shape(q.shape)}, k {fmt_shape(k.shape)} and v {fmt_shape(v.shape)} must have "
            "the same rank per sample (torch would broadcast the batch against another dim)",
            "insert a Reshape that adds dims of size 1",
        )
    if q.shape[-1] != k.shape[-1]:
        raise ShapeError(
            f"{name}: q {fmt_shape(q.shape)} and k {fmt_shape(k.shape)} must have the same last dim E "
            f"({q.shape[-1]} vs {k.shape[-1]})",
            "project q and k to the same size with Dense layers",
        )
    if k.shape[-2] != v.shape[-2]:
        raise ShapeError(
            f"{name}: k {fmt_shape(k.shape)} and v {fmt_shape(v.shape)} must have as many positions "
            f"({k.shape[-2]} vs {v.shape[-2]})",
            "give keys and values of the same sequence",
        )
    lead = _broadcast(name, {"q": q.shape[:-2], "k": k.shape[:-2], "v": v.shape[:-2]})
    scores = (*lead, q.shape[-2], k.shape[-2])
    if p["mask"]:
        if p["causal"]:
            raise ShapeError(f"{name}: a mask and causal cannot both be set (torch refuses an explicit mask "
                             "with is_causal)", "turn causal off, or remove the mask port")
        m = ins["mask"]
        if m.rank != len(scores) or any(a not in (1, b) for a, b in zip(m.shape, scores, strict=True)):
            raise ShapeError(
                f"{name}: the mask {fmt_shape(m.shape)} does not broadcast to the scores "
                f"{fmt_shape(scores)} (..., L, S) with the same rank",
                f"feed a mask of shape {fmt_shape(scores)}, with 1 where it is shared",
            )
    return {"out": TensorSpec((*lead, q.shape[-2], v.shape[-1]))}


def _sdpa_flops(p, ins, outs):
    q, k, v = ins["q"].shape, ins["k"].shape, ins["v"].shape
    lead = math.prod(outs["out"].shape[:-2])
    length, keys = q[-2], k[-2]
    return lead * (2 * length * keys * q[-1] + 2 * length * keys * v[-1] + 3 * length * keys)


SPECS = [
    LayerSpec(
        "transformer_decoder_layer", "TransformerDecoderLayer", "Attention",
        "Self-attention, attention to a memory sequence, then a feed-forward block, each with a "
        "residual and LayerNorm.",
        block_options("The target attends only to itself and earlier positions (a causal tgt mask)"),
        _decoder_rule, inputs=("in", "memory"), param_count=_decoder_params, flops=_decoder_flops,
        keywords=("transformer", "decoder", "attention", "cross-attention", "gpt", "block", "seq2seq"),
        examples=(
            Example({"in": TensorSpec((4, 8)), "memory": TensorSpec((6, 8))},
                    {"nhead": 2, "dim_feedforward": 16, "causal": True}),
            Example({"in": TensorSpec((5, 6)), "memory": TensorSpec((3, 6))},
                    {"nhead": 3, "dim_feedforward": 8, "norm_first": True, "activation": "gelu", "bias": False}),
        ),
    ),
    LayerSpec(
        "transformer", "Transformer", "Attention",
        "A whole encoder-decoder Transformer: an encoder stack over src, a decoder stack over tgt "
        "attending to it; d_model is the inputs' feature size.",
        (
            Int("num_encoder_layers", 6, "Encoder layers stacked over src", minimum=1, maximum=128, key=True),
            Int("num_decoder_layers", 6, "Decoder layers stacked over tgt", minimum=1, maximum=128, key=True),
            *block_options("tgt attends only to itself and earlier positions (a causal tgt mask)"),
        ),
        _transformer_rule, inputs=("src", "tgt"), param_count=_transformer_params, flops=_transformer_flops,
        keywords=("transformer", "encoder", "decoder", "seq2seq", "translation", "attention"),
        examples=(
            Example({"src": TensorSpec((5, 8)), "tgt": TensorSpec((4, 8))},
                    {"nhead": 2, "num_encoder_layers": 1, "num_decoder_layers": 2, "dim_feedforward": 16,
                     "causal": True}),
            Example({"src": TensorSpec((3, 4)), "tgt": TensorSpec((6, 4))},
                    {"nhead": 1, "num_encoder_layers": 2, "num_decoder_layers": 1, "dim_feedforward": 6,
                     "norm_first": True, "activation": "gelu"}),
        ),
    ),
    LayerSpec(
        "scaled_dot_product_attention", "ScaledDotProductAttention", "Attention",
        "softmax(q·kᵀ·scale + mask)·v over the last two dims, without weights (as "
        "torch.nn.functional.scaled_dot_product_attention).",
        (
            Bool("mask", False,
                 "Read a mask on the port 'mask', broadcast to the scores (..., L, S): a float mask is "
                 "added to the scores, a long one keeps the positions where it is non-zero (as torch's "
                 "boolean attn_mask, True = attend; a query that sees no key gives NaN)", key=True),
            Bool("causal", False, "Query i attends only to keys 0..i (torch's is_causal)", key=True),
            Float("scale", 0.0, "Factor of the scores; 0 means the default 1/sqrt(E)", minimum=0.0, maximum=1e6),
            Float("dropout_p", 0.0, "Probability of dropping attention weights while training",
                  minimum=0.0, maximum=1.0),
        ),
        _sdpa_rule, inputs=sdpa_ports, flops=_sdpa_flops,
        keywords=("attention", "sdpa", "flash", "scaled", "dot product", "softmax", "transformer"),
        examples=(
            Example({"q": TensorSpec((2, 4, 6)), "k": TensorSpec((2, 5, 6)), "v": TensorSpec((2, 5, 3)),
                     "mask": TensorSpec((1, 4, 5))}, {"mask": True, "scale": 0.5}),
            Example({"q": TensorSpec((3, 4, 8)), "k": TensorSpec((1, 4, 8)), "v": TensorSpec((3, 4, 5))},
                    {"causal": True}),
            Example({"q": TensorSpec((4, 6)), "k": TensorSpec((5, 6)), "v": TensorSpec((5, 6)),
                     "mask": TensorSpec((4, 5), "long")}, {"mask": True}),
        ),
    ),
]
