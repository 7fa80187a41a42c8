"""Shared look and range handling of the training plots (pyqtgraph).

Measured on small models: letting pyqtgraph auto-range on every redraw makes a
redraw about four times as expensive, and antialiased long curves cost far more
than they show. So every plot here keeps pyqtgraph's auto-range off and
:class:`RangeFollower` fits the view to the data at most once a second; once the
user pans or zooms a plot it stops following until they double-click it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import pyqtgraph as pg
from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QFrame, QGraphicsItem

from layerloom.gui.training.views.gil import gui_first
from layerloom.gui.training.views.labels import steady_label  # noqa: F401  (the views take it from here)

RANGE_INTERVAL = 1.0  # seconds between two automatic fits of a plot
BACKGROUND = "#ffffff"
FOREGROUND = "#334155"
GRID_ALPHA = 0.15
DOWNSAMPLE_PER_PIXEL = 1.0  # peak-downsampled groups per pixel column of a thin curve ...
THICK_DOWNSAMPLE_PER_PIXEL = 0.25  # ... and of a curve drawn wider than one pixel

Bounds = tuple[tuple[float, float] | None, tuple[float, float] | None]


def pen(colour: str | QColor, width: float = 1.5, alpha: int = 255, dash: bool = False):
    c = QColor(colour)
    c.setAlpha(alpha)
    p = pg.mkPen(c, width=width)
    if dash:
        from PySide6.QtCore import Qt

        p.setStyle(Qt.PenStyle.DashLine)
    p.setCosmetic(True)
    return p


def style_plot(plot: pg.PlotItem, title: str = "", left: str = "", bottom: str = "") -> pg.PlotItem:
    """White background style, light horizontal grid, labels; no auto-range, no
    'A' button.

    Axes (which also draw the grid, across the whole plot) are cached as pixmaps:
    without the cache every curve update repaints their text, which costs more
    than the curves themselves. They are re-rendered only when the range changes.
    An axis with grid lines caches a pixmap of the whole plot, blended again at
    every repaint of a curve; horizontal lines alone (the ones that help read a
    value off a curve) halve that, about a sixth of a frame's cost measured on
    the loss plot.
    """
    for name in ("left", "bottom", "right", "top"):
        axis = plot.getAxis(name)
        axis.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        axis.enableAutoSIPrefix(False)
    if title:
        plot.setTitle(title, color=FOREGROUND, size="9pt")
    for name, text in (("left", left), ("bottom", bottom)):
        axis = plot.getAxis(name)
        axis.setPen(pg.mkPen("#94a3b8"))
        axis.setTextPen(pg.mkPen(FOREGROUND))
        if text:
            plot.setLabel(name, text, color=FOREGROUND, **{"font-size": "8pt"})
    plot.showGrid(x=False, y=True, alpha=GRID_ALPHA)
    plot.disableAutoRange()
    plot.hideButtons()
    plot.setMenuEnabled(False)
    return plot


class PlotArea(pg.GraphicsLayoutWidget):
    """A pyqtgraph layout widget whose repaints run as one piece (:func:`gui_first`)."""

    def paintEvent(self, event) -> None:
        with gui_first():
            super().paintEvent(event)


def graphics_widget(parent=None) -> pg.GraphicsLayoutWidget:
    widget = PlotArea(parent)
    widget.setBackground(BACKGROUND)
    # the plot fills every pixel of its viewport: without saying so, each redraw of
    # a curve first repaints the tab page and frames beneath it
    widget.viewport().setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
    widget.setFrameShape(QFrame.Shape.NoFrame)
    widget.ci.layout.setContentsMargins(2, 2, 2, 2)
    widget.ci.layout.setSpacing(4)
    return widget


class LiveCurve(pg.PlotDataItem):
    """A curve for long, live data that keeps its own downsampling and clipping.

    ``PlotItem.addItem`` (and the plot's context menu) hand every curve the
    plot's settings, which are "no downsampling, no clipping"; a live curve keeps
    auto-downsampling with its method and clipping to the view whatever the plot
    says.
    """

    def __init__(self, method: str, factor: float, **kwargs):
        self._method = method
        super().__init__(**kwargs)
        self.opts["autoDownsampleFactor"] = factor
        self.setDownsampling()
        self.setClipToView(True)

    def setDownsampling(self, ds=None, auto=None, method=None) -> None:  # noqa: N802 (Qt naming)
        super().setDownsampling(1, True, self._method)

    def setClipToView(self, state) -> None:  # noqa: N802
        super().setClipToView(True)


def curve(colour: str, width: float = 1.5, alpha: int = 255, dash: bool = False,
          name: str | None = None, symbol: str | None = None, smooth: bool = False) -> LiveCurve:
    """A curve item set up for long, live data: downsampled to the view's width,
    clipped to the visible x range, no antialiasing, gaps at NaN.

    Peak downsampling keeps each pixel column's lowest and highest value, so one
    group per pixel (:data:`DOWNSAMPLE_PER_PIXEL`) draws the same envelope as
    the full curve; pyqtgraph's default of five groups per pixel draws up to ten
    points per column, which costs several times as much for no visible gain.

    A pen wider than one pixel is stroked segment by segment, about twenty times
    the cost of a thin line: measured on a 1,000-pixel loss plot, a 2-pixel curve
    of 10,000 steps took 8.5 ms of the GUI thread per frame, four times everything
    else in the frame together. Wide curves therefore get one group per four
    pixels (:data:`THICK_DOWNSAMPLE_PER_PIXEL`), and the line looks the same. A
    ``smooth`` curve (a moving average, a learning-rate schedule) is averaged per
    group; others keep their peaks.
    """
    kwargs = {}
    if symbol:
        kwargs.update(symbol=symbol, symbolSize=5, symbolBrush=QColor(colour),
                      symbolPen=pg.mkPen(QColor(colour)))
    return LiveCurve("mean" if smooth else "peak",
                     THICK_DOWNSAMPLE_PER_PIXEL if width > 1.0 else DOWNSAMPLE_PER_PIXEL,
                     pen=pen(colour, width, alpha, dash), name=name, antialias=False,
                     connect="finite", skipFiniteCheck=False, **kwargs)


class RangeFollower(QObject):
    """Fits a plot to its data at most once a second, until the user takes over.

    Parameters
    ----------
    plot : pg.PlotItem
    bounds : callable
        Returns ``((xmin, xmax) or None, (ymin, ymax) or None)`` in data units
        (plain, not logarithmic; ``log_y`` converts).
    x_end : callable, optional
        Returns the x the data will grow to (the run's last step) while it grows,
        else ``None``: see :func:`x_view_end`.
    """

    def __init__(self, plot: pg.PlotItem, bounds: Callable[[], Bounds], parent: QObject | None = None,
                 x_end: Callable[[], float | None] | None = None):
        super().__init__(parent)
        self.plot = plot
        self.bounds = bounds
        self.x_end = x_end
        self.following = True
        self.log_y = False
        self._last = -math.inf
        self._setting = False
        plot.getViewBox().sigRangeChangedManually.connect(self._user_moved)
        plot.scene().sigMouseClicked.connect(self._clicked)

    def _user_moved(self, *_args) -> None:
        if not self._setting:
            self.following = False

    def _clicked(self, event) -> None:
        if event.double() and self.plot.sceneBoundingRect().contains(event.scenePos()):
            self.follow()

    def follow(self) -> None:
        """Fit now and keep following the data."""
        self.following = True
        self.update(force=True)

    def update(self, force: bool = False, now: float | None = None) -> bool:
        """Fit when following and a second has passed (or ``force``); True if the
        view changed.

        The view moves only when the data leaves it or fills too little of it:
        each move re-renders the axes, so a view that follows every new point
        would cost a full redraw a second for each plot. Growing data gets room
        to grow into (:func:`x_view_end`).
        """
        now = time.monotonic() if now is None else now
        if not self.following or (not force and now - self._last < RANGE_INTERVAL):
            return False
        self._last = now
        xr, yr = self.bounds()
        if yr is not None and self.log_y:
            lo, hi = yr
            yr = (math.log10(lo), math.log10(hi)) if lo > 0 and hi > 0 else None
        vb = self.plot.getViewBox()
        vy0, vy1 = vb.viewRange()[1]
        moved = False
        self._setting = True
        try:
            if xr is not None:
                end = self.x_end() if self.x_end is not None else None
                moved = _fit_x(vb, xr, end, padding=0.02, force=force)
            if yr is not None:
                lo, hi = _widen(*yr)
                if force or not _covers(vy0, vy1, lo, hi):
                    vb.setYRange(lo, hi, padding=0.06)
                    moved = True
        finally:
            self._setting = False
        return moved


X_GROWTH = 2.0  # growing data: the view's width is this many times the data's ...
X_FILL = 0.2  # ... and it moves once the data leaves it (or fills less than this share)


def x_view_end(lo: float, hi: float, end: float | None) -> float:
    """Where the x view ends for data from ``lo`` to ``hi`` that grows to ``end``.

    Data that grows (the steps of a run going on) gets a view twice its width, and
    the whole run once it covers a quarter of it (its next doubling would come
    close to the end): the axes are re-rendered a handful of times over a run (at
    each doubling) instead of every second, and from half-way at the latest the
    view is the whole run, so the curve fills it like a progress bar. Data that
    no longer grows (``end`` None) gets the view it fills.
    """
    if end is None:
        return hi
    if lo + 2 * X_GROWTH * (hi - lo) >= end:
        return max(end, hi)
    return lo + X_GROWTH * (hi - lo)


def fit_if_needed(plot: pg.PlotItem, x_range=None, y_range=None, padding: float = 0.02,
                  x_end: float | None = None, settle: bool = False) -> bool:
    """Set the view to these ranges only when the data left the view or fill too
    little of it (a range change re-renders the axes). ``x_end``: where growing
    x data will end (see :func:`x_view_end`); ``settle``: the data has stopped
    growing (a run ended early), so the x view fits it closely."""
    vb = plot.getViewBox()
    vy0, vy1 = vb.viewRange()[1]
    moved = x_range is not None and _fit_x(vb, x_range, x_end, padding, settle=settle)
    if y_range is not None and not _covers(vy0, vy1, *_widen(*y_range)):
        vb.setYRange(*_widen(*y_range), padding=padding)
        moved = True
    return moved


def scatter_by_class(items: list, plot: pg.PlotItem, x, y, labels, colour, size: float = 6,
                     outline: str | None = "#ffffff") -> list:
    """Points coloured by class, one scatter item per class: a single brush per
    item draws far faster than one brush per point. Returns the items (pass them
    back on the next call to replace them)."""
    import numpy as np

    for item in items:
        plot.removeItem(item)
    out = []
    if not len(labels):
        return out
    labels = np.asarray(labels).reshape(len(labels), -1)[:, 0].astype(int)
    for c in np.unique(labels):
        mask = labels == c
        item = pg.ScatterPlotItem(x=np.asarray(x)[mask], y=np.asarray(y)[mask], size=size,
                                  brush=pg.mkBrush(colour(int(c))),
                                  pen=pg.mkPen(outline, width=0.8) if outline else pg.mkPen(None))
        plot.addItem(item)
        out.append(item)
    return out


def _fit_x(vb, x_range: tuple[float, float], end: float | None, padding: float, force: bool = False,
           settle: bool = False) -> bool:
    """Move the x view to ``x_range`` (growing to ``end``) when forced, when the data
    left it or when it fills too little of it; True if it moved."""
    lo, hi = _widen(*x_range)
    vx0, vx1 = vb.viewRange()[0]
    fill = 0.9 if settle else X_FILL if end is not None else 0.5
    if not force and _covers(vx0, vx1, lo, hi, fill):
        return False
    vb.setXRange(lo, x_view_end(lo, hi, end), padding=padding)
    return True


def _widen(lo: float, hi: float) -> tuple[float, float]:
    """A range with some extent, even for a single value."""
    if hi > lo:
        return lo, hi
    span = abs(lo) * 0.1 or 0.5
    return lo - span, hi + span


def _covers(v0: float, v1: float, lo: float, hi: float, fill: float = 0.5) -> bool:
    """The view ``v0..v1`` holds ``lo..hi`` and the data fill at least ``fill`` of it."""
    return v0 <= lo and hi <= v1 and (hi - lo) >= fill * (v1 - v0)
