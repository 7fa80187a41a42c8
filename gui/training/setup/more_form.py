"""The set-up panel's "More" box: the training settings declared with ``form="more"``
(momentum, weight decay, gradient clip, early stopping and patience, keep best
weights, the monitored value, the fast path, and a GAN's task, loss, steps and
rates), folded away until the user ticks it.

The widget owns the box and its form; the set-up panel fills the form with the same
editors as its main fields
(:meth:`~layerloom.gui.training.setup.setup_panel.SetupPanel._add_training_editor`),
so every change is the same undoable edit of the graph's ``training`` section.
"""

from __future__ import annotations

from PySide6.QtWidgets import QFormLayout, QGroupBox, QVBoxLayout, QWidget


class MoreForm(QWidget):
    """A checkable "More" :attr:`box` whose :attr:`form` shows only while it is checked."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.box = QGroupBox("More")
        self.box.setCheckable(True)
        self.box.setChecked(False)
        inner = QWidget()
        self.form = QFormLayout(inner)
        self.form.setContentsMargins(0, 0, 0, 0)
        box_layout = QVBoxLayout(self.box)
        box_layout.setContentsMargins(4, 0, 4, 0)
        box_layout.addWidget(inner)
        inner.setVisible(False)
        self.box.toggled.connect(inner.setVisible)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.box)
