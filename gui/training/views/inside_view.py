"""The Inside tab: what a node outputs for a sample, a convolution's filters, where
attention goes — any view of :mod:`layerloom.backend.views`, live during a run.

Pick a view, a node (or select it on the canvas) and a validation sample, or
for a model of images a sample drawn in the Draw panel (the view follows the
picture as it is drawn). After a
run (or while it is paused) the view reads the run's CPU copy of the model.
During a run it reads a copy of the weights that the training thread hands over
between two steps, at most once every :data:`LIVE_INTERVAL` seconds and only
while this tab is in front (:class:`~layerloom.gui.training.worker.TrainingWorker`
``request_weights``); the view is then computed and drawn off the GUI thread, one
at a time, on a model of its own, so training never waits for it.
"""

from __future__ import annotations

import time
from collections.abc import Set

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QSpinBox, QVBoxLayout, QWidget

from layerloom.gui.background import BackgroundCall, CallKeeper
from layerloom.gui.qt_util import signals_blocked
from layerloom.gui.training.runs.run_record import Run
from layerloom.gui.training.views import plot_style as ps
from layerloom.gui.training.views.drawn_source import DRAWN_NAME
from layerloom.gui.training.views.figure_view import FigureView
from layerloom.gui.training.views.sample_source import SampleSourceChoice

LIVE_INTERVAL = 1.0  # seconds between two live previews during a run
AUTO = -1  # an option field's value for "the view's default"


class LiveModel:
    """The preview's own model during a run: compiled once per run's graph, then
    given each copy of the weights (only ever used by one job at a time)."""

    def __init__(self):
        self.graph = None
        self.model = None

    def with_weights(self, graph, state):
        from layerloom.backend.compile import compile_graph

        if self.graph is not graph:
            self.model, self.graph = compile_graph(graph).eval(), graph
        self.model.load_state_dict(state)
        return self.model


def compute_preview(name: str, graph, model, data, node, sample: int, options: dict, width: int,
                    height: int, live: LiveModel | None = None, state=None, own=None):
    """Off the GUI thread: ``("figure", figure, image, ms)`` or ``("message", text)``;
    ``own``: a drawn sample in place of validation sample ``sample``."""
    from layerloom.backend.views import VIEWS, NotApplicable, ViewContext
    from layerloom.backend.views.render import render

    start = time.perf_counter()
    if state is not None:
        model = live.with_weights(graph, state)
    try:
        figure = VIEWS[name].compute(ViewContext(graph, model, data, node, sample, options, own=own,
                                                 own_name=DRAWN_NAME if own is not None else ""))
    except NotApplicable as exc:
        return ("message", str(exc))
    image = render(figure, width, height)
    image.panel_height = height
    return ("figure", figure, image, 1000 * (time.perf_counter() - start))


class InsideView(QWidget):
    """The Inside tab (objectName ``insideView``).

    Signals
    -------
    weightsWanted()
        A run is on and this tab wants a fresh copy of its weights.
    """

    title = "Inside"
    weightsWanted = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        from layerloom.backend.views import list_views

        self.setObjectName("insideView")
        self.run: Run | None = None
        self.keeper = CallKeeper(self)
        self.live = LiveModel()
        self.result: tuple | None = None
        self.drawn = 0  # figures drawn so far (benchmarks)
        self._busy = False
        self._again = False
        self._asked = 0.0
        self._graph_for_nodes = None
        self._drawn_weights = None
        self.views = list_views()

        self.view_box = QComboBox()
        self.view_box.setObjectName("insideViewChoice")
        for view in self.views:
            self.view_box.addItem(view.title, view.name)
            self.view_box.setItemData(self.view_box.count() - 1, view.help, 3)  # tooltip role
        self.view_box.setToolTip("What to look at")
        self.node_box = QComboBox()
        self.node_box.setObjectName("insideNode")
        self.node_box.setToolTip("The node to look at (or select it on the canvas)")
        self.node_box.setMinimumContentsLength(14)
        self.sample = QSpinBox()
        self.sample.setObjectName("insideSample")
        self.sample.setToolTip("Index of the validation sample")
        self.sample.setKeyboardTracking(False)
        self.sample.setMaximum(0)
        self.source_choice = SampleSourceChoice("inside")
        bar = QHBoxLayout()
        bar.setContentsMargins(4, 0, 4, 0)
        bar.addWidget(self.view_box)
        bar.addWidget(QLabel("Node"))
        bar.addWidget(self.node_box)
        bar.addWidget(QLabel("Sample"))
        bar.addWidget(self.source_choice)
        bar.addWidget(self.sample)
        self.option_fields: dict[str, tuple[QLabel, QSpinBox]] = {}
        for view in self.views:
            for option, (kind, _default, help_text) in view.options.items():
                if option in self.option_fields or kind is not int:
                    continue
                field = QSpinBox()
                field.setObjectName(f"insideOption_{option}")
                field.setRange(AUTO, 4096)
                field.setValue(AUTO)
                field.setSpecialValueText("auto")
                field.setToolTip(help_text)
                field.setKeyboardTracking(False)
                label = QLabel(option.replace("_", " ").capitalize())
                bar.addWidget(label)
                bar.addWidget(field)
                field.valueChanged.connect(self.update_view)
                self.option_fields[option] = (label, field)
        bar.addStretch(1)
        self.status = ps.steady_label("", 1, "insideStatus")
        self.figure_view = FigureView()
        self.figure_view.setObjectName("insideFigure")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 2, 0, 0)
        layout.setSpacing(2)
        layout.addLayout(bar)
        layout.addWidget(self.figure_view, 1)
        layout.addWidget(self.status)
        self.view_box.currentIndexChanged.connect(self._view_changed)
        self.node_box.currentIndexChanged.connect(self.update_view)
        self.sample.valueChanged.connect(self.update_view)
        self.source_choice.changed.connect(self._source_changed)
        self._view_changed()

    # ------------------------------------------------------------------ api
    @property
    def view_name(self) -> str:
        return self.view_box.currentData()

    @property
    def node(self) -> str | None:
        return self.node_box.currentData()

    def set_view(self, name: str) -> None:
        self.view_box.setCurrentIndex(max(0, self.view_box.findData(name)))

    def select_node(self, node_id: str) -> bool:
        """Look at ``node_id`` (a node selected on the canvas); False when not listed."""
        index = self.node_box.findData(node_id)
        if index < 0:
            return False
        self.node_box.setCurrentIndex(index)
        return True

    def options(self) -> dict:
        view = next(v for v in self.views if v.name == self.view_name)
        return {name: field.value() for name, (_, field) in self.option_fields.items()
                if name in view.options and field.value() != AUTO}

    def set_run(self, run: Run | None) -> None:
        self.run = run
        self._drawn_weights = None
        self._fill_nodes()
        self.update_view()

    def refresh(self, changed: Set[str] | None = None, full: bool = False) -> None:
        """During a run, ask for weights every :data:`LIVE_INTERVAL` seconds and draw
        each copy that arrives; after it (``full``), draw from the trained model."""
        run = self.run
        if run is None:
            return
        if full or (changed is not None and "status" in changed) or (
                self.sample.maximum() == 0 and self._samples() is not None):
            self._fill_nodes()
            self.update_view()
            return
        if not run.active:
            return
        if getattr(run, "weights", None) is not self._drawn_weights:
            self.update_view()
        now = time.monotonic()
        if not self._busy and now - self._asked >= LIVE_INTERVAL and self.isVisible():
            self._asked = now
            self.weightsWanted.emit()

    # ------------------------------------------------------------- internals
    def _samples(self):
        return getattr(self.run, "val", None) if self.run is not None else None

    def _source_changed(self) -> None:
        self.sample.setVisible(not self.source_choice.drawn)
        view = next((v for v in self.views if v.name == self.view_name), None)
        if view is not None and "sample" in view.needs:
            self.update_view()

    def _view_changed(self) -> None:
        view = next((v for v in self.views if v.name == self.view_name), None)
        for name, (label, field) in self.option_fields.items():
            shown = view is not None and name in view.options
            label.setVisible(shown)
            field.setVisible(shown)
        self.update_view()

    def _fill_nodes(self) -> None:
        graph = self.run.graph if self.run is not None else None
        data = self._samples()
        self.source_choice.set_data(data)
        with signals_blocked(self.sample):
            self.sample.setMaximum(max(0, len(data) - 1) if data is not None else 0)
        if graph is self._graph_for_nodes:
            return
        self._graph_for_nodes = graph
        keep = self.node
        with signals_blocked(self.node_box):
            self.node_box.clear()
            self.node_box.addItem("(the view's choice)", None)
            if graph is not None:
                for nid in graph.analysis().order:
                    node = graph.node(nid)
                    if not node.spec.is_input:
                        self.node_box.addItem(node.title, nid)
            self.node_box.setCurrentIndex(max(0, self.node_box.findData(keep)))

    def update_view(self) -> None:
        """Compute the chosen view for the chosen node and sample, off the GUI thread."""
        if self._busy:
            self._again = True
            return
        run = self.run
        view = next((v for v in self.views if v.name == self.view_name), None)
        if run is None or view is None:
            self.figure_view.show_message("Train a model (or open trained weights) to look inside it: "
                                          "what each node outputs, its filters, where attention goes.")
            return
        needs = view.needs
        data = self._samples()
        model, state = run.model, None
        if run.active and "model" in needs:
            snapshot = getattr(run, "weights", None)
            if snapshot is None:
                self.figure_view.show_message("Waiting for the first copy of the weights (keep this tab in "
                                              "front; a run on several processes shows its model after it ends)")
                return
            model, state = None, snapshot.state
            self._drawn_weights = snapshot
        elif "model" in needs and model is None:
            self.figure_view.show_message("The run has no model to look at (it failed or has not started)")
            return
        if "data" in needs and data is None:
            self.figure_view.show_message("Loading the validation data…")
            return
        self._busy = True
        call = BackgroundCall(compute_preview, view.name, run.graph, model, data, self.node,
                              self.sample.value(), self.options(), self.figure_view.draw_width,
                              self.figure_view.panel_height_for(), self.live, state,
                              self.source_choice.sample() if "sample" in needs else None,
                              what=f"The {view.title} view")
        call.succeeded.connect(self._computed)
        call.failed.connect(self._failed)
        self.keeper.start(call)

    def _computed(self, result: tuple) -> None:
        self._busy = False
        self.result = result
        if result[0] == "message":
            self.figure_view.show_message(result[1])
            self.status.setText("")
        else:
            _, figure, image, ms = result
            self.figure_view.show_figure(figure, image)
            self.drawn += 1
            snapshot = self._drawn_weights if self.run is not None and self.run.active else None
            when = f"step {snapshot.step:,} · " if snapshot is not None else ""
            self.status.setText(f"{when}computed and drawn in {ms:.0f} ms")
        self._next()

    def _failed(self, message: str) -> None:
        self._busy = False
        self.result = ("message", message)
        self.figure_view.show_message(message)
        self._next()

    def _next(self) -> None:
        if self._again:
            self._again = False
            self.update_view()
