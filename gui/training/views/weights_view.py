"""Weight distribution of one layer: now, and over time.

Left: the histogram of the layer's weights at the latest measurement. Right: its
history as an image, like TensorBoard's distributions: x is the training step, y
the weight value, the colour how many weights have that value then (each column
scaled to its own peak, so a narrowing or widening distribution stays visible).

Histograms are counted in the training thread at most twice a second: of the
layer shown here every time (picking another layer here, or selecting a node on
the canvas, switches it) and of the other layers in turn, so that every layer has
a history (bounded: :data:`~layerloom.gui.training.runs.run_record.HIST_HISTORY`).
"""

from __future__ import annotations

from collections.abc import Set

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from layerloom.gui.qt_util import signals_blocked
from layerloom.gui.training.runs.run_record import HistHistory, Run, growing_until
from layerloom.gui.training.views import plot_style as ps

VALUE_BINS = 48  # rows of the history image
COLUMNS = 160  # columns of the history image (steps, resampled)
HIST_COLOUR = "#2563eb"


def history_image(history: HistHistory, columns: int = COLUMNS, rows: int = VALUE_BINS):
    """The history as an image on a common grid.

    Returns ``(image (columns, rows), (step0, step1), (lo, hi))``: each snapshot's
    counts are moved onto ``rows`` common value bins through their cumulative
    counts, columns take the latest snapshot at or before their step, and each
    column is scaled to its peak. ``None`` without snapshots.
    """
    if not history.steps:
        return None
    lo = min(float(e[0]) for e in history.edges)
    hi = max(float(e[-1]) for e in history.edges)
    if not hi > lo:
        lo, hi = lo - 0.5, hi + 0.5
    common = np.linspace(lo, hi, rows + 1)
    per_snapshot = np.empty((len(history.steps), rows), np.float64)
    for i, (edges, counts) in enumerate(zip(history.edges, history.counts, strict=True)):
        cdf = np.concatenate([[0.0], np.cumsum(counts)])
        per_snapshot[i] = np.diff(np.interp(common, edges, cdf))
    steps = np.asarray(history.steps, np.float64)
    s0, s1 = float(steps[0]), float(steps[-1])
    if s1 <= s0:
        s1 = s0 + 1.0
    positions = np.linspace(s0, s1, columns)
    index = np.clip(np.searchsorted(steps, positions, side="right") - 1, 0, len(steps) - 1)
    image = per_snapshot[index]
    peak = image.max(axis=1, keepdims=True)
    image = np.divide(image, peak, out=np.zeros_like(image), where=peak > 0)
    return image, (s0, s1), (lo, hi)


class WeightsView(QWidget):
    """The Weights tab (objectName ``weightsView``).

    Signals
    -------
    layerChosen(str)
        The user picked a layer here (the dock tells the training thread).
    """

    title = "Weights"

    layerChosen = Signal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("weightsView")
        self.run: Run | None = None
        self._layers: list[tuple[str, str]] = []
        self._drawn: tuple | None = None
        self._fitted: tuple | None = None  # (run, layer) whose histogram the view was fitted to

        self.layer_combo = QComboBox()
        self.layer_combo.setObjectName("weightsLayer")
        self.layer_combo.setMinimumContentsLength(16)
        self.info = ps.steady_label("Select a layer with weights", lines=2, name="weightsInfo")
        bar = QHBoxLayout()
        bar.setContentsMargins(4, 0, 4, 0)
        bar.addWidget(QLabel("Layer"))
        bar.addWidget(self.layer_combo)
        bar.addSpacing(12)
        bar.addWidget(self.info, 1)

        self.plots = ps.graphics_widget(self)
        self.hist_plot = ps.style_plot(self.plots.addPlot(row=0, col=0), "Weights now", "count", "value")
        self.history_plot = ps.style_plot(self.plots.addPlot(row=0, col=1), "Weights over time", "value", "step")
        self.plots.ci.layout.setColumnStretchFactor(0, 2)
        self.plots.ci.layout.setColumnStretchFactor(1, 3)
        self.hist_item = pg.PlotDataItem(stepMode="center", fillLevel=0, antialias=False,
                                         pen=ps.pen(HIST_COLOUR, 1.2), brush=pg.mkBrush(37, 99, 235, 90))
        self.hist_plot.addItem(self.hist_item)
        self.image = pg.ImageItem(axisOrder="col-major")
        self.image.setLookupTable(_density_lut())
        self.image.setLevels((0.0, 1.0))
        self.history_plot.addItem(self.image)
        self.hist_follow = ps.RangeFollower(self.hist_plot, self._hist_bounds, self)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 2, 0, 0)
        layout.setSpacing(2)
        layout.addLayout(bar)
        layout.addWidget(self.plots, 1)
        self.layer_combo.activated.connect(self._combo_activated)

    # ------------------------------------------------------------------- api
    @property
    def layer(self) -> str | None:
        """Node id of the layer shown."""
        return self.layer_combo.currentData()

    def set_layers(self, layers: list[tuple[str, str]]) -> None:
        """``[(node id, title)]`` of the layers with weights, in graph order."""
        if layers == self._layers:
            return
        current = self.layer
        self._layers = list(layers)
        with signals_blocked(self.layer_combo):
            self.layer_combo.clear()
            for node_id, title in layers:
                self.layer_combo.addItem(title, node_id)
            index = self.layer_combo.findData(current)
            self.layer_combo.setCurrentIndex(index if index >= 0 else 0)
        self._drawn = None

    def select_layer(self, node_id: str) -> bool:
        """Show ``node_id`` if it is a layer with weights (a canvas selection)."""
        index = self.layer_combo.findData(node_id)
        if index < 0 or index == self.layer_combo.currentIndex():
            return index >= 0
        self.layer_combo.setCurrentIndex(index)
        self._drawn = None
        self.refresh()
        return True

    def set_run(self, run: Run | None) -> None:
        self.run = run
        self._drawn = None
        self.refresh()
        self.hist_follow.follow()

    def refresh(self, changed: Set[str] | None = None, full: bool = False) -> None:
        """Redraw when the shown layer got a new histogram (``full``: the run has
        ended; fit the history's step axis to the steps it reached)."""
        settle = full
        run, node_id = self.run, self.layer
        history = run.hist.get(node_id) if run is not None and node_id else None
        key = (id(run), node_id, history.version if history else -1)
        if key == self._drawn and not settle:
            return
        self._drawn = key
        if history is None or not history.steps:
            self.hist_item.setData([], [])
            self.image.clear()
            if not node_id:
                self.info.setText("The graph has no layer with weights")
            elif run is not None and run.status == "paused":
                self.info.setText("No histogram of this layer yet: it is measured while the run goes; resume it")
            else:
                self.info.setText("No histogram of this layer yet: it is measured while a run goes")
            return
        edges, counts = history.edges[-1], history.counts[-1]
        self.hist_item.setData(edges, counts)
        built = history_image(history)
        if built is not None:
            image, (s0, s1), (lo, hi) = built
            self.image.setImage(image, autoLevels=False)
            self.image.setRect(QRectF(s0, lo, s1 - s0, hi - lo))
            ps.fit_if_needed(self.history_plot, (s0, s1), (lo, hi), x_end=growing_until(run), settle=settle)
        spread = _spread(edges, counts)
        self.info.setText(f"step {history.steps[-1]} · weights from {edges[0]:.3g} to {edges[-1]:.3g} · "
                          f"spread (std) {spread:.3g} · {len(history.steps)} snapshots")
        # the first histogram of a layer, and the last of a run, fit the view at once: the
        # once-a-second follower would otherwise leave a short run's plot at its empty 0-1 view
        first = self._fitted != key[:2]
        self._fitted = key[:2]
        self.hist_follow.update(force=first or settle)

    def _hist_bounds(self):
        data = self.hist_item.getData()
        if data[0] is None or not len(data[0]):
            return None, None
        return (float(data[0][0]), float(data[0][-1])), (0.0, float(np.max(data[1])) or 1.0)

    def _combo_activated(self, _index: int) -> None:
        self._drawn = None
        self.refresh()
        self.hist_follow.follow()
        if self.layer:
            self.layerChosen.emit(self.layer)


def _spread(edges: np.ndarray, counts: np.ndarray) -> float:
    centres = (edges[:-1] + edges[1:]) / 2
    total = counts.sum()
    if total <= 0:
        return 0.0
    mean = float((centres * counts).sum() / total)
    return float(np.sqrt(((centres - mean) ** 2 * counts).sum() / total))


def _density_lut() -> np.ndarray:
    """White (no weights) to deep blue (the most common value)."""
    stops = np.array([[255, 255, 255], [191, 219, 254], [96, 165, 250], [37, 99, 235], [30, 58, 138]], float)
    t = np.linspace(0, 1, 256)
    pos = np.linspace(0, 1, len(stops))
    return np.stack([np.interp(t, pos, stops[:, c]) for c in range(3)], axis=1).astype(np.uint8)
