"""A widget that shows a view's figure, drawn the way ``layerloom plot`` draws it.

The figure (:class:`~layerloom.backend.views.base.Figure`, plain arrays) is drawn
by :mod:`layerloom.backend.views.render` into an image the width of the widget,
so what the app shows is what a slide gets. A view that does not apply shows its
one-line reason instead of empty axes. Drawing is cheap (tens of milliseconds),
but the caller may draw off the GUI thread and hand over the image
(:meth:`FigureView.show_image`); a resize redraws from the figure kept.
"""

from __future__ import annotations

import math

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QLabel, QSizePolicy, QVBoxLayout, QWidget

MIN_WIDTH = 320
MIN_PANEL_HEIGHT = 120
RESIZE_MS = 150


def to_qimage(image) -> QImage:
    """A Pillow RGB image as a QImage (a copy: the bytes may go away)."""
    data = image.tobytes("raw", "RGB")
    return QImage(data, image.width, image.height, 3 * image.width, QImage.Format.Format_RGB888).copy()


class FigureView(QWidget):
    """Shows one figure, or a message (objectName given by the owner).

    Attributes
    ----------
    figure : Figure or None
        The figure shown (``None`` while a message is shown).
    message : str
        The message shown instead of a figure ("" while a figure is shown).
    """

    def __init__(self, panel_height: int = 260, parent: QWidget | None = None, min_width: int = MIN_WIDTH):
        super().__init__(parent)
        self.panel_height = panel_height
        self.min_width = min_width
        self.figure = None
        self.message = ""
        self.picture = QLabel()
        self.picture.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.picture.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self.text = QLabel()
        self.text.setWordWrap(True)
        self.text.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.text)
        layout.addWidget(self.picture, 1)
        self._drawn_width = 0
        self._drawn_height = 0
        self._resize = QTimer(self)
        self._resize.setSingleShot(True)
        self._resize.setInterval(RESIZE_MS)
        self._resize.timeout.connect(self._redraw)

    @property
    def draw_width(self) -> int:
        return max(self.min_width, self.width() - 12)

    def panel_height_for(self, figure=None) -> int:
        """Panels as high as fits the widget (title and note aside), at most
        ``panel_height`` (or the figure's own, where lower) and at least
        :data:`MIN_PANEL_HEIGHT`."""
        rows = 1
        most = min(self.panel_height, getattr(figure, "panel_height", None) or self.panel_height)
        if figure is not None and figure.panels:
            rows = math.ceil(len(figure.panels) / max(1, min(figure.columns, len(figure.panels))))
        room = (self.height() - 8 - 30 - 36) // rows
        return int(max(min(MIN_PANEL_HEIGHT, most), min(most, room)))

    def show_message(self, text: str) -> None:
        """One line (why the view does not apply, what to do first) instead of a figure."""
        self.figure = None
        self.message = text
        self.picture.clear()
        self.text.setText(text)
        self.text.show()

    def show_figure(self, figure, image=None) -> None:
        """Show ``figure``; ``image`` is its drawing where the caller made it already."""
        from layerloom.backend.views.render import render

        self.figure = figure
        self.message = ""
        self.text.hide()
        height = self.panel_height_for(figure)
        if image is None or abs(image.width - self.draw_width) > 40 or abs(
                getattr(image, "panel_height", height) - height) > 20:
            image = render(figure, self.draw_width, height)
            image.panel_height = height
        self._drawn_height = height
        self.show_image(image)

    def show_image(self, image) -> None:
        self._drawn_width = image.width
        self.picture.setPixmap(QPixmap.fromImage(to_qimage(image)))

    def image(self) -> QImage:
        """What is shown, as an image (for tests and screenshots)."""
        pixmap = self.picture.pixmap()
        return pixmap.toImage() if pixmap is not None else QImage()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if self.figure is not None and (abs(self.draw_width - self._drawn_width) > 40 or abs(
                self.panel_height_for(self.figure) - self._drawn_height) > 20):
            self._resize.start()

    def _redraw(self) -> None:
        if self.figure is not None:
            self.show_figure(self.figure)
