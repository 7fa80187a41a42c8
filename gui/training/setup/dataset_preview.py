"""A glimpse of the chosen dataset: a few rows, a few images (with their masks for
a segmentation), or a 2-D scatter, with its shapes.

Fed with a loaded :class:`~layerloom.backend.datasets.Dataset` (loaded off the GUI thread by
the set-up panel); uses the dataset's own ``preview()`` so the command line and
the app describe data the same way.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QImage, QPixmap
from PySide6.QtWidgets import (
    QGridLayout,
    QHeaderView,
    QLabel,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from layerloom.gui.training.views import plot_style as ps
from layerloom.gui.training.views.boundary_view import class_colour

PREVIEW_ROWS = 5
PREVIEW_IMAGES = 6
SCATTER_POINTS = 500
THUMB = 56
MASK_BACKGROUND = "#1e293b"  # class 0 of a mask; classes 1.. take the class colours


def to_qimage(x: np.ndarray) -> QImage:
    """A ``(C, H, W)`` or ``(H, W)`` float array as an 8-bit image, min-max scaled
    (grey for one channel, RGB for three)."""
    a = np.asarray(x, np.float64)
    if a.ndim == 3 and a.shape[0] in (1, 3):
        a = a[0] if a.shape[0] == 1 else np.moveaxis(a, 0, -1)
    elif a.ndim == 3:
        a = a[0]
    lo, hi = float(np.min(a)), float(np.max(a))
    a = (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)
    data = np.ascontiguousarray((a * 255).astype(np.uint8))
    if data.ndim == 3:
        h, w, _ = data.shape
        image = QImage(data.data, w, h, 3 * w, QImage.Format.Format_RGB888)
    else:
        h, w = data.shape
        image = QImage(data.data, w, h, w, QImage.Format.Format_Grayscale8)
    return image.copy()  # own the pixels: `data` goes away


def thumbnail(x: np.ndarray, size: int = THUMB) -> QPixmap:
    return QPixmap.fromImage(to_qimage(x)).scaled(
        size, size, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.FastTransformation)


def mask_colours(classes: int) -> np.ndarray:
    """``(classes, 3)`` uint8 colours of a mask's classes: background dark, then the
    class colours in order (class 1 takes the first)."""
    colours = [QColor(MASK_BACKGROUND), *(class_colour(c) for c in range(max(classes - 1, 0)))]
    return np.array([c.getRgb()[:3] for c in colours], np.uint8)


def mask_qimage(mask: np.ndarray, classes: int) -> QImage:
    """An ``(H, W)`` mask of class ids as an RGB image, one colour per class."""
    rgb = np.ascontiguousarray(mask_colours(classes)[np.clip(np.asarray(mask, np.int64), 0, classes - 1)])
    h, w, _ = rgb.shape
    return QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


def mask_thumbnail(mask: np.ndarray, classes: int, size: int = THUMB) -> QPixmap:
    return QPixmap.fromImage(mask_qimage(mask, classes)).scaled(
        size, size, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.FastTransformation)


class DatasetPreview(QWidget):
    """The preview box of the set-up panel (objectName ``datasetPreview``)."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("datasetPreview")
        self.kind = ""
        self.summary = QLabel("No dataset chosen")
        self.summary.setObjectName("datasetSummary")
        self.summary.setWordWrap(True)
        self.stack = QStackedWidget()
        self.empty = QLabel("")
        self.table = QTableWidget()
        self.table.setObjectName("datasetPreviewTable")
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.images = QWidget()
        self.images_grid = QGridLayout(self.images)
        self.images_grid.setContentsMargins(0, 0, 0, 0)
        self.plots = ps.graphics_widget()
        self.plot = ps.style_plot(self.plots.addPlot())
        self.plot.hideAxis("left")
        self.plot.hideAxis("bottom")
        self.scatter: list = []
        for page in (self.empty, self.table, self.images, self.plots):
            self.stack.addWidget(page)
        self.stack.setFixedHeight(150)
        self.stack.setMinimumWidth(120)
        self.plots.setMinimumWidth(100)
        self.table.setMinimumWidth(100)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.summary)
        layout.addWidget(self.stack)

    def show_message(self, text: str) -> None:
        """No data to show: ``text`` says why (loading, an error)."""
        self.kind = ""
        self.summary.setText(text)
        self.stack.setCurrentWidget(self.empty)

    def show_dataset(self, dataset) -> None:
        """Preview ``dataset``: its summary, shapes and a few samples."""
        preview = dataset.preview(PREVIEW_IMAGES if len(dataset.input_shape) == 3 else PREVIEW_ROWS)
        target = {"classification": "class label",
                  "segmentation": f"mask {tuple(dataset.target_shape)} of {dataset.num_classes} classes"
                  }.get(dataset.task, f"target {tuple(dataset.target_shape)}")
        self.summary.setText(f"{preview['summary']}\ninput {tuple(dataset.input_shape)} {dataset.input_dtype} "
                             f"→ {target}")
        if tuple(dataset.input_shape) == (2,) and dataset.input_dtype == "float":
            self._scatter(dataset)
        elif preview["kind"] == "image":
            self._images(preview["samples"], dataset.num_classes if dataset.task == "segmentation" else None)
        else:
            self._table(preview["columns"], preview["rows"])
        self.kind = "scatter" if self.stack.currentWidget() is self.plots else preview["kind"]

    def _scatter(self, dataset) -> None:
        pick = np.random.default_rng(0).permutation(len(dataset))[:SCATTER_POINTS]
        x, y = dataset.x[pick], dataset.y[pick]
        labels = y if dataset.task == "classification" else np.zeros(len(pick), int)
        self.scatter = ps.scatter_by_class(self.scatter, self.plot, x[:, 0], x[:, 1], labels, class_colour,
                                           size=4, outline=None)
        self.plot.getViewBox().autoRange(padding=0.05)
        self.stack.setCurrentWidget(self.plots)

    def _images(self, samples: list[dict], mask_classes: int | None = None) -> None:
        """Thumbnails with their labels; with ``mask_classes`` (a segmentation) each
        image's mask below it, and its label as the tooltip."""
        while self.images_grid.count():
            widget = self.images_grid.takeAt(0).widget()
            if widget is not None:
                widget.deleteLater()
        for i, sample in enumerate(samples):
            picture = QLabel()
            picture.setPixmap(thumbnail(sample["x"]))
            picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
            self.images_grid.addWidget(picture, 0, i)
            if mask_classes is not None:
                mask = QLabel()
                mask.setObjectName("previewMask")
                mask.setPixmap(mask_thumbnail(sample["y"], mask_classes))
                mask.setAlignment(Qt.AlignmentFlag.AlignCenter)
                for widget in (picture, mask):
                    widget.setToolTip(f"Sample {i}: {sample['label']}")
                self.images_grid.addWidget(mask, 1, i)
                continue
            caption = QLabel(str(sample["label"]))
            caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
            self.images_grid.addWidget(caption, 1, i)
        self.stack.setCurrentWidget(self.images)

    def _table(self, columns: list[str], rows: list[list]) -> None:
        self.table.clear()
        self.table.setColumnCount(len(columns))
        self.table.setRowCount(len(rows))
        self.table.setHorizontalHeaderLabels([str(c) for c in columns])
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                self.table.setItem(r, c, QTableWidgetItem(str(value)))
        self.stack.setCurrentWidget(self.table)
