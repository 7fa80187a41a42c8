"""The inspector's plot of an activation function and its derivative over [-5, 5].

Shown for an activation node and for a layer whose activation field is set; it is
the ``activation`` view of :mod:`layerloom.backend.views` (so ``layerloom plot FILE
activation --node N`` draws the same). The function is built with torch: until
the app has loaded PyTorch (a second or two after the window shows) the plot
says so and tries again.
"""

from __future__ import annotations

import sys

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from layerloom.gui.training.views.figure_view import FigureView

RETRY_MS = 1000


class ActivationPlot(QWidget):
    """objectName ``inspectorActivationPlot``; hidden for nodes without an activation."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("inspectorActivationPlot")
        self.graph = None
        self.node_id: str | None = None
        self._shown_key = None
        heading = QLabel("Activation function")
        heading.setProperty("role", "section")
        self.figure_view = FigureView(panel_height=190, min_width=220)
        self.figure_view.setMinimumHeight(260)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 6, 0, 0)
        layout.addWidget(heading)
        layout.addWidget(self.figure_view)
        self._retry = QTimer(self)
        self._retry.setSingleShot(True)
        self._retry.setInterval(RETRY_MS)
        self._retry.timeout.connect(self._draw)
        self.hide()

    def show_for(self, graph, node_id: str | None) -> None:
        """Plot the activation of ``node_id`` (``None``: several or no nodes)."""
        from layerloom.backend.views.activation_fn import has_activation

        self.graph, self.node_id = graph, node_id
        if node_id is None or not graph.has_node(node_id) or not has_activation(graph.node(node_id)):
            self._shown_key = None
            self.hide()
            return
        self.show()
        node = graph.node(node_id)
        key = (node.type, tuple(sorted((k, repr(v)) for k, v in node.params.items())))
        if key != self._shown_key:
            self._draw()

    def _draw(self) -> None:
        graph, node_id = self.graph, self.node_id
        if graph is None or node_id is None or not graph.has_node(node_id):
            return
        if "torch" not in sys.modules:  # the dock loads it shortly after the window shows
            self.figure_view.show_message("The plot appears once PyTorch has loaded…")
            self._retry.start()
            return
        from layerloom.backend.views import NotApplicable, ViewContext, compute

        node = graph.node(node_id)
        self._shown_key = (node.type, tuple(sorted((k, repr(v)) for k, v in node.params.items())))
        try:
            figure = compute("activation", ViewContext(graph, node=node_id))
        except NotApplicable as exc:
            self.figure_view.show_message(str(exc))
            return
        figure.title = ""
        self.figure_view.show_figure(figure)
