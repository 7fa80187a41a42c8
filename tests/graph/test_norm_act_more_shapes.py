"""Shape rules of GroupNorm, InstanceNorm, RMSNorm, LocalResponseNorm, the channel
dropouts, AlphaDropout and the activations added next to ReLU: what they refuse
is quoted with the shapes and a fix, their settings are checked, and their output
shapes and parameter counts agree with torch over many settings."""

from __future__ import annotations

import warnings

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from layerloom.graph import REGISTRY, ParamError, ShapeError, TensorSpec

NORMS = ["group_norm", "instance_norm", "rms_norm", "local_response_norm"]
DROPOUTS = ["dropout1d", "dropout2d", "dropout3d", "alpha_dropout"]
ACTIVATIONS = [
    "prelu", "relu6", "selu", "celu", "softplus", "softsign", "softshrink", "hardshrink", "hardswish",
    "hardsigmoid", "hardtanh", "mish", "log_sigmoid", "glu", "threshold", "tanhshrink", "identity",
]


def infer(type_id, params, shape, dtype="float"):
    """(output spec, parameter count); raises ShapeError."""
    spec = REGISTRY.get(type_id)
    values = spec.check_params(params)
    ins = {"in": TensorSpec(tuple(shape), dtype)}
    outs = spec.infer(values, ins)
    return outs["out"], spec.param_count(values, ins, outs)


def refusal(type_id, params, shape, dtype="float") -> ShapeError:
    with pytest.raises(ShapeError) as err:
        infer(type_id, params, shape, dtype)
    return err.value


# ------------------------------------------------------------- what is refused
def test_group_norm_needs_groups_that_divide_the_channels():
    err = refusal("group_norm", {"num_groups": 4}, (6, 5, 5))
    assert err.message == "GroupNorm num_groups=4 must divide the 6 channels (dim 1) of the input (6, 5, 5)"
    assert err.fix == "set num_groups to a divisor of 6, such as 3"


def test_instance_norm_needs_positions_to_normalise_over():
    err = refusal("instance_norm", {}, (8,))
    assert "(8,)" in err.message and "Reshape to (C, L)" in err.fix and "LayerNorm" in err.fix
    err = refusal("instance_norm", {}, (4, 1, 1))
    assert "(4, 1, 1)" in err.message and "single one" in err.message
    assert refusal("instance_norm", {}, (2, 3, 4, 5, 6)).fix.startswith("insert a Reshape")


def test_rms_norm_never_normalises_the_batch():
    err = refusal("rms_norm", {"dims": 3}, (4, 6))
    assert "last 3 dims of (4, 6)" in err.message and err.fix == "set dims to 2 or less"


def test_local_response_norm_needs_channels_and_positions():
    err = refusal("local_response_norm", {}, (8,))
    assert "(8,)" in err.message and err.fix == "insert a Reshape to (C, L), such as (1, 8)"


def test_prelu_slopes_are_one_or_one_per_channel():
    err = refusal("prelu", {"num_parameters": 3}, (4, 6))
    assert "num_parameters=3" in err.message and "(4, 6) has 4" in err.message
    assert err.fix == "set num_parameters to 1 (one shared slope) or 4 (one per channel)"
    assert infer("prelu", {"num_parameters": 4}, (4, 6))[1] == 4


def test_glu_needs_an_even_dim_and_never_splits_the_batch():
    err = refusal("glu", {"dim": 1}, (5, 6))
    assert "odd size 5 in (5, 6)" in err.message and "6" in err.fix
    assert "batch dim" in refusal("glu", {"dim": 0}, (4, 6)).message
    assert infer("glu", {"dim": 1}, (4, 6))[0].shape == (2, 6)
    assert infer("glu", {"dim": -1}, (4, 6))[0].shape == (4, 3)


def test_hardtanh_needs_a_range():
    err = refusal("hardtanh", {"min_val": 2.0, "max_val": 1.0}, (4,))
    assert "min_val=2.0" in err.message and "max_val=1.0" in err.message and err.fix


@pytest.mark.parametrize(("type_id", "shape", "fix"), [
    ("dropout1d", (3, 4, 4), "use Dropout2d for (C, H, W)"),
    ("dropout1d", (8,), "use Dropout for features (F,): it drops single values"),
    ("dropout3d", (3, 4, 4), "use Dropout2d for (C, H, W)"),
    ("dropout2d", (2, 3, 4, 4, 5), "use Dropout, which takes any shape"),
])
def test_channel_dropouts_name_the_dropout_for_the_shape(type_id, shape, fix):
    err = refusal(type_id, {}, shape)
    assert str(shape) in err.message and err.fix == fix


def test_dropout2d_follows_torch_2_13():
    # (C, L): torch reads (N, C, L) as 1-d channels and drops whole ones
    assert infer("dropout2d", {}, (4, 6))[0].shape == (4, 6)
    # (F,) and (C, D, H, W): torch 2.13 warns that these will become errors
    err = refusal("dropout2d", {}, (8,))
    assert "torch 2.13 deprecates" in err.message and err.fix.startswith("use Dropout ")
    assert refusal("dropout2d", {}, (2, 3, 4, 4)).fix == "use Dropout3d for (C, D, H, W)"


@pytest.mark.parametrize("type_id", [*NORMS, *ACTIVATIONS[:-1]])
def test_token_ids_need_an_embedding_first(type_id):
    err = refusal(type_id, {}, (6, 4), dtype="long")
    assert "long" in err.message and "Embedding" in err.fix


def test_identity_and_dropouts_pass_any_values():
    assert infer("identity", {}, (7,), "long")[0] == TensorSpec((7,), "long")
    assert infer("alpha_dropout", {}, (7,), "long")[0] == TensorSpec((7,), "long")


@pytest.mark.parametrize(("type_id", "params"), [
    ("celu", {"alpha": 0.0}), ("softplus", {"beta": 0.0}), ("softshrink", {"lambd": -0.1}),
    ("group_norm", {"num_groups": 0}), ("prelu", {"num_parameters": 0}), ("rms_norm", {"eps": 0.0}),
    ("local_response_norm", {"size": 0}), ("dropout2d", {"p": 1.5}), ("glu", {"dim": 9}),
])
def test_settings_out_of_range_are_refused(type_id, params):
    with pytest.raises(ParamError):
        REGISTRY.get(type_id).check_params(params)


def test_rms_norm_eps_is_optional_like_torchs():
    spec = REGISTRY.get("rms_norm")
    assert spec.check_params({})["eps"] is None
    assert spec.param("eps").unset
    assert spec.check_params({"eps": 1e-6})["eps"] == 1e-6


# ------------------------------------------------------------- against torch
def torch_result(module, shape):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return module(torch.randn(2, *shape))


shapes = st.lists(st.integers(1, 5), min_size=1, max_size=4).map(tuple)


@settings(max_examples=25, deadline=None)
@given(shape=shapes, groups=st.integers(1, 5), affine=st.booleans())
def test_group_norm_agrees_with_torch(shape, groups, affine):
    params = {"num_groups": groups, "affine": affine}
    if shape[0] % groups:
        with pytest.raises(ShapeError, match="must divide"):
            infer("group_norm", params, shape)
        with pytest.raises(ValueError):
            nn.GroupNorm(groups, shape[0], affine=affine)
        return
    out, count = infer("group_norm", params, shape)
    module = nn.GroupNorm(groups, shape[0], affine=affine)
    assert out.shape == tuple(torch_result(module, shape).shape[1:])
    assert count == sum(p.numel() for p in module.parameters())


@settings(max_examples=25, deadline=None)
@given(shape=shapes, affine=st.booleans(), track=st.booleans())
def test_instance_norm_agrees_with_torch(shape, affine, track):
    params = {"affine": affine, "track_running_stats": track}
    classes = {2: nn.InstanceNorm1d, 3: nn.InstanceNorm2d, 4: nn.InstanceNorm3d}
    if len(shape) not in classes or all(d == 1 for d in shape[1:]):
        with pytest.raises(ShapeError, match="InstanceNorm"):
            infer("instance_norm", params, shape)
        return
    out, count = infer("instance_norm", params, shape)
    module = classes[len(shape)](shape[0], affine=affine, track_running_stats=track)
    assert out.shape == tuple(torch_result(module, shape).shape[1:])
    assert count == sum(p.numel() for p in module.parameters())


@settings(max_examples=25, deadline=None)
@given(shape=shapes, dims=st.integers(1, 4), affine=st.booleans())
def test_rms_norm_agrees_with_torch(shape, dims, affine):
    params = {"dims": dims, "elementwise_affine": affine}
    if dims > len(shape):
        with pytest.raises(ShapeError):
            infer("rms_norm", params, shape)
        return
    out, count = infer("rms_norm", params, shape)
    module = nn.RMSNorm(shape[len(shape) - dims:], elementwise_affine=affine)
    assert out.shape == tuple(torch_result(module, shape).shape[1:])
    assert count == sum(p.numel() for p in module.parameters())


@settings(max_examples=20, deadline=None)
@given(shape=shapes, size=st.integers(1, 6))
def test_local_response_norm_agrees_with_torch(shape, size):
    if len(shape) < 2:
        with pytest.raises(ShapeError):
            infer("local_response_norm", {"size": size}, shape)
        with pytest.raises(ValueError):
            torch_result(nn.LocalResponseNorm(size), shape)
        return
    out, _ = infer("local_response_norm", {"size": size}, shape)
    assert out.shape == tuple(torch_result(nn.LocalResponseNorm(size), shape).shape[1:])


# -------------------------------------------------------------- declarations
@pytest.mark.parametrize("type_id", [*NORMS, *DROPOUTS, *ACTIVATIONS])
def test_declarations_are_complete(type_id):
    spec = REGISTRY.get(type_id)
    assert spec.doc and "\n" not in spec.doc and spec.keywords and spec.examples
    assert all(p.help for p in spec.params)
    keys = [p.name for p in spec.params if p.key]
    assert (1 <= len(keys) <= 3) if spec.params else not keys
    expected = "Normalisation" if type_id in NORMS else "Core" if type_id in DROPOUTS else "Activation"
    assert spec.category == expected


@pytest.mark.parametrize(("text", "type_id"), [
    ("instancenorm2d", "instance_norm"), ("batchnorm3d", "batch_norm"), ("rmsnorm", "rms_norm"),
    ("lrn", "local_response_norm"), ("spatial dropout", "dropout2d"), ("relu6", "relu6"),
    ("gated linear unit", "glu"), ("swish", "hardswish"),
])
def test_palette_search_finds_the_layers_by_their_usual_names(text, type_id):
    assert REGISTRY.get(type_id) in REGISTRY.search(text)
