"""The training loop: no Qt, runs in the thread that calls :meth:`Trainer.run`.

Data stays on the device as whole tensors; each epoch draws a permutation with a
``torch.Generator`` seeded from the run's seed and takes batches by slicing it (no
``DataLoader``, no worker processes, no copies per step). The loop reports through
events (:mod:`layerloom.backend.training.events`) that it hands to a consumer without waiting
on it, and it honours :meth:`~Trainer.pause`, :meth:`~Trainer.resume`,
:meth:`~Trainer.stop` and :meth:`~Trainer.set_lr` between steps, so another thread
(the GUI's) controls it with a few ``threading.Event`` flips.

Losses stay on the device until a ``step`` event needs them, or at most
:data:`LOSS_GROUP` steps (so a fast GPU is not stalled at every step when events
are thinned); a NaN or infinite loss still names the exact step at which it
appeared. Training metrics cost a step nothing either: its outputs wait, detached,
beside its loss, and :class:`~layerloom.backend.training.metrics.MetricSums` scores
up to :data:`LOSS_GROUP` steps' outputs in one go (outputs larger than
:data:`KEEP_OUTPUT` values are scored at once instead, to bound the memory held).
"""

from __future__ import annotations

import contextlib
import math
import time
from pathlib import Path
from typing import Any

import torch

from layerloom.backend.compile import compile_graph
from layerloom.backend.datasets import Dataset, Normalisation
from layerloom.backend.node_training import parameter_counts, trainable_parameters
from layerloom.backend.training.best import BestWeights
from layerloom.backend.training.checkpoint import CheckpointMixin, load_checkpoint
from layerloom.backend.training.checks import (
    Plan,
    TrainingError,
    describe_failure,
    plan_run,
    resolve_device,
)
from layerloom.backend.training.control import StepControl
from layerloom.backend.training.evaluation import EvaluationMixin
from layerloom.backend.training.events import (
    Confusion,
    Consumer,
    Epoch,
    Failed,
    Finished,
    Note,
    Paused,
    Resumed,
    Started,
    Stats,
    Step,
)
from layerloom.backend.training.fast import (
    compile_model,
    compile_pays,
    fallback_message,
    is_compile_failure,
    uses_cuda_graphs,
)
from layerloom.backend.training.loss_terms import training_forward
from layerloom.backend.training.metrics import MetricSums
from layerloom.backend.training.optim import Schedule, build_optimizer, optimizer_kind, set_lr
from layerloom.backend.training.settings import TrainSettings
from layerloom.backend.training.stats import StatsCollector
from layerloom.backend.training.weight_path import WeightPath
from layerloom.graph import Graph

LOSS_GROUP = 128  # at most this many steps' losses wait on the device before being read
KEEP_OUTPUT = 1 << 14  # a step's output of up to this many values waits to be scored in a group


class _ConsumerError(Exception):
    pass


class Trainer(StepControl, EvaluationMixin, CheckpointMixin):
    """Trains a graph on a dataset.

    One process trains on every sample; :class:`~layerloom.backend.training.distributed.
    DistributedTrainer` builds on the hooks marked below (``_train_batch``,
    ``_train_metrics``, ``_validate``) to share each batch between processes.

    Parameters
    ----------
    graph : Graph
        The graph to train (a snapshot is taken; later edits do not reach the run).
    train : Dataset
        Training data, already normalised (see :func:`layerloom.backend.training.prepare_data`).
    val : Dataset, optional
        Validation data: evaluated after every epoch (metrics, confusion matrix).
    settings : TrainSettings, optional
        How to train; the defaults otherwise.
    model : CompiledGraph, optional
        A model compiled from ``graph`` to keep training (its weights are used as
        they are); by default a fresh one is compiled with ``settings.seed``.
    on_event : callable, optional
        Called with every event, in the training thread. It must return quickly
        (queue the event, emit a Qt signal); an exception from it fails the run.
    checkpoint_dir : path, optional
        Folder for checkpoints, written after every epoch (see ``checkpoint_every``)
        and when the run stops or ends.
    checkpoint_every : float
        Seconds: write a checkpoint after an epoch only once this long has passed
        since the run started or since the last one (0: after every epoch). Writing
        one costs milliseconds (every file is flushed to disk), as much as dozens of
        a small model's steps; the last state is always written when the run stops
        or ends, so only a crash loses up to this much training.
    resume_from : path, optional
        A checkpoint folder to continue from: the run goes on exactly where the
        checkpointed one was (same next batch, same random numbers).
    step_every : int
        Emit a ``step`` event at most every this many steps ...
    min_step_interval : float
        ... and at most once per this many seconds (0: no limit).
    stats_every : int
        Emit a ``stats`` event every this many steps (0: never).
    record_path : bool
        Keep snapshots of the weights about every 1% of the steps in ``weight_path``
        (a :class:`~layerloom.backend.training.weight_path.WeightPath`), for the loss
        landscape's training path.
    normalisation : Normalisation, optional
        The input scaling applied to the data, stored with checkpointed weights.

    Notes
    -----
    Frozen nodes (``trainable`` off, :mod:`layerloom.backend.node_training`) stay out of
    the optimizer. With ``settings.keep_best`` and a validation set, ``best``
    (:class:`~layerloom.backend.training.best.BestWeights`) keeps the weights of the
    best epoch by ``settings.monitor`` and the run ends with them restored (the last
    checkpoint keeps the last weights, to resume from).

    :meth:`run` never raises: every problem ends in a ``failed`` event (also
    returned) whose message says what to do, and the model, optimizer and history
    are kept as they were at that point. The exception behind a failure is kept in
    ``exception`` (``None`` otherwise).
    """

    world_size = 1  # processes sharing each batch (DistributedTrainer: more)

    def __init__(self, graph: Graph, train: Dataset, val: Dataset | None = None,
                 settings: TrainSettings | None = None, *, model: torch.nn.Module | None = None,
                 on_event: Consumer | None = None, checkpoint_dir: str | Path | None = None,
                 resume_from: str | Path | None = None, step_every: int = 1,
                 min_step_interval: float = 0.0, stats_every: int = 0,
                 normalisation: Normalisation | None = None, checkpoint_every: float = 0.0,
                 record_path: bool = False):
        self.graph = graph.copy()
        self.train_data = train
        self.val_data = val if val is not None and len(val) else None
        self.settings = settings or TrainSettings()
        self.model = model
        self.on_event = on_event
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir else None
        self.resume_from = Path(resume_from) if resume_from else None
        self.checkpoint_every = max(0.0, float(checkpoint_every))
        self._checkpointed: tuple[int, float] = (-1, 0.0)  # step and clock of the last checkpoint
        self.step_every = max(1, int(step_every))
        self.min_step_interval = max(0.0, float(min_step_interval))
        self.stats_every = max(0, int(stats_every))
        self.normalisation = normalisation
        self.record_path = record_path
        self.weight_path: WeightPath | None = None  # the training path, with record_path
        self.history: list[dict[str, Any]] = []
        self.device: torch.device | None = None
        self.optimizer: torch.optim.Optimizer | None = None
        self.state = "idle"  # running, paused, finished, stopped, failed
        self.epoch = 0  # epochs completed
        self.step = 0  # optimizer steps taken
        self.result: Finished | Failed | None = None
        self.exception: BaseException | None = None
        self.setup_notes: list[str] = []  # shown in the ``started`` event's notes
        self._batch = 0  # next batch of the epoch in progress
        self._init_control()

    # ---------------------------------------------------------------- run
    def run(self) -> Finished | Failed:
        """Train until done, stopped or failed; returns the final event.

        A trainer runs once; to go on after it ends, start a new one with
        ``resume_from`` its checkpoint (or ``model=`` its model).
        """
        self._t0 = time.perf_counter()
        self._elapsed_before = 0.0
        if self.state != "idle":
            final = Failed("this trainer has already run; start a new one (resume_from its "
                           "checkpoint to continue)", self.epoch, self.step)
            self._emit_quietly(final)
            return final
        self.state = "running"
        try:
            self._setup()
            reason = self._loop()
            final = self._finish(reason)
        except _ConsumerError as exc:
            final = self._fail(f"the event consumer raised {exc.__cause__!r}; training stopped")
        except KeyboardInterrupt:
            final = self._finish("stopped", save=False)
        except Exception as exc:  # every failure becomes an event, never a traceback
            self.exception = exc
            final = self._fail(describe_failure(exc, self))
        self.result = final
        self._emit_quietly(final)
        return final

    def _emit_quietly(self, event: Any) -> None:
        try:
            self._emit(event)
        except _ConsumerError:
            pass

    def _fail(self, message: str) -> Failed:
        self.state = "failed"
        return Failed(message, self.epoch + (1 if self._batch else 0), self.step)

    def _finish(self, reason: str, save: bool = True) -> Finished:
        self._flush_steps()
        if self.weight_path is not None:
            self.weight_path.record(self.step)
        if save and self.checkpoint_dir is not None and (
                reason == "stopped" or self._checkpointed[0] != self.step):
            self.save_checkpoint()
        self.state = "stopped" if reason == "stopped" else "finished"
        metrics = self.final_metrics()
        return Finished(reason, metrics, self.elapsed, self.epoch, self.step, self._restore_best())

    def _restore_best(self) -> dict:
        """Put the best weights back (after the last checkpoint, which keeps the last
        ones to resume from); what the ``finished`` event says about them."""
        if self.best is None:
            return {}
        if not self.best.restore(self.model):
            self._emit(Note(self.step, f"{self.best.metric} was not measured in any epoch; "
                                       "the last weights are kept"))
            return {}
        return self.best.summary()

    @property
    def elapsed(self) -> float:
        """Seconds of training in this run plus those before a resume."""
        return self._elapsed_before + (time.perf_counter() - self._t0)

    def _emit(self, event: Any) -> None:
        if self.on_event is None:
            return
        try:
            self.on_event(event)
        except Exception as exc:
            raise _ConsumerError() from exc

    # -------------------------------------------------------------- setup
    def _setup(self) -> None:
        s = self.settings
        self.device = device = resolve_device(s.device)
        self.plan: Plan = plan_run(self.graph, self.train_data, s)
        if self.val_data is not None:
            plan_run(self.graph, self.val_data, s)
        self.objective = self.plan.objective
        if self.world_size > 1 and self.objective.name == "terms":
            raise TrainingError("a graph with loss terms (several Outputs or loss nodes) trains on one "
                                "process for now; leave --nproc out")
        notes = list(self.setup_notes)
        if self.objective.name == "terms":
            notes.append(f"loss terms: {self.objective.describe()}")
        self._amp_dtype = None
        if s.precision != "fp32":
            if device.type != "cuda":
                notes.append(f"{s.precision} mixed precision needs a CUDA GPU; training on {device} in fp32")
            elif s.precision == "bf16" and not torch.cuda.is_bf16_supported():
                notes.append("this GPU does not support bf16; training in fp32")
            else:
                self._amp_dtype = torch.bfloat16 if s.precision == "bf16" else torch.float16
        if self.val_data is None and s.monitor.startswith("val_") and (s.early_stopping or s.schedule == "plateau"):
            notes.append(f"no validation set: {s.monitor} is measured on the training set")
        self.notes = tuple(notes)
        if self.model is None:
            self.model = compile_graph(self.graph, seed=s.seed)
        self.model.to(device)
        if not trainable_parameters(self.model) and any(True for _ in self.model.parameters()):
            raise TrainingError("every node with weights is frozen, so there is nothing to train; "
                                "make at least one trainable (inspector: Trainable, or leave it out of --freeze)")
        self.module_nodes = dict(getattr(self.model, "module_nodes", {}))
        torch.manual_seed(s.seed)
        self._x, self._y, self._y_loss, self._spread = self._tensors(self.train_data)
        if self.val_data is not None:
            self._val = self._tensors(self.val_data)
        n = len(self.train_data)
        self._bs = min(s.batch_size or n, n)
        self.steps_per_epoch = math.ceil(n / self._bs)
        self.total_steps = s.epochs * self.steps_per_epoch
        self.optimizer = build_optimizer(s, trainable_parameters(self.model), fast=s.compile)
        self.schedule = Schedule(s, self.optimizer, self.total_steps)
        self.scaler = torch.amp.GradScaler("cuda") if self._amp_dtype == torch.float16 else None
        self.generator = torch.Generator().manual_seed(s.seed)
        self._epoch_gen_state = self.generator.get_state()
        # _forward trains; _eval_forward evaluates (a distributed run wraps only the first);
        # _eager_forward is what _forward falls back to when torch.compile fails
        forward = training_forward(self.model, self.graph, self.objective)
        self._forward = self._eval_forward = self._eager_forward = forward
        self._cuda_graphs = False
        self._keep_output = KEEP_OUTPUT
        if s.compile:
            self._setup_fast_path()
        self._params = [p for p in self.model.parameters() if p.requires_grad]
        self._stats = StatsCollector(self.model, self.module_nodes, s.seed) if self.stats_every else None
        if self.record_path:
            self.weight_path = WeightPath(self.model, self.total_steps)
            self.weight_path.record(self.step)
        self._best: float | None = None
        self._wait = 0
        self.best = BestWeights.for_run(s, self.val_data is not None)  # best weights kept
        self._reset_epoch()
        self._window: list[torch.Tensor] = []
        self._window_sizes: list[int] = []
        self._ev_loss, self._ev_steps, self._ev_samples = 0.0, 0, 0
        self._ev_t0 = self._last_emit = time.perf_counter()
        if self.resume_from is not None:
            self._restore(load_checkpoint(self.resume_from, self.model))
        self._t0 = time.perf_counter()  # wall time counts training, not set-up
        self._checkpointed = (self._checkpointed[0], self._t0)
        self._emit(Started(
            steps_per_epoch=self.steps_per_epoch, total_steps=self.total_steps, epochs=s.epochs,
            device=str(device), parameter_count=sum(parameter_counts(self.model)),
            frozen_count=parameter_counts(self.model)[1],
            train_size=n, val_size=len(self.val_data) if self.val_data is not None else 0,
            batch_size=self._bs, first_epoch=self.epoch + 1, first_step=self.step + 1,
            notes=self.notes, processes=self.world_size,
        ))

    def _setup_fast_path(self) -> None:
        """The ``compile`` setting: a fused optimizer, and torch.compile where it pays
        (see :mod:`layerloom.backend.training.fast`)."""
        device = self.device
        what = f"{optimizer_kind(self.optimizer)} {self.settings.optimizer}"
        if not compile_pays(device):
            self.notes = (*self.notes, f"fast path: {what}; torch.compile is left out on {device.type}, "
                          "where it compiles for seconds and then runs small models slower")
            return
        forward, problem = compile_model(self._eager_forward, device)
        if problem is not None:
            self.notes = (*self.notes, problem)
            return
        self._forward = forward
        self._cuda_graphs = uses_cuda_graphs(device)
        if self._cuda_graphs:  # a CUDA graph's outputs are overwritten by its next replay
            self._keep_output = 0
        self.notes = (*self.notes, f"fast path: {what}, torch.compile"
                      + (" with CUDA graphs" if self._cuda_graphs else "")
                      + " (the first steps are slow while it compiles)")

    def _compile_failed(self, exc: BaseException) -> None:
        """Train on without torch.compile, and say so."""
        self._forward = self._eager_forward
        self._cuda_graphs = False
        self._keep_output = KEEP_OUTPUT
        self.optimizer.zero_grad(set_to_none=True)
        self._emit(Note(self.step + 1, fallback_message(exc)))

    def _reset_epoch(self) -> None:
        self._loss_sum, self._loss_n = 0.0, 0
        self.objective.reset("train")
        self._sums = MetricSums(self.objective, self.device, self._y, spread=self._spread)
        self._outputs: list[torch.Tensor] = []  # training outputs waiting to be scored ...
        self._rows: list[torch.Tensor] = []  # ... and their rows of the data
        self._rows_from = 0  # the first one's position in the epoch's order

    # --------------------------------------------------------------- loop
    def _loop(self) -> str:
        s = self.settings
        n = len(self.train_data)
        while self.epoch < s.epochs:
            if self._batch == 0:
                self._epoch_gen_state = self.generator.get_state()
            perm = torch.randperm(n, generator=self.generator)
            if perm.device != self.device:
                perm = perm.to(self.device)
            self._perm = perm
            self.model.train()
            for b in range(self._batch, self.steps_per_epoch):
                if self._control():
                    return "stopped"
                self._train_batch(perm, b)
                self._batch = b + 1
                self.step += 1
                self._after_step()
            if self._end_epoch():
                return "early_stopping"
            if self._stop.is_set():
                return "stopped"
        return "completed"

    def _control(self) -> bool:
        """Between steps: True to stop; waits while paused; applies a new rate."""
        if self._stop.is_set():
            return True
        if not self._go.is_set():
            self._flush_steps()
            self.state = "paused"
            self._emit(Paused(self.step))
            while not self._go.wait(0.25):
                pass
            if self._stop.is_set():
                return True
            self.state = "running"
            self._apply_lr()
            self._emit(Resumed(self.step, self.lr))
            self._ev_t0 = time.perf_counter()
        elif self._pending_lr is not None:
            self._apply_lr()
        return False

    def _apply_lr(self) -> None:
        lr = self._take_lr()
        if lr is not None:
            set_lr(self.optimizer, self.schedule, lr)

    @property
    def lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"]) if self.optimizer else self.settings.lr

    def _autocast(self):
        if self._amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self._amp_dtype)

    def _train_batch(self, perm: torch.Tensor, b: int) -> None:
        """Hook: train on batch ``b`` of the epoch's permutation ``perm``."""
        self._train_step(perm[b * self._bs:(b + 1) * self._bs], b * self._bs)

    def _train_step(self, idx: torch.Tensor, start: int, scale: float = 1.0,
                    record: bool = True) -> None:
        """One optimizer step on rows ``idx`` (rows ``start..`` of the epoch's order).

        ``scale`` multiplies the loss before the backward pass (a process's share
        of a batch split between processes); ``record=False`` leaves the step out
        of the loss and metrics (a placeholder batch that only keeps the
        processes in step).
        """
        xb, target = self._x[idx], self._y_loss[idx]
        if self._forward is self._eager_forward:
            out, loss = self._forward_backward(xb, target, scale)
        else:
            try:
                out, loss = self._forward_backward(xb, target, scale)
            except Exception as exc:
                if not is_compile_failure(exc):
                    raise
                self._compile_failed(exc)  # nothing was updated yet: take the step eagerly
                out, loss = self._forward_backward(xb, target, scale)
        clip = self.settings.grad_clip
        if self.scaler is not None:
            if clip:
                self.scaler.unscale_(self.optimizer)
                torch.nn.utils.clip_grad_norm_(self._params, clip)
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            if clip:
                torch.nn.utils.clip_grad_norm_(self._params, clip)
            self.optimizer.step()
        self.schedule.after_step()
        if not record:
            return
        self._window.append(loss.detach())
        self._window_sizes.append(len(idx))
        if out.numel() <= self._keep_output:
            if not self._outputs:
                self._rows_from = start
            self._outputs.append(out.detach())
            self._rows.append(idx)
        else:
            self._sums.add(out, target if self._y_loss is self._y else self._y[idx])

    def _forward_backward(self, xb: torch.Tensor, target: torch.Tensor, scale: float):
        """Gradients of the loss on one batch (times ``scale``): ``(output, loss)``."""
        self.optimizer.zero_grad(set_to_none=True)
        if self._cuda_graphs:
            torch.compiler.cudagraph_mark_step_begin()
        if self._amp_dtype is None:
            out = self._forward(xb)
            loss = self.objective(out, target)
        else:
            with self._autocast():
                out = self._forward(xb)
                loss = self.objective(out, target)
        scaled = loss if scale == 1.0 else loss * scale
        if self.scaler is not None:
            self.scaler.scale(scaled).backward()
        else:
            scaled.backward()
        return self.objective.scored(out), loss

    def _after_step(self) -> None:
        if len(self._window) >= LOSS_GROUP:
            self._drain()
        now = time.perf_counter()
        pending = self._ev_steps + len(self._window)
        if pending >= self.step_every and now - self._last_emit >= self.min_step_interval:
            self._flush_steps(now)
        if self.stats_every and self.step % self.stats_every == 0:
            # Read the pending losses first: a diverged run must fail with the
            # divergence message, not with an error about NaN weights.
            self._drain()
            probe = self._val[0] if self.val_data is not None else self._x
            self._emit(Stats(self.epoch + 1, self.step, self._stats.collect(probe)))
        if self.weight_path is not None and self.weight_path.due(self.step):
            self.weight_path.record(self.step)

    def _drain(self) -> None:
        """Read the pending losses back; fail on the first non-finite one."""
        if not self._window:
            return
        with torch.no_grad():
            if len(self._window) == 1:
                values = [float(self._window[0])]
            else:
                values = torch.stack(self._window).float().cpu().tolist()
        first = self.step - len(values) + 1
        for i, (value, size) in enumerate(zip(values, self._window_sizes, strict=True)):
            if not math.isfinite(value):
                self._window.clear()
                self._window_sizes.clear()
                lr = self.lr
                raise TrainingError(
                    f"the loss became {value} at step {first + i} (epoch {self.epoch + 1}): "
                    f"training diverged. Lower the learning rate (now {lr:g}; try {lr / 10:g})"
                    + ("" if self.settings.grad_clip else " or turn on gradient clipping")
                )
            self._loss_sum += value * size
            self._loss_n += size
            self._ev_loss += value
            self._ev_steps += 1
            self._ev_samples += size
        self._window.clear()
        self._window_sizes.clear()
        if len(self._outputs) >= LOSS_GROUP:
            self._settle()

    def _flush_steps(self, now: float | None = None) -> None:
        if not hasattr(self, "_window"):
            return
        self._drain()
        if not self._ev_steps:
            return
        now = now or time.perf_counter()
        rate = self._ev_samples / max(now - self._ev_t0, 1e-9)
        self._emit(Step(self.epoch + 1, self.step, self._ev_loss / self._ev_steps, self.lr,
                        rate, self._ev_steps))
        self._ev_loss, self._ev_steps, self._ev_samples = 0.0, 0, 0
        self._ev_t0 = self._last_emit = now

    # ---------------------------------------------------------- epoch end
    def _end_epoch(self) -> bool:
        """Validate, report, schedule, checkpoint; True when early stopping hits."""
        s = self.settings
        self._drain()
        self._settle()
        train = self._train_metrics()
        val, matrix = None, None
        if self.val_data is not None:
            result = self._validate()
            if result is None:  # stopped during validation: the epoch stays open
                return False
            val, matrix = result
        record = {"epoch": self.epoch + 1, "step": self.step, "train": train, "val": val,
                  "lr": self.lr, "time": round(self.elapsed, 4)}
        self.history.append(record)
        if self.best is not None:
            self.best.offer(self.epoch + 1, {**train, **{f"val_{k}": v for k, v in (val or {}).items()}},
                            self.model)
        self._emit(Epoch(self.epoch + 1, self.step, train, val, self.lr, self.elapsed))
        if matrix is not None:
            names = self.train_data.class_names or [str(i) for i in range(len(matrix))]
            self._emit(Confusion(self.epoch + 1, tuple(tuple(r) for r in matrix), tuple(names)))
        monitored = self._monitored(train, val)
        self.schedule.after_epoch(monitored)
        self.epoch += 1
        self._batch = 0
        self._reset_epoch()
        stop_early = False
        if s.early_stopping and monitored is not None:
            if self._improved(monitored):
                self._best, self._wait = monitored, 0
            else:
                self._wait += 1
                stop_early = self._wait >= s.patience
        elif monitored is not None and self._improved(monitored):
            self._best = monitored
        if self.checkpoint_dir is not None and self._checkpoint_due():
            self.save_checkpoint()
        return stop_early

    def _checkpoint_due(self) -> bool:
        """Hook: whether the epoch just ended is checkpointed (``checkpoint_every``)."""
        return time.perf_counter() - self._checkpointed[1] >= self.checkpoint_every
