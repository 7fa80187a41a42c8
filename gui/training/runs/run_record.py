"""One training run as the dock remembers it: settings, curves, latest statistics.

Every run of the session is kept (the Runs tab overlays their curves), so a
record holds only bounded data: :class:`~layerloom.gui.training.views.series.BoundedSeries`
curves, the latest statistics, and a bounded history of weight histograms per
layer. :meth:`Run.apply` folds the events of the training thread into it and
says which views need a redraw. No Qt here.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from layerloom.backend.runs.compare import graph_signature
from layerloom.graph import Graph
from layerloom.graph.settings import defaults
from layerloom.gui.training.views.series import BoundedSeries

# Colour of each run's curves (the same in every view and in the Runs list).
RUN_COLOURS = ("#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2",
               "#ca8a04", "#db2777", "#4b5563", "#65a30d")
HIST_HISTORY = 240  # weight-histogram snapshots kept per layer (then every other one goes)
ACTIVE = ("preparing", "running", "paused")


__all__ = ["ACTIVE", "RUN_COLOURS", "HistHistory", "Run", "graph_signature", "growing_until"]


@dataclass
class HistHistory:
    """Weight histograms of one layer over time, at most :data:`HIST_HISTORY`."""

    steps: list[int] = field(default_factory=list)
    edges: list[np.ndarray] = field(default_factory=list)
    counts: list[np.ndarray] = field(default_factory=list)
    version: int = 0

    def add(self, step: int, edges, counts) -> None:
        if len(self.steps) >= HIST_HISTORY:
            self.steps, self.edges, self.counts = self.steps[::2], self.edges[::2], self.counts[::2]
        self.steps.append(step)
        self.edges.append(np.asarray(edges, np.float64))
        self.counts.append(np.asarray(counts, np.float64))
        self.version += 1


@dataclass
class Run:
    """A training run and everything the views show about it."""

    number: int
    graph: Graph
    training: dict[str, Any]
    dataset: dict[str, Any]
    signature: str
    colour: str
    status: str = "preparing"  # running, paused, finished, stopped, failed
    saved: bool = False  # its weights are in a file (saved, exported, or opened from one)
    message: str = ""
    loss: BoundedSeries = field(default_factory=BoundedSeries)
    lr: BoundedSeries = field(default_factory=lambda: BoundedSeries(keep="first"))  # steps stay steps
    val_loss: BoundedSeries = field(default_factory=BoundedSeries)
    epoch_loss: BoundedSeries = field(default_factory=BoundedSeries)
    metrics: dict[str, BoundedSeries] = field(default_factory=dict)
    hist: dict[str, HistHistory] = field(default_factory=dict)
    started: Any = None
    data: Any = None
    stats: Any = None
    boundary: Any = None
    confusion: Any = None
    final: dict[str, float] = field(default_factory=dict)
    wall_time: float | None = None  # seconds the trainer ran, once it has ended
    notes: tuple[str, ...] = ()
    step: int = 0
    epoch: int = 0
    samples_per_s: float = 0.0
    active_seconds: float = 0.0
    model: Any = None  # the trained model on the CPU, once the run has ended
    normalisation: Any = None
    val: Any = None  # the normalised validation set (Try it)
    checkpoint: str | None = None  # an in-app run's checkpoint folder (Continue)
    best: dict[str, Any] = field(default_factory=dict)  # the best weights kept: metric, epoch, value
    kept: Any = None  # the run's folder beside the graph (backend.runs.StoredRun), once written
    pending: bool = False  # finished in a graph with no file yet: kept when the graph is saved
    keeping: bool = False  # being written beside the graph right now
    problem: str | None = None  # a kept run that cannot be used (damaged, newer), and why
    train_sample: Any = None  # up to 1,024 normalised training samples (the loss landscape)
    weight_path: Any = None  # the trainer's WeightPath: weights snapshots during the run
    weights: Any = None  # the latest copy of the weights during the run (the Inside tab)
    gan: Any = None  # a GAN run's curves and samples (views.gan_record.GanRecord)
    _tick: float | None = None
    _first_step: int = 0

    # ------------------------------------------------------------ describing
    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    @property
    def label(self) -> str:
        """``Run 2 · adam, lr 0.01 · moons``: enough to tell runs apart."""
        if self.problem and self.kept is not None and not self.kept.ok:
            return f"Run {self.number} · {self.kept.id}"  # its settings could not be read
        t = {**defaults("training"), **self.training}
        opt, lr = t["optimizer"], t["lr"]
        data = str(self.dataset.get("name") or "no data")
        data = data.replace("\\", "/").rsplit("/", 1)[-1]
        lr_text = f"{lr:g}" if isinstance(lr, (int, float)) else str(lr)
        return f"Run {self.number} · {opt}, lr {lr_text} · {data}"

    @property
    def total_steps(self) -> int:
        return self.started.total_steps if self.started is not None else 0

    @property
    def progress(self) -> float:
        """Share of the planned steps done, 0..1."""
        total = self.total_steps
        return min(1.0, self.step / total) if total else 0.0

    def eta(self) -> float | None:
        """Seconds left at the speed so far (``None`` before it can be told)."""
        done = self.step - self._first_step
        if not self.active or done <= 0 or self.active_seconds <= 0.2 or not self.total_steps:
            return None
        rate = done / self.active_seconds
        return max(0.0, (self.total_steps - self.step) / rate)

    def tick(self, now: float | None = None) -> None:
        """Count the time spent running (paused time does not make the ETA longer)."""
        now = time.monotonic() if now is None else now
        if self.status == "running" and self._tick is not None:
            self.active_seconds += now - self._tick
        self._tick = now

    # ---------------------------------------------------------------- events
    def apply(self, events: list) -> set[str]:
        """Fold ``events`` in; returns the parts that changed (``"loss"``,
        ``"epoch"``, ``"stats"``, ``"boundary"``, ``"confusion"``, ``"status"``,
        ``"data"``)."""
        changed: set[str] = set()
        for event in events:
            handler = getattr(self, f"_on_{event.kind}", None)
            if handler is not None:
                changed.add(handler(event))
        changed.discard(None)
        return changed

    def _on_data(self, event) -> str:
        self.data = event
        return "data"

    def _on_started(self, event) -> str:
        self.started = event
        self.status = "running"
        self.notes = (*self.notes, *event.notes)  # after the dock's own (processes)
        self.step = event.first_step - 1
        self._first_step = self.step
        self.tick()
        return "status"

    def _on_step(self, event) -> str:
        self.step = event.step
        self.epoch = event.epoch
        self.samples_per_s = event.samples_per_s
        self.loss.append(event.step, event.loss if math.isfinite(event.loss) else math.nan)
        self.lr.append(event.step, event.lr)
        return "loss"

    def _on_epoch(self, event) -> str:
        self.epoch = event.epoch
        self.step = event.step
        self.epoch_loss.append(event.step, event.train.get("loss", math.nan))
        if event.val is not None:
            self.val_loss.append(event.step, event.val.get("loss", math.nan))
        for prefix, values in (("", event.train), ("val_", event.val or {})):
            for name, value in values.items():
                if name != "loss":
                    self.metrics.setdefault(prefix + name, BoundedSeries()).append(event.step, value)
        return "epoch"

    def _on_stats(self, event) -> str:
        self.stats = event
        for node in event.nodes:
            if node.hist_counts:
                self.hist.setdefault(node.node_id, HistHistory()).add(
                    event.step, node.hist_edges, node.hist_counts)
        return "stats"

    def _on_boundary(self, event) -> str:
        self.boundary = event
        return "boundary"

    def _on_confusion(self, event) -> str:
        self.confusion = event
        return "confusion"

    def _on_weights(self, event) -> str:
        self.weights = event
        return "weights"

    def _on_paused(self, event) -> str:
        self.tick()
        self.status = "paused"
        return "status"

    def _on_resumed(self, event) -> str:
        self.tick()
        self.status = "running"
        return "status"

    def _on_finished(self, event) -> str:
        self.tick()
        self.status = "stopped" if event.reason == "stopped" else "finished"
        self.final = dict(event.metrics)
        self.step = event.steps
        self.epoch = event.epochs  # the epochs done, as the message counts them
        self.wall_time = event.wall_time
        how = {"completed": "finished", "stopped": "stopped",
               "early_stopping": "stopped early (no more improvement)"}[event.reason]
        self.message = f"{how} after {event.epochs} epoch(s), {event.steps} steps in {event.wall_time:.1f} s"
        self.best = dict(getattr(event, "best", None) or {})
        if self.best:
            self.message += (f"; kept the weights of epoch {self.best['epoch']} "
                             f"(best {self.best['metric']} {self.best['value']:.4g})")
        return "status"

    def _on_failed(self, event) -> str:
        self.tick()
        self.status = "failed"
        self.message = event.message
        return "status"

    def _on_note(self, event) -> str:
        self.notes = (*self.notes, event.message)
        return "status"

    def _on_gan(self, event) -> str:
        from layerloom.gui.training.views.gan_record import gan_of

        return gan_of(self).add_progress(event)

    def _on_gan_samples(self, event) -> str:
        from layerloom.gui.training.views.gan_record import gan_of

        return gan_of(self).add_samples(event)

    def _on_probe_problem(self, event) -> str:
        self.notes = (*self.notes, event.message)
        return "status"

    # ----------------------------------------------------------------- views
    def metric_name(self) -> str | None:
        """The metric curve to show: accuracy for classifiers, MAE for regressions."""
        for name in ("accuracy", "mae", "r2"):
            if name in self.metrics or f"val_{name}" in self.metrics:
                return name
        return None

    def train_loss(self) -> float | None:
        """The training loss to quote (the header and the Runs table say the same):
        the last epoch's mean, or before the first epoch ends the last step's."""
        last = self.epoch_loss.last() or self.loss.last()
        return None if last is None else last[1]

    def grad_norms(self) -> dict[str, tuple[float | None, float | None]]:
        """``{node id: (gradient norm, dead share)}`` from the latest statistics."""
        if self.stats is None:
            return {}
        return {n.node_id: (n.grad_norm, n.dead_fraction) for n in self.stats.nodes}


def growing_until(run: Run | None) -> float | None:
    """The step a run's curves grow to while it goes (its planned last step);
    ``None`` once it has ended or before its plan is known."""
    if run is None or not run.active or not run.total_steps:
        return None
    return float(run.total_steps)
