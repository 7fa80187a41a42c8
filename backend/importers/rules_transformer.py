"""Importer rules of TransformerDecoderLayer, Transformer and scaled dot-product
attention.

PyTorch: ``nn.TransformerEncoderLayer``, ``nn.TransformerDecoderLayer`` and
``nn.Transformer`` (batch first),
with no mask or the causal target mask (``generate_square_subsequent_mask``, or
``tgt_is_causal`` with it); ``F.scaled_dot_product_attention`` with an additive
float mask, a boolean mask of a tensor (``mask.bool()``, ``mask != 0``), the
causal flag and a scale; LayerLoom's own classes as themselves. Padding masks of
the Transformer's inputs and memory masks have no LayerLoom counterpart and are
refused.

ONNX: the exporter decomposes all three; the decoder layer and the Transformer
are LayerLoom module classes that :mod:`~layerloom.backend.importers.onnx_modules`
folds by the module the exporter records, and scaled dot-product attention is
folded by the fx node its operators name (:mod:`~layerloom.backend.importers.onnx_sdpa`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from layerloom.backend.importers.common import Unsupported, Value, refuse
from layerloom.backend.importers.onnx_modules import Call, divisors, fitter, head_hints
from layerloom.backend.importers.onnx_rules import _float
from layerloom.backend.importers.onnx_sdpa import tag_attention_calls
from layerloom.backend.importers.rules_math import BoolMask
from layerloom.backend.importers.torch_masks import causal_flag
from layerloom.backend.importers.torch_modules import _layer
from layerloom.backend.importers.torch_rules import arg
from layerloom.backend.lowerings import transformer as ll_transformer

LL = "layerloom.backend.lowerings.transformer."
TORCH = "torch.nn.modules.transformer."


# ------------------------------------------------------------------ masks of sdpa
@dataclass(frozen=True)
class LongMask:
    """``torch.where(x == 0, -inf, 0.0)``: the additive mask of a long ``x``."""

    value: Value

    def __repr__(self) -> str:
        return "an attention mask (LayerLoom reads it on an attention layer's mask port only)"


def _where():
    """``torch.where(tokens == 0, -inf, 0.0)`` of long tokens: an additive
    attention mask; other selections go to the rule this one took the place of
    (see :func:`families._join`)."""
    def rule(mp, node):
        test = mp.entry(node.args[0])
        if (isinstance(test, BoolMask) and test.invert and test.value.dtype == "long"
                and len(node.args) == 3 and not node.kwargs):
            hidden, kept = node.args[1], node.args[2]
            if isinstance(hidden, float) and math.isinf(hidden) and hidden < 0 and kept == 0:
                return LongMask(test.value)
        if rule.previous is None:
            raise Unsupported("selects with torch.where; LayerLoom reads it as an attention mask only")
        return rule.previous(mp, node)

    rule.previous = None
    return rule


def _sdpa_mask(mp, mask) -> Value | None:
    """The tensor for the mask port: a float mask as it is, or a long tensor whose
    non-zero values mark the positions kept."""
    if mask is None:
        return None
    entry = mp.entry(mask)
    if isinstance(entry, LongMask) or (isinstance(entry, BoolMask) and not entry.invert):
        refuse(entry.value.dtype != "long", "is given a boolean of a float tensor as its mask; give it "
               "an additive float mask, or the boolean of a long one")
        return entry.value
    value = mp.tensor(mask)
    refuse(value.dtype != "float", "is given a mask that is neither float nor boolean")
    return value


SDPA_ARGS = ("query", "key", "value", "attn_mask", "dropout_p", "is_causal", "scale", "enable_gqa")
SDPA_DEFAULTS = (None, None, None, None, 0.0, False, None, False)


def _scaled_dot_product_attention(mp, node):
    refuse(len(node.args) > len(SDPA_ARGS) or any(k not in SDPA_ARGS for k in node.kwargs),
           "is called with unknown arguments")
    a = {name: arg(node, i, name, d) for i, (name, d) in enumerate(zip(SDPA_ARGS, SDPA_DEFAULTS, strict=True))}
    refuse(bool(a["enable_gqa"]), "enable_gqa=True (grouped-query attention)")
    for name in ("dropout_p", "is_causal", "scale"):
        refuse(a[name] is not None and not isinstance(a[name], (bool, int, float)),
               f"computes {name} from tensors; LayerLoom needs a constant")
    inputs = [mp.tensor(a[name]) for name in ("query", "key", "value")]
    mask = _sdpa_mask(mp, a["attn_mask"])
    params = {"mask": mask is not None, "causal": bool(a["is_causal"]), "scale": float(a["scale"] or 0.0),
              "dropout_p": float(a["dropout_p"])}
    return mp.add(node, "scaled_dot_product_attention", params, inputs + ([mask] if mask is not None else []))


def _sdpa_module(mp, node, m):
    refuse(bool(node.kwargs) or len(node.args) not in (3, 4), "is called with other arguments")
    inputs = [mp.tensor(a) for a in node.args[:3]]
    if len(node.args) == 4:
        inputs.append(mp.tensor(node.args[3]))
    params = {"mask": len(inputs) == 4, "causal": bool(m.causal), "scale": float(m.scale or 0.0),
              "dropout_p": float(m.dropout_p)}
    return _layer(mp, node, m, "scaled_dot_product_attention", params, inputs)


# ------------------------------------------------------------------ decoder, transformer
def _activation(layer) -> str:
    fn = layer.activation
    if fn is F.relu or isinstance(fn, nn.ReLU):
        return "relu"
    if fn is F.gelu or (isinstance(fn, nn.GELU) and fn.approximate == "none"):
        return "gelu"
    raise Unsupported("a custom activation; LayerLoom's transformer layers use relu or gelu")


def block_params(layer, causal: bool) -> dict:
    refuse(not layer.self_attn.batch_first, "batch_first=False; set batch_first=True")
    return {
        "nhead": layer.self_attn.num_heads, "dim_feedforward": layer.linear1.out_features,
        "dropout": float(layer.dropout.p), "activation": _activation(layer), "norm_first": layer.norm_first,
        "causal": causal, "layer_norm_eps": layer.norm1.eps, "bias": layer.linear1.bias is not None,
    }


def _call(node, names: tuple[str, ...]) -> dict:
    refuse(len(node.args) > len(names) or any(k not in names for k in node.kwargs),
           "is called with unknown arguments")
    return {name: arg(node, i, name) for i, name in enumerate(names)}


def _no_padding(a: dict, names: tuple[str, ...]) -> None:
    for name in names:
        refuse(a.get(name) is not None,
               f"is given {name}; LayerLoom's transformer layers take the causal target mask only")


DECODER_ARGS = ("tgt", "memory", "tgt_mask", "memory_mask", "tgt_key_padding_mask", "memory_key_padding_mask",
                "tgt_is_causal", "memory_is_causal")


def _decoder_layer(mp, node, m: nn.TransformerDecoderLayer):
    a = _call(node, DECODER_ARGS)
    _no_padding(a, ("memory_mask", "tgt_key_padding_mask", "memory_key_padding_mask"))
    refuse(bool(a["memory_is_causal"]), "memory_is_causal=True")
    tgt, memory = mp.tensor(a["tgt"]), mp.tensor(a["memory"])
    causal = causal_flag(mp, a["tgt_mask"], tgt.shape[0], tgt.shape[0], bool(a["tgt_is_causal"]))
    return _layer(mp, node, m, "transformer_decoder_layer", block_params(m, causal), [tgt, memory])


def _layerloom_decoder(mp, node, m):
    refuse(bool(node.kwargs) or len(node.args) != 2, "is called with other arguments")
    inputs = [mp.tensor(x) for x in node.args]
    return _layer(mp, node, m, "transformer_decoder_layer", block_params(m, bool(m.causal)), inputs)


ENCODER_ARGS = ("src", "src_mask", "src_key_padding_mask", "is_causal")


def _encoder_layer(mp, node, m: nn.TransformerEncoderLayer):
    """``nn.TransformerEncoderLayer`` with no mask or the causal one."""
    a = _call(node, ENCODER_ARGS)
    _no_padding(a, ("src_key_padding_mask",))
    src = mp.tensor(a["src"])
    causal = causal_flag(mp, a["src_mask"], src.shape[0], src.shape[0], bool(a["is_causal"]))
    return _layer(mp, node, m, "transformer_encoder_layer", block_params(m, causal), [src])


TRANSFORMER_ARGS = ("src", "tgt", "src_mask", "tgt_mask", "memory_mask", "src_key_padding_mask",
                    "tgt_key_padding_mask", "memory_key_padding_mask", "src_is_causal", "tgt_is_causal",
                    "memory_is_causal")


def transformer_params(m: nn.Transformer, causal: bool) -> dict:
    encoder, decoder = m.encoder, m.decoder
    refuse(not isinstance(encoder, nn.TransformerEncoder) or not isinstance(decoder, nn.TransformerDecoder),
           "a custom encoder or decoder")
    refuse(encoder.norm is None or decoder.norm is None, "an encoder or decoder without its final LayerNorm")
    layers = [*encoder.layers, *decoder.layers]
    first = block_params(decoder.layers[0], causal)
    refuse(any({**block_params(layer, causal), "causal": causal} != first for layer in layers[len(encoder.layers):])
           or any(block_params(layer, causal) != first for layer in encoder.layers),
           "layers of different settings")
    return {"num_encoder_layers": len(encoder.layers), "num_decoder_layers": len(decoder.layers), **first}


def _transformer(mp, node, m: nn.Transformer):
    a = _call(node, TRANSFORMER_ARGS)
    _no_padding(a, ("src_mask", "memory_mask", "src_key_padding_mask", "tgt_key_padding_mask",
                    "memory_key_padding_mask"))
    refuse(bool(a["src_is_causal"]) or bool(a["memory_is_causal"]), "src_is_causal or memory_is_causal is set")
    src, tgt = mp.tensor(a["src"]), mp.tensor(a["tgt"])
    causal = causal_flag(mp, a["tgt_mask"], tgt.shape[0], tgt.shape[0], bool(a["tgt_is_causal"]))
    return _layer(mp, node, m, "transformer", transformer_params(m, causal), [src, tgt])


def _layerloom_transformer(mp, node, m):
    refuse(bool(node.kwargs) or len(node.args) != 2, "is called with other arguments")
    inputs = [mp.tensor(x) for x in node.args]
    return _layer(mp, node, m, "transformer", transformer_params(m, bool(m.causal)), inputs)


# ------------------------------------------------------------------ ONNX fitters
def _block_candidates(call: Call, d: int, key: str):
    shape = call.weight_shape(key)
    if shape is None:
        return
    feedforward = shape[0] if shape[1] == d else shape[1]
    eps = _float(call.epsilons[0])
    for heads in divisors(d, head_hints(call, d)):
        for norm_first in (False, True):
            for activation in ("relu", "gelu"):
                for causal in (False, True):
                    for bias in (True, False):
                        yield {"nhead": heads, "dim_feedforward": feedforward, "dropout": 0.0,
                               "activation": activation, "norm_first": norm_first, "causal": causal,
                               "layer_norm_eps": eps, "bias": bias}


@fitter(f"{LL}DecoderLayer", f"{TORCH}TransformerDecoderLayer")
def _fit_decoder(call: Call):
    if len(call.shapes) != 2:
        return
    for params in _block_candidates(call, call.shapes[0][-1], "linear1.weight"):
        yield "transformer_decoder_layer", params


@fitter(f"{LL}Transformer", f"{TORCH}Transformer")
def _fit_transformer(call: Call):
    if len(call.shapes) != 2:
        return
    encoders = decoders = 0
    while call.has(f"encoder.layers.{encoders}"):
        encoders += 1
    while call.has(f"decoder.layers.{decoders}"):
        decoders += 1
    if not encoders or not decoders:
        return
    for params in _block_candidates(call, call.shapes[0][-1], "encoder.layers.0.linear1.weight"):
        yield "transformer", {"num_encoder_layers": encoders, "num_decoder_layers": decoders, **params}


FUNCTIONS = {
    F.scaled_dot_product_attention: _scaled_dot_product_attention,
    torch.where: _where(),
}
MODULES = {
    nn.TransformerEncoderLayer: _encoder_layer,
    nn.TransformerDecoderLayer: _decoder_layer,
    nn.Transformer: _transformer,
    ll_transformer.DecoderLayer: _layerloom_decoder,
    ll_transformer.Transformer: _layerloom_transformer,
    ll_transformer.ScaledDotProductAttention: _sdpa_module,
}
ONNX_REWRITES = (tag_attention_calls,)
