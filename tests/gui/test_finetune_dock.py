"""Fine-tuning in the training dock: Start from the shown run's weights or a file,
weights that do not fit, the best weights kept, Continue a stopped run and Resume
from a checkpoint folder."""

from __future__ import annotations

import pytest
import torch
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from layerloom.backend.compile import compile_graph
from layerloom.backend.export import save_weights
from layerloom.gui.training.finetune import FILE, FRESH, SHOWN_RUN
from tests.gui.test_training_helpers import make_host, moons_mlp, one_thread, wait_for  # noqa: F401

pytestmark = pytest.mark.usefixtures("one_thread")


def short_mlp(epochs: int = 4, hidden: int = 16):
    g = moons_mlp(hidden)
    g.set_settings("training", {**g.training, "epochs": epochs, "batch_size": 60, "lr": 0.05})
    return g


@pytest.fixture
def host(qtbot):
    return make_host(qtbot, short_mlp())


def _train(host, qtbot, **start):
    run = host.dock.start(**start)
    assert run is not None, host.dock.run_bar.message.text()
    wait_for(qtbot, lambda: not host.dock.running, timeout=60)
    return run


def test_best_weights_kept_and_start_from_the_shown_run(host, qtbot):
    dock = host.dock
    QTest.mouseClick(dock.run_bar.start, Qt.MouseButton.LeftButton)
    wait_for(qtbot, lambda: not dock.running, timeout=60)
    first = dock.runs[-1]
    assert first.status == "finished" and first.best["metric"] == "val_loss"
    assert f"kept the weights of epoch {first.best['epoch']}" in dock.run_bar.message.text()
    _, losses = first.val_loss.arrays()
    assert len(losses) == 4 and first.best["value"] == pytest.approx(min(losses))
    assert first.best["epoch"] == int(losses.argmin()) + 1

    dock.setup.start_from.set_choice(SHOWN_RUN)
    host.graph.set_training("dense_1", {"trainable": False})  # fine-tune the last layer only
    second = _train(host, qtbot)
    assert second.notes[0] == f"started from the weights of {first.label}"
    assert second.started.frozen_count == 48
    assert torch.equal(second.model.dense_1.weight, first.model.dense_1.weight)  # frozen, from run 1
    assert not torch.equal(second.model.dense_2.weight, first.model.dense_2.weight)

    host.graph.set_param("dense_1", "units", 8)  # the shown run's weights no longer fit
    assert dock.start() is None
    text = dock.run_bar.message.text()
    assert "do not fit this graph" in text and "'dense_1.weight'" in text and "(16, 2)" in text
    assert len(dock.runs) == 2  # nothing started


def test_start_from_a_file_and_a_file_that_does_not_fit(host, qtbot, tmp_path):
    dock = host.dock
    dock._build()
    dock.setup.advanced_box.setChecked(True)
    host.resize(1400, 1000)
    dock.setup.ensureWidgetVisible(dock.setup.start_from) if hasattr(dock.setup, "ensureWidgetVisible") else None
    trained = compile_graph(host.graph, seed=7)
    path = save_weights(host.graph, trained, tmp_path / "w.safetensors").path
    dock.setup.start_from.ask_path = lambda: None  # cancelled: stays as it was
    dock.setup.start_from.combo.activated.emit(dock.setup.start_from.combo.findData(FILE))
    assert dock.setup.start_from.choice() == (FRESH, None)
    dock.setup.start_from.ask_path = lambda: str(path)
    combo = dock.setup.start_from.combo
    combo.setCurrentIndex(combo.findData(FILE))
    combo.activated.emit(combo.currentIndex())
    assert dock.setup.start_from.choice() == (FILE, str(path))
    assert dock.setup.start_from.file_label.text() == "w.safetensors"
    qtbot.wait(50)
    dock.setup.grab().save("/tmp/ft_setup.png")
    host.graph.set_settings("training", {**host.graph.training, "epochs": 1, "keep_best": False})
    host.graph.set_training("dense_1", {"trainable": False})
    run = _train(host, qtbot)
    assert run.notes[0] == "started from the weights in w.safetensors"
    assert torch.equal(run.model.dense_1.weight, trained.dense_1.weight)

    other = short_mlp(hidden=8)
    save_weights(other, compile_graph(other, seed=0), tmp_path / "small.safetensors")
    dock.setup.start_from.set_choice(FILE, str(tmp_path / "small.safetensors"))
    assert dock.start() is None
    assert ("tensor 'dense_1.weight' has shape (8, 2) in the file but the graph needs (16, 2)"
            in dock.run_bar.message.text())


def test_continue_a_stopped_run_and_resume_from_a_checkpoint(host, qtbot, tmp_path):
    dock = host.dock
    host.graph.set_settings("training", {**host.graph.training, "epochs": 200})
    run = dock.start()
    wait_for(qtbot, lambda: run.epoch >= 2)
    dock.stop()
    wait_for(qtbot, lambda: not dock.running, timeout=30)
    assert run.status == "stopped" and dock.can_continue()
    assert dock.run_bar.continue_run.isVisible() and dock.actions["continue"].isEnabled()
    stopped_at = run.step
    host.graph.set_settings("training", {**host.graph.training, "epochs": 3})  # fewer: the run's own 200 hold
    QTest.mouseClick(dock.run_bar.continue_run, Qt.MouseButton.LeftButton)
    follow = dock.current
    assert follow is not None and follow.notes[0] == f"continues {run.label}"
    wait_for(qtbot, lambda: follow.started is not None)
    assert follow.started.first_step == stopped_at + 1
    assert not dock.run_bar.continue_run.isVisible()
    dock.stop()
    wait_for(qtbot, lambda: not dock.running, timeout=30)
    assert follow.status == "stopped" and follow.step > stopped_at

    # a checkpoint folder from elsewhere (here: the run's own), with the canvas's graph
    assert dock.resume_from_checkpoint(str(tmp_path)) is None
    assert "is not a checkpoint folder" in dock.run_bar.message.text()
    host.graph.set_settings("training", {**host.graph.training, "epochs": 200})
    resumed = dock.resume_from_checkpoint(follow.checkpoint)
    assert resumed is not None
    wait_for(qtbot, lambda: resumed.started is not None)
    assert resumed.started.first_step == follow.step + 1
    dock.stop()
    wait_for(qtbot, lambda: not dock.running, timeout=30)
    host.dock.show_run(resumed)
    host.resize(1400, 800)
    qtbot.wait(100)
    host.grab().save("/tmp/ft_dock.png")
