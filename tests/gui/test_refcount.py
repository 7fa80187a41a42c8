"""Guard against the PySide6 reference-count regression on repaint.

PySide6 6.12.0 on CPython 3.11 drops a reference to ``None`` on every
Python-overridden paint call; after a few thousand repaints the count reaches
zero and the interpreter aborts. The canvas (``QGraphicsItem.paint`` overrides)
and pyqtgraph's plots (the training dock) repaint constantly, so this test
repaints both 3,000 times and checks that ``None``'s count has not fallen.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest

REPAINTS = 3000
TOLERANCE = 200  # other code may hold or release a few references meanwhile


@pytest.fixture
def small_canvas(qtbot):
    from PySide6.QtGui import QUndoStack

    from layerloom.graph import Graph
    from layerloom.gui.canvas import GraphScene, GraphView

    graph = Graph()
    graph.add_node("input", {"shape": (4,)}, position=(0, 0))
    graph.add_node("dense", {"units": 3, "activation": "relu"}, position=(260, 0))
    graph.add_node("output", position=(520, 0))
    graph.connect("input_1", "out", "dense_1", "in")
    graph.connect("dense_1", "out", "output_1", "in")
    stack = QUndoStack()
    scene = GraphScene(graph, stack)
    view = GraphView(scene)
    view.resize(800, 300)
    qtbot.addWidget(view)
    view.show()
    qtbot.waitExposed(view)
    view.fit_to_view()
    yield view
    scene.detach()


def _counting(base):
    """A subclass of the Qt item class ``base`` that counts its Python paint calls."""

    class Counting(base):
        calls = 0

        def paint(self, *args):
            type(self).calls += 1
            return super().paint(*args)

    return Counting


def test_canvas_repaints_keep_none_referenced(small_canvas):
    from PySide6.QtWidgets import QGraphicsRectItem

    probe = _counting(QGraphicsRectItem)(0, 120, 40, 20)
    small_canvas.scene().addItem(probe)
    viewport = small_canvas.viewport()
    viewport.repaint()
    before = sys.getrefcount(None)
    for _ in range(REPAINTS):
        viewport.repaint()
    after = sys.getrefcount(None)
    assert probe.calls >= REPAINTS, "every repaint goes through Python paint overrides"
    assert after >= before - TOLERANCE, f"None lost {before - after} references in {REPAINTS} repaints"


def test_plot_repaints_keep_none_referenced(qtbot):
    import pyqtgraph as pg
    from PySide6.QtWidgets import QApplication

    plot = pg.PlotWidget()
    plot.resize(240, 160)
    plot.setXRange(0, 50, padding=0)
    plot.setYRange(-1, 1, padding=0)  # fixed ranges: time goes to painting, not ranging
    qtbot.addWidget(plot)
    plot.show()
    qtbot.waitExposed(plot)
    curve = _counting(pg.PlotCurveItem)(pen="b")
    plot.addItem(curve)
    x = np.arange(50, dtype=float)
    curve.setData(x, np.sin(x * 0.1))
    QApplication.processEvents()
    plot.viewport().repaint()
    before = sys.getrefcount(None)
    for i in range(REPAINTS):
        curve.setData(x, np.sin(x * 0.1 + i * 0.05))
        plot.viewport().repaint()
    after = sys.getrefcount(None)
    assert curve.calls >= REPAINTS
    assert after >= before - TOLERANCE, f"None lost {before - after} references in {REPAINTS} repaints"
