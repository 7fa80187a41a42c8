"""Importer rules of the Recurrent and Attention families.

ONNX: torch's exporter decomposes attention layers and plain RNNs into matrix
products and unrolled steps; :mod:`~layerloom.backend.importers.onnx_modules`
folds each call back into one operator, and the fitters below say which
LayerLoom layer settings to try for each module class.
"""

from __future__ import annotations

from layerloom.backend.importers.onnx_modules import (
    FOLDED,
    Call,
    divisors,
    fitter,
    head_hints,
    module_rule,
)
from layerloom.backend.importers.onnx_rules import _float

LL_ATTENTION = "layerloom.backend.lowerings.attention."
LL_RECURRENT = "layerloom.backend.lowerings.recurrent."
TORCH_ATTENTION = "torch.nn.modules.activation.MultiheadAttention"
TORCH_ENCODER = "torch.nn.modules.transformer.TransformerEncoderLayer"


# ------------------------------------------------------------------ ONNX fitters
@fitter(f"{LL_ATTENTION}SelfAttention", f"{LL_ATTENTION}CrossAttention")
def _fit_attention(call: Call):
    shape = call.weight_shape("out_proj.weight")
    if shape is None or len(call.shapes) not in (1, 2):
        return
    embed = shape[0]
    mode = "self" if len(call.shapes) == 1 else "cross"
    for heads in divisors(embed, head_hints(call, embed)):
        for causal in (False, True):
            for bias in (True, False):
                yield "multi_head_attention", {"mode": mode, "num_heads": heads, "causal": causal,
                                               "bias": bias, "dropout": 0.0}


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


@fitter(f"{LL_RECURRENT}RNN")
def _fit_rnn(call: Call):
    shape = call.weight_shape("weight_hh_l0")
    if shape is None or len(call.shapes) != 1:
        return
    layers = 1
    while call.weight_shape(f"weight_hh_l{layers}") is not None:
        layers += 1
    bidirectional = call.weight_shape("weight_hh_l0_reverse") is not None
    for nonlinearity in ("tanh", "relu"):
        for sequences in (True, False):
            for bias in (True, False):
                yield "rnn", {"hidden_size": shape[0], "num_layers": layers, "bidirectional": bidirectional,
                              "dropout": 0.0, "bias": bias, "return_sequences": sequences,
                              "nonlinearity": nonlinearity}


ONNX = {FOLDED: module_rule}
