"""View ▸ Output Thumbnails: under every node card, what the node outputs for the
current sample, live during training (TF Playground style, for small graphs).

The sample is the one chosen in the Inside tab (validation sample 0 until one is
chosen). The weights are, in this order: the copy the running training hands
over (asked for at most once every :data:`INTERVAL` seconds), the shown run's
trained model, else the graph's initial weights (its seed) — the tooltip says
which. A run's weights are used only while the canvas graph is the one it trained
(same layers, parameters and wires).

Every node's output comes from one forward pass, computed off the GUI thread (one
job at a time, :func:`compute`), and the pictures are drawn there too (NumPy); the
GUI thread only turns them into images. A check once every :data:`INTERVAL`
seconds, while the thumbnails are on, sees what changed (the weights, the sample,
the graph, the run) and starts the next job; an edit of the graph asks sooner.
Graphs of more than :data:`~layerloom.backend.views.thumbnails.MAX_NODES` nodes get
none: the toggle is disabled and says why. At the top level a block node shows its
output; inside a block the canvas shows the outputs of the nodes inside the
instance it was opened from (the first copy of a repeated block).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence

from layerloom.backend.views.thumbnails import MAX_NODES, too_large
from layerloom.gui.background import BackgroundCall, CallKeeper
from layerloom.gui.qt_util import qt_listener
from layerloom.gui.training.views.canvas_thumbnails import (
    canvas_thumbnails,
    clear_canvas_thumbnails,
    place_canvas_thumbnails,
    set_canvas_thumbnails,
    to_qimage,
)

SETTINGS_KEY = "view/output_thumbnails"
SHORTCUT = "Ctrl+T"
INTERVAL = 1.0  # seconds: the most often the thumbnails refresh during a run
EDIT_DELAY_MS = 250  # after an edit of the graph, before the thumbnails follow it
TIP = (f"Show under each node card what it outputs for the current sample (the Inside tab's; "
       f"validation sample 0 by default), live during training; graphs of up to {MAX_NODES} nodes")


@dataclass
class Request:
    """What one job computes from (made on the GUI thread, read off it)."""

    graph: object  # the graph to show (a copy of the canvas's, or a run's snapshot)
    source: tuple  # ("state", run graph, state dict) | ("model", model) | ("fresh", seed)
    data: object  # the validation set, or ("load", dataset settings, seed, base dir)
    sample: int
    weights: str  # which weights, in words, for the tooltip
    brief: str  # ... in a few words, for the status bar
    path: tuple[str, ...] = ()  # the block nodes opened on the canvas, outermost first


class Caches:
    """Models and data the jobs keep between them (one job at a time uses them)."""

    def __init__(self):
        self.models: dict = {}
        self.data: dict = {}


def compute(request: Request, caches: Caches):
    """Off the GUI thread: ``(Thumbnails, {node id: RGB array}, request)``."""
    from layerloom.backend.views.thumbnails import node_thumbnails, picture

    model = _model(request, caches)
    data = _data(request.data, caches)
    result = node_thumbnails(request.graph, model, data, request.sample, request.path)
    pictures = {nid: picture(thumb) for nid, thumb in result.items.items()}
    return result, pictures, request


def _model(request: Request, caches: Caches):
    from layerloom.backend.compile import compile_graph

    kind = request.source[0]
    if kind == "model":
        return request.source[1]
    if kind == "state":
        run_graph, state = request.source[1], request.source[2]
        key = ("state", id(run_graph))
        if key not in caches.models:
            caches.models = {key: (run_graph, compile_graph(run_graph).eval())}  # the run's graph kept alive
        model = caches.models[key][1]
        model.load_state_dict(state)
        return model
    seed = request.source[1]
    key = ("fresh", model_signature(request.graph), seed)
    if key not in caches.models:
        caches.models = {key: (None, compile_graph(request.graph, seed=seed).eval())}
    return caches.models[key][1]


def _data(data, caches: Caches):
    if not (isinstance(data, tuple) and data and data[0] == "load"):
        return data
    import json

    from layerloom.backend.training import DatasetSettings, prepare_data

    _, dataset, seed, base_dir = data
    key = (json.dumps(dataset, sort_keys=True, default=str), seed, base_dir)
    if key not in caches.data:
        prepared = prepare_data(DatasetSettings.from_dict(dataset), seed, base_dir)
        caches.data = {key: prepared.val if prepared.val is not None else prepared.train}
    return caches.data[key]


def model_signature(graph) -> str:
    """What decides the model a graph compiles to, blocks' insides included."""
    import json

    from layerloom.backend.runs.compare import graph_signature

    blocks = [(d.name, sorted(d.exposed.items()), graph_signature(d.body)) for d in graph.blocks or ()]
    return graph_signature(graph) + json.dumps(blocks, default=str)


def _expected_errors() -> tuple[type, ...]:
    from layerloom.backend.datasets import DatasetError
    from layerloom.backend.training import SettingsError
    from layerloom.backend.views import NotApplicable
    from layerloom.graph import GraphError

    return NotApplicable, DatasetError, SettingsError, GraphError


class OutputThumbnails(QObject):
    """The View ▸ Output Thumbnails toggle and what it shows on ``window``'s canvas.

    Signals
    -------
    updated()
        New thumbnails are on the canvas (or were cleared, with :attr:`message` saying why).
    """

    updated = Signal()

    def __init__(self, window):
        super().__init__(window)
        self.window = window
        self.keeper = CallKeeper(self)
        self.caches = Caches()
        self.message = ""  # the last line shown in the status bar
        self._line = ""  # ... of which what the thumbnails show
        self.result = None  # the last Thumbnails drawn
        self.weights = ""  # which weights the thumbnails show, in words
        self.ms = 0.0  # how long the last forward pass and its reading took
        self.refreshes = 0  # jobs finished (tests)
        self._busy = False
        self._shown_key = None
        self._model_revision = 0  # bumps on every edit that changes what the model computes
        self._signature = (-1, "")
        self._run_signature = (None, "")
        self._connected_sample = False
        self._last_weights_ask = 0.0

        action = self.action = QAction("Output &Thumbnails", window)
        action.setObjectName("action_output_thumbnails")
        action.setCheckable(True)
        action.setShortcut(QKeySequence(SHORTCUT))
        action.setStatusTip(TIP)
        action.setToolTip(f"Output Thumbnails ({SHORTCUT}): {TIP}")
        window.addAction(action)
        self.timer = QTimer(self)
        self.timer.setInterval(int(INTERVAL * 1000))
        self.timer.timeout.connect(self.check)
        self.soon = QTimer(self)
        self.soon.setSingleShot(True)
        self.soon.setInterval(EDIT_DELAY_MS)
        self.soon.timeout.connect(self.check)
        self._listener = qt_listener(self._on_graph_event)
        window.graph.subscribe(self._listener)
        window.navigator.graphChanged.connect(self._on_level_changed)
        window.training_dock.runFinished.connect(self._schedule)
        window.document.replaced.connect(self._on_replaced)
        self._update_enabled()
        action.setChecked(str(window.settings.value(SETTINGS_KEY, "false")).lower() == "true")
        action.toggled.connect(self._toggled)
        if action.isChecked():
            self._toggled(True)

    # ------------------------------------------------------------------ state
    @property
    def on(self) -> bool:
        return self.action.isChecked() and self.action.isEnabled()

    def _toggled(self, checked: bool) -> None:
        self.window.settings.setValue(SETTINGS_KEY, checked)
        if checked:
            self._shown_key = None
            self.timer.start()
            self.check()
        else:
            self.timer.stop()
            self._clear("Output thumbnails off")

    def _update_enabled(self) -> None:
        problem = too_large(self.window.graph)
        self.action.setEnabled(problem is None)
        self.action.setToolTip(f"{problem}: the toggle is off for this graph" if problem
                               else f"Output Thumbnails ({SHORTCUT}): {TIP}")
        if problem and self.action.isChecked() and self._shown_key != "too large":
            self._clear(problem)
            self._shown_key = "too large"

    def _on_graph_event(self, event) -> None:
        if event.kind == "node_moved":  # the outputs stay; where the thumbnails fit may not
            if self.action.isChecked():
                QTimer.singleShot(0, self.place)  # after the scene has moved the card
            return
        self._model_revision += 1
        if event.kind in ("node_added", "node_removed"):
            self._update_enabled()
        self._schedule()

    def _on_replaced(self) -> None:
        self._model_revision += 1
        self._update_enabled()
        self._schedule()

    def _on_level_changed(self, *_args) -> None:
        self._shown_key = None  # the scene was rebuilt: its cards carry no thumbnails now
        self._model_revision += 1
        self._schedule()

    def _schedule(self, *_args) -> None:
        if self.action.isChecked():
            self.soon.start()

    # ------------------------------------------------------------------ check
    def check(self) -> None:
        """See what changed; start a job when the thumbnails are out of date."""
        if not self.action.isChecked():
            return
        self._update_enabled()
        if not self.action.isEnabled():
            return
        w = self.window
        dock = w.training_dock
        self._follow_sample(dock)
        analysis = w.graph.analysis()
        if not len(w.graph):
            self._clear("Output thumbnails: the canvas is empty", "empty")
            return
        if not analysis.valid:
            nid, message = analysis.errors[0]
            title = w.graph.node(nid).title if w.graph.has_node(nid) else nid
            self._clear(f"Output thumbnails need a graph without errors: {title}: {message}", ("invalid",
                        self._model_revision))
            return
        request, key = self._request()
        run = dock.shown
        if run is not None and run.active and run is dock.current:
            now = time.monotonic()
            if now - self._last_weights_ask >= INTERVAL:
                self._last_weights_ask = now
                dock._weights_wanted()
        if key == self._shown_key or self._busy:
            self.place()
            return
        if request.graph is None:
            request.graph = w.graph.copy()
        self._busy = True
        self._pending_key = key
        call = BackgroundCall(compute, request, self.caches, expected=_expected_errors(),
                              what="Computing the output thumbnails")
        call.succeeded.connect(self._computed)
        call.failed.connect(self._failed)
        self.keeper.start(call)

    def _follow_sample(self, dock) -> None:
        if not self._connected_sample and getattr(dock, "_built", False):
            self._connected_sample = True
            dock.inside_view.sample.valueChanged.connect(self._schedule)

    def _sample(self) -> int:
        dock = self.window.training_dock
        return dock.inside_view.sample.value() if getattr(dock, "_built", False) else 0

    def _same_model(self, run) -> bool:
        """Whether ``run`` trained the graph on the canvas (same layers, wires and
        block insides)."""
        if self._signature[0] != self._model_revision:
            self._signature = (self._model_revision, model_signature(self.window.graph))
        if self._run_signature[0] is not run.graph:
            self._run_signature = (run.graph, model_signature(run.graph))
        return self._run_signature[1] == self._signature[1]

    def _request(self) -> tuple[Request, tuple]:
        w = self.window
        graph, dock = w.graph, w.training_dock
        sample = self._sample()
        run = dock.shown
        seed = int(graph.training.get("seed", 0) or 0)
        source = weights = brief = None
        tag: tuple = ()
        if run is not None and self._same_model(run):
            snapshot = getattr(run, "weights", None)
            if run.active and snapshot is not None:
                source, tag = ("state", run.graph, snapshot.state), ("live", id(snapshot))
                weights = f"the weights of {run.label} at step {snapshot.step:,} (live)"
                brief = f"live weights of run {run.number}"
            elif not run.active and run.model is not None:
                source, tag = ("model", run.model), ("trained", id(run.model))
                weights = f"the trained weights of {run.label}"
                brief = f"trained weights of run {run.number}"
        if source is None:
            source, tag = ("fresh", seed), ("fresh", self._model_revision, seed)
            weights = f"the initial weights (seed {seed}): no trained weights for this graph yet"
            brief = "initial weights (not trained)"
        shown_graph = run.graph if source[0] == "state" else None  # the canvas's: copied when a job starts
        if run is not None and run.val is not None and run.dataset == dict(graph.dataset):
            data, data_tag = run.val, ("run", id(run.val))
        else:
            data = ("load", dict(graph.dataset), seed, dock._base_dir())
            data_tag = data
        path = self._path()
        key = (tag, sample, self._model_revision if source[0] != "state" else 0, str(data_tag), path)
        return Request(shown_graph, source, data, sample, weights, brief, path), key

    def _path(self) -> tuple[str, ...]:
        return tuple(level.node_id for level in self.window.navigator.levels)

    # ---------------------------------------------------------------- results
    def _computed(self, outcome) -> None:
        self._busy = False
        result, pictures, request = outcome
        self.refreshes += 1
        if not self.on or request.path != self._path():
            self._next()  # the canvas shows another level by now
            return
        scene = self.window.scene
        shown = {}
        for nid, thumb in result.items.items():
            inside = f", inside {result.where}" if result.where else ""
            tip = (f"{thumb.label}: {thumb.caption}\nOutput for validation sample {result.sample}{inside}, "
                   f"from {request.weights}")
            shown[nid] = (to_qimage(pictures[nid]), thumb.caption, tip)
        set_canvas_thumbnails(scene, shown)
        self.result, self.weights = result, request.weights
        self._shown_key = self._pending_key
        skipped = "; ".join(f"{result.graph.node(nid).title}: {why}" for nid, why in result.skipped.items())
        inside = f" inside {self._title(request.path[0])}" if request.path else ""
        self._line = (f"Output thumbnails{inside}: validation sample {result.sample}, {request.brief}"
                      + (f"; none for {skipped}" if skipped else ""))
        self._say()
        self.ms = result.ms
        self.updated.emit()
        self._next()

    def _failed(self, message: str) -> None:
        self._busy = False
        self.refreshes += 1
        self._clear(f"Output thumbnails: {message}", self._pending_key)
        self._next()

    def _next(self) -> None:
        if self.action.isChecked():
            self.soon.start()  # anything that changed while the job ran

    def _clear(self, message: str, key=None) -> None:
        clear_canvas_thumbnails(self.window.scene)
        self.result = None
        self._shown_key = key
        if message != self.message:
            self.window.show_status(message, 6000)
        self.message = message
        self.updated.emit()

    def _title(self, nid: str) -> str:
        graph = self.window.graph
        return graph.node(nid).title if graph.has_node(nid) else nid

    def place(self) -> None:
        """Put each thumbnail where it fits again (a card grew or moved, a badge came)."""
        place_canvas_thumbnails(self.window.scene)
        if self.result is not None:
            self._say()

    def _say(self) -> None:
        """The status line: what the thumbnails show, and which are hidden for want of room."""
        crowded = [self._title(nid) for nid, t in canvas_thumbnails(self.window.scene).items() if t.crowded]
        line = self._line + (f"; hidden where other cards leave no room: {', '.join(crowded)} (move the cards "
                             "apart)" if crowded else "")
        if line != self.message:
            self.window.show_status(line, 6000)  # not every second during a run
            self.message = line

    def shutdown(self) -> None:
        self.timer.stop()
        self.soon.stop()
        self.keeper.wait_all()
