"""Best weights: keep the weights of the epoch where a metric was best, restore them
at the end, and write them as ``best.safetensors``.

A :class:`BestWeights` watches the ``monitor`` setting (``val_loss`` by default:
lower is better; ``val_accuracy`` and ``val_r2``: higher is better, or as ``mode``
says). After every epoch the trainer offers it the epoch's metrics; on a strict
improvement it copies the weights (on the CPU, so a GPU run does not hold a second
model in GPU memory). When the run ends the trainer puts them back, so the model
that Try it, Save Weights, Export and ``layerloom train``'s ``model.safetensors``
use is the best one. A checkpoint carries the kept weights, so a resumed run goes
on comparing against them.

It is on (``keep_best``) for runs with a validation set whose monitored value is a
validation metric; with no validation set a ``val_`` metric is not watched (the
training loss would only ever pick the last epochs).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

BEST_WEIGHTS = "best.safetensors"
BEST_EPOCH_KEY = "layerloom.best_epoch"


class BestWeights:
    """The best weights of a run so far by ``metric`` (``"min"`` or ``"max"`` ``mode``).

    Attributes
    ----------
    epoch : int or None
        The epoch (1-based) whose weights are kept; ``None`` before any.
    value : float or None
        The metric's value at that epoch.
    """

    def __init__(self, metric: str, mode: str) -> None:
        self.metric, self.mode = metric, mode
        self.epoch: int | None = None
        self.value: float | None = None
        self.weights: dict[str, torch.Tensor] | None = None

    @classmethod
    def for_run(cls, settings, has_validation: bool) -> BestWeights | None:
        """The keeper a run with ``settings`` uses, or ``None`` where it is off."""
        if not settings.keep_best:
            return None
        if settings.monitor.startswith("val_") and not has_validation:
            return None
        return cls(settings.monitor, settings.monitor_mode)

    def better(self, value: float) -> bool:
        if self.value is None:
            return True
        return value < self.value if self.mode == "min" else value > self.value

    def offer(self, epoch: int, metrics: dict[str, float], model: torch.nn.Module) -> bool:
        """Keep ``model``'s weights if ``metrics[metric]`` beats the best so far;
        returns whether it did. A missing or NaN value never counts."""
        value = metrics.get(self.metric)
        if value is None or value != value or not self.better(float(value)):
            return False
        self.epoch, self.value = epoch, float(value)
        self.weights = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
        return True

    def restore(self, model: torch.nn.Module) -> bool:
        """Put the kept weights back into ``model``; ``False`` when none are kept."""
        if self.weights is None:
            return False
        with torch.no_grad():
            for name, target in model.state_dict().items():
                target.copy_(self.weights[name])
        return True

    def describe(self) -> str:
        """``epoch 7 (val_loss 0.3127)``."""
        if self.epoch is None:
            return "none"
        return f"epoch {self.epoch} ({self.metric} {self.value:.4g})"

    def summary(self) -> dict[str, Any]:
        """What the ``finished`` event and ``metrics.json`` say about it."""
        return {"metric": self.metric, "mode": self.mode, "epoch": self.epoch, "value": self.value}

    # -------------------------------------------------------- checkpoints
    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {"metric": self.metric, "mode": self.mode}
        if self.weights is not None:
            state.update(epoch=self.epoch, value=self.value, weights=self.weights)
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Take over a checkpoint's kept weights, when they were kept by the same
        metric and direction (otherwise this run starts keeping afresh)."""
        if state.get("metric") != self.metric or state.get("mode") != self.mode or "weights" not in state:
            return
        self.epoch, self.value = int(state["epoch"]), float(state["value"])
        self.weights = dict(state["weights"])


def save_best_weights(graph, keeper: BestWeights, model: torch.nn.Module, folder: str | os.PathLike,
                      metadata: dict[str, str] | None = None) -> Path | None:
    """Write ``keeper``'s weights as ``folder/best.safetensors`` (the graph embedded,
    as Save Weights writes it; ``model`` is a module of the graph to load them into,
    restored afterwards); returns the path, or ``None`` when nothing was kept.

    The one function that writes best weights: ``layerloom train`` and a run's
    folder use it, so the file is the same wherever it is written.
    """
    from layerloom.backend.export.weights import save_weights

    if keeper is None or keeper.weights is None:
        return None
    current = {k: v.detach().clone() for k, v in model.state_dict().items()}
    keeper.restore(model)
    try:
        meta = {BEST_EPOCH_KEY: str(keeper.epoch), **(metadata or {})}
        return save_weights(graph, model, Path(folder) / BEST_WEIGHTS, meta).path
    finally:
        with torch.no_grad():
            for name, target in model.state_dict().items():
                target.copy_(current[name])
