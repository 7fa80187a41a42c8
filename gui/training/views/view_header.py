"""The frame of a view that explains one thing on demand (Landscape, Saliency): a
header of choices (which sample, which method, the button that starts the work in
the background), the plots, and a one-line note below that says what is drawn or
why nothing is.
"""

from __future__ import annotations

from PySide6.QtWidgets import QHBoxLayout, QLabel, QVBoxLayout, QWidget


def header_bar(*items: str | QWidget) -> QHBoxLayout:
    """The header row: ``items`` left to right (a string is a label for the widget
    after it), then the spare width."""
    bar = QHBoxLayout()
    bar.setContentsMargins(4, 0, 4, 0)
    for item in items:
        bar.addWidget(QLabel(item) if isinstance(item, str) else item)
    bar.addStretch(1)
    return bar


def lay_out_view(view: QWidget, bar: QHBoxLayout | None, body: QWidget, note: QWidget) -> QVBoxLayout:
    """``view``'s layout: the header ``bar`` (``None``: a view with nothing to choose,
    such as Latent space and GAN), the ``body`` taking the spare height, and the
    ``note`` below."""
    layout = QVBoxLayout(view)
    layout.setContentsMargins(0, 2, 0, 0)
    layout.setSpacing(2)
    if bar is not None:
        layout.addLayout(bar)
    layout.addWidget(body, 1)
    layout.addWidget(note)
    return layout
