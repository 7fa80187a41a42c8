"""Runs last: a run trained in the app is kept beside the graph's file, shown again
when the graph reopens (curves overlaid, weights read on demand), compared,
restored as one undoable edit and deleted (after asking). A graph with no file keeps
its runs until it is saved; damaged runs are listed with the reason."""

from __future__ import annotations

import json

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog

from layerloom.backend.compile import compile_graph
from layerloom.backend.runs import NewRun, list_runs, runs_folder, write_run
from layerloom.graph import load_graph
from layerloom.gui.commands import SetParams
from tests.gui.test_state_between_graphs import short_copy
from tests.gui.test_training_helpers import one_thread, wait_for  # noqa: F401
from tests.gui.test_window_helpers import make_window

pytestmark = pytest.mark.usefixtures("one_thread")


def kept_run(path, lr: float, units: int | None = None, status="finished"):
    """A run written as the app and `layerloom train` write them: curves, weights."""
    graph = load_graph(path)
    if units is not None:
        dense = next(n for n in graph.nodes if n.type == "dense")
        graph.set_params(dense.id, {"units": units})
    training = {**graph.training, "lr": lr}
    curves = {"loss": ([1, 2, 3, 4], [0.9, 0.7, 0.5, 0.4]), "val_loss": ([2, 4], [0.8, 0.45]),
              "val_accuracy": ([2, 4], [0.6, 0.85]), "lr": ([1, 2, 3, 4], [lr] * 4)}
    new = NewRun(graph, training, dict(graph.dataset), status, "cli", final={"loss": 0.4, "val_loss": 0.45},
                 steps=4, epochs=2, wall_time=0.5, curves=curves)
    return write_run(path, new, compile_graph(graph, seed=0))


def open_graph(window, qtbot, path) -> None:
    """Open ``path`` and wait for its kept runs, which are read in the background."""
    assert window.load(path)
    wait_for(qtbot, lambda: not window.training_dock.kept_loading)


@pytest.fixture
def window(qtbot, tmp_path):
    window = make_window(qtbot, tmp_path)
    window.training_dock.preload()
    return window


def test_a_run_of_a_saved_graph_is_kept_and_named(window, qtbot, tmp_path):
    path = short_copy("mlp_two_moons", tmp_path)
    open_graph(window, qtbot, path)
    dock = window.training_dock
    run = dock.start()
    wait_for(qtbot, lambda: not dock.running and run.kept is not None, timeout=90)
    assert run.kept.id == f"run-{run.number:03d}" and run.saved and dock.unsaved_runs() == []
    stored = list_runs(path)
    assert [s.id for s in stored] == [run.kept.id] and stored[0].source == "app"
    assert stored[0].training == run.training and stored[0].weights is not None
    curves = stored[0].history()
    assert len(curves["loss"][0]) == len(run.loss) and "val_loss" in curves
    assert dock.runs_panel.table.item(0, 6).text() == f"kept as {run.kept.id}"
    # the next run continues the numbering of the folder
    assert dock.next_run_number() == run.number + 1


def test_reopening_shows_the_kept_runs_and_reads_weights_on_demand(window, qtbot, tmp_path):
    path = short_copy("mlp_two_moons", tmp_path)
    kept_run(path, 0.01)
    kept_run(path, 0.1, units=8)
    open_graph(window, qtbot, path)
    dock = window.training_dock
    assert [r.label.split(" · ")[0] for r in dock.runs] == ["Run 1", "Run 2"]
    first, second = dock.runs
    assert dock.shown is second and second.status == "finished" and second.model is None
    assert sorted(dock.runs_panel.ticked()) == [1, 2]  # curves overlaid
    assert len(dock.loss_view.overlays) == 1 and len(second.loss) == 4
    assert second.metrics["val_accuracy"].last() == (4.0, 0.85)
    assert dock.actions["export"].isEnabled()  # weights that can be read
    notes = {dock.runs_panel.table.item(row, 0).text().split(" · ")[0]: dock.runs_panel.table.item(row, 6).text()
             for row in range(2)}
    assert notes == {"Run 1": "kept as run-001", "Run 2": "kept as run-002 · earlier graph"}

    dock.tabs.setCurrentWidget(dock.try_it)  # Try it reads the shown run's weights
    assert second.model is not None and first.model is None
    assert dock.try_it.subject.text().startswith("<b>Run 2</b> of mlp_two_moons.loom")
    wait_for(qtbot, lambda: dock.try_it.ready)
    dialog = dock.open_export_dialog()
    assert dialog.windowTitle() == \
        f"Export {second.label} (graph mlp_two_moons.loom, an earlier version than the canvas shows)"
    assert "Run 2" in dialog.subject.text()
    dialog.close()
    target = tmp_path / "copy.safetensors"
    dock.show_run(first)
    assert dock.save_weights(str(target)) == target and first.model is not None
    assert "Run 1" in dock.run_bar.message.text() and "mlp_two_moons.loom" in dock.run_bar.message.text()


def test_restore_is_one_undoable_edit(window, qtbot, tmp_path):
    path = short_copy("mlp_two_moons", tmp_path)
    kept_run(path, 0.05, units=8)
    open_graph(window, qtbot, path)
    dock, graph = window.training_dock, window.graph
    before = graph.to_dict()
    run = dock.shown
    dense = next(n for n in graph.nodes if n.type == "dense")
    window.document.undo_stack.push(SetParams(graph, [dense.id], {"activation": "tanh"}))
    edited = graph.to_dict()
    count = window.document.undo_stack.count()
    dock.runs_panel.table.selectRow(0)
    dock.runs_panel.restore.click()
    assert window.document.undo_stack.count() == count + 1
    assert graph.node(dense.id).params["units"] == 8 and graph.training["lr"] == 0.05
    assert graph.to_dict() == {**run.graph.to_dict(), "meta": graph.to_dict()["meta"]}
    window.document.undo_stack.undo()
    assert graph.to_dict() == edited
    window.document.undo_stack.redo()
    window.document.undo_stack.undo()
    window.document.undo_stack.undo()
    assert graph.to_dict() == before
    assert not graph.lint_problems()


def test_delete_asks_then_removes_the_folder(window, qtbot, tmp_path):
    path = short_copy("mlp_two_moons", tmp_path)
    kept = [kept_run(path, 0.01), kept_run(path, 0.02)]
    open_graph(window, qtbot, path)
    dock = window.training_dock
    asked = []
    dock.ask_delete_run = lambda run: asked.append(run.label) or False
    dock.runs_panel.table.selectRow(0)  # newest first: Run 2
    dock.runs_panel.delete.click()
    assert asked == [dock.runs[1].label] and kept[1].folder.is_dir() and len(dock.runs) == 2
    dock.ask_delete_run = lambda run: True
    dock.actions["delete_run"].trigger()  # Train > Delete the Run Shown…
    assert not kept[1].folder.exists() and [r.number for r in dock.runs] == [1]
    assert dock.shown is dock.runs[0] and dock.runs_panel.table.rowCount() == 1
    dock.tabs.setCurrentWidget(dock.runs_panel)
    dock.runs_panel.table.selectRow(0)
    dock.runs_panel.table.setFocus()
    qtbot.keyClick(dock.runs_panel.table, Qt.Key.Key_Delete)  # the Delete key in the table
    assert not kept[0].folder.exists() and dock.runs == [] and dock.shown is None


def test_compare_table_of_the_ticked_runs(window, qtbot, tmp_path):
    path = short_copy("mlp_two_moons", tmp_path)
    kept_run(path, 0.01)
    kept_run(path, 0.1, units=8)
    open_graph(window, qtbot, path)
    dock = window.training_dock
    dock.runs_panel.set_ticked([2])
    assert dock.compare_runs() is None and "Tick two or more" in dock.run_bar.message.text()
    dock.runs_panel.set_ticked([1, 2])
    dock.actions["compare_runs"].trigger()  # Train > Compare Ticked Runs… (or the Runs tab's button)
    dialog = window.findChild(QDialog, "compareRunsDialog")
    assert dialog is not None and dialog.windowTitle() == "Compare 2 runs of mlp_two_moons.loom"
    table = dialog.table
    rows = {table.verticalHeaderItem(r).text(): [table.item(r, c).text() for c in range(2)]
            for r in range(table.rowCount())}
    assert rows["Training: lr"] == ["0.01", "0.1"]
    units = next(k for k in rows if k.startswith("Graph: ") and k.endswith(".units"))
    assert rows[units][1] == "8" and "Graph: parameters" in rows and "Result: val_loss" in rows
    assert "training: lr" in dialog.copy_text()
    dialog.resize(760, 330)
    dialog.grab().save("/tmp/kept_runs_compare.png")
    dialog.close()


def test_an_untitled_graph_keeps_its_runs_when_first_saved(window, qtbot, tmp_path):
    window.document.open_copy(short_copy("mlp_two_moons", tmp_path))
    dock = window.training_dock
    run = dock.start()
    wait_for(qtbot, lambda: not dock.running, timeout=90)
    assert run.pending and run.kept is None and dock.unsaved_runs() == [run]
    assert dock.runs_panel.table.item(0, 6).text().startswith("not kept yet")
    target = tmp_path / "mine.loom"
    window.ask_save_path = lambda *args: str(target)
    assert window.save()
    wait_for(qtbot, lambda: run.kept is not None, timeout=30)
    assert not run.pending and (runs_folder(target) / "run-001" / "model.safetensors").is_file()
    assert dock.unsaved_runs() == []


def test_damaged_and_newer_runs_are_listed_with_the_reason_and_deletable(window, qtbot, tmp_path):
    path = short_copy("mlp_two_moons", tmp_path)
    good = kept_run(path, 0.01)
    folder = runs_folder(path)
    (folder / "run-002").mkdir()
    (folder / "run-002" / "run.json").write_text("{ not json")
    (folder / "run-003").mkdir()
    (folder / "run-003" / "run.json").write_text(json.dumps({"format": "layerloom.run", "format_version": 7}))
    (folder / ".tmp-killed").mkdir()  # a write that was killed half-way: not listed
    (good.folder / "history.json").write_text("[1, 2")  # good run, damaged curves
    open_graph(window, qtbot, path)
    dock = window.training_dock
    assert window.errors == []
    problems = {r.kept.id: r.problem for r in dock.runs}
    assert "not valid JSON" in problems["run-002"] and "newer LayerLoom" in problems["run-003"]
    assert "history.json" in problems["run-001"]
    texts = [dock.runs_panel.table.item(row, 6).text() for row in range(3)]
    assert any("newer LayerLoom" in t for t in texts)
    assert dock.shown is None and not dock.actions["export"].isEnabled()
    bad = next(r for r in dock.runs if r.kept.id == "run-003")
    assert not dock.restore_run(bad) and "cannot be restored" in dock.run_bar.message.text()
    dock.ask_delete_run = lambda run: True
    assert dock.delete_run(bad) and not (folder / "run-003").exists()
    dock.resize(1100, 360)
    dock.tabs.setCurrentWidget(dock.runs_panel)
    dock.grab().save("/tmp/kept_runs_damaged.png")


def test_screenshot_of_the_runs_tab(window, qtbot, tmp_path):
    path = short_copy("mlp_two_moons", tmp_path)
    for lr in (0.01, 0.03, 0.1):
        kept_run(path, lr)
    open_graph(window, qtbot, path)
    dock = window.training_dock
    dock.tabs.setCurrentWidget(dock.runs_panel)
    window.resize(1280, 800)
    window.show()
    qtbot.waitExposed(window)
    window.grab().save("/tmp/kept_runs_window.png")
    assert dock.runs_panel.table.rowCount() == 3


def test_opening_another_graph_shows_only_its_own_runs(window, qtbot, tmp_path):
    first = short_copy("mlp_two_moons", tmp_path)
    kept_run(first, 0.01)
    kept_run(first, 0.02)
    (tmp_path / "b").mkdir()
    second = short_copy("mlp_two_moons", tmp_path / "b")
    kept_run(second, 0.5)
    dock = window.training_dock
    assert window.load(first)  # and at once another, before the first one's runs are read
    open_graph(window, qtbot, second)
    qtbot.wait(200)
    assert [r.training["lr"] for r in dock.runs] == [0.5]
    assert dock.shown is dock.runs[0] and dock.runs_panel.table.rowCount() == 1
    window.ask_save_discard_cancel = lambda: "discard"
    assert window.new_document()
    assert dock.runs == [] and dock.shown is None


def test_a_run_that_cannot_be_kept_says_why_and_its_weights_count_as_unsaved(window, qtbot, tmp_path):
    path = short_copy("mlp_two_moons", tmp_path)
    open_graph(window, qtbot, path)
    runs_folder(path).write_text("a file where the runs folder goes")
    dock = window.training_dock
    run = dock.start()
    wait_for(qtbot, lambda: not dock.running and not run.keeping, timeout=90)
    assert run.kept is None and dock.unsaved_runs() == [run]
    assert "The run is not kept with the graph" in dock.run_bar.message.text()
