"""`layerloom export`: every format, and one `error:` line for every bad input."""

from __future__ import annotations

import importlib.util

import onnxruntime as ort
import pytest
import torch
from safetensors.torch import save_file

from layerloom.backend import compile_graph, load_model, save_weights
from layerloom.backend.cli import EXIT_INVALID, EXIT_UNREADABLE, main
from layerloom.graph import save_graph
from tests.backend.helpers import layer, sequential

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch.jit's notices


def tiny_graph(units=2):
    return sequential((4,), layer("dense", units=3, activation="relu"), layer("dense", units=units))


@pytest.fixture
def loom(tmp_path):
    path = tmp_path / "tiny.loom"
    save_graph(tiny_graph(), path)
    return path


@pytest.fixture
def trained_weights(tmp_path):
    graph = tiny_graph()
    model = compile_graph(graph, seed=42)
    path = tmp_path / "trained.safetensors"
    save_weights(graph, model, path)
    return model.eval(), path


def one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def test_export_with_weights_writes_the_trained_model(loom, trained_weights, tmp_path, capsys):
    model, weights = trained_weights
    out = tmp_path / "model.pt"
    assert main(["export", str(loom), "--weights", str(weights), "--format", "torchscript", "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"wrote {out}" in printed and "freshly initialised" not in printed
    x = torch.randn(3, 4)
    with torch.no_grad():
        torch.testing.assert_close(torch.jit.load(str(out))(x), model(x))


def test_without_weights_a_note_says_they_are_fresh(loom, tmp_path, capsys):
    out = tmp_path / "fresh.safetensors"
    assert main(["export", str(loom), "-o", str(out)]) == 0  # the format from the suffix
    assert "note: no --weights given; exporting freshly initialised weights" in capsys.readouterr().out
    graph, model = load_model(out)
    assert len(graph) == 4


def test_onnx_from_a_layerloom_safetensors_file(trained_weights, tmp_path, capsys):
    model, weights = trained_weights
    out = tmp_path / "model.onnx"
    assert main(["export", str(weights), "--format", "onnx", "-o", str(out)]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    x = torch.randn(5, 4)
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    with torch.no_grad():
        assert abs(got - model(x).numpy()).max() <= 1e-5


def test_python_export_from_the_command_line(loom, trained_weights, tmp_path, capsys):
    model, weights = trained_weights
    out = tmp_path / "net.py"
    assert main(["export", str(loom), "-w", str(weights), "-f", "python", "-o", str(out)]) == 0
    assert "net.safetensors" in capsys.readouterr().out
    spec = importlib.util.spec_from_file_location("net_from_cli", out)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    x = torch.randn(2, 4)
    with torch.no_grad():
        torch.testing.assert_close(module.load_model()(x), model(x))


def test_invalid_graph_prints_each_node_error(tmp_path, capsys):
    path = tmp_path / "bad.loom"
    graph = sequential((4,), layer("conv2d", channels=2), layer("dense", units=2))
    graph.add_node("dense", {"units": 3})  # an unwired node: a second error
    save_graph(graph, path)
    assert main(["export", str(path), "-o", str(tmp_path / "m.onnx")]) == EXIT_INVALID
    err = capsys.readouterr().err
    assert one_error_line(err).startswith(f"error: {path} is not a valid graph (2 error(s))")
    assert "  conv2d_1: conv2d_1 (Conv2d): Conv2d needs (C, H, W)" in err
    assert "  dense_2: dense_2: input in is not connected" in err
    assert not (tmp_path / "m.onnx").exists()


def test_weights_that_do_not_match_name_the_tensor(loom, tmp_path, capsys):
    wrong = tmp_path / "wrong.safetensors"
    save_file({"dense_1.weight": torch.zeros(5, 4)}, str(wrong))
    assert main(["export", str(loom), "-w", str(wrong), "-o", str(tmp_path / "m.pt")]) == EXIT_UNREADABLE
    line = one_error_line(capsys.readouterr().err)
    assert "'dense_1.weight' has shape (5, 4) in the file; the graph needs (3, 4)" in line
    assert "'dense_2.bias' (2,) is missing" in line
    assert not (tmp_path / "m.pt").exists()


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["-o", "{tmp}/missing/m.onnx"], "the folder {tmp}/missing does not exist"),
        (["-o", "{tmp}"], "is a folder"),
        (["-o", "{tmp}/m.txt"], "cannot tell the format from"),
        (["-f", "python", "-o", "{tmp}/m.txt"], "the Python export writes a .py file"),
        (["-w", "{tmp}/none.safetensors", "-o", "{tmp}/m.pt"], "weights file {tmp}/none.safetensors does not exist"),
    ],
)
def test_bad_requests_print_one_error_line(loom, tmp_path, capsys, argv, expected):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    assert main(["export", str(loom), *argv]) == EXIT_UNREADABLE
    assert expected.replace("{tmp}", str(tmp_path)) in one_error_line(capsys.readouterr().err)


def test_an_unknown_format_is_a_usage_error(loom, tmp_path, capsys):
    with pytest.raises(SystemExit) as info:  # argparse ends the run, as for any usage error
        main(["export", str(loom), "-f", "keras", "-o", str(tmp_path / "m.h5")])
    assert info.value.code == EXIT_UNREADABLE
    assert "invalid choice: 'keras'" in one_error_line(capsys.readouterr().err)


def test_unreadable_input_files_print_one_error_line(tmp_path, capsys):
    junk = tmp_path / "junk.loom"
    junk.write_text("{not json")
    assert main(["export", str(junk), "-o", str(tmp_path / "m.onnx")]) == EXIT_UNREADABLE
    assert "not valid JSON" in one_error_line(capsys.readouterr().err)
    plain = tmp_path / "plain.safetensors"
    save_file({"w": torch.zeros(1)}, str(plain))
    assert main(["export", str(plain), "-o", str(tmp_path / "m.onnx")]) == EXIT_UNREADABLE
    assert "no LayerLoom graph" in one_error_line(capsys.readouterr().err)
