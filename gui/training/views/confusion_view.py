"""Confusion matrix on the validation set, refreshed at the end of every epoch.

Rows are the true classes, columns the predicted ones; a cell's shade is the share
of its row (the recall of that class), and its text the count (for up to
:data:`MAX_TEXT_CLASSES` classes, beyond which the numbers would not fit).
"""

from __future__ import annotations

import time
from collections.abc import Set

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF
from PySide6.QtWidgets import QVBoxLayout, QWidget

from layerloom.gui.training.runs.run_record import Run
from layerloom.gui.training.views import plot_style as ps

MAX_TEXT_CLASSES = 12
REDRAW_INTERVAL = 0.5  # seconds
MAX_TICK_CHARS = 10


def _lut() -> np.ndarray:
    stops = np.array([[255, 255, 255], [219, 234, 254], [96, 165, 250], [29, 78, 216]], float)
    t = np.linspace(0, 1, 256)
    pos = np.linspace(0, 1, len(stops))
    return np.stack([np.interp(t, pos, stops[:, c]) for c in range(3)], axis=1).astype(np.uint8)


class ConfusionView(QWidget):
    """The Confusion tab (objectName ``confusionView``)."""

    title = "Confusion"

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("confusionView")
        self.run: Run | None = None
        self._drawn = None
        self._last = -1.0
        self._ticks: list | None = None
        self._range: int | None = None
        self.matrix: np.ndarray | None = None
        self.plots = ps.graphics_widget(self)
        self.plot = ps.style_plot(self.plots.addPlot(), "Confusion matrix (validation)", "true class",
                                  "predicted class")
        self.plot.getViewBox().invertY(True)
        self.plot.setAspectLocked(True)
        self.plot.showGrid(x=False, y=False)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.image.setLookupTable(_lut())
        self.plot.addItem(self.image)
        self._texts: list[pg.TextItem] = []
        self.note = ps.steady_label("The confusion matrix appears after the first epoch of a classifier "
                                    "(or a segmentation, counted over pixels) with a validation set", 2, "confusionNote")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 2, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.plots, 1)
        layout.addWidget(self.note)
        self.plots.hide()  # until there is something to draw: never empty axes

    def set_run(self, run: Run | None) -> None:
        self.run = run
        self._drawn = None
        self._range = None
        self.refresh(full=True)

    def refresh(self, changed: Set[str] | None = None, full: bool = False) -> None:
        """Redraw for a new matrix, at most twice a second unless ``full`` or the
        run's status changed (a small model can finish several epochs a second)."""
        force = full or (changed is not None and "status" in changed)
        confusion = self.run.confusion if self.run is not None else None
        self.plots.setVisible(confusion is not None)  # no empty axes: the note says why
        if confusion is None:
            self.note.setText(self._why_none())
        if confusion is self._drawn:
            return
        now = time.monotonic()
        if not force and confusion is not None and now - self._last < REDRAW_INTERVAL:
            return
        self._last = now
        self._drawn = confusion
        n = len(confusion.matrix) if confusion is not None else 0
        if len(self._texts) != (n * n if n <= MAX_TEXT_CLASSES else 0):
            for item in self._texts:
                self.plot.removeItem(item)
            self._texts = []
        if confusion is None:
            self.image.clear()
            self.matrix = None
            return
        matrix = np.asarray(confusion.matrix, np.float64)
        self.matrix = matrix
        n = len(matrix)
        totals = matrix.sum(axis=1, keepdims=True)
        share = np.divide(matrix, totals, out=np.zeros_like(matrix), where=totals > 0)
        self.image.setImage(share, autoLevels=False, levels=(0.0, 1.0))
        self.image.setRect(QRectF(-0.5, -0.5, n, n))
        names = [str(c) for c in confusion.class_names] or [str(i) for i in range(n)]
        ticks = [(i, name if len(name) <= MAX_TICK_CHARS else name[: MAX_TICK_CHARS - 1] + "…")
                 for i, name in enumerate(names)]
        if n <= 30 and ticks != self._ticks:  # new ticks re-render the axes: only when they change
            self._ticks = ticks
            self.plot.getAxis("bottom").setTicks([ticks])
            self.plot.getAxis("left").setTicks([ticks])
        if n <= MAX_TEXT_CLASSES:
            if not self._texts:  # one text per cell, reused from epoch to epoch
                for r in range(n):
                    for c in range(n):
                        text = pg.TextItem(anchor=(0.5, 0.5))
                        text.setPos(c, r)
                        text.shown = None
                        self.plot.addItem(text)
                        self._texts.append(text)
            for i, text in enumerate(self._texts):
                r, c = divmod(i, n)
                colour = "#ffffff" if share[r, c] > 0.6 else "#1e293b"
                # colour through HTML: the ``color`` argument loses to the application's palette
                html = f'<span style="color: {colour}">{int(matrix[r, c])}</span>'
                if text.shown != html:
                    text.setHtml(html)
                    text.shown = html
        if self._range != n:  # an unchanged range would still re-render the axes
            self._range = n
            self.plot.getViewBox().setRange(xRange=(-0.5, n - 0.5), yRange=(-0.5, n - 0.5), padding=0.02)
        total = matrix.sum()
        accuracy = np.trace(matrix) / total if total else 0.0
        worst = int(np.argmin(np.diag(share))) if n else 0
        data = getattr(self.run, "data", None)
        if getattr(data, "task", None) == "segmentation":  # one count per pixel; torch is loaded by now
            from layerloom.backend.training.metrics import mean_iou

            iou = mean_iou(matrix)
            counted = f"{int(total):,} validation pixels · pixel accuracy {accuracy:.1%}" + (
                f" · mean IoU {iou:.2f}" if iou is not None else "")
        else:
            counted = f"{int(total)} validation samples · accuracy {accuracy:.1%}"
        self.note.setText(f"epoch {confusion.epoch} · {counted} · hardest class: {names[worst]} "
                          f"({share[worst, worst]:.0%} right)")

    def _why_none(self) -> str:
        """One line: why there is no matrix (yet)."""
        data = getattr(self.run, "data", None)
        if data is not None and data.task not in ("classification", "segmentation"):
            return (f"The confusion matrix is drawn for classifiers (and segmentations); {data.name} is a "
                    f"{data.task} task")
        if data is not None and not data.val_size:
            return "The confusion matrix is counted on the validation set; this run has none (validation share 0)"
        if self.run is not None and self.run.active:
            return "The confusion matrix appears after the first epoch"
        return ("The confusion matrix appears after the first epoch of a classifier "
                "(or a segmentation, counted over pixels) with a validation set")
