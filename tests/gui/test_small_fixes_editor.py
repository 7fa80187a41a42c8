"""Small faults of the editor side found by trying the app as a new user (issue 19):
template titles that scrolled sideways, tiny text on a template's first view, a
new graph that kept the old zoom, spin boxes that dropped a minus sign."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QScrollArea

from layerloom.gui.canvas.view import READABLE_ZOOM
from layerloom.resources import examples_dir
from tests.gui.test_window_helpers import make_window


@pytest.fixture
def window(qtbot, tmp_path):
    w = make_window(qtbot, tmp_path)
    w.resize(1280, 800)
    qtbot.wait(10)
    return w


def test_a_template_title_and_description_wrap_in_the_inspector(window, qtbot):
    window.ask_template = lambda: examples_dir() / "deep_residual_mlp.loom"
    assert window.new_from_template()
    inspector = window.inspector
    qtbot.waitUntil(lambda: inspector.title.text().startswith("Vanishing gradients"))
    scroll = inspector.findChild(QScrollArea)
    width = scroll.viewport().width()
    assert inspector.title.minimumSizeHint().width() <= width  # it wraps instead of widening
    assert inspector.findChild(type(inspector.title), "inspectorDoc").width() <= width
    assert not scroll.horizontalScrollBar().isVisible()


def test_a_template_opens_readable_and_fit_still_shows_it_whole(window, qtbot):
    window.ask_template = lambda: examples_dir() / "resnet_digits.loom"
    assert window.new_from_template()
    assert window.view.zoom == pytest.approx(READABLE_ZOOM)  # was about 0.2: 6 px text
    first = window.graph.inputs()[0].id
    visible = window.view.mapToScene(window.view.viewport().rect()).boundingRect()
    assert visible.intersects(window.scene.node_item(first).sceneBoundingRect())  # it starts at the input
    window.action("fit").trigger()
    assert window.view.zoom < READABLE_ZOOM  # Fit to Window shows every node


def test_a_new_graph_starts_at_100_percent(window, qtbot):
    window.view.set_zoom(0.4)
    window.view.centerOn(3000, 2000)
    assert window.new_document()
    assert window.view.zoom == pytest.approx(1.0)
    assert window.view.mapToScene(window.view.viewport().rect().center()).manhattanLength() < 5


def test_a_negative_number_in_a_spin_box_is_refused_with_a_message(window, qtbot):
    node = window.graph.add_node("dense", {"units": 16})
    window.scene.select_nodes([node.id])
    qtbot.waitUntil(lambda: window.inspector.node_ids == [node.id])
    spin = window.inspector.editors["units"]
    spin.setFocus()
    spin.lineEdit().selectAll()
    qtbot.keyClicks(spin.lineEdit(), "-5")
    assert spin.lineEdit().text() == "-5"  # the minus sign is not dropped as it is typed
    qtbot.keyClick(spin.lineEdit(), Qt.Key.Key_Return)
    assert window.graph.node(node.id).params["units"] == 16  # not 5, not 1
    assert spin.value() == 16
    error = window.inspector.edit_error
    assert error.isVisible() and "got -5" in error.text() and "kept 16" in error.text()
    assert not window.undo_stack.canUndo() or window.undo_stack.undoText() != "Set units"
