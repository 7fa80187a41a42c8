"""The normalisations, activations and dropouts added next to BatchNorm and ReLU:
how they compile, how their functional and method forms import from PyTorch,
how ONNX operators of other exporters import, which options are refused with a
reason, and when the exporter's decompositions are folded back (only when
nothing else uses the values inside them)."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
import torch.nn.functional as F
from onnx import TensorProto, helper, numpy_helper
from torch import nn

from layerloom.backend.compile import compile_graph
from layerloom.backend.export.python_source import python_source
from layerloom.backend.importers import ModelImportError, import_module, import_onnx
from layerloom.backend.importers.onnx_ops import Op
from layerloom.backend.importers.onnx_patterns import fold
from layerloom.graph import Graph
from tests.graph.helpers import chain


def layers(result) -> list[tuple[str, dict]]:
    """(type, params other than the defaults) of every imported layer, in order."""
    found = []
    for node in result.graph.nodes:
        if node.type in ("input", "output"):
            continue
        defaults = node.spec.defaults()
        found.append((node.type, {k: v for k, v in node.params.items() if v != defaults[k]}))
    return found


# ------------------------------------------------------------------ lowering
def test_dropout2d_on_a_sequence_drops_whole_channels_without_torchs_warning():
    g = Graph()
    ids = chain(g, ("input", {"shape": [6, 50]}), ("dropout2d", {"p": 0.5}), "output")
    model = compile_graph(g, seed=0)
    layer = model.get_submodule(next(n for n, nid in model.module_nodes.items() if nid == ids[1]))
    assert type(layer) is nn.Dropout1d
    y = model(torch.ones(4, 6, 50))
    per_channel = (y == 0).all(dim=-1) | (y == 2).all(dim=-1)
    assert per_channel.all() and (y == 0).any()


def test_instance_norm_picks_its_class_by_rank_and_python_export_reads_the_settings_back():
    g = Graph()
    chain(g, ("input", {"shape": [3, 4, 4]}), ("instance_norm", {"affine": True}),
          ("hardtanh", {"min_val": -2.0, "max_val": 3.0}), ("group_norm", {"num_groups": 3, "eps": 1e-3}),
          ("rms_norm", {"dims": 2}), ("prelu", {"num_parameters": 3}), "output")
    model = compile_graph(g, seed=0)
    text = python_source(g, model, "weights.safetensors")
    for call in ("nn.InstanceNorm2d(3, affine=True)", "nn.Hardtanh(min_val=-2.0, max_val=3.0)",
                 "nn.GroupNorm(3, 3, eps=0.001)", "nn.RMSNorm((4, 4))", "nn.PReLU(num_parameters=3)"):
        assert call in text


# ------------------------------------------------------------ PyTorch import
class Functional(nn.Module):
    def forward(self, x):
        x = F.relu6(F.hardtanh(x, -2.0, 3.0))
        x = F.softplus(torch.selu(x), beta=2.0, threshold=5.0)
        x = F.celu(F.softsign(x), 0.5)
        x = F.softshrink(x.hardshrink(0.2), lambd=0.1)
        x = F.threshold(F.mish(F.hardswish(F.hardsigmoid(x))), 0.1, 2.0)
        x = F.tanhshrink(F.logsigmoid(x))
        x = F.glu(x, 1)
        x = F.local_response_norm(F.instance_norm(F.group_norm(x, 2)), 3)
        x = F.dropout2d(F.rms_norm(x, (5,)), 0.1, self.training)
        return F.alpha_dropout(x, 0.2, self.training)


@pytest.mark.filterwarnings("ignore:dropout2d:UserWarning")  # torch's, about the model imported
def test_functions_and_methods_import_as_their_layers():
    result = import_module(Functional(), [(8, 5)])
    assert layers(result) == [
        ("hardtanh", {"min_val": -2.0, "max_val": 3.0}), ("relu6", {}), ("selu", {}),
        ("softplus", {"beta": 2.0, "threshold": 5.0}), ("softsign", {}), ("celu", {"alpha": 0.5}),
        ("hardshrink", {"lambd": 0.2}), ("softshrink", {"lambd": 0.1}), ("hardsigmoid", {}),
        ("hardswish", {}), ("mish", {}), ("threshold", {"threshold": 0.1, "value": 2.0}),
        ("log_sigmoid", {}), ("tanhshrink", {}), ("glu", {"dim": 1}),
        ("group_norm", {"num_groups": 2, "affine": False}), ("instance_norm", {}),
        ("local_response_norm", {"size": 3}), ("rms_norm", {"elementwise_affine": False}),
        ("dropout2d", {"p": 0.1}), ("alpha_dropout", {"p": 0.2}),
    ]
    assert result.max_difference <= 1e-5


class Dropouts(nn.Module):
    """Dropout2d where real models put it: after a Linear, and on a volume."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(6, 8)
        self.drop = nn.Dropout2d(0.3)
        self.volume = nn.Dropout2d(0.4)

    def forward(self, x, v):
        sequence = F.dropout1d(v.flatten(2), 0.2, self.training)
        return self.drop(self.fc(x)), self.volume(v), sequence, F.dropout3d(v, training=self.training)


@pytest.mark.filterwarnings("ignore:dropout2d:UserWarning")
def test_dropout2d_on_features_or_volumes_imports_as_the_dropout_torch_applies():
    result = import_module(Dropouts(), [(6,), (2, 3, 3, 3)])
    assert sorted(layers(result), key=str) == [
        ("dense", {"units": 8}), ("dropout", {"p": 0.3}), ("dropout1d", {"p": 0.2}),
        ("dropout3d", {"p": 0.4}), ("dropout3d", {}), ("reshape", {"shape": (2, 27)}),
    ]


class Wrapped(nn.Module):
    def __init__(self, layer):
        super().__init__()
        self.layer = layer

    def forward(self, x):
        return self.layer(x)


@pytest.mark.parametrize(("layer", "shape", "why"), [
    (nn.Dropout1d(), (8,), "drops whole samples"),
    (nn.InstanceNorm1d(4), (4,), "without its batch dim"),
    (nn.Dropout3d(), (3, 4, 4), "drops whole samples"),
    (nn.InstanceNorm1d(4, momentum=None, track_running_stats=True), (4, 6), "momentum=None"),
])
@pytest.mark.filterwarnings("ignore:input's size:UserWarning")
def test_modules_used_in_ways_layerloom_cannot_follow_are_refused_with_a_reason(layer, shape, why):
    with pytest.raises(ModelImportError, match=why):
        import_module(Wrapped(layer), [shape])


class GroupNormWithWeights(nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(4))

    def forward(self, x):
        return F.group_norm(x, 2, self.weight)


def test_functional_norms_with_their_own_weights_are_refused():
    with pytest.raises(ModelImportError, match="self.weight"):
        import_module(GroupNormWithWeights(), [(4, 3)])


def test_modules_keep_their_weights():
    model = nn.Sequential(nn.PReLU(4), nn.GroupNorm(2, 4), nn.InstanceNorm1d(4, affine=True, track_running_stats=True),
                          nn.RMSNorm(5), nn.BatchNorm1d(4))
    with torch.no_grad():
        for tensor in [*model.parameters(), *model.buffers()]:
            if tensor.is_floating_point():
                tensor.copy_(torch.rand_like(tensor) + 0.5)
    result = import_module(model, [(4, 5)])
    assert [t for t, _ in layers(result)] == ["prelu", "group_norm", "instance_norm", "rms_norm", "batch_norm"]
    assert sum(p.numel() for p in result.model.parameters()) == sum(p.numel() for p in model.parameters())
    assert result.max_difference <= 1e-5


# --------------------------------------------------------------- ONNX import
def onnx_file(tmp_path, nodes, inits=None, shape=(4, 3), opset=17):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", *shape])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    y.type.tensor_type.shape.Clear()
    tensors = [numpy_helper.from_array(np.asarray(v, np.float32), k) for k, v in (inits or {}).items()]
    model = helper.make_model(helper.make_graph(nodes, "g", [x], [y], tensors),
                              opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 10
    path = tmp_path / "model.onnx"
    onnx.save(model, str(path))
    return path


@pytest.mark.parametrize(("node", "inits", "shape", "opset", "expected"), [
    (helper.make_node("Shrink", ["x"], ["y"], lambd=0.3, bias=0.3), {}, (4, 3), 17, ("softshrink", {"lambd": 0.3})),
    (helper.make_node("Shrink", ["x"], ["y"], lambd=0.3), {}, (4, 3), 17, ("hardshrink", {"lambd": 0.3})),
    (helper.make_node("Softsign", ["x"], ["y"]), {}, (4, 3), 17, ("softsign", {})),
    (helper.make_node("Selu", ["x"], ["y"]), {}, (4, 3), 17, ("selu", {})),
    (helper.make_node("Clip", ["x", "lo", "hi"], ["y"]), {"lo": 0.0, "hi": 6.0}, (4, 3), 17, ("relu6", {})),
    (helper.make_node("Clip", ["x", "lo"], ["y"]), {"lo": 0.0}, (4, 3), 17, ("relu", {})),
    (helper.make_node("Clip", ["x", "lo"], ["y"]), {"lo": -1.0}, (4, 3), 17, ("clamp", {"min": -1.0})),
    (helper.make_node("LRN", ["x"], ["y"], size=3, alpha=0.5), {}, (4, 3, 3), 17,
     ("local_response_norm", {"size": 3, "alpha": 0.5})),
    (helper.make_node("GroupNormalization", ["x", "s", "b"], ["y"], num_groups=2),
     {"s": [1, 2, 3, 4], "b": [0, 1, 0, 1]}, (4, 3), 21, ("group_norm", {"num_groups": 2})),
    (helper.make_node("RMSNormalization", ["x", "s"], ["y"], axis=-1, epsilon=1e-6), {"s": [1, 2, 3]},
     (4, 3), 23, ("rms_norm", {"eps": 1e-6})),
    (helper.make_node("InstanceNormalization", ["x", "s", "b"], ["y"]), {"s": [1, 2, 3, 4], "b": [0, 0, 1, 1]},
     (4, 3), 17, ("instance_norm", {"affine": True})),
])
def test_onnx_operators_import_as_layers(tmp_path, node, inits, shape, opset, expected):
    result = import_onnx(onnx_file(tmp_path, [node], inits, shape, opset))
    assert layers(result) == [expected]
    assert result.max_difference <= 1e-5


@pytest.mark.parametrize(("node", "inits", "why"), [
    (helper.make_node("HardSigmoid", ["x"], ["y"]), {}, "relu6"),
    (helper.make_node("Shrink", ["x"], ["y"], lambd=0.3, bias=0.1), {}, "neither Softshrink nor Hardshrink"),
])
def test_onnx_operators_layerloom_cannot_follow_are_refused_with_a_reason(tmp_path, node, inits, why):
    with pytest.raises(ModelImportError, match=why):
        import_onnx(onnx_file(tmp_path, [node], inits))


# ------------------------------------------------------------------- folding
def tanhshrink_ops():
    return [Op("Tanh", "t", ["x"], ["t"]), Op("Sub", "s", ["x", "t"], ["y"])]


def test_a_decomposition_folds_into_one_operator():
    folded = fold(tanhshrink_ops(), ["y"])
    assert [(op.op_type, op.inputs, op.outputs) for op in folded] == [("LayerLoomTanhshrink", ["x"], ["y"])]


def test_a_decomposition_whose_inner_values_are_used_elsewhere_stays():
    shared = [*tanhshrink_ops(), Op("Relu", "r", ["t"], ["z"])]
    assert [op.op_type for op in fold(shared, ["y", "z"])] == ["Tanh", "Sub", "Relu"]
    assert [op.op_type for op in fold(tanhshrink_ops(), ["y", "t"])] == ["Tanh", "Sub"]


def test_the_largest_pattern_wins():
    ops = [Op("Pow", "p", ["x", "two"], ["sq"]), Op("ReduceMean", "m", ["sq", "axes"], ["mean"]),
           Op("Add", "a", ["mean", "eps"], ["var"]), Op("Sqrt", "r", ["var"], ["root"]),
           Op("Reciprocal", "i", ["root"], ["inv"]), Op("Mul", "n", ["x", "inv"], ["normed"]),
           Op("Mul", "w", ["normed", "weight"], ["y"])]
    constants = ["two", "axes", "eps", "weight"]
    (folded,) = fold(ops, ["y"], constants)
    assert folded.op_type == "LayerLoomRMSNorm" and folded.inputs[-1] == "weight"
    # a scale that is computed is another operation, not RMSNorm's weight
    assert [op.op_type for op in fold(ops, ["y"], constants[:-1])] == ["LayerLoomRMSNorm", "Mul"]


def test_softmax2d_is_a_softmax_over_the_channels():
    result = import_module(nn.Sequential(nn.Softmax2d()), [(3, 4, 4)])
    assert layers(result) == [("softmax", {"dim": -3})]
    with pytest.raises(ModelImportError, match="mix the samples"):
        import_module(nn.Sequential(nn.Softmax2d()), [(4, 4)])
