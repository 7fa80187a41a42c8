"""A module used more than once (a Siamese trunk) imports as one block whose
instances share its weights: the parameter count is the source's, from PyTorch
and from ONNX, and training updates the one set of weights."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import torch
from torch import nn

from layerloom.backend.compile import compile_graph
from layerloom.backend.export.onnx_export import export_onnx
from layerloom.backend.importers import import_module, import_onnx
from layerloom.graph import load_graph


class Siamese(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = nn.Linear(6, 4)
        self.head = nn.Linear(4, 1)

    def forward(self, a, b):
        return self.head((self.trunk(a) - self.trunk(b)).abs())


def _params(model) -> int:
    return sum(p.numel() for p in model.parameters())


def _check_shared(result, source):
    blocks = [n for n in result.graph.nodes if n.type == "block"]
    assert len(blocks) == 2
    first, second = blocks
    assert first.params["block"] == second.params["block"] == "trunk"
    assert second.params["shares_weights_with"] == first.id
    assert _params(result.model) == _params(source) == result.graph.analysis().total_params
    assert any("'trunk' is used 2 times: block 'trunk'" in note for note in result.notes)
    a, b = torch.randn(5, 6), torch.randn(5, 6)
    assert torch.allclose(result.model(a, b), source(a, b), atol=1e-5)


def test_a_module_called_twice_imports_as_one_block_with_shared_weights():
    torch.manual_seed(0)
    source = Siamese().eval()
    _check_shared(import_module(source, [(6,), (6,)]), source)


def test_the_onnx_export_of_a_shared_module_imports_shared_too(tmp_path):
    torch.manual_seed(1)
    source = Siamese().eval()
    from_torch = import_module(source, [(6,), (6,)])
    path = tmp_path / "siamese.onnx"
    export_onnx(from_torch.graph, from_torch.model, path)
    result = import_onnx(path)
    assert _params(result.model) == _params(source)
    a, b = torch.randn(3, 6), torch.randn(3, 6)
    assert torch.allclose(result.model(a, b), source(a, b), atol=1e-5)


def test_training_the_imported_graph_updates_the_shared_weights_once():
    source = Siamese().eval()
    result = import_module(source, [(6,), (6,)])
    model = compile_graph(result.graph, seed=0)
    optimiser = torch.optim.SGD(model.parameters(), lr=0.1)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    loss = model(torch.randn(4, 6), torch.randn(4, 6)).pow(2).sum()
    loss.backward()
    optimiser.step()
    changed = [k for k, v in model.state_dict().items() if not torch.equal(v, before[k])]
    assert any(k.startswith("trunk.") for k in changed)
    assert len(model.state_dict()) == len(source.state_dict())  # one copy of the trunk


def test_the_command_line_writes_a_graph_that_validates_with_the_sharing(tmp_path):
    source = tmp_path / "siamese.py"
    source.write_text(textwrap.dedent('''
        from torch import nn


        class Twin(nn.Module):
            def __init__(self):
                super().__init__()
                self.trunk = nn.Sequential(nn.Linear(6, 4), nn.Tanh())

            def forward(self, a, b):
                return self.trunk(a) * self.trunk(b)
    '''))
    out = tmp_path / "twin.loom"
    launcher = [sys.executable, "-m", "layerloom.gui.launcher"]
    done = subprocess.run([*launcher, "import", f"{source}:Twin", "--input-shape", "6", "--input-shape", "6",
                           "-o", str(out)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    graph = load_graph(out)
    blocks = [n for n in graph.nodes if n.type == "block"]
    assert len(blocks) == 2 and blocks[1].params["shares_weights_with"] == blocks[0].id
    assert graph.analysis().total_params == 6 * 4 + 4
    checked = subprocess.run([*launcher, "validate", str(out)], capture_output=True, text=True, timeout=120)
    assert checked.returncode == 0, checked.stdout + checked.stderr


class TiedLM(nn.Module):
    """An embedding tied to the output layer (``wte.weight = head.weight``)."""

    def __init__(self):
        super().__init__()
        self.wte = nn.Embedding(11, 6)
        self.head = nn.Linear(6, 11, bias=False)
        self.wte.weight = self.head.weight

    def forward(self, ids):
        return self.head(torch.tanh(self.wte(ids)))


def test_weights_tied_across_layer_kinds_are_copied_and_the_notes_say_so():
    model = TiedLM().eval()
    result = import_module(model, [(5,)], ["long"])
    (note,) = [n for n in result.notes if "tied" in n]
    assert "wte.weight and head.weight are one tensor" in note and "train apart" in note
    assert result.graph.analysis().total_params == 2 * 66
    ids = torch.randint(0, 11, (3, 5))
    assert torch.allclose(result.model(ids), model(ids), atol=1e-6)
