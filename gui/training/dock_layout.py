"""How the training dock arranges its parts: in a row below the canvas (Edit mode),
or roomy beside it (Train mode).

Below the canvas the dock is wide and low: the set-up column, the loss curves and
the tabs side by side. In Train mode (:mod:`layerloom.gui.workspace`) it takes most
of the window: the set-up column keeps the whole height, so its form reads without
scrolling through a slot, and the loss curves sit above the tabs, each as wide as
the plots can be.

Minimum sizes are set here, not left to the views' own hints: the widest tab
(Try it) asked for 620 px and the run bar for 1,157 px, which together kept the
window from going below 1157 x 441; now the window goes down to 800 x 600.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QSplitter

SETUP_MIN_WIDTH = 300  # the form's labels and fields side by side (the learning rate with Find…)
PLOTS_MIN = (240, 120)  # the loss curves and the tabs can shrink this far (their content clips)
SETUP_WIDTH = (330, 360)  # below the canvas, and in Train mode


def set_minimums(dock) -> None:
    """Minimum sizes that let the window shrink to 800 x 600."""
    dock.setup.setMinimumWidth(SETUP_MIN_WIDTH)
    for widget in (*dock._beside, dock.tabs):
        widget.setMinimumSize(*PLOTS_MIN)
    dock.tabs.setUsesScrollButtons(True)
    dock.tabs.setElideMode(Qt.TextElideMode.ElideNone)


def arrange(dock, roomy: bool) -> None:
    """Put the dock's parts in a row (``roomy`` False) or the plots in a column
    beside the set-up (``roomy`` True); the views stay the same objects."""
    splitter: QSplitter = dock.splitter
    column: QSplitter | None = getattr(dock, "plots_column", None)
    plots = (*dock._beside, dock.tabs)
    if roomy:
        if column is None:
            column = QSplitter(Qt.Orientation.Vertical)
            column.setObjectName("trainingPlots")
            column.setChildrenCollapsible(False)
            dock.plots_column = column
        for widget in plots:
            column.addWidget(widget)
        splitter.addWidget(column)
        column.show()
        for index in range(column.count()):
            column.setStretchFactor(index, 1)
        splitter.setStretchFactor(0, 1)  # a narrow window narrows the form too, a third as fast
        splitter.setStretchFactor(1, 3)
        column.setSizes([500] * column.count())
        splitter.setSizes([SETUP_WIDTH[1], 1000])
        QTimer.singleShot(0, lambda: _fit_setup(dock))  # once the dock has its new width
    else:
        for widget in plots:
            splitter.addWidget(widget)
        if column is not None:
            column.hide()
            column.setParent(None)  # an empty column would keep a handle in the row
        for index in range(splitter.count()):
            splitter.setStretchFactor(index, 1 if index else 0)
        splitter.setSizes([SETUP_WIDTH[0]] + [480] * len(plots))
    splitter.setChildrenCollapsible(False)


def _fit_setup(dock) -> None:
    """The set-up column at its preferred width (less in a narrow window), the rest
    to the plots."""
    splitter = dock.splitter
    if not dock.roomy or splitter.count() < 2:
        return
    total = sum(splitter.sizes())
    form = dock.setup
    need = form.widget().minimumSizeHint().width() + form.verticalScrollBar().sizeHint().width() + 4
    setup = max(SETUP_MIN_WIDTH, need, min(SETUP_WIDTH[1], int(total * 0.34)))
    splitter.setSizes([setup, total - setup])
