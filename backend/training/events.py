"""What a training run reports: small frozen dataclasses, one per ``kind``.

The trainer calls its consumer with these from the training thread. They hold plain
Python values only (numbers, strings, tuples, small dicts), never tensors, so a
consumer may keep them, send them to another thread, or write them to JSON without
touching torch. Epochs and steps are counted from 1 (step 1 is the first optimizer
step of the run; a resumed run continues the count).

Kinds: ``started``, ``step``, ``epoch``, ``stats``, ``confusion``, ``checkpoint``,
``paused``, ``resumed``, ``finished``, ``failed``. A run always ends with exactly one
``finished`` or ``failed``.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

STOP_REASONS = ("completed", "stopped", "early_stopping")


@dataclass(frozen=True)
class Started:
    """The run is set up and about to take its first step."""

    steps_per_epoch: int
    total_steps: int
    epochs: int
    device: str
    parameter_count: int
    train_size: int
    val_size: int
    batch_size: int
    first_epoch: int = 1  # > 1 when resuming
    first_step: int = 1
    notes: tuple[str, ...] = ()  # things the user should know (precision ignored, ...)
    processes: int = 1  # data-parallel processes sharing each batch of batch_size samples
    kind: str = field(default="started", init=False)


@dataclass(frozen=True)
class Step:
    """Training progress; may summarise several steps (``steps``) to bound the rate.

    ``loss`` is the mean loss of those steps, ``step`` the last one's number.
    """

    epoch: int
    step: int
    loss: float
    lr: float
    samples_per_s: float
    steps: int = 1
    kind: str = field(default="step", init=False)


@dataclass(frozen=True)
class Epoch:
    """End of an epoch: training metrics (running means over the epoch's batches)
    and validation metrics (``None`` without a validation set)."""

    epoch: int
    step: int
    train: dict[str, float]
    val: dict[str, float] | None
    lr: float
    elapsed: float  # seconds since the run started
    kind: str = field(default="epoch", init=False)


@dataclass(frozen=True)
class NodeStats:
    """Weight and gradient statistics of one graph node (one layer with parameters).

    ``hist_counts`` has one count per bin and ``hist_edges`` one more value than
    that; they describe a bounded random sample of the node's weights.
    ``dead_fraction`` is the share of units that a following ReLU keeps at zero for
    every probe sample (``None`` when the node is not followed by a ReLU).
    """

    node_id: str
    hist_counts: tuple[float, ...]
    hist_edges: tuple[float, ...]
    weight_norm: float
    grad_norm: float | None
    dead_fraction: float | None = None


@dataclass(frozen=True)
class Stats:
    """Per-node statistics for gradient-flow, histogram and dead-unit views."""

    epoch: int
    step: int
    nodes: tuple[NodeStats, ...]
    kind: str = field(default="stats", init=False)


@dataclass(frozen=True)
class Confusion:
    """Confusion matrix on the validation set: ``matrix[true][predicted]``."""

    epoch: int
    matrix: tuple[tuple[int, ...], ...]
    class_names: tuple[str, ...]
    kind: str = field(default="confusion", init=False)


@dataclass(frozen=True)
class CheckpointSaved:
    """A checkpoint folder was written (every epoch and on stop)."""

    path: str
    epoch: int
    step: int
    kind: str = field(default="checkpoint", init=False)


@dataclass(frozen=True)
class Paused:
    step: int
    kind: str = field(default="paused", init=False)


@dataclass(frozen=True)
class Resumed:
    step: int
    lr: float
    kind: str = field(default="resumed", init=False)


@dataclass(frozen=True)
class Finished:
    """The run ended normally; ``reason`` is one of :data:`STOP_REASONS`."""

    reason: str
    metrics: dict[str, float]
    wall_time: float
    epochs: int  # epochs completed
    steps: int
    kind: str = field(default="finished", init=False)


@dataclass(frozen=True)
class Failed:
    """The run could not go on; ``message`` says why and what to do."""

    message: str
    epoch: int = 0
    step: int = 0
    kind: str = field(default="failed", init=False)


Event = Started | Step | Epoch | Stats | Confusion | CheckpointSaved | Paused | Resumed | Finished | Failed
Consumer = Callable[[Any], None]


class EventQueue:
    """A consumer that never blocks the trainer: events wait in a queue until the
    reader (a GUI timer, another thread) drains them.

    Examples
    --------
    >>> events = EventQueue()
    >>> trainer = Trainer(graph, train, settings=s, on_event=events)  # doctest: +SKIP
    >>> for event in events.drain(): ...  # doctest: +SKIP
    """

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()

    def __call__(self, event: Any) -> None:
        self._queue.put_nowait(event)

    def drain(self) -> list[Any]:
        """Every event received so far, oldest first."""
        out = []
        with self._lock:
            while True:
                try:
                    out.append(self._queue.get_nowait())
                except queue.Empty:
                    return out
