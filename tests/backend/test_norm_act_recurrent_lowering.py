"""Compiled normalisation, activation and recurrent nodes compute what the plain
torch modules compute with the same weights, including the last step of a
bidirectional recurrent layer (torch's h_n of both directions)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from layerloom.backend.compile import compile_graph
from layerloom.backend.lowerings.recurrent import GRU, LSTM, RNN
from layerloom.graph import Graph
from tests.graph.helpers import chain

TOL = {"atol": 1e-6, "rtol": 1e-6}


def single_layer(type_id, params, shape):
    """Compile Input(shape) -> layer -> Output; returns (model, layer module)."""
    g = Graph()
    ids = chain(g, ("input", {"shape": list(shape)}), (type_id, params), "output")
    model = compile_graph(g, seed=0)
    name = next(n for n, nid in model.module_nodes.items() if nid == ids[1])
    return model, model.get_submodule(name)


def randomise(module):
    """Move every parameter and buffer away from its initial value."""
    with torch.no_grad():
        for tensor in [*module.parameters(), *module.buffers()]:
            if tensor.is_floating_point():
                tensor.copy_(torch.rand_like(tensor) + 0.5)
    return module


def copy_weights(source, target):
    target.load_state_dict(source.state_dict(), strict=True)
    return target


# ------------------------------------------------------------------ normalisation


@pytest.mark.parametrize(
    "shape, cls",
    [((6,), nn.BatchNorm1d), ((4, 7), nn.BatchNorm1d), ((3, 5, 5), nn.BatchNorm2d), ((2, 3, 4, 4), nn.BatchNorm3d)],
)
@pytest.mark.parametrize("affine, track", [(True, True), (False, True), (True, False)])
def test_batch_norm_matches_torch_in_training_and_inference(shape, cls, affine, track):
    params = {"eps": 1e-3, "momentum": 0.3, "affine": affine, "track_running_stats": track}
    model, layer = single_layer("batch_norm", params, shape)
    assert type(layer) is cls
    reference = copy_weights(randomise(layer), cls(shape[0], 1e-3, 0.3, affine, track))
    x = torch.randn(4, *shape)
    torch.testing.assert_close(model(x), reference(x), **TOL)  # training: batch statistics
    for name, buffer in reference.named_buffers():
        torch.testing.assert_close(layer.get_buffer(name), buffer, **TOL)
    model.eval()
    reference.eval()
    torch.testing.assert_close(model(x), reference(x), **TOL)


@pytest.mark.parametrize("dims", [1, 2, 3])
@pytest.mark.parametrize("affine, bias", [(True, True), (True, False), (False, True)])
def test_layer_norm_matches_torch(dims, affine, bias):
    shape = (3, 4, 5)
    params = {"dims": dims, "eps": 1e-4, "elementwise_affine": affine, "bias": bias}
    model, layer = single_layer("layer_norm", params, shape)
    reference = nn.LayerNorm(shape[3 - dims:], 1e-4, elementwise_affine=affine, bias=bias)
    copy_weights(randomise(layer), reference)
    x = torch.randn(2, *shape)
    torch.testing.assert_close(model(x), reference(x), **TOL)


# -------------------------------------------------------------------- activations

ACTIVATIONS = [
    ("relu", {}, F.relu),
    ("silu", {}, F.silu),
    ("sigmoid", {}, torch.sigmoid),
    ("tanh", {}, torch.tanh),
    ("leaky_relu", {"negative_slope": 0.2}, lambda x: F.leaky_relu(x, 0.2)),
    ("elu", {"alpha": 0.5}, lambda x: F.elu(x, 0.5)),
    ("gelu", {"approximate": "none"}, F.gelu),
    ("gelu", {"approximate": "tanh"}, lambda x: F.gelu(x, approximate="tanh")),
    ("softmax", {"dim": -1}, lambda x: torch.softmax(x, -1)),
    ("softmax", {"dim": 1}, lambda x: torch.softmax(x, 1)),
    ("log_softmax", {"dim": 2}, lambda x: torch.log_softmax(x, 2)),
]


@pytest.mark.parametrize("type_id, params, function", ACTIVATIONS)
def test_activations_match_torch(type_id, params, function):
    model, layer = single_layer(type_id, params, (3, 4))
    x = 3 * torch.randn(5, 3, 4)
    torch.testing.assert_close(model(x), function(x), **TOL)
    assert not list(layer.parameters())


# ---------------------------------------------------------------------- recurrent

PLAIN = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
WRAPPED = {"rnn": RNN, "lstm": LSTM, "gru": GRU}


def reference_recurrent(type_id, p, features):
    kwargs = {k: p[k] for k in ("num_layers", "bias", "dropout", "bidirectional")}
    if type_id == "rnn":
        kwargs["nonlinearity"] = p["nonlinearity"]
    return PLAIN[type_id](features, p["hidden_size"], batch_first=True, **kwargs)


def expected_output(type_id, reference, p, x):
    """What a hand-written model returns: the output, or h_n of both directions."""
    output, hidden = reference(x)
    if p["return_sequences"]:
        return output
    h_n = hidden[0] if type_id == "lstm" else hidden
    dirs = 2 if p["bidirectional"] else 1
    return torch.cat(list(h_n[-dirs:]), dim=-1)


@st.composite
def recurrent_cases(draw):
    type_id = draw(st.sampled_from(sorted(PLAIN)))
    layers = draw(st.integers(1, 3))
    p = {
        "hidden_size": draw(st.integers(1, 5)),
        "num_layers": layers,
        "bidirectional": draw(st.booleans()),
        "dropout": 0.0 if layers == 1 else draw(st.sampled_from([0.0, 0.4])),
        "bias": draw(st.booleans()),
        "return_sequences": draw(st.booleans()),
        "nonlinearity": draw(st.sampled_from(["tanh", "relu"])),
    }
    if type_id != "rnn":
        del p["nonlinearity"]
    shape = (draw(st.integers(1, 6)), draw(st.integers(1, 4)))
    return type_id, p, shape


@settings(max_examples=30, deadline=None)
@given(case=recurrent_cases())
def test_recurrent_matches_a_hand_written_torch_module(case):
    type_id, p, shape = case
    model, layer = single_layer(type_id, p, shape)
    assert type(layer) is WRAPPED[type_id]
    # same flat parameter names as torch's module: a hand-written state_dict loads as is
    reference = copy_weights(layer, reference_recurrent(type_id, p, shape[1]))
    model.eval()
    reference.eval()
    x = torch.randn(3, *shape)
    with torch.no_grad():
        torch.testing.assert_close(model(x), expected_output(type_id, reference, p, x), **TOL)


@pytest.mark.parametrize("type_id", sorted(PLAIN))
def test_bidirectional_last_step_is_forward_end_joined_with_backward_start(type_id):
    p = {"hidden_size": 4, "num_layers": 2, "bidirectional": True, "return_sequences": False}
    model, layer = single_layer(type_id, p, (7, 3))
    x = torch.randn(2, 7, 3)
    with torch.no_grad():
        last = model(x)
        sequence, hidden = PLAIN[type_id].forward(layer, x)
    h_n = hidden[0] if type_id == "lstm" else hidden
    assert last.shape == (2, 8)
    torch.testing.assert_close(last[:, :4], sequence[:, -1, :4], **TOL)
    torch.testing.assert_close(last[:, 4:], sequence[:, 0, 4:], **TOL)
    torch.testing.assert_close(last, torch.cat((h_n[-2], h_n[-1]), dim=-1), **TOL)
    # the backward direction at step 0 has read the whole sequence: not the step T-1 value
    assert not torch.allclose(last[:, 4:], sequence[:, -1, 4:])


def test_dropout_between_layers_acts_only_while_training():
    p = {"hidden_size": 8, "num_layers": 2, "dropout": 0.5, "return_sequences": True}
    model, _ = single_layer("gru", p, (5, 3))
    x = torch.randn(4, 5, 3)
    model.train()
    torch.manual_seed(1)
    first = model(x)
    assert not torch.allclose(first, model(x))
    model.eval()
    torch.testing.assert_close(model(x), model(x), **TOL)


def test_recurrent_model_trains():
    g = Graph()
    chain(
        g,
        ("input", {"shape": [6, 2]}),
        ("lstm", {"hidden_size": 8, "bidirectional": True}),
        ("layer_norm", {}),
        ("dense", {"units": 1}),
        "output",
    )
    model = compile_graph(g, seed=0)
    torch.manual_seed(0)
    x = torch.randn(32, 6, 2)
    y = x.sum(dim=(1, 2)).unsqueeze(1)
    opt = torch.optim.Adam(model.parameters(), lr=0.03)
    losses = []
    for _ in range(25):
        opt.zero_grad()
        loss = F.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.3 * losses[0]


@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning", "ignore::DeprecationWarning")
def test_wrapped_recurrent_module_traces_with_torchscript():
    p = {"hidden_size": 4, "num_layers": 2, "bidirectional": True, "return_sequences": False}
    model, _ = single_layer("lstm", p, (5, 3))
    model.eval()
    traced = torch.jit.trace(model, torch.randn(2, 5, 3))
    x = torch.randn(3, 9, 3)  # another batch size and sequence length
    torch.testing.assert_close(traced(x), model(x), **TOL)


@pytest.mark.filterwarnings("ignore")
def test_bidirectional_last_step_exports_to_onnx_with_dynamic_batch():
    """The wrapper exports and runs at another batch size. Whether the exporter keeps
    the sequence length dynamic varies (the known LSTM trap); backend.export detects
    that and writes the length as fixed, tested in tests/backend/test_export_onnx.py."""
    ort = pytest.importorskip("onnxruntime")
    p = {"hidden_size": 4, "bidirectional": True, "return_sequences": False}
    model, _ = single_layer("lstm", p, (5, 3))
    model.eval()
    dims = {0: torch.export.Dim("batch"), 1: torch.export.Dim("time")}
    program = torch.onnx.export(
        model, (torch.randn(2, 5, 3),), dynamo=True, verbose=False, dynamic_shapes=(dims,)
    )
    session = ort.InferenceSession(program.model_proto.SerializeToString())
    x = torch.randn(3, 5, 3)
    (out,) = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    torch.testing.assert_close(torch.from_numpy(out), model(x).detach(), atol=1e-5, rtol=1e-5)
