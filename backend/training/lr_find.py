"""The learning-rate range test: which learning rate to train with.

A short run from fresh weights whose learning rate grows exponentially from
``start`` to ``end``, one step per rate, recording the loss (Smith, "Cyclical
Learning Rates for Training Neural Networks", 2017). The loss first stays flat (the
rate is too small to move the weights), then falls, then blows up. The suggested
rate is the smaller of two common readings of the curve: where the smoothed loss
falls fastest against the logarithm of the rate (before its lowest point), and a
tenth of the rate of the lowest loss (past that, a longer run becomes unstable). The run stops early once the smoothed loss is four times its best, or
not finite, since every larger rate is worse still.

The graph, data, optimizer and loss are those of a real run (the graph's saved
settings): the test answers for this optimizer, batch size and weight decay. The
weights it changes are thrown away.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from layerloom.backend.compile import compile_graph
from layerloom.backend.datasets import Dataset
from layerloom.backend.node_training import trainable_parameters
from layerloom.backend.training.checks import plan_run, resolve_device
from layerloom.backend.training.loss_terms import training_forward
from layerloom.backend.training.optim import build_optimizer
from layerloom.backend.training.settings import TrainSettings
from layerloom.graph import Graph

SMOOTHING = 0.9  # weight of the previous smoothed loss (an exponential moving average)
DIVERGES = 4.0  # the test ends once the smoothed loss is this many times its best


class LrFindError(ValueError):
    """The range test cannot run with these options; the message says why."""


@dataclass
class LrFinding:
    """What the range test measured.

    ``rates`` and ``losses`` (each step's training loss) and ``smoothed`` (their
    moving average, which the suggestion reads) have one entry per step taken;
    ``suggested`` is ``None`` when the loss never fell; ``ended`` says why the
    test stopped: ``"range"`` (every rate tried), ``"diverged"`` or ``"stopped"``.
    """

    rates: list[float] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    smoothed: list[float] = field(default_factory=list)
    suggested: float | None = None
    ended: str = "range"

    @property
    def lowest(self) -> float | None:
        """The rate of the lowest smoothed loss."""
        if not self.smoothed:
            return None
        return self.rates[min(range(len(self.smoothed)), key=self.smoothed.__getitem__)]

    def summary(self) -> str:
        """One line: the suggestion and why the test ended."""
        why = {"range": "every rate tried", "diverged": "stopped when the loss blew up",
               "stopped": "stopped by the user"}[self.ended]
        if self.suggested is None:
            return (f"no suggestion: the loss did not fall between {self.rates[0]:.2g} and "
                    f"{self.rates[-1]:.2g} ({len(self.rates)} steps, {why}); try a wider range"
                    if self.rates else f"no step was taken ({why})")
        return (f"suggested learning rate {self.suggested:.2g} (the loss falls fastest at "
                f"{steepest(self.rates, self.smoothed):.2g}, is lowest at {self.lowest:.2g}; "
                f"{len(self.rates)} steps, {why})")

    def to_dict(self) -> dict:
        return {"rates": self.rates, "losses": self.losses, "smoothed": self.smoothed,
                "suggested": self.suggested, "lowest": self.lowest, "ended": self.ended}


def check_range(start: float, end: float, steps: int) -> None:
    """Raise :class:`LrFindError` for a range the test cannot sweep."""
    if not (math.isfinite(start) and math.isfinite(end)) or start <= 0 or end <= 0:
        raise LrFindError(f"the rates must be positive numbers (got {start:g} to {end:g})")
    if end <= start:
        raise LrFindError(f"the last rate ({end:g}) must be larger than the first ({start:g})")
    if steps < 5:
        raise LrFindError(f"the test needs at least 5 steps to draw a curve (got {steps})")


def rate_at(step: int, start: float, end: float, steps: int) -> float:
    """The rate of step ``step`` (0-based) of ``steps``, from ``start`` to ``end``."""
    return start * (end / start) ** (step / (steps - 1))


def steepest(rates: list[float], smoothed: list[float]) -> float | None:
    """The rate where the smoothed loss falls fastest per factor of rate, before its
    lowest point; ``None`` when it never falls."""
    if len(smoothed) < 3:
        return None
    low = min(range(len(smoothed)), key=smoothed.__getitem__)
    if low == 0:
        return None
    logs = [math.log(r) for r in rates]
    slopes = [(smoothed[i + 1] - smoothed[i - 1]) / (logs[i + 1] - logs[i - 1])
              for i in range(1, low + 1 if low + 1 < len(smoothed) else low)]
    if not slopes:
        return None
    best = min(range(len(slopes)), key=slopes.__getitem__)
    return rates[best + 1] if slopes[best] < 0 else None


def suggest(rates: list[float], smoothed: list[float]) -> float | None:
    """The smaller of the steepest fall's rate and a tenth of the lowest loss's rate;
    ``None`` when the loss never falls."""
    steep = steepest(rates, smoothed)
    if steep is None:
        return None
    low = rates[min(range(len(smoothed)), key=smoothed.__getitem__)]
    return min(steep, low / 10)


def find_lr(graph: Graph, data: Dataset, settings: TrainSettings, start: float = 1e-6,
            end: float = 1.0, steps: int = 100,
            on_step: Callable[[int, float, float], None] | None = None,
            stop: threading.Event | None = None) -> LrFinding:
    """Run the range test of ``graph`` on the training set ``data``.

    Parameters
    ----------
    graph, data, settings
        As for a run: the optimizer, batch size, weight decay, loss, seed and
        device come from ``settings``.
    start, end, steps
        The rates tried: ``steps`` of them, spaced evenly on a log scale.
    on_step
        Called after each step with ``(step, rate, loss)`` (1-based step).
    stop
        Set it (from another thread) to end the test after the current step.

    Raises
    ------
    LrFindError
        For a range it cannot sweep; TrainingError where the graph cannot train on
        ``data`` (the message says what to change).
    """
    check_range(start, end, steps)
    plan = plan_run(graph, data, settings)
    objective = plan.objective
    device = resolve_device(settings.device)
    model = compile_graph(graph, seed=settings.seed).to(device)
    model.train()
    forward = training_forward(model, graph, objective)  # with what loss terms need, if any
    optimizer = build_optimizer(settings, trainable_parameters(model))
    x = torch.as_tensor(data.x).to(device)
    targets = objective.loss_targets(torch.as_tensor(data.y).to(device))
    n = len(data)
    batch = min(settings.batch_size or n, n)
    generator = torch.Generator().manual_seed(settings.seed)
    order = torch.randperm(n, generator=generator)
    at = 0
    finding = LrFinding()
    average, best = 0.0, math.inf
    for step in range(steps):
        if stop is not None and stop.is_set():
            finding.ended = "stopped"
            break
        rate = rate_at(step, start, end, steps)
        for group in optimizer.param_groups:
            group["lr"] = rate
        if at + batch > n:  # a new pass over the data, in a new order
            order, at = torch.randperm(n, generator=generator), 0
        idx = order[at:at + batch].to(device)
        at += batch
        optimizer.zero_grad(set_to_none=True)
        loss = objective(forward(x[idx]), targets[idx])
        value = float(loss.detach())
        if not math.isfinite(value):
            finding.ended = "diverged"
            break
        loss.backward()
        if settings.grad_clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), settings.grad_clip)
        optimizer.step()
        average = SMOOTHING * average + (1 - SMOOTHING) * value
        smoothed = average / (1 - SMOOTHING ** (step + 1))  # without the start-up bias
        finding.rates.append(rate)
        finding.losses.append(value)
        finding.smoothed.append(smoothed)
        if on_step is not None:
            on_step(step + 1, rate, value)
        best = min(best, smoothed)
        if step > 0 and smoothed > DIVERGES * best:
            finding.ended = "diverged"
            break
    finding.suggested = suggest(finding.rates, finding.smoothed)
    return finding
