"""Importing models whose Python reads sizes (asserts, ``if x.ndim``, ``len(x)``,
sizes passed to functions): followed on example inputs when the symbolic trace
stops; control flow on tensor values is still refused with its line."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from layerloom.backend.importers import ModelImportError, import_module
from layerloom.graph import load_graph


class GPTish(nn.Module):
    """Written the way public code is: size unpacking, an assert on the length,
    a device check, ``len``, a size handed to a function."""

    def __init__(self, block_size=16):
        super().__init__()
        self.block_size = block_size
        self.fc = nn.Linear(8, 8)

    def forward(self, x):
        b, t, c = x.size()
        assert t <= self.block_size, f"sequence of {t} is longer than {self.block_size}"
        if x.is_cuda:
            x = x.float()
        if x.ndim == 3:
            x = torch.relu(self.fc(x))
        n = len(x)
        pooled = F.max_pool1d(x.transpose(1, 2), x.size(1))
        return pooled.view(n, -1) * 0.5


class ValueBranch(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        if x.sum() > 0:
            return self.fc(x)
        return x


def test_shape_reading_code_imports_on_example_inputs():
    torch.manual_seed(0)
    model = GPTish().eval()
    result = import_module(model, [(5, 8)])
    assert [n.type for n in result.graph.nodes] == [
        "input", "dense", "transpose", "max_pool1d", "flatten", "multiply_constant", "output"]
    assert result.max_difference <= 1e-5
    x = torch.randn(7, 5, 8)  # another batch size than the one followed
    assert torch.allclose(result.model(x), model(x), atol=1e-5)
    assert sum(p.numel() for p in result.model.parameters()) == sum(p.numel() for p in model.parameters())


def test_without_shapes_the_message_asks_for_them():
    with pytest.raises(ModelImportError, match=r"give the input shapes \(--input-shape"):
        import_module(GPTish(), None)


def test_the_assert_still_holds_on_the_example():
    with pytest.raises(ModelImportError, match="longer than 16"):
        import_module(GPTish(), [(20, 8)])


def test_control_flow_on_tensor_values_names_its_line():
    with pytest.raises(ModelImportError) as info:
        import_module(ValueBranch(), [(4,)])
    (problem,) = info.value.problems
    assert "if x.sum() > 0:" in problem.line


def test_the_command_line_imports_it(tmp_path):
    source = tmp_path / "gptish.py"
    source.write_text(textwrap.dedent('''
        import torch
        import torch.nn.functional as F
        from torch import nn


        class Model(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(8, 4)

            def forward(self, x):
                b, t, c = x.shape
                assert t % 2 == 0
                return F.avg_pool1d(self.fc(x).transpose(1, 2), t).view(b, -1)
    '''))
    out = tmp_path / "model.loom"
    done = subprocess.run([sys.executable, "-m", "layerloom.gui.launcher", "import", f"{source}:Model",
                           "--input-shape", "6,8", "-o", str(out)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    graph = load_graph(out)
    assert [n.type for n in graph.nodes][:3] == ["input", "dense", "transpose"]
    assert graph.analysis().valid


class SizesAsArguments(nn.Module):
    """No Python control flow, so the symbolic trace goes through and keeps the
    size reads as nodes: a U-Net's pad to the skip's size and a max-pool over the
    whole length, the sizes computed from ``x.size()``."""

    def __init__(self):
        super().__init__()
        self.up = nn.ConvTranspose1d(4, 4, kernel_size=2, stride=2)
        self.conv = nn.Conv1d(8, 3, 3)

    def forward(self, x, skip):
        x = self.up(x)
        diff = skip.size()[2] - x.size()[2]
        x = F.pad(x, [diff // 2, diff - diff // 2])
        h = self.conv(torch.cat([skip, x], dim=1))
        return F.max_pool1d(h, h.size(2)).squeeze(2)


def test_sizes_computed_in_forward_are_read_as_numbers_by_the_rules():
    torch.manual_seed(0)
    model = SizesAsArguments().eval()
    result = import_module(model, [(4, 4), (4, 11)])
    types = [n.type for n in result.graph.nodes]
    assert "zero_pad1d" in types and "max_pool1d" in types
    pad = next(n for n in result.graph.nodes if n.type == "zero_pad1d")
    assert tuple(pad.params["padding"]) == (1, 2)
    pool = next(n for n in result.graph.nodes if n.type == "max_pool1d")
    assert tuple(pool.params["kernel_size"]) == (9,)
    x, skip = torch.randn(5, 4, 4), torch.randn(5, 4, 11)
    assert torch.allclose(result.model(x, skip), model(x, skip), atol=1e-5)


class Critic(nn.Module):
    """A GAN discriminator: one probability per image, flattened by view and squeeze."""

    def __init__(self):
        super().__init__()
        self.main = nn.Sequential(nn.Conv2d(1, 4, 4, 2, 1), nn.LeakyReLU(0.2), nn.Conv2d(4, 1, 4, 1, 0),
                                  nn.Sigmoid())

    def forward(self, x):
        return self.main(x).view(-1, 1).squeeze(1)


def test_one_number_per_sample_is_a_squeezed_output(tmp_path):
    from layerloom.backend.export import export_onnx
    from layerloom.backend.importers import import_onnx

    model = Critic().eval()
    result = import_module(model, [(1, 8, 8)])
    assert result.graph.analysis().nodes[next(n.id for n in result.graph.nodes if n.type == "output")] \
        .inputs["in"].shape == ()
    x = torch.randn(5, 1, 8, 8)
    assert torch.allclose(result.model(x), model(x), atol=1e-6)
    path = tmp_path / "critic.onnx"
    torch.onnx.export(model, (torch.randn(3, 1, 8, 8),), path, dynamo=True,
                      dynamic_shapes=({0: torch.export.Dim("batch")},))
    from_onnx = import_onnx(path)
    assert torch.allclose(from_onnx.model(x), model(x), atol=1e-6)
    # The file's output is called "squeeze", as is the exporter's name for the operator.
    assert [n.label for n in from_onnx.graph.nodes if n.type == "output"] == ["squeeze"]
    export_onnx(from_onnx.graph, from_onnx.model, tmp_path / "again.onnx")
