"""The set-up panel: picking data, previewing it, fitting the graph to it, and
training settings that are undoable and saved in the .loom file."""

from __future__ import annotations

import numpy as np
import pytest

from layerloom.graph import load_graph, save_graph
from tests.gui.test_training_helpers import make_host, one_thread, wait_for  # noqa: F401

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def host(qtbot):
    return make_host(qtbot)


def pick(combo, data) -> None:
    """Choose the entry whose data is ``data`` as a user would (activated)."""
    index = combo.findData(data)
    assert index >= 0, f"{data!r} is not offered"
    combo.setCurrentIndex(index)
    combo.activated.emit(index)


def test_training_settings_are_undoable_and_saved_in_the_loom_file(host, qtbot, tmp_path):
    panel, graph, stack = host.dock.setup, host.graph, host.undo_stack
    editors = panel.training_editors
    optimizer = editors["optimizer"]
    index = optimizer.findText("sgd")
    optimizer.setCurrentIndex(index)
    optimizer.activated.emit(index)
    assert graph.training["optimizer"] == "sgd"
    lr = editors["lr"]
    lr.setText("1e-4")
    lr.editingFinished.emit()
    assert graph.training["lr"] == pytest.approx(1e-4)
    assert stack.count() == 2 and not stack.isClean()
    assert stack.undoText() == "Change training settings"

    lr.setText("0")  # refused by the backend's own rule, with its message
    lr.editingFinished.emit()
    assert graph.training["lr"] == pytest.approx(1e-4) and stack.count() == 2
    assert "lr must be above 0" in panel.problem.text() and panel.problem.isVisibleTo(panel)

    epochs = editors["epochs"]
    epochs.setValue(7)
    epochs.editingFinished.emit()
    split = panel.editors["val_split"]
    split.setText("0.3")
    split.editingFinished.emit()
    assert graph.training["epochs"] == 7 and graph.dataset["val_split"] == pytest.approx(0.3)

    path = tmp_path / "model.loom"
    save_graph(graph, path)
    loaded = load_graph(path)
    assert loaded.training == graph.training and loaded.dataset == graph.dataset
    assert loaded.training["optimizer"] == "sgd" and loaded.training["epochs"] == 7

    stack.undo()
    stack.undo()
    assert "epochs" in graph.training and graph.dataset["val_split"] == pytest.approx(0.25)
    qtbot.wait(10)  # the form follows the graph
    assert split.text() == "0.25"


def test_choosing_a_dataset_offers_to_fit_the_output_units(host, qtbot):
    panel, graph, stack = host.dock.setup, host.graph, host.undo_stack
    assert not panel.fit_output.isVisibleTo(panel) and not panel.fit_input.isVisibleTo(panel)
    pick(panel.dataset_combo, "blobs")
    assert graph.dataset["name"] == "blobs" and graph.dataset["options"] == {}
    wait_for(qtbot, lambda: panel.dataset_for_run() is not None and panel.dataset_for_run().name == "blobs")
    assert panel.fit_output.isVisibleTo(panel)
    assert panel.fit_output.text() == "Set dense_2 units to 3"
    panel.fit_output.click()
    assert graph.node("dense_2").params["units"] == 3
    assert stack.undoText() == "Set units of Dense"
    assert panel.preview.kind == "scatter"
    assert "blobs" in panel.preview.summary.text() and "3 classes" in panel.preview.summary.text()
    stack.undo()
    assert graph.node("dense_2").params["units"] == 2


def test_table_and_image_data_fit_the_input_node(host, qtbot):
    panel, graph = host.dock.setup, host.graph
    pick(panel.dataset_combo, "iris")
    wait_for(qtbot, lambda: panel.dataset_for_run() is not None and panel.dataset_for_run().name == "iris")
    assert panel.fit_input.text() == "Set input_1 to (4,) float"
    panel.fit_input.click()
    assert graph.node("input_1").params["shape"] == (4,)
    assert panel.preview.kind == "table"
    assert panel.preview.table.rowCount() == 5
    assert panel.preview.table.horizontalHeaderItem(1).text() != ""
    pick(panel.dataset_combo, "digits")
    wait_for(qtbot, lambda: panel.dataset_for_run() is not None and panel.dataset_for_run().name == "digits")
    assert panel.preview.kind == "image"
    assert panel.preview.images_grid.count() >= 2
    assert "(1, 8, 8)" in panel.fit_input.text()


def test_open_data_reads_a_csv_file_stored_relative_to_the_loom_file(host, qtbot, tmp_path):
    panel, graph = host.dock.setup, host.graph
    rng = np.random.default_rng(0)
    rows = ["a,b,label"] + [f"{x:.3f},{y:.3f},{int(x > y)}" for x, y in rng.normal(size=(60, 2))]
    csv = tmp_path / "points.csv"
    csv.write_text("\n".join(rows))
    panel.base_dir = lambda: str(tmp_path)
    panel.ask_data_path = lambda folder: str(csv) if not folder else None
    pick(panel.dataset_combo, "\0open-file")
    assert graph.dataset["name"] == "points.csv"  # relative to the .loom file's folder
    wait_for(qtbot, lambda: panel.dataset_for_run() is not None and panel.dataset_for_run().name == "points.csv")
    assert panel.preview.kind == "scatter"
    assert "60 samples" in panel.preview.summary.text()
    assert panel.dataset_combo.currentData() == "points.csv"

    missing = tmp_path / "missing.csv"
    panel.ask_data_path = lambda folder: str(missing)
    pick(panel.dataset_combo, "\0open-file")
    wait_for(qtbot, lambda: panel.load_error is not None)
    assert "missing.csv" in panel.preview.summary.text()


def test_device_list_and_mixed_precision(host, qtbot):
    panel = host.dock.setup
    devices = [panel.device_combo.itemData(i) for i in range(panel.device_combo.count())]
    assert devices[:2] == ["auto", "cpu"]
    import torch

    assert len([d for d in devices if str(d).startswith("cuda")]) == torch.cuda.device_count()
    assert panel.device_combo.currentData() == "cpu"
    assert panel.training_editors["precision"].isEnabled() is False  # CPU: no mixed precision
    panel.set_training({"device": "cuda:3"})  # a file from a machine with more GPUs
    assert host.graph.training["device"] == "cuda:3"
    wait_for(qtbot, lambda: "not available here" in panel.device_combo.currentText())
    assert panel.training_editors["precision"].isEnabled()


def test_fast_path_is_a_checkbox_under_more_with_its_one_line_explanation(host, qtbot, tmp_path):
    from PySide6.QtCore import Qt

    panel, graph, stack = host.dock.setup, host.graph, host.undo_stack
    box = panel.training_editors["compile"]
    assert box.isCheckable() and not box.isChecked()
    assert panel.advanced_box.isAncestorOf(box)  # folded away under More
    assert "Fast path: a fused optimizer" in box.toolTip() and "torch.compile" in box.toolTip()
    panel.advanced_box.setChecked(True)
    qtbot.mouseClick(box, Qt.MouseButton.LeftButton)
    assert graph.training["compile"] is True and stack.undoText() == "Change training settings"
    save_graph(graph, tmp_path / "m.loom")
    assert load_graph(tmp_path / "m.loom").training["compile"] is True
    stack.undo()
    qtbot.wait(10)  # the form follows the graph
    assert not graph.training.get("compile") and not box.isChecked()
