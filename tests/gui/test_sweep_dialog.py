"""Train > Sweep…: settings and values with a preview, trials in the background, the table
and plot, Stop / Stop Now, and Use best as one undoable edit."""

from __future__ import annotations

import os

import pytest
from PySide6.QtCore import Qt

from tests.backend.test_sweep import block_mlp
from tests.gui.test_training_helpers import make_host, one_thread  # noqa: F401

pytestmark = pytest.mark.usefixtures("one_thread")
SHOTS = "/tmp/sweep_shots"


@pytest.fixture
def host(qtbot):
    host = make_host(qtbot)
    yield host
    dialog = getattr(host.dock, "sweep_dialog", None)
    if dialog is not None:  # a non-modal window of its own: it must not outlive the test
        dialog.close()
        dialog.deleteLater()


def set_row(dialog, index: int, name: str, values: str) -> None:
    row = dialog.rows[index]
    row.name.setCurrentText(name)
    row.values.setText(values)


def test_a_grid_runs_in_the_background_and_use_best_is_one_undo_step(host, qtbot):
    graph, stack = host.graph, host.undo_stack
    qtbot.mouseClick(host.dock.run_bar.sweep, Qt.MouseButton.LeftButton)
    dialog = host.dock.sweep_dialog
    qtbot.waitExposed(dialog)
    set_row(dialog, 0, "lr", "1e-4:1e-1:log:2")
    assert dialog.rows[0].preview.text() == "2 value(s): 0.0001, 0.1"
    set_row(dialog, 1, "batch_size", "16,60")
    dialog.metric_box.setCurrentText("val_accuracy")
    dialog.epochs.setValue(2)
    assert dialog.status.text().startswith("4 trial(s)")
    before, count = dict(graph.training), stack.count()
    qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    assert dialog.running and not dialog.start_button.isEnabled() and dialog.stop_button.isEnabled()
    assert not dialog.rows[0].isEnabled()
    qtbot.waitUntil(lambda: not dialog.running, timeout=120_000)
    trials = dialog.trials
    assert [t.status for t in trials] == ["completed"] * 4 and dialog.progress.value() == 4
    assert dialog.table.rowCount() == 4 and dialog.table.columnCount() == 6
    assert dialog.table.horizontalHeaderItem(2).text() == "final val_accuracy"
    assert dialog.table.item(3, 0).text() == "0.1" and dialog.table.item(3, 1).text() == "60"
    assert dialog.table.item(0, 5).text() == "completed"
    lines = dialog.plot.points()
    assert set(lines) == {"batch_size=16", "batch_size=60"}
    assert lines["batch_size=16"][0] == pytest.approx([-4, -1])  # a log axis
    assert lines["batch_size=16"][1] == pytest.approx([trials[0].final, trials[2].final])
    best = dialog.sweep.best()
    assert dialog.table.item(best.index, 0).font().bold()
    assert "Best: lr=" in dialog.status.text() and dialog.use_button.isEnabled()
    os.makedirs(SHOTS, exist_ok=True)
    dialog.grab().save(f"{SHOTS}/sweep_grid.png")
    assert graph.training == before  # nothing changes until Use best
    qtbot.mouseClick(dialog.use_button, Qt.MouseButton.LeftButton)
    assert (graph.training["lr"], graph.training["batch_size"]) == (best.values["lr"], best.values["batch_size"])
    assert graph.training["epochs"] == before["epochs"]  # the trials' epochs are not written
    assert stack.count() == count + 1 and stack.undoText().startswith("Use sweep's best: lr=")
    stack.undo()
    assert graph.training == before
    stack.redo()
    assert graph.training["lr"] == best.values["lr"]


def test_bad_values_show_in_the_preview_and_start_waits_for_good_ones(host, qtbot):
    dialog = host.dock.open_sweep()
    set_row(dialog, 0, "lr", "1e-4:1e-1:log")
    assert "START:STOP:SCALE:COUNT" in dialog.rows[0].preview.text()
    assert not dialog.start_button.isEnabled() and dialog.status.text().startswith("Cannot start:")
    set_row(dialog, 0, "lrr", "0.1")
    assert "did you mean 'lr'" in dialog.rows[0].preview.text()
    set_row(dialog, 0, "optimizer", "adam,nadam")
    assert "'nadam'" in dialog.rows[0].preview.text()
    dialog.rows[0].name.setCurrentText("optimizer")
    set_row(dialog, 0, "momentum", "")
    dialog.rows[0].values.setText("0,0.9")
    assert dialog.rows[0].preview.text() == "2 value(s): 0, 0.9" and dialog.start_button.isEnabled()
    set_row(dialog, 1, "momentum", "0.5")
    assert "set twice" in dialog.status.text() and not dialog.start_button.isEnabled()
    dialog.rows[1].name.setCurrentText("(none)")
    assert not dialog.rows[1].values.isEnabled() and dialog.start_button.isEnabled()
    # picking a setting offers values to start from; values the user typed are kept
    dialog.rows[0].name.setCurrentText("optimizer")
    assert dialog.rows[0].values.text() == "0,0.9"
    dialog.rows[0].values.clear()
    dialog.rows[0].name.setCurrentText("lr")
    assert dialog.rows[0].values.text() == "1e-4:1e-1:log:4"
    dialog.rows[0].name.setCurrentText("optimizer")
    assert dialog.rows[0].values.text() == "adam,sgd"
    dense = next(n for n in host.graph.nodes if n.type == "dense")
    dialog.rows[0].name.setCurrentText(f"{dense.id}.units")
    assert dialog.rows[0].values.text() == "8,16,32"


def test_stop_ends_after_the_trial_and_stop_now_stops_it(host, qtbot):
    dialog = host.dock.open_sweep()
    set_row(dialog, 0, "lr", "0.01,0.02,0.03")
    dialog.epochs.setValue(100_000)
    qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.table.item(0, 4).text().startswith("running: epoch "), timeout=120_000)
    qtbot.mouseClick(dialog.stop_button, Qt.MouseButton.LeftButton)
    assert dialog.running and dialog.stop_button.text() == "Stop &Now"
    assert "after the trial in progress" in dialog.status.text()
    qtbot.wait(300)
    assert dialog.running  # the trial goes on ...
    qtbot.mouseClick(dialog.stop_button, Qt.MouseButton.LeftButton)  # ... until Stop Now
    qtbot.waitUntil(lambda: not dialog.running, timeout=60_000)
    assert [t.status for t in dialog.trials] == ["stopped", "skipped", "skipped"]
    assert "2 not run (stopped)" in dialog.status.text() and dialog.use_button.isEnabled()
    assert dialog.start_button.isEnabled() and dialog.stop_button.text() == "S&top"


def test_a_block_width_sweep_records_a_failing_trial_and_use_best_sets_the_instance(qtbot):
    host = make_host(qtbot, block_mlp())
    graph, stack = host.graph, host.undo_stack
    block = next(n for n in graph.nodes if n.is_block)
    try:
        dialog = host.dock.open_sweep()
        assert "ff.width" in [dialog.rows[0].name.itemText(i) for i in range(dialog.rows[0].name.count())]
        set_row(dialog, 0, f"{block.id}.repeat", "2")
        set_row(dialog, 1, "ff.width", "3,2")  # repeat 2 chains the block: only width 2 fits
        dialog.epochs.setValue(1)
        qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: not dialog.running, timeout=120_000)
        assert [t.status for t in dialog.trials] == ["failed", "completed"]
        assert dialog.table.item(0, 5).text().startswith("failed: ")
        assert dialog.table.item(0, 5).toolTip() == dialog.trials[0].message
        assert "1 failed" in dialog.status.text()
        os.makedirs(SHOTS, exist_ok=True)
        dialog.grab().save(f"{SHOTS}/sweep_block.png")
        count = stack.count()
        qtbot.mouseClick(dialog.use_button, Qt.MouseButton.LeftButton)
        assert graph.node(block.id).params["repeat"] == 2 and graph.node(block.id).params["width"] == 2
        assert stack.count() == count + 1
        stack.undo()
        assert graph.node(block.id).params["repeat"] == 1 and graph.node(block.id).params["width"] == 8
        # another graph opened: the results (and Use best) were for this one
        host.document.graph.replace_with(block_mlp())
        host.document.replaced.emit()
        assert dialog.sweep is None and dialog.table.rowCount() == 0 and not dialog.use_button.isEnabled()
    finally:
        host.dock.sweep_dialog.close()
        host.close()


def test_the_train_menu_opens_the_sweep(host, qtbot):
    menu = host.dock.train_menu(host)
    action = next(a for a in menu.actions() if a.objectName() == "action_train_sweep")
    assert action.shortcut().toString() == "Ctrl+Shift+F5"
    action.trigger()
    assert host.dock.sweep_dialog.isVisible()


@pytest.mark.slow
def test_trials_on_two_processes_fill_the_table_while_the_window_answers(host, qtbot):
    dialog = host.dock.open_sweep()
    set_row(dialog, 0, "optimizer", "adam,sgd")
    dialog.epochs.setValue(1)
    dialog.workers.setValue(2)
    qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: [t.status for t in dialog.trials] == ["running", "running"], timeout=30_000)
    ticks = []
    qtbot.waitUntil(lambda: ticks.append(1) or not dialog.running, timeout=240_000)
    assert len(ticks) > 10
    assert [t.status for t in dialog.trials] == ["completed", "completed"]
    assert all(t.epochs == 1 and t.final is not None for t in dialog.trials)
    assert dialog.plot.getAxis("bottom")._tickLevels[0] == [(0, "adam"), (1, "sgd")]
