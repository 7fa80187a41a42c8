"""What a training run reports: small frozen dataclasses, one per ``kind``.

The trainer calls its consumer with these from the training thread. They hold plain
Python values only (numbers, strings, tuples, small dicts), never tensors, so a
consumer may keep them, send them to another thread, or write them to JSON without
touching torch. Epochs and steps are counted from 1 (step 1 is the first optimizer
step of the run; a resumed run continues the count).

Kinds: ``started``, ``step``, ``epoch``, ``stats``, ``confusion``, ``checkpoint``,
``paused``, ``resumed``, ``note``, ``finished``, ``failed``. A run always ends with exactly one
``finished`` or ``failed``.

As JSON lines (``layerloom train --events``, and the file the app follows for a run
on several processes): :func:`write_event` writes one event per line,
:func:`event_from_json` turns a line's data back into the event, and
:class:`EventsTail` reads the lines a file has gained since the last read.
"""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import IO, Any

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
    frozen_count: int = 0  # of the parameter_count, the values of frozen nodes
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
class Note:
    """Something the user should know that came up during the run (the set-up's
    notes come in ``started``): e.g. that torch.compile failed and the run trains on
    without it."""

    step: int
    message: str
    kind: str = field(default="note", init=False)


@dataclass(frozen=True)
class Finished:
    """The run ended normally; ``reason`` is one of :data:`STOP_REASONS`."""

    reason: str
    metrics: dict[str, float]
    wall_time: float
    epochs: int  # epochs completed
    steps: int
    # the best weights restored at the end: metric, mode, epoch, value (empty: none kept)
    best: dict[str, Any] = field(default_factory=dict)
    kind: str = field(default="finished", init=False)


@dataclass(frozen=True)
class Failed:
    """The run could not go on; ``message`` says why and what to do."""

    message: str
    epoch: int = 0
    step: int = 0
    kind: str = field(default="failed", init=False)


Event = (Started | Step | Epoch | Stats | Confusion | CheckpointSaved | Paused | Resumed | Note
         | Finished | Failed)
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


# ------------------------------------------------------------------ JSON lines
EVENT_CLASSES = (Started, Step, Epoch, Stats, Confusion, CheckpointSaved, Paused, Resumed, Note, Finished,
                 Failed)
_BY_KIND = {cls.__dataclass_fields__["kind"].default: cls for cls in EVENT_CLASSES}


def write_event(handle: IO[str], event: Event) -> None:
    """Write ``event`` to ``handle`` as one JSON line and flush it, so that a
    reader following the file (:class:`EventsTail`) sees it at once."""
    handle.write(json.dumps(asdict(event)) + "\n")
    handle.flush()


def event_from_json(data: Any) -> Event | None:
    """The event that :func:`write_event` wrote as ``data``, or ``None`` for a
    line this version does not know (it is skipped)."""
    if not isinstance(data, dict) or data.get("kind") not in _BY_KIND:
        return None
    cls = _BY_KIND[data["kind"]]
    values = {}
    for f in fields(cls):
        if not f.init or f.name not in data:
            continue
        value = data[f.name]
        if f.name == "nodes":
            value = tuple(NodeStats(**{k: _tuples(v) for k, v in node.items()}) for node in value)
        elif isinstance(value, list):
            value = _tuples(value)
        values[f.name] = value
    try:
        return cls(**values)
    except TypeError:  # a field missing: not an event this version can show
        return None


def _tuples(value):
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


class EventsTail:
    """Reads the events in the complete lines appended to a JSON-lines file
    since the last read (a line still being written waits for the next read)."""

    def __init__(self, path: Path):
        self.path = path
        self.offset = 0
        self.rest = b""

    def read(self) -> list[Event]:
        try:
            with open(self.path, "rb") as handle:
                handle.seek(self.offset)
                chunk = handle.read()
        except FileNotFoundError:  # the writer has not opened it yet
            return []
        self.offset += len(chunk)
        lines = (self.rest + chunk).split(b"\n")
        self.rest = lines.pop()
        out = []
        for line in lines:
            try:
                event = event_from_json(json.loads(line))
            except ValueError:
                continue
            if event is not None:
                out.append(event)
        return out
