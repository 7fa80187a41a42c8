"""TorchScript export: scripted where possible, traced otherwise, always reloaded
and compared before it is kept."""

from __future__ import annotations

import json

import pytest
import torch

import layerloom.backend.export.torchscript as torchscript
from layerloom.backend import ExportError, compile_graph, export_torchscript
from tests.backend.helpers import layer, sequential

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch.jit's notices


def reload_and_compare(model, path, *inputs):
    loaded = torch.jit.load(str(path))
    loaded.eval()
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(loaded(*inputs), model(*inputs), rtol=1e-5, atol=1e-6)


def test_a_plain_model_is_scripted_and_keeps_its_graph(tmp_path):
    graph = sequential((1, 6, 6), layer("conv2d", channels=2, kernel_size=3, activation="relu"),
                       layer("batch_norm"), layer("flatten"), layer("dropout"), layer("dense", units=3))
    model = compile_graph(graph, seed=0)
    result = export_torchscript(graph, model, tmp_path / "cnn.pt")
    assert result.notes == ["the model was scripted"]
    assert model.training  # the export worked on eval mode and gave the mode back
    for batch in (1, 5):
        reload_and_compare(model, result.path, torch.randn(batch, 1, 6, 6))
    extra = {"layerloom_graph.json": ""}
    torch.jit.load(str(result.path), _extra_files=extra)
    assert json.loads(extra["layerloom_graph.json"])["nodes"][1]["type"] == "conv2d"


def test_recurrent_model_is_traced_and_still_takes_other_lengths(tmp_path):
    graph = sequential((5, 3), layer("gru", hidden_size=4, bidirectional=True), layer("dense", units=2))
    model = compile_graph(graph, seed=0)
    result = export_torchscript(graph, model, tmp_path / "gru.pt")
    assert result.notes == ["the model was traced"]
    for shape in ((2, 5, 3), (4, 5, 3), (2, 8, 3)):
        reload_and_compare(model, result.path, torch.randn(*shape))


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_a_file_that_does_not_reproduce_the_model_is_refused(tmp_path, monkeypatch):
    graph = sequential((4,), layer("dense", units=2))
    model = compile_graph(graph, seed=0)
    other = torch.jit.script(compile_graph(graph, seed=1))
    monkeypatch.setattr(torchscript, "_convert", lambda model_, method: other)
    with pytest.raises(ExportError, match="script: the TorchScript file .* does not reproduce"):
        export_torchscript(graph, model, tmp_path / "m.pt")
    assert list(tmp_path.iterdir()) == []
