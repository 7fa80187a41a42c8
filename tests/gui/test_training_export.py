"""After training: try the model, save its weights and open them again, export it."""

from __future__ import annotations

import numpy as np
import pytest

from layerloom.gui.commands import SetParams
from tests.gui.test_training_helpers import make_host, moons_mlp, one_thread, wait_for  # noqa: F401

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def trained(qtbot):
    host = make_host(qtbot)
    host.graph.set_settings("training", {"epochs": 4, "batch_size": 16, "lr": 0.02, "device": "cpu"})
    run = host.dock.start()
    wait_for(qtbot, lambda: not host.dock.running)
    assert run.status == "finished" and run.model is not None
    return host, run


def test_try_it_save_and_open_weights(trained, qtbot, tmp_path):
    host, run = trained
    dock = host.dock
    dock.tabs.setCurrentWidget(dock.try_it)
    assert dock.try_it.ready
    result = dock.try_it.try_sample(5)
    probs = result["probabilities"]
    assert probs.shape == (2,) and probs.sum() == pytest.approx(1.0, abs=1e-5)
    assert result["predicted"] == int(np.argmax(probs)) and result["true"] == int(run.val.y[5])
    assert "Predicted" in dock.try_it.verdict.text()

    path = dock.save_weights(str(tmp_path / "moons.safetensors"))
    assert path is not None and path.is_file()
    assert "Saved" in dock.run_bar.message.text()
    opened = dock.open_weights(str(path))
    assert opened is not None and opened.status == "loaded" and opened.number == 2
    assert host.questions == []  # same graph: nothing to ask
    assert dock.shown is opened and opened.normalisation is not None
    wait_for(qtbot, lambda: opened.val is not None)
    again = dock.try_it.try_sample(5)
    assert np.allclose(again["probabilities"], probs, atol=1e-6)  # same weights, same scaling

    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a safetensors file")
    assert dock.open_weights(str(bad)) is None
    assert "bad.safetensors" in dock.run_bar.message.text()
    assert dock.run_bar.message.property("kind") == "error" and len(dock.runs) == 2


def test_opening_weights_of_another_graph_offers_to_open_that_graph(trained, qtbot, tmp_path):
    host, run = trained
    path = host.dock.save_weights(str(tmp_path / "moons.safetensors"))
    host.undo_stack.push(SetParams(host.graph, ["dense_1"], {"units": 4}))
    host.replace_answer = True
    opened = host.dock.open_weights(str(path))
    assert host.questions == ["replace"]
    assert host.graph.node("dense_1").params["units"] == 16  # the canvas shows the weights' graph
    assert opened.graph.node("dense_1").params["units"] == 16


@pytest.mark.parametrize("fmt", ["onnx", "torchscript", "python"])
def test_export_after_training(trained, qtbot, tmp_path, fmt):
    host, run = trained
    dialog = host.dock.open_export_dialog()
    assert dialog is not None and dialog.isVisible()
    dialog.set_format(fmt)
    target = tmp_path / f"model{dialog.path.text()[dialog.path.text().rfind('.'):]}"
    dialog.path.setText(str(target))
    dialog.export_button.click()
    assert dialog.busy and not dialog.export_button.isEnabled()
    wait_for(qtbot, lambda: not dialog.busy, timeout=90)
    assert dialog.error is None, dialog.error
    assert dialog.result.path == target and target.is_file()
    assert "Exported to" in dialog.status.text()
    dialog.done(0)


def test_image_data_trains_with_a_confusion_matrix_and_try_it_shows_the_image(qtbot):
    from layerloom.graph import Graph

    g = Graph()
    ids = [g.add_node(t, p, position=(i * 240.0, 0.0)).id for i, (t, p) in enumerate([
        ("input", {"shape": [1, 8, 8]}), ("flatten", {}), ("dense", {"units": 10}), ("output", {})])]
    for a, b in zip(ids, ids[1:], strict=False):
        g.connect(a, "out", b, "in")
    g.set_settings("dataset", {"name": "digits", "options": {}, "val_split": 0.2})
    g.set_settings("training", {"epochs": 2, "batch_size": 64, "lr": 0.01, "device": "cpu"})
    host = make_host(qtbot, g)
    dock = host.dock
    run = dock.start()
    wait_for(qtbot, lambda: not dock.running)
    assert run.status == "finished", run.message
    dock.tabs.setCurrentWidget(dock.boundary_view)
    assert not dock.boundary_view.has_image and "(1, 8, 8)" in dock.boundary_view.note.text()
    dock.tabs.setCurrentWidget(dock.confusion_view)
    assert dock.confusion_view.matrix.shape == (10, 10)
    assert dock.confusion_view.matrix.sum() == run.data.val_size
    dock.tabs.setCurrentWidget(dock.try_it)
    result = dock.try_it.try_sample(0)
    assert result["probabilities"].shape == (10,)
    assert dock.try_it.input_stack.currentWidget() is dock.try_it.image
    assert not dock.try_it.image.pixmap().isNull()


@pytest.mark.parametrize("damage", ["graph", "normalisation"])
def test_weights_with_a_damaged_graph_or_normalisation_get_a_message(qtbot, tmp_path, damage):
    import json

    from safetensors.torch import load_file, save_file

    from layerloom.backend.compile import compile_graph
    from layerloom.backend.export import save_weights
    from layerloom.backend.training.checkpoint import NORMALISATION_KEY

    host = make_host(qtbot)
    path = tmp_path / "w.safetensors"
    save_weights(host.graph, compile_graph(host.graph), path)
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        metadata = dict(f.metadata())
    if damage == "graph":
        metadata["graph"] = metadata["graph"].replace('"nodes"', '"nodes": 5, "x"', 1)
    else:
        metadata[NORMALISATION_KEY] = json.dumps(
            {"method": "standard", "shape": [2], "shift": [10 ** 400, 0], "scale": [1, 1]})
    save_file({k: v.clone() for k, v in load_file(str(path)).items()}, str(path), metadata=metadata)
    assert host.dock.open_weights(str(path)) is None
    assert host.dock.run_bar.message.property("kind") == "error"
    assert "Cannot open the weights" in host.dock.run_bar.message.text()
