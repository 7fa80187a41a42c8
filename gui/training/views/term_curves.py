"""The loss terms of a run on a loss plot: one curve per term and epoch.

A graph trained on loss terms (several Outputs with a loss each, or loss nodes:
``layerloom.backend.training.loss_terms``) reports each term beside the total as
``loss_<name>`` (and ``val_loss_<name>``). :class:`TermCurves` draws them on the
Loss plot of :class:`~layerloom.gui.training.views.loss_view.LossView`, next to the
total: a colour per term, solid for training, dashed for validation, a dot per
epoch. Runs without terms draw nothing.
"""

from __future__ import annotations

import pyqtgraph as pg

from layerloom.gui.training.runs.run_record import Run
from layerloom.gui.training.views import plot_style as ps

TERM_COLOURS = ("#16a34a", "#9333ea", "#0891b2", "#ca8a04", "#db2777", "#4b5563")
PREFIX = "loss_"


def term_names(run: Run | None) -> list[str]:
    """The run's loss terms (``reconstruction``, ``kl``), in the order reported."""
    if run is None:
        return []
    return [k.removeprefix(PREFIX) for k in run.metrics if k.startswith(PREFIX)]


class TermCurves:
    """The term curves of one plot; :meth:`draw` follows the shown run."""

    def __init__(self, plot: pg.PlotItem, legend: pg.LegendItem):
        self.plot = plot
        self.legend = legend
        self.items: dict[str, pg.PlotDataItem] = {}  # metric key -> curve
        self._version: tuple | None = None

    def draw(self, run: Run | None) -> None:
        names = term_names(run)
        keys = [f"{p}{PREFIX}{n}" for n in names for p in ("", "val_")]
        version = (run.number if run else None, *((k, run.metrics[k].version) for k in keys if k in run.metrics))
        if version == self._version:
            return
        self._version = version
        for key in [k for k in self.items if k not in keys]:
            self._remove(key)
        for i, name in enumerate(names):
            colour = TERM_COLOURS[i % len(TERM_COLOURS)]
            for prefix in ("", "val_"):
                key = f"{prefix}{PREFIX}{name}"
                series = run.metrics.get(key)
                if series is None:
                    continue
                item = self.items.get(key)
                if item is None:
                    item = ps.curve(colour, 1.5, dash=bool(prefix), symbol="o",
                                    name=f"{name} (val)" if prefix else name)
                    self.plot.addItem(item)
                    self.items[key] = item
                x, y = series.arrays()
                item.setData(x, y)

    def arrays(self) -> list:
        """``(x, y)`` of every term curve drawn, for the plot's range."""
        return [item.getData() for item in self.items.values()]

    def clear(self) -> None:
        for key in list(self.items):
            self._remove(key)
        self._version = None

    def _remove(self, key: str) -> None:
        item = self.items.pop(key)
        self.plot.removeItem(item)
        self.legend.removeItem(item)
