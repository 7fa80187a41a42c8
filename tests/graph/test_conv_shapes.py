"""Convolution and pooling shape rules agree with PyTorch itself.

Hypothesis draws input shapes and layer parameters, valid and invalid mixed. The
same layer is built as a torch module and run on a tiny tensor: where torch runs,
inference must give exactly its output shape and parameter count (and, for
convolutions, the FLOPs torch's own counter reports); where torch refuses, the
node must carry a shape error that quotes the input shape. The graph side goes
through the public API only: Input -> layer -> Output, then ``analysis()``.
"""

from __future__ import annotations

import warnings

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from layerloom.graph import REGISTRY, Graph, ParamError, fmt_shape

EXAMPLES = settings(max_examples=60, deadline=None)
TORCH_REFUSALS = (ValueError, RuntimeError, NotImplementedError)


def analyse_layer(type_id, shape, params=None, dtype="float"):
    g = Graph()
    g.add_node("input", {"shape": shape, "dtype": dtype}, node_id="x")
    g.add_node(type_id, params or {}, node_id="layer")
    g.add_node("output", node_id="y")
    g.connect("x", "out", "layer", "in")
    g.connect("layer", "out", "y", "in")
    return g.analysis().nodes["layer"]


def run_torch(build, shape):
    """``(output shape without batch, module, flops)``, or ``None`` if torch refuses.

    An empty result counts as a refusal: torch returns one for a transposed
    convolution whose output size works out to 0, while LayerLoom refuses empty
    tensors for every layer (nothing downstream could use them).
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            module = build()
            with FlopCounterMode(display=False) as counter:
                out = module(torch.zeros(1, *shape))
    except TORCH_REFUSALS:
        return None
    if out.numel() == 0:
        return None
    return tuple(out.shape[1:]), module, counter.get_total_flops()


def check_agrees(type_id, shape, params, build, check_flops=False):
    """Inference and torch accept the same cases, with the same results."""
    info = analyse_layer(type_id, shape, params)
    ran = run_torch(build, shape)
    if ran is None:
        assert info.error is not None, (
            f"torch refuses {type_id} {params} on {shape}, inference gives {info.out}"
        )
        assert fmt_shape(shape) in info.error, info.error
        return
    expected, module, flops = ran
    assert info.error is None, f"torch gives {expected} for {type_id} {params} on {shape}: {info.message}"
    assert info.out.shape == expected
    assert info.params == sum(p.numel() for p in module.parameters())
    if check_flops:
        assert info.flops == flops


def ints(nd, low, high):
    """A tuple of ``nd`` ints, sometimes given as one int (a file may do that)."""
    one = st.integers(low, high)
    return st.one_of(st.tuples(*[one] * nd), one) if nd > 1 else st.one_of(st.tuples(one), one)


def full(value, nd):
    return value if isinstance(value, (tuple, str)) else (value,) * nd


# ------------------------------------------------------------------ convolutions
@st.composite
def conv_cases(draw, nd):
    c_in, c_out = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    shape = (c_in, *draw(st.tuples(*[st.integers(1, 9)] * nd)))
    params = {
        "channels": c_out,
        "kernel_size": draw(ints(nd, 1, 5)),
        "stride": draw(ints(nd, 1, 3)),
        "padding": draw(st.one_of(ints(nd, 0, 3), st.sampled_from(["same", "valid"]))),
        "dilation": draw(ints(nd, 1, 3)),
        "groups": draw(st.sampled_from([1, 1, 1, 2, 3])),
        "bias": draw(st.booleans()),
    }
    return shape, params


@pytest.mark.parametrize(("type_id", "nd", "cls"), [("conv1d", 1, nn.Conv1d), ("conv2d", 2, nn.Conv2d)])
@EXAMPLES
@given(data=st.data())
def test_conv_matches_torch(type_id, nd, cls, data):
    shape, p = data.draw(conv_cases(nd))

    def build():
        return cls(
            shape[0], p["channels"], full(p["kernel_size"], nd), stride=full(p["stride"], nd),
            padding=full(p["padding"], nd), dilation=full(p["dilation"], nd),
            groups=p["groups"], bias=p["bias"],
        )

    check_agrees(type_id, shape, p, build, check_flops=True)


@EXAMPLES
@given(
    c_in=st.integers(1, 6), c_out=st.integers(1, 6), spatial=st.tuples(st.integers(1, 6), st.integers(1, 6)),
    kernel=ints(2, 1, 4), stride=ints(2, 1, 3), padding=ints(2, 0, 3), output_padding=st.one_of(st.just(0), ints(2, 0, 2)),
    dilation=ints(2, 1, 3), groups=st.sampled_from([1, 1, 1, 2, 3]), bias=st.booleans(),
)
def test_conv_transpose2d_matches_torch(c_in, c_out, spatial, kernel, stride, padding, output_padding, dilation, groups, bias):
    p = {
        "channels": c_out, "kernel_size": kernel, "stride": stride, "padding": padding,
        "output_padding": output_padding, "dilation": dilation, "groups": groups, "bias": bias,
    }

    def build():
        return nn.ConvTranspose2d(
            c_in, c_out, full(kernel, 2), stride=full(stride, 2), padding=full(padding, 2),
            output_padding=full(output_padding, 2), groups=groups, bias=bias, dilation=full(dilation, 2),
        )

    check_agrees("conv_transpose2d", (c_in, *spatial), p, build, check_flops=True)


# ---------------------------------------------------------------------- pooling
@st.composite
def pool_cases(draw, nd, kind):
    shape = (draw(st.integers(1, 3)), *draw(st.tuples(*[st.integers(1, 8)] * nd)))
    params = {
        "kernel_size": draw(ints(nd, 1, 4)),
        "stride": draw(ints(nd, 1, 3)),
        "padding": draw(ints(nd, 0, 2)),
        "ceil_mode": draw(st.booleans()),
    }
    if kind == "max":
        params["dilation"] = draw(ints(nd, 1, 2))
    else:
        params["count_include_pad"] = draw(st.booleans())
    return shape, params


POOLS = [
    ("max_pool1d", 1, "max", nn.MaxPool1d),
    ("max_pool2d", 2, "max", nn.MaxPool2d),
    ("avg_pool1d", 1, "avg", nn.AvgPool1d),
    ("avg_pool2d", 2, "avg", nn.AvgPool2d),
]


@pytest.mark.parametrize(("type_id", "nd", "kind", "cls"), POOLS)
@EXAMPLES
@given(data=st.data())
def test_pool_matches_torch(type_id, nd, kind, cls, data):
    shape, p = data.draw(pool_cases(nd, kind))
    window = {k: full(v, nd) for k, v in p.items() if k in ("kernel_size", "stride", "padding", "dilation")}

    def build():
        return cls(**window, **{k: v for k, v in p.items() if k not in window})

    check_agrees(type_id, shape, p, build)


@EXAMPLES
@given(
    shape=st.lists(st.integers(1, 4), min_size=1, max_size=5).map(tuple),
    mode=st.sampled_from(["nearest", "linear", "bilinear"]),
    scale=st.integers(1, 3),
)
def test_upsample_matches_torch(shape, mode, scale):
    align = False if mode != "nearest" else None
    check_agrees(
        "upsample", shape, {"scale_factor": scale, "mode": mode},
        lambda: nn.Upsample(scale_factor=scale, mode=mode, align_corners=align),
    )


@pytest.mark.parametrize(
    ("shape", "adaptive"),
    [((5, 7), nn.AdaptiveAvgPool1d), ((3, 4, 6), nn.AdaptiveAvgPool2d), ((1, 1, 1), nn.AdaptiveAvgPool2d)],
)
def test_global_avg_pool_matches_adaptive_pool(shape, adaptive):
    check_agrees("global_avg_pool", shape, {}, lambda: nn.Sequential(adaptive(1), nn.Flatten()))


# ------------------------------------------------------------- named refusals
def test_conv2d_on_flat_vector_suggests_reshape():
    info = analyse_layer("conv2d", (784,))
    assert "Conv2d needs (C, H, W); it receives (784,)" in info.error
    assert "(1, 28, 28)" in info.fix


@pytest.mark.parametrize(
    ("type_id", "shape", "hint"),
    [
        ("conv1d", (3, 8, 8), "Conv2d"),
        ("conv2d", (3, 8), "Conv1d"),
        ("max_pool2d", (3, 8), "MaxPool1d"),
        ("avg_pool1d", (3, 8, 8), "AvgPool2d"),
        ("conv1d", (12,), "(1, 12)"),
        ("conv_transpose2d", (4, 4, 4, 4), "(C, H, W)"),
    ],
)
def test_wrong_rank_names_the_fix(type_id, shape, hint):
    info = analyse_layer(type_id, shape)
    assert fmt_shape(shape) in info.error
    assert hint in info.fix


@pytest.mark.parametrize("type_id", ["conv1d", "conv2d", "max_pool1d", "avg_pool2d", "upsample", "global_avg_pool"])
def test_token_ids_are_refused(type_id):
    shape = (4, 8) if type_id.endswith("1d") or type_id == "upsample" else (4, 8, 8)
    info = analyse_layer(type_id, shape, dtype="long")
    assert "float" in info.error and "Embedding" in info.fix


def test_groups_message_quotes_the_channels():
    info = analyse_layer("conv2d", (6, 8, 8), {"channels": 8, "groups": 4})
    assert "groups=4" in info.error and "(6, 8, 8)" in info.error
    assert "2" in info.fix


def test_same_padding_with_stride_is_refused():
    info = analyse_layer("conv2d", (3, 8, 8), {"padding": "same", "stride": 2})
    assert "stride 1" in info.error and "(2, 2)" in info.error


def test_kernel_larger_than_input_quotes_both():
    info = analyse_layer("conv2d", (3, 4, 4), {"kernel_size": 5})
    assert "(5, 5)" in info.error and "(3, 4, 4)" in info.error


def test_pool_padding_over_half_kernel():
    info = analyse_layer("max_pool2d", (3, 8, 8), {"kernel_size": 2, "padding": (2, 1)})
    assert "half the kernel" in info.error and "(1, 1)" in info.fix


def test_output_padding_needs_stride_or_dilation():
    info = analyse_layer("conv_transpose2d", (3, 4, 4), {"stride": 1, "output_padding": 1})
    assert "output_padding" in info.error


def test_upsample_mode_rank_fix():
    info = analyse_layer("upsample", (3, 8, 8), {"mode": "linear"})
    assert "'linear'" in info.error and "bilinear" in info.fix


@pytest.mark.parametrize("shape", [(7,)])
def test_global_avg_pool_needs_spatial_dims(shape):
    assert "(7,)" in analyse_layer("global_avg_pool", shape).error


# ------------------------------------------------------------ schema and counts
@pytest.mark.parametrize(
    ("type_id", "params"),
    [
        ("conv2d", {"stride": 0}),
        ("conv2d", {"kernel_size": (3, 0)}),
        ("conv1d", {"padding": -1}),
        ("conv1d", {"padding": "full"}),
        ("conv2d", {"kernel_size": (3, 3, 3)}),
        ("conv2d", {"groups": 0}),
        ("conv_transpose2d", {"padding": "same"}),
        ("max_pool2d", {"stride": 0}),
        ("upsample", {"scale_factor": 0}),
        ("upsample", {"mode": "area"}),
        ("upsample", {"scale_factor": -1.5}),
        ("upsample", {"size": (4, 4, 4, 4)}),
    ],
)
def test_values_torch_never_accepts_are_refused_by_the_schema(type_id, params):
    with pytest.raises(ParamError):
        Graph().add_node(type_id, params)


def test_single_int_broadcasts_like_pytorch():
    node = Graph().add_node("conv2d", {"kernel_size": 5, "stride": 2, "padding": 1})
    assert node.params["kernel_size"] == (5, 5)
    assert node.params["stride"] == (2, 2)
    assert node.params["padding"] == (1, 1)


def test_conv_counts_and_costs():
    info = analyse_layer("conv2d", (3, 32, 32), {"channels": 16, "kernel_size": 3, "padding": 1})
    assert info.out.shape == (16, 32, 32)
    assert info.params == 16 * 3 * 9 + 16
    assert info.flops == 2 * 16 * 32 * 32 * 3 * 9
    assert info.activation_bytes == 16 * 32 * 32 * 4


def test_every_layer_is_declared_for_the_palette():
    ids = {
        "conv1d", "conv2d", "conv_transpose2d", "max_pool1d", "max_pool2d",
        "avg_pool1d", "avg_pool2d", "global_avg_pool", "upsample",
    }
    for type_id in ids:
        spec = REGISTRY.get(type_id)
        assert spec.category in ("Convolution", "Pooling", "Resampling")
        assert spec.doc and spec.keywords
        assert all(p.help for p in spec.params)
        assert sum(p.key for p in spec.params) <= 3
        assert not spec.params or any(p.key for p in spec.params)
    assert {s.type_id for s in REGISTRY.search("pool")} >= {"max_pool2d", "avg_pool1d", "global_avg_pool"}
