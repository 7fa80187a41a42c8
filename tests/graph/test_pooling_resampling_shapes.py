"""The new convolution, pooling, padding and resampling shape rules agree with
PyTorch itself (hypothesis draws shapes and parameters, valid and invalid mixed;
see ``test_conv_shapes.py`` for the method), and their refusals quote the shapes
and name a fix."""

from __future__ import annotations

import pytest
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from layerloom.graph import Graph, ParamError, fmt_shape, loads
from layerloom.graph.graph_data import FORMAT, FORMAT_VERSION
from tests.graph.test_conv_shapes import analyse_layer, check_agrees, full, ints

EXAMPLES = settings(max_examples=20, deadline=None)


@EXAMPLES
@given(data=st.data(), nd=st.sampled_from([1, 3]))
def test_conv_transpose_and_conv3d_match_torch(data, nd):
    c_in, c_out = data.draw(st.integers(1, 4)), data.draw(st.integers(1, 4))
    shape = (c_in, *data.draw(st.tuples(*[st.integers(1, 5)] * nd)))
    p = {"channels": c_out, "kernel_size": data.draw(ints(nd, 1, 3)), "stride": data.draw(ints(nd, 1, 3)),
         "padding": data.draw(ints(nd, 0, 2)), "dilation": data.draw(ints(nd, 1, 2)),
         "groups": data.draw(st.sampled_from([1, 2])), "bias": data.draw(st.booleans())}
    window = {k: full(p[k], nd) for k in ("kernel_size", "stride", "padding", "dilation")}
    if nd == 3:
        check_agrees("conv3d", shape, p, lambda: nn.Conv3d(c_in, c_out, groups=p["groups"], bias=p["bias"], **window))
    p["output_padding"] = data.draw(st.one_of(st.just(0), ints(nd, 0, 2)))
    cls = nn.ConvTranspose1d if nd == 1 else nn.ConvTranspose3d
    check_agrees(f"conv_transpose{nd}d", shape, p, lambda: cls(
        c_in, c_out, groups=p["groups"], bias=p["bias"], output_padding=full(p["output_padding"], nd), **window))


@EXAMPLES
@given(data=st.data(), nd=st.sampled_from([1, 2, 3]), kind=st.sampled_from(["avg", "max"]))
def test_adaptive_pools_match_torch(data, nd, kind):
    shape = (2, *data.draw(st.tuples(*[st.integers(1, 7)] * nd)))
    sizes = data.draw(st.tuples(*[st.integers(0, 8)] * nd))
    cls = getattr(nn, f"Adaptive{kind.title()}Pool{nd}d")
    check_agrees(f"adaptive_{kind}_pool{nd}d", shape, {"output_size": sizes},
                 lambda: cls(tuple(s or None for s in sizes) if nd > 1 else (sizes[0] or shape[1],)))


@EXAMPLES
@given(data=st.data(), nd=st.sampled_from([1, 2]))
def test_lp_pools_match_torch(data, nd):
    shape = (2, *data.draw(st.tuples(*[st.integers(1, 7)] * nd)))
    p = {"norm_type": data.draw(st.sampled_from([1.0, 2.0, 3.5])), "kernel_size": data.draw(ints(nd, 1, 4)),
         "stride": data.draw(ints(nd, 1, 3)), "ceil_mode": data.draw(st.booleans())}
    kernel, stride = full(p["kernel_size"], nd), full(p["stride"], nd)
    if nd == 1:
        kernel, stride = kernel[0], stride[0]
    check_agrees(f"lp_pool{nd}d", shape, p,
                 lambda: getattr(nn, f"LPPool{nd}d")(p["norm_type"], kernel, stride, ceil_mode=p["ceil_mode"]))


PADS = {"zero": "ZeroPad", "constant": "ConstantPad", "reflection": "ReflectionPad",
        "replication": "ReplicationPad", "circular": "CircularPad"}


@settings(max_examples=40, deadline=None)
@given(data=st.data(), mode=st.sampled_from(list(PADS)), nd=st.sampled_from([1, 2, 3]))
def test_padding_matches_torch(data, mode, nd):
    rank = data.draw(st.integers(max(1, nd - 1), nd + 2))
    shape = data.draw(st.tuples(*[st.integers(1, 5)] * rank))
    padding = data.draw(st.tuples(*[st.integers(-3, 5)] * (2 * nd)))
    cls = getattr(nn, f"{PADS[mode]}{nd}d")
    params = {"padding": padding, **({"value": 1.5} if mode == "constant" else {})}
    info = analyse_layer(f"{mode}_pad{nd}d", shape, params)
    if rank < nd and mode in ("zero", "constant"):  # torch would pad the batch dim: refused on purpose
        assert "batch" in info.error
        return
    check_agrees(f"{mode}_pad{nd}d", shape, params, lambda: cls(padding, 1.5) if mode == "constant" else cls(padding))


@settings(max_examples=30, deadline=None)
@given(data=st.data(), mode=st.sampled_from(["nearest", "linear", "bilinear", "bicubic", "trilinear"]))
def test_upsample_matches_torch(data, mode):
    shape = data.draw(st.lists(st.integers(1, 5), min_size=1, max_size=5).map(tuple))
    align = data.draw(st.booleans())
    if data.draw(st.booleans()):
        size = data.draw(st.lists(st.integers(1, 6), min_size=1, max_size=3).map(tuple))
        params = {"size": size, "mode": mode, "align_corners": align}
        kwargs = {"size": size[0] if len(size) == 1 else size}
    else:
        scale = data.draw(st.sampled_from([0.3, 0.5, 1.0, 1.5, 2.0, 3.0]))
        params, kwargs = {"scale_factor": scale, "mode": mode, "align_corners": align}, {"scale_factor": scale}
    check_agrees("upsample", shape, params, lambda: nn.Upsample(mode=mode, align_corners=align if align else None, **kwargs))


@EXAMPLES
@given(shape=st.lists(st.integers(1, 9), min_size=3, max_size=4).map(tuple), r=st.integers(1, 3))
def test_pixel_shuffles_match_torch(shape, r):
    check_agrees("pixel_shuffle", shape, {"upscale_factor": r}, lambda: nn.PixelShuffle(r))
    check_agrees("pixel_unshuffle", shape, {"downscale_factor": r}, lambda: nn.PixelUnshuffle(r))


@EXAMPLES
@given(data=st.data())
def test_fold_and_unfold_match_torch(data):
    window = {"kernel_size": data.draw(ints(2, 1, 3)), "dilation": data.draw(ints(2, 1, 2)),
              "padding": data.draw(ints(2, 0, 2)), "stride": data.draw(ints(2, 1, 3))}
    torch_window = {k: full(v, 2) for k, v in window.items()}
    image = (data.draw(st.integers(1, 3)), *data.draw(st.tuples(st.integers(1, 6), st.integers(1, 6))))
    check_agrees("unfold", image, window, lambda: nn.Unfold(**torch_window))
    output_size = data.draw(st.tuples(st.integers(1, 6), st.integers(1, 6)))
    blocks = (data.draw(st.integers(1, 12)), data.draw(st.integers(1, 12)))
    check_agrees("fold", blocks, {"output_size": output_size, **window},
                 lambda: nn.Fold(output_size, **torch_window))


# ------------------------------------------------------------- named refusals
@pytest.mark.parametrize(
    ("type_id", "shape", "params", "said", "fix"),
    [
        ("reflection_pad2d", (3, 4, 4), {"padding": (1, 4, 0, 0)}, "smaller than the size 4", "ReplicationPad2d"),
        ("circular_pad1d", (3, 4), {"padding": (5, 0)}, "more than once", "at most 4"),
        ("zero_pad1d", (3, 4), {"padding": (-2, -2)}, "nothing is left", "crop less"),
        ("zero_pad3d", (4, 4), {"padding": 1}, "batch dim", "ZeroPad2d"),
        ("reflection_pad1d", (2, 3, 4, 4), {}, "needs (C, L)", "ReflectionPad3d"),
        ("upsample", (3, 4, 4), {"mode": "nearest", "align_corners": True}, "align_corners", "interpolating"),
        ("upsample", (3, 4, 4), {"mode": "trilinear"}, "'trilinear'", "'bilinear'"),
        ("upsample", (3, 4, 4), {"scale_factor": 0.1}, "scale_factor 0.1", "larger scale"),
        ("upsample", (3, 4, 4), {"size": (4, 4, 4)}, "3 sizes", "give one size, or 2"),
        ("pixel_shuffle", (6, 4, 4), {}, "divisible by 4", "channels"),
        ("pixel_unshuffle", (2, 5, 4), {}, "divide the height and width", "multiple of 2"),
        ("pixel_shuffle", (8, 4), {}, "needs (C, H, W)", "Reshape"),
        ("constant_pad1d", (3, 2), {"padding": (3, -3)}, "crops more than the size 2", "at most 2"),
        ("fold", (8, 11), {"output_size": (4, 5)}, "takes (3, 4) = 12 blocks", "output_size"),
        ("fold", (7, 12), {"output_size": (4, 5)}, "not a multiple", "C x 4"),
        ("unfold", (2, 1, 1), {"kernel_size": 2}, "does not fit", "smaller kernel"),
        ("lp_pool2d", (2, 3, 3), {"kernel_size": 4}, "larger than the input", "smaller kernel"),
        ("adaptive_avg_pool3d", (2, 4, 4), {}, "(C, D, H, W)", "AdaptiveAvgPool2d"),
        ("conv3d", (3, 8, 8), {}, "Conv3d needs (C, D, H, W)", "Conv2d"),
        ("conv_transpose1d", (3, 8, 8), {}, "(C, L)", "ConvTranspose2d"),
        ("global_max_pool", (7,), {}, "(7,)", "convolution"),
    ],
)
def test_refusals_quote_the_shape_and_name_a_fix(type_id, shape, params, said, fix):
    info = analyse_layer(type_id, shape, params)
    assert said in info.error and fmt_shape(shape) in info.error, info.error
    assert fix in info.fix, info.fix


@pytest.mark.parametrize("type_id", ["zero_pad2d", "upsample", "pixel_shuffle", "adaptive_max_pool2d", "lp_pool1d"])
def test_token_ids_are_refused(type_id):
    info = analyse_layer(type_id, (4, 8, 8) if "1d" not in type_id else (4, 8), dtype="long")
    assert "float" in info.error and "Embedding" in info.fix


@pytest.mark.parametrize(
    ("type_id", "params"),
    [
        ("zero_pad2d", {"padding": (1, 2, 3)}),
        ("constant_pad1d", {"value": float("nan")}),
        ("reflection_pad1d", {"padding": 5000}),
        ("adaptive_avg_pool2d", {"output_size": -1}),
        ("lp_pool2d", {"norm_type": 0}),
        ("pixel_shuffle", {"upscale_factor": 0}),
        ("fold", {"output_size": (4,)}),
        ("upsample", {"size": 0}),
        ("upsample", {"scale_factor": 0}),
    ],
)
def test_values_torch_never_accepts_are_refused_by_the_schema(type_id, params):
    with pytest.raises(ParamError):
        Graph().add_node(type_id, params)


def test_size_and_zero_output_size_read_like_pytorch():
    assert Graph().add_node("upsample", {"size": 8}).params["size"] == (8,)
    assert analyse_layer("upsample", (3, 4, 5), {"size": 8}).out.shape == (3, 8, 8)
    assert analyse_layer("upsample", (3, 4, 5), {"size": (6, 7), "scale_factor": 9.0}).out.shape == (3, 6, 7)
    assert analyse_layer("adaptive_avg_pool2d", (3, 5, 9), {"output_size": (0, 3)}).out.shape == (3, 5, 3)
    assert analyse_layer("global_max_pool", (3, 5, 9)).out.shape == (3,)


def test_old_files_with_a_whole_scale_factor_still_load():
    text = f"""{{"format": "{FORMAT}", "format_version": {FORMAT_VERSION},
    "nodes": [{{"id": "x", "type": "input", "params": {{"shape": [3, 4, 4]}}}},
              {{"id": "up", "type": "upsample", "params": {{"scale_factor": 2, "mode": "bilinear"}}}},
              {{"id": "y", "type": "output"}}],
    "edges": [{{"source": "x", "source_port": "out", "target": "up", "target_port": "in"}},
              {{"source": "up", "source_port": "out", "target": "y", "target_port": "in"}}]}}"""
    graph = loads(text)
    node = graph.node("up")
    assert node.params["scale_factor"] == 2.0 and node.params["size"] is None
    assert not node.params["align_corners"]
    assert graph.analysis().nodes["up"].out.shape == (3, 8, 8)


def test_lp_pool_of_the_functional_form_agrees():
    assert analyse_layer("lp_pool1d", (2, 7), {"kernel_size": 3, "stride": 2}).out.shape == tuple(
        F.lp_pool1d(__import__("torch").zeros(1, 2, 7), 2.0, 3, 2).shape[1:])
