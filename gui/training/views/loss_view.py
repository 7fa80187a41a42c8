"""Loss, metric and learning-rate curves of the shown run, with other runs overlaid.

Left: training loss per step (raw, faint, and smoothed) and validation loss per
epoch. Right: the metric (accuracy for classifiers, MAE for regressions; training
and validation) and the learning rate. Runs ticked in the Runs tab are drawn over
the loss plot in their own colours, to compare learning rates or architectures.

Redraws only what changed since the last redraw (series carry a version), and the
ranges follow the data at most once a second (:mod:`layerloom.gui.training.views.plot_style`).
"""

from __future__ import annotations

import time
from collections.abc import Set

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QGraphicsItem,
    QHBoxLayout,
    QLabel,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from layerloom.gui.training.runs.run_record import Run, growing_until
from layerloom.gui.training.views import plot_style as ps
from layerloom.gui.training.views.series import finite_range, from_zero, smooth, step_arrays
from layerloom.gui.training.views.term_curves import TermCurves

VAL_COLOUR = "#ea580c"
LR_COLOUR = "#7c3aed"
DEFAULT_SMOOTHING = 0.9  # per-step losses are noisy: TensorBoard's 0.6 leaves a band
MAX_SYMBOLS = 40  # epoch curves show a dot per epoch up to this many epochs
SLOW_INTERVAL = 0.5  # seconds between redraws of the once-an-epoch curves
DRAWN_FROM = frozenset({"loss", "epoch", "status"})  # what the run changed that this view draws


class LossView(QWidget):
    """The Loss tab (objectName ``lossView``)."""

    title = "Loss"

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("lossView")
        self.run: Run | None = None
        self.overlays: list[Run] = []
        self._versions: dict[str, tuple] = {}
        self._smooth_cache: dict[int, tuple] = {}
        self._last_slow = -1.0
        self._metric_title = "Accuracy"

        self.smoothing = QSlider(Qt.Orientation.Horizontal)
        self.smoothing.setObjectName("lossSmoothing")
        self.smoothing.setRange(0, 99)
        self.smoothing.setValue(round(DEFAULT_SMOOTHING * 100))
        self.smoothing.setFixedWidth(90)
        self.smoothing.setToolTip("Smoothing of the training-loss curve (exponential moving average)")
        self.smoothing_label = QLabel()
        self.log_scale = QCheckBox("Log")
        self.log_scale.setToolTip("Logarithmic loss axis")
        self.log_scale.setObjectName("lossLogScale")
        self.summary = ps.steady_label(lines=2, name="lossSummary")  # wraps, not cut, when narrow
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        bar = QHBoxLayout()
        bar.setContentsMargins(4, 0, 4, 0)
        bar.addWidget(QLabel("Smoothing"))
        bar.addWidget(self.smoothing)
        bar.addWidget(self.smoothing_label)
        bar.addSpacing(8)
        bar.addWidget(self.log_scale)
        bar.addSpacing(8)
        bar.addWidget(self.summary, 1)

        self.plots = ps.graphics_widget(self)
        self.loss_plot = ps.style_plot(self.plots.addPlot(row=0, col=0, rowspan=2), "Loss", bottom="step")
        self.metric_plot = ps.style_plot(self.plots.addPlot(row=0, col=1), "Accuracy")
        self.lr_plot = ps.style_plot(self.plots.addPlot(row=1, col=1), "Learning rate", bottom="step")
        self.plots.ci.layout.setColumnStretchFactor(0, 3)
        self.plots.ci.layout.setColumnStretchFactor(1, 2)
        self.legend = self.loss_plot.addLegend(offset=(-8, 8), labelTextSize="8pt")
        self.legend.setBrush(pg.mkBrush(255, 255, 255, 200))
        self.legend.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)  # repainted under the curves

        self._overlay_items: list[pg.PlotDataItem] = []
        self.raw = ps.curve("#60a5fa", 1.0, alpha=90)
        self.smoothed = ps.curve("#2563eb", 2.0, name="training", smooth=True)
        self.val = ps.curve(VAL_COLOUR, 2.0, name="validation", symbol="o")
        self.train_metric = ps.curve("#2563eb", 2.0, symbol="o")
        self.val_metric = ps.curve(VAL_COLOUR, 2.0, symbol="o")
        self.lr_curve = ps.curve(LR_COLOUR, 1.5)  # drawn as steps: peaks keep a jump straight
        for item in (self.raw, self.smoothed, self.val):
            self.loss_plot.addItem(item)
        self.legend.removeItem(self.raw)
        self.terms = TermCurves(self.loss_plot, self.legend)  # a run on loss terms: each term
        self.metric_plot.addItem(self.train_metric)
        self.metric_plot.addItem(self.val_metric)
        self.lr_plot.addItem(self.lr_curve)
        self.followers = [
            ps.RangeFollower(self.loss_plot, self._loss_bounds, self, self._x_end),
            ps.RangeFollower(self.metric_plot, self._metric_bounds, self, self._x_end),
            ps.RangeFollower(self.lr_plot, self._lr_bounds, self, self._x_end),
        ]

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 2, 0, 0)
        layout.setSpacing(2)
        layout.addLayout(bar)
        layout.addWidget(self.plots, 1)
        self.smoothing.valueChanged.connect(self._smoothing_changed)
        self.log_scale.toggled.connect(self._log_toggled)
        self._smoothing_changed()

    # ------------------------------------------------------------------- api
    @property
    def smoothing_weight(self) -> float:
        return self.smoothing.value() / 100.0

    def set_run(self, run: Run | None) -> None:
        """Show ``run`` (the newest run, or the one picked in the Runs tab)."""
        self.run = run
        self._versions.clear()
        self.terms.clear()
        for item in (self.val, self.train_metric, self.val_metric):
            item.setSymbol("o")
        self.refresh(full=True)

    def set_overlays(self, runs: list[Run]) -> None:
        """Draw these runs' smoothed training and validation losses over the plot."""
        self.overlays = [r for r in runs if r is not self.run]
        for item in self._overlay_items:
            self.loss_plot.removeItem(item)
            self.legend.removeItem(item)
        self._overlay_items = []
        for run in self.overlays:
            train = ps.curve(run.colour, 1.5, alpha=200, name=run.label, smooth=True)
            val = ps.curve(run.colour, 1.2, alpha=200, dash=True)
            self.loss_plot.addItem(train)
            self.loss_plot.addItem(val)
            self.legend.removeItem(val)
            self._overlay_items += [train, val]
        self._versions.pop("overlays", None)
        self.refresh(full=True)

    def refresh(self, changed: Set[str] | None = None, full: bool = False) -> None:
        """Redraw the curves whose data changed; fit ranges at most once a second
        (at once when ``full``). See :meth:`LiveView.refresh`.

        The training loss is redrawn at every call with new losses, epochs or
        status (about 10 Hz); validation, metric and learning-rate curves, which
        change once an epoch, at most twice a second.
        """
        if changed is not None and not full and not changed & DRAWN_FROM:
            return
        force_range = full
        run = self.run
        weight = self.smoothing_weight
        now = time.monotonic()
        slow = force_range or now - self._last_slow >= SLOW_INTERVAL
        self._draw_loss(run, weight)
        if slow:
            self._last_slow = now
            self._draw_overlays(weight)
            self._draw_epoch_curves(run)
        if run is None:
            for item in (self.raw, self.smoothed, self.val, self.train_metric, self.val_metric, self.lr_curve):
                item.setData([], [])
        summary = self._summary(run)
        if summary != self.summary.text():
            self.summary.setText(summary)
        for follower in self.followers:
            follower.update(force=force_range)

    def _draw_epoch_curves(self, run: Run | None) -> None:
        if run is None:
            return
        if self._changed("val", run.number, run.val_loss.version):
            self._set(self.val, run.val_loss)
        if self._changed("metric", run.number, *self._metric_versions(run)):
            name = run.metric_name()
            title = (name or "metric").upper() if name == "mae" else (name or "metric").capitalize()
            if title != self._metric_title:  # a new title re-lays out the plots: only on change
                self._metric_title = title
                self.metric_plot.setTitle(title, color=ps.FOREGROUND, size="9pt")
            self._set(self.train_metric, run.metrics.get(name) if name else None)
            self._set(self.val_metric, run.metrics.get(f"val_{name}") if name else None)
        if self._changed("lr", run.number, run.lr.version):
            self._set(self.lr_curve, run.lr, steps=True)
        self.terms.draw(run)

    # ----------------------------------------------------------------- drawing
    def _changed(self, key: str, *version) -> bool:
        if self._versions.get(key) == version:
            return False
        self._versions[key] = version
        return True

    @staticmethod
    def _metric_versions(run: Run) -> tuple:
        return tuple(s.version for s in run.metrics.values())

    def _draw_loss(self, run: Run | None, weight: float) -> None:
        if run is None:
            return
        if self._changed("loss", run.number, run.loss.version, weight):
            x, y = run.loss.arrays()
            self.raw.setData(x, y)
            self.smoothed.setData(x, smooth(y, weight))

    def _draw_overlays(self, weight: float) -> None:
        if not self._changed("overlays", weight, *((r.number, r.loss.version, r.val_loss.version) for r in self.overlays)):
            return
        for run, (train, val) in zip(self.overlays, zip(self._overlay_items[::2], self._overlay_items[1::2], strict=True),
                                     strict=True):
            x, y = run.loss.arrays()
            train.setData(x, self._smoothed(run, y, weight))
            self._set(val, run.val_loss)

    def _smoothed(self, run: Run, y, weight: float):
        key = (run.loss.version, weight)
        cached = self._smooth_cache.get(run.number)
        if cached is None or cached[0] != key:
            cached = (key, smooth(y, weight))
            self._smooth_cache[run.number] = cached
        return cached[1]

    @staticmethod
    def _set(item: pg.PlotDataItem, series, steps: bool = False) -> None:
        if series is None:
            item.setData([], [])
            return
        x, y = series.arrays()
        if steps:
            x, y = step_arrays(x, y)
        if item.opts.get("symbol") is not None and len(x) > MAX_SYMBOLS:
            item.setSymbol(None)  # dots on every epoch of a long run only hide the line
        item.setData(x, y)

    def _summary(self, run: Run | None) -> str:
        if run is None:
            return "No run yet: choose a dataset and press Start"
        parts = []
        loss = run.train_loss()
        if loss is not None:
            parts.append(f"loss {loss:.3g}")
        last_val = run.val_loss.last()
        if last_val is not None:
            parts.append(f"val {last_val[1]:.3g}")
        name = run.metric_name()
        for key in (f"val_{name}", name) if name else ():
            series = run.metrics.get(key)
            if series is not None and series.last() is not None:
                short = {"accuracy": "acc"}.get(name, name)
                parts.append(f"{'val ' if key.startswith('val_') else ''}{short} {series.last()[1]:.3g}")
                break
        return " · ".join(parts)

    # ------------------------------------------------------------------ ranges
    def _runs_shown(self) -> list[Run]:
        return [r for r in [self.run, *self.overlays] if r is not None]

    def _x_end(self) -> float | None:
        return growing_until(self.run)

    def _loss_bounds(self):
        xs, ys = [], []
        for run in self._runs_shown():
            x, y = run.loss.arrays()
            vx, vy = run.val_loss.arrays()
            xs += [x, vx]
            ys += [smooth(y, self.smoothing_weight) if run is not self.run else y, vy]
        for tx, ty in self.terms.arrays():
            xs.append(tx)
            ys.append(ty)
        log = self.log_scale.isChecked()
        y = finite_range(*ys, log=log)
        return finite_range(*xs), y if log else from_zero(y)

    def _metric_bounds(self):
        run = self.run
        name = run.metric_name() if run else None
        if not name:
            return None, None
        series = [s for s in (run.metrics.get(name), run.metrics.get(f"val_{name}")) if s is not None]
        pairs = [s.arrays() for s in series]
        y = finite_range(*(p[1] for p in pairs))
        if name == "accuracy":
            y = from_zero(y, top=1.0)  # the whole scale: the curve climbs it
        elif name == "mae":
            y = from_zero(y)
        return finite_range(*(p[0] for p in pairs)), y

    def _lr_bounds(self):
        if self.run is None:
            return None, None
        x, y = self.run.lr.arrays()
        return finite_range(x), from_zero(finite_range(y))

    def _smoothing_changed(self, *_args) -> None:
        self.smoothing_label.setText(f"{self.smoothing_weight:.2f}")
        self._last_slow = -1.0  # overlays are smoothed too: redraw them now
        self.refresh()

    def _log_toggled(self, on: bool) -> None:
        self.loss_plot.setLogMode(y=on)
        self.followers[0].log_y = on
        self.followers[0].follow()
