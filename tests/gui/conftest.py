"""Shared fixtures for the GUI tests: a graph, an undo stack, and a shown canvas
with helpers that drive it with the real mouse and keyboard events."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QUndoStack
from PySide6.QtTest import QTest

from layerloom.graph import Graph
from layerloom.gui.canvas import GraphScene, GraphView


@pytest.fixture(autouse=True, scope="session")
def _clipboard_released_at_exit(qapp):
    """Clear the clipboard after the last GUI test, as the app does on quit
    (see gui.app.release_clipboard): PySide6 crashes at exit otherwise."""
    yield
    from layerloom.gui.app import release_clipboard

    release_clipboard()


@pytest.fixture(autouse=True)
def _private_settings(tmp_path_factory, monkeypatch):
    """Every GUI test keeps its QSettings, recent files and recovery files in a
    temporary folder, never in the user's real settings."""
    from tests.gui.test_window_helpers import isolate_settings

    folder = tmp_path_factory.mktemp("settings")
    isolate_settings(folder)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(folder))
    monkeypatch.setenv("XDG_DATA_HOME", str(folder / "data"))
    monkeypatch.setenv("LAYERLOOM_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.fixture
def graph() -> Graph:
    return Graph()


@pytest.fixture
def undo_stack(qapp) -> QUndoStack:
    return QUndoStack()


class Canvas:
    """A shown :class:`GraphView` on a :class:`GraphScene`, and ways to use it."""

    def __init__(self, qtbot, graph: Graph, undo_stack: QUndoStack):
        self.qtbot = qtbot
        self.graph = graph
        self.stack = undo_stack
        self.scene = GraphScene(graph, undo_stack)
        self.view = GraphView(self.scene)
        self.view.resize(1000, 700)
        qtbot.addWidget(self.view)
        self.view.show()
        qtbot.waitExposed(self.view)
        self.view.centerOn(400, 250)
        self.messages: list[str] = []
        self.scene.statusMessage.connect(self.messages.append)

    @property
    def viewport(self):
        return self.view.viewport()

    def to_view(self, scene_point: QPointF) -> QPoint:
        return self.view.mapFromScene(scene_point)

    def port_pos(self, node_id: str, port: str, output: bool) -> QPointF:
        return self.scene.node_item(node_id).port(port, output).scene_anchor()

    def node_pos(self, node_id: str, dx: float = 60, dy: float = 12) -> QPointF:
        """A point on the node's header (where a press grabs the node)."""
        return self.scene.node_item(node_id).scenePos() + QPointF(dx, dy)

    def drag(self, start: QPointF, end: QPointF, button=Qt.MouseButton.LeftButton,
             modifier=Qt.KeyboardModifier.NoModifier, steps: int = 5) -> None:
        """Press at ``start``, move in ``steps`` to ``end`` and release (scene points)."""
        self.drag_view(self.to_view(start), self.to_view(end), button, modifier, steps)

    def drag_view(self, a: QPoint, b: QPoint, button=Qt.MouseButton.LeftButton,
                  modifier=Qt.KeyboardModifier.NoModifier, steps: int = 5) -> None:
        """The same in viewport coordinates."""
        QTest.mousePress(self.viewport, button, modifier, a)
        for i in range(1, steps + 1):
            t = i / steps
            QTest.mouseMove(self.viewport, QPoint(round(a.x() + (b.x() - a.x()) * t),
                                                  round(a.y() + (b.y() - a.y()) * t)))
        QTest.mouseRelease(self.viewport, button, modifier, b)

    def wire(self, source: str, target: str, source_port: str = "out", target_port: str = "in") -> None:
        """Drag a wire from ``source.source_port`` to ``target.target_port``."""
        self.drag(self.port_pos(source, source_port, True), self.port_pos(target, target_port, False))

    def click(self, scene_point: QPointF, modifier=Qt.KeyboardModifier.NoModifier) -> None:
        QTest.mouseClick(self.viewport, Qt.MouseButton.LeftButton, modifier, self.to_view(scene_point))

    def key(self, key: Qt.Key) -> None:
        QTest.keyClick(self.view, key)


@pytest.fixture
def canvas(qtbot, graph, undo_stack) -> Iterable[Canvas]:
    c = Canvas(qtbot, graph, undo_stack)
    yield c
    c.scene.detach()


def build_chain(graph: Graph, *layers, x0: float = 0.0, y0: float = 0.0, dx: float = 240.0,
                wired: bool = True) -> list[str]:
    """Add ``layers`` (type id or (type id, params)) in a row, wired one to the next."""
    ids: list[str] = []
    for i, layer in enumerate(layers):
        type_id, params = (layer, {}) if isinstance(layer, str) else layer
        node = graph.add_node(type_id, params, position=(x0 + i * dx, y0))
        if wired and ids:
            graph.connect(ids[-1], "out", node.id, node.input_ports()[0])
        ids.append(node.id)
    return ids


@pytest.fixture
def chain():
    """:func:`build_chain` as a fixture (tests import nothing from conftest)."""
    return build_chain


def undo_redo_states(stack: QUndoStack, graph: Graph, states: Sequence[dict]) -> None:
    """Undo back through ``states`` (each the ``to_dict()`` after one more command,
    ``states[0]`` before any) checking each step and the graph's indexes
    (``Graph.lint``), then redo forward again."""
    graph.lint()
    for expected in reversed(states[:-1]):
        stack.undo()
        graph.lint()
        assert graph.to_dict() == expected
    for expected in states[1:]:
        stack.redo()
        graph.lint()
        assert graph.to_dict() == expected


@pytest.fixture
def check_undo_redo():
    return undo_redo_states
