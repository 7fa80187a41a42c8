"""Shape rules and parameter counts of the normalisation, activation and recurrent
layers, checked against PyTorch itself over many parameter combinations.

For every combination the torch module is built and run on a small batch of two
samples: when torch accepts it, LayerLoom's output shape and parameter count must
be torch's; when torch refuses (an error, or a warning such as dropout on a single
recurrent layer), LayerLoom must report a ShapeError instead.
"""

from __future__ import annotations

import warnings

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from layerloom.graph import REGISTRY, Graph, ShapeError, TensorSpec
from tests.graph.helpers import chain

SETTINGS = settings(max_examples=30, deadline=None)
BATCH = 2


def infer(type_id, params, shape, dtype="float"):
    """LayerLoom's (output spec, parameter count, flops); raises ShapeError."""
    spec = REGISTRY.get(type_id)
    values = spec.check_params(params)
    ins = {"in": TensorSpec(tuple(shape), dtype)}
    outs = spec.infer(values, ins)
    return outs["out"], spec.param_count(values, ins, outs), spec.flops(values, ins, outs)


def run_torch(make_module, shape):
    """Build and run a torch module on a batch; returns (module, output) or raises.

    Warnings count as refusals: torch warns where a setting has no effect.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        module = make_module()
        return module, module(torch.randn(BATCH, *shape))


def torch_params(module) -> int:
    return sum(p.numel() for p in module.parameters())


def torch_refuses(make_module, shape) -> bool:
    try:
        run_torch(make_module, shape)
    except (RuntimeError, ValueError, IndexError, UserWarning):
        return True
    return False


shapes = st.lists(st.integers(1, 5), min_size=1, max_size=4).map(tuple)


# ------------------------------------------------------------------ normalisation


@SETTINGS
@given(
    shape=shapes,
    affine=st.booleans(),
    track=st.booleans(),
    eps=st.sampled_from([1e-5, 1e-3, 0.1]),
    momentum=st.sampled_from([0.0, 0.1, 0.9]),
)
def test_batch_norm_agrees_with_torch(shape, affine, track, eps, momentum):
    params = {"eps": eps, "momentum": momentum, "affine": affine, "track_running_stats": track}
    kwargs = {"eps": eps, "momentum": momentum, "affine": affine, "track_running_stats": track}
    candidates = [lambda cls=cls: cls(shape[0], **kwargs) for cls in (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)]
    accepted = [c for c in candidates if not torch_refuses(c, shape)]
    if not accepted:
        with pytest.raises(ShapeError, match=r"BatchNorm needs"):
            infer("batch_norm", params, shape)
        return
    out, count, flops = infer("batch_norm", params, shape)
    module, y = run_torch(accepted[0], shape)
    assert out.shape == tuple(y.shape[1:])
    assert count == torch_params(module)
    assert flops >= y[0].numel()


def test_batch_norm_picks_1d_for_features_and_sequences_2d_for_images_and_3d_for_volumes():
    from layerloom.graph.layers.norm_act import batch_norm_kind

    kinds = [batch_norm_kind(r) for r in (1, 2, 3, 4)]
    assert kinds == ["BatchNorm1d", "BatchNorm1d", "BatchNorm2d", "BatchNorm3d"]
    with pytest.raises(ShapeError) as err:
        infer("batch_norm", {}, (2, 3, 4, 5, 6))
    assert "(2, 3, 4, 5, 6)" in err.value.message and "(C, D, H, W)" in err.value.fix


@SETTINGS
@given(
    shape=shapes,
    dims=st.integers(1, 5),
    affine=st.booleans(),
    bias=st.booleans(),
)
def test_layer_norm_agrees_with_torch(shape, dims, affine, bias):
    params = {"dims": dims, "elementwise_affine": affine, "bias": bias}
    if dims > len(shape):
        # torch would have to normalise over the batch dim too; LayerLoom refuses
        with pytest.raises(ShapeError, match=rf"last {dims} dims of \("):
            infer("layer_norm", params, shape)
        return
    out, count, _ = infer("layer_norm", params, shape)
    module, y = run_torch(
        lambda: nn.LayerNorm(shape[len(shape) - dims:], elementwise_affine=affine, bias=bias), shape
    )
    assert out.shape == tuple(y.shape[1:])
    assert count == torch_params(module)


# -------------------------------------------------------------------- activations

ACTIVATIONS = {
    "relu": (lambda p: nn.ReLU(), st.just({})),
    "silu": (lambda p: nn.SiLU(), st.just({})),
    "sigmoid": (lambda p: nn.Sigmoid(), st.just({})),
    "tanh": (lambda p: nn.Tanh(), st.just({})),
    "leaky_relu": (lambda p: nn.LeakyReLU(p["negative_slope"]),
                   st.fixed_dictionaries({"negative_slope": st.floats(0.0, 1.0)})),
    "elu": (lambda p: nn.ELU(p["alpha"]), st.fixed_dictionaries({"alpha": st.floats(0.0, 5.0)})),
    "gelu": (lambda p: nn.GELU(approximate=p["approximate"]),
             st.fixed_dictionaries({"approximate": st.sampled_from(["none", "tanh"])})),
    "softmax": (lambda p: nn.Softmax(dim=p["dim"]),
                st.fixed_dictionaries({"dim": st.integers(-6, 5)})),
    "log_softmax": (lambda p: nn.LogSoftmax(dim=p["dim"]),
                    st.fixed_dictionaries({"dim": st.integers(-6, 5)})),
}


@st.composite
def activation_cases(draw):
    type_id = draw(st.sampled_from(sorted(ACTIVATIONS)))
    make, params = ACTIVATIONS[type_id]
    return type_id, make, draw(params), draw(shapes)


@settings(max_examples=60, deadline=None)
@given(case=activation_cases())
def test_activations_agree_with_torch(case):
    type_id, make, params, shape = case
    refused = torch_refuses(lambda: make(params), shape)
    batch_dim = "dim" in params and params["dim"] % (len(shape) + 1) == 0
    if refused or batch_dim:
        # a softmax over the batch mixes samples: LayerLoom refuses it like torch's bad dims
        with pytest.raises(ShapeError, match=r"dim"):
            infer(type_id, params, shape)
        return
    out, count, flops = infer(type_id, params, shape)
    module, y = run_torch(lambda: make(params), shape)
    assert out.shape == tuple(y.shape[1:])
    assert count == torch_params(module) == 0
    assert flops >= y[0].numel()


@pytest.mark.parametrize("type_id", ["batch_norm", "layer_norm", *ACTIVATIONS])
def test_token_ids_need_an_embedding_first(type_id):
    with pytest.raises(ShapeError) as err:
        infer(type_id, {}, (7,), dtype="long")
    assert "long" in err.value.message and "Embedding" in err.value.fix


# ---------------------------------------------------------------------- recurrent

RECURRENT = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


@st.composite
def recurrent_cases(draw):
    type_id = draw(st.sampled_from(sorted(RECURRENT)))
    params = {
        "hidden_size": draw(st.integers(1, 6)),
        "num_layers": draw(st.integers(1, 3)),
        "bidirectional": draw(st.booleans()),
        "dropout": draw(st.sampled_from([0.0, 0.0, 0.25])),
        "bias": draw(st.booleans()),
        "return_sequences": draw(st.booleans()),
    }
    if type_id == "rnn":
        params["nonlinearity"] = draw(st.sampled_from(["tanh", "relu"]))
    shape = draw(st.lists(st.integers(1, 5), min_size=1, max_size=3).map(tuple))
    return type_id, params, shape


def torch_recurrent(type_id, p, features):
    kwargs = {k: p[k] for k in ("num_layers", "bias", "dropout", "bidirectional")}
    if type_id == "rnn":
        kwargs["nonlinearity"] = p["nonlinearity"]
    return RECURRENT[type_id](features, p["hidden_size"], batch_first=True, **kwargs)


@settings(max_examples=60, deadline=None)
@given(case=recurrent_cases())
def test_recurrent_agrees_with_torch(case):
    type_id, p, shape = case
    name = REGISTRY.get(type_id).name

    def make():
        return torch_recurrent(type_id, p, shape[-1])

    if len(shape) != 2:
        # (N, F) alone would be read by torch as one unbatched sequence, (N, C, T, F) is refused
        assert len(shape) == 1 or torch_refuses(make, shape)
        with pytest.raises(ShapeError, match=rf"{name} needs a sequence \(T, F\)"):
            infer(type_id, p, shape)
        return
    if torch_refuses(make, shape):
        assert p["dropout"] > 0 and p["num_layers"] == 1
        with pytest.raises(ShapeError, match="num_layers is 1"):
            infer(type_id, p, shape)
        return
    out, count, flops = infer(type_id, p, shape)
    module, (output, hidden) = run_torch(make, shape)
    h_n = hidden[0] if type_id == "lstm" else hidden
    dirs = 2 if p["bidirectional"] else 1
    # the last step is the top layer's final hidden state of every direction
    last = torch.cat(list(h_n[-dirs:]), dim=-1)
    expected = output if p["return_sequences"] else last
    assert out.shape == tuple(expected.shape[1:])
    assert count == torch_params(module)
    assert flops > 0


def test_recurrent_error_quotes_the_shape_and_says_what_to_do():
    with pytest.raises(ShapeError) as err:
        infer("lstm", {}, (3, 32, 32))
    assert err.value.message == "LSTM needs a sequence (T, F); it receives (3, 32, 32)"
    assert err.value.fix == "insert Reshape or Permute to (T, F)"
    with pytest.raises(ShapeError) as err:
        infer("gru", {}, (20, 8), dtype="long")
    assert "Embedding" in err.value.fix
    with pytest.raises(ShapeError) as err:
        infer("rnn", {"dropout": 0.5}, (20, 8))
    assert "dropout 0.5" in err.value.message and "num_layers" in err.value.fix


def test_recurrent_flops_grow_with_sequence_length_and_depth():
    p = {"hidden_size": 16, "num_layers": 1}
    short = infer("lstm", p, (10, 8))[2]
    assert infer("lstm", p, (20, 8))[2] == 2 * short
    assert infer("lstm", {**p, "bidirectional": True}, (10, 8))[2] == 2 * short
    assert infer("lstm", {**p, "num_layers": 2}, (10, 8))[2] > short
    assert infer("rnn", p, (10, 8))[2] < infer("gru", p, (10, 8))[2] < short


# -------------------------------------------------------------- declarations, graph

MINE = ["batch_norm", "layer_norm", *ACTIVATIONS, *RECURRENT]


@pytest.mark.parametrize("type_id", MINE)
def test_declarations_are_complete(type_id):
    spec = REGISTRY.get(type_id)
    assert spec.doc and "\n" not in spec.doc
    assert spec.keywords
    assert all(p.help for p in spec.params)
    keys = [p.name for p in spec.params if p.key]
    assert (1 <= len(keys) <= 3) if spec.params else not keys
    expected = {"batch_norm": "Normalisation", "layer_norm": "Normalisation",
                "rnn": "Recurrent", "lstm": "Recurrent", "gru": "Recurrent"}
    assert spec.category == expected.get(type_id, "Activation")


def test_palette_search_finds_the_layers_by_their_usual_names():
    assert REGISTRY.get("batch_norm") in REGISTRY.search("batchnorm")
    assert REGISTRY.get("lstm") in REGISTRY.search("long short-term memory")
    assert REGISTRY.get("silu") in REGISTRY.search("swish")


def test_a_sequence_classifier_infers_end_to_end():
    g = Graph()
    ids = chain(
        g,
        ("input", {"shape": [28, 28]}),
        ("layer_norm", {}),
        ("lstm", {"hidden_size": 20, "bidirectional": True, "return_sequences": False}),
        ("dense", {"units": 10}),
        ("log_softmax", {}),
        "output",
    )
    analysis = g.analysis()
    assert analysis.valid, analysis.errors
    lstm = analysis.nodes[ids[2]]
    assert lstm.out.shape == (40,)
    reference = nn.LSTM(28, 20, batch_first=True, bidirectional=True)
    assert lstm.params == torch_params(reference)
    assert analysis.nodes[ids[4]].out.shape == (10,)
    g.set_param(ids[2], "return_sequences", True)
    analysis = g.analysis()
    assert analysis.nodes[ids[2]].out.shape == (28, 40)
    assert analysis.nodes[ids[3]].out.shape == (28, 10)
