"""The sweep dialog's plot: the metric each trial reached against the swept setting.

One setting: a line through the trials in the setting's order. Two: one line per
value of the second setting (with a legend), so the two effects read apart. A
log-spaced setting (or numbers spanning more than two decades) gets a log axis;
words (``adam``, ``sgd``) are spread evenly with their names as ticks. Failed and
unfinished trials have no point.
"""

from __future__ import annotations

import math

import pyqtgraph as pg

from layerloom.backend.training.sweep import Axis, format_value

COLOURS = ((31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
           (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207))


def log_axis(axis: Axis) -> bool:
    """Whether ``axis`` reads best on a log scale."""
    if not axis.numeric or any(v <= 0 for v in axis.values):
        return False
    return axis.scale == "log" or max(axis.values) / min(axis.values) >= 100


class SweepPlot(pg.PlotWidget):
    """Metric against setting (objectName ``sweepPlot``); :meth:`show_trials` redraws."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("sweepPlot")
        self.setMinimumHeight(200)
        self.showGrid(x=True, y=True, alpha=0.2)
        self.legend = self.addLegend(offset=(-10, 10))
        self.curves: dict[str, pg.PlotDataItem] = {}
        self.best_marker = pg.ScatterPlotItem(size=16, symbol="star", pen=pg.mkPen((0, 0, 0)),
                                              brush=pg.mkBrush(250, 204, 21))
        self.best_marker.setZValue(10)
        self.addItem(self.best_marker)
        for side in ("bottom", "left"):  # 0.001 reads as 0.001, not as 1 (x0.001)
            self.getAxis(side).enableAutoSIPrefix(False)

    def show_trials(self, axes: list[Axis], trials, metric: str, best=None) -> None:
        """Draw ``trials`` (with ``values`` and ``final``) of a sweep over ``axes``."""
        first = axes[0]
        logx = log_axis(first)
        self.setLogMode(x=logx, y=False)
        self.setLabel("bottom", first.key)
        self.setLabel("left", f"final {metric}")
        positions = {v: (v if first.numeric else i) for i, v in enumerate(first.values)}
        bottom = self.getAxis("bottom")
        if first.numeric:
            bottom.setTicks(None)
        else:
            bottom.setTicks([[(i, format_value(v)) for i, v in enumerate(first.values)]])
        groups = [(None, "")] if len(axes) == 1 else [(v, f"{axes[1].key}={format_value(v)}")
                                                      for v in axes[1].values]
        for name in list(self.curves):
            if name not in {label for _, label in groups}:
                self.removeItem(self.curves.pop(name))
        for index, (value, label) in enumerate(groups):
            xs, ys = [], []
            for trial in trials:
                if value is not None and trial.values[axes[1].key] != value:
                    continue
                if trial.final is not None:
                    xs.append(positions[trial.values[first.key]])
                    ys.append(trial.final)
            colour = COLOURS[index % len(COLOURS)]
            curve = self.curves.get(label)
            if curve is None:
                curve = self.curves[label] = self.plot(
                    [], [], pen=pg.mkPen(colour, width=2), symbol="o", symbolSize=7,
                    symbolBrush=pg.mkBrush(*colour), name=label or None)
            curve.setData(xs, ys)
        self.legend.setVisible(len(axes) > 1)
        if best is not None and best.final is not None:
            x = positions[best.values[first.key]]
            self.best_marker.setData([math.log10(x) if logx else x], [best.final])
        else:
            self.best_marker.setData([], [])

    def clear_trials(self) -> None:
        for curve in self.curves.values():
            self.removeItem(curve)
        self.curves.clear()
        self.best_marker.setData([], [])

    def points(self) -> dict[str, tuple[list[float], list[float]]]:
        """Each line's data as drawn (x in the setting's units): for tests."""
        out = {}
        for label, curve in self.curves.items():
            xs, ys = curve.getData()
            out[label] = ([] if xs is None else list(xs), [] if ys is None else list(ys))
        return out
