"""Shared set-up for the training-dock tests (no tests here).

A small host window (canvas + training dock) on a tiny two-moons MLP, with every
question the dock can ask replaced, so that no test blocks on a modal dialog.
"""

from __future__ import annotations

import time

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMainWindow

from layerloom.graph import Graph
from layerloom.gui.canvas import GraphScene, GraphView

MOONS = {"name": "moons", "options": {"n_samples": 240, "noise": 0.1, "seed": 0},
         "normalise": "standard", "val_split": 0.25}


def moons_mlp(hidden: int = 16, classes: int = 2) -> Graph:
    """Input (2,) -> Dense relu -> Dense -> Output, trained on a small moons set."""
    g = Graph()
    ids = []
    for i, (type_id, params) in enumerate([
        ("input", {"shape": [2]}), ("dense", {"units": hidden, "activation": "relu"}),
        ("dense", {"units": classes}), ("output", {}),
    ]):
        node = g.add_node(type_id, params, position=(i * 240.0, 0.0))
        if ids:
            g.connect(ids[-1], "out", node.id, "in")
        ids.append(node.id)
    g.set_settings("dataset", MOONS)
    g.set_settings("training", {"epochs": 100_000, "batch_size": 16, "lr": 0.01, "device": "cpu"})
    return g


class Host(QMainWindow):
    """A canvas with the training dock below it, like the main window."""

    def __init__(self, graph: Graph):
        super().__init__()
        from layerloom.gui.document import Document
        from layerloom.gui.training import TrainingDock

        self.document = Document(self)
        self.document.graph.replace_with(graph)
        self.document.graph.revision = 0
        self.graph = graph = self.document.graph
        self.undo_stack = self.document.undo_stack
        self.scene = GraphScene(graph, self.undo_stack)
        self.scene.setParent(self)
        self.view = GraphView(self.scene)
        self.setCentralWidget(self.view)
        self.dock = TrainingDock(graph, self.undo_stack, self.scene, self.document, parent=self)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.dock)
        self.questions: list[str] = []
        self.dock.ask_stop_run = self._unexpected("ask_stop_run")
        self.replace_answer = False
        self.dock.ask_replace_graph = lambda path: self.questions.append("replace") or self.replace_answer
        self.resize(1300, 850)

    def _unexpected(self, name: str):
        def ask(*args):
            raise AssertionError(f"the dock asked {name}{args!r} but the test did not expect it")

        return ask

    def closeEvent(self, event) -> None:
        self.dock.shutdown()
        self.scene.detach()
        super().closeEvent(event)


@pytest.fixture
def one_thread():
    """Small models train fastest on one thread, and the suite shares two cores."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def make_host(qtbot, graph: Graph | None = None) -> Host:
    host = Host(graph or moons_mlp())
    qtbot.addWidget(host)
    host.show()
    qtbot.waitExposed(host)
    host.dock.preload()
    qtbot.waitUntil(lambda: host.dock.setup.dataset_for_run() is not None or not host.graph.dataset, timeout=10_000)
    return host


def wait_for(qtbot, condition, timeout: float = 15.0) -> None:
    qtbot.waitUntil(condition, timeout=int(timeout * 1000))


def steps_during(qtbot, run, seconds: float) -> int:
    """How many steps ``run`` advanced in ``seconds`` (with the event loop running)."""
    before = run.step
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        qtbot.wait(20)
    return run.step - before
