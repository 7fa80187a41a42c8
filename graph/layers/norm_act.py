"""Normalisation (BatchNorm, LayerNorm) and activation layers.

Shape rules follow PyTorch: BatchNorm picks ``BatchNorm1d`` for ``(C,)`` and
``(C, L)``, ``BatchNorm2d`` for ``(C, H, W)`` and ``BatchNorm3d`` for
``(C, D, H, W)``; LayerNorm normalises the last ``dims`` dims of each sample;
activations keep the shape. All of them need float values: token ids must pass
through an Embedding first. More normalisations are in
:mod:`~layerloom.graph.layers.normalisation`, more activations in
:mod:`~layerloom.graph.layers.activations`.
"""

from __future__ import annotations

import math

from layerloom.graph.errors import ShapeError
from layerloom.graph.layers._util import need_float, torch_dim
from layerloom.graph.params import Bool, Choice, Float, Int
from layerloom.graph.registry import Example, LayerSpec
from layerloom.graph.tensor import TensorSpec, fmt_shape

# --------------------------------------------------------------------- BatchNorm

BATCH_NORM_KINDS = {1: "BatchNorm1d", 2: "BatchNorm1d", 3: "BatchNorm2d", 4: "BatchNorm3d"}


def batch_norm_kind(rank: int) -> str:
    """The torch class a BatchNorm node becomes for an input of per-sample ``rank``."""
    return BATCH_NORM_KINDS[rank]


def _batch_norm_rule(p, ins):
    t = ins["in"]
    need_float("BatchNorm", t)
    if t.rank not in BATCH_NORM_KINDS:
        raise ShapeError(
            f"BatchNorm needs features (C,), a sequence (C, L), an image (C, H, W) or a "
            f"volume (C, D, H, W); it receives {fmt_shape(t.shape)}",
            "insert Reshape or Flatten to bring the input to (C,), (C, L), (C, H, W) or (C, D, H, W)",
        )
    return {"out": t}


def _batch_norm_params(p, ins, outs):
    return 2 * ins["in"].shape[0] if p["affine"] else 0


def _batch_norm_flops(p, ins, outs):
    # subtract the mean, divide by the deviation; scale and shift when affine
    return (4 if p["affine"] else 2) * ins["in"].numel


# --------------------------------------------------------------------- LayerNorm


def layer_norm_shape(p, t) -> tuple[int, ...]:
    """``normalized_shape`` of torch's LayerNorm: the last ``dims`` dims of ``t``."""
    return t.shape[t.rank - p["dims"]:]


def _layer_norm_rule(p, ins):
    t = ins["in"]
    need_float("LayerNorm", t)
    if p["dims"] > t.rank:
        raise ShapeError(
            f"LayerNorm cannot normalise the last {p['dims']} dims of {fmt_shape(t.shape)}, "
            f"which has only {t.rank} (the batch is never normalised)",
            f"set dims to {t.rank} or less",
        )
    return {"out": t}


def _layer_norm_params(p, ins, outs):
    if not p["elementwise_affine"]:
        return 0
    n = math.prod(layer_norm_shape(p, ins["in"]))
    return 2 * n if p["bias"] else n


def _layer_norm_flops(p, ins, outs):
    # mean and variance (about 3 per value), normalise (2), scale and shift (2)
    return (7 if p["elementwise_affine"] else 5) * ins["in"].numel


# ------------------------------------------------------------------- activations


def _elementwise_rule(name: str):
    def rule(p, ins):
        t = ins["in"]
        need_float(name, t)
        return {"out": t}

    return rule


def _softmax_rule(name: str):
    def rule(p, ins):
        t = ins["in"]
        need_float(name, t)
        torch_dim(name, p["dim"], t.rank)
        return {"out": t}

    return rule


def _per_value(cost: int):
    def flops(p, ins, outs):
        return cost * ins["in"].numel

    return flops


def activation(type_id: str, name: str, doc: str, keywords: tuple[str, ...], cost: int = 1,
               params: tuple = (), rule=None, **more) -> LayerSpec:
    """Declaration of an element-wise activation (shape in = shape out).

    ``cost`` is the estimated FLOPs per value; ``params`` the few settings some
    activations have (most have none). ``rule`` replaces the element-wise shape
    rule where the settings must be checked against the input (PReLU, GLU);
    ``more`` goes to :class:`LayerSpec` as is (``examples``, ``param_count``,
    ``flops`` in place of ``cost``).
    """
    more.setdefault("passes_width", True)
    more.setdefault("flops", _per_value(cost))
    return LayerSpec(
        type_id, name, "Activation", doc, params, rule or _elementwise_rule(name),
        keywords=("activation", "nonlinearity", *keywords), **more,
    )


def _dim_param() -> Int:
    return Int(
        "dim", -1, "Dim to normalise over, counting the batch as 0 (-1: the last dim)",
        minimum=-9, maximum=8, key=True,
    )


def _softmax(type_id: str, name: str, doc: str, keywords: tuple[str, ...]) -> LayerSpec:
    # the last dim of features, and the channels of an image (as nn.Softmax2d)
    examples = (Example({"in": TensorSpec((8,))}), Example({"in": TensorSpec((3, 4, 4))}, {"dim": 1}))
    return LayerSpec(
        type_id, name, "Activation", doc, (_dim_param(),), _softmax_rule(name),
        flops=_per_value(5), keywords=("activation", "probabilities", *keywords), passes_width=True,
        examples=examples,
    )


# ------------------------------------------------------------------------- specs

SPECS = [
    LayerSpec(
        "batch_norm", "BatchNorm", "Normalisation",
        "Normalises each channel over the batch: BatchNorm1d for (C,) or (C, L), "
        "BatchNorm2d for (C, H, W), BatchNorm3d for (C, D, H, W); trains on batches of 2 or more samples.",
        (
            Float("eps", 1e-5, "Added to the variance so that it never divides by zero",
                  minimum=1e-12, maximum=1.0),
            Float("momentum", 0.1, "Weight of the newest batch in the running mean and variance",
                  minimum=0.0, maximum=1.0, key=True),
            Bool("affine", True, "Learn a per-channel scale (weight) and shift (bias)"),
            Bool("track_running_stats", True,
                 "Keep running mean and variance for inference; off: always use the "
                 "batch's own statistics"),
        ),
        _batch_norm_rule, param_count=_batch_norm_params, flops=_batch_norm_flops,
        keywords=("batchnorm", "bn", "normalization", "normalisation", "batch normalization",
                  "batchnorm1d", "batchnorm2d", "batchnorm3d"),
        examples=(Example({"in": TensorSpec((3, 2, 4, 4))}), Example({"in": TensorSpec((4, 6))}),
                  Example({"in": TensorSpec((8,))}), Example({"in": TensorSpec((3, 5, 5))})),
    ),
    LayerSpec(
        "layer_norm", "LayerNorm", "Normalisation",
        "Normalises each sample over its last `dims` dims (torch.nn.LayerNorm), "
        "as in transformers.",
        (
            Int("dims", 1, "How many trailing dims to normalise over (1: the features)",
                minimum=1, maximum=8, key=True),
            Float("eps", 1e-5, "Added to the variance so that it never divides by zero",
                  minimum=1e-12, maximum=1.0),
            Bool("elementwise_affine", True, "Learn a scale (weight) per normalised value"),
            Bool("bias", True, "Learn a shift per normalised value (with elementwise_affine)"),
        ),
        _layer_norm_rule, param_count=_layer_norm_params, flops=_layer_norm_flops,
        keywords=("layernorm", "ln", "normalization", "normalisation", "transformer"),
    ),
    activation("relu", "ReLU", "max(0, x): the default activation of deep networks.",
               ("rectifier", "rectified linear")),
    activation("leaky_relu", "LeakyReLU",
               "x for x > 0, negative_slope · x otherwise: keeps a gradient for negative values.",
               ("rectifier", "leaky"),
               params=(Float("negative_slope", 0.01, "Slope for negative inputs",
                             minimum=0.0, maximum=1.0, key=True),)),
    activation("elu", "ELU", "x for x > 0, alpha · (exp(x) − 1) otherwise: smooth below zero.",
               ("exponential linear",), cost=3,
               params=(Float("alpha", 1.0, "Value approached for very negative inputs is −alpha",
                             minimum=0.0, maximum=100.0, key=True),)),
    activation("gelu", "GELU", "x · Φ(x), the Gaussian error linear unit used by transformers.",
               ("gaussian", "transformer", "bert", "gpt"), cost=8,
               params=(Choice("approximate", "none", ("none", "tanh"),
                              "'tanh' uses the faster tanh approximation of Φ", key=True),)),
    activation("silu", "SiLU", "x · sigmoid(x), also called Swish.", ("swish",), cost=4),
    activation("sigmoid", "Sigmoid", "1 / (1 + exp(−x)): squashes values into (0, 1).",
               ("logistic", "squash", "gate"), cost=4),
    activation("tanh", "Tanh", "Hyperbolic tangent: squashes values into (−1, 1).",
               ("hyperbolic", "squash"), cost=4),
    _softmax("softmax", "Softmax", "Turns scores along one dim into probabilities that sum to 1.",
             ("classification", "normalize", "softmax2d")),
    _softmax("log_softmax", "LogSoftmax",
             "log(softmax(x)) along one dim, computed stably (pair it with NLL loss).",
             ("log", "classification", "nll")),
]
