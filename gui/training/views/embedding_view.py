"""The Embedding tab: the vectors an Embedding layer learned, projected to 2-D.

Each token is a point labelled with its name (characters of a text vocabulary,
words of a skip-gram task, else ids); tokens the model treats alike end up close.
More than 3 dimensions are projected on their two principal components (the note
says how much of the variance the plane keeps). The projection is one SVD of a
small matrix, done when the run's model changes.
"""

from __future__ import annotations

from collections.abc import Set

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from layerloom.gui.qt_util import signals_blocked
from layerloom.gui.training.runs.run_record import Run
from layerloom.gui.training.views import plot_style as ps

MAX_LABELS = 120  # tokens labelled with their names; beyond that only points


class EmbeddingView(QWidget):
    """The Embedding tab (objectName ``embeddingView``)."""

    title = "Embedding"

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("embeddingView")
        self.run: Run | None = None
        self.result = None
        self._shown_for = None
        self.node = QComboBox()
        self.node.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.node.setObjectName("embeddingNode")
        self.node.setToolTip("The Embedding layer whose vectors are shown")
        bar = QHBoxLayout()
        bar.setContentsMargins(4, 0, 4, 0)
        bar.addWidget(QLabel("Layer"))
        bar.addWidget(self.node)
        bar.addStretch(1)
        self.plots = ps.graphics_widget(self)
        self.plot = ps.style_plot(self.plots.addPlot(), "Embedding vectors (2-D projection)")
        self.points = pg.ScatterPlotItem(size=9, brush=pg.mkBrush("#2563eb"), pen=pg.mkPen("#ffffff"))
        self.plot.addItem(self.points)
        self.labels: list[pg.TextItem] = []
        self.note = ps.steady_label("Train a model with an Embedding layer to see its vectors", 2, "embeddingNote")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 2, 0, 0)
        layout.setSpacing(2)
        layout.addLayout(bar)
        layout.addWidget(self.plots, 1)
        layout.addWidget(self.note)
        self.node.currentIndexChanged.connect(self.compute)

    @property
    def has_data(self) -> bool:
        return self.result is not None and len(self.points.data) > 0

    def set_run(self, run: Run | None) -> None:
        self.run = run
        self._shown_for = None
        self.refresh()

    def refresh(self, changed: Set[str] | None = None, full: bool = False) -> None:
        run = self.run
        key = (id(run), id(run.model) if run is not None else None)
        if key == self._shown_for and not full:
            return
        self._shown_for = key
        with signals_blocked(self.node):
            self.node.clear()
            if run is not None and run.model is not None:
                from layerloom.backend.insight.embedding import embedding_nodes

                try:
                    found = embedding_nodes(run.graph, run.model)
                except Exception:  # a graph the model no longer matches
                    found = []
                for nid in found:
                    self.node.addItem(run.graph.node(nid).title, nid)
            self.node.setEnabled(self.node.count() > 1)
        self.compute()

    def compute(self, *_args):
        from layerloom.backend.insight import InsightError

        run = self.run
        self.result = None
        if run is None or run.model is None:
            self._clear("Pause or stop the run to see its embedding" if run is not None and run.active
                        else "Train a model with an Embedding layer to see its vectors")
            return None
        from layerloom.backend.insight.embedding import projection  # PyTorch: only with a model

        try:
            result = projection(run.model, run.graph, self.node.currentData(), run.val)
        except InsightError as exc:
            self._clear(str(exc))
            return None
        self.result = result
        self._draw(result)
        return result

    def _clear(self, reason: str) -> None:
        self.points.setData([], [])
        for label in self.labels:
            self.plot.removeItem(label)
        self.labels = []
        self.note.setText(reason)

    def _draw(self, result) -> None:
        self._clear("")
        pts = result.points
        self.points.setData(pts[:, 0], pts[:, 1])
        if len(pts) <= MAX_LABELS:
            for (x, y), text in zip(pts, result.labels, strict=True):
                label = pg.TextItem(text, color="#334155", anchor=(0, 1))
                label.setPos(float(x), float(y))
                self.plot.addItem(label, ignoreBounds=True)  # labels never widen the range
                self.labels.append(label)
        lo, hi = pts.min(axis=0).astype(np.float64), pts.max(axis=0).astype(np.float64)
        pad = np.maximum((hi - lo) * 0.12, 1e-3)
        self.plot.getViewBox().setRange(xRange=(float(lo[0] - pad[0]), float(hi[0] + pad[0])),
                                        yRange=(float(lo[1] - pad[1]), float(hi[1] + pad[1])), padding=0)
        layer = self.run.graph.node(result.node).title if self.run is not None else result.node
        if result.dim > 2:
            how = (f"its {result.dim} dimensions projected on the two principal components, which keep "
                   f"{result.explained[0] + result.explained[1]:.0%} of the variance")
        else:
            how = f"its {result.dim} dimension{'s' if result.dim > 1 else ''} as they are"
        self.note.setText(f"{len(pts)} token vectors of {layer}, {how} · near: tokens the model treats alike")
