"""An imported model keeps its module hierarchy as blocks: a ResNet is its stem,
its stages (each a block of residual blocks) and its head; identical submodules
share one definition, each instance with its own weights."""

from __future__ import annotations

import subprocess
import sys

import torch
import torch.nn.functional as F
from torch import nn

from layerloom.backend.compile import compile_graph
from layerloom.backend.export.python_source import export_python
from layerloom.backend.importers import import_module
from tests.backend.test_import_pytorch import LeNet


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        identity = x
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        return F.relu(out + identity)


class TinyResNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.layer1 = nn.Sequential(BasicBlock(8, 8), BasicBlock(8, 8))
        self.layer2 = nn.Sequential(BasicBlock(8, 16, 2), BasicBlock(16, 16))
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer2(self.layer1(x))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def _resnet():
    torch.manual_seed(0)
    model = TinyResNet().eval()
    for p in model.parameters():
        nn.init.normal_(p, std=0.2)
    return model


def test_a_resnet_imports_as_stem_stages_and_head():
    source = _resnet()
    result = import_module(source, [(3, 16, 16)])
    graph = result.graph
    assert [n.type for n in graph.nodes] == [
        "input", "conv2d", "batch_norm", "relu", "block", "block", "global_avg_pool", "dense", "output"]
    stages = [n for n in graph.nodes if n.type == "block"]
    assert [(n.id, n.params["block"]) for n in stages] == [("layer1", "layer1"), ("layer2", "layer2")]
    layer1 = graph.blocks.get("layer1").body
    inner = [n.params["block"] for n in layer1.nodes if n.type == "block"]
    assert inner == ["BasicBlock", "BasicBlock"]  # two identical blocks: one definition
    layer2 = [n.params["block"] for n in graph.blocks.get("layer2").body.nodes if n.type == "block"]
    assert len(set(layer2)) == 2  # the first has a downsample shortcut
    assert "downsample" in graph.blocks
    body = graph.blocks.get("BasicBlock").body
    assert [n.label for n in body.nodes if n.type == "conv2d"] == ["conv1", "conv2"]
    # the outputs and the size are the source's, on another batch size too
    assert result.max_difference <= 1e-5
    x = torch.randn(5, 3, 16, 16)
    assert torch.allclose(result.model(x), source(x), atol=1e-4)
    assert graph.analysis().total_params == sum(p.numel() for p in source.parameters())
    names = list(result.model.state_dict())
    assert "layer1.layer1_0.conv1.weight" in names
    assert any(name.startswith("layer2.layer2_0.downsample.") for name in names)


def test_the_weights_map_back_by_name_and_the_python_export_runs(tmp_path):
    source = _resnet()
    result = import_module(source, [(3, 16, 16)])
    model = compile_graph(result.graph, seed=1).eval()
    model.load_state_dict({result.key_map[k]: v for k, v in source.state_dict().items()}, strict=True)
    x = torch.randn(2, 3, 16, 16)
    assert torch.allclose(model(x), source(x), atol=1e-4)
    code = tmp_path / "resnet.py"
    export_python(result.graph, model, code)
    text = code.read_text()
    assert "class BasicBlock(" in text and "class Layer1(" in text and "class Downsample(" in text
    done = subprocess.run([sys.executable, str(code)], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr


def test_flat_gives_one_sheet():
    result = import_module(LeNet().eval(), [(1, 12, 12)], flat=True)
    assert all(n.type != "block" for n in result.graph.nodes) and not list(result.graph.blocks)
    grouped = import_module(LeNet().eval(), [(1, 12, 12)])
    assert [n.id for n in grouped.graph.nodes if n.type == "block"] == ["features", "classifier"]


def _onnx_resnet(tmp_path):
    from layerloom.backend.importers import import_onnx

    source = _resnet()
    path = tmp_path / "resnet.onnx"
    torch.onnx.export(source, (torch.randn(3, 3, 16, 16),), path, dynamo=True,
                      dynamic_shapes=({0: torch.export.Dim("batch")},))
    return source, path, import_onnx


def test_an_onnx_export_names_its_modules_and_they_become_blocks(tmp_path):
    # torch's exporter records each operator's modules ("/layer1/layer1.0/conv1/Conv"); batch
    # norms come folded into the convolutions before them.
    source, path, import_onnx = _onnx_resnet(tmp_path)
    result = import_onnx(path)
    graph = result.graph
    assert [n.type for n in graph.nodes] == [
        "input", "conv2d", "block", "block", "global_avg_pool", "dense", "output"]  # the relu joins the conv
    assert [n.id for n in graph.nodes if n.type == "block"] == ["layer1", "layer2"]
    layer1 = [n.params["block"] for n in graph.blocks.get("layer1").body.nodes if n.type == "block"]
    assert layer1 == ["BasicBlock", "BasicBlock"]
    body = graph.blocks.get("BasicBlock").body
    assert [n.label for n in body.nodes if n.type == "conv2d"] == ["conv1", "conv2"]
    x = torch.randn(5, 3, 16, 16)
    assert torch.allclose(result.model(x), source(x), atol=1e-4)


def test_flat_keeps_an_onnx_import_on_one_sheet(tmp_path):
    _, path, _ = _onnx_resnet(tmp_path)
    out = tmp_path / "flat.loom"
    done = subprocess.run([sys.executable, "-m", "layerloom.gui.launcher", "import", str(path), "--flat",
                           "-o", str(out)], capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    from layerloom.graph import load_graph

    graph = load_graph(out)
    assert all(n.type != "block" for n in graph.nodes) and not list(graph.blocks)
