"""Optimizers and learning-rate schedules built from :class:`TrainSettings`."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch.optim import lr_scheduler

from layerloom.backend.training.settings import TrainSettings


def build_optimizer(settings: TrainSettings, params: Iterable[torch.nn.Parameter],
                    fast: bool = False) -> torch.optim.Optimizer:
    """The optimizer named by ``settings.optimizer`` with its settings applied.

    ``fast`` (the fast path) asks for torch's fused implementation, which updates
    every parameter in one kernel, or else the ``foreach`` one (a few kernels for all
    parameters together), instead of a loop over the parameters in Python: on a
    small model the update then costs a fraction of the time. The values differ from
    the plain loop's only by rounding.
    """
    s = settings
    params = list(params)
    if s.optimizer == "sgd":
        cls, options = torch.optim.SGD, {"momentum": s.momentum, "nesterov": s.nesterov,
                                         "weight_decay": s.weight_decay}
    elif s.optimizer == "adam":
        cls, options = torch.optim.Adam, {"betas": s.betas, "weight_decay": s.weight_decay}
    elif s.optimizer == "adamw":
        cls, options = torch.optim.AdamW, {"betas": s.betas, "weight_decay": s.weight_decay}
    elif s.optimizer == "rmsprop":
        cls, options = torch.optim.RMSprop, {"momentum": s.momentum, "weight_decay": s.weight_decay}
    else:
        cls, options = torch.optim.Adagrad, {"weight_decay": s.weight_decay}
    if fast and params:
        for kind in ("fused", "foreach"):
            try:  # refused where this optimizer, device or dtype has no such kernel
                return cls(params, lr=s.lr, **options, **{kind: True})
            except (RuntimeError, TypeError, ValueError):
                continue
    return cls(params, lr=s.lr, **options)


def optimizer_kind(optimizer: torch.optim.Optimizer) -> str:
    """``"fused"``, ``"foreach"`` or ``"for-loop"``: how ``optimizer`` updates."""
    defaults = optimizer.defaults
    if defaults.get("fused"):
        return "fused"
    return "foreach" if defaults.get("foreach") else "for-loop"


class Schedule:
    """A torch scheduler plus when to step it.

    ``every`` is ``"step"`` (cosine, one-cycle: smooth over the whole run),
    ``"epoch"`` (step decay) or ``"plateau"`` (once per epoch with the monitored
    value); ``scheduler`` is ``None`` for a constant rate.
    """

    def __init__(self, settings: TrainSettings, optimizer: torch.optim.Optimizer,
                 total_steps: int):
        s = settings
        self.every = {"none": None, "step": "epoch", "cosine": "step", "one_cycle": "step",
                      "plateau": "plateau"}[s.schedule]
        if s.schedule == "step":
            self.scheduler = lr_scheduler.StepLR(optimizer, step_size=s.lr_step_size, gamma=s.lr_gamma)
        elif s.schedule == "cosine":
            self.scheduler = lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(total_steps, 1),
                                                            eta_min=s.min_lr)
        elif s.schedule == "one_cycle":
            self.scheduler = lr_scheduler.OneCycleLR(optimizer, max_lr=s.lr,
                                                     total_steps=max(total_steps, 1),
                                                     cycle_momentum=False)
        elif s.schedule == "plateau":
            self.scheduler = lr_scheduler.ReduceLROnPlateau(
                optimizer, mode=s.monitor_mode, factor=s.lr_gamma, patience=s.lr_patience,
                min_lr=s.min_lr)
        else:
            self.scheduler = None
        self.total_steps = total_steps
        self._steps = 0

    def after_step(self) -> None:
        # one-cycle refuses to step past its total; a run extended on resume keeps the last rate
        if self.every == "step" and self._steps < self.total_steps:
            self._steps += 1
            if self._steps < self.total_steps:
                self.scheduler.step()

    def after_epoch(self, monitored: float | None) -> None:
        if self.every == "epoch":
            self.scheduler.step()
        elif self.every == "plateau" and monitored is not None:
            self.scheduler.step(monitored)

    def state_dict(self) -> dict:
        data = {"steps": self._steps}
        if self.scheduler is not None:
            data["scheduler"] = self.scheduler.state_dict()
        return data

    def load_state_dict(self, data: dict) -> None:
        self._steps = int(data.get("steps", 0))
        if self.scheduler is not None and "scheduler" in data:
            self.scheduler.load_state_dict(data["scheduler"])

    def scale(self, ratio: float) -> None:
        """Scale the schedule's reference rates (after ``Trainer.set_lr``), so that
        the schedule continues its shape around the new rate."""
        sched = self.scheduler
        if sched is None:
            return
        if hasattr(sched, "base_lrs"):
            sched.base_lrs = [lr * ratio for lr in sched.base_lrs]
        for group in sched.optimizer.param_groups:
            for key in ("initial_lr", "max_lr", "min_lr"):
                if key in group:
                    group[key] *= ratio


def set_lr(optimizer: torch.optim.Optimizer, schedule: Schedule, lr: float) -> None:
    """Set every parameter group's rate to ``lr``, carrying the schedule along."""
    old = optimizer.param_groups[0]["lr"]
    for group in optimizer.param_groups:
        group["lr"] = lr
    if old > 0:
        schedule.scale(lr / old)
