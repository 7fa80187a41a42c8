"""Importing the convolution, pooling, padding and resampling family: the
functional and method forms (``F.pad``, ``F.interpolate``, ``x.amax``) map to the
same layers as the modules, options LayerLoom's layers lack are refused with the
reason, and hand-built ONNX operators (``LpPool``, ``Pad``, ``Resize`` by size)
import as those layers."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
import torch.nn.functional as F
from onnx import TensorProto, helper, numpy_helper
from torch import nn

from layerloom.backend.importers import ModelImportError, import_module, import_onnx


class Call(nn.Module):
    def __init__(self, function):
        super().__init__()
        self.function = function

    def forward(self, x):
        return self.function(x)


def layers(function, shape):
    """The imported layer types (Input and Output left out) and their params."""
    result = import_module(Call(function), [shape])
    return [(n.type, dict(n.params)) for n in result.graph.nodes if n.type not in ("input", "output")]


@pytest.mark.parametrize(
    ("function", "shape", "type_id", "params"),
    [
        (lambda x: F.pad(x, (1, 2)), (3, 5), "zero_pad1d", {"padding": (1, 2)}),
        (lambda x: F.pad(x, (1, 2, 0, 1), value=0.5), (3, 4, 5), "constant_pad2d", {"padding": (1, 2, 0, 1), "value": 0.5}),
        (lambda x: F.pad(x, (1, 1, 2, 0), mode="reflect"), (3, 4, 5), "reflection_pad2d", {"padding": (1, 1, 2, 0)}),
        (lambda x: F.pad(x, (1, 1, 1, 1, 1, 1), mode="replicate"), (2, 3, 4, 5), "replication_pad3d", {}),
        (lambda x: F.pad(x, (2, 1), mode="circular"), (3, 5), "circular_pad1d", {"padding": (2, 1)}),
        (lambda x: F.interpolate(x, size=(6, 7), mode="bicubic", align_corners=True), (2, 4, 5), "upsample",
         {"size": (6, 7), "mode": "bicubic", "align_corners": True}),
        (lambda x: F.interpolate(x, scale_factor=1.5, mode="trilinear"), (2, 4, 4, 4), "upsample",
         {"scale_factor": 1.5, "mode": "trilinear"}),
        (lambda x: F.upsample(x, scale_factor=2), (2, 5), "upsample", {"scale_factor": 2.0, "mode": "nearest"}),
        (lambda x: F.interpolate(x, scale_factor=1.7, recompute_scale_factor=True), (2, 5), "upsample", {"size": (8,)}),
        (lambda x: F.pixel_shuffle(x, 2), (8, 3, 3), "pixel_shuffle", {"upscale_factor": 2}),
        (lambda x: F.pixel_unshuffle(x, 3), (1, 6, 3), "pixel_unshuffle", {"downscale_factor": 3}),
        (lambda x: F.unfold(x, 2, stride=2), (2, 4, 6), "unfold", {"kernel_size": (2, 2), "stride": (2, 2)}),
        (lambda x: F.fold(x, (3, 4), 2), (8, 6), "fold", {"output_size": (3, 4), "kernel_size": (2, 2)}),
        (lambda x: F.adaptive_max_pool2d(x, (3, None)), (2, 6, 5), "adaptive_max_pool2d", {"output_size": (3, 0)}),
        (lambda x: F.adaptive_avg_pool1d(x, 3), (2, 7), "adaptive_avg_pool1d", {"output_size": (3,)}),
        (lambda x: F.adaptive_avg_pool3d(x, (1, 2, 2)), (2, 4, 4, 4), "adaptive_avg_pool3d", {"output_size": (1, 2, 2)}),
        (lambda x: F.max_pool3d(x, 2), (2, 4, 4, 4), "max_pool3d", {"kernel_size": (2, 2, 2)}),
        (lambda x: F.avg_pool3d(x, 2, stride=1), (2, 4, 4, 4), "avg_pool3d", {"stride": (1, 1, 1)}),
        (lambda x: F.lp_pool2d(x, 3.0, 2), (2, 4, 4), "lp_pool2d", {"norm_type": 3.0, "kernel_size": (2, 2)}),
        (lambda x: F.lp_pool1d(x, 2, 3, stride=1), (2, 7), "lp_pool1d", {"kernel_size": (3,), "stride": (1,)}),
        (lambda x: torch.amax(x, dim=(2, 3)), (3, 4, 5), "global_max_pool", {}),
        (lambda x: x.amax((-1, -2)), (3, 4, 5), "global_max_pool", {}),
        (lambda x: torch.amax(x, dim=1), (3, 4, 5), "reduce", {"op": "max", "dims": (1,)}),  # not every spatial dim
    ],
)
def test_functional_and_method_forms_map_to_the_layer(function, shape, type_id, params):
    found = layers(function, shape)
    assert found[0][0] == type_id, found
    assert params.items() <= found[0][1].items()


def test_adaptive_pooling_to_size_one_is_global_pooling():
    assert [t for t, _ in layers(lambda x: F.adaptive_avg_pool2d(x, 1).flatten(1), (3, 4, 4))] == ["global_avg_pool"]
    assert [t for t, _ in layers(lambda x: F.adaptive_max_pool2d(x, (1, 1)).flatten(1), (3, 4, 4))] == ["global_max_pool"]
    assert [t for t, _ in layers(nn.AdaptiveMaxPool1d(1), (3, 4))] == ["global_max_pool", "reshape"]


@pytest.mark.parametrize(
    ("function", "shape", "why"),
    [
        (lambda x: F.interpolate(x, scale_factor=2, mode="area"), (2, 4, 4), "mode 'area'"),
        (lambda x: F.interpolate(x, scale_factor=(2, 3)), (2, 4, 4), "one factor"),
        (lambda x: F.interpolate(x, scale_factor=2, mode="bilinear", antialias=True), (2, 4, 4), "antialias"),
        (lambda x: F.pad(x, (1,) * 8), (2, 3, 4, 5), "1 to 3 dims"),
        (lambda x: F.adaptive_max_pool2d(x, 2, return_indices=True)[0], (2, 4, 4), "return_indices"),
    ],
)
def test_options_without_a_layer_are_refused_with_the_reason(function, shape, why):
    with pytest.raises(ModelImportError) as caught:
        import_module(Call(function), [shape])
    assert why in str(caught.value)


def _save(tmp_path, nodes, inputs, outputs, initializers=()):
    graph = helper.make_graph(nodes, "tiny", inputs, outputs, list(initializers))
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=8)
    path = tmp_path / "tiny.onnx"
    onnx.save(proto, str(path))
    return path


def _float(name, *dims):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, ["N", *dims])


def test_onnx_lp_pool_pad_and_resize_by_size(tmp_path):
    ints = lambda name, values: numpy_helper.from_array(np.array(values, dtype=np.int64), name)  # noqa: E731
    nodes = [
        helper.make_node("LpPool", ["x"], ["p"], kernel_shape=[2, 2], strides=[2, 2], p=2, name="lp"),
        helper.make_node("Pad", ["p", "pads"], ["q"], mode="edge", name="pad"),
        helper.make_node("Shape", ["q"], ["nc"], end=2, name="shape"),
        helper.make_node("Concat", ["nc", "hw"], ["sizes"], axis=0, name="sizes"),
        helper.make_node("Resize", ["q", "", "", "sizes"], ["y"], mode="nearest",
                         coordinate_transformation_mode="asymmetric", nearest_mode="floor", name="up"),
    ]
    path = _save(tmp_path, nodes, [_float("x", 2, 6, 6)], [_float("y", 2, 7, 9)],
                 [ints("pads", [0, 0, 1, 0, 0, 0, 1, 2]), ints("hw", [7, 9])])
    result = import_onnx(path)
    found = {n.type: dict(n.params) for n in result.graph.nodes}
    assert found["lp_pool2d"]["norm_type"] == 2.0
    assert found["replication_pad2d"]["padding"] == (0, 2, 1, 1)
    assert found["upsample"]["size"] == (7, 9)


def test_onnx_space_to_depth_is_refused_with_its_channel_order(tmp_path):
    nodes = [helper.make_node("DepthToSpace", ["x"], ["y"], blocksize=2, mode="DCR", name="d2s")]
    path = _save(tmp_path, nodes, [_float("x", 8, 2, 2)], [_float("y", 2, 4, 4)])
    with pytest.raises(ModelImportError, match="DCR"):
        import_onnx(path)
