"""Gradient flow: each layer's gradient norm, in graph order, on a log scale.

One bar per layer with weights, coloured from healthy to vanishing or exploding
(:mod:`layerloom.gui.training.views.health`), so a gradient that dies out towards the input, or
blows up, shows at a glance. Updated with every statistics measurement (at most
twice a second).
"""

from __future__ import annotations

import math
from collections.abc import Set

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QVBoxLayout, QWidget

from layerloom.gui.training.runs.run_record import Run
from layerloom.gui.training.views import plot_style as ps
from layerloom.gui.training.views.health import (
    EXPLODING,
    HEALTH_COLOURS,
    HEALTH_WORDS,
    VANISHING,
    format_norm,
    grad_health,
)

FLOOR = -12.0  # log10 of the smallest norm drawn (zero gradients sit here)
MAX_LABEL = 12


class LogAxis(pg.AxisItem):
    """Ticks at powers of ten, labelled ``1e-4``: the bars are drawn in log10 units."""

    def tickStrings(self, values, scale, spacing):
        return [f"1e{int(round(v))}" if abs(v - round(v)) < 1e-6 else "" for v in values]

    def tickValues(self, minVal, maxVal, size):
        lo, hi = math.floor(minVal), math.ceil(maxVal)
        step = max(1, (hi - lo) // 6)
        return [(step, list(range(lo, hi + 1, step)))]


class GradientView(QWidget):
    """The Gradients tab (objectName ``gradientView``)."""

    title = "Gradients"

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("gradientView")
        self.run: Run | None = None
        self._drawn = None
        self._ticks: list | None = None
        self.plots = ps.graphics_widget(self)
        self.axis = pg.AxisItem("bottom")
        self.plot = ps.style_plot(
            self.plots.addPlot(row=0, col=0, axisItems={"left": LogAxis("left"), "bottom": self.axis}),
            "Gradient norm per layer (log scale)",
        )
        self.plot.showGrid(x=False, y=True, alpha=ps.GRID_ALPHA)
        self.bars = pg.BarGraphItem(x=[], height=[], width=0.7, y0=FLOOR)
        self.plot.addItem(self.bars)
        for level, colour in ((VANISHING, "vanishing"), (EXPLODING, "exploding")):
            line = pg.InfiniteLine(pos=math.log10(level), angle=0,
                                   pen=ps.pen(HEALTH_COLOURS[colour], 1.0, alpha=160, dash=True))
            self.plot.addItem(line)
        self.summary = ps.steady_label("Gradients appear here while a run goes", 2, "gradientSummary")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 2, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.plots, 1)
        layout.addWidget(self.summary)
        self.heights: list[float] = []

    def set_run(self, run: Run | None) -> None:
        self.run = run
        self._drawn = None
        self.refresh()

    def refresh(self, changed: Set[str] | None = None, full: bool = False) -> None:
        """Redraw when the run has new statistics (see :meth:`LiveView.refresh`)."""
        run = self.run
        stats = run.stats if run is not None else None
        if (id(run), id(stats)) == self._drawn:
            return
        self._drawn = (id(run), id(stats))
        if stats is None:
            self.bars.setOpts(x=[], height=[], brushes=[])
            self.heights = []
            self.summary.setText("Gradients appear here while a run goes")
            return
        titles = _titles(run)
        nodes = list(stats.nodes)
        logs = [FLOOR if not n.grad_norm else (math.log10(n.grad_norm) if math.isfinite(n.grad_norm) else 6.0)
                for n in nodes]
        logs = [max(FLOOR, v) for v in logs]
        self.heights = [v - FLOOR for v in logs]
        brushes = [pg.mkBrush(HEALTH_COLOURS[grad_health(n.grad_norm)]) for n in nodes]
        x = np.arange(len(nodes), dtype=float)
        self.bars.setOpts(x=x, height=self.heights, y0=FLOOR, brushes=brushes,
                          pens=[pg.mkPen(None)] * len(nodes))
        ticks = [(i, _short(titles.get(n.node_id, n.node_id))) for i, n in enumerate(nodes)]
        if ticks != self._ticks:  # new ticks re-render the axis: only when the layers change
            self._ticks = ticks
            self.axis.setTicks([ticks])
        finite = [v for v in logs if v > FLOOR]
        lo = min([math.log10(VANISHING), *finite]) - 0.5
        hi = max([0.0, *finite]) + 0.5
        ps.fit_if_needed(self.plot, (-0.6, len(nodes) - 0.4), (lo, hi), padding=0)
        self.summary.setText(_describe(nodes, titles))


def _titles(run: Run) -> dict[str, str]:
    return {n.id: n.title for n in run.graph.nodes}


def _short(text: str) -> str:
    return text if len(text) <= MAX_LABEL else text[: MAX_LABEL - 1] + "…"


def _describe(nodes, titles: dict[str, str]) -> str:
    """One line: the weakest and strongest layer, and any that need attention."""
    with_grad = [n for n in nodes if n.grad_norm is not None]
    if not with_grad:
        return "No gradients yet"
    low = min(with_grad, key=lambda n: n.grad_norm if math.isfinite(n.grad_norm) else math.inf)
    high = max(with_grad, key=lambda n: n.grad_norm if math.isfinite(n.grad_norm) else math.inf)
    text = (f"smallest: {titles.get(low.node_id, low.node_id)} {format_norm(low.grad_norm)} · "
            f"largest: {titles.get(high.node_id, high.node_id)} {format_norm(high.grad_norm)}")
    problems = [n for n in with_grad if grad_health(n.grad_norm) in ("vanishing", "exploding")]
    if problems:
        first = problems[0]
        text += f" — {titles.get(first.node_id, first.node_id)}: {HEALTH_WORDS[grad_health(first.grad_norm)]}"
    dead = [n for n in nodes if n.dead_fraction]
    if dead:
        worst = max(dead, key=lambda n: n.dead_fraction)
        text += f" · dead ReLU units: up to {worst.dead_fraction:.0%} ({titles.get(worst.node_id, worst.node_id)})"
    return text
