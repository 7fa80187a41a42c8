"""The GAN tab: two networks that compete, watched live.

Left, the discriminator's and the generator's losses and, below, the
discriminator's accuracy on real and on generated samples (a discriminator that
wins has both near 100%, the generator's loss climbing; at balance both hover
around 50-75%). Right, what the generator makes from the run's fixed noise,
redrawn about twice a second: a grid of images, or for 2-D data its points
(orange) over real ones (grey), where mode collapse shows as points piling onto a
few clusters. The line below says the step counts, the modes covered (2-D
mixtures) and a collapse, with what to try.

The trainer is :class:`~layerloom.backend.training.gan.GanTrainer`; its ``gan`` and
``gan_samples`` events reach this view through the run's
:class:`~layerloom.gui.training.views.gan_record.GanRecord`.
"""

from __future__ import annotations

from collections.abc import Set

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF
from PySide6.QtWidgets import QWidget

from layerloom.gui.training.runs.run_record import Run
from layerloom.gui.training.views import plot_style as ps
from layerloom.gui.training.views.image_grid import grid_image, show_grid
from layerloom.gui.training.views.view_header import lay_out_view

COLOURS = {"d_loss": "#2563eb", "g_loss": "#ea580c", "real_accuracy": "#16a34a",
           "fake_accuracy": "#dc2626"}
NAMES = {"d_loss": "discriminator", "g_loss": "generator", "real_accuracy": "on real",
         "fake_accuracy": "on generated"}
REAL_COLOUR = (148, 163, 184, 150)
FAKE_COLOUR = (234, 88, 12, 200)
IDLE_NOTE = ("This tab shows GAN runs: set the training task to gan (More), or open the gan_mixture "
             "or dcgan_digits template")


class GanView(QWidget):
    """The GAN tab (objectName ``ganView``)."""

    title = "GAN"

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("ganView")
        self.run: Run | None = None
        self._samples_drawn = None
        self._framed = None
        self.plots = ps.graphics_widget(self)
        self.loss_plot = ps.style_plot(self.plots.addPlot(row=0, col=0), "Losses", "loss")
        self.acc_plot = ps.style_plot(self.plots.addPlot(row=1, col=0), "Discriminator accuracy",
                                      "accuracy", "step")
        self.sample_plot = ps.style_plot(self.plots.addPlot(row=0, col=1, rowspan=2),
                                         "Generated from fixed noise")
        self.plots.ci.layout.setColumnStretchFactor(0, 1)
        self.plots.ci.layout.setColumnStretchFactor(1, 1)
        self.curves = {}
        for plot, title, names in ((self.loss_plot, "Losses", ("d_loss", "g_loss")),
                                   (self.acc_plot, "Discriminator accuracy", ("real_accuracy", "fake_accuracy"))):
            keys = " · ".join(f"<span style='color:{COLOURS[n]}'>{NAMES[n]}</span>" for n in names)
            plot.setTitle(f"{title}: {keys}", color=ps.FOREGROUND, size="9pt")  # the legend, off the curves
            for name in names:
                self.curves[name] = item = ps.curve(COLOURS[name], name=NAMES[name])
                plot.addItem(item)
        self.acc_plot.addItem(pg.InfiniteLine(0.5, angle=0, pen=ps.pen("#94a3b8", 1, dash=True)))
        self.acc_plot.setYRange(0, 1.02, padding=0)
        self.image = grid_image(self.sample_plot)
        self.real_points = pg.ScatterPlotItem(size=4, pen=pg.mkPen(None), brush=pg.mkBrush(*REAL_COLOUR))
        self.fake_points = pg.ScatterPlotItem(size=5, pen=pg.mkPen(None), brush=pg.mkBrush(*FAKE_COLOUR))
        for item in (self.real_points, self.fake_points):
            self.sample_plot.addItem(item)
        self.note = ps.steady_label(IDLE_NOTE, 2, "ganNote")
        lay_out_view(self, None, self.plots, self.note)

    # ------------------------------------------------------------ LiveView
    def set_run(self, run: Run | None) -> None:
        self.run = run
        self._samples_drawn = None
        self._framed = None
        for item in self.curves.values():
            item.setData([], [])
        self.image.clear()
        self.real_points.setData([], [])
        self.fake_points.setData([], [])
        self.refresh()

    def refresh(self, changed: Set[str] | None = None, full: bool = False) -> None:
        run = self.run
        record = run.gan if run is not None else None
        if record is None:
            self.note.setText(IDLE_NOTE if run is None or run.training.get("task") != "gan"
                              else "Preparing the GAN run…")
            return
        if changed is None or full or "gan" in changed:
            self._draw_curves(record)
        if record.samples is not None and record.samples is not self._samples_drawn:
            self._samples_drawn = record.samples
            self._draw_samples(record.samples)
        self.note.setText(self._summary(run, record))

    # ---------------------------------------------------------------- draw
    def _draw_curves(self, record) -> None:
        xs = []
        losses = []
        for name, item in self.curves.items():
            x, y = record.curves[name].arrays()
            item.setData(x, y)
            xs.append(x)
            if name.endswith("loss"):
                losses.append(y[np.isfinite(y)])
        x = np.concatenate(xs) if xs else np.empty(0)
        if not len(x):
            return
        x_range = (float(x.min()), float(max(x.max(), x.min() + 1)))
        values = np.concatenate(losses) if losses else np.empty(0)
        y_range = (float(min(values.min(), 0.0)), float(values.max())) if len(values) else None
        ps.fit_if_needed(self.loss_plot, x_range, y_range)
        ps.fit_if_needed(self.acc_plot, x_range, None)

    def _draw_samples(self, event) -> None:
        from layerloom.backend.training.gan_images import image_grid

        samples = event.array()
        plot = self.sample_plot
        if tuple(event.shape) == (2,):
            self.image.clear()
            real = np.asarray(event.real, np.float32).reshape(-1, 2)
            self.real_points.setData(real[:, 0], real[:, 1])
            self.fake_points.setData(samples[:, 0], samples[:, 1])
            plot.showAxis("left")
            plot.showAxis("bottom")
            plot.setAspectLocked(True)
            frame = real if len(real) else samples
            lo, hi = frame.min(axis=0), frame.max(axis=0)
            pad = 0.15 * float((hi - lo).max() or 1.0)
            self._frame(plot, (float(lo[0]) - pad, float(hi[0]) + pad),
                        (float(lo[1]) - pad, float(hi[1]) + pad))
            return
        self.real_points.setData([], [])
        self.fake_points.setData([], [])
        images = samples if samples.ndim == 4 else samples.reshape(len(samples), 1, *samples.shape[1:])
        if images.ndim != 4:
            return
        grid = image_grid(images, cell=1)[::-1]  # row 0 at the top of the plot
        h, w = grid.shape[:2]
        show_grid(self.image, grid, QRectF(0, 0, w, h))
        plot.setAspectLocked(True)
        plot.hideAxis("left")
        plot.hideAxis("bottom")
        self._frame(plot, (0.0, float(w)), (0.0, float(h)))

    def _frame(self, plot, x_range, y_range) -> None:
        """Frame the samples once per run (the real points and the grid keep their
        place), so the user may zoom in and stay there."""
        if self._framed is not self.run:
            self._framed = self.run
            plot.setRange(xRange=x_range, yRange=y_range, padding=0)

    def _summary(self, run: Run, record) -> str:
        parts = []
        latest = record.latest
        if latest is not None:
            parts.append(f"step {latest.step:,}: discriminator steps {latest.d_steps:,}, generator "
                         f"steps {latest.g_steps:,}; losses D {latest.d_loss:.3f}, G {latest.g_loss:.3f}")
        covered = run.metrics.get("modes_covered")
        last = covered.last() if covered is not None else None
        if last is not None:
            modes = run.dataset.get("options", {}).get("modes", 8)
            parts.append(f"modes covered {int(last[1])} of {modes}")
        if record.samples is not None:
            parts.append(f"samples after epoch {record.samples.epoch}")
        collapse = next((n for n in run.notes if "collapsed" in n), None)
        text = " · ".join(parts)
        return f"{collapse}" if collapse else text
