"""safetensors weights with the graph inside: save, reopen, and refuse what does not fit."""

from __future__ import annotations

import json
import struct

import pytest
import torch
from safetensors.torch import save_file

from layerloom.backend import ExportError, WeightsError, compile_graph, load_model, save_weights
from layerloom.backend.export import load_weights
from layerloom.graph import GraphFileError, dumps
from tests.backend.helpers import layer, sequential


def small_graph(units=3):
    graph = sequential((1, 6, 6), layer("conv2d", channels=2, kernel_size=3), layer("batch_norm"),
                       layer("flatten"), layer("dense", units=units, label="head"))
    graph.meta = {"title": "tiny"}
    return graph


@pytest.fixture
def trained(tmp_path):
    graph = small_graph()
    model = compile_graph(graph, seed=0)
    model.train()
    model(torch.randn(8, 1, 6, 6))  # moves the BatchNorm statistics away from their start
    return graph, model


def test_one_file_reopens_as_graph_and_trained_model(trained, tmp_path):
    graph, model = trained
    path = tmp_path / "model.safetensors"
    result = save_weights(graph, model, path)
    assert result.path == path and result.files == [path]
    assert [p.name for p in tmp_path.iterdir()] == ["model.safetensors"]  # no temporary left

    loaded_graph, loaded = load_model(path)
    assert dumps(loaded_graph) == dumps(graph)
    assert not loaded.training
    for (name, a), b in zip(model.state_dict().items(), loaded.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    model.eval()
    x = torch.randn(2, 1, 6, 6)
    assert torch.equal(loaded(x), model(x))


def test_the_file_is_plain_safetensors_with_the_graph_in_its_metadata(trained, tmp_path):
    graph, model = trained
    path = tmp_path / "model.safetensors"
    save_weights(graph, model, path)
    raw = path.read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + length])
    meta = header.pop("__metadata__")
    assert meta["format"] == "layerloom.weights"
    assert json.loads(meta["graph"]) == json.loads(dumps(graph))
    assert set(header) == set(model.state_dict())
    assert header["head.weight"]["shape"] == [3, 32]


def test_weights_of_another_graph_are_refused_naming_each_tensor(trained, tmp_path):
    graph, model = trained
    path = tmp_path / "model.safetensors"
    save_weights(graph, model, path)
    other = compile_graph(small_graph(units=5))
    before = {k: v.clone() for k, v in other.state_dict().items()}
    with pytest.raises(WeightsError) as info:
        load_weights(other, path)
    message = str(info.value)
    assert "'head.weight' has shape (3, 32) in the file; the graph needs (5, 32)" in message
    assert "'head.bias'" in message
    for name, value in other.state_dict().items():  # nothing was loaded
        assert torch.equal(value, before[name])


def test_missing_and_unexpected_tensors_are_named(trained, tmp_path):
    graph, model = trained
    tensors = {k: v.contiguous() for k, v in model.state_dict().items()}
    tensors.pop("head.bias")
    tensors["extra.weight"] = torch.zeros(2)
    path = tmp_path / "edited.safetensors"
    save_file(tensors, str(path))
    with pytest.raises(WeightsError) as info:
        load_weights(compile_graph(graph), path)
    assert "'head.bias' (3,) is missing" in str(info.value)
    assert "'extra.weight' (2,) is not used by the graph" in str(info.value)


def test_half_precision_weights_load_converted(trained, tmp_path):
    graph, model = trained
    tensors = {k: (v.half() if v.is_floating_point() else v).contiguous() for k, v in model.state_dict().items()}
    path = tmp_path / "half.safetensors"
    save_file(tensors, str(path))
    fresh = load_weights(compile_graph(graph), path)
    assert fresh.head.weight.dtype == torch.float32
    torch.testing.assert_close(fresh.head.weight, model.head.weight.half().float())


def test_files_without_a_graph_or_not_safetensors_are_refused(tmp_path):
    plain = tmp_path / "plain.safetensors"
    save_file({"w": torch.zeros(2)}, str(plain))
    with pytest.raises(WeightsError, match="no LayerLoom graph"):
        load_model(plain)
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all")
    with pytest.raises(WeightsError, match="not a readable safetensors file"):
        load_model(junk)
    with pytest.raises(WeightsError, match="does not exist"):
        load_model(tmp_path / "missing.safetensors")


def test_a_broken_embedded_graph_is_a_file_error(tmp_path):
    path = tmp_path / "broken.safetensors"
    save_file({"w": torch.zeros(2)}, str(path),
              metadata={"format": "layerloom.weights", "format_version": "1", "graph": "{\"nodes\": 3"})
    with pytest.raises(GraphFileError, match="embedded graph"):
        load_model(path)


def test_unwritable_targets_fail_cleanly(trained, tmp_path):
    graph, model = trained
    with pytest.raises(ExportError, match="does not exist"):
        save_weights(graph, model, tmp_path / "no_such_folder" / "w.safetensors")
    with pytest.raises(ExportError, match="is a folder"):
        save_weights(graph, model, tmp_path)


def test_a_failed_check_keeps_the_old_file_and_leaves_nothing(trained, tmp_path, monkeypatch):
    import layerloom.backend.export.weights as weights

    graph, model = trained
    target = tmp_path / "keep.safetensors"
    target.write_bytes(b"old")

    def corrupt(staged, tensors, metadata):
        raise ExportError("tensor 'head.weight' does not read back as written")

    monkeypatch.setattr(weights, "_verify", corrupt)
    with pytest.raises(ExportError, match="head.weight"):
        save_weights(graph, model, target)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.safetensors"]


def test_non_contiguous_weights_are_written_as_plain_copies(trained, tmp_path):
    graph, model = trained
    model.head.weight.data = model.head.weight.data.t().contiguous().t()  # not contiguous
    path = tmp_path / "w.safetensors"
    save_weights(graph, model, path)
    _, loaded = load_model(path)
    assert torch.equal(loaded.head.weight, model.head.weight)
