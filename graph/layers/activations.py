"""More activations: the rest of ``torch.nn``'s element-wise nonlinearities, PReLU
(a learned slope), GLU (halves one dim) and Identity.

They are declared with :func:`~layerloom.graph.layers.norm_act.activation`, like
ReLU and GELU, and keep the shape of their input, except GLU, which gates one
half of a dim with the other and so halves that dim. Their settings carry
PyTorch's names (``lambd``, ``min_val``), so a model reads the same in LayerLoom,
in its Python export and in the PyTorch documentation.
"""

from __future__ import annotations

from layerloom.graph.errors import ShapeError
from layerloom.graph.layers._util import need_float, torch_dim
from layerloom.graph.layers.norm_act import activation
from layerloom.graph.params import Float, Int
from layerloom.graph.registry import Example
from layerloom.graph.tensor import TensorSpec, fmt_shape

MAX_SLOPES = 65_536  # PReLU's num_parameters: one per channel at most


def _example(*shape: int, **params) -> tuple[Example, ...]:
    return (Example({"in": TensorSpec(shape)}, params),)


# -------------------------------------------------------------------- PReLU
def _prelu_rule(p, ins):
    t = ins["in"]
    need_float("PReLU", t)
    n = p["num_parameters"]
    if n not in (1, t.shape[0]):
        raise ShapeError(
            f"PReLU with num_parameters={n} needs {n} channels in dim 1, but the input "
            f"{fmt_shape(t.shape)} has {t.shape[0]}",
            f"set num_parameters to 1 (one shared slope) or {t.shape[0]} (one per channel)",
        )
    return {"out": t}


# ---------------------------------------------------------------------- GLU
def _glu_rule(p, ins):
    t = ins["in"]
    need_float("GLU", t)
    d = torch_dim("GLU", p["dim"], t.rank)
    size = t.shape[d]
    if size % 2:
        raise ShapeError(
            f"GLU splits dim {p['dim']} into two halves, but it has odd size {size} in "
            f"{fmt_shape(t.shape)}",
            f"give dim {p['dim']} an even size (a Dense or convolution of {size + 1} before it), "
            "or choose another dim",
        )
    shape = list(t.shape)
    shape[d] = size // 2
    return {"out": t.with_shape(shape)}


def _glu_flops(p, ins, outs):
    # a sigmoid (about 4) and a product per output value
    return 5 * outs["out"].numel


# ----------------------------------------------------------------- Hardtanh
def _hardtanh_rule(p, ins):
    t = ins["in"]
    need_float("Hardtanh", t)
    if p["max_val"] <= p["min_val"]:
        raise ShapeError(
            f"Hardtanh needs max_val above min_val; it has min_val={p['min_val']} and "
            f"max_val={p['max_val']}",
            "swap the two, or raise max_val",
        )
    return {"out": t}


def _identity_rule(p, ins):
    return {"out": ins["in"]}


def _lambd(default: float) -> Float:
    return Float("lambd", default, "Half-width of the band around 0 that is set to 0 (PyTorch's lambd)",
                 minimum=0.0, maximum=1e6, key=True)


SPECS = [
    activation(
        "prelu", "PReLU",
        "x for x > 0, a · x otherwise, with the slope a learned (one shared, or one per channel).",
        ("parametric", "rectifier", "learned slope", "leaky"), cost=2,
        params=(
            Int("num_parameters", 1, "How many slopes to learn: 1 (shared) or the number of "
                "channels (dim 1) of the input", minimum=1, maximum=MAX_SLOPES, key=True),
            Float("init", 0.25, "Starting value of the slopes", minimum=-1e6, maximum=1e6),
        ),
        rule=_prelu_rule, param_count=lambda p, i, o: p["num_parameters"],
        examples=_example(4, 6, num_parameters=4),
    ),
    activation("relu6", "ReLU6", "min(max(0, x), 6): ReLU capped at 6, as in MobileNet.",
               ("rectifier", "mobilenet", "clip"), examples=_example(4, 6)),
    activation("selu", "SELU",
               "scale · ELU(x) with fixed constants, so that activations keep mean 0 and variance 1.",
               ("scaled exponential", "self-normalizing", "self-normalising"), cost=4,
               examples=_example(4, 6)),
    activation("celu", "CELU", "max(0, x) + min(0, alpha · (exp(x / alpha) − 1)): a smooth ELU.",
               ("continuously differentiable exponential",), cost=4,
               params=(Float("alpha", 1.0, "Value approached for very negative inputs is −alpha",
                             minimum=0.0, maximum=1e6, exclusive_minimum=True, key=True),),
               examples=_example(4, 6, alpha=0.5)),
    activation("softplus", "Softplus",
               "log(1 + exp(beta · x)) / beta: a smooth ReLU; linear where beta · x > threshold.",
               ("smooth relu",), cost=4,
               params=(
                   Float("beta", 1.0, "Sharpness: larger values come closer to ReLU",
                         minimum=0.0, maximum=1e6, exclusive_minimum=True, key=True),
                   Float("threshold", 20.0, "Above this value of beta · x the result is x itself "
                         "(for numerical stability)", minimum=-1e6, maximum=1e6),
               ),
               examples=_example(4, 6, beta=2.0, threshold=1.0)),
    activation("softsign", "Softsign", "x / (1 + |x|): squashes values into (−1, 1), slower than tanh.",
               ("squash",), cost=3, examples=_example(4, 6)),
    activation("softshrink", "Softshrink",
               "x − lambd for x > lambd, x + lambd for x < −lambd, 0 between: soft thresholding.",
               ("shrinkage", "soft threshold", "sparse"), cost=2,
               params=(_lambd(0.5),), examples=_example(4, 6, lambd=0.3)),
    activation("hardshrink", "Hardshrink", "x where |x| > lambd, 0 elsewhere: hard thresholding.",
               ("shrinkage", "hard threshold", "sparse"), cost=2,
               params=(_lambd(0.5),), examples=_example(4, 6, lambd=0.3)),
    activation("hardswish", "Hardswish", "x · ReLU6(x + 3) / 6: a cheap Swish, as in MobileNetV3.",
               ("swish", "mobilenet"), cost=4, examples=_example(4, 6)),
    activation("hardsigmoid", "Hardsigmoid", "ReLU6(x + 3) / 6: a cheap, piecewise linear sigmoid.",
               ("sigmoid", "mobilenet", "gate"), cost=3, examples=_example(4, 6)),
    activation("hardtanh", "Hardtanh", "x clipped to [min_val, max_val]: a piecewise linear tanh.",
               ("clip", "clamp", "tanh"), cost=2,
               params=(
                   Float("min_val", -1.0, "Lower bound of the output", minimum=-1e6, maximum=1e6, key=True),
                   Float("max_val", 1.0, "Upper bound of the output (above min_val)",
                         minimum=-1e6, maximum=1e6, key=True),
               ),
               rule=_hardtanh_rule, examples=_example(4, 6, min_val=-2.0, max_val=3.0)),
    activation("mish", "Mish", "x · tanh(softplus(x)): smooth and non-monotonic, as in YOLOv4.",
               ("yolo", "self regularized"), cost=8, examples=_example(4, 6)),
    activation("log_sigmoid", "LogSigmoid", "log(sigmoid(x)) = −softplus(−x), computed stably.",
               ("log", "logistic"), cost=5, examples=_example(4, 6)),
    activation(
        "glu", "GLU",
        "Gated linear unit: splits dim into halves a and b and gives a · sigmoid(b) (half the size).",
        ("gated linear unit", "gate", "split"),
        params=(Int("dim", -1, "Dim to split in two, counting the batch as 0 (-1: the last dim)",
                    minimum=-9, maximum=8, key=True),),
        rule=_glu_rule, flops=_glu_flops, passes_width=False, examples=_example(4, 6),
    ),
    activation("threshold", "Threshold", "x where x > threshold, value elsewhere.",
               ("step", "cut"), cost=1,
               params=(
                   Float("threshold", 0.0, "Values at or below this are replaced", minimum=-1e6,
                         maximum=1e6, key=True),
                   Float("value", 0.0, "What replaces them", minimum=-1e6, maximum=1e6, key=True),
               ),
               examples=_example(4, 6, threshold=0.1, value=20.0)),
    activation("tanhshrink", "Tanhshrink", "x − tanh(x).", ("shrinkage", "tanh"), cost=5,
               examples=_example(4, 6)),
    activation("identity", "Identity",
               "Passes its input through unchanged (torch.nn.Identity): a placeholder or a named tap.",
               ("pass", "no-op", "noop", "placeholder"), cost=0, rule=_identity_rule,
               examples=_example(4, 6)),
]
