"""What an import needs from the user, read before it runs: a file's classes and
their inputs (the file never runs), an ONNX file's declared inputs, and the shapes
a user types, refused alike by the dialog and the command line."""

from __future__ import annotations

import pytest
from onnx import TensorProto, helper, save

from layerloom.backend.import_options import OnnxInput, parse_shape, read_classes, read_onnx_inputs

CLASSES_SOURCE = '''
import pathlib
pathlib.Path(__file__).with_name("ran.txt").write_text("the file ran")
raise SystemExit("never run this")

import torch
from torch import nn as tnn


class Helper:
    pass


class Base(torch.nn.Module):
    def forward(self, x, y, scale=1.0):
        return x * y * scale


class Net(Base):
    pass


class Tail(Later):
    def forward(self, *parts):
        return parts[0]


class Later(tnn.Module):
    def forward(self, tokens, /, mask, *, flag=False):
        return tokens
'''


def test_classes_are_read_from_the_syntax_tree_without_running_the_file(tmp_path):
    source = tmp_path / "models.py"
    source.write_text(CLASSES_SOURCE)
    found = read_classes(source)
    assert not (tmp_path / "ran.txt").exists()
    assert found.error == ""
    assert found.modules == ["Base", "Net", "Tail", "Later"]
    assert found.default == "Later"
    assert found.inputs["Base"] == ["x", "y"]
    assert found.inputs["Net"] == ["x", "y"], "inherited from Base"
    assert found.inputs["Later"] == ["tokens", "mask"]
    assert "Tail" not in found.inputs, "*args: unknown"


def test_a_file_that_does_not_parse_says_where(tmp_path):
    source = tmp_path / "broken.py"
    source.write_text("class Net(nn.Module):\n    def forward(self, x)\n")
    found = read_classes(source)
    assert found.modules == [] and found.default == ""
    assert found.error.startswith("broken.py: line 2: syntax error")
    assert read_classes(tmp_path / "gone.py").error.startswith("cannot read gone.py")


def test_onnx_inputs_are_read_from_the_declaration(tmp_path):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, "height", 8])
    tokens = helper.make_tensor_value_info("tokens", TensorProto.INT64, [1, 5])
    weight = helper.make_tensor_value_info("w", TensorProto.FLOAT, [8])
    out = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    init = helper.make_tensor("w", TensorProto.FLOAT, [8], [0.5] * 8)
    graph = helper.make_graph([helper.make_node("Mul", ["x", "w"], ["y"])], "g", [x, tokens, weight], [out],
                              [init])
    path = tmp_path / "model.onnx"
    save(helper.make_model(graph), str(path))

    found = read_onnx_inputs(path)
    assert found == [OnnxInput("x", (None, 3, None, 8)), OnnxInput("tokens", (1, 5))], "the initializer is left out"
    assert [i.open for i in found] == [True, False]
    assert found[0].sample_shape == "3, ?, 8"
    (tmp_path / "bad.onnx").write_bytes(b"not onnx")
    assert read_onnx_inputs(tmp_path / "bad.onnx") is None


@pytest.mark.parametrize(("text", "shape"), [("1, 28, 28", (1, 28, 28)), ("(3,32,32)", (3, 32, 32)),
                                             ("1x28x28", (1, 28, 28)), ("4×5", (4, 5)), (" 7 ", (7,))])
def test_a_shape_is_sizes_in_any_usual_spelling(text, shape):
    assert parse_shape(text, "it") == shape


@pytest.mark.parametrize("text", ["", "1, -2", "one", "0", "1,2,3,4,5,6,7,8,9"])
def test_a_bad_shape_is_named_as_its_user_wrote_it(text):
    with pytest.raises(ValueError) as caught:
        parse_shape(text, f"--input-shape {text!r}", "--input-shape 1,28,28")
    assert str(caught.value) == (
        f"--input-shape {text!r} is not a shape: give up to 8 positive sizes separated by commas, "
        "without the batch dim, e.g. --input-shape 1,28,28"
    )
    with pytest.raises(ValueError, match=r"^the shape of input 'x', .* is not a shape: .* e\.g\. 1, 28, 28$"):
        parse_shape(text, f"the shape of input 'x', {text!r},")
