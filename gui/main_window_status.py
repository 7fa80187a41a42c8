"""The status bar's graph totals: parameters, FLOPs, activation memory, errors.

The totals come from ``graph.analysis()`` (cached by the graph until its next
change) and are refreshed once per burst of events, not once per event. The
error count is a button: clicking it selects the next node with an error.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QLabel, QStatusBar, QToolButton

from layerloom.graph import Event, Graph
from layerloom.graph.node_training import frozen_params
from layerloom.gui.qt_util import qt_listener
from layerloom.gui.readable import human_bytes, human_count

PARAMS_TIP = ("Parameters of the whole graph; those of frozen nodes (❄, Trainable off in the "
              "inspector) are counted apart: they do not train")
FLOPS_TIP = "Estimated floating-point operations per sample (forward pass)"
MEMORY_TIP = "Memory for the activations of one sample (forward pass)"


def errors_in(analysis) -> bool:
    return any(info.error or info.blocked for info in analysis.nodes.values())


class GraphStatus(QObject):
    """Permanent widgets on ``status_bar`` that follow ``graph``.

    Signals
    -------
    errorClicked(str)
        The id of the next node with an error (cycling), when the count is clicked.
    """

    errorClicked = Signal(str)

    def __init__(self, graph: Graph, status_bar: QStatusBar) -> None:
        super().__init__(status_bar)
        self.graph = graph
        self.params = self._label(status_bar, "statusParams", PARAMS_TIP)
        self.flops = self._label(status_bar, "statusFlops", FLOPS_TIP)
        self.memory = self._label(status_bar, "statusMemory", MEMORY_TIP)
        self.errors = QToolButton(status_bar)
        self.errors.setObjectName("statusErrors")
        self.errors.setAutoRaise(True)
        self.errors.clicked.connect(self._next_error)
        status_bar.addPermanentWidget(self.errors)
        self._error_index = 0
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(0)
        self._timer.timeout.connect(self.refresh)
        self._listener = qt_listener(self._on_event)
        graph.subscribe(self._listener)
        self.refresh()

    @staticmethod
    def _label(bar: QStatusBar, name: str, tip: str) -> QLabel:
        label = QLabel(bar)
        label.setObjectName(name)
        label.setToolTip(tip)
        bar.addPermanentWidget(label)
        return label

    def _on_event(self, event: Event) -> None:
        if event.kind != "node_moved":  # moving changes no total
            self._timer.start()

    def refresh(self) -> None:
        """Write the totals and the error count of the current analysis."""
        self._timer.stop()
        analysis = self.graph.analysis()
        frozen = frozen_params(self.graph, analysis)
        self.params.setText(f"Parameters  {human_count(analysis.total_params)}"
                            + (f"  ({human_count(frozen)} frozen)" if frozen else ""))
        self.flops.setText(f"FLOPs  {human_count(analysis.total_flops)}")
        self.memory.setText(f"Activations  {human_bytes(analysis.total_activation_bytes)}")
        partial = "\n(Layers with errors, and those after them, are not counted.)" if errors_in(analysis) else ""
        for label, tip in ((self.params, PARAMS_TIP), (self.flops, FLOPS_TIP), (self.memory, MEMORY_TIP)):
            label.setToolTip(tip + partial)
        errors = analysis.errors
        count = len(errors)
        if not len(self.graph):  # nothing built yet is not a mistake
            self.errors.setText("Empty graph")
            self.errors.setProperty("state", "empty")
        else:
            self.errors.setText("No errors" if not count else f"{count} error{'s' if count != 1 else ''}")
            self.errors.setProperty("state", "error" if count else "ok")
        self.errors.style().unpolish(self.errors)
        self.errors.style().polish(self.errors)
        lines = [f"• {message}" for _, message in errors[:12]]
        if count > 12:
            lines.append(f"… and {count - 12} more")
        tip = "\n".join(lines) if lines else "The graph is valid: every shape fits."
        if any(node != "graph" for node, _ in errors):
            tip += "\n\nClick to select the next layer with an error."
        self.errors.setToolTip(tip)

    def _next_error(self) -> None:
        nodes = [node for node, _ in self.graph.analysis().errors if node != "graph"]
        if not nodes:
            return
        self._error_index %= len(nodes)
        self.errorClicked.emit(nodes[self._error_index])
        self._error_index += 1
