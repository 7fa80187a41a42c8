"""Curve histories that stay the same size however long a run goes.

A run of a million steps must not keep a million points per curve: memory would
grow for hours and every redraw would walk them all. :class:`BoundedSeries` keeps
at most ``capacity`` points: when it is full, neighbouring pairs of stored points
are averaged into one (old points are decimated) and from then on incoming points
are averaged in groups twice as large, so the whole run stays evenly covered at
the resolution that fits. The newest values are never lost, only coarsened.

A setting that jumps (a learning rate changed during a pause) must stay a jump:
averaging would turn it into a slope. ``keep="first"`` keeps the first point of
each group instead of the mean, and :func:`step_arrays` draws such a series as
steps (each value held until the next point).
"""

from __future__ import annotations

import math

import numpy as np

DEFAULT_CAPACITY = 2048


class BoundedSeries:
    """``(x, y)`` points with a fixed upper bound on what is stored.

    Parameters
    ----------
    capacity : int
        Most points kept (even, at least 4). When an append would exceed it, the
        stored points are averaged pairwise (``capacity // 2`` remain) and
        ``group`` doubles.

    Attributes
    ----------
    group : int
        How many appended points each new stored point averages (1 until the
        first decimation).
    version : int
        Bumps on every change, so views redraw only what changed.
    """

    def __init__(self, capacity: int = DEFAULT_CAPACITY, keep: str = "mean"):
        if capacity < 4 or capacity % 2:
            raise ValueError(f"capacity must be an even number of at least 4, got {capacity}")
        if keep not in ("mean", "first"):
            raise ValueError(f"keep must be 'mean' or 'first', got {keep!r}")
        self.capacity = capacity
        self.keep = keep
        self._first: tuple[float, float] | None = None  # keep="first": the open group's first point
        self._latest: tuple[float, float] | None = None
        self._x = np.empty(capacity, np.float64)
        self._y = np.empty(capacity, np.float64)
        self._n = 0
        self.group = 1
        self._acc_x = 0.0
        self._acc_y = 0.0
        self._acc_n = 0
        self.total = 0  # points ever appended
        self.version = 0

    def __len__(self) -> int:
        return self._n

    def append(self, x: float, y: float) -> None:
        """Add one point (``y`` may be NaN: shown as a gap)."""
        self.total += 1
        self.version += 1
        self._latest = (x, y)
        if self.group == 1:
            self._push(x, y)
            return
        if self.keep == "first":
            if self._acc_n == 0:
                self._first = (x, y)
            self._acc_n += 1
            if self._acc_n == self.group:
                self._push(*self._first)
                self._acc_n = 0
            return
        self._acc_x += x
        self._acc_y += y
        self._acc_n += 1
        if self._acc_n == self.group:
            self._push(self._acc_x / self.group, self._acc_y / self.group)
            self._acc_x = self._acc_y = 0.0
            self._acc_n = 0

    @classmethod
    def from_arrays(cls, xs, ys, capacity: int = DEFAULT_CAPACITY) -> BoundedSeries:
        """A series holding ``xs``/``ys`` (a kept run's curve) without a Python loop
        over the points when they fit; longer ones are appended (and decimated)."""
        xs, ys = np.asarray(xs, np.float64), np.asarray(ys, np.float64)
        series = cls(capacity)
        if len(xs) > capacity or len(xs) != len(ys):
            series.extend(xs, ys)
            return series
        series._x[:len(xs)], series._y[:len(ys)] = xs, ys
        series._n = series.total = len(xs)
        series.version += 1
        return series

    def extend(self, xs, ys) -> None:
        """Add many points in order."""
        for x, y in zip(xs, ys, strict=True):
            self.append(float(x), float(y))

    def _push(self, x: float, y: float) -> None:
        if self._n == self.capacity:
            self._decimate()
        self._x[self._n] = x
        self._y[self._n] = y
        self._n += 1

    def _decimate(self) -> None:
        half = self.capacity // 2
        if self.keep == "first":
            self._x[:half] = self._x[: self.capacity : 2]
            self._y[:half] = self._y[: self.capacity : 2]
        else:
            self._x[:half] = self._x[: self.capacity].reshape(half, 2).mean(axis=1)
            self._y[:half] = self._y[: self.capacity].reshape(half, 2).mean(axis=1)
        self._n = half
        self.group *= 2

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """Copies of the stored ``x`` and ``y`` plus the partial group, if any."""
        x, y = self._x[: self._n], self._y[: self._n]
        if self._acc_n and self.keep == "first":
            x, y = np.append(x, self._first[0]), np.append(y, self._first[1])
        elif self._acc_n:
            x = np.append(x, self._acc_x / self._acc_n)
            y = np.append(y, self._acc_y / self._acc_n)
        else:
            x, y = x.copy(), y.copy()
        return x, y

    def last(self) -> tuple[float, float] | None:
        """The newest point (the partial group's mean while one is open; with
        ``keep="first"`` the value appended last)."""
        if self.keep == "first":
            return self._latest
        if self._acc_n:
            return self._acc_x / self._acc_n, self._acc_y / self._acc_n
        if not self._n:
            return None
        return float(self._x[self._n - 1]), float(self._y[self._n - 1])

    def nbytes(self) -> int:
        """Memory held by the stored points (fixed: it never grows)."""
        return self._x.nbytes + self._y.nbytes


def step_arrays(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(x, y)`` drawn as steps: each ``y`` holds until the next ``x``, where the
    line rises or falls straight (a learning rate set during a pause)."""
    if len(x) < 2:
        return x, y
    xs = np.repeat(x, 2)[1:]
    ys = np.repeat(y, 2)[:-1]
    return xs, ys


SMOOTH_BLOCK = 64  # values per vectorised block (keeps w**-k far from overflow)


def smooth(y: np.ndarray, weight: float) -> np.ndarray:
    """Exponential moving average with the start-up bias removed (as TensorBoard).

    ``weight`` 0 returns ``y`` unchanged; 0.99 follows slowly. NaN values are
    skipped (they stay NaN and do not poison what follows). Vectorised in blocks:
    it runs ten times a second on thousands of points, on the GUI thread.
    """
    y = np.asarray(y, dtype=np.float64)
    w = float(weight)
    if w <= 0.0 or len(y) == 0:
        return y.copy()
    finite = np.isfinite(y)
    values = y[finite]
    out = np.full(len(y), math.nan)
    smoothed = np.empty(len(values))
    state = 0.0
    for start in range(0, len(values), SMOOTH_BLOCK):
        block = values[start:start + SMOOTH_BLOCK]
        k = np.arange(len(block))
        up = w ** (k + 1)  # w^(k+1): how much of the state survives to value k
        # sum_j<=k w^(k-j) v_j computed as w^k * cumsum(w^-j v_j)
        sums = (w ** k) * np.cumsum(block * w ** (-k.astype(np.float64)))
        ema = up * state + (1.0 - w) * sums
        smoothed[start:start + len(block)] = ema
        state = ema[-1]
    counts = np.arange(1, len(values) + 1)
    out[finite] = smoothed / (1.0 - w**counts)
    return out


def finite_range(*arrays: np.ndarray, log: bool = False) -> tuple[float, float] | None:
    """The smallest and largest finite values of ``arrays`` (positive ones for a
    log axis), or ``None`` when there are none."""
    lo, hi = math.inf, -math.inf
    for a in arrays:
        if a is None or not len(a):
            continue
        a = np.asarray(a, dtype=np.float64)
        mask = np.isfinite(a)
        if log:
            mask &= a > 0
        if mask.any():
            values = a[mask]
            lo, hi = min(lo, float(values.min())), max(hi, float(values.max()))
    if lo > hi:
        return None
    return lo, hi


def from_zero(bounds: tuple[float, float] | None, top: float | None = None) -> tuple[float, float] | None:
    """``bounds`` of a quantity that is never negative (a loss, a learning rate,
    an accuracy), widened down to 0 (and up to ``top`` if given).

    A live plot whose axis starts at 0 moves only when a new largest value comes,
    which for a falling loss is almost never: following the smallest value
    instead moves the axis (and re-renders it) every time the loss reaches a new
    low. ``None`` and ranges that go below 0 are returned unchanged.
    """
    if bounds is None or bounds[0] < 0:
        return bounds
    hi = bounds[1] if top is None else max(bounds[1], top)
    return 0.0, hi
