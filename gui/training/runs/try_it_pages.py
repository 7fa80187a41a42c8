"""The result pages of Try it for tasks that bars cannot show.

- :class:`ForecastPage`: a model that reads a window of a signal and predicts
  what comes next (the sine LSTM): the window, then the forecast and the true
  continuation drawn after it on the same time axis.
- :class:`ReconstructionPage`: an autoencoder (target: the input itself): the
  input image next to the image the model rebuilds, with the error.
- :class:`TokensPage`: a sequence-to-sequence model of tokens (the sort
  Transformer): the input, predicted and true token sequences aligned, the
  predicted tokens green where right and red where wrong.

Each page's ``show`` draws one sample and returns what it showed.
"""

from __future__ import annotations

import html

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QGridLayout, QLabel, QVBoxLayout, QWidget

from layerloom.gui.training.views import plot_style as ps

RIGHT, WRONG, TRUE = "#16a34a", "#dc2626", "#64748b"
IMAGE_SIZE = 140


def is_forecast(data) -> bool:
    """Float windows ``(T, F)`` in, a few values out: a forecast."""
    return (data.task == "regression" and data.input_dtype == "float" and len(data.input_shape) == 2
            and int(np.prod(data.target_shape)) <= data.input_shape[0])


def is_reconstruction(data) -> bool:
    """An image in, the same number of values out: an autoencoder."""
    return (data.task == "regression" and len(data.input_shape) == 3
            and int(np.prod(data.target_shape)) == int(np.prod(data.input_shape)))


class ForecastPage(QWidget):
    """The window and what follows it (objectName ``tryForecast``)."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("tryForecast")
        self.plots = ps.graphics_widget()
        self.plot = ps.style_plot(self.plots.addPlot(), "Forecast", "value", "time step")
        self.plot.addLegend(offset=(8, 8))
        self.window_curve = ps.curve("#2563eb", 1.5)
        self.window_curve.opts["name"] = "input window"
        self.plot.addItem(self.window_curve)
        self.plot.legend.addItem(self.window_curve, "input window")
        self.true_points = pg.ScatterPlotItem(size=9, brush=pg.mkBrush(TRUE), pen=None, name="true next value(s)")
        self.predicted_points = pg.ScatterPlotItem(size=11, brush=pg.mkBrush("#f97316"), pen=None, symbol="d",
                                                   name="forecast")
        for item in (self.true_points, self.predicted_points):
            self.plot.addItem(item)
        self.plot.legend.addItem(self.true_points, "true next value(s)")
        self.plot.legend.addItem(self.predicted_points, "forecast")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plots)

    def show(self, x: np.ndarray, predicted: np.ndarray, true: np.ndarray) -> dict:
        window = np.asarray(x, np.float64)[:, 0]
        t = len(window)
        predicted = np.asarray(predicted, np.float64).reshape(-1)
        true = np.asarray(true, np.float64).reshape(-1)
        after = np.arange(t, t + len(predicted))
        self.window_curve.setData(np.arange(t), window)
        self.true_points.setData(after, true)
        self.predicted_points.setData(after, predicted)
        values = np.concatenate([window, predicted, true])
        lo, hi = float(values.min()), float(values.max())
        pad = (hi - lo) * 0.1 or 0.5
        self.plot.getViewBox().setRange(xRange=(-0.5, t + len(predicted) + 0.5), yRange=(lo - pad, hi + pad),
                                        padding=0)
        return {"window": window, "predicted": predicted, "true": true, "at": after}


class ReconstructionPage(QWidget):
    """Input and reconstruction side by side (objectName ``tryReconstruction``)."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("tryReconstruction")
        self.original, self.rebuilt = QLabel(), QLabel()
        self.original.setObjectName("tryOriginal")
        self.rebuilt.setObjectName("tryRebuilt")
        grid = QGridLayout(self)
        for column, (title, picture) in enumerate((("Input", self.original), ("Reconstruction", self.rebuilt))):
            picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
            heading = QLabel(title)
            heading.setAlignment(Qt.AlignmentFlag.AlignCenter)
            grid.addWidget(heading, 1, column)
            grid.addWidget(picture, 2, column)
        grid.setRowStretch(0, 1)
        grid.setRowStretch(3, 1)

    def show(self, x: np.ndarray, predicted: np.ndarray) -> dict:
        image = np.asarray(x, np.float64)
        rebuilt = np.asarray(predicted, np.float64).reshape(image.shape)
        lo, hi = float(image.min()), float(image.max())  # one scale for both: comparable greys
        self.original.setPixmap(picture(image, lo, hi))
        self.rebuilt.setPixmap(picture(rebuilt, lo, hi))
        return {"input": image, "reconstruction": rebuilt, "mse": float(np.mean((rebuilt - image) ** 2))}


def picture(image: np.ndarray, lo: float, hi: float, size: int = IMAGE_SIZE) -> QPixmap:
    """A ``(C, H, W)`` image on the grey scale ``lo``..``hi`` (RGB for 3 channels), so
    that two images drawn with the same scale compare pixel for pixel."""
    a = image[0] if image.shape[0] != 3 else np.moveaxis(image, 0, -1)
    data = np.ascontiguousarray((np.clip((a - lo) / ((hi - lo) or 1.0), 0, 1) * 255).astype(np.uint8))
    h, w = data.shape[:2]
    if data.ndim == 3:
        qimage = QImage(data.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
    else:
        qimage = QImage(data.data, w, h, w, QImage.Format.Format_Grayscale8).copy()
    return QPixmap.fromImage(qimage).scaled(size, size, Qt.AspectRatioMode.KeepAspectRatio,
                                            Qt.TransformationMode.FastTransformation)


class TokensPage(QWidget):
    """Input, predicted and true tokens in aligned rows (objectName ``tryTokens``)."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("tryTokens")
        self.table = QLabel()
        self.table.setObjectName("tryTokenTable")
        self.table.setTextFormat(Qt.TextFormat.RichText)
        self.table.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.table.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
        layout.addStretch(1)

    def show(self, names: list[str], inputs, predicted, true) -> dict:
        predicted, true = np.asarray(predicted).reshape(-1), np.asarray(true).reshape(-1)
        inputs = np.asarray(inputs).reshape(-1)

        def cells(values, colours=None) -> str:
            out = []
            for k, v in enumerate(values):
                colour = colours[k] if colours is not None else "#1e293b"
                text = html.escape(names[int(v)] if 0 <= int(v) < len(names) else str(int(v)))
                out.append(f'<td align="center" style="color: {colour}; padding: 2px 6px">{text}</td>')
            return "".join(out)

        right = predicted == true
        rows = [("Input", cells(inputs)),
                ("Predicted", cells(predicted, [RIGHT if r else WRONG for r in right])),
                ("True", cells(true, [TRUE] * len(true)))]
        body = "".join(f'<tr><td style="padding-right: 10px"><b>{title}</b></td>{row}</tr>' for title, row in rows)
        self.table.setText(f'<table style="font-family: monospace; font-size: 13pt">{body}</table>')
        return {"predicted": predicted, "true": true, "right": int(right.sum())}
