"""Nothing of one graph's training stays with the next graph opened in the window."""

from __future__ import annotations

import pytest

from layerloom.graph import load_graph, save_graph
from tests.gui.test_training_helpers import one_thread, wait_for  # noqa: F401
from tests.gui.test_window_helpers import make_window

pytestmark = pytest.mark.usefixtures("one_thread")
EXAMPLES = __import__("pathlib").Path(__file__).resolve().parents[2] / "resources" / "examples"


def short_copy(name: str, folder) -> str:
    graph = load_graph(EXAMPLES / f"{name}.loom")
    graph.training = {**graph.training, "epochs": 1}
    path = folder / f"{name}.loom"
    save_graph(graph, path)
    return path


@pytest.fixture
def trained_window(qtbot, tmp_path):
    window = make_window(qtbot, tmp_path)
    # an untitled copy, as a template opens: its runs are kept only once it is saved,
    # so until then the trained model is in no file (a saved graph keeps its runs)
    window.document.open_copy(short_copy("mlp_two_moons", tmp_path))
    dock = window.training_dock
    dock.preload()
    run = dock.start()
    assert run is not None
    wait_for(qtbot, lambda: not dock.running, timeout=60)
    assert run.model is not None and dock.shown is run
    return window


def test_opening_another_graph_leaves_no_run_of_the_first_as_current(trained_window, qtbot, tmp_path):
    window, dock = trained_window, trained_window.training_dock
    asked = []
    dock.ask_unsaved_runs = lambda labels: asked.append(labels) or "discard"
    assert window.maybe_save()  # what File > Open asks first
    assert asked and asked[0][0].startswith("Run 1")
    assert window.load(short_copy("perceptron_linear", tmp_path))
    assert dock.shown is None and dock.current is None
    assert not dock.actions["export"].isEnabled() and not dock.actions["save_weights"].isEnabled()
    assert dock.runs == [] and dock.runs_panel.table.rowCount() == 0
    assert not dock.run_bar.notice.isVisible()


def test_new_clears_the_run_and_its_messages(trained_window, qtbot):
    window, dock = trained_window, trained_window.training_dock
    dock.ask_unsaved_runs = lambda labels: "discard"
    dock.setup.show_problem("The graph has 1 error(s): flatten_1 ...")
    assert window.new_document()
    assert dock.shown is None and not dock.actions["export"].isEnabled()
    assert not dock.setup.problem.isVisibleTo(dock.setup)


def test_cancel_keeps_the_graph_and_its_trained_model(trained_window):
    window, dock = trained_window, trained_window.training_dock
    run = dock.shown
    dock.ask_unsaved_runs = lambda labels: "cancel"
    before = window.graph.to_dict()
    assert not window.new_document()
    assert window.graph.to_dict() == before and dock.shown is run and dock.actions["export"].isEnabled()


def test_save_weights_from_the_question_keeps_them_and_then_the_graph_may_go(trained_window, tmp_path):
    window, dock = trained_window, trained_window.training_dock
    dock.ask_unsaved_runs = lambda labels: "save"
    target = tmp_path / "kept.safetensors"
    dock.ask_save_weights_path = lambda suggested: str(target)
    assert window.new_document()
    assert target.exists() and dock.runs == []
    assert dock.unsaved_runs() == []


def test_saved_weights_are_not_asked_about_again(trained_window, tmp_path):
    window, dock = trained_window, trained_window.training_dock
    assert dock.save_weights(str(tmp_path / "w.safetensors")) is not None
    assert dock.unsaved_runs() == []
    assert window.new_document()  # no question: ask_unsaved_runs would fail the test


def test_quit_asks_about_a_trained_model_never_saved(trained_window):
    window, dock = trained_window, trained_window.training_dock
    asked = []
    dock.ask_unsaved_runs = lambda labels: asked.append(labels) or "cancel"
    window.close()
    assert asked and window.isVisible(), "Cancel keeps the window open"
    dock.ask_unsaved_runs = lambda labels: "discard"


def test_opening_a_graph_during_a_run_asks_to_stop_it(qtbot, tmp_path):
    window = make_window(qtbot, tmp_path)
    graph = load_graph(short_copy("mlp_two_moons", tmp_path))
    graph.training = {**graph.training, "epochs": 10_000}
    path = tmp_path / "long.loom"
    save_graph(graph, path)
    assert window.load(path)
    dock = window.training_dock
    dock.preload()
    assert dock.start() is not None
    wait_for(qtbot, lambda: dock.current is not None and dock.current.status == "running", timeout=60)
    dock.ask_stop_run = lambda: False
    assert not window.maybe_save() and dock.running
    dock.ask_stop_run = lambda: True
    dock.ask_unsaved_runs = lambda labels: "discard"
    assert window.new_document()
    assert not dock.running and dock.runs == [] and dock.shown is None
