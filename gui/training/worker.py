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

import time
from typing import Any, NamedTuple

from PySide6.QtCore import QObject

from layerloom.gui.training.worker_base import STATS_INTERVAL, RunWorker

BOUNDARY_INTERVAL = 0.5  # seconds between two decision-boundary grids
CHECKPOINT_EVERY = 60.0  # seconds between checkpoints after an epoch; always one at the end


class WeightsCopy(NamedTuple):
    """A copy of the model's weights on the CPU, taken between two steps."""

    step: int
    state: dict
    kind: str = "weights"


class TrainingWorker(RunWorker):
    """One training run in its own thread.

    Parameters are those of :class:`~layerloom.gui.training.worker_base.RunWorker`;
    ``trainer.model`` is the model being trained.
    """

    pausable = True
    object_name = "trainingWorker"

    def __init__(self, graph, training: dict[str, Any], dataset: dict[str, Any],
                 base_dir: str | None = None, dataset_obj=None, hist_node: str | None = None,
                 parent: QObject | None = None):
        super().__init__(graph, training, dataset, base_dir, dataset_obj, hist_node, parent)
        self._last_stats = 0.0
        self._last_boundary = 0.0
        self._weights_wanted = False

    # ---------------------------------------------------------------- control
    def request_weights(self) -> None:
        """Queue a :class:`WeightsCopy` after the next step (the Inside tab's live view).
        The step's own check for due probes picks it up: no cost per step."""
        self._weights_wanted = True
        self._next_probe = 0.0

    # -------------------------------------------------------------------- run
    def _run(self) -> None:
        from layerloom.backend.training import Trainer

        data = self._prepared_data()
        if data is None:
            return
        trainer = Trainer(self.graph, data.train, data.val, self.settings, on_event=self._consume,
                          normalisation=data.normalisation, step_every=1, model=self.start_model,
                          resume_from=self.resume_from, checkpoint_dir=self.checkpoint_dir,
                          checkpoint_every=CHECKPOINT_EVERY, record_path=True)
        self._adopt_trainer(trainer)
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
            self._report_probe(exc, "live statistics are off for this run")

    def _measure(self, now: float, force: bool = False) -> None:
        if self._weights_wanted:
            self._copy_weights()
        probe, trainer = self._probe, self.trainer
        if probe is None or self._probe_failed or trainer is None:
            if self._probe_failed:
                self._next_probe = float("inf")
            return
        try:
            if force or now - self._last_stats >= STATS_INTERVAL:
                self._last_stats = now
                self.queue(probe.live_stats(trainer.epoch + 1, trainer.step, self.hist_node))
            if probe.grid is not None and (force or now - self._last_boundary >= BOUNDARY_INTERVAL):
                self._last_boundary = now
                self.queue(probe.boundary(trainer.step))
        except Exception as exc:  # a statistic must never end the run
            self._report_probe(exc, "live statistics are off for this run")
            return
        due = self._last_stats + STATS_INTERVAL
        if probe.grid is not None:
            due = min(due, self._last_boundary + BOUNDARY_INTERVAL)
        self._next_probe = due

    def _copy_weights(self) -> None:
        self._weights_wanted = False
        trainer = self.trainer
        if trainer is None or trainer.model is None:
            return
        try:
            state = {name: t.detach().to("cpu", copy=True) for name, t in trainer.model.state_dict().items()}
        except RuntimeError:  # out of host memory: the preview waits for the run's end instead
            return
        self.queue(WeightsCopy(trainer.step, state))
