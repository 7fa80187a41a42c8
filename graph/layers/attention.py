"""Attention layers: Embedding, PositionalEncoding, MultiHeadAttention and
TransformerEncoderLayer.

Sequences are batch-first: one sample is ``(T, E)``, T positions of E features.
The shape rules accept exactly what the matching ``torch.nn`` modules accept with
``batch_first=True`` (a hypothesis test builds the torch modules to check), plus
two rules of LayerLoom's own: a sample must be rank 2 (torch would read a rank-1
sample as an unbatched sequence, which is not what a graph means), and a causal
mask needs as many queries as keys.

FLOPs count a multiply-add as 2 and include the softmax (about 3 per score);
normalisation and masking are left out, as they are small next to the matmuls.
"""

from __future__ import annotations

from layerloom.graph.errors import ShapeError
from layerloom.graph.layers._util import need_float
from layerloom.graph.layers.lookup import max_norm_param
from layerloom.graph.params import Bool, Choice, Float, Int
from layerloom.graph.registry import Example, LayerSpec
from layerloom.graph.tensor import TensorSpec, fmt_shape

NO_PADDING = -1  # Embedding.padding_idx value meaning "no padding token"


def _sequence(name: str, t: TensorSpec, port: str = "") -> tuple[int, int]:
    """``(T, E)`` of a float sequence input, or a ShapeError saying what to insert."""
    need_float(name, t)
    if t.rank != 2:
        where = f" on {port}" if port else ""
        raise ShapeError(
            f"{name} needs a sequence (T, E){where}; it receives {fmt_shape(t.shape)}",
            "insert a Reshape to (T, E), or start from an Embedding",
        )
    return t.shape


def _check_heads(name: str, embed_dim: int, heads: int, what: str = "num_heads") -> None:
    if embed_dim % heads:
        valid = [h for h in range(1, embed_dim + 1) if embed_dim % h == 0]
        shown = ", ".join(map(str, valid[:12])) + (", ..." if len(valid) > 12 else "")
        raise ShapeError(
            f"{name}: {what}={heads} does not divide the embedding size {embed_dim} "
            f"(each head takes {embed_dim}/{heads} features)",
            f"use a head count that divides {embed_dim}: {shown}",
        )


# ------------------------------------------------------------------ Embedding
def _embedding_rule(p, ins):
    t = ins["in"]
    if t.dtype != "long":
        raise ShapeError(
            f"Embedding looks up token ids but receives {t.dtype} values {fmt_shape(t.shape)}",
            "set the Input's dtype to long (token ids)",
        )
    pad, n = p["padding_idx"], p["num_embeddings"]
    if pad != NO_PADDING and pad >= n:
        raise ShapeError(
            f"Embedding: padding_idx {pad} is not a token id of a vocabulary of {n} (0..{n - 1})",
            f"use a padding_idx below {n}, or -1 for none",
        )
    return {"out": TensorSpec((*t.shape, p["embedding_dim"]), "float")}


def _embedding_params(p, ins, outs):
    return p["num_embeddings"] * p["embedding_dim"]


# --------------------------------------------------------- PositionalEncoding
def _positional_rule(p, ins):
    t = ins["in"]
    length, _ = _sequence("PositionalEncoding", t)
    if length > p["max_len"]:
        raise ShapeError(
            f"PositionalEncoding: the sequence has {length} positions but max_len is {p['max_len']}",
            f"raise max_len to at least {length}",
        )
    return {"out": t}


def _positional_params(p, ins, outs):
    return p["max_len"] * ins["in"].shape[1] if p["kind"] == "learned" else 0


# -------------------------------------------------------- MultiHeadAttention
def mha_ports(p) -> tuple[str, ...]:
    """Self-attention reads one sequence; cross-attention a query and a key/value;
    either reads a key-padding mask on ``mask`` when ``key_padding_mask`` is set."""
    ports = ("in",) if p["mode"] == "self" else ("query", "key_value")
    return (*ports, "mask") if p.get("key_padding_mask") else ports


def mha_outputs(p) -> tuple[str, ...]:
    return ("out", "weights") if p.get("need_weights") else ("out",)


def check_padding_mask(name: str, t: TensorSpec, keys: int) -> None:
    """A key-padding mask is ``(S,)`` per sample, one flag per key position."""
    if t.shape != (keys,):
        raise ShapeError(
            f"{name}: the key-padding mask must be (S,) = ({keys},), one value per key position "
            f"(non-zero = padding); it receives {fmt_shape(t.shape)}",
            f"feed a mask of {keys} values per sample, e.g. the token ids compared with the padding id",
        )


def _query_key(p, ins) -> tuple[int, int, int, int]:
    """``(Tq, E, Tk, Ekv)`` for either mode."""
    if p["mode"] == "self":
        t, e = _sequence("MultiHeadAttention", ins["in"])
        return t, e, t, e
    tq, e = _sequence("MultiHeadAttention", ins["query"], "query")
    tk, ekv = _sequence("MultiHeadAttention", ins["key_value"], "key_value")
    return tq, e, tk, ekv


def _mha_rule(p, ins):
    tq, e, tk, _ = _query_key(p, ins)
    _check_heads("MultiHeadAttention", e, p["num_heads"])
    if p["causal"] and tq != tk:
        raise ShapeError(
            f"MultiHeadAttention: a causal mask needs as many queries as keys; "
            f"query has {tq} positions, key_value {tk}",
            "turn causal off, or feed sequences of equal length",
        )
    if p["key_padding_mask"]:
        check_padding_mask("MultiHeadAttention", ins["mask"], tk)
    outs = {"out": TensorSpec((tq, e))}
    if p["need_weights"]:
        outs["weights"] = TensorSpec((tq, tk) if p["average_attn_weights"] else (p["num_heads"], tq, tk))
    return outs


def attention_param_count(e: int, ekv: int, bias: bool) -> int:
    """Weights of ``nn.MultiheadAttention(e, h, kdim=ekv, vdim=ekv, bias=bias)``:
    q, k, v projections, the output projection, and their biases."""
    return e * e + 2 * e * ekv + e * e + (4 * e if bias else 0)


def attention_flops(tq: int, e: int, tk: int, ekv: int, heads: int) -> int:
    projections = 2 * tq * e * e + 2 * 2 * tk * ekv * e + 2 * tq * e * e
    scores_and_mix = 2 * 2 * tq * tk * e
    softmax = 3 * heads * tq * tk
    return projections + scores_and_mix + softmax


def _mha_params(p, ins, outs):
    _, e, _, ekv = _query_key(p, ins)
    return attention_param_count(e, ekv, p["bias"])


def _mha_flops(p, ins, outs):
    tq, e, tk, ekv = _query_key(p, ins)
    return attention_flops(tq, e, tk, ekv, p["num_heads"])


# --------------------------------------------------- TransformerEncoderLayer
def _encoder_rule(p, ins):
    t = ins["in"]
    _, d = _sequence("TransformerEncoderLayer", t)
    _check_heads("TransformerEncoderLayer", d, p["nhead"], "nhead")
    return {"out": t}


def _encoder_params(p, ins, outs):
    d, ff, bias = ins["in"].shape[1], p["dim_feedforward"], p["bias"]
    linears = 2 * d * ff + ((ff + d) if bias else 0)
    norms = 2 * (2 * d if bias else d)
    return attention_param_count(d, d, bias) + linears + norms


def _encoder_flops(p, ins, outs):
    t, d = ins["in"].shape
    feedforward = 2 * 2 * t * d * p["dim_feedforward"]
    return attention_flops(t, d, t, d, p["nhead"]) + feedforward


def _dropout(default: float, what: str):
    return Float("dropout", default, f"Probability of dropping {what} while training", minimum=0.0, maximum=1.0)


SPECS = [
    LayerSpec(
        "embedding", "Embedding", "Attention",
        "Looks up a learned vector for each token id: (T,) long -> (T, embedding_dim).",
        (
            Int("num_embeddings", 1000, "Vocabulary size: token ids run from 0 to num_embeddings - 1",
                minimum=1, maximum=10_000_000, key=True),
            Int("embedding_dim", 64, "Size of each token's vector", minimum=1, maximum=65_536, key=True),
            Int("padding_idx", NO_PADDING,
                "Token id whose vector stays zero and gets no gradient (the padding token); -1 for none",
                minimum=-1, maximum=10_000_000),
            max_norm_param(),
        ),
        _embedding_rule, param_count=_embedding_params, flops=lambda p, i, o: 0,
        keywords=("token", "vocabulary", "word", "lookup", "nlp", "text"),
    ),
    LayerSpec(
        "positional_encoding", "PositionalEncoding", "Attention",
        "Adds a vector per position so attention can tell positions apart (sinusoidal or learned).",
        (
            Choice("kind", "sinusoidal", ("sinusoidal", "learned"),
                   "sinusoidal: fixed sine/cosine table (no weights); learned: one trained vector per position",
                   key=True),
            Int("max_len", 512, "Longest sequence the table covers", minimum=1, maximum=1_000_000, key=True),
            _dropout(0.1, "values after adding the encoding"),
        ),
        _positional_rule, param_count=_positional_params,
        keywords=("position", "sinusoidal", "transformer", "sequence", "order"),
    ),
    LayerSpec(
        "multi_head_attention", "MultiHeadAttention", "Attention",
        "Scaled dot-product attention over several heads; self (one sequence) or cross (query and key/value).",
        (
            Choice("mode", "self", ("self", "cross"),
                   "self: a sequence attends to itself; cross: a query attends to a second sequence",
                   key=True),
            Int("num_heads", 4, "Parallel attention heads; must divide the embedding size",
                minimum=1, maximum=1024, key=True),
            _dropout(0.0, "attention weights"),
            Bool("bias", True, "Learn biases in the input and output projections"),
            Bool("causal", False, "Each position attends only to itself and earlier positions", key=True),
            Bool("key_padding_mask", False,
                 "Read a mask on the port 'mask': (S,) per sample, float or long, non-zero marks a key "
                 "position as padding that no query attends to (a query that sees no key gives zeros "
                 "before the output projection)"),
            Bool("need_weights", False,
                 "Also give the attention weights on the port 'weights': (T, S), or (heads, T, S) "
                 "with average_attn_weights off"),
            Bool("average_attn_weights", True,
                 "Average the weights over the heads (T, S); off: one map per head (heads, T, S)"),
        ),
        _mha_rule, inputs=mha_ports, outputs=mha_outputs, param_count=_mha_params, flops=_mha_flops,
        examples=(
            Example({"in": TensorSpec((5, 8)), "mask": TensorSpec((5,), "long")},
                    {"num_heads": 2, "key_padding_mask": True, "need_weights": True}),
            Example({"in": TensorSpec((6, 8))}, {"num_heads": 2}),
            Example({"query": TensorSpec((4, 8)), "key_value": TensorSpec((6, 6)),
                     "mask": TensorSpec((6,))},
                    {"mode": "cross", "num_heads": 2, "key_padding_mask": True, "need_weights": True,
                     "average_attn_weights": False}),
        ),
        keywords=("attention", "mha", "transformer", "self-attention", "cross-attention", "heads"),
    ),
    LayerSpec(
        "transformer_encoder_layer", "TransformerEncoderLayer", "Attention",
        "Self-attention then a feed-forward block, each with a residual and LayerNorm.",
        (
            Int("nhead", 4, "Attention heads; must divide d_model (the input's feature size)",
                minimum=1, maximum=1024, key=True),
            Int("dim_feedforward", 2048, "Hidden size of the feed-forward block",
                minimum=1, maximum=1_000_000, key=True),
            _dropout(0.1, "values in the attention and feed-forward blocks"),
            Choice("activation", "relu", ("relu", "gelu"), "Activation of the feed-forward block"),
            Bool("norm_first", False, "Apply LayerNorm before each block (pre-norm) instead of after"),
            Bool("causal", False, "Each position attends only to itself and earlier positions", key=True),
            Float("layer_norm_eps", 1e-5, "Epsilon added to the variance in LayerNorm",
                  minimum=0.0, maximum=1.0),
            Bool("bias", True, "Learn biases in the linear layers and LayerNorms"),
        ),
        _encoder_rule, param_count=_encoder_params, flops=_encoder_flops,
        keywords=("transformer", "encoder", "attention", "bert", "block"),
    ),
]
