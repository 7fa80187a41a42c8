"""What a layer declaration says about the width of its output: ``width_param``
sets the last dim, ``passes_width`` layers keep their input's shape."""

import pytest

from layerloom.graph import REGISTRY, LayerSpec, ParamError, TensorSpec
from layerloom.graph.layers.io_core import SPECS as IO_CORE


def test_layers_that_pass_the_width_keep_the_input_shape():
    passing = [spec for spec in REGISTRY if spec.passes_width]
    assert {"dropout", "relu", "softmax", "log_softmax"} <= {spec.type_id for spec in passing}
    for spec in passing:
        x = TensorSpec((6, 5))
        assert spec.infer(spec.defaults(), {port: x for port in spec.input_ports(spec.defaults())}) == {"out": x}
    assert not REGISTRY.get("layer_norm").passes_width  # learns per-feature values: a fit stops there


def test_the_width_param_sets_the_last_dim():
    widths = {spec.type_id: spec.width_param for spec in REGISTRY if spec.width_param}
    assert widths == {"dense": "units"}
    dense = REGISTRY.get("dense")
    params = dense.check_params({"units": 7})
    assert dense.infer(params, {"in": TensorSpec((3, 4))})["out"].shape[-1] == 7


def test_a_width_param_must_be_a_parameter_of_the_layer():
    dense = next(spec for spec in IO_CORE if spec.type_id == "dense")
    with pytest.raises(ParamError, match="Dense has no parameter 'size'"):
        LayerSpec("dense_too", "Dense", "Core", "", dense.params, dense.shape_rule, width_param="size")
