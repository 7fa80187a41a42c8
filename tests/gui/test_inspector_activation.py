"""The inspector plots the selected node's activation function and its derivative;
an edit of the activation redraws it, softmax says why it is not a curve."""

from __future__ import annotations

import numpy as np
import pytest
import torch  # noqa: F401  (the plot waits for the app to load torch; here it is loaded)
from PySide6.QtWidgets import QComboBox

from tests.gui.test_window_helpers import make_window


@pytest.fixture
def window(qtbot, tmp_path):
    return make_window(qtbot, tmp_path)


def _select(window, qtbot, *ids):
    window.scene.select_nodes(list(ids))
    qtbot.waitUntil(lambda: window.inspector.node_ids == list(ids))


def test_activation_plot_follows_the_selection_and_edits(window, qtbot):
    graph = window.graph
    window.undo_stack.clear()
    i = graph.add_node("input", {"shape": [4]}, node_id="in")
    d = graph.add_node("dense", {"units": 3, "activation": "tanh"}, node_id="dense")
    s = graph.add_node("softmax", node_id="soft")
    graph.connect(i.id, "out", d.id, "in")
    graph.connect(d.id, "out", s.id, "in")
    plot = window.inspector.activation_plot

    _select(window, qtbot, "dense")
    assert plot.isVisible()
    figure = plot.figure_view.figure
    np.testing.assert_allclose(figure.data["y"], np.tanh(figure.data["x"]), atol=1e-6)
    np.testing.assert_allclose(figure.data["derivative"], 1 - np.tanh(figure.data["x"]) ** 2, atol=1e-5)
    image = plot.figure_view.image()
    assert not image.isNull() and len({image.pixel(x, y) for x in range(0, image.width(), 4)
                                       for y in range(0, image.height(), 4)}) > 10
    qtbot.wait(300)
    window.grab().save("/tmp/layerloom_inspector_activation.png")

    combo = window.inspector.editors["activation"]
    assert isinstance(combo, QComboBox)
    combo.setCurrentIndex(combo.findText("relu"))
    combo.activated.emit(combo.findText("relu"))  # a user's pick
    qtbot.waitUntil(lambda: graph.node("dense").params["activation"] == "relu")
    qtbot.waitUntil(lambda: plot.figure_view.figure is not None and plot.figure_view.figure.data["y"].min() == 0)
    window.undo_stack.undo()
    qtbot.waitUntil(lambda: plot.figure_view.figure.data["y"].min() < -0.99)

    _select(window, qtbot, "soft")
    assert plot.isVisible() and plot.figure_view.figure is None
    assert plot.figure_view.message.startswith("Softmax is not drawn as a curve")
    _select(window, qtbot, "in")
    assert not plot.isVisible()
