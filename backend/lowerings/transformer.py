"""Transformer layers beyond the encoder: ``nn.TransformerDecoderLayer``, the whole
``nn.Transformer`` and ``F.scaled_dot_product_attention``.

As in :mod:`layerloom.backend.lowerings.attention`, the module classes subclass
torch's (the parameter names stay torch's, so a hand-written model's
``state_dict`` loads as is) and build their causal mask from the target's
length on every call, so their forward takes the sequences alone.

Scaled dot-product attention is the torch function itself, written into the fx
graph (the Python export shows ``F.scaled_dot_product_attention(q, k, v, ...)``).
Only with ``dropout_p`` above 0 is it a module, :class:`ScaledDotProductAttention`,
because the function drops weights whenever it is told to, in evaluation too.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from layerloom.backend.lowering import Lowering, lowering
from layerloom.backend.lowerings.attention import causal_mask


class DecoderLayer(nn.TransformerDecoderLayer):
    """``nn.TransformerDecoderLayer(batch_first=True)`` of a target (N, T, D) over a
    memory (N, S, D), building its own causal target mask when ``causal`` is set."""

    def __init__(self, d_model: int, nhead: int, causal: bool = False, **kwargs):
        super().__init__(d_model, nhead, batch_first=True, **kwargs)
        self.causal = causal

    def forward(self, tgt: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
        if not self.causal:
            return super().forward(tgt, memory)
        return super().forward(tgt, memory, tgt_mask=causal_mask(tgt, tgt), tgt_is_causal=True)


class Transformer(nn.Transformer):
    """``nn.Transformer(batch_first=True)`` of src (N, S, D) and tgt (N, T, D),
    building its own causal target mask when ``causal`` is set."""

    def __init__(self, d_model: int, nhead: int, num_encoder_layers: int = 6, num_decoder_layers: int = 6,
                 dim_feedforward: int = 2048, dropout: float = 0.1, activation: str = "relu",
                 layer_norm_eps: float = 1e-5, norm_first: bool = False, bias: bool = True,
                 causal: bool = False):
        super().__init__(d_model, nhead, num_encoder_layers, num_decoder_layers, dim_feedforward, dropout,
                         activation=activation, layer_norm_eps=layer_norm_eps, batch_first=True,
                         norm_first=norm_first, bias=bias)
        self.causal = causal

    def forward(self, src: torch.Tensor, tgt: torch.Tensor) -> torch.Tensor:
        if not self.causal:
            return super().forward(src, tgt)
        return super().forward(src, tgt, tgt_mask=causal_mask(tgt, tgt), tgt_is_causal=True)


class ScaledDotProductAttention(nn.Module):
    """``F.scaled_dot_product_attention`` with dropout while training only. A mask
    that is not float keeps the positions where it is non-zero (a query that sees
    no key gives NaN, as an all ``-inf`` additive mask does)."""

    def __init__(self, dropout_p: float = 0.0, causal: bool = False, scale: float | None = None):
        super().__init__()
        self.dropout_p = dropout_p
        self.causal = causal
        self.scale = scale

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                mask: torch.Tensor | None = None) -> torch.Tensor:
        if mask is None:
            return F.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout_p if self.training else 0.0,
                                                  is_causal=self.causal, scale=self.scale)
        if not mask.is_floating_point():  # hide where it is 0, as an additive mask
            mask = torch.where(mask == 0, float("-inf"), 0.0)
        lift = q.dim() == 3  # torch's ONNX exporter takes a mask with 4-d q, k and v only
        if lift:
            q, k, v, mask = q.unsqueeze(1), k.unsqueeze(1), v.unsqueeze(1), mask.unsqueeze(1)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=self.dropout_p if self.training else 0.0,
                                             scale=self.scale)
        return out.squeeze(1) if lift else out


def _block_options(p) -> dict:
    return {"dim_feedforward": p["dim_feedforward"], "dropout": p["dropout"], "activation": p["activation"],
            "layer_norm_eps": p["layer_norm_eps"], "norm_first": p["norm_first"], "bias": p["bias"]}


@lowering("transformer_decoder_layer")
def _decoder_layer(p, ins, outs):
    return Lowering(DecoderLayer(ins["in"].shape[1], p["nhead"], causal=p["causal"], **_block_options(p)))


@lowering("transformer")
def _transformer(p, ins, outs):
    return Lowering(Transformer(ins["src"].shape[1], p["nhead"], p["num_encoder_layers"], p["num_decoder_layers"],
                                causal=p["causal"], **_block_options(p)))


@lowering("scaled_dot_product_attention")
def _scaled_dot_product_attention(p, ins, outs):
    scale = p["scale"] or None
    if p["dropout_p"] > 0:
        return Lowering(ScaledDotProductAttention(p["dropout_p"], p["causal"], scale))
    long_mask = p["mask"] and ins["mask"].dtype == "long"
    # torch's ONNX exporter takes a mask with 4-d q, k and v only: a 3-d call gains a dim of 1
    lift = p["mask"] and ins["q"].rank == 2

    def emit(graph, args, target):
        args = list(args)
        if lift:
            args = [graph.call_method("unsqueeze", (a, 1)) for a in args]
        kwargs = {}
        if p["mask"]:
            mask = args[3]
            if long_mask:  # hide where it is 0, as an additive mask
                mask = graph.call_function(torch.where, (graph.call_function(torch.eq, (mask, 0)),
                                                         float("-inf"), 0.0))
            kwargs["attn_mask"] = mask
        if p["causal"]:
            kwargs["is_causal"] = True
        if scale is not None:
            kwargs["scale"] = scale
        out = graph.call_function(F.scaled_dot_product_attention, tuple(args[:3]), kwargs)
        return graph.call_method("squeeze", (out, 1)) if lift else out

    return Lowering(None, emit)
