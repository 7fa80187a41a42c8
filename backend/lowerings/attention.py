"""Attention layers: Embedding, PositionalEncoding, MultiHeadAttention and
TransformerEncoderLayer.

``nn.MultiheadAttention`` takes three inputs and a mask and returns a tuple, and
``nn.TransformerEncoderLayer`` takes its mask as an argument; a graph node has one
tensor per port and one result. The small modules below adapt them. They subclass
the torch modules so the parameter names stay those of torch (``in_proj_weight``,
``out_proj.weight``, ``self_attn.in_proj_weight``, ``linear1.weight``, ...): the
state_dict of a hand-written model with ``nn.MultiheadAttention`` or
``nn.TransformerEncoderLayer`` loads into them as is, and back.

The classes use nothing but torch and each stands alone, so the exporter can copy
their source into a standalone file. They build the causal
mask from the input's sequence length on every call, so one model serves any
length (up to PositionalEncoding's max_len) and exports with a dynamic length.

Tracing note: in eval mode without gradients, torch's attention modules take a
fused "fast path", and with gradients the plain one; ``torch.jit.trace`` checks
its trace by running again under ``no_grad``, so trace these models inside
``torch.no_grad()`` (an inference trace) or with ``check_trace=False``.
"""

from __future__ import annotations

import torch
from torch import nn

from layerloom.backend.lowering import Lowering, lowering
from layerloom.graph.layers.attention import NO_PADDING
from layerloom.graph.layers.lookup import NO_MAX_NORM


class PositionalEncoding(nn.Module):
    """Adds ``pe[t]`` to position ``t`` of each (N, T, D) sequence, then dropout.

    The sinusoidal table (Vaswani et al. 2017, odd D included: the last column is a
    sine) is a non-persistent buffer: it follows ``.to(device)`` but is left out of
    the state_dict, because it is a pure function of ``max_len`` and ``d_model``
    and storing it would only add ``max_len * d_model`` floats to every checkpoint.
    The learned table is an ``nn.Parameter`` and is saved like any weight.
    """

    def __init__(self, d_model: int, max_len: int = 512, dropout: float = 0.1, learned: bool = False):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        if learned:
            self.pe = nn.Parameter(torch.empty(max_len, d_model))
            nn.init.normal_(self.pe, std=0.02)
        else:
            self.register_buffer("pe", self.sinusoidal(max_len, d_model), persistent=False)

    @staticmethod
    def sinusoidal(max_len: int, d_model: int) -> torch.Tensor:
        """``pe[t, 2i] = sin(t / 10000^(2i/d))``, ``pe[t, 2i+1] = cos(...)``, computed
        in float64 so the table is correct to the last bit of float32."""
        position = torch.arange(max_len, dtype=torch.float64).unsqueeze(1)
        rate = torch.pow(10000.0, -torch.arange(0, d_model, 2, dtype=torch.float64) / d_model)
        table = torch.zeros(max_len, d_model, dtype=torch.float64)
        table[:, 0::2] = torch.sin(position * rate)
        table[:, 1::2] = torch.cos(position * rate[: d_model // 2])
        return table.float()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(x + self.pe[: x.size(1)])


def causal_mask(query: torch.Tensor, key: torch.Tensor) -> torch.Tensor:
    """True above the diagonal: query t sees keys 0..t only."""
    ones = torch.ones(query.size(1), key.size(1), dtype=torch.bool, device=query.device)
    return torch.triu(ones, diagonal=1)


def attend(layer: nn.MultiheadAttention, query: torch.Tensor, key_value: torch.Tensor,
           padding: torch.Tensor | None, causal: bool, need_weights: bool, average: bool):
    """``layer`` (an ``nn.MultiheadAttention``) on batch-first sequences.

    ``padding`` is (N, S), non-zero for a padded key. A query that sees no key
    (every key padded, or hidden by the causal mask) gets no attention: its
    output is what the output projection gives for zeros and its weights are
    zeros, as torch's fused path does (its weights path would give NaN).
    """
    mask = causal_mask(query, key_value) if causal else None
    dead = None
    if padding is not None:
        hidden = (padding != 0).unsqueeze(1).expand(-1, query.size(1), -1)  # (N, T, S)
        if mask is not None:
            hidden = hidden | mask
        dead = hidden.all(dim=-1, keepdim=True)  # (N, T, 1): queries that see no key
        mask = (hidden & ~dead).repeat_interleave(layer.num_heads, dim=0)
    out, weights = nn.MultiheadAttention.forward(layer, query, key_value, key_value, attn_mask=mask,
                                                 need_weights=need_weights, average_attn_weights=average)
    if dead is not None:
        out = torch.where(dead, layer.out_proj(torch.zeros_like(out)), out)
        if need_weights:
            weights = weights.masked_fill(dead if average else dead.unsqueeze(1), 0.0)
    return (out, weights) if need_weights else out


class SelfAttention(nn.MultiheadAttention):
    """``nn.MultiheadAttention`` on one (N, T, E) sequence, optionally causal, with
    an optional key-padding mask (N, T) (non-zero = padding); returns the attended
    sequence, and the attention weights when ``need_weights`` is set."""

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 causal: bool = False, need_weights: bool = False, average_attn_weights: bool = True):
        super().__init__(embed_dim, num_heads, dropout=dropout, bias=bias, batch_first=True)
        self.causal = causal
        self.need_weights = need_weights
        self.average_attn_weights = average_attn_weights

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None):
        return attend(self, x, x, mask, self.causal, self.need_weights, self.average_attn_weights)


class CrossAttention(nn.MultiheadAttention):
    """``nn.MultiheadAttention`` of an (N, Tq, E) query over an (N, Tk, kv_dim)
    key/value sequence (the same tensor gives keys and values), with an optional
    key-padding mask (N, Tk); returns (N, Tq, E), and the attention weights when
    ``need_weights`` is set."""

    def __init__(self, embed_dim: int, kv_dim: int, num_heads: int, dropout: float = 0.0,
                 bias: bool = True, causal: bool = False, need_weights: bool = False,
                 average_attn_weights: bool = True):
        super().__init__(embed_dim, num_heads, dropout=dropout, bias=bias, kdim=kv_dim,
                         vdim=kv_dim, batch_first=True)
        self.causal = causal
        self.need_weights = need_weights
        self.average_attn_weights = average_attn_weights

    def forward(self, query: torch.Tensor, key_value: torch.Tensor, mask: torch.Tensor | None = None):
        return attend(self, query, key_value, mask, self.causal, self.need_weights, self.average_attn_weights)


class EncoderLayer(nn.TransformerEncoderLayer):
    """``nn.TransformerEncoderLayer(batch_first=True)`` that builds its own causal
    mask when ``causal`` is set, so its forward takes the sequence alone."""

    def __init__(self, d_model: int, nhead: int, causal: bool = False, **kwargs):
        super().__init__(d_model, nhead, batch_first=True, **kwargs)
        self.causal = causal

    def forward(self, src: torch.Tensor) -> torch.Tensor:
        if not self.causal:
            return super().forward(src)
        ones = torch.ones(src.size(1), src.size(1), dtype=torch.bool, device=src.device)
        mask = torch.triu(ones, diagonal=1)  # True above the diagonal: future positions
        return super().forward(src, src_mask=mask, is_causal=True)


@lowering("embedding")
def _embedding(p, ins, outs):
    pad = None if p["padding_idx"] == NO_PADDING else p["padding_idx"]
    return Lowering(nn.Embedding(p["num_embeddings"], p["embedding_dim"], padding_idx=pad,
                                 max_norm=None if p["max_norm"] == NO_MAX_NORM else p["max_norm"]))


@lowering("positional_encoding")
def _positional_encoding(p, ins, outs):
    _, d_model = ins["in"].shape
    return Lowering(PositionalEncoding(d_model, p["max_len"], p["dropout"], p["kind"] == "learned"))


@lowering("multi_head_attention")
def _multi_head_attention(p, ins, outs):
    options = {"dropout": p["dropout"], "bias": p["bias"], "causal": p["causal"],
               "need_weights": p["need_weights"], "average_attn_weights": p["average_attn_weights"]}
    if p["mode"] == "self":
        return Lowering(SelfAttention(ins["in"].shape[1], p["num_heads"], **options))
    embed_dim, kv_dim = ins["query"].shape[1], ins["key_value"].shape[1]
    return Lowering(CrossAttention(embed_dim, kv_dim, p["num_heads"], **options))


@lowering("transformer_encoder_layer")
def _transformer_encoder_layer(p, ins, outs):
    return Lowering(EncoderLayer(
        ins["in"].shape[1], p["nhead"], causal=p["causal"],
        dim_feedforward=p["dim_feedforward"], dropout=p["dropout"], activation=p["activation"],
        layer_norm_eps=p["layer_norm_eps"], norm_first=p["norm_first"], bias=p["bias"],
    ))
