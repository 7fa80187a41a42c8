"""`layerloom import`: writes the graph and its weights, says that it runs the
model's code, and turns every bad input into one `error:` line."""

from __future__ import annotations

import textwrap

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

from layerloom.backend.cli import main
from layerloom.backend.export.weights import load_model
from layerloom.backend.importers.user_code import load_class
from layerloom.graph import load_graph

MODEL_PY = textwrap.dedent('''
    import torch
    from torch import nn


    class Net(nn.Module):
        def __init__(self, hidden=8):
            super().__init__()
            self.conv = nn.Conv2d(1, 3, 3)
            self.fc = nn.Linear(3 * 4 * 4, hidden)
            self.out = nn.Linear(hidden, 2)

        def forward(self, x):
            x = torch.relu(self.conv(x))
            return self.out(torch.relu(self.fc(x.flatten(1))))


    class Odd(nn.Module):
        def forward(self, x):
            return torch.sinh(x)


    def helper():
        return 1
''')


@pytest.fixture
def model_file(tmp_path):
    path = tmp_path / "model.py"
    path.write_text(MODEL_PY)
    return path


def _net(model_file, hidden):
    """The class from the file, created and seeded (to write its weights)."""
    torch.manual_seed(5)
    return load_class(model_file, "Net")(hidden=hidden).eval()


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


@pytest.mark.parametrize("suffix", [".pt", ".safetensors"])
def test_import_with_args_and_weights_writes_graph_and_weights(tmp_path, model_file, capsys, suffix):
    source = _net(model_file, hidden=5)
    weights = tmp_path / f"trained{suffix}"
    if suffix == ".pt":
        torch.save(source.state_dict(), weights)
    else:
        from safetensors.torch import save_file

        save_file(source.state_dict(), str(weights))
    out = tmp_path / "net.loom"
    code = main([
        "import", f"{model_file}:Net", "--args", '{"hidden": 5}', "--weights", str(weights),
        "--input-shape", "1,6,6", "-o", str(out),
    ])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert captured.out.splitlines()[0] == (
        f"note: importing runs the Python code in {model_file}; import only files you trust"
    )
    assert f"wrote {out}, {tmp_path / 'net.safetensors'}" in captured.out
    graph = load_graph(out)
    fc = next(n for n in graph.nodes if n.label == "fc")
    assert fc.type == "dense" and fc.params["units"] == 5
    reopened, model = load_model(tmp_path / "net.safetensors")
    assert reopened == graph
    x = torch.randn(3, 1, 6, 6)
    with torch.no_grad():
        assert (model(x) - source(x)).abs().max().item() <= 1e-5


def test_onnx_file_imports(tmp_path, capsys):
    w = np.random.default_rng(0).standard_normal((2, 3)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Gemm", ["x", "fc.weight"], ["h"], transB=1, name="fc"),
         helper.make_node("Relu", ["h"], ["y"], name="act")],
        "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2])],
        [numpy_helper.from_array(w, "fc.weight")],
    )
    path = tmp_path / "tiny.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), str(path))
    assert main(["import", str(path), "-o", str(tmp_path / "tiny.loom")]) == 0
    out = capsys.readouterr().out
    assert "note: importing runs" not in out
    assert "imported 3 nodes, 6 parameters" in out
    dense = next(n for n in load_graph(tmp_path / "tiny.loom").nodes if n.type == "dense")
    assert dense.params["activation"] == "relu"


@pytest.mark.parametrize("argv, expected", [
    (["{dir}/missing.py:Net", "--input-shape", "1,6,6"], "error: {dir}/missing.py: no such file"),
    (["{file}:Nope", "--input-shape", "1,6,6"], "error: class 'Nope' not found in {file}; it defines Net, Odd"),
    (["{file}:helper", "--input-shape", "1,6,6"], "error: class 'helper' is not an nn.Module class in {file}"),
    (["{file}:Net", "--args", "{{hidden: 5}}", "--input-shape", "1,6,6"], "error: --args is not valid JSON"),
    (["{file}:Net", "--args", "[5]", "--input-shape", "1,6,6"], "error: --args must be a JSON object"),
    (["{file}:Net", "--args", '{{"width": 5}}', "--input-shape", "1,6,6"],
     "error: cannot create Net(**{{\"width\": 5}}): TypeError"),
    (["{file}:Net", "--input-shape", "1,six,6"], "error: --input-shape '1,six,6' is not a shape"),
    (["{file}:Net"], "error: cannot tell the shape of Net's input 'x'"),
    (["{file}:Net", "--input-shape", "1,6,6", "--weights", "{dir}/none.pt"], "error: weights file {dir}/none.pt: no such file"),
    (["{dir}/model.txt"], "error: cannot tell what '{dir}/model.txt' is"),
    (["{dir}/missing.onnx"], "error: {dir}/missing.onnx: no such file"),
])
def test_bad_input_gives_one_error_line(tmp_path, model_file, capsys, argv, expected):
    argv = [a.format(dir=tmp_path, file=model_file) for a in argv]
    code = main(["import", *argv, "-o", str(tmp_path / "out.loom")])
    assert code == 2
    assert _one_error_line(capsys).startswith(expected.format(dir=tmp_path, file=model_file))
    assert not (tmp_path / "out.loom").exists()


def test_weights_that_do_not_fit_are_named(tmp_path, model_file, capsys):
    weights = tmp_path / "other.pt"
    torch.save({"fc.weight": torch.zeros(2, 2)}, weights)
    code = main(["import", f"{model_file}:Net", "--weights", str(weights), "--input-shape", "1,6,6",
                 "-o", str(tmp_path / "out.loom")])
    assert code == 2
    line = _one_error_line(capsys)
    assert "do not fit the model" in line and "conv.weight" in line


def test_unsupported_model_lists_the_parts_and_writes_nothing(tmp_path, model_file, capsys):
    out = tmp_path / "odd.loom"
    assert main(["import", f"{model_file}:Odd", "--input-shape", "4", "-o", str(out)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "error: cannot import Odd: 1 part has no LayerLoom equivalent:"
    assert err[1].startswith("  - torch.sinh at 'sinh' (model.py:")
    assert not out.exists() and not out.with_suffix(".safetensors").exists()


def test_output_must_be_a_loom_file(tmp_path, model_file, capsys):
    code = main(["import", f"{model_file}:Net", "--input-shape", "1,6,6", "-o", str(tmp_path / "x.onnx")])
    assert code == 2
    assert "must be a .loom file" in _one_error_line(capsys)
