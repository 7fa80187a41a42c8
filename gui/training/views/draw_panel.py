"""The Draw panel: a non-modal window to draw a sample of one's own.

The pad (:class:`~layerloom.gui.training.views.draw_pad.DrawPad`) with its tools:
brush size, ink (grey levels for one channel, colours for three), the eraser,
Clear, Undo (Ctrl+Z in the pad) and "Start from sample" to draw over a validation
sample; beside it the picture at the model's real resolution, as the model sees
it. Every tab whose source is "Drawn sample" follows it as it changes.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from layerloom.gui.qt_util import signals_blocked
from layerloom.gui.training.views.draw_pad import DrawPad

PREVIEW_SIZE = 112
GREYS = (("White (full ink)", 1.0), ("Light grey", 0.66), ("Grey", 0.33))
COLOURS = (("White", (1.0, 1.0, 1.0)), ("Red", (1.0, 0.1, 0.1)), ("Green", (0.1, 0.85, 0.2)),
           ("Blue", (0.15, 0.35, 1.0)), ("Yellow", (1.0, 0.9, 0.1)), ("Grey", (0.5, 0.5, 0.5)))


def preview_pixmap(intensity: np.ndarray, size: int = PREVIEW_SIZE) -> QPixmap:
    """``(C, H, W)`` intensities as a picture, each model pixel a block."""
    values = np.clip(intensity, 0.0, 1.0)
    rgb = np.repeat(values, 3, axis=0) if values.shape[0] == 1 else values[:3]
    pixels = np.ascontiguousarray((rgb.transpose(1, 2, 0) * 255).astype(np.uint8))
    h, w = pixels.shape[:2]
    image = QImage(pixels.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
    return QPixmap.fromImage(image).scaled(size, size, Qt.AspectRatioMode.KeepAspectRatio,
                                           Qt.TransformationMode.FastTransformation)


class DrawPanel(QWidget):
    """The Draw panel (objectName ``drawPanel``), one per :class:`DrawnSource`.

    Signals
    -------
    edited()
        The picture changed.
    """

    edited = Signal()

    def __init__(self, source, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("drawPanel")
        self.setWindowTitle("Draw a sample")
        self.source = source
        self.pad: DrawPad | None = None
        self.brush = QDoubleSpinBox()
        self.brush.setObjectName("drawBrush")
        self.brush.setRange(0.5, 8.0)
        self.brush.setSingleStep(0.5)
        self.brush.setSuffix(" px")
        self.brush.setToolTip("Brush width, in the model's pixels")
        self.ink = QComboBox()
        self.ink.setObjectName("drawInk")
        self.ink.setToolTip("What the brush paints")
        self.eraser = QCheckBox("Eraser")
        self.eraser.setObjectName("drawEraser")
        self.eraser.setToolTip("The left button erases too (the right button always erases)")
        self.clear_button = QPushButton("Clear")
        self.clear_button.setObjectName("drawClear")
        self.clear_button.setToolTip("Blank the picture (Ctrl+Z brings it back)")
        self.undo_button = QPushButton("Undo stroke")
        self.undo_button.setObjectName("drawUndo")
        self.undo_button.setToolTip("Take back the last stroke (Ctrl+Z in the pad)")
        self.start_index = QSpinBox()
        self.start_index.setObjectName("drawStartIndex")
        self.start_index.setToolTip("Index of the validation sample to start from")
        self.start_button = QPushButton("Start from sample")
        self.start_button.setObjectName("drawStartFrom")
        self.start_button.setToolTip("Replace the picture by this validation sample, to draw over it")
        self.preview = QLabel()
        self.preview.setObjectName("drawPreview")
        self.preview.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.preview.setFixedSize(PREVIEW_SIZE + 8, PREVIEW_SIZE + 8)
        self.preview.setToolTip("The picture at the model's resolution: what the model is given")
        self.preview_title = QLabel()
        self.preview_title.setWordWrap(True)
        self.note = QLabel()
        self.note.setObjectName("drawNote")
        self.note.setWordWrap(True)

        tools = QHBoxLayout()
        for label, widget in (("Brush", self.brush), ("Ink", self.ink)):
            tools.addWidget(QLabel(label))
            tools.addWidget(widget)
        tools.addWidget(self.eraser)
        tools.addStretch(1)
        actions = QHBoxLayout()
        for widget in (self.clear_button, self.undo_button):
            actions.addWidget(widget)
        actions.addSpacing(12)
        actions.addWidget(self.start_button)
        actions.addWidget(self.start_index)
        actions.addStretch(1)
        side = QVBoxLayout()
        side.addWidget(self.preview_title)
        side.addWidget(self.preview)
        side.addStretch(1)
        self.grid = QGridLayout(self)
        self.grid.addLayout(tools, 0, 0, 1, 2)
        self.grid.addLayout(side, 1, 1)
        self.grid.addLayout(actions, 2, 0, 1, 2)
        self.grid.addWidget(self.note, 3, 0, 1, 2)
        self.grid.setColumnStretch(0, 1)
        self.grid.setRowStretch(1, 1)
        self.brush.valueChanged.connect(self._tools_changed)
        self.ink.currentIndexChanged.connect(self._tools_changed)
        self.eraser.toggled.connect(self._tools_changed)
        self.clear_button.clicked.connect(lambda: self.pad is not None and self.pad.clear())
        self.undo_button.clicked.connect(lambda: self.pad is not None and self.pad.undo())
        self.start_button.clicked.connect(self.start_from_sample)
        self.resize(460, 400)

    # ------------------------------------------------------------------- api
    def intensity(self) -> np.ndarray | None:
        return self.pad.intensity() if self.pad is not None else None

    def set_shape(self, shape: tuple[int, int, int] | None) -> None:
        """A pad for inputs of ``shape`` (a new blank one when it differs)."""
        if self.pad is not None and self.pad.shape == shape:
            self.set_data(self.source.data)
            return
        if self.pad is not None:
            self.grid.removeWidget(self.pad)
            self.pad.deleteLater()
            self.pad = None
        enabled = shape is not None
        for widget in (self.brush, self.ink, self.eraser, self.clear_button, self.undo_button,
                       self.start_button, self.start_index):
            widget.setEnabled(enabled)
        if shape is None:
            self.preview.clear()
            self.preview_title.setText("")
            self.note.setText(self.source.reason)
            return
        c, h, w = shape
        self.pad = DrawPad(c, h, w)
        self.pad.edited.connect(self._edited)
        self.grid.addWidget(self.pad, 1, 0)
        with signals_blocked(self.ink, self.brush):
            self.ink.clear()
            for name, value in (GREYS if c == 1 else COLOURS):
                self.ink.addItem(name, value)
            self.brush.setValue(self.pad.brush)
        self._tools_changed()
        self.preview_title.setText(f"As the model sees it ({h}x{w}{', colour' if c == 3 else ''})")
        self.note.setText("The Inside, Saliency and Try it tabs whose sample is “Drawn” follow the picture as you draw.")
        self.set_data(self.source.data)
        self._edited()

    def set_data(self, data) -> None:
        n = len(data) if data is not None else 0
        self.start_index.setRange(0, max(0, n - 1))
        self.start_button.setEnabled(self.pad is not None and n > 0)

    def start_from_sample(self, index: int | None = None) -> None:
        """Replace the picture by validation sample ``index`` (default: the field's)."""
        data, ink = self.source.data, self.source.ink
        if self.pad is None or data is None or ink is None or not len(data):
            return
        index = self.start_index.value() if index is None or isinstance(index, bool) else int(index)
        index = max(0, min(index, len(data) - 1))
        self.pad.set_intensity(ink.to_intensity(data.x[index]))

    # --------------------------------------------------------------- internal
    def _tools_changed(self) -> None:
        pad = self.pad
        if pad is None:
            return
        pad.brush = self.brush.value()
        pad.eraser = self.eraser.isChecked()
        value = self.ink.currentData()
        if value is not None:
            pad.ink = np.broadcast_to(np.asarray(value, np.float32), (pad.shape[0],)).copy()

    def _edited(self) -> None:
        pad = self.pad
        if pad is None:
            return
        self.preview.setPixmap(preview_pixmap(pad.intensity()))
        self.undo_button.setEnabled(pad.can_undo)
        self.edited.emit()
