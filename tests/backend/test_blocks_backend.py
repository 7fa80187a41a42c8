"""Blocks in the backend: compiled as nested modules, shared weights, repeats, exports, validate."""

from __future__ import annotations

import subprocess
import sys

import torch
from torch import nn

from layerloom.backend import compile_graph, export_python
from layerloom.backend.export import export_model
from layerloom.graph import Graph, save_graph
from tests.graph.helpers import chain


def feed_forward(g: Graph) -> None:
    """Block "ff": in (4,) -> Dense 8 relu -> Dense 4 -> out."""
    d = g.blocks.add("ff")
    chain(d.body, ("input", {"shape": [4]}), ("dense", {"units": 8, "activation": "relu"}),
          ("dense", {"units": 4}), "output")


def repeated(repeat: int = 2) -> Graph:
    g = Graph()
    feed_forward(g)
    x = g.add_node("input", {"shape": [4]})
    blk = g.add_node("block", {"block": "ff", "repeat": repeat}, node_id="encoder")
    g.connect(x.id, "out", blk.id, "input_1")
    g.connect(blk.id, "output_1", g.add_node("output").id, "in")
    return g


class FF(nn.Module):
    def __init__(self):
        super().__init__()
        self.dense_1 = nn.Linear(4, 8)
        self.dense_2 = nn.Linear(8, 4)

    def forward(self, x):
        return self.dense_2(torch.relu(self.dense_1(x)))


class Encoder(nn.Module):
    def __init__(self, repeat):
        super().__init__()
        self.encoder = nn.ModuleList([FF() for _ in range(repeat)])

    def forward(self, x):
        for block in self.encoder:
            x = block(x)
        return x


def test_compiled_block_equals_hand_written_nested_modules():
    model = compile_graph(repeated(3), seed=0)
    hand = Encoder(3)
    assert list(model.state_dict()) == list(hand.state_dict())
    hand.load_state_dict(model.state_dict())
    x = torch.randn(5, 4)
    torch.testing.assert_close(model(x), hand(x))
    assert isinstance(model.encoder[0], torch.fx.GraphModule)
    assert model.module_nodes["encoder"] == "encoder"


def test_repeat_gives_distinct_weight_sets():
    model = compile_graph(repeated(3), seed=0)
    weights = [model.get_parameter(f"encoder.{i}.dense_1.weight") for i in range(3)]
    assert len({w.data_ptr() for w in weights}) == 3
    assert not torch.equal(weights[0], weights[1])
    g = repeated(3)
    assert g.analysis().total_params == sum(p.numel() for p in model.parameters()) == 3 * (40 + 36)


def siamese() -> Graph:
    g = Graph()
    feed_forward(g)
    a_in, b_in = g.add_node("input", {"shape": [4]}), g.add_node("input", {"shape": [4]})
    a = g.add_node("block", {"block": "ff"}, node_id="trunk")
    b = g.add_node("block", {"block": "ff", "shares_weights_with": "trunk"}, node_id="twin")
    add = g.add_node("add", {"inputs": 2})
    g.connect(a_in.id, "out", a.id, "input_1")
    g.connect(b_in.id, "out", b.id, "input_1")
    g.connect(a.id, "output_1", add.id, "in1")
    g.connect(b.id, "output_1", add.id, "in2")
    g.connect(add.id, "out", g.add_node("output").id, "in")
    return g


def test_shared_weights_are_one_module_updated_once():
    g = siamese()
    model = compile_graph(g, seed=0)
    params = dict(model.named_parameters())
    assert sorted(params) == ["trunk.dense_1.bias", "trunk.dense_1.weight", "trunk.dense_2.bias",
                              "trunk.dense_2.weight"]
    assert g.analysis().total_params == sum(p.numel() for p in params.values()) == 76
    hand = FF()
    hand.load_state_dict({k.removeprefix("trunk."): v for k, v in model.state_dict().items()})
    x, y = torch.randn(3, 4), torch.randn(3, 4)
    torch.testing.assert_close(model(x, y), hand(x) + hand(y))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    hand_opt = torch.optim.SGD(hand.parameters(), lr=0.1)
    for o, out in ((opt, lambda: model(x, y)), (hand_opt, lambda: hand(x) + hand(y))):
        o.zero_grad()
        out().square().sum().backward()
        o.step()
    torch.testing.assert_close(model.trunk.dense_1.weight, hand.dense_1.weight)


def test_blocked_graph_exports_to_standalone_python_and_onnx(tmp_path):
    g = siamese()
    model = compile_graph(g, seed=1)
    result = export_python(g, model, tmp_path / "siamese.py")  # runs its own standalone check
    text = (tmp_path / "siamese.py").read_text()
    assert "class Ff(nn.Module):" in text and text.count("self.trunk(") == 2
    assert result.max_difference is not None and result.max_difference < 1e-5
    g2 = repeated(2)
    assert export_model(g2, compile_graph(g2, seed=0), tmp_path / "enc.py", "python").files
    onnx = export_model(g2, compile_graph(g2, seed=0), tmp_path / "enc.onnx", "onnx")
    assert onnx.max_difference < 1e-4


def test_validate_prints_a_block_as_one_row_and_expands_it(tmp_path):
    g = repeated(2)
    path = tmp_path / "enc.loom"
    save_graph(g, path)
    cmd = [sys.executable, "-m", "layerloom.gui.launcher", "validate", str(path)]
    plain = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert plain.returncode == 0, plain.stderr
    row = next(line for line in plain.stdout.splitlines() if line.startswith("encoder"))
    assert row.split()[1:4] == ["block", "ff", "x2"] and row.endswith("152")
    assert "dense_1" not in plain.stdout
    expanded = subprocess.run([*cmd, "--expand"], capture_output=True, text=True, timeout=300)
    assert expanded.returncode == 0, expanded.stderr
    inner = [line for line in expanded.stdout.splitlines() if line.startswith("  ")]
    assert [line.split()[0] for line in inner] == ["input_1", "dense_1", "dense_2", "output_1"]
    assert inner[1].endswith("40")
