"""The training thread: prepares the data, runs the backend trainer, and queues
what happens for the GUI thread to read.

The worker never touches a widget and never emits a Qt signal per step (one
signal per step costs up to 15% of the training speed on small models). Every
event (the trainer's, and the probe results of :mod:`layerloom.backend.training.probes`) goes
into one :class:`~layerloom.backend.training.EventQueue`; a timer of the dock drains it
about ten times a second. Statistics and the decision boundary are measured here,
between steps, at most twice a second by the clock.

Control from the GUI thread (pause, resume, stop, a new learning rate) goes
through thread-safe calls; a request made before the trainer exists (the data is
still loading) is kept and applied as soon as it does.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, QThread

STATS_INTERVAL = 0.5  # seconds between two gradient/histogram measurements
BOUNDARY_INTERVAL = 0.5  # seconds between two decision-boundary grids
SCATTER_POINTS = 400  # points of a 2-D dataset shown under the boundary


@dataclass(frozen=True)
class DataReady:
    """The data of the run is loaded, split and normalised.

    ``scatter_x``/``scatter_y`` are up to :data:`SCATTER_POINTS` validation (or
    training) samples of a 2-D dataset in normalised units, for the boundary plot.
    """

    name: str
    task: str
    input_shape: tuple[int, ...]
    num_classes: int | None
    class_names: tuple[str, ...]
    train_size: int
    val_size: int
    scatter_x: np.ndarray | None = None
    scatter_y: np.ndarray | None = None
    kind: str = field(default="data", init=False)


@dataclass(frozen=True)
class ProbeProblem:
    """A live statistic could not be measured; training goes on without it."""

    message: str
    kind: str = field(default="probe_problem", init=False)


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def data_ready(data) -> DataReady:
    """The :class:`DataReady` event of prepared data (a ``TrainingData``)."""
    train, val = data.train, data.val
    source = val if val is not None and len(val) else train
    sx = sy = None
    if tuple(train.input_shape) == (2,) and train.input_dtype == "float":
        pick = np.random.default_rng(0).permutation(len(source))[:SCATTER_POINTS]
        sx, sy = np.asarray(source.x[pick], np.float32), np.asarray(source.y[pick])
    names = tuple(train.class_names or ()) if train.task == "classification" else ()
    return DataReady(train.name, train.task, tuple(train.input_shape), train.num_classes, names,
                     len(train), len(val) if val is not None else 0, sx, sy)


class TrainingWorker(QThread):
    """One training run in its own thread.

    Parameters
    ----------
    graph : Graph
        A snapshot of the graph to train (``graph.copy()``); the user may go on
        editing the document meanwhile.
    training, dataset : dict
        The graph's ``training`` and ``dataset`` sections.
    base_dir : str, optional
        Folder of the ``.loom`` file, for relative data paths.
    dataset_obj : Dataset, optional
        The dataset already loaded for the preview (saves loading it twice).
    hist_node : str, optional
        Node whose weight histogram is measured (the layer on screen).

    Attributes
    ----------
    queue : EventQueue
        Everything the run reports, oldest first.
    trainer : Trainer or None
        The backend trainer once created (the model lives in ``trainer.model``).
    data : TrainingData or None
        The prepared data, for Try it after the run.
    """

    pausable = True  # pause, resume and a new learning rate are offered

    def __init__(self, graph, training: dict[str, Any], dataset: dict[str, Any],
                 base_dir: str | None = None, dataset_obj=None, hist_node: str | None = None,
                 parent: QObject | None = None):
        super().__init__(parent)
        from layerloom.backend.training.events import EventQueue

        self.setObjectName("trainingWorker")
        self.graph = graph
        self.training = dict(training)
        self.dataset = dict(dataset)
        self.base_dir = base_dir
        self.dataset_obj = dataset_obj
        self.hist_node = hist_node  # read by the training thread; a str swap is atomic
        self.queue = EventQueue()
        self.trainer = None
        self.data = None
        self.settings = None
        self._lock = threading.Lock()
        self._want_stop = False
        self._want_pause = False
        self._pending_lr: float | None = None
        self._probe = None
        self._last_stats = 0.0
        self._last_boundary = 0.0
        self._next_probe = 0.0  # clock time (perf_counter) at which a probe is next due
        self._probe_failed = False

    # ---------------------------------------------------------------- control
    def pause(self) -> None:
        with self._lock:
            self._want_pause = True
            if self.trainer is not None:
                self.trainer.pause()

    def resume(self) -> None:
        with self._lock:
            self._want_pause = False
            if self.trainer is not None:
                self.trainer.resume()

    def stop(self) -> None:
        with self._lock:
            self._want_stop = True
            if self.trainer is not None:
                self.trainer.stop()

    def set_lr(self, lr: float) -> None:
        """Use ``lr`` from the next step (raises ``SettingsError`` for a bad value)."""
        with self._lock:
            if self.trainer is not None:
                self.trainer.set_lr(lr)
            else:
                self._pending_lr = float(lr)

    def trained_model(self):
        """The trained model on the CPU once the run has ended (``None`` before)."""
        trainer = self.trainer
        return trainer.model.to("cpu") if trainer is not None and trainer.model is not None else None

    # -------------------------------------------------------------------- run
    def run(self) -> None:  # the training thread
        from layerloom.backend.training.events import Failed

        try:
            self._run()
        except Exception as exc:  # never a traceback on the user's screen
            self.queue(Failed(f"training could not start: {type(exc).__name__}: {first_line(exc)}"))

    def _run(self) -> None:
        from layerloom.backend.datasets import DatasetError
        from layerloom.backend.training import (
            DatasetSettings,
            Failed,
            SettingsError,
            Trainer,
            TrainSettings,
            prepare_data,
        )

        try:
            self.settings = settings = TrainSettings.from_dict(self.training)
            dataset_settings = DatasetSettings.from_dict(self.dataset)
            self.data = data = prepare_data(dataset_settings, seed=settings.seed,
                                            base_dir=self.base_dir, dataset=self.dataset_obj)
        except (SettingsError, DatasetError) as exc:
            self.queue(Failed(str(exc)))
            return
        self.queue(data_ready(data))
        trainer = Trainer(self.graph, data.train, data.val, settings, on_event=self._consume,
                          normalisation=data.normalisation, step_every=1)
        with self._lock:
            self.trainer = trainer
            if self._pending_lr is not None:
                trainer.set_lr(self._pending_lr)
            if self._want_pause:
                trainer.pause()
            if self._want_stop:
                trainer.stop()
        trainer.run()

    # ------------------------------------------------- consumer (training thread)
    def _consume(self, event) -> None:
        """Called by the trainer between steps: queue, and probe when it is time.

        A step (the call made thousands of times a second) costs one queue append
        and one clock read beyond what the headless trainer does; the probes'
        own bookkeeping runs only once they are due.
        """
        kind = event.kind
        if kind == "step":
            self.queue(event)
            now = time.perf_counter()
            if now >= self._next_probe:
                self._measure(now)
            return
        if kind == "started":
            self.queue(event)
            self._start_probe()
            return
        if kind in ("finished", "failed"):
            if kind == "finished":
                self._measure(time.perf_counter(), force=True)
            self.queue(event)
            return
        self.queue(event)
        if kind == "epoch":
            self._measure(time.perf_counter())

    def _start_probe(self) -> None:
        import torch

        from layerloom.backend.training.probes import LiveProbe

        trainer = self.trainer
        try:
            source = trainer.val_data if trainer.val_data is not None else trainer.train_data
            probe = torch.as_tensor(source.x[:256]).to(trainer.device)
            order = [nid for nid in self.graph.topological_order()]
            self._probe = LiveProbe(trainer.model, trainer.module_nodes, order, probe,
                                    trainer.objective, trainer.train_data.task, trainer.settings.seed)
        except Exception as exc:
            self._report_probe(exc)

    def _measure(self, now: float, force: bool = False) -> None:
        probe, trainer = self._probe, self.trainer
        if probe is None or self._probe_failed or trainer is None:
            return
        try:
            if force or now - self._last_stats >= STATS_INTERVAL:
                self._last_stats = now
                self.queue(probe.live_stats(trainer.epoch + 1, trainer.step, self.hist_node))
            if probe.grid is not None and (force or now - self._last_boundary >= BOUNDARY_INTERVAL):
                self._last_boundary = now
                self.queue(probe.boundary(trainer.step))
        except Exception as exc:  # a statistic must never end the run
            self._report_probe(exc)
            return
        due = self._last_stats + STATS_INTERVAL
        if probe.grid is not None:
            due = min(due, self._last_boundary + BOUNDARY_INTERVAL)
        self._next_probe = due

    def _report_probe(self, exc: Exception) -> None:
        self._probe_failed = True
        self._next_probe = float("inf")
        self.queue(ProbeProblem(f"live statistics are off for this run ({type(exc).__name__}: "
                                f"{first_line(exc)})"))
