"""The drawing pad: paint a sample of one's own with the mouse on an enlarged grid.

The pad holds a picture of *intensities* in 0..1 per channel (0 background, dark;
1 ink, bright) on a grid finer than the model's input (:func:`fine_factor`: 4 fine
cells per pixel for an 8x8 input, like the 32x32 bitmaps the digits were counted
from); :meth:`DrawPad.intensity` averages each pixel's cells, which gives the grey
edges of a real stroke. Left button paints with the brush (or erases, with the
eraser on), the right button erases; each press to release is one stroke, and
Ctrl+Z in the pad takes back the last one. Grid lines mark the model's pixels.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QEvent, QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QImage, QKeySequence, QPainter, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

MAX_UNDO = 50  # strokes kept for Ctrl+Z
PAD_SIZE = 256  # preferred side in pixels


def fine_factor(height: int, width: int) -> int:
    """Cells per model pixel along each axis: finer for small inputs."""
    side = max(height, width)
    return 4 if side <= 16 else 2 if side <= 40 else 1


class DrawPad(QWidget):
    """The painting grid (objectName ``drawPad``).

    Parameters
    ----------
    channels, height, width
        The model's input ``(C, H, W)``.

    Signals
    -------
    edited()
        The picture changed (a paint step, an undo, a clear or a loaded sample).
    """

    edited = Signal()

    def __init__(self, channels: int, height: int, width: int, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("drawPad")
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(120, 120)
        self.setCursor(Qt.CursorShape.CrossCursor)
        self.setToolTip("Paint with the left button, erase with the right · Ctrl+Z takes back the last stroke")
        self.shape = (channels, height, width)
        self.factor = fine_factor(height, width)
        self.fine = np.zeros((channels, height * self.factor, width * self.factor), np.float32)
        self.brush = max(1.0, round(max(height, width) / 10))  # width in model pixels
        self.ink = np.ones(channels, np.float32)  # the brush's intensity per channel
        self.eraser = False
        self.strokes = 0  # strokes drawn so far (tests)
        self._undo: list[np.ndarray] = []
        self._last: QPointF | None = None
        self._erasing = False

    # ------------------------------------------------------------------- api
    def intensity(self) -> np.ndarray:
        """The picture at the model's resolution, ``(C, H, W)`` in 0..1."""
        c, h, w = self.shape
        f = self.factor
        return self.fine.reshape(c, h, f, w, f).mean(axis=(2, 4))

    def set_intensity(self, values: np.ndarray) -> None:
        """Start from ``values`` (``(C, H, W)`` in 0..1, a real sample): one undoable step."""
        self._remember()
        f = self.factor
        self.fine = np.clip(np.kron(np.asarray(values, np.float32), np.ones((1, f, f), np.float32)),
                            0.0, 1.0).astype(np.float32)
        self._changed()

    def clear(self) -> None:
        """Blank the picture (one undoable step)."""
        if not self.fine.any():
            return
        self._remember()
        self.fine[:] = 0.0
        self._changed()

    def undo(self) -> bool:
        """Take back the last stroke (or clear, or loaded sample); False when none is left."""
        if not self._undo:
            return False
        self.fine = self._undo.pop()
        self._changed()
        return True

    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    def cell_rect(self) -> QRectF:
        """Where the grid lies in the widget (square cells, centred)."""
        _, h, w = self.shape
        side = min(self.width() / w, self.height() / h)
        return QRectF((self.width() - side * w) / 2, (self.height() - side * h) / 2, side * w, side * h)

    def widget_point(self, row: float, column: float) -> QPointF:
        """The widget position of model pixel coordinates (``row + 0.5`` is a pixel's middle)."""
        rect = self.cell_rect()
        _, h, w = self.shape
        return QPointF(rect.left() + column * rect.width() / w, rect.top() + row * rect.height() / h)

    # --------------------------------------------------------------- painting
    def _remember(self) -> None:
        self._undo.append(self.fine.copy())
        del self._undo[:-MAX_UNDO]

    def _changed(self) -> None:
        self.update()
        self.edited.emit()

    def _fine_at(self, pos: QPointF) -> tuple[float, float]:
        rect = self.cell_rect()
        _, fh, fw = self.fine.shape
        return ((pos.y() - rect.top()) / rect.height() * fh, (pos.x() - rect.left()) / rect.width() * fw)

    def _dab(self, row: float, column: float) -> None:
        """Paint (or erase) a soft disc at fine coordinates ``(row, column)``."""
        radius = max(0.5, self.brush * self.factor / 2)
        _, fh, fw = self.fine.shape
        r0, r1 = max(0, int(row - radius - 1)), min(fh, int(row + radius + 2))
        c0, c1 = max(0, int(column - radius - 1)), min(fw, int(column + radius + 2))
        if r0 >= r1 or c0 >= c1:
            return
        yy, xx = np.mgrid[r0:r1, c0:c1]
        distance = np.hypot(yy + 0.5 - row, xx + 0.5 - column)
        cover = np.clip(radius + 0.5 - distance, 0.0, 1.0).astype(np.float32)
        target = np.zeros_like(self.ink) if self._erasing else self.ink
        patch = self.fine[:, r0:r1, c0:c1]
        self.fine[:, r0:r1, c0:c1] = patch + (target[:, None, None] - patch) * cover

    def _stroke_to(self, pos: QPointF) -> None:
        row, column = self._fine_at(pos)
        if self._last is None:
            self._dab(row, column)
        else:
            r0, c0 = self._fine_at(self._last)
            steps = max(1, int(np.ceil(np.hypot(row - r0, column - c0) * 2)))
            for t in np.linspace(0.0, 1.0, steps + 1)[1:]:
                self._dab(r0 + (row - r0) * t, c0 + (column - c0) * t)
        self._last = QPointF(pos)
        self._changed()

    def mousePressEvent(self, event) -> None:
        button = event.button()
        if button not in (Qt.MouseButton.LeftButton, Qt.MouseButton.RightButton):
            return super().mousePressEvent(event)
        self.setFocus(Qt.FocusReason.MouseFocusReason)
        self._erasing = button == Qt.MouseButton.RightButton or self.eraser
        self._remember()
        self._last = None
        self.strokes += 1
        self._stroke_to(event.position())

    def mouseMoveEvent(self, event) -> None:
        if event.buttons() & (Qt.MouseButton.LeftButton | Qt.MouseButton.RightButton) and self._last is not None:
            self._stroke_to(event.position())

    def mouseReleaseEvent(self, event) -> None:
        self._last = None

    def event(self, event) -> bool:
        if event.type() == QEvent.Type.ShortcutOverride and event.matches(QKeySequence.StandardKey.Undo):
            event.accept()  # Ctrl+Z here undoes a stroke, not the graph's last edit
            return True
        return super().event(event)

    def keyPressEvent(self, event) -> None:
        if event.matches(QKeySequence.StandardKey.Undo):
            self.undo()
            return
        super().keyPressEvent(event)

    def sizeHint(self) -> QSize:
        return QSize(PAD_SIZE, PAD_SIZE)

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), self.palette().window())
        rect = self.cell_rect()
        fine = np.clip(self.fine, 0.0, 1.0)
        rgb = np.repeat(fine, 3, axis=0) if fine.shape[0] == 1 else fine[:3]
        pixels = np.ascontiguousarray((rgb.transpose(1, 2, 0) * 255).astype(np.uint8))
        fh, fw = pixels.shape[:2]
        image = QImage(pixels.data, fw, fh, 3 * fw, QImage.Format.Format_RGB888)
        painter.drawImage(rect, image)
        _, h, w = self.shape
        painter.setPen(QPen(QColor(90, 90, 90, 140), 1))
        if min(rect.width() / w, rect.height() / h) >= 6:  # grid lines where the model's pixels meet
            for k in range(1, w):
                x = rect.left() + k * rect.width() / w
                painter.drawLine(QPointF(x, rect.top()), QPointF(x, rect.bottom()))
            for k in range(1, h):
                y = rect.top() + k * rect.height() / h
                painter.drawLine(QPointF(rect.left(), y), QPointF(rect.right(), y))
        painter.setPen(QPen(QColor("#2563eb") if self.hasFocus() else QColor(120, 120, 120), 1))
        painter.drawRect(rect)
        painter.end()
