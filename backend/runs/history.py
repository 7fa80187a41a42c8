"""The curves a stored run keeps for its plots, compact whatever the run's length.

A run's history is a few named curves of ``(x, y)`` points: ``loss`` and ``lr``
per step (``x`` is the step), ``epoch_loss``, ``val_loss`` and every metric per
epoch (``x`` is the step the epoch ended at; validation metrics start with
``val_``). :class:`Curve` keeps at most :data:`CAPACITY` points the way the app's
live plots do: when full, neighbouring points are averaged in pairs and later
points in groups twice as large, so a long run stays evenly covered.
:class:`HistoryRecorder` folds the trainer's events into curves (the command
line's runs); :func:`curves_to_json` / :func:`curves_from_json` are the file form.
No torch here.
"""

from __future__ import annotations

import math
from typing import Any

CAPACITY = 2048  # points per curve (as the app's live plots keep)
DIGITS = 6  # significant digits kept per value in the file
MAX_CURVES = 200  # curves read from one file at most


class HistoryError(ValueError):
    """A history that cannot be read; the message says what is wrong."""


class Curve:
    """``(x, y)`` points, at most ``capacity`` of them (older ones averaged in pairs)."""

    def __init__(self, capacity: int = CAPACITY):
        self.capacity = capacity
        self.xs: list[float] = []
        self.ys: list[float] = []
        self.group = 1
        self._acc: list[tuple[float, float]] = []

    def append(self, x: float, y: float) -> None:
        if self.group > 1:
            self._acc.append((x, y))
            if len(self._acc) < self.group:
                return
            x = sum(p[0] for p in self._acc) / self.group
            y = _mean([p[1] for p in self._acc])
            self._acc = []
        if len(self.xs) == self.capacity:
            self.xs = [(a + b) / 2 for a, b in zip(self.xs[::2], self.xs[1::2], strict=True)]
            self.ys = [_mean([a, b]) for a, b in zip(self.ys[::2], self.ys[1::2], strict=True)]
            self.group *= 2
        self.xs.append(float(x))
        self.ys.append(float(y))

    def __len__(self) -> int:
        return len(self.xs)


def _mean(values: list[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return sum(finite) / len(finite) if finite else math.nan


class HistoryRecorder:
    """A consumer of the trainer's events that keeps the curves of the run and its
    end (``final``, ``reason``, ``steps``, ``epochs``, ``wall_time`` or ``failure``)."""

    def __init__(self) -> None:
        self.curves: dict[str, Curve] = {}
        self.final: dict[str, float] = {}
        self.reason: str | None = None
        self.failure: str | None = None
        self.steps = 0
        self.epochs = 0
        self.wall_time: float | None = None
        self.device: str | None = None

    def curve(self, name: str) -> Curve:
        return self.curves.setdefault(name, Curve())

    def __call__(self, event: Any) -> None:
        kind = getattr(event, "kind", None)
        if kind == "started":
            self.device = event.device
        elif kind == "step":
            self.curve("loss").append(event.step, event.loss if math.isfinite(event.loss) else math.nan)
            self.curve("lr").append(event.step, event.lr)
            self.steps = event.step
        elif kind == "epoch":
            self.epochs, self.steps = event.epoch, event.step
            self.curve("epoch_loss").append(event.step, event.train.get("loss", math.nan))
            if event.val is not None:
                self.curve("val_loss").append(event.step, event.val.get("loss", math.nan))
            for prefix, values in (("", event.train), ("val_", event.val or {})):
                for name, value in values.items():
                    if name != "loss":
                        self.curve(prefix + name).append(event.step, value)
        elif kind == "finished":
            self.reason, self.final = event.reason, dict(event.metrics)
            self.steps, self.epochs, self.wall_time = event.steps, event.epochs, event.wall_time
        elif kind == "failed":
            self.failure = event.message

    @property
    def status(self) -> str:
        if self.failure is not None:
            return "failed"
        return "stopped" if self.reason == "stopped" else "finished"


def _round(value: float) -> float | None:
    """A value for the file: ``None`` for NaN and infinities, else ``DIGITS`` digits."""
    value = float(value)
    if not math.isfinite(value):
        return None
    return float(f"{value:.{DIGITS}g}")


def _x(value: float) -> float | int:
    value = float(value)
    return int(value) if value.is_integer() else _round(value)


def curves_to_json(curves: dict[str, tuple[list[float], list[float]]]) -> dict[str, Any]:
    """``{name: {"x": [...], "y": [...]}}`` with rounded values (NaN as ``null``)."""
    return {name: {"x": [_x(x) for x in xs], "y": [_round(y) for y in ys]}
            for name, (xs, ys) in curves.items()}


def curves_from_json(data: Any) -> dict[str, tuple[list[float], list[float]]]:
    """The curves :func:`curves_to_json` wrote; raises :class:`HistoryError` for
    anything else (a value that is not a number, lists of unequal length)."""
    if not isinstance(data, dict):
        raise HistoryError(f"the curves should be an object, got {type(data).__name__}")
    if len(data) > MAX_CURVES:
        raise HistoryError(f"{len(data)} curves; at most {MAX_CURVES} are read")
    out = {}
    for name, curve in data.items():
        if not isinstance(curve, dict) or not isinstance(curve.get("x"), list) \
                or not isinstance(curve.get("y"), list):
            raise HistoryError(f"curve {name!r}: expected {{'x': [...], 'y': [...]}}")
        xs, ys = curve["x"], curve["y"]
        if len(xs) != len(ys):
            raise HistoryError(f"curve {name!r}: {len(xs)} x values but {len(ys)} y values")
        try:
            out[name] = ([_number(x, allow_null=False) for x in xs], [_number(y) for y in ys])
        except HistoryError as exc:
            raise HistoryError(f"curve {name!r}: {exc}") from None
    return out


def _number(value: Any, allow_null: bool = True) -> float:
    if value is None and allow_null:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise HistoryError(f"expected a number, got {value!r}")
    return float(value)


def recorder_curves(recorder: HistoryRecorder) -> dict[str, tuple[list[float], list[float]]]:
    return {name: (curve.xs, curve.ys) for name, curve in recorder.curves.items()}
