"""The training dock: set up a run, start it, watch the model learn, keep the result.

Layout: the run controls across the top; below them the set-up panel, the loss
curves (always in view) and tabs for weights, gradient flow, decision boundary,
Inside (node outputs, filters, attention: :mod:`layerloom.backend.views`),
confusion matrix, the runs of the session, and Try it. Each view is a row of
:data:`VIEWS` (a :class:`~layerloom.gui.training.views.live_view.LiveView`): the dock
builds, shows a run in and refreshes every view through that table alone.

Rules this follows (measured on a prototype): the training thread
(:class:`~layerloom.gui.training.worker.TrainingWorker`) queues its events and a 100 ms
timer here drains them, so plots update at about 10 Hz from batched events and
the thread never emits a signal per step; histograms and gradients are measured
at most twice a second, for the layer on screen only; plots fit their ranges at
most once a second; the worker's signals go to bound methods of this object (a
lambda would run in the worker's thread); and torch is imported here, on the GUI
thread, shortly after the window shows, so that the first run does not import it
in the worker and freeze the window while it does.

The graph being trained is a snapshot (``graph.copy()``): the user can go on
editing, and the dock says when the graph has changed since the run started.
A run on several GPUs (the set-up panel's Processes) trains in child processes
instead, followed through their events file
(:class:`~layerloom.gui.training.process_worker.ProcessWorker`), with the same views.
"""

from __future__ import annotations

import atexit
import copy
import sys
import time

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QLabel,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from layerloom.graph import Graph
from layerloom.gui import heap
from layerloom.gui.background import CallKeeper
from layerloom.gui.qt_util import qt_listener
from layerloom.gui.training.dock_actions import RunActions
from layerloom.gui.training.dock_layout import arrange as arrange_views
from layerloom.gui.training.dock_layout import set_minimums
from layerloom.gui.training.dock_views import RunViews
from layerloom.gui.training.finetune import FinetuneActions, StartError, checkpoint_folder
from layerloom.gui.training.runs.dock_files import ModelFileActions
from layerloom.gui.training.runs.kept_runs import KeptRunActions
from layerloom.gui.training.runs.run_bar import RunBar
from layerloom.gui.training.runs.run_record import RUN_COLOURS, Run, graph_signature
from layerloom.gui.training.setup import processes_field
from layerloom.gui.training.setup.devices import torch_devices
from layerloom.gui.training.views.canvas_badges import clear_canvas_badges
from layerloom.gui.training.views.gil import FramePacer, RunSwitchInterval, gui_first
from layerloom.gui.training.views.live_view import LiveView, ViewRow

LANDSCAPE_SAMPLES = 1024  # training samples a run keeps for the loss landscape
DRAIN_MS = 100  # the plots' update period (about 10 Hz) ...
MAX_DRAIN_MS = 250  # ... slowed down to at most 4 Hz where drawing is expensive
GUI_BUDGET = 0.05  # share of a core the GUI thread may use while a run goes
PROGRESS_INTERVAL = 0.5  # seconds between updates of the progress bar
PRELOAD_DELAY_MS = 1500  # after the window shows, import torch on the GUI thread
STOP_WAIT_MS = 30_000  # longest wait for a stopped run's thread when closing


_VIEWS = "layerloom.gui.training.views"
_RUNS = "layerloom.gui.training.runs"
VIEWS: tuple[ViewRow, ...] = (  # in the order of the splitter and of the tabs
    ViewRow(f"{_VIEWS}.loss_view.LossView", "loss_view", tab=False),
    ViewRow(f"{_VIEWS}.weights_view.WeightsView", "weights_view", tab=True),
    ViewRow(f"{_VIEWS}.gradient_view.GradientView", "gradient_view", tab=True),
    ViewRow(f"{_VIEWS}.boundary_view.BoundaryView", "boundary_view", tab=True),
    ViewRow(f"{_VIEWS}.confusion_view.ConfusionView", "confusion_view", tab=True),
    ViewRow(f"{_VIEWS}.inside_view.InsideView", "inside_view", tab=True),
    ViewRow(f"{_VIEWS}.saliency_view.SaliencyView", "saliency_view", tab=True),
    ViewRow(f"{_VIEWS}.landscape_view.LandscapeView", "landscape_view", tab=True),
    ViewRow(f"{_VIEWS}.embedding_view.EmbeddingView", "embedding_view", tab=True),
    ViewRow(f"{_VIEWS}.gan_view.GanView", "gan_view", tab=True),
    ViewRow(f"{_VIEWS}.latent_view.LatentView", "latent_view", tab=True),
    ViewRow(f"{_RUNS}.runs.RunsPanel", "runs_panel", tab=True),
    ViewRow(f"{_RUNS}.try_it.TryItPanel", "try_it", tab=True),
)


class TrainingDock(RunActions, RunViews, ModelFileActions, FinetuneActions, KeptRunActions, QDockWidget):
    """The Training dock widget (objectName ``trainingDock``).

    Parameters
    ----------
    graph, undo_stack
        The document's graph and undo stack.
    scene : GraphScene, optional
        The canvas: node selection picks the layer shown, and layer nodes carry
        live gradient badges during a run.
    document : Document, optional
        For the ``.loom`` file's folder (relative data paths, file dialogs) and to
        open the graph stored with trained weights.

    Signals
    -------
    runFinished(int)
        A run's thread has ended (its number); the run's state says how.
    """

    runFinished = Signal(int)

    def __init__(self, graph: Graph, undo_stack, scene=None, document=None, parent: QWidget | None = None):
        super().__init__("Training", parent)
        self.setObjectName("trainingDock")
        self.graph = graph
        self.undo_stack = undo_stack
        self.scene = scene
        self.document = document
        self.runs: list[Run] = []
        self.shown: Run | None = None
        self.current: Run | None = None
        self.worker = None
        self.refresh_hidden_views = False  # benchmarks: redraw every view, not just the visible
        self.roomy = False  # Train mode: the plots in a column beside the set-up (gui.workspace)
        self._built = False
        self._preloaded = False
        self._preload_scheduled = False
        self._checked_revision = -1
        self._graph_changed = False
        self._runs_updated = 0.0
        self._pacer = FramePacer(DRAIN_MS, MAX_DRAIN_MS, GUI_BUDGET)
        self._progress_updated = 0.0
        self._pending: set[str] = set()
        self._secondary_timer = QTimer(self)
        self._secondary_timer.setSingleShot(True)
        self._secondary_timer.setInterval(0)
        self._secondary_timer.timeout.connect(self._refresh_secondary)
        self._switch_interval = RunSwitchInterval()  # see gui.training.views.gil
        self.keeper = CallKeeper(self)

        self.drain_timer = QTimer(self)
        self.drain_timer.setInterval(DRAIN_MS)
        self.drain_timer.timeout.connect(self._drain)
        self._listener = listener = qt_listener(self._on_graph_event)
        graph.subscribe(listener)
        self.destroyed.connect(lambda *_: graph.unsubscribe(listener))
        self.actions = self._build_actions()
        self.actions.update(self._finetune_actions())
        self._layers_timer = QTimer(self)
        self._layers_timer.setSingleShot(True)
        self._layers_timer.setInterval(200)
        self._layers_timer.timeout.connect(self._update_layers)
        self.setWidget(QLabel("Loading the training views…"))
        if document is not None:
            document.replaced.connect(self.forget_runs)
            document.saved.connect(self.keep_pending_runs)  # runs of a graph with no file yet

    # ----------------------------------------------------------- start-up
    def _build(self) -> None:
        """Create the views (they import pyqtgraph, which the window need not wait
        for: the dock builds them right after it first shows)."""
        if self._built:
            return
        self._built = True
        from layerloom.gui.training.setup.setup_panel import SetupPanel
        from layerloom.gui.training.views.drawn_source import DrawnSource

        graph, scene = self.graph, self.scene
        self.run_bar = RunBar()
        self.setup = SetupPanel(graph, self.undo_stack, self._base_dir)
        self.tabs = QTabWidget()
        self.tabs.setObjectName("trainingTabs")
        self.views: list[LiveView] = []  # every view, in the table's order
        self.tab_views: list[LiveView] = []
        beside = []
        for row in VIEWS:
            view = row.load()()
            setattr(self, row.attribute, view)
            self.views.append(view)
            if row.tab:
                self.tab_views.append(view)
                self.tabs.addTab(view, view.title)
            else:
                beside.append(view)
        self._beside = beside
        self.drawing = DrawnSource(self)  # one drawn sample for the tabs that show one sample
        for view in (self.inside_view, self.saliency_view, self.try_it):
            view.source_choice.use(self.drawing)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setObjectName("trainingSplitter")
        for index, widget in enumerate((self.setup, *beside, self.tabs)):
            self.splitter.addWidget(widget)
            self.splitter.setStretchFactor(index, 1 if index else 0)
        set_minimums(self)
        arrange_views(self, self.roomy)
        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.run_bar)
        layout.addWidget(self.splitter, 1)
        self.setWidget(body)

        bar = self.run_bar
        bar.start.clicked.connect(self.start)
        bar.pause.clicked.connect(self.pause)
        bar.resume.clicked.connect(self.resume)
        bar.stop.clicked.connect(self.stop)
        bar.save_weights.clicked.connect(self.save_weights)
        bar.open_weights.clicked.connect(self.open_weights)
        bar.export.clicked.connect(self.open_export_dialog)
        bar.continue_run.clicked.connect(lambda: self.continue_run())
        bar.sweep.clicked.connect(self.open_sweep)
        self.weights_view.layerChosen.connect(self._layer_chosen)
        self.runs_panel.overlaysChanged.connect(self._overlays_changed)
        self.runs_panel.runChosen.connect(self.show_run_number)
        self.inside_view.weightsWanted.connect(self._weights_wanted)
        self.tabs.currentChanged.connect(self._tab_changed)
        if scene is not None:
            scene.selectionChangedIds.connect(self.on_canvas_selection)
        self.connect_kept_runs()
        self._update_layers()
        self._sync_state()

    def set_roomy(self, roomy: bool) -> None:
        """Train mode's arrangement (the plots in a column beside the set-up) or
        Edit mode's (all in a row below the canvas); see :mod:`.dock_layout`."""
        if roomy != self.roomy:
            self.roomy = roomy
            if self._built:
                arrange_views(self, roomy)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if not self._built:
            QTimer.singleShot(0, self._build)
        if not self._preloaded and not self._preload_scheduled:
            self._preload_scheduled = True
            QTimer.singleShot(PRELOAD_DELAY_MS, self.preload)

    def preload(self) -> None:
        """Import torch (and torch._dynamo, which the first optimizer imports) on the
        GUI thread, then list the devices torch finds and start dataset previews."""
        self._build()
        if self._preloaded:
            return
        # the first import takes the GUI thread a second or two: say so, and show it
        slow = "torch._dynamo" not in sys.modules
        message = self.run_bar.message
        before = (message.text(), message.property("kind") or "info")
        if slow:
            self.run_bar.show_message("Loading PyTorch…")
            message.repaint()
            QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            import torch
            import torch._dynamo  # noqa: F401  (the optimizers import it on first use)

            import layerloom.backend.training  # noqa: F401
        finally:
            if slow:
                QApplication.restoreOverrideCursor()
                self.run_bar.show_message(*before)
        if slow:
            # torch brings some 280,000 objects that live as long as the app: set them
            # apart, so that each full garbage collection (the cyclic collector's
            # oldest generation) stops walking them all (one took 250 ms inside an edit)
            heap.keep()
        self._preloaded = True
        self.setup.set_devices(torch_devices(torch), processes_field.gpu_count())
        self.setup.enable_preview()

    # -------------------------------------------------------------- control
    @property
    def running(self) -> bool:
        """True from Start until the run's thread has ended and been collected."""
        return self.worker is not None

    def start(self, resume: tuple | None = None) -> Run | None:
        """Start a run of the graph as it is now (from the weights Start from names);
        returns it, or ``None`` with the reason shown when it cannot start.
        ``resume`` is ``(graph, training, dataset, checkpoint folder, note)`` to go on
        from a checkpoint instead (see :mod:`layerloom.gui.training.finetune`)."""
        if self.running:
            return None
        self._build()
        problem = None if resume else self._start_problem()
        if problem:
            self.run_bar.show_message(problem, "error")
            return None
        self.preload()
        source, training, dataset, resume_from, start_note = resume or (
            self.graph, dict(self.graph.training), dict(self.graph.dataset), None, "")
        snapshot = source.copy()
        try:
            start_model, start_note = (None, start_note) if resume else self._start_weights(snapshot, training)
        except StartError as exc:
            self.run_bar.show_message(str(exc), "error")
            return None
        run = Run(self.next_run_number(), snapshot, training, dataset,
                  graph_signature(source), RUN_COLOURS[len(self.runs) % len(RUN_COLOURS)])
        self.runs.append(run)
        self.current = run
        self._checked_revision = self.graph.revision
        self._graph_changed = False
        processes, note = processes_field.processes_for_run(run.training, self.setup.processes_field.gpus)
        run.notes = tuple(n for n in (start_note, note) if n)
        worker = self._make_worker(snapshot, run, processes)
        worker.start_model, worker.resume_from = start_model, resume_from
        if processes == 1:  # in-app runs keep a checkpoint to Continue from
            worker.checkpoint_dir = run.checkpoint = checkpoint_folder()
        worker.finished.connect(self._worker_finished)
        self.worker = worker
        self.run_bar.show_message(f"Preparing {run.label}…")
        self.run_bar.notice.hide()
        self.runs_panel.set_runs(self.runs, run)
        self.show_run(run)
        if run.training.get("task") == "gan":
            self.tabs.setCurrentWidget(self.gan_view)
        self._switch_interval.start()
        worker.start()
        self._pacer.reset(self.drain_timer)
        self.drain_timer.start()
        self._sync_state()
        return run

    def _make_worker(self, snapshot: Graph, run: Run, processes: int):
        """The in-app trainer's thread, or for several processes the thread that
        starts and follows ``layerloom train --nproc``."""
        same_data = run.dataset == dict(self.graph.dataset)  # else (Continue) the run loads its own
        options = dict(base_dir=self._base_dir(), dataset_obj=self.setup.dataset_for_run() if same_data else None,
                       hist_node=self.weights_view.layer, parent=self)
        if run.training.get("task") == "gan":  # two networks that compete
            from layerloom.gui.training.gan_worker import GanWorker

            return GanWorker(snapshot, run.training, run.dataset, **options)
        if processes > 1:
            from layerloom.gui.training.process_worker import ProcessWorker

            return ProcessWorker(snapshot, run.training, run.dataset, processes, **options)
        from layerloom.gui.training.worker import TrainingWorker

        return TrainingWorker(snapshot, run.training, run.dataset, **options)

    def _start_problem(self) -> str | None:
        analysis = self.graph.analysis()
        if not len(self.graph):
            return "The canvas is empty: build a graph (or open an example) before training."
        if self.graph.training.get("task") == "gan":  # the shapes where the networks meet, named
            from layerloom.backend.training.gan_parts import GanError, find_networks
            from layerloom.graph import GraphInvalidError

            try:
                find_networks(self.graph)
            except GanError as exc:
                return f"This GAN cannot train: {exc}."
            except GraphInvalidError:
                pass  # said below, node by node
        if not analysis.valid:
            errors = analysis.errors
            first = "; ".join(f"{self._title(nid)}: {msg}" for nid, msg in errors[:2])
            more = f" (and {len(errors) - 2} more)" if len(errors) > 2 else ""
            return f"The graph has {len(errors)} error(s), so it cannot train: {first}{more}. Fix them first."
        if not self.graph.dataset.get("name"):
            return "Choose a dataset in the set-up panel before training."
        return None

    def _title(self, node_id: str) -> str:
        return self.graph.node(node_id).title if self.graph.has_node(node_id) else node_id

    def pause(self) -> None:
        if self.worker is not None and self.current is not None and self.current.status in ("preparing", "running"):
            self.worker.pause()
            self.run_bar.show_message("Pausing after this step…")

    def resume(self) -> bool:
        """Go on; a learning rate typed while paused applies from the next step."""
        if self.worker is None:
            return False
        text = self.run_bar.lr_edit.text().strip()
        last = self.current.lr.last() if self.current is not None else None
        if text and (last is None or text != f"{last[1]:g}"):
            from layerloom.backend.training import SettingsError
            from layerloom.graph.settings import setting

            lr = setting("training", "lr")
            try:
                self.worker.set_lr(float(text))
            except (ValueError, SettingsError):
                self.run_bar.show_message(
                    f"The learning rate must be a number {lr.range_text()}, such as 0.001 or 1e-4; "
                    f"got {text!r}", "error")
                return False
        self.worker.resume()
        self.run_bar.show_message("Training…")
        return True

    def toggle_pause(self) -> None:
        if self.current is not None and self.current.status == "paused":
            self.resume()
        else:
            self.pause()

    def stop(self) -> None:
        if self.worker is not None:
            self.worker.stop()
            self.run_bar.show_message("Stopping after this step…")

    def confirm_close(self) -> bool:
        """For the window's close: True when it may close (no run, or the user
        agreed to stop it, which is then stopped cleanly)."""
        if self.running and not self.ask_stop_run():
            return False
        self.shutdown()
        return True

    def shutdown(self) -> None:
        """Stop any run and wait for its thread (before the window goes away)."""
        if getattr(self, "sweep_dialog", None) is not None:
            self.sweep_dialog.close()  # cancels a sweep in progress and waits for it
        worker = self.worker
        if worker is not None:
            worker.stop()
            if not worker.wait(STOP_WAIT_MS):  # still loading data: let it end on its own
                worker.setParent(None)
                _ORPHANS.append(worker)
            self._worker_finished()
        self.keeper.wait_all()
        if self._built:
            self.setup.keeper.wait_all()
            self.try_it.generator.keeper.wait_all()
            self.inside_view.keeper.wait_all()
            for view in self.views:  # views that compute in the background wait for it
                stop = getattr(view, "shutdown", None)
                if stop is not None:
                    stop()

    # --------------------------------------------------------------- events
    def _drain(self) -> None:
        worker, run = self.worker, self.current
        if worker is None or run is None:
            self.drain_timer.stop()
            return
        self._pacer.pace(self.drain_timer)
        with gui_first():
            events = worker.queue.drain()
            changed = run.apply(events) if events else set()
            self._update(run, changed, worker)

    def _update(self, run: Run, changed: set[str], worker=None) -> None:
        run.tick()
        if "data" in changed and worker is not None:
            self._attach_data(run, worker)  # the validation set, for the Inside tab during the run
        if "data" in changed and run.data is not None:
            self.run_bar.show_message(f"Training on {run.data.name}: {run.data.train_size:,} training and "
                                      f"{run.data.val_size:,} validation samples…")
        if "status" in changed:
            self._status_changed(run, worker)
        if run.active:
            if run.started is not None:
                text = f"epoch {run.epoch}/{run.started.epochs} · {run.progress:.0%}"
                detail = f"step {run.step:,}/{run.total_steps:,}"
                if run.status == "running":
                    detail += f" · {run.samples_per_s:,.0f} samples/s"
            else:
                text, detail = "preparing…", ""
            now = time.monotonic()
            if now - self._progress_updated >= PROGRESS_INTERVAL or "status" in changed:
                self._progress_updated = now  # numbers that change ten times a second cannot be read
                self.run_bar.set_progress(run.progress, text, detail, run.eta())
            self._check_graph_changed()
        if run is self.shown:  # the views always in view; each skips what it does not draw
            for view in self._beside:
                view.refresh(changed)
        # the rest in an event of its own: no single event of the GUI thread runs long
        self._pending |= changed
        if not self._secondary_timer.isActive():
            self._secondary_timer.start()

    def _status_changed(self, run: Run, worker) -> None:
        if run.status == "running":
            n, device = run.started.processes, run.started.device
            where = device if n == 1 else f"{n} processes ({device.split(':')[0]})"
            notes = "".join(f" {note[:1].upper()}{note[1:].rstrip('.')}." for note in run.notes)
            self.run_bar.show_message(f"Training on {where}…{notes}")
            run.model = None
        elif run.status == "paused":
            last = run.lr.last()
            self.run_bar.lr_edit.setText(f"{last[1]:g}" if last else "")
            self.run_bar.show_message("Paused: change the learning rate if you like, then Resume.")
            trainer = worker.trainer if worker is not None else None
            if trainer is not None and trainer.state == "paused" and trainer.model is not None:
                run.model = copy.deepcopy(trainer.model).cpu()  # for Try it while paused
                self._attach_data(run, worker)
            self.try_it.set_run(run)
        elif run.status == "failed":
            self.run_bar.show_message(f"Training failed: {run.message}", "error")
        elif run.status in ("finished", "stopped"):
            self.run_bar.show_message(f"{run.label}: {run.message}.", "done")
        self._sync_state()

    @staticmethod
    def _attach_data(run: Run, worker) -> None:
        data = getattr(worker, "data", None)
        if data is not None:
            run.val = data.val if data.val is not None else data.train
            run.normalisation = data.normalisation
            run.train_sample = data.train.subset(range(min(len(data.train), LANDSCAPE_SAMPLES)))
        trainer = getattr(worker, "trainer", None)
        run.weight_path = getattr(trainer, "weight_path", None)

    def _worker_finished(self) -> None:
        worker, run = self.worker, self.current
        if worker is None or run is None:
            return
        self.drain_timer.stop()
        self._switch_interval.stop()
        changed = run.apply(worker.queue.drain())
        run.weights = None  # the live copies (Inside tab) served the run only
        if run.active:  # the thread ended without a final event (should not happen)
            run.status, run.message = "failed", "the training thread ended unexpectedly"
            changed.add("status")
        if run.status in ("finished", "stopped"):
            run.model = worker.trained_model()
            if run.model is not None:
                self._attach_data(run, worker)
        elif run.status == "failed":
            run.model = None
        self.worker = None
        self.current = None
        worker.deleteLater()
        if self.scene is not None:
            clear_canvas_badges(self.scene)
        self.run_bar.notice.hide()
        self._update(run, changed | {"status"})
        ended = f"{run.status} after {run.epoch} epoch{'s' if run.epoch != 1 else ''}"  # as the message says
        self.run_bar.set_progress(run.progress, ended, f"step {run.step:,}", None)
        self.runs_panel.update_run(run)
        if run is self.shown:
            for view in self.views:
                view.refresh(changed | {"status"}, full=True)
        self._sync_state()
        self.keep_run(run)  # beside the graph's file (NAME.runs), in the background
        self.runFinished.emit(run.number)

    def _check_graph_changed(self) -> None:
        run = self.current
        if run is None or self.graph.revision == self._checked_revision:
            return
        self._checked_revision = self.graph.revision
        self._graph_changed = graph_signature(self.graph) != run.signature
        self.run_bar.notice.setVisible(self._graph_changed)

    @property
    def graph_changed_since_run(self) -> bool:
        return self._graph_changed

    def _sync_state(self) -> None:
        if not self._built:
            return
        run = self.current
        state = "idle"
        if run is not None:
            state = run.status if run.active else "ending"
        shown = self.shown
        has_model = self.has_weights(shown)
        pausable = self.worker is None or self.worker.pausable
        self.run_bar.set_state(state, has_model, pausable)
        a = self.actions
        a["start"].setEnabled(not self.running)
        a["pause"].setEnabled(self.running and pausable)
        a["pause"].setText("&Resume" if state == "paused" else "&Pause")
        a["stop"].setEnabled(self.running)
        a["save_weights"].setEnabled(has_model)
        a["export"].setEnabled(has_model)
        a["open_weights"].setEnabled(not self.running)
        self._sync_finetune()

_ORPHANS: list = []  # threads still loading data when their window closed


@atexit.register
def _wait_for_orphans() -> None:  # pragma: no cover - interpreter shutdown
    for worker in _ORPHANS:
        worker.wait()
