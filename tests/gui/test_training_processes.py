"""Training on several processes from the app: the Processes field of the set-up
panel, and a run of ``layerloom train --nproc 2`` followed from the dock.

The machine that runs the tests has no GPU; the dock asks
:func:`layerloom.gui.training.setup.processes_field.gpu_count`, which the tests replace, and
device Auto then trains the two processes on the CPU with gloo, for real.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from layerloom.gui.training.process_worker import ProcessWorker, launcher_message
from layerloom.gui.training.setup import processes_field
from tests.gui.test_training_helpers import make_host, moons_mlp, one_thread, wait_for  # noqa: F401

pytestmark = pytest.mark.usefixtures("one_thread")
RUN_TIMEOUT = 40.0  # seconds: starting three Python processes with torch on a busy machine


@pytest.fixture
def gpus(monkeypatch):
    """``gpus(n)``: pretend this machine has ``n`` CUDA GPUs."""
    return lambda n: monkeypatch.setattr(processes_field, "gpu_count", lambda: n)


def host_on(qtbot, processes: int = 1, device: str = "auto"):
    graph = moons_mlp()
    graph.set_settings("training", {**graph.training, "device": device, "processes": processes})
    return make_host(qtbot, graph)


def drawn(item) -> int:
    x = item.getData()[0]
    return 0 if x is None else len(x)


def test_with_one_gpu_the_field_is_off_says_why_and_runs_stay_in_the_app(qtbot, gpus):
    gpus(1)
    host = host_on(qtbot, processes=4)  # a file saved on a machine with four GPUs
    dock = host.dock
    editor = dock.setup.processes_field.editor
    assert editor.objectName() == "param_processes"
    assert not editor.isEnabled() and editor.value() == 1
    tip = editor.toolTip()
    assert "needs several GPUs; this machine has one" in tip
    assert "layerloom train FILE --nproc N" in tip and "asks for 4" in tip

    run = dock.start()
    assert not isinstance(dock.worker, ProcessWorker)  # the in-app trainer, one process
    wait_for(qtbot, lambda: run.status == "running")
    assert "asks for 4 processes" in dock.run_bar.message.text()
    assert dock.run_bar.pause.isEnabled()
    dock.stop()
    wait_for(qtbot, lambda: not dock.running)
    assert host.graph.training["processes"] == 4  # the file keeps what it asked for


def test_the_field_without_a_gpu_and_with_gpus_on_the_cpu_device():
    assert "this machine has none" in processes_field.why_disabled("auto", 0)
    assert "choose device Auto or CUDA" in processes_field.why_disabled("cpu", 4)
    assert processes_field.why_disabled("cuda", 4) == ""
    assert processes_field.process_limit("cuda:1", 4) == 4
    assert processes_field.processes_for_run({"processes": 8, "device": "auto"}, 4)[0] == 4
    assert processes_field.processes_for_run({"processes": 2, "device": "auto"}, 4) == (2, "")


def test_with_two_gpus_the_field_is_on_undoable_and_follows_the_device(qtbot, gpus):
    gpus(2)
    host = host_on(qtbot)
    panel, graph, stack = host.dock.setup, host.graph, host.undo_stack
    editor = panel.processes_field.editor
    assert editor.isEnabled() and (editor.minimum(), editor.maximum()) == (1, 2)
    assert "one per GPU" in editor.toolTip()
    before = dict(graph.training)
    editor.setValue(2)
    assert graph.training["processes"] == 2 and stack.undoText() == "Change training settings"
    stack.undo()
    assert graph.training == before
    wait_for(qtbot, lambda: editor.value() == 1)  # the form follows the graph
    stack.redo()
    wait_for(qtbot, lambda: editor.value() == 2)

    cpu = panel.device_combo.findData("cpu")
    panel.device_combo.setCurrentIndex(cpu)
    panel.device_combo.activated.emit(cpu)
    assert graph.training["device"] == "cpu"
    wait_for(qtbot, lambda: not editor.isEnabled())
    assert "choose device Auto or CUDA" in editor.toolTip()


def test_a_run_on_two_processes_draws_rank_0s_events_stops_and_keeps_the_model(qtbot, gpus, tmp_path):
    gpus(2)
    host = host_on(qtbot, processes=2)
    dock = host.dock
    assert dock.setup.processes_field.editor.value() == 2
    QTest.mouseClick(dock.run_bar.start, Qt.MouseButton.LeftButton)
    run, worker = dock.current, dock.worker
    assert isinstance(worker, ProcessWorker) and worker.processes == 2
    assert not dock.run_bar.pause.isEnabled() and "cannot pause" in dock.run_bar.pause.toolTip()
    assert not dock.actions["pause"].isEnabled()

    wait_for(qtbot, lambda: len(run.val_loss) >= 2, timeout=RUN_TIMEOUT)
    assert run.started.processes == 2 and "2 processes (cpu)" in dock.run_bar.message.text()
    # the curves hold what rank 0 wrote to the events file
    lines = (worker.folder / "events.jsonl").read_text().splitlines()
    epochs = [e for e in map(json.loads, lines) if e["kind"] == "epoch"]
    steps, val = run.val_loss.arrays()
    assert list(steps[:2]) == [e["step"] for e in epochs[:2]]
    assert np.allclose(val[:2], [e["val"]["loss"] for e in epochs[:2]])
    wait_for(qtbot, lambda: drawn(dock.loss_view.raw) > 0 and drawn(dock.loss_view.val) >= 2, timeout=3)
    assert all(math.isfinite(v) for v in dock.loss_view.raw.getData()[1])
    assert run.data is not None and run.data.train_size == 180
    # weights and boundary follow rank 0's checkpoints; gradients stay in the processes
    wait_for(qtbot, lambda: run.boundary is not None and dock.weights_view.layer in run.hist)
    assert [n.grad_norm for n in run.stats.nodes] == [None, None]
    assert "Gradients are not shown" in dock.run_bar.message.text()

    QTest.mouseClick(dock.run_bar.stop, Qt.MouseButton.LeftButton)
    wait_for(qtbot, lambda: not dock.running, timeout=RUN_TIMEOUT)
    assert run.status == "stopped" and "stopped after" in run.message
    assert run.model is not None and dock.run_bar.save_weights.isEnabled()
    assert dock.try_it.ready and dock.try_it.result is not None
    saved = dock.save_weights(str(tmp_path / "two.safetensors"))
    assert saved is not None and saved.stat().st_size > 0
    assert worker.folder is None  # the run's folder is gone


def test_a_failing_rank_is_named_in_the_dock(qtbot, gpus, monkeypatch):
    gpus(2)
    monkeypatch.setenv("LAYERLOOM_DEBUG_FAIL_RANK", "1")
    host = host_on(qtbot, processes=2)
    dock = host.dock
    run = dock.start()
    wait_for(qtbot, lambda: not dock.running, timeout=RUN_TIMEOUT)
    assert run.status == "failed" and run.model is None
    text = dock.run_bar.message.text()
    assert text.startswith("Training failed: rank 1 failed") and "LAYERLOOM_DEBUG_FAIL_RANK" in text
    assert dock.run_bar.message.property("kind") == "error" and "Traceback" not in text
    assert dock.run_bar.start.isEnabled() and not dock.run_bar.save_weights.isEnabled()


def test_the_error_shown_comes_from_the_launchers_stderr():
    stderr = "training on 2 processes\nerror: rank 1 failed: boom; the other processes were ended\n"
    assert launcher_message(stderr, 1) == "rank 1 failed: boom; the other processes were ended"
    assert launcher_message("Killed\n", -9) == "the training processes ended with status -9: Killed"
    assert launcher_message("Killed\n", 1, "rank 0 ran out of memory") == "rank 0 ran out of memory"
