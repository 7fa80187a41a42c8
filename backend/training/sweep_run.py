"""Running a sweep's trials: one after another in this process, or side by side,
each in a process of its own (``workers``).

Each trial is a normal training run (:class:`~layerloom.backend.training.Trainer`) of a
copy of the graph with the trial's values written in
(:func:`~layerloom.backend.training.sweep.apply_values`), with the graph's seed, so
two sweeps of the same file give the same numbers. A trial that cannot train
(a width that breaks a shape, a rate that makes the loss blow up) records its
failure, with the message, and the sweep goes on with the others.

:meth:`Sweep.stop` (thread-safe) ends the sweep after the trial in progress, or
with ``cancel=True`` stops that trial too (it ends ``stopped``, with the metrics it
reached). Trials never started are left ``skipped``.

A worker process is started with ``spawn`` (a fresh interpreter: no Qt, no state
of the caller), gets the graph as plain file data, loads the data itself and
sends its epochs and its result back through a queue. The machine's cores are
shared between the workers (``torch.set_num_threads``).
"""

from __future__ import annotations

import contextlib
import json
import math
import multiprocessing
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from layerloom.backend.training.sweep import (
    Axis,
    apply_values,
    check_metric,
    format_value,
    grid,
    higher_is_better,
)
from layerloom.graph import Graph

STATUSES = ("pending", "running", "completed", "stopped", "failed", "skipped")
POLL_S = 0.1
KILL_AFTER_S = 20.0  # a cancelled worker that has not ended by then is killed


@dataclass
class Trial:
    """One trial: its values (axis key -> value) and what came of them.

    ``final`` is the metric at the last epoch, ``best`` the best of every epoch
    (and ``best_epoch`` where); ``metrics`` every final metric of the run;
    ``message`` why it failed (or a note: the metric it fell back to).
    """

    index: int
    values: dict[str, Any]
    status: str = "pending"
    final: float | None = None
    best: float | None = None
    best_epoch: int | None = None
    epochs: int = 0
    seconds: float = 0.0
    metrics: dict[str, float] = field(default_factory=dict)
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["values"] = {k: list(v) if isinstance(v, tuple) else v for k, v in self.values.items()}
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Trial:
        return cls(**data)


def metric_of(record: dict[str, Any], metric: str) -> float | None:
    """``metric`` of one epoch of a trainer's history (``val_`` metrics fall back
    to the training ones without a validation set, as the trainer's monitor does)."""
    name = metric.removeprefix("val_")
    part = record.get("val") if metric.startswith("val_") and record.get("val") else record.get("train")
    value = (part or {}).get(name)
    return float(value) if value is not None and math.isfinite(value) else None


def run_trial(graph: Graph, axes: list[Axis], trial: Trial, metric: str, epochs: int | None = None,
              base_dir: str | None = None, dataset: Any = None, stop: Any = None,
              on_epoch: Callable[[int, int, float | None], None] | None = None) -> Trial:
    """Train ``trial`` (in this thread) and fill in its result; never raises.

    ``stop`` is anything with ``is_set()`` (a threading or multiprocessing Event):
    once it is set the run stops after the current step. ``on_epoch(epoch,
    epochs, value)`` follows the run. ``dataset`` is data already loaded (the app's).
    """
    from layerloom.backend.datasets import DatasetError
    from layerloom.backend.training.data import prepare_data
    from layerloom.backend.training.settings import DatasetSettings, SettingsError, TrainSettings
    from layerloom.backend.training.trainer import Trainer
    from layerloom.graph import GraphError, ParamError

    trial.status = "running"
    t0 = time.perf_counter()
    try:
        g = apply_values(graph, axes, trial.values)
        settings = TrainSettings.from_dict(g.training)
        if epochs is not None and "epochs" not in trial.values:
            settings = settings.replace(epochs=epochs)
        data = prepare_data(DatasetSettings.from_dict(g.dataset), settings.seed, base_dir, dataset)
    except (GraphError, ParamError, SettingsError, DatasetError, OSError) as exc:
        trial.status, trial.message = "failed", str(exc)
        trial.seconds = time.perf_counter() - t0
        return trial
    history: list[dict] = []

    def follow(event) -> None:
        if stop is not None and event.kind == "step" and stop.is_set():
            trainer.stop()
        elif event.kind == "epoch":
            record = {"train": event.train, "val": event.val}
            history.append(record)
            if on_epoch is not None:
                on_epoch(event.epoch, settings.epochs, metric_of(record, metric))

    trainer = Trainer(g, data.train, data.val, settings, on_event=follow, min_step_interval=POLL_S)
    if stop is not None and stop.is_set():
        trainer.stop()
    final = trainer.run()
    trial.seconds = time.perf_counter() - t0
    trial.epochs = len(history)
    if final.kind == "failed":
        trial.status, trial.message = "failed", final.message
        return trial
    trial.status = "stopped" if final.reason == "stopped" else "completed"
    trial.metrics = {k: float(v) for k, v in final.metrics.items()}
    values = [metric_of(r, metric) for r in history]
    if metric.startswith("val_") and data.val is None:
        trial.message = f"no validation set: {metric} is the training {metric[4:]}"
    scored = [(v, i + 1) for i, v in enumerate(values) if v is not None]
    if values and values[-1] is not None:
        trial.final = values[-1]
    if scored:
        pick = max if higher_is_better(metric) else min
        trial.best, trial.best_epoch = pick(scored, key=lambda pair: pair[0])
    elif history:
        trial.message = f"the run reports no {metric} (it has: {', '.join(trial.metrics)})"
    return trial


class Sweep:
    """The trials of ``axes`` on ``graph``, run by :meth:`run`.

    Parameters
    ----------
    graph : Graph
        The graph (a snapshot is kept); its training settings are every trial's
        defaults.
    axes : list of Axis
        One or two, from :func:`~layerloom.backend.training.sweep.plan`.
    metric : str
        What the trials are compared by (``val_accuracy``, ``val_loss``, ...).
    epochs : int, optional
        Epochs per trial, over the graph's own (unless ``epochs`` is swept).
    base_dir : str, optional
        The ``.loom`` file's folder (relative data paths).
    dataset : Dataset, optional
        Data already loaded, for trials in this process (workers load their own).
    """

    def __init__(self, graph: Graph, axes: list[Axis], metric: str, epochs: int | None = None,
                 base_dir: str | None = None, dataset: Any = None):
        self.graph = graph.copy()
        self.axes = list(axes)
        self.metric = check_metric(metric)
        self.epochs = epochs
        self.base_dir = base_dir
        self.dataset = dataset
        self.trials = [Trial(i, values) for i, values in enumerate(grid(self.axes))]
        self.wall_time = 0.0
        self._stop = threading.Event()  # no new trials
        self._cancel = threading.Event()  # stop the trials in progress too
        self._cancel_workers: list[Any] = []

    # ------------------------------------------------------------ control
    def stop(self, cancel: bool = False) -> None:
        """End after the trials in progress (thread-safe); ``cancel`` stops them too."""
        self._stop.set()
        if cancel:
            self._cancel.set()
            for event in list(self._cancel_workers):
                event.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    # ---------------------------------------------------------------- run
    def run(self, workers: int = 1, on_trial: Callable[[Trial], None] | None = None,
            on_epoch: Callable[[int, int, int, float | None], None] | None = None) -> list[Trial]:
        """Run every trial; returns them. ``on_trial(trial)`` is called when a trial
        starts and when it ends; ``on_epoch(index, epoch, epochs, value)`` after each
        of its epochs. Both are called in the thread that runs the sweep."""
        t0 = time.perf_counter()
        try:
            if workers <= 1:
                self._run_here(on_trial, on_epoch)
            else:
                self._run_workers(workers, on_trial, on_epoch)
        finally:
            for trial in self.trials:
                if trial.status == "pending":
                    trial.status = "skipped"
            self.wall_time = time.perf_counter() - t0
        return self.trials

    def _run_here(self, on_trial, on_epoch) -> None:
        for trial in self.trials:
            if self._stop.is_set():
                return
            trial.status = "running"
            _call(on_trial, trial)
            run_trial(self.graph, self.axes, trial, self.metric, self.epochs, self.base_dir, self.dataset,
                      stop=self._cancel,
                      on_epoch=None if on_epoch is None else
                      lambda e, n, v, i=trial.index: on_epoch(i, e, n, v))
            _call(on_trial, trial)

    def _run_workers(self, workers: int, on_trial, on_epoch) -> None:
        from layerloom.graph import dumps

        context = multiprocessing.get_context("spawn")
        results = context.Queue()
        text = dumps(self.graph)
        axes_data = [axis_to_data(a) for a in self.axes]
        threads = max(1, _cores() // workers)
        todo = list(self.trials)
        running: dict[int, _Worker] = {}
        try:
            while todo or running:
                while todo and len(running) < workers and not self._stop.is_set():
                    trial = todo.pop(0)
                    cancel = context.Event()
                    payload = {"graph": text, "axes": axes_data, "trial": trial.to_dict(),
                               "metric": self.metric, "epochs": self.epochs, "base_dir": self.base_dir,
                               "threads": threads}
                    process = context.Process(target=_trial_process, args=(payload, results, cancel),
                                              daemon=True, name=f"layerloom-trial-{trial.index}")
                    trial.status = "running"
                    process.start()
                    running[trial.index] = _Worker(process, cancel)
                    self._cancel_workers.append(cancel)
                    if self._cancel.is_set():
                        cancel.set()
                    _call(on_trial, trial)
                if self._stop.is_set():
                    todo.clear()
                self._collect(results, running, on_trial, on_epoch)
        finally:
            for worker in running.values():
                worker.process.kill()
            results.close()

    def _collect(self, results, running: dict[int, _Worker], on_trial, on_epoch) -> None:
        """Read the workers' messages for a moment; notice workers that died, and
        kill cancelled ones that linger."""
        try:
            kind, index, data = results.get(timeout=POLL_S)
        except queue.Empty:
            kind = None
        if kind == "epoch" and on_epoch is not None:
            on_epoch(index, *data)
        elif kind == "done":
            trial = self.trials[index]
            for key, value in data.items():
                if key != "values":
                    setattr(trial, key, value)
            self._ended(running.pop(index))
            _call(on_trial, trial)
        if kind is not None:
            return
        now = time.monotonic()
        for index, worker in list(running.items()):
            if worker.process.is_alive():
                if self._cancel.is_set():
                    worker.cancelled = worker.cancelled or now
                    if now - worker.cancelled > KILL_AFTER_S:
                        worker.process.kill()
                continue
            worker.dead = worker.dead or now
            if now - worker.dead > 2.0:  # its last message had time to arrive: it died
                trial = self.trials[index]
                trial.status = "failed"
                trial.message = f"the trial's process ended with status {worker.process.exitcode} before reporting"
                self._ended(running.pop(index))
                _call(on_trial, trial)

    def _ended(self, worker: _Worker) -> None:
        worker.process.join(5)
        with contextlib.suppress(ValueError):
            self._cancel_workers.remove(worker.cancel)

    # ------------------------------------------------------------ results
    def best(self) -> Trial | None:
        """The trial with the best final metric (completed or stopped trials only)."""
        scored = [t for t in self.trials if t.final is not None and t.status in ("completed", "stopped")]
        if not scored:
            return None
        pick = max if higher_is_better(self.metric) else min
        return pick(scored, key=lambda t: t.final)

    def to_dict(self) -> dict[str, Any]:
        best = self.best()
        return {"metric": self.metric, "higher_is_better": higher_is_better(self.metric),
                "epochs": self.epochs, "axes": [axis_to_data(a) for a in self.axes],
                "best": None if best is None else best.index,
                "wall_time": round(self.wall_time, 3), "trials": [t.to_dict() for t in self.trials]}

    def rows(self) -> list[dict[str, Any]]:
        """One flat row per trial: the values, then the results (for CSV and tables)."""
        out = []
        for t in self.trials:
            row = {a.key: format_value(t.values[a.key]) for a in self.axes}
            row.update({f"final_{self.metric}": _num(t.final), f"best_{self.metric}": _num(t.best),
                        "best_epoch": "" if t.best_epoch is None else t.best_epoch, "epochs": t.epochs,
                        "seconds": f"{t.seconds:.2f}", "status": t.status, "message": t.message})
            out.append(row)
        return out


@dataclass
class _Worker:
    """A trial's process, its cancel event, and when it was seen cancelled or dead."""

    process: Any
    cancel: Any
    cancelled: float = 0.0
    dead: float = 0.0


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:.6g}"


def _call(callback, *args) -> None:
    if callback is not None:
        callback(*args)


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def axis_to_data(axis: Axis) -> dict[str, Any]:
    t = axis.target
    return {"key": axis.key, "kind": t.kind, "owner": t.owner, "param": t.param, "scale": axis.scale,
            "values": [list(v) if isinstance(v, tuple) else v for v in axis.values], "spec": axis.spec}


def axis_from_data(data: dict[str, Any]) -> Axis:
    from layerloom.backend.training.sweep import Target

    values = tuple(tuple(v) if isinstance(v, list) else v for v in data["values"])
    return Axis(Target(data["kind"], data["owner"], data["param"]), values, data["scale"], data["spec"])


def _trial_process(payload: dict[str, Any], results, cancel) -> None:
    """One trial in a worker process (started with spawn): train, report, end."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides: cancel is the event
    import torch

    from layerloom.graph import loads

    torch.set_num_threads(payload["threads"])
    data = payload["trial"]
    trial = Trial(data["index"], {k: tuple(v) if isinstance(v, list) else v for k, v in data["values"].items()})
    try:
        graph = loads(payload["graph"])
        axes = [axis_from_data(a) for a in payload["axes"]]
        run_trial(graph, axes, trial, payload["metric"], payload["epochs"], payload["base_dir"],
                  stop=cancel, on_epoch=lambda e, n, v: results.put(("epoch", trial.index, (e, n, v))))
    except Exception as exc:  # one line, never a traceback on the parent's terminal
        trial.status, trial.message = "failed", f"{type(exc).__name__}: {exc}"
    results.put(("done", trial.index, json.loads(json.dumps(trial.to_dict()))))
    with contextlib.suppress(Exception):
        results.close()
        results.join_thread()
