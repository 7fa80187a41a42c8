"""Convolution and pooling graphs compile to torch modules that keep the promises
of shape inference: the output shapes and parameter counts the editor shows are
the ones the compiled model has, and the layers compute what their torch
counterparts compute."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from layerloom.backend.compile import compile_graph
from layerloom.backend.lowerings import missing_lowerings
from layerloom.graph import Graph

CASES = [
    ("conv1d", (3, 16), {"channels": 5, "kernel_size": 3, "padding": "same", "dilation": 2}),
    ("conv1d", (4, 11), {"channels": 6, "kernel_size": 4, "stride": 2, "groups": 2, "bias": False}),
    ("conv2d", (3, 10, 9), {"channels": 4, "kernel_size": (3, 2), "stride": (2, 1), "padding": 1, "activation": "relu"}),
    ("conv2d", (4, 8, 8), {"channels": 8, "kernel_size": 3, "padding": "valid", "groups": 4, "activation": "gelu"}),
    ("conv_transpose2d", (4, 5, 6), {"channels": 2, "kernel_size": 3, "stride": 2, "padding": 1, "output_padding": 1}),
    ("conv_transpose2d", (4, 3, 3), {"channels": 6, "kernel_size": (2, 3), "dilation": 2, "groups": 2}),
    ("max_pool1d", (3, 9), {"kernel_size": 3, "stride": 2, "padding": 1, "dilation": 1, "ceil_mode": True}),
    ("max_pool2d", (2, 7, 8), {"kernel_size": 2, "stride": 2, "ceil_mode": True, "dilation": (1, 2)}),
    ("avg_pool1d", (3, 10), {"kernel_size": 4, "stride": 3, "padding": 2, "count_include_pad": False}),
    ("avg_pool2d", (2, 9, 9), {"kernel_size": 3, "stride": 2, "ceil_mode": True}),
    ("global_avg_pool", (5, 7), {}),
    ("global_avg_pool", (5, 4, 6), {}),
    ("upsample", (2, 5), {"scale_factor": 3, "mode": "linear"}),
    ("upsample", (2, 4, 3), {"scale_factor": 2, "mode": "bilinear"}),
    ("upsample", (2, 4, 3), {"scale_factor": 2, "mode": "nearest"}),
]


def single_layer(type_id, shape, params):
    g = Graph()
    g.add_node("input", {"shape": shape}, node_id="x")
    g.add_node(type_id, params, node_id="layer")
    g.add_node("output", node_id="y")
    g.connect("x", "out", "layer", "in")
    g.connect("layer", "out", "y", "in")
    return g


def test_every_conv_and_pool_layer_has_a_lowering():
    assert not set(missing_lowerings()) & {type_id for type_id, _, _ in CASES}
    assert {type_id for type_id, _, _ in CASES} == {
        "conv1d", "conv2d", "conv_transpose2d", "max_pool1d", "max_pool2d",
        "avg_pool1d", "avg_pool2d", "global_avg_pool", "upsample",
    }


@pytest.mark.parametrize(("type_id", "shape", "params"), CASES)
def test_compiled_layer_matches_inference(type_id, shape, params):
    g = single_layer(type_id, shape, params)
    analysis = g.analysis()
    assert analysis.valid, analysis.errors
    model = compile_graph(g, seed=0)
    x = torch.randn(2, *shape, requires_grad=True)
    y = model(x)
    assert tuple(y.shape) == (2, *analysis.nodes["layer"].out.shape)
    assert sum(p.numel() for p in model.parameters()) == analysis.total_params
    y.sum().backward()
    assert x.grad is not None and x.grad.shape == x.shape


def test_conv2d_computes_the_torch_convolution():
    params = {"channels": 4, "kernel_size": 3, "padding": "same", "dilation": 2, "groups": 2, "activation": "relu"}
    model = compile_graph(single_layer("conv2d", (2, 7, 6), params), seed=0)
    conv = model.get_submodule("layer")
    x = torch.randn(3, 2, 7, 6)
    expected = F.relu(F.conv2d(x, conv.weight, conv.bias, padding="same", dilation=2, groups=2))
    torch.testing.assert_close(model(x), expected)


def test_conv_transpose2d_computes_the_torch_transposed_convolution():
    params = {"channels": 3, "kernel_size": 3, "stride": 2, "padding": 1, "output_padding": 1}
    model = compile_graph(single_layer("conv_transpose2d", (2, 4, 5), params), seed=0)
    conv = model.get_submodule("layer")
    x = torch.randn(2, 2, 4, 5)
    expected = F.conv_transpose2d(x, conv.weight, conv.bias, stride=2, padding=1, output_padding=1)
    torch.testing.assert_close(model(x), expected)
    assert model(x).shape[-2:] == (8, 10)


def test_global_avg_pool_is_the_spatial_mean():
    model = compile_graph(single_layer("global_avg_pool", (3, 4, 5), {}))
    x = torch.randn(2, 3, 4, 5)
    torch.testing.assert_close(model(x), x.mean(dim=(2, 3)))


def test_bilinear_upsample_does_not_align_corners():
    model = compile_graph(single_layer("upsample", (1, 3, 3), {"mode": "bilinear"}))
    x = torch.randn(1, 1, 3, 3)
    expected = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
    torch.testing.assert_close(model(x), expected)


def test_small_cnn_compiles_with_inferred_channels():
    g = Graph()
    g.add_node("input", {"shape": (1, 28, 28)}, node_id="image")
    chain = [
        ("conv2d", {"channels": 8, "kernel_size": 3, "padding": 1, "activation": "relu"}),
        ("max_pool2d", {}),
        ("conv2d", {"channels": 16, "kernel_size": 3, "padding": 1, "activation": "relu"}),
        ("avg_pool2d", {"kernel_size": 2, "stride": 2}),
        ("conv_transpose2d", {"channels": 4}),
        ("upsample", {"scale_factor": 2}),
    ]
    prev = "image"
    for type_id, params in chain:
        node = g.add_node(type_id, params)
        g.connect(prev, "out", node.id, "in")
        prev = node.id
    gap = g.add_node("global_avg_pool")
    g.connect(prev, "out", gap.id, "in")
    g.add_node("output", node_id="logits")
    g.connect(gap.id, "out", "logits", "in")
    analysis = g.analysis()
    assert analysis.valid, analysis.errors
    assert analysis.nodes[prev].out.shape == (4, 28, 28)
    model = compile_graph(g, seed=1)
    assert tuple(model(torch.randn(5, 1, 28, 28)).shape) == (5, 4)
    assert sum(p.numel() for p in model.parameters()) == analysis.total_params
    # the second convolution reads its 8 input channels from the first one's output
    assert model.get_submodule("conv2d_2").in_channels == 8
    g.set_param("conv2d_1", "channels", 6)
    assert compile_graph(g).get_submodule("conv2d_2").in_channels == 6
