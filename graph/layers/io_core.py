"""Input / Output and core layers: Dense, Flatten, Reshape, Permute, Dropout."""

from __future__ import annotations

import math

from layerloom.graph.errors import ShapeError
from layerloom.graph.layers._util import need_float
from layerloom.graph.params import Bool, Choice, Float, Int, Ints
from layerloom.graph.registry import LayerSpec
from layerloom.graph.tensor import DTYPES, TensorSpec, fmt_shape

# The loss an Output node's value is trained with. "auto": the training settings'
# loss against the dataset's targets (what a graph with one Output always did).
OUTPUT_LOSSES = ("auto", "none", "mse", "l1", "bce", "bce_with_logits", "cross_entropy")
OUTPUT_TARGETS = ("data", "input")

ACTIVATIONS = ("none", "relu", "leaky_relu", "elu", "gelu", "silu", "sigmoid", "tanh", "softmax")


def _input_rule(p, ins):
    return {"out": TensorSpec(tuple(p["shape"]), p["dtype"])}


def _output_rule(p, ins):
    return {}


def _dense_rule(p, ins):
    t = ins["in"]
    need_float("Dense", t)
    if t.rank == 0:
        raise ShapeError("Dense needs at least one feature dim; it receives a scalar")
    return {"out": t.with_shape((*t.shape[:-1], p["units"]))}


def _dense_params(p, ins, outs):
    f = ins["in"].shape[-1]
    return f * p["units"] + (p["units"] if p["bias"] else 0)


def _dense_flops(p, ins, outs):
    t = ins["in"]
    rows = t.numel // t.shape[-1]
    return 2 * rows * t.shape[-1] * p["units"]


def _flatten_rule(p, ins):
    t = ins["in"]
    return {"out": t.with_shape((t.numel,))}


def _reshape_rule(p, ins):
    t = ins["in"]
    target = list(p["shape"])
    unknown = [i for i, d in enumerate(target) if d == -1]
    if len(unknown) > 1:
        raise ShapeError(f"Reshape: only one dim may be -1, got {fmt_shape(target)}")
    if any(d == 0 or d < -1 for d in target):
        raise ShapeError(f"Reshape: dims must be positive or -1, got {fmt_shape(target)}")
    known = math.prod(d for d in target if d != -1)
    if unknown:
        if t.numel % known:
            raise ShapeError(
                f"Reshape cannot fit {t.numel} values of {fmt_shape(t.shape)} into {fmt_shape(target)}",
                f"choose dims whose product divides {t.numel}",
            )
        target[unknown[0]] = t.numel // known
    elif known != t.numel:
        raise ShapeError(
            f"Reshape cannot turn {fmt_shape(t.shape)} ({t.numel} values) into "
            f"{fmt_shape(target)} ({known} values)",
            "use -1 for one dim to let it be computed",
        )
    return {"out": t.with_shape(target)}


def _permute_rule(p, ins):
    t = ins["in"]
    dims = p["dims"]
    if sorted(dims) != list(range(1, t.rank + 1)):
        raise ShapeError(
            f"Permute dims {list(dims)} must be a reordering of 1..{t.rank} for input "
            f"{fmt_shape(t.shape)} (dim 0, the batch, stays first)"
        )
    return {"out": t.with_shape(tuple(t.shape[d - 1] for d in dims))}


def _same_rule(p, ins):
    return {"out": ins["in"]}


SPECS = [
    LayerSpec(
        "input", "Input", "Input / Output",
        "A model input: the shape of one sample, without the batch dim.",
        (
            Ints("shape", (2,), "Shape of one sample, without the batch dim", minimum=1, key=True),
            Choice("dtype", "float", DTYPES, "float for features, long for token ids", key=True),
        ),
        _input_rule, inputs=(), flops=lambda p, i, o: 0,
        keywords=("data", "placeholder", "source"),
    ),
    LayerSpec(
        "output", "Output", "Input / Output",
        "A model output: its input is returned by the model (and fed to the loss).",
        (
            Choice("loss", "auto", OUTPUT_LOSSES,
                   "Loss on this output: auto = the training loss against the dataset's targets; "
                   "none = no loss; or a loss of its own (bce: on probabilities)"),
            Choice("target", "data", OUTPUT_TARGETS,
                   "What the loss compares the output with: the dataset's targets, or the "
                   "model's input (an autoencoder's reconstruction)"),
            Float("weight", 1.0, "Weight of this output's loss in the total loss", minimum=0.0,
                  maximum=1e6),
        ),
        _output_rule, outputs=(), flops=lambda p, i, o: 0,
        keywords=("result", "prediction", "logits", "sink"),
    ),
    LayerSpec(
        "dense", "Dense", "Core",
        "Fully connected layer y = xWᵀ + b on the last dim (torch.nn.Linear).",
        (
            Int("units", 32, "Number of output features", minimum=1, maximum=1_000_000, key=True),
            Bool("bias", True, "Learn an additive bias"),
            Choice("activation", "none", ACTIVATIONS, "Activation applied after the layer", key=True),
        ),
        _dense_rule, param_count=_dense_params, flops=_dense_flops,
        keywords=("linear", "fully connected", "fc", "perceptron", "mlp"),
        aliases=("linear",), width_param="units",
    ),
    LayerSpec(
        "flatten", "Flatten", "Core",
        "Flattens each sample to one dim: (C, H, W) -> (C·H·W,).",
        (), _flatten_rule, flops=lambda p, i, o: 0, keywords=("reshape", "vector"),
    ),
    LayerSpec(
        "reshape", "Reshape", "Core",
        "Gives each sample a new shape with the same number of values (-1: computed).",
        (Ints("shape", (-1,), "Target shape without the batch dim; one dim may be -1", minimum=-1, key=True),),
        _reshape_rule, flops=lambda p, i, o: 0, keywords=("view", "unflatten"),
    ),
    LayerSpec(
        "permute", "Permute", "Core",
        "Reorders dims like tensor.permute(0, *dims); dims count from 1 (0 is the batch).",
        (Ints("dims", (2, 1), "New order of dims 1..rank", minimum=1, key=True),),
        _permute_rule, flops=lambda p, i, o: 0, keywords=("transpose", "swap", "axes"),
    ),
    LayerSpec(
        "dropout", "Dropout", "Core",
        "Zeroes a random share p of values while training; identity at inference.",
        (Float("p", 0.5, "Probability of dropping a value", minimum=0.0, maximum=1.0, key=True),),
        _same_rule, keywords=("regularisation", "regularization"), passes_width=True,
    ),
]
