"""Training > Find…: the learning-rate range test in a dialog, driven with the mouse."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from tests.gui.test_training_helpers import make_host, one_thread  # noqa: F401

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def host(qtbot):
    host = make_host(qtbot)
    yield host
    dialog = getattr(host.dock.setup, "lr_dialog", None)
    if dialog is not None:  # a non-modal window of its own: it must not outlive the test
        dialog.close()
        dialog.deleteLater()


def test_find_runs_the_range_test_and_use_sets_the_rate_as_one_undo_step(host, qtbot, tmp_path):
    panel, graph, stack = host.dock.setup, host.graph, host.undo_stack
    before, count = graph.training.get("lr"), stack.count()
    qtbot.mouseClick(panel.find_lr_button, Qt.MouseButton.LeftButton)
    dialog = panel.lr_dialog
    qtbot.waitExposed(dialog)
    dialog.steps_box.setValue(40)
    dialog.max_box.setValue(10.0)
    qtbot.mouseClick(dialog.run_button, Qt.MouseButton.LeftButton)
    assert dialog.running and not dialog.run_button.isEnabled()
    qtbot.waitUntil(lambda: not dialog.running, timeout=60_000)
    finding = dialog.finding
    assert finding is not None and 5 <= len(finding.rates) <= 40
    assert finding.suggested is not None and 1e-6 < finding.suggested < 10
    assert "suggested learning rate" in dialog.status.text().lower()
    xs, ys = dialog.curve.getData()
    assert len(xs) == len(finding.rates) and dialog.marker.isVisible()
    dialog.resize(640, 560)
    dialog.grab().save("/tmp/stall/lr_find.png")
    assert graph.training.get("lr") == before  # nothing changes until Use
    qtbot.mouseClick(dialog.use_button, Qt.MouseButton.LeftButton)
    assert graph.training["lr"] == pytest.approx(float(f"{finding.suggested:.2g}"))
    assert stack.count() == count + 1
    stack.undo()
    assert graph.training.get("lr") == before
    dialog.close()


def test_a_range_backwards_is_refused_in_the_dialog_and_stop_ends_a_run(host, qtbot):
    panel = host.dock.setup
    dialog = panel.find_learning_rate()
    qtbot.waitExposed(dialog)
    dialog.min_box.setValue(1.0)
    dialog.max_box.setValue(0.1)
    qtbot.mouseClick(dialog.run_button, Qt.MouseButton.LeftButton)
    assert not dialog.running and "must be larger" in dialog.status.text()
    dialog.min_box.setValue(1e-6)
    dialog.max_box.setValue(1e-3)  # a gentle range: no early end of its own
    dialog.steps_box.setValue(1000)
    qtbot.mouseClick(dialog.run_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.progress.value() >= 3, timeout=30_000)
    qtbot.mouseClick(dialog.stop_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not dialog.running, timeout=30_000)
    assert dialog.finding.ended == "stopped" and len(dialog.finding.rates) < 1000


def test_a_graph_that_cannot_train_says_why_in_the_dialog(host, qtbot):
    graph = host.graph
    dense = next(n for n in graph.nodes if n.type == "dense")
    graph.remove_node(dense.id)  # the graph no longer fits the data: errors
    dialog = host.dock.setup.find_learning_rate()
    qtbot.mouseClick(dialog.run_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not dialog.running, timeout=30_000)
    assert dialog.status.text().startswith("The test could not run:")
    assert "Traceback" not in dialog.status.text()
    assert dialog.finding is None and not dialog.use_button.isEnabled()


def test_rates_are_typed_as_numbers_and_nonsense_is_refused(host, qtbot):
    dialog = host.dock.setup.find_learning_rate()
    assert dialog.min_box.text() == "1e-06"
    dialog.min_box.setText("-3")
    qtbot.mouseClick(dialog.run_button, Qt.MouseButton.LeftButton)
    assert not dialog.running and "positive numbers" in dialog.status.text()
    dialog.min_box.setText("abc")
    qtbot.mouseClick(dialog.run_button, Qt.MouseButton.LeftButton)
    assert not dialog.running and "positive numbers" in dialog.status.text()
