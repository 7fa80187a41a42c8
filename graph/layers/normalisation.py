"""More normalisations: GroupNorm, InstanceNorm, RMSNorm and LocalResponseNorm.

Inputs are channels-first per sample, as for BatchNorm. InstanceNorm picks
``InstanceNorm1d`` for ``(C, L)``, ``InstanceNorm2d`` for ``(C, H, W)`` and
``InstanceNorm3d`` for ``(C, D, H, W)``, the way BatchNorm picks its class;
RMSNorm normalises the last ``dims`` dims like LayerNorm. The shape rules refuse
what PyTorch refuses (groups that do not divide the channels, a single value
per instance), and a ``(C,)`` input for InstanceNorm, which PyTorch would read as
one unbatched ``(C, L)`` sample with the batch as channels.
"""

from __future__ import annotations

import math

from layerloom.graph.errors import ShapeError
from layerloom.graph.layers._util import need_float
from layerloom.graph.params import Bool, Float, Int
from layerloom.graph.registry import Example, LayerSpec
from layerloom.graph.tensor import TensorSpec, fmt_shape

MAX_GROUPS = 65_536
INSTANCE_NORM_KINDS = {2: "InstanceNorm1d", 3: "InstanceNorm2d", 4: "InstanceNorm3d"}
KEYWORDS = ("normalization", "normalisation")


def _eps(default: float | None = 1e-5) -> Float:
    unset = "the float32 machine epsilon (PyTorch's default)" if default is None else ""
    return Float("eps", default, "Added to the variance so that it never divides by zero",
                 minimum=1e-12, maximum=1.0, unset=unset)


def _channels_first(name: str, t: TensorSpec) -> int:
    need_float(name, t)
    return t.shape[0]


# ---------------------------------------------------------------- GroupNorm
def _group_norm_rule(p, ins):
    t = ins["in"]
    channels = _channels_first("GroupNorm", t)
    groups = p["num_groups"]
    if channels % groups:
        divisors = [g for g in range(1, channels + 1) if channels % g == 0]
        near = min(divisors, key=lambda g: (abs(g - groups), g))
        raise ShapeError(
            f"GroupNorm num_groups={groups} must divide the {channels} channels (dim 1) of "
            f"the input {fmt_shape(t.shape)}",
            f"set num_groups to a divisor of {channels}, such as {near}",
        )
    return {"out": t}


def _affine_params(p, ins, outs):
    return 2 * ins["in"].shape[0] if p["affine"] else 0


def _norm_flops(p, ins, outs):
    # mean and variance (about 3 per value), normalise (2), scale and shift (2)
    return (7 if p["affine"] else 5) * ins["in"].numel


# ------------------------------------------------------------- InstanceNorm
def instance_norm_kind(rank: int) -> str:
    """The torch class an InstanceNorm node becomes for an input of per-sample ``rank``."""
    return INSTANCE_NORM_KINDS[rank]


def _instance_norm_rule(p, ins):
    t = ins["in"]
    need_float("InstanceNorm", t)
    if t.rank not in INSTANCE_NORM_KINDS:
        fix = ("insert a Reshape to (C, L) first; features (C,) have no positions to "
               "normalise over (use LayerNorm for them)") if t.rank == 1 else \
            "insert a Reshape to (C, L), (C, H, W) or (C, D, H, W)"
        raise ShapeError(
            f"InstanceNorm needs a sequence (C, L), an image (C, H, W) or a volume "
            f"(C, D, H, W); it receives {fmt_shape(t.shape)}", fix,
        )
    if math.prod(t.shape[1:]) == 1:
        raise ShapeError(
            f"InstanceNorm normalises each channel over its positions, but the input "
            f"{fmt_shape(t.shape)} has a single one (PyTorch refuses it in training)",
            "normalise a larger feature map, or use LayerNorm or BatchNorm",
        )
    return {"out": t}


# ------------------------------------------------------------------ RMSNorm
def rms_norm_shape(p, t: TensorSpec) -> tuple[int, ...]:
    """``normalized_shape`` of torch's RMSNorm: the last ``dims`` dims of ``t``."""
    return t.shape[t.rank - p["dims"]:]


def _rms_norm_rule(p, ins):
    t = ins["in"]
    need_float("RMSNorm", t)
    if p["dims"] > t.rank:
        raise ShapeError(
            f"RMSNorm cannot normalise the last {p['dims']} dims of {fmt_shape(t.shape)}, "
            f"which has only {t.rank} (the batch is never normalised)",
            f"set dims to {t.rank} or less",
        )
    return {"out": t}


def _rms_norm_params(p, ins, outs):
    return math.prod(rms_norm_shape(p, ins["in"])) if p["elementwise_affine"] else 0


def _rms_norm_flops(p, ins, outs):
    # square, mean, root (about 3 per value), scale (1), weight (1)
    return (5 if p["elementwise_affine"] else 4) * ins["in"].numel


# ---------------------------------------------------------------------- LRN
def _lrn_rule(p, ins):
    t = ins["in"]
    need_float("LocalResponseNorm", t)
    if t.rank < 2:
        raise ShapeError(
            f"LocalResponseNorm normalises across the channels of a feature map (C, L), "
            f"(C, H, W) or more; it receives {fmt_shape(t.shape)}",
            f"insert a Reshape to (C, L), such as (1, {t.shape[0]})" if t.rank == 1 else None,
        )
    return {"out": t}


def _lrn_flops(p, ins, outs):
    # a square and a window sum of `size` squares, then scale, shift, power and divide
    return (p["size"] + 5) * ins["in"].numel


def _example(*shape: int, policy: bool = False, **params) -> Example:
    return Example({"in": TensorSpec(shape)}, params, policy=policy)


SPECS = [
    LayerSpec(
        "group_norm", "GroupNorm", "Normalisation",
        "Normalises each sample over groups of channels (and all positions): works with any batch size.",
        (
            Int("num_groups", 1, "Groups the channels are split into; must divide the channels "
                "(1: like LayerNorm over (C, ...), C: like InstanceNorm)",
                minimum=1, maximum=MAX_GROUPS, key=True),
            _eps(),
            Bool("affine", True, "Learn a per-channel scale (weight) and shift (bias)"),
        ),
        _group_norm_rule, param_count=_affine_params, flops=_norm_flops,
        keywords=("groupnorm", "gn", *KEYWORDS, "group normalization", "diffusion", "unet"),
        examples=(_example(4, 3, 3, num_groups=2), _example(6, 5, num_groups=3), _example(8, num_groups=4)),
    ),
    LayerSpec(
        "instance_norm", "InstanceNorm", "Normalisation",
        "Normalises each channel of each sample over its positions: InstanceNorm1d for (C, L), "
        "InstanceNorm2d for (C, H, W), InstanceNorm3d for (C, D, H, W); used in style transfer.",
        (
            _eps(),
            Float("momentum", 0.1, "Weight of the newest batch in the running mean and variance "
                  "(with track_running_stats)", minimum=0.0, maximum=1.0),
            Bool("affine", False, "Learn a per-channel scale (weight) and shift (bias)", key=True),
            Bool("track_running_stats", False,
                 "Keep running mean and variance and use them at inference; off: always use "
                 "each sample's own statistics", key=True),
        ),
        _instance_norm_rule, param_count=_affine_params, flops=_norm_flops,
        keywords=("instancenorm", "instancenorm1d", "instancenorm2d", "instancenorm3d", *KEYWORDS,
                  "instance normalization", "style transfer"),
        examples=(_example(3, 4, 4, affine=True), _example(4, 6), _example(2, 3, 3, 3, affine=True),
                  # at inference running statistics would do with one position; training would not
                  _example(4, 5, affine=True, track_running_stats=True, policy=True)),
    ),
    LayerSpec(
        "rms_norm", "RMSNorm", "Normalisation",
        "Divides each sample by the root mean square of its last `dims` dims (torch.nn.RMSNorm), "
        "as in LLaMA; no mean is subtracted.",
        (
            Int("dims", 1, "How many trailing dims to normalise over (1: the features)",
                minimum=1, maximum=8, key=True),
            _eps(None),
            Bool("elementwise_affine", True, "Learn a scale (weight) per normalised value"),
        ),
        _rms_norm_rule, param_count=_rms_norm_params, flops=_rms_norm_flops,
        keywords=("rmsnorm", "root mean square", *KEYWORDS, "llama", "transformer"),
        examples=(_example(4, 6), _example(3, 4, 5, dims=2, eps=1e-3)),
    ),
    LayerSpec(
        "local_response_norm", "LocalResponseNorm", "Normalisation",
        "Divides each value by the activity of `size` neighbouring channels at its position, "
        "as in AlexNet.",
        (
            Int("size", 5, "How many neighbouring channels to sum over", minimum=1, maximum=1024, key=True),
            Float("alpha", 1e-4, "Multiplier of the average of squares", minimum=0.0, maximum=1e6),
            Float("beta", 0.75, "Exponent of the divisor", minimum=0.0, maximum=1e6),
            Float("k", 1.0, "Added to the divisor before the exponent", minimum=0.0, maximum=1e6),
        ),
        _lrn_rule, flops=_lrn_flops,
        keywords=("lrn", "local response normalization", *KEYWORDS, "alexnet"),
        examples=(_example(4, 5, 5, size=3), _example(6, 7, size=2, alpha=0.5)),
    ),
]
