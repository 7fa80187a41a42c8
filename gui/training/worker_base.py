"""What the two workers of a training run share: the thread, the queue of events
the dock drains, the data of the run, the lock around control calls, the probe's
schedule, and turning an unexpected error into the run's ``failed`` event.

:class:`~layerloom.gui.training.worker.TrainingWorker` trains in its own thread;
:class:`~layerloom.gui.training.process_worker.ProcessWorker` starts ``layerloom train
--nproc N`` and follows it. Both put what happens into one
:class:`~layerloom.backend.training.EventQueue` that a timer of the dock drains on the
GUI thread; neither touches a widget nor emits a signal per step.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, QThread

STATS_INTERVAL = 0.5  # seconds between two gradient/histogram measurements
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
    names = tuple(train.class_names or ()) if train.task in ("classification", "segmentation") else ()
    return DataReady(train.name, train.task, tuple(train.input_shape), train.num_classes, names,
                     len(train), len(val) if val is not None else 0, sx, sy)


class RunWorker(QThread):
    """One training run, followed from a thread of its own; subclasses say how it
    trains (:meth:`_run`). The controls (:meth:`stop`, and where ``pausable``,
    :meth:`pause`, :meth:`resume` and :meth:`set_lr`) are an in-app run's, passed on
    to its trainer under the lock; a run that is not in-app overrides them.

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
        Node whose weight histogram is measured (the layer on screen); read by
        the worker's thread, set from the GUI thread (a str swap is atomic).

    Attributes
    ----------
    queue : EventQueue
        Everything the run reports, oldest first.
    trainer : Trainer or None
        The backend trainer of an in-app run once created.
    data : TrainingData or None
        The prepared data, for the boundary's scatter and Try it after the run.
    """

    pausable = False  # pause, resume and a new learning rate are offered
    object_name = "runWorker"
    # Fine-tuning (gui/training/finetune.py), set before start: the model whose weights
    # the run starts from, a checkpoint folder to go on from, where to checkpoint.
    start_model = None
    resume_from: str | None = None
    checkpoint_dir: str | None = None

    def __init__(self, graph, training: dict[str, Any], dataset: dict[str, Any],
                 base_dir: str | None = None, dataset_obj=None, hist_node: str | None = None,
                 parent: QObject | None = None):
        super().__init__(parent)
        from layerloom.backend.training.events import EventQueue

        self.setObjectName(self.object_name)
        self.graph = graph
        self.training = dict(training)
        self.dataset = dict(dataset)
        self.base_dir = base_dir
        self.dataset_obj = dataset_obj
        self.hist_node = hist_node
        self.queue = EventQueue()
        self.trainer = None
        self.data = None
        self.settings = None
        self._lock = threading.Lock()
        self._want_stop = False
        self._want_pause = False
        self._pending_lr: float | None = None
        self._probe = None
        self._probe_failed = False
        self._next_probe = 0.0  # clock time at which the probe is next due

    # ---------------------------------------------------------------- control
    # An in-app run (TrainingWorker, GanWorker) passes these on to its trainer; a
    # request made before the trainer exists is kept and applied by _adopt_trainer.
    def pause(self) -> None:
        """Pause after this step (nothing where the run is not ``pausable``)."""
        with self._lock:
            self._want_pause = True
            if self.trainer is not None:
                self.trainer.pause()

    def resume(self) -> None:
        """Go on after a pause (nothing where the run is not ``pausable``)."""
        with self._lock:
            self._want_pause = False
            if self.trainer is not None:
                self.trainer.resume()

    def stop(self) -> None:
        """Stop after this step, keeping what the run has learned."""
        with self._lock:
            self._want_stop = True
            if self.trainer is not None:
                self.trainer.stop()

    def set_lr(self, lr: float) -> None:
        """Use ``lr`` from the next step (raises ``SettingsError`` for a bad value, or
        where the run cannot change it)."""
        with self._lock:
            if self.trainer is not None:
                self.trainer.set_lr(lr)
            else:
                self._pending_lr = float(lr)

    def trained_model(self):
        """The trained model on the CPU once the run has ended (``None`` before)."""
        trainer = self.trainer
        return trainer.model.to("cpu") if trainer is not None and trainer.model is not None else None

    def _adopt_trainer(self, trainer) -> None:
        """Keep ``trainer`` and apply what was asked before it existed."""
        with self._lock:
            self.trainer = trainer
            if self._pending_lr is not None:
                trainer.set_lr(self._pending_lr)
            if self._want_pause:
                trainer.pause()
            if self._want_stop:
                trainer.stop()

    # -------------------------------------------------------------------- run
    def run(self) -> None:  # the worker's thread
        from layerloom.backend.training.events import Failed

        try:
            self._run()
        except Exception as exc:  # never a traceback on the user's screen
            self._abandon()
            self.queue(Failed(f"training could not start: {type(exc).__name__}: {first_line(exc)}"))
        finally:
            self._ended()

    def _run(self) -> None:
        raise NotImplementedError

    def _abandon(self) -> None:
        """After an unexpected error: end what the run has started."""

    def _ended(self) -> None:
        """The thread is about to end: clean up after the run."""

    def _prepare_data(self):
        """Read the settings and prepare the run's data (split and normalised as
        the trainer does, with the run's seed); queue :class:`DataReady`. Raises
        ``SettingsError`` or ``DatasetError`` for what the user can fix."""
        from layerloom.backend.training import DatasetSettings, TrainSettings, prepare_data

        self.settings = settings = TrainSettings.from_dict(self.training)
        self.data = prepare_data(DatasetSettings.from_dict(self.dataset), seed=settings.seed,
                                 base_dir=self.base_dir, dataset=self.dataset_obj)
        self.queue(data_ready(self.data))
        return self.data

    def _prepared_data(self):
        """:meth:`_prepare_data` for an in-app run: ``None`` where the user's settings or
        data are at fault, with the reason queued as the run's ``failed`` event."""
        from layerloom.backend.datasets import DatasetError
        from layerloom.backend.training import Failed, SettingsError

        try:
            return self._prepare_data()
        except (SettingsError, DatasetError) as exc:
            self.queue(Failed(str(exc)))
            return None

    def _report_probe(self, exc: Exception, what: str) -> None:
        """A live statistic failed: say so once, and measure no more this run."""
        self._probe_failed = True
        self._next_probe = float("inf")
        self.queue(ProbeProblem(f"{what} ({type(exc).__name__}: {first_line(exc)})"))
