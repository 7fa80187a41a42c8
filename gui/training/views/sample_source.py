"""The sample source of a tab: a validation sample, or the drawn one.

A small bar, ``[Validation | Drawn] [Draw…]``, that the Inside,
Saliency and Try it tabs put before their sample index (shown with "Validation";
Draw… with "Drawn"). "Drawn" and Draw…
are offered for models of images only; otherwise they are disabled and their
tooltip says why. The tabs share one
:class:`~layerloom.gui.training.views.drawn_source.DrawnSource` (the dock hands it
over with :meth:`SampleSourceChoice.use`), so a digit drawn once feeds all three.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QToolButton, QWidget

from layerloom.gui.qt_util import signals_blocked
from layerloom.gui.training.views.drawn_source import DRAWN_NAME, DrawnSource

VALIDATION, DRAWN = 0, 1


class SampleSourceChoice(QWidget):
    """The source bar (objectName ``{prefix}Source``; its choice ``{prefix}SourceChoice``,
    its button ``{prefix}Draw``).

    Signals
    -------
    changed()
        The source was switched, or the drawn sample changed while it is the source.
    """

    changed = Signal()

    def __init__(self, prefix: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName(f"{prefix}Source")
        self.source: DrawnSource | None = None
        self.choice = QComboBox()
        self.choice.setObjectName(f"{prefix}SourceChoice")
        self.choice.addItems(["Validation", "Drawn"])
        self.choice.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.draw_button = QToolButton()
        self.draw_button.setText("Draw…")
        self.draw_button.setObjectName(f"{prefix}Draw")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addWidget(self.choice)
        layout.addWidget(self.draw_button)
        self.choice.currentIndexChanged.connect(self._switched)
        self.draw_button.clicked.connect(self.open_panel)
        self.use(DrawnSource(self))

    # ------------------------------------------------------------------- api
    def use(self, source: DrawnSource) -> None:
        """Follow ``source`` (shared by the dock's tabs) instead of the present one."""
        if self.source is not None:
            self.source.changed.disconnect(self._drawing_changed)
            self.source.availabilityChanged.disconnect(self._availability)
        self.source = source
        source.changed.connect(self._drawing_changed)
        source.availabilityChanged.connect(self._availability)
        self._availability()

    @property
    def drawn(self) -> bool:
        """Whether the tab shows the drawn sample."""
        return self.choice.currentIndex() == DRAWN and self.source.available

    @property
    def name(self) -> str:
        return DRAWN_NAME

    def sample(self) -> np.ndarray | None:
        """The drawn sample ``(C, H, W)`` when it is the source, else ``None``."""
        return self.source.sample() if self.drawn else None

    def set_data(self, data) -> None:
        """The validation set of the run the tab shows."""
        self.source.set_data(data)
        self._availability()

    def set_drawn(self, on: bool = True) -> None:
        self.choice.setCurrentIndex(DRAWN if on else VALIDATION)

    def open_panel(self):
        """Show the Draw panel and make the drawn sample this tab's source."""
        if not self.source.available:
            return None
        panel = self.source.open(self)
        self.set_drawn(True)
        return panel

    # --------------------------------------------------------------- internal
    def _availability(self) -> None:
        source = self.source
        on = source.available
        item = self.choice.model().item(DRAWN)
        item.setEnabled(on)
        tip = ("Draw a sample of your own with the mouse (Draw…)" if on else source.reason)
        item.setToolTip(tip)
        self.draw_button.setEnabled(on)
        self.draw_button.setToolTip("Open the Draw panel: paint a sample; this tab follows it as you draw"
                                    if on else source.reason)
        self.choice.setToolTip("Where the sample comes from: the validation set (its index beside), or the "
                               "picture drawn in the Draw panel" if on else f"Validation samples only: {source.reason}")
        if not on and self.choice.currentIndex() == DRAWN:
            with signals_blocked(self.choice):
                self.choice.setCurrentIndex(VALIDATION)
        self._fit()

    def _fit(self) -> None:
        """Draw… beside "Drawn" (the tab's index beside "Validation"); the choice as
        wide as its text, so a crowded bar does not squeeze it to "Dra…"."""
        self.draw_button.setVisible(self.drawn)
        text = self.choice.currentText()
        self.choice.setMinimumWidth(self.choice.fontMetrics().horizontalAdvance(text) + 32)

    def _switched(self) -> None:
        if self.choice.currentIndex() == DRAWN and self.source.available and self.source.panel is None:
            self.source.open(self)
        self._fit()
        self.changed.emit()

    def _drawing_changed(self) -> None:
        if self.drawn:
            self.changed.emit()
