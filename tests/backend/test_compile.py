"""compile_graph: every layer type, wiring, names, errors."""

from __future__ import annotations

import copy
import re

import pytest
import torch
from torch import nn

from layerloom.backend.compile import CompiledGraph, compile_graph
from layerloom.backend.lowerings import missing_lowerings
from layerloom.graph import REGISTRY, Graph, GraphInvalidError, validate
from layerloom.graph.examples import example_graph, examples_of
from tests.backend.helpers import Builder, layer, sequential


def run(model, *inputs):
    out = model(*inputs)
    return out if isinstance(out, tuple) else (out,)


# ------------------------------------------------- every layer in the registry
SMALL = {  # keeps every layer tiny whatever its defaults
    "units": 4, "channels": 4, "hidden_size": 4, "num_embeddings": 10, "embedding_dim": 8,
    "dim_feedforward": 16, "nhead": 2, "num_heads": 2, "max_len": 16,
}
CANDIDATE_INPUTS = [((8,), "float"), ((6, 8), "float"), ((4, 8, 8), "float"), ((6,), "long"), ((2, 4, 6, 6), "float")]


# Layers whose result carries no gradient back to their input: a learned or fixed
# tensor (only the input's batch size is read), noise, positions (long).
NO_INPUT_GRADIENT = {"parameter", "constant", "random_normal", "argmax", "argmin"}


def graph_for(spec) -> Graph:
    """A small valid graph around one layer type: its first declared example, or
    the first candidate input that the layer accepts, fed to every input port."""
    examples = examples_of(spec)
    if examples:
        return example_graph(spec, examples[0])
    params = {k: v for k, v in SMALL.items() if any(p.name == k for p in spec.params)}
    for shape, dtype in CANDIDATE_INPUTS:
        b = Builder()
        x = b.input(*shape, dtype=dtype)
        node = b.graph.add_node(spec.type_id, params)
        for port in node.input_ports():
            b.graph.connect(x, "out", node.id, port)
        for port in node.output_ports():
            out = b.graph.add_node("output")
            b.graph.connect(node.id, port, out.id, "in")
        if b.graph.analysis().valid:
            return b.graph
    raise AssertionError(f"no candidate input suits {spec.type_id}: {b.graph.analysis().errors}")


# Loss nodes are left out of the model (tests/backend/test_loss_terms.py).
LAYER_SPECS = [s for s in REGISTRY if not (s.is_input or s.is_output or s.loss)]


def test_every_layer_type_has_a_lowering():
    assert missing_lowerings() == []


@pytest.mark.parametrize("spec", LAYER_SPECS, ids=lambda s: s.type_id)
def test_every_layer_type_compiles_runs_and_trains(spec):
    graph = graph_for(spec)
    analysis = graph.analysis()
    model = compile_graph(graph, seed=0)
    assert isinstance(model, CompiledGraph)
    assert sum(p.numel() for p in model.parameters()) == analysis.total_params
    assert set(model.module_nodes.values()) <= {n.id for n in graph.nodes}
    high = spec.examples[0].high if spec.examples else 10
    # positive floats: in the domain of Log, Sqrt and Power too
    xs = [(torch.rand(2, *s.shape) + 0.5).requires_grad_() if s.dtype == "float"
          else torch.randint(0, high, (2, *s.shape)) for s in model.input_specs]
    outputs = run(model, *xs)
    for out, expected in zip(outputs, model.output_specs, strict=True):
        assert tuple(out.shape) == (2, *expected.shape)
        assert not torch.isnan(out).any()  # -inf is what MaskedFill writes by default
    differentiable = [o.float().sum() for o in outputs if o.requires_grad]
    if differentiable:
        sum(differentiable).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, name
    if spec.type_id not in NO_INPUT_GRADIENT:  # gradients flow through the layer
        assert all(x.grad is not None for x in xs if x.is_floating_point())
    model.eval()
    with torch.no_grad():
        first, second = run(model, *xs), run(model, *xs)
    assert all(torch.equal(a, b) for a, b in zip(first, second, strict=True))  # eval is deterministic


# ------------------------------------------------------- wiring and names
def test_branches_merges_several_inputs_and_outputs_are_wired_as_drawn():
    b = Builder()
    x = b.input(4, label="features")
    z = b.input(6, label="extra")
    h = b.node("dense", x, units=4, activation="relu", label="hidden")
    skip = b.node("add", h, x, label="residual")
    cat = b.node("concat", skip, z, dim=1)
    triple = b.node("add", skip, h, x, inputs=3)
    b.output(b.node("dense", cat, units=3, label="head"), label="logits")
    b.output(triple, label="sum")
    model = compile_graph(b.graph, seed=0)
    assert model.input_names == [x, z]
    xs, zs = torch.randn(5, 4), torch.randn(5, 6)
    logits, total = model(xs, zs)
    hidden = torch.relu(model.hidden(xs))
    expected_logits = model.head(torch.cat((hidden + xs, zs), dim=1))
    torch.testing.assert_close(logits, expected_logits, rtol=0, atol=0)
    torch.testing.assert_close(total, (hidden + xs) + hidden + xs, rtol=0, atol=0)


def test_names_come_from_labels_and_ids_and_read_in_the_code():
    b = Builder()
    x = b.input(4, label="image")
    c = b.chain(
        x,
        layer("dense", label="Conv 1", units=4, activation="relu"),
        layer("dense", label="training", units=4),  # an nn.Module attribute
        layer("dense", label="forward", units=4),
        layer("dense", label="input", units=4),  # a builtin
        layer("dense", label="conv 1", units=4),  # same name as the first
        layer("dense", units=2),
    )
    b.output(c)
    model = compile_graph(b.graph, seed=0)
    names = list(dict(model.named_children()))
    assert names == ["conv_1", "training_2", "forward_2", "input_2", "conv_1_2", "dense_6"]
    assert model.training is True and callable(model.forward)
    code = model.code
    assert "def forward(self, image)" in code
    assert "conv_1_out = self.conv_1(image)" in code
    assert "conv_1 = torch.relu(conv_1_out)" in code
    assert "dense_6 = self.dense_6(conv_1_2)" in code
    assert run(model, torch.randn(3, 4))[0].shape == (3, 2)


def test_value_names_never_collide_with_node_names():
    # add_2 comes first in the order and takes the fx default name of the later
    # node's intermediate sum: every variable must still be assigned once.
    b = Builder()
    x = b.input(3)
    second = b.graph.add_node("add", {"inputs": 2}, node_id="add_2")
    b.graph.connect(x, "out", second.id, "in1")
    b.graph.connect(x, "out", second.id, "in2")
    first = b.graph.add_node("add", {"inputs": 3}, node_id="add_1")
    for port in ("in1", "in2", "in3"):
        b.graph.connect(second.id, "out", first.id, port)
    b.output(first.id)
    model = compile_graph(b.graph)
    assigned = re.findall(r"^\s+(\w+) = ", model.code, flags=re.M)
    assert len(assigned) == len(set(assigned))
    xs = torch.randn(2, 3)
    torch.testing.assert_close(model(xs), 6 * xs)


def test_invalid_graph_never_compiles_and_names_every_node_at_fault():
    b = Builder()
    x = b.input(4)
    bad_conv = b.node("conv2d", x, channels=4)
    b.output(b.node("dense", bad_conv, units=2))
    dangling = b.graph.add_node("dense", {"units": 3})
    with pytest.raises(GraphInvalidError) as info:
        compile_graph(b.graph)
    assert info.value.errors == validate(b.graph)
    at_fault = {node for node, _ in info.value.errors}
    assert {bad_conv, dangling.id} <= at_fault
    for node, message in info.value.errors:
        assert f"{node}: {message}" in str(info.value)


def test_empty_graph_does_not_compile():
    with pytest.raises(GraphInvalidError, match="empty"):
        compile_graph(Graph())


# ----------------------------------------------------- recurrent and attention
@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_recurrent_layers_hand_on_the_sequence_or_its_last_step(kind, bidirectional):
    def graph(return_sequences):
        return sequential((5, 3), layer(kind, hidden_size=4, bidirectional=bidirectional,
                                        return_sequences=return_sequences))

    full = compile_graph(graph(True), seed=0).eval()
    last = compile_graph(graph(False), seed=0).eval()
    reference = getattr(nn, kind.upper())(3, 4, batch_first=True, bidirectional=bidirectional)
    # The layer keeps torch's parameter names: the hand-made RNN takes its weights.
    reference.load_state_dict({k.split(".", 1)[1]: v for k, v in full.state_dict().items()})
    x = torch.randn(2, 5, 3)
    with torch.no_grad():
        sequence, hidden = reference(x)
        h_n = hidden[0] if kind == "lstm" else hidden
        final = torch.cat((h_n[-2], h_n[-1]), dim=1) if bidirectional else h_n[-1]
        assert full(x).shape == (2, 5, 4 * (1 + bidirectional))
        torch.testing.assert_close(full(x), sequence, rtol=0, atol=1e-6)
        torch.testing.assert_close(last(x), final, rtol=0, atol=1e-6)


@pytest.mark.parametrize("type_id", ["multi_head_attention", "transformer_encoder_layer"])
def test_causal_attention_never_looks_ahead(type_id):
    params = {"num_heads": 2} if type_id == "multi_head_attention" else {"nhead": 2, "dim_feedforward": 8}
    model = compile_graph(sequential((6, 4), layer(type_id, causal=True, dropout=0.0, **params)), seed=0)
    model.eval()
    x = torch.randn(1, 6, 4)
    changed = x.clone()
    changed[:, 3] += 1.0  # alter step 3 only
    with torch.no_grad():
        before, after = model(x), model(changed)
    torch.testing.assert_close(before[:, :3], after[:, :3], rtol=0, atol=1e-6)
    assert not torch.allclose(before[:, 3:], after[:, 3:])
    open_model = compile_graph(sequential((6, 4), layer(type_id, causal=False, dropout=0.0, **params)), seed=0)
    open_model.eval()
    with torch.no_grad():  # without the mask, early steps do see later ones
        assert not torch.allclose(open_model(x)[:, :3], open_model(changed)[:, :3])


# ---------------------------------------------------------- model behaviour
def test_seed_gives_the_same_weights_and_leaves_the_global_random_state():
    graph = sequential((4,), layer("dense", units=8), layer("dense", units=2))
    torch.manual_seed(123)
    state = torch.random.get_rng_state()
    a, b = compile_graph(graph, seed=7), compile_graph(graph, seed=7)
    assert torch.equal(torch.random.get_rng_state(), state)
    for (name, p), q in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(p, q), name
    c = compile_graph(graph, seed=8)
    assert not torch.equal(a.dense_1.weight, c.dense_1.weight)


def test_deepcopy_keeps_what_the_model_knows_about_its_graph():
    b = Builder()
    b.output(b.chain(b.input(4, label="x"), layer("dense", label="head", units=2)), label="y")
    model = compile_graph(b.graph, seed=0)
    clone = copy.deepcopy(model)
    assert type(clone).__name__ == "LayerLoomModel"
    for attr in ("input_names", "output_names", "input_specs", "output_specs", "module_nodes"):
        assert getattr(clone, attr) == getattr(model, attr)
    assert clone.module_nodes == {"head": "dense_1"}
    xs = torch.randn(2, 4)
    torch.testing.assert_close(clone(xs), model(xs))


def test_cross_attention_takes_query_and_key_value_from_two_inputs():
    b = Builder()
    query, memory = b.input(4, 8, label="query"), b.input(6, 5, label="memory")
    attend = b.node("multi_head_attention", query, memory, mode="cross", num_heads=2)
    b.output(attend)
    model = compile_graph(b.graph, seed=0).eval()
    q, kv = torch.randn(2, 4, 8), torch.randn(2, 6, 5)
    reference = nn.MultiheadAttention(8, 2, kdim=5, vdim=5, batch_first=True)
    reference.load_state_dict({k.split(".", 1)[1]: v for k, v in model.state_dict().items()})
    reference.eval()
    with torch.no_grad():
        torch.testing.assert_close(model(q, kv), reference(q, kv, kv, need_weights=False)[0])


def test_backend_exports_its_public_names_without_importing_torch_up_front():
    import subprocess
    import sys

    from layerloom import backend

    code = "import sys, layerloom.backend; print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "False", done.stderr
    for name in ("compile_graph", "CompiledGraph", "save_weights", "load_model", "export_onnx",
                 "export_torchscript", "export_python", "ExportError"):
        assert name in backend.__all__ and getattr(backend, name) is not None
    assert backend.compile_graph is compile_graph
    with pytest.raises(AttributeError):
        backend.no_such_name  # noqa: B018
