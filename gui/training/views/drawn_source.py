"""The drawn sample that the Inside, Saliency and Try it tabs share.

One :class:`DrawnSource` per training dock keeps the picture (in its
:class:`~layerloom.gui.training.views.draw_panel.DrawPanel`, made when first
opened) and turns it into a sample scaled like the validation samples of the run
shown (:class:`~layerloom.backend.datasets.own_image.InkRange`). It says
``changed`` at most once per :data:`DEBOUNCE_MS` while the user draws, so each view
recomputes off the GUI thread for the newest picture, not for every mouse move.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QObject, Qt, QTimer, Signal

from layerloom.backend.datasets.own_image import InkRange, image_shape, not_an_image

DEBOUNCE_MS = 150
DRAWN_NAME = "drawn sample"


class DrawnSource(QObject):
    """The drawn sample of the run shown.

    Signals
    -------
    changed()
        The drawn sample changed (debounced).
    availabilityChanged()
        The data changed: drawing became possible or not (see :attr:`reason`).
    """

    changed = Signal()
    availabilityChanged = Signal()

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.data = None
        self.shape: tuple[int, int, int] | None = None
        self.ink: InkRange | None = None
        self.reason = not_an_image(None)
        self.panel = None
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.setInterval(DEBOUNCE_MS)
        self.timer.timeout.connect(self.changed)

    @property
    def available(self) -> bool:
        return self.shape is not None

    def set_data(self, data) -> None:
        """Draw for samples like ``data``'s (the validation set of the run shown)."""
        if data is self.data:
            return
        self.data = data
        shape = image_shape(data)
        self.reason = not_an_image(data)
        self.ink = InkRange.of(data) if shape is not None and len(data) else None
        if self.ink is None:
            shape = None
            if data is not None and image_shape(data) is not None:
                self.reason = "Drawing needs the validation samples (to scale the picture like them); there are none"
        if shape != self.shape:
            self.shape = shape
            if self.panel is not None:
                self.panel.set_shape(shape)
        elif self.panel is not None:
            self.panel.set_data(data)
        self.availabilityChanged.emit()
        self.changed.emit()

    def sample(self) -> np.ndarray | None:
        """The drawn picture as a sample ``(C, H, W)`` (blank until drawn), or ``None``."""
        if self.shape is None or self.ink is None:
            return None
        intensity = self.panel.intensity() if self.panel is not None else None
        if intensity is None or intensity.shape != self.shape:
            intensity = np.zeros(self.shape, np.float32)
        return self.ink.to_sample(intensity)

    def _edited(self) -> None:
        if not self.timer.isActive():  # at most one change per DEBOUNCE_MS, also while the mouse moves
            self.timer.start()

    def open(self, near=None):
        """Show the drawing panel (made on first use, beside ``near``'s window); returns it."""
        from layerloom.gui.training.views.draw_panel import DrawPanel

        if self.panel is None:
            window = near.window() if near is not None else None
            self.panel = DrawPanel(self, window)
            self.panel.setWindowFlag(Qt.WindowType.Tool, True)
            self.panel.edited.connect(self._edited)
        self.panel.set_shape(self.shape)
        self.panel.show()
        self.panel.raise_()
        self.panel.activateWindow()
        return self.panel
