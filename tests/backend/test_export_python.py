"""Standalone PyTorch source: readable, needs only torch, reproduces the model.

The source export runs its own check in a fresh Python process; the tests import
the generated file again here (importlib, from tmp_path) and read it as text.
"""

from __future__ import annotations

import ast
import importlib.util
import sys

import pytest
import torch
from safetensors.torch import save_file

import layerloom.backend.export.python_source as python_source
from layerloom.backend import ExportError, compile_graph, export_python
from tests.backend.helpers import Builder, layer


def import_file(path):
    spec = importlib.util.spec_from_file_location(f"exported_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def mixed_graph():
    """Convolution, pooling, normalisation, recurrent and attention layers, two
    inputs, a merge and two outputs."""
    b = Builder()
    image = b.input(1, 8, 8, label="image")
    tokens = b.input(5, dtype="long", label="tokens")
    seen = b.chain(
        image,
        layer("conv2d", label="conv 1", channels=3, kernel_size=3, padding=1, activation="relu"),
        layer("batch_norm"), layer("max_pool2d"), layer("conv_transpose2d", channels=2),
        layer("avg_pool2d"), layer("flatten"), layer("dense", units=6, activation="gelu"),
    )
    read = b.chain(
        tokens,
        layer("embedding", num_embeddings=11, embedding_dim=8),
        layer("positional_encoding", max_len=16),
        layer("transformer_encoder_layer", nhead=2, dim_feedforward=16, causal=True),
        layer("multi_head_attention", num_heads=2, causal=True),
        layer("lstm", hidden_size=4, bidirectional=True, return_sequences=True),
        layer("layer_norm"), layer("gru", hidden_size=6), layer("leaky_relu", negative_slope=0.2),
    )
    joined = b.node("add", seen, read, label="joined")
    b.output(b.node("dense", b.node("concat", joined, seen), units=3, label="head"), label="logits")
    b.output(b.node("softmax", read), label="probabilities")
    graph = b.graph
    graph.meta = {"title": "Mixed demo"}
    return graph


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    folder = tmp_path_factory.mktemp("python_export")
    graph = mixed_graph()
    model = compile_graph(graph, seed=0)
    result = export_python(graph, model, folder / "mixed_model.py")
    return graph, model, result


def test_export_writes_source_and_weights_and_reports_its_check(exported):
    _, _, result = exported
    folder = result.path.parent
    assert sorted(p.name for p in folder.iterdir()) == ["mixed_model.py", "mixed_model.safetensors"]
    assert result.files == [folder / "mixed_model.py", folder / "mixed_model.safetensors"]
    assert result.max_difference <= 1e-6


def test_imported_source_gives_the_models_outputs(exported):
    _, model, result = exported
    module = import_file(result.path)
    rebuilt = module.load_model()
    assert type(rebuilt).__name__ == "MixedDemo"
    assert sum(p.numel() for p in rebuilt.parameters()) == sum(p.numel() for p in model.parameters())
    model.eval()
    image, tokens = torch.randn(3, 1, 8, 8), torch.randint(0, 11, (3, 5))
    with torch.no_grad():
        got, want = rebuilt(image, tokens), model(image, tokens)
    for g, w in zip(got, want, strict=True):
        assert (g - w).abs().max() <= 1e-6


def test_source_reads_like_hand_written_pytorch(exported):
    graph, model, result = exported
    text = result.path.read_text()
    assert "class MixedDemo(nn.Module):" in text
    assert "self.conv_1 = nn.Conv2d(1, 3, kernel_size=(3, 3), padding=(1, 1))" in text
    assert "self.lstm_1 = LSTM(8, 4, bidirectional=True)" in text
    assert "class LSTM(nn.LSTM):" in text and "class PositionalEncoding(nn.Module):" in text
    assert "def forward(self, image: torch.Tensor, tokens: torch.Tensor)" in text
    assert "conv_1 = torch.relu(conv_1_out)" in text
    assert "joined = dense_1 + leaky_relu_1" in text
    assert "return head, softmax_1" in text
    # forward runs the layers in the graph's order
    forward = text[text.index("def forward(self, image"):text.index("return head")]
    calls = [line.split("self.")[1].split("(")[0] for line in forward.splitlines() if "self." in line]
    order = [n for n in graph.analysis().order if graph.node(n).id in model.module_nodes.values()]
    names = {nid: name for name, nid in model.module_nodes.items()}
    assert calls == [names[n] for n in order]


def test_source_imports_only_torch_and_the_standard_library(exported):
    _, _, result = exported
    tree = ast.parse(result.path.read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module.split(".")[0])
    assert imported <= {"__future__", "json", "struct", "sys", "pathlib", "torch"}
    assert "torch" in imported
    assert "backend" not in result.path.read_text() and "safetensors import" not in result.path.read_text()


def test_its_loader_reads_any_safetensors_file(exported, tmp_path):
    _, _, result = exported
    module = import_file(result.path)
    tensors = {
        "f16": torch.randn(3, 2).half(), "i64": torch.arange(5), "flag": torch.tensor([True, False]),
        "empty": torch.zeros(0, 4), "scalar": torch.tensor(2.5, dtype=torch.float64),
        "bf16": torch.randn(4).bfloat16(),
    }
    path = tmp_path / "mixed.safetensors"
    save_file(tensors, str(path), metadata={"note": "x"})
    loaded = module.load_safetensors(path)
    assert set(loaded) == set(tensors)
    for name, tensor in tensors.items():
        assert loaded[name].dtype == tensor.dtype and torch.equal(loaded[name], tensor), name


def test_source_that_fails_its_check_is_not_written(tmp_path, monkeypatch):
    b = Builder()
    b.output(b.chain(b.input(4), layer("dense", units=3), layer("dense", units=2)))
    model = compile_graph(b.graph, seed=0)
    real = python_source.python_source
    # A slip in the generated text: the first layer is built one unit short.
    monkeypatch.setattr(
        python_source, "python_source",
        lambda g, m, w: real(g, m, w).replace("nn.Linear(4, 3)", "nn.Linear(4, 2)"),
    )
    with pytest.raises(ExportError, match="generated source fails when run: .*size mismatch"):
        export_python(b.graph, model, tmp_path / "model.py")
    assert list(tmp_path.iterdir()) == []


def test_python_export_needs_a_py_name(tmp_path):
    b = Builder()
    b.output(b.chain(b.input(4), layer("dense", units=2)))
    with pytest.raises(ExportError, match=r"\.py file"):
        export_python(b.graph, compile_graph(b.graph), tmp_path / "model.txt")


def test_generated_module_runs_as_a_script(exported):
    import subprocess

    _, _, result = exported
    done = subprocess.run([sys.executable, "-I", "-B", str(result.path)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    shapes = [line.split(")")[0] + ")" for line in done.stdout.splitlines()]
    assert shapes == ["(2, 3)", "(2, 6)"]
