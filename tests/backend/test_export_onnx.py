"""ONNX export: dynamic batch, checked in onnxruntime, honest about fixed dims.

ONNX export takes seconds, so each model is exported once per module and the
tests share the result.
"""

from __future__ import annotations

import warnings

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

import layerloom.backend.export.onnx_export as onnx_export
from layerloom.backend import ExportError, compile_graph, export_onnx
from tests.backend.helpers import Builder, layer, sequential


def session(path):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def declared(path):
    model = onnx.load(str(path))
    return {
        v.name: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]
        for v in model.graph.input
    }


def two_input_graph():
    b = Builder()
    image, meta = b.input(1, 6, 6, label="image"), b.input(3, label="meta")
    a = b.chain(image, layer("conv2d", channels=2, kernel_size=3, activation="relu"), layer("flatten"))
    m = b.node("dense", meta, units=4, activation="relu")
    b.output(b.node("dense", b.node("concat", a, m), units=2), label="logits")
    b.output(b.node("dense", m, units=1), label="score")
    return b.graph


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    folder = tmp_path_factory.mktemp("onnx")
    graph = two_input_graph()
    model = compile_graph(graph, seed=0)
    result = export_onnx(graph, model, folder / "model.onnx")
    return model, result


@pytest.fixture(scope="module")
def exported_lstm(tmp_path_factory):
    folder = tmp_path_factory.mktemp("onnx_lstm")
    graph = sequential((5, 3), layer("lstm", hidden_size=4, bidirectional=True), layer("dense", units=2))
    model = compile_graph(graph, seed=0)
    return model, export_onnx(graph, model, folder / "lstm.onnx")


def test_export_is_checked_and_runs_on_any_batch_size(exported):
    model, result = exported
    assert result.format == "onnx" and result.path.exists()
    assert result.files == [result.path] and result.notes == []
    onnx.checker.check_model(str(result.path))
    assert declared(result.path) == {"image": ["batch", 1, 6, 6], "meta": ["batch", 3]}
    sess = session(result.path)
    assert [o.name for o in sess.get_outputs()] == ["logits", "score"]
    model.eval()
    for batch in (1, 7):
        image, meta = torch.randn(batch, 1, 6, 6), torch.randn(batch, 3)
        logits, score = sess.run(None, {"image": image.numpy(), "meta": meta.numpy()})
        with torch.no_grad():
            want_logits, want_score = model(image, meta)
        np.testing.assert_allclose(logits, want_logits.numpy(), atol=1e-5)
        np.testing.assert_allclose(score, want_score.numpy(), atol=1e-5)


def test_recurrent_export_declares_only_the_lengths_it_runs(exported_lstm):
    model, result = exported_lstm
    dims = declared(result.path)["input_1"]
    assert dims[0] == "batch"
    sess = session(result.path)
    model.eval()
    lengths = (5, 3, 8) if isinstance(dims[1], str) else (5,)
    if not isinstance(dims[1], str):
        assert dims[1] == 5 and any("fixed at 5" in note for note in result.notes)
    for length in lengths:
        x = torch.randn(2, length, 3)
        (got,) = sess.run(None, {"input_1": x.numpy()})
        with torch.no_grad():
            np.testing.assert_allclose(got, model(x).numpy(), atol=1e-5)


def _lying_export(model, examples, input_names, output_names, sequence):
    """An export that declares the length variable while a reshape fixes it (as the
    legacy exporter does for a Flatten after a sequence)."""

    class Program:
        def save(self, path):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                torch.onnx.export(
                    model, examples, path, dynamo=False, input_names=input_names,
                    output_names=output_names,
                    dynamic_axes={input_names[0]: {0: "batch", 1: "length"}},
                )

    return Program()


def test_a_length_the_file_cannot_run_is_fixed_in_it_and_reported(tmp_path, monkeypatch):
    graph = sequential((6,), layer("embedding", num_embeddings=9, embedding_dim=4), layer("flatten"),
                       layer("dense", units=2), dtype="long")
    model = compile_graph(graph, seed=0)
    monkeypatch.setattr(onnx_export, "_export", _lying_export)
    result = export_onnx(graph, model, tmp_path / "tokens.onnx")
    assert declared(result.path)["input_1"] == ["batch", 6]
    assert len(result.notes) == 1 and "fixed at 6" in result.notes[0]
    props = {p.key: p.value for p in onnx.load(str(result.path)).metadata_props}
    assert "fixed at 6" in props["layerloom.fixed_dims"]
    sess = session(result.path)
    with pytest.raises(Exception, match="(?i)dimension"):
        sess.run(None, {"input_1": np.zeros((2, 5), dtype=np.int64)})


def test_a_file_that_does_not_reproduce_the_model_is_never_written(tmp_path, monkeypatch):
    graph = sequential((4,), layer("dense", units=2))
    model = compile_graph(graph, seed=0)
    other = compile_graph(graph, seed=1)

    def wrong_weights(model_, examples, input_names, output_names, sequence):
        return _lying_export(other, examples, input_names, output_names, [False])

    monkeypatch.setattr(onnx_export, "_export", wrong_weights)
    target = tmp_path / "model.onnx"
    with pytest.raises(ExportError, match="does not reproduce the model"):
        export_onnx(graph, model, target)
    assert list(tmp_path.iterdir()) == []


def test_unwritable_target_fails_before_exporting(tmp_path):
    graph = sequential((4,), layer("dense", units=2))
    with pytest.raises(ExportError, match="does not exist"):
        export_onnx(graph, compile_graph(graph), tmp_path / "missing" / "m.onnx")
