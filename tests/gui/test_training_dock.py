"""The training dock trains the graph on the canvas while the user watches:
start, live curves, pause, a new learning rate, resume, stop, failures, edits
during a run, closing during a run."""

from __future__ import annotations

import math
import time

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from layerloom.gui.commands import MoveNodes, SetParams
from layerloom.gui.training.views.canvas_badges import canvas_badges
from tests.gui.test_training_helpers import make_host, moons_mlp, one_thread, steps_during, wait_for  # noqa: F401

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def host(qtbot):
    return make_host(qtbot)


def _epochs_done(run, n: int) -> bool:
    return len(run.val_loss) >= n


def test_run_updates_views_pauses_resumes_with_new_lr_and_stops_fast(host, qtbot):
    dock = host.dock
    QTest.mouseClick(dock.run_bar.start, Qt.MouseButton.LeftButton)
    run = dock.current
    assert run is not None and dock.running
    assert not dock.run_bar.start.isEnabled()
    wait_for(qtbot, lambda: _epochs_done(run, 2) and run.stats is not None and run.boundary is not None)
    def drawn(item) -> int:
        x = item.getData()[0]
        return 0 if x is None else len(x)

    # the loss is redrawn every drain (100 ms), the once-an-epoch curves twice a second
    wait_for(qtbot, lambda: drawn(dock.loss_view.raw) > 10 and drawn(dock.loss_view.val) >= 2, timeout=3)

    # curves have data: raw and smoothed training loss per step, validation per epoch, metric, lr
    x, y = dock.loss_view.raw.getOriginalDataset()  # getData() is what is drawn: downsampled
    assert len(x) > 10 and all(math.isfinite(v) for v in y)
    assert len(dock.loss_view.smoothed.getOriginalDataset()[0]) == len(x)
    assert drawn(dock.loss_view.train_metric) >= 2
    assert dock.loss_view.lr_curve.getOriginalDataset()[1][-1] == pytest.approx(0.01)
    assert "loss" in dock.loss_view.summary.text()
    assert run.progress > 0
    # the progress bar follows at most twice a second
    wait_for(qtbot, lambda: dock.run_bar.progress.format().split(" ")[1].split("/")[0] not in ("0", "1"))
    assert dock.run_bar.progress.format().split("/")[1].startswith("100000")
    assert "samples/s" in dock.run_bar.eta.text()
    wait_for(qtbot, lambda: "left" in dock.run_bar.eta.text())  # once the speed is known

    # gradient flow, boundary, weights and badges on the canvas
    dock.tabs.setCurrentWidget(dock.gradient_view)
    assert len(dock.gradient_view.heights) == 2  # two Dense layers, in graph order
    dock.tabs.setCurrentWidget(dock.boundary_view)
    assert dock.boundary_view.has_image
    host.scene.select_nodes(["dense_2"])
    assert dock.weights_view.layer == "dense_2" and dock.worker.hist_node == "dense_2"
    wait_for(qtbot, lambda: "dense_2" in run.hist)
    badges = canvas_badges(host.scene)
    assert set(badges) == {"dense_1", "dense_2"}
    assert "dead" in badges["dense_1"].text.text()  # dense_1 feeds a ReLU
    assert "dead" not in badges["dense_2"].text.text()

    # pause: the run stops taking steps and the learning rate becomes editable
    QTest.mouseClick(dock.run_bar.pause, Qt.MouseButton.LeftButton)
    wait_for(qtbot, lambda: run.status == "paused")
    assert dock.run_bar.resume.isVisible() and dock.run_bar.lr_edit.isEnabled()
    assert steps_during(qtbot, run, 0.3) == 0
    assert dock.try_it.ready  # a CPU copy of the paused model can be tried
    assert dock.try_it.result is not None

    dock.run_bar.lr_edit.setText("0.002")
    QTest.mouseClick(dock.run_bar.resume, Qt.MouseButton.LeftButton)
    wait_for(qtbot, lambda: run.status == "running" and run.lr.last()[1] == pytest.approx(0.002))
    assert steps_during(qtbot, run, 0.3) > 0

    # stop: the run ends within half a second and the window is ready for the next
    began = time.perf_counter()
    QTest.mouseClick(dock.run_bar.stop, Qt.MouseButton.LeftButton)
    wait_for(qtbot, lambda: not dock.running, timeout=2)
    assert time.perf_counter() - began < 0.5
    assert run.status == "stopped" and run.model is not None
    assert dock.run_bar.start.isEnabled() and dock.run_bar.save_weights.isEnabled()
    assert canvas_badges(host.scene) == {}
    # stopped far before its 100,000 epochs: the step axes fit the steps taken
    assert dock.loss_view.loss_plot.getViewBox().viewRange()[0][1] < 1.2 * run.step
    last_snapshot = run.hist["dense_2"].steps[-1]
    assert dock.weights_view.history_plot.getViewBox().viewRange()[0][1] < 1.2 * last_snapshot


def test_nan_loss_shows_a_message_and_the_window_stays_usable(host, qtbot):
    dock = host.dock
    host.graph.set_settings("training", {"epochs": 50, "batch_size": 16, "lr": 1000.0,
                                         "optimizer": "sgd", "loss": "mse", "device": "cpu"})
    run = dock.start()
    wait_for(qtbot, lambda: not dock.running)
    assert run.status == "failed"
    text = dock.run_bar.message.text()
    assert "Lower the learning rate" in text and "1000" in text
    assert dock.run_bar.message.property("kind") == "error"
    assert "Traceback" not in text
    assert not dock.run_bar.save_weights.isEnabled()  # a diverged model is not offered
    # still usable: fix the learning rate and train again
    host.graph.set_settings("training", {"epochs": 1, "batch_size": 16, "lr": 0.01, "device": "cpu"})
    second = dock.start()
    assert second is not None and second.number == 2
    wait_for(qtbot, lambda: not dock.running)
    assert second.status == "finished"
    assert dock.run_bar.message.property("kind") == "done"


def test_a_graph_with_errors_cannot_start_and_says_why(host, qtbot):
    host.graph.add_node("dense", {"units": 4}, position=(0, 300))  # no input wired
    assert host.dock.start() is None
    assert not host.dock.running
    text = host.dock.run_bar.message.text()
    assert "error" in text and "dense_3" in text and "cannot train" in text


def test_editing_the_graph_during_a_run_shows_the_notice(host, qtbot):
    dock, graph = host.dock, host.graph
    run = dock.start()
    wait_for(qtbot, lambda: run.status == "running")
    host.undo_stack.push(MoveNodes(graph, {"dense_1": ((240.0, 0.0), (240.0, 80.0))}))
    qtbot.wait(250)
    assert not dock.graph_changed_since_run and not dock.run_bar.notice.isVisible()
    host.undo_stack.push(SetParams(graph, ["dense_1"], {"units": 8}))
    wait_for(qtbot, lambda: dock.run_bar.notice.isVisible())
    assert dock.graph_changed_since_run
    assert run.graph.node("dense_1").params["units"] == 16  # the run trains its snapshot
    host.undo_stack.undo()
    wait_for(qtbot, lambda: not dock.run_bar.notice.isVisible())
    dock.stop()
    wait_for(qtbot, lambda: not dock.running)


def test_closing_during_a_run_asks_then_stops_cleanly(host, qtbot):
    import sys

    dock = host.dock
    switch = sys.getswitchinterval()
    run = dock.start()
    wait_for(qtbot, lambda: run.status == "running")
    answers = []
    dock.ask_stop_run = lambda: answers.append("no") or False
    assert dock.confirm_close() is False
    assert dock.running and run.status == "running"
    dock.ask_stop_run = lambda: answers.append("yes") or True
    assert dock.confirm_close() is True
    assert answers == ["no", "yes"]
    assert not dock.running and run.status == "stopped"
    assert sys.getswitchinterval() == switch  # the interpreter's hand-over period is back
    assert dock.confirm_close() is True  # nothing to ask any more


def test_the_main_window_hosts_the_dock_and_asks_before_closing_during_a_run(qtbot, tmp_path):
    from PySide6.QtWidgets import QDockWidget, QMenu

    from tests.gui.test_window_helpers import make_window

    window = make_window(qtbot, tmp_path)
    dock = window.findChild(QDockWidget, "trainingDock")
    assert dock is window.training_dock
    assert window.dockWidgetArea(dock) == Qt.DockWidgetArea.BottomDockWidgetArea
    menu = window.findChild(QMenu, "menu_train")
    assert [a.objectName() for a in menu.actions()][:3] == [
        "action_train_start", "action_train_pause", "action_train_stop"]
    assert window.findChild(type(window.actions["save"]), "action_train_start").shortcut().toString() == "F5"
    window.graph.replace_with(moons_mlp())
    dock.preload()
    window.training_dock.actions["start"].trigger()
    run = dock.current
    wait_for(qtbot, lambda: run.status == "running")
    asked = []
    dock.ask_stop_run = lambda: asked.append(True) or False
    assert window.close() is False and window.isVisible() and dock.running
    dock.ask_stop_run = lambda: asked.append(True) or True
    window.ask_save_discard_cancel = lambda: "discard"
    dock.ask_unsaved_runs = lambda labels: asked.append(labels) or "discard"  # the stopped run's weights
    assert window.close() is True
    assert asked[:2] == [True, True] and not dock.running and run.status == "stopped"
    assert asked[2:] == [[run.label]]


def test_runs_are_kept_and_their_losses_overlaid_to_compare(host, qtbot):
    dock = host.dock
    runs = []
    for lr in (0.01, 0.1):
        host.graph.set_settings("training", {"epochs": 2, "batch_size": 16, "lr": lr, "device": "cpu"})
        runs.append(dock.start())
        wait_for(qtbot, lambda: not dock.running)
    first, second = runs
    assert [r.status for r in runs] == ["finished", "finished"] and dock.shown is second
    table = dock.runs_panel.table
    assert table.rowCount() == 2 and "lr 0.1" in table.item(0, 0).text()  # newest first
    assert table.item(1, 0).text().startswith("Run 1") and table.item(1, 1).text() == "finished"
    table.item(1, 0).setCheckState(Qt.CheckState.Checked)  # overlay run 1 on run 2
    assert dock.loss_view.overlays == [first]
    overlay = dock.loss_view._overlay_items[0]
    assert len(overlay.getOriginalDataset()[0]) == len(first.loss)
    assert first.label in [label.text for _, label in dock.loss_view.legend.items]
    table.selectRow(1)  # show run 1 everywhere
    assert dock.shown is first and dock.loss_view.run is first
    assert dock.loss_view.overlays == []  # a run is not overlaid on itself
