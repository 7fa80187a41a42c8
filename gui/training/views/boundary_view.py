"""Decision boundary of a model on 2-D data, redrawn live (TensorFlow Playground).

The training thread evaluates the model on a grid over the data at most twice a
second (:class:`~layerloom.backend.training.probes.Boundary`); this view only colours it: each
grid cell mixes the class colours by the predicted probabilities (pale where the
model is unsure), and the validation points are drawn on top in their true
class's colour. A regression shows the predicted value as a colour ramp.
Coordinates are those the model sees (inputs after normalisation).
"""

from __future__ import annotations

from collections.abc import Set

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QVBoxLayout, QWidget

from layerloom.gui.training.runs.run_record import Run
from layerloom.gui.training.views import plot_style as ps

CLASS_COLOURS = ("#f97316", "#2563eb", "#16a34a", "#9333ea", "#dc2626", "#0891b2",
                 "#ca8a04", "#db2777", "#4b5563", "#65a30d")
PALE = 0.45  # how much of a cell's colour is white, at full confidence


def class_colour(i: int) -> QColor:
    return QColor(CLASS_COLOURS[i % len(CLASS_COLOURS)])


def blend(probabilities: np.ndarray) -> np.ndarray:
    """``(H, W, C)`` probabilities -> ``(H, W, 3)`` uint8 colours: the class
    colours mixed by probability, faded towards white where the top class is
    less sure."""
    c = probabilities.shape[-1]
    palette = np.array([class_colour(i).getRgb()[:3] for i in range(c)], np.float64)
    mixed = probabilities.astype(np.float64) @ palette
    confidence = probabilities.max(axis=-1, keepdims=True)
    floor = 1.0 / c
    strength = np.clip((confidence - floor) / max(1e-9, 1.0 - floor), 0, 1) * (1 - PALE)
    out = 255.0 * (1 - strength) + mixed * strength
    return np.clip(out, 0, 255).astype(np.uint8)


def ramp(values: np.ndarray) -> np.ndarray:
    """``(H, W)`` values -> blue (low) to orange (high) colours."""
    lo, hi = float(np.nanmin(values)), float(np.nanmax(values))
    t = (values - lo) / (hi - lo) if hi > lo else np.zeros_like(values)
    low, high = np.array([37, 99, 235], float), np.array([249, 115, 22], float)
    rgb = low * (1 - t[..., None]) + high * t[..., None]
    return (255 * 0.35 + rgb * 0.65).astype(np.uint8)


class BoundaryView(QWidget):
    """The Boundary tab (objectName ``boundaryView``)."""

    title = "Boundary"

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("boundaryView")
        self.run: Run | None = None
        self._drawn = None
        self._points_for = None
        self.plots = ps.graphics_widget(self)
        self.plot = ps.style_plot(self.plots.addPlot(), "Decision boundary", "x₂", "x₁")
        self.plot.setAspectLocked(False)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.plot.addItem(self.image)
        self.points: list[pg.ScatterPlotItem] = []
        self.note = ps.steady_label("The decision boundary is drawn during a run on a dataset with two input "
                                    "features",
                                    2, "boundaryNote")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 2, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.plots, 1)
        layout.addWidget(self.note)
        self.plots.hide()  # until there is something to draw: never empty axes

    @property
    def has_image(self) -> bool:
        return self.image.image is not None

    def set_run(self, run: Run | None) -> None:
        self.run = run
        self._drawn = None
        self._points_for = None
        self.refresh()

    def refresh(self, changed: Set[str] | None = None, full: bool = False) -> None:
        """Redraw for new data or a new grid (see :meth:`LiveView.refresh`)."""
        run = self.run
        data = run.data if run is not None else None
        # no empty axes: the plot shows only for data it applies to, the note says why not
        self.plots.setVisible(data is not None and data.scatter_x is not None)
        if data is None and run is None:
            self.note.setText("The decision boundary is drawn during a run on a dataset with two input features")
        if data is not None and self._points_for is not data:
            self._points_for = data
            self._draw_points(data)
            if data.scatter_x is None:
                self.note.setText(f"{data.name} has inputs of shape {tuple(data.input_shape)}: the decision "
                                  "boundary is drawn for datasets with two input features")
        boundary = run.boundary if run is not None else None
        if boundary is self._drawn:
            return
        self._drawn = boundary
        if boundary is None:
            self.image.clear()
            return
        values = boundary.values
        rgb = ramp(values[..., 0]) if data is not None and data.task == "regression" else blend(values)
        self.image.setImage(rgb, autoLevels=False, levels=(0, 255))
        (x0, x1), (y0, y1) = boundary.x_range, boundary.y_range
        self.image.setRect(QRectF(x0, y0, x1 - x0, y1 - y0))
        ps.fit_if_needed(self.plot, (x0, x1), (y0, y1), padding=0)
        self.note.setText(f"step {boundary.step} · colours: the class the model predicts, pale where it is "
                          "unsure · points: validation samples in their true class's colour (normalised units)")

    def _draw_points(self, data) -> None:
        if data.scatter_x is None:
            self.points = ps.scatter_by_class(self.points, self.plot, [], [], [], class_colour)
            return
        x, y = data.scatter_x, data.scatter_y
        if data.task == "classification":
            labels = y
        else:  # regression: five bands of the target value on the same colour ramp
            values = np.asarray(y, np.float64).reshape(len(y), -1)[:, 0]
            edges = np.quantile(values, [0.2, 0.4, 0.6, 0.8])
            labels = np.searchsorted(edges, values)
        colour = class_colour if data.task == "classification" else _band_colour
        self.points = ps.scatter_by_class(self.points, self.plot, x[:, 0], x[:, 1], labels, colour)


def _band_colour(i: int) -> QColor:
    rgb = ramp(np.array([[0.0, 1.0, i / 4.0]]))[0, 2]
    return QColor(*map(int, rgb))
