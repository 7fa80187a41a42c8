"""Importing PyTorch modules: hand-written models come back as graphs that compile
to the same outputs with the same weights; what LayerLoom cannot represent is
listed by name and place, and nothing is imported then."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from layerloom.backend.compile import compile_graph
from layerloom.backend.export.weights import load_model
from layerloom.backend.importers import ModelImportError, import_module, save_import
from layerloom.graph import load_graph
from layerloom.graph.layout import NODE_HEIGHT, NODE_WIDTH, layered_positions

TOLERANCE = 1e-5


# ------------------------------------------------------------------ models
class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(6, 16)
        self.drop = nn.Dropout(0.2)
        self.fc2 = nn.Linear(16, 3)

    def forward(self, x):
        return self.fc2(self.drop(F.relu(self.fc1(x))))


class LeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 4, 5, padding=2), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(4, 8, 3), nn.Tanh(), nn.AvgPool2d(2),
        )
        self.classifier = nn.Sequential(nn.Linear(8 * 2 * 2, 12), nn.ReLU(), nn.Linear(12, 10))

    def forward(self, x):
        x = self.features(x)
        x = x.view(x.size(0), -1)
        return F.log_softmax(self.classifier(x), dim=1)


class Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 3, 3, padding=1)
        self.bn = nn.BatchNorm2d(3)
        self.conv2 = nn.Conv2d(3, 3, 3, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(3, 2)

    def forward(self, x):
        y = F.relu(self.bn(self.conv1(x)))
        y = F.relu(self.conv2(y) + x)
        return self.head(torch.flatten(self.pool(y), 1))


class TwoBranches(nn.Module):
    def __init__(self):
        super().__init__()
        self.left = nn.Sequential(nn.Linear(5, 4), nn.Sigmoid())
        self.right = nn.Sequential(nn.Linear(5, 3), nn.LayerNorm(3), nn.GELU())
        self.out = nn.Linear(7, 2)

    def forward(self, x):
        return self.out(torch.cat([self.left(x), self.right(x)], dim=1))


class LSTMClassifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(20, 8)
        self.lstm = nn.LSTM(8, 6, num_layers=2, batch_first=True)
        self.fc = nn.Linear(6, 3)

    def forward(self, tokens):
        _, (h, _) = self.lstm(self.embed(tokens))
        return self.fc(h[-1])


class BiGRU(nn.Module):
    def __init__(self):
        super().__init__()
        self.gru = nn.GRU(3, 5, batch_first=True, bidirectional=True)
        self.fc = nn.Linear(10, 2)

    def forward(self, x):
        _, h = self.gru(x)
        return self.fc(torch.cat((h[-2], h[-1]), dim=1))


class GRUSequence(nn.Module):
    """Every step's output, and a channels-first input turned to (T, F)."""

    def __init__(self):
        super().__init__()
        self.gru = nn.GRU(4, 5, batch_first=True)
        self.fc = nn.Linear(5, 2)

    def forward(self, x):
        out, _ = self.gru(x.permute(0, 2, 1))
        return self.fc(out)


class Attention(nn.Module):
    """Token ids through self-attention and an encoder layer, averaged over time."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(20, 8)
        self.attn = nn.MultiheadAttention(8, 2, batch_first=True)
        self.norm = nn.LayerNorm(8)
        self.encoder = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.1, batch_first=True)
        self.fc = nn.Linear(8, 3)

    def forward(self, tokens):
        e = self.embed(tokens)
        a, _ = self.attn(e, e, e, need_weights=False)
        y = self.encoder(self.norm(a + e))
        return self.fc(y.mean(dim=1))


CASES = {
    "mlp": (MLP, None, ["input", "dense", "dropout", "dense", "output"]),
    "lenet": (LeNet, [(1, 12, 12)],
              ["input", "conv2d", "batch_norm", "relu", "max_pool2d", "conv2d", "avg_pool2d",
               "flatten", "dense", "dense", "log_softmax", "output"]),
    "residual": (Residual, [(3, 6, 6)],
                 ["input", "conv2d", "batch_norm", "relu", "conv2d", "add", "relu",
                  "global_avg_pool", "dense", "output"]),
    "concat": (TwoBranches, None,
               ["input", "dense", "dense", "layer_norm", "gelu", "concat", "dense", "output"]),
    "lstm": (LSTMClassifier, [(7,)], ["input", "embedding", "lstm", "dense", "output"]),
    "bigru": (BiGRU, [(6, 3)], ["input", "gru", "dense", "output"]),
    "gru_sequence": (GRUSequence, [(4, 6)], ["input", "permute", "gru", "dense", "output"]),
    "attention": (Attention, [(5,)],
                  ["input", "embedding", "multi_head_attention", "add", "layer_norm",
                   "transformer_encoder_layer", "permute", "global_avg_pool", "dense", "output"]),
}


def _randomise(module: nn.Module) -> nn.Module:
    """Non-trivial running statistics, so BatchNorm's are checked too."""
    torch.manual_seed(0)
    for m in module.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    return module.eval()


def _inputs(result, batch=4, seed=3):
    generator = torch.Generator().manual_seed(seed)
    out = []
    for spec in result.model.input_specs:
        if spec.dtype == "long":
            out.append(torch.randint(0, 20, (batch, *spec.shape), generator=generator))
        else:
            out.append(torch.randn((batch, *spec.shape), generator=generator))
    return out


@pytest.mark.parametrize("case", CASES)
def test_imported_graph_compiles_to_the_same_outputs(case):
    cls, shapes, types = CASES[case]
    torch.manual_seed(1)
    source = _randomise(cls())
    result = import_module(source, shapes, flat=True)  # blocks: tests/backend/test_import_hierarchy.py

    graph = result.graph
    assert graph.analysis().valid
    assert [graph.node(n).type for n in graph.topological_order()] == types
    # Compile the graph afresh and copy the source weights by the key map.
    model = compile_graph(graph, seed=123).eval()
    state = {result.key_map[k]: v for k, v in source.state_dict().items()}
    model.load_state_dict(state, strict=True)
    inputs = _inputs(result)
    with torch.no_grad():
        expected, got = source(*inputs), model(*inputs)
    assert got.shape == expected.shape
    assert (got - expected).abs().max().item() <= TOLERANCE


def test_layers_keep_their_settings_and_names():
    torch.manual_seed(0)
    result = import_module(LeNet().eval(), [(1, 12, 12)], flat=True)
    graph = result.graph
    by_label = {n.label: n for n in graph.nodes if n.label}
    conv = by_label["features.0"]
    assert conv.type == "conv2d"
    assert conv.params["channels"] == 4 and conv.params["kernel_size"] == (5, 5)
    assert conv.params["padding"] == (2, 2)
    # A ReLU right after a layer becomes that layer's activation.
    assert by_label["classifier.0"].params["activation"] == "relu"
    assert result.key_map["features.1.running_var"] == "features_1.running_var"
    assert graph.node("log_softmax_1").params["dim"] == 1


def test_recurrent_layer_returns_what_the_model_uses():
    seq = import_module(GRUSequence().eval(), [(4, 6)])
    last = import_module(BiGRU().eval(), [(6, 3)])
    assert seq.graph.node("gru_1").params["return_sequences"] is True
    params = last.graph.node("gru_1").params
    assert params["return_sequences"] is False and params["bidirectional"] is True


def test_saved_import_reopens_with_its_weights(tmp_path):
    torch.manual_seed(2)
    source = _randomise(Residual())
    result = import_module(source, [(3, 6, 6)])
    loom, weights = save_import(result, tmp_path / "residual.loom")
    assert load_graph(loom) == result.graph
    graph, model = load_model(weights)
    assert graph == result.graph
    x = torch.randn(3, 3, 6, 6)
    with torch.no_grad():
        assert (model(x) - source(x)).abs().max().item() <= TOLERANCE


def test_a_layerloom_model_imports_as_itself():
    from layerloom.graph import Graph
    from tests.graph.helpers import chain

    graph = Graph()
    chain(
        graph, ("input", {"shape": [6], "dtype": "long"}),
        ("embedding", {"num_embeddings": 10, "embedding_dim": 8}),
        ("positional_encoding", {"kind": "learned", "max_len": 16}),
        ("multi_head_attention", {"num_heads": 2, "causal": True}),
        ("transformer_encoder_layer", {"nhead": 2, "dim_feedforward": 16}),
        ("lstm", {"hidden_size": 5, "bidirectional": True}),
        ("dense", {"units": 3, "activation": "softmax"}), "output",
    )
    model = compile_graph(graph, seed=1).eval()
    result = import_module(model)
    types = [result.graph.node(n).type for n in result.graph.topological_order()]
    assert types == [graph.node(n).type for n in graph.topological_order()]
    for original, imported in zip(graph.nodes, result.graph.nodes, strict=True):
        assert imported.params == original.params
    assert result.max_difference <= TOLERANCE


def test_input_shape_from_a_first_linear_layer_and_otherwise_asked_for():
    result = import_module(MLP().eval())
    assert result.model.input_specs[0].shape == (6,)
    assert any("in_features" in note for note in result.notes)
    with pytest.raises(ModelImportError, match="cannot tell the shape of LeNet's input 'x'.*--input-shape"):
        import_module(LeNet())


def test_a_chain_of_sums_is_one_add():
    class Sum(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b, self.c = nn.Linear(3, 4), nn.Linear(3, 4), nn.Linear(3, 4)

        def forward(self, x):
            return self.a(x) + self.b(x) + self.c(x)

    result = import_module(Sum().eval())
    adds = [n for n in result.graph.nodes if n.type == "add"]
    assert len(adds) == 1 and adds[0].params["inputs"] == 3


def test_a_module_used_twice_gets_a_note():
    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, x):
            return self.fc(torch.tanh(self.fc(x)))

    result = import_module(Twice().eval())
    assert len([n for n in result.graph.nodes if n.type == "dense"]) == 2
    assert any("'fc' is used 2 times" in note for note in result.notes)


# --------------------------------------------------------------- refusals
class Custom(nn.Module):
    """Arbitrary code: a function, a constant, a layer and list indexing LayerLoom lacks."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.bil = nn.PairwiseDistance(keepdim=True)

    def forward(self, x):
        y = 2.0 ** torch.sinh(self.fc(x))
        return self.bil(y, x) + x[:, [0, 1]]


def test_unsupported_parts_are_listed_by_name_and_place():
    with pytest.raises(ModelImportError) as info:
        import_module(Custom(), [(4,)])
    problems = {p.what: p for p in info.value.problems}
    assert set(problems) == {"torch.sinh", "the ** operator", "torch.nn.PairwiseDistance", "the [] indexing operator"}
    assert problems["torch.nn.PairwiseDistance"].where == "module 'bil'"
    assert problems["torch.sinh"].line.startswith("test_import_pytorch.py:")
    assert "torch.sinh(self.fc(x))" in problems["torch.sinh"].line
    assert "constant 2.0" in problems["the ** operator"].why
    message = str(info.value)
    assert message.startswith("cannot import Custom: 4 parts have no LayerLoom equivalent")
    assert "torch.nn.PairwiseDistance at module 'bil'" in message


def test_options_without_a_layerloom_equivalent_are_named():
    class TimeFirst(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = nn.LSTM(3, 4)
            self.conv = nn.Conv1d(3, 3, 3, padding=1, padding_mode="circular")

        def forward(self, x):
            out, _ = self.rnn(self.conv(x).transpose(1, 2))
            return out

    with pytest.raises(ModelImportError) as info:
        import_module(TimeFirst(), [(3, 5)])
    whys = {p.where: p.why for p in info.value.problems}
    assert "batch_first=False" in whys["module 'rnn'"]
    assert "padding_mode='circular'" in whys["module 'conv'"]


def test_concatenation_joins_features_but_not_samples():
    class Joins(nn.Module):
        def __init__(self, dim):
            super().__init__()
            self.fc = nn.Linear(3, 3)
            self.dim = dim

        def forward(self, x):
            return torch.cat((self.fc(x), x), dim=self.dim)

    result = import_module(Joins(1), [(3,)])
    assert [n.params["dim"] for n in result.graph.nodes if n.type == "concat"] == [1]
    assert result.graph.analysis().nodes[result.graph.outputs()[0].id].inputs["in"].shape == (6,)
    with pytest.raises(ModelImportError) as info:
        import_module(Joins(0), [(3,)])
    assert [p.why for p in info.value.problems] == ["joins along the batch dim"]


def test_both_sequence_and_last_step_of_one_layer_is_refused():
    class Both(nn.Module):
        def __init__(self):
            super().__init__()
            self.gru = nn.GRU(3, 4, batch_first=True)

        def forward(self, x):
            out, h = self.gru(x)
            return out, h[-1]

    with pytest.raises(ModelImportError, match="module 'gru': uses both every step's output and the last step"):
        import_module(Both(), [(5, 3)])


def test_untraceable_control_flow_names_the_line():
    class Branchy(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3, 3)

        def forward(self, x):
            if x.sum() > 0:
                return self.fc(x)
            return x

    with pytest.raises(ModelImportError) as info:
        import_module(Branchy(), [(3,)])
    assert str(info.value).startswith("cannot follow Branchy.forward with torch.fx")
    assert "if x.sum() > 0:" in info.value.problems[0].line


def test_a_wrong_input_shape_is_reported():
    with pytest.raises(ModelImportError, match=r"LeNet fails on inputs \(N, 3, 12, 12\).*check the input shapes"):
        import_module(LeNet(), [(3, 12, 12)])


# ------------------------------------------------------------------ layout
class Deep(nn.Module):
    """75 gated residual blocks: 300 layer nodes, two side by side per block."""

    def __init__(self, blocks=75, width=4):
        super().__init__()
        self.values = nn.ModuleList(nn.Linear(width, width) for _ in range(blocks))
        self.gates = nn.ModuleList(nn.Linear(width, width) for _ in range(blocks))

    def forward(self, x):
        for value, gate in zip(self.values, self.gates, strict=True):
            x = x + value(x) * gate(x)
        return x


def test_a_300_node_import_reads_left_to_right_without_overlap():
    result = import_module(Deep().eval(), [(4,)])
    graph = result.graph
    assert len(graph) >= 300
    positions = layered_positions(graph)
    for edge in graph.edges:
        assert positions[edge.source][0] < positions[edge.target][0], edge
    boxes = sorted(positions.values())
    for i, (x1, y1) in enumerate(boxes):
        for x2, y2 in boxes[i + 1:]:
            if x2 >= x1 + NODE_WIDTH:
                break  # sorted by x: no later box reaches back to this one
            assert not (abs(y1 - y2) < NODE_HEIGHT), ((x1, y1), (x2, y2))
    # The import laid itself out that way already.
    assert {n.id: n.position for n in graph.nodes} == positions
