"""The Landscape tab: the loss around the trained weights, with the training path.

:mod:`layerloom.backend.insight.landscape` does the work in a thread of its own (a
:class:`LandscapeJob`, on a copy of the run's model), reporting progress; the view
only colours the grid (low loss dark, high loss bright), draws a few contour lines,
the training path the trainer recorded (projected on the plane) and the current
weights. Before computing, one loss evaluation is timed: a grid that would take
longer than :data:`BUDGET` seconds is refused with the estimate and the largest
grid that fits, which the grid box then offers.
"""

from __future__ import annotations

import copy
from collections.abc import Set

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QObject, QRectF, QThread, Signal
from PySide6.QtWidgets import QComboBox, QProgressBar, QPushButton, QSpinBox, QWidget

from layerloom.gui.training.runs.run_record import Run
from layerloom.gui.training.views import plot_style as ps
from layerloom.gui.training.views.view_header import header_bar, lay_out_view

BUDGET = 60.0  # seconds a landscape may take in the app
DIRECTIONS = (("Auto", "auto"), ("Random directions", "random"), ("Training path (PCA)", "pca"))
CONTOURS = 8
COLOURS = pg.colormap.get("viridis")


class LandscapeJob(QThread):
    """Computes one surface off the GUI thread; ``cancel()`` stops it between two
    evaluations."""

    progressed = Signal(int, int)
    succeeded = Signal(object)
    failed = Signal(str)

    def __init__(self, run: Run, grid: int, directions: str, parent: QObject | None = None):
        super().__init__(parent)
        self.model = run.model
        self.graph = run.graph
        self.training = dict(run.training)
        self.data = run.train_sample if getattr(run, "train_sample", None) is not None else run.val
        self.path = run.weight_path.snapshot() if getattr(run, "weight_path", None) is not None else None
        self.grid, self.directions = grid, directions
        self.fits: int | None = None  # the largest grid that fits the budget, after TooSlow
        self._cancel = False

    def cancel(self) -> None:
        self._cancel = True

    def _progress(self, done: int, total: int) -> bool:
        self.progressed.emit(done, total)
        return not self._cancel

    def run(self) -> None:
        from layerloom.backend.insight import InsightError
        from layerloom.backend.insight.landscape import TooSlow, landscape, probe_for
        from layerloom.backend.training import TrainSettings

        try:
            settings = TrainSettings.from_dict(self.training)
            model = copy.deepcopy(self.model).cpu()
            probe = probe_for(model, self.graph, settings, self.data)
            path = self.path if self.path is not None and len(self.path[0]) else None
            surface = landscape(probe, self.grid, self.directions, seed=settings.seed, path=path,
                                progress=self._progress, budget=BUDGET)
        except TooSlow as exc:
            self.fits = exc.fits
            self.failed.emit(str(exc))
        except InsightError as exc:
            self.failed.emit(str(exc))
        except Exception as exc:  # any other failure is reported, never raised in the thread
            self.failed.emit(f"the landscape could not be computed: {type(exc).__name__}: {exc}")
        else:
            self.succeeded.emit(surface)


class LandscapeView(QWidget):
    """The Landscape tab (objectName ``landscapeView``)."""

    title = "Landscape"

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("landscapeView")
        self.run: Run | None = None
        self.surface = None
        self._model_of = None  # the model the surface was computed for
        self.job: LandscapeJob | None = None
        self.directions = QComboBox()
        self.directions.setObjectName("landscapeDirections")
        for text, key in DIRECTIONS:
            self.directions.addItem(text, key)
        self.directions.setToolTip("Auto: the exact (w, b) surface for a single neuron, else two random "
                                   "filter-normalised directions · Training path: the path's two main directions")
        self.grid = QSpinBox()
        self.grid.setObjectName("landscapeGrid")
        self.grid.setRange(3, 101)
        self.grid.setValue(21)
        self.grid.setToolTip("Points per side: the loss is evaluated grid × grid times")
        self.compute_button = QPushButton("Compute")
        self.compute_button.setObjectName("landscapeCompute")
        self.compute_button.setToolTip("Evaluate the loss over the grid around the trained weights")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("landscapeCancel")
        self.cancel_button.setEnabled(False)
        self.progress = QProgressBar()
        self.progress.setObjectName("landscapeProgress")
        self.progress.setMaximumWidth(160)
        self.progress.setTextVisible(True)
        bar = header_bar("Directions", self.directions, "Grid", self.grid, self.compute_button,
                         self.cancel_button, self.progress)
        self.plots = ps.graphics_widget(self)
        self.plot = ps.style_plot(self.plots.addPlot(), "Loss landscape")
        self.image = pg.ImageItem(axisOrder="row-major")
        self.plot.addItem(self.image)
        self.contours: list[pg.IsocurveItem] = []
        self.path_curve = ps.curve("#f97316", 2.0)
        self.path_points = pg.ScatterPlotItem(size=5, brush=pg.mkBrush("#f97316"), pen=None)
        self.start_point = pg.ScatterPlotItem(size=10, symbol="s", brush=pg.mkBrush("#ffffff"),
                                              pen=pg.mkPen("#f97316", width=2))
        self.centre = pg.ScatterPlotItem(size=16, symbol="star", brush=pg.mkBrush("#dc2626"),
                                         pen=pg.mkPen("#ffffff"))
        for item in (self.path_curve, self.path_points, self.start_point, self.centre):
            self.plot.addItem(item)
        self.note = ps.steady_label("Train a model (or open trained weights), then press Compute", 3,
                                    "landscapeNote")
        lay_out_view(self, bar, self.plots, self.note)
        self.compute_button.clicked.connect(self.compute)
        self.cancel_button.clicked.connect(self.cancel)
        self._enable()

    # ------------------------------------------------------------------- api
    @property
    def has_data(self) -> bool:
        return self.image.image is not None

    @property
    def ready(self) -> bool:
        run = self.run
        return run is not None and run.model is not None and (
            getattr(run, "train_sample", None) is not None or run.val is not None)

    def set_run(self, run: Run | None) -> None:
        if run is not self.run:
            self.cancel()
            self._clear()
        self.run = run
        self.refresh()

    def refresh(self, changed: Set[str] | None = None, full: bool = False) -> None:
        run = self.run
        if self.surface is not None and self._model_of is not (run.model if run is not None else None):
            self._clear()  # drawn for weights the run no longer has (it went on training)
        self._enable()
        if self.job is None and not self.has_data:
            run = self.run
            if run is not None and run.active:
                self.note.setText("Pause or stop the run, then press Compute to see the loss around its weights")
            elif self.ready:
                self.note.setText("Press Compute to evaluate the loss around the trained weights")

    def compute(self) -> LandscapeJob | None:
        """Start computing the surface (off the GUI thread); returns the job."""
        if not self.ready or self.job is not None:
            return None
        job = LandscapeJob(self.run, self.grid.value(), self.directions.currentData(), self)
        job.progressed.connect(self._progressed)
        job.succeeded.connect(self._succeeded)
        job.failed.connect(self._failed)
        job.finished.connect(self._ended)
        self.job = job
        self.progress.setValue(0)
        self.note.setText("Timing one loss evaluation, then evaluating the grid…")
        self._enable()
        job.start()
        return job

    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancel()
            self.job.wait()

    def shutdown(self) -> None:
        """Stop a computation still running (before the window goes away)."""
        self.cancel()

    # ------------------------------------------------------------ job results
    def _progressed(self, done: int, total: int) -> None:
        self.progress.setMaximum(total)
        self.progress.setValue(done)

    def _failed(self, message: str) -> None:
        from layerloom.backend.insight.landscape import MIN_GRID

        self.note.setText(message[:1].upper() + message[1:])
        fits = getattr(self.job, "fits", None)
        if fits is not None:  # the largest grid that fits (at least the smallest there is) for the next try
            self.grid.setValue(max(MIN_GRID, fits))

    def _succeeded(self, surface) -> None:
        self._draw(surface)
        self._model_of = self.job.model if self.job is not None else None

    def _ended(self) -> None:
        job, self.job = self.job, None
        if job is not None:
            job.deleteLater()
        self._enable()

    def _enable(self) -> None:
        busy = self.job is not None
        self.compute_button.setEnabled(self.ready and not busy)
        self.cancel_button.setEnabled(busy)
        self.directions.setEnabled(not busy)
        self.grid.setEnabled(not busy)

    # ---------------------------------------------------------------- drawing
    def _clear(self) -> None:
        self.surface = None
        self.image.clear()
        for item in self.contours:
            self.plot.removeItem(item)
        self.contours = []
        for item in (self.path_curve, self.path_points, self.start_point, self.centre):
            item.setData([], [])

    def _draw(self, surface) -> None:
        self._clear()
        self.surface = surface
        losses = np.asarray(surface.losses, np.float64)
        finite = losses[np.isfinite(losses)]
        if not finite.size:
            self.note.setText("Every loss on this grid is infinite or NaN: try a smaller span or grid")
            return
        lo, hi = float(finite.min()), float(np.quantile(finite, 0.98))
        shown = np.clip(np.where(np.isfinite(losses), losses, hi), lo, hi)
        self.image.setImage(shown, levels=(lo, hi if hi > lo else lo + 1e-9))
        self.image.setLookupTable(COLOURS.getLookupTable(nPts=256))
        xs, ys = surface.xs, surface.ys
        dx, dy = (xs[-1] - xs[0]) / (len(xs) - 1), (ys[-1] - ys[0]) / (len(ys) - 1)
        rect = QRectF(xs[0] - dx / 2, ys[0] - dy / 2, dx * len(xs), dy * len(ys))
        self.image.setRect(rect)
        for level in np.linspace(lo, hi, CONTOURS + 2)[1:-1]:
            iso = pg.IsocurveItem(data=shown.T, level=float(level), pen=ps.pen("#ffffff", 1.0, alpha=140))
            iso.setParentItem(self.image)  # in the image's pixel coordinates
            self.contours.append(iso)
        if surface.path is not None and len(surface.path):
            px, py = surface.path[:, 0], surface.path[:, 1]
            self.path_curve.setData(px, py)
            self.path_points.setData(px, py)
            self.start_point.setData(px[:1], py[:1])
        self.centre.setData([surface.centre[0]], [surface.centre[1]])
        self.plot.setLabel("bottom", surface.x_label)
        self.plot.setLabel("left", surface.y_label)
        self.plot.getViewBox().setRange(rect, padding=0.02)
        what = {"exact": "exact loss over the neuron's weight and bias",
                "pca": "loss along the training path's two main directions",
                "random": "loss along two random filter-normalised directions"}[surface.kind]
        path = (f" · orange: the training path ({len(surface.path)} snapshots, "
                f"loss {surface.path_losses[0]:.3g} → {surface.path_losses[-1]:.3g})"
                if surface.path is not None and len(surface.path) else " · no training path recorded")
        from layerloom.backend.insight.landscape import path_hint

        hint = path_hint(surface)
        self.note.setText(f"{what} (dark: low, bright: {hi:.3g}) · star: the weights now, loss "
                          f"{surface.centre_loss:.3g}{path}" + (f" · {hint}" if hint else ""))
