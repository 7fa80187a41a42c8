"""The training path: snapshots of a model's weights taken while it trains.

The trainer keeps one flattened copy of the trainable weights about every 1% of
the run's steps (and the first and last), at most :data:`MAX_POINTS` of them (when
full, every other one goes), so recording costs one device-to-CPU copy per hundred
steps and stays bounded in memory. A model with more than :data:`MAX_PARAMETERS`
weights records nothing (:attr:`WeightPath.reason` says so). The loss landscape
projects these snapshots onto its plane (:mod:`layerloom.backend.insight.landscape`).
"""

from __future__ import annotations

import threading

import numpy as np
import torch
from torch import nn

POINTS_PER_RUN = 100  # snapshots aimed at over a run's planned steps
MAX_POINTS = 160
MAX_PARAMETERS = 2_000_000  # 160 snapshots of 2M float32 weights: 1.3 GB at worst, so stop there


def trainable(model: nn.Module) -> list[tuple[str, nn.Parameter]]:
    """The weights a path and a landscape move, in one fixed order."""
    return [(n, p) for n, p in model.named_parameters() if p.requires_grad]


def flat_weights(model: nn.Module) -> np.ndarray:
    """The trainable weights of ``model`` as one float32 vector (on the CPU)."""
    with torch.no_grad():
        return torch.cat([p.detach().reshape(-1).float() for _, p in trainable(model)]).cpu().numpy()


class WeightPath:
    """Snapshots of a model's trainable weights during a run.

    Parameters
    ----------
    model : torch.nn.Module
        The model being trained.
    total_steps : int
        The run's planned optimizer steps (sets :attr:`every`).
    """

    def __init__(self, model: nn.Module, total_steps: int):
        self.model = model
        self.names = [n for n, _ in trainable(model)]
        self.size = sum(p.numel() for _, p in trainable(model))
        self.every = max(1, int(total_steps) // POINTS_PER_RUN)
        self.steps: list[int] = []
        self.points: list[np.ndarray] = []
        self._lock = threading.Lock()
        self.reason = ""
        if self.size > MAX_PARAMETERS:
            self.reason = (f"the training path is not recorded for models over {MAX_PARAMETERS:,} weights "
                           f"(this one has {self.size:,})")

    @property
    def enabled(self) -> bool:
        return not self.reason

    def due(self, step: int) -> bool:
        return self.enabled and step % self.every == 0

    def record(self, step: int) -> None:
        """Keep the weights as they are after ``step`` (once per step)."""
        if not self.enabled or (self.steps and self.steps[-1] == step):
            return
        point = flat_weights(self.model)
        with self._lock:
            if len(self.steps) >= MAX_POINTS:  # keep the first and every other one after it
                self.steps, self.points = self.steps[::2], self.points[::2]
                self.every *= 2
            self.steps.append(int(step))
            self.points.append(point)

    def snapshot(self) -> tuple[np.ndarray, np.ndarray]:
        """``(steps, points)``: ``(K,)`` step numbers and ``(K, size)`` weights."""
        with self._lock:
            steps = np.asarray(self.steps, np.int64)
            points = np.stack(self.points) if self.points else np.zeros((0, self.size), np.float32)
        return steps, points
