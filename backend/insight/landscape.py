"""The loss landscape: the loss over a plane through the current weights.

For any model, the plane is spanned by two random directions, each filter-
normalised (Li et al., 2018, "Visualizing the Loss Landscape of Neural Nets"): a
Gaussian direction whose every filter (row of a weight matrix, output channel of a
convolution) is rescaled to the norm of the same filter of the weights, so that a
step of 1 along it changes every filter by as much as it is large, whatever the
layer's scale; biases and normalisation parameters stay put, as in the paper. The
loss is evaluated at ``weights + a d1 + b d2`` on a grid of ``(a, b)`` in
``[-span, span]``. Alternatively the two principal directions of the training
path (``directions="pca"``, the paper's trajectory plot) show where training went.

For a single linear neuron on one input (one weight, one bias), the plane *is* the
whole weight space: :func:`neuron_surface` draws the exact loss over ``(w, b)``
and the gradient-descent steps on it.

The training path (:class:`~layerloom.backend.training.weight_path.WeightPath`) is
projected onto the plane by least squares. Evaluating the grid costs ``grid²``
forward passes over the sample set: :func:`estimate` times one and
:class:`TooSlow` refuses a grid that would take longer than the caller's budget,
saying which grid fits.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from layerloom.backend.insight.common import InsightError, evaluating, first_output
from layerloom.backend.training.weight_path import trainable

LANDSCAPE_SAMPLES = 1024  # training samples the loss is measured on
MIN_GRID, MAX_GRID = 3, 101
Progress = Callable[[int, int], bool]  # (done, total) -> go on?


class TooSlow(InsightError):
    """The grid would take longer than allowed; ``seconds`` is the estimate and
    ``grid`` the largest grid that fits."""

    def __init__(self, seconds: float, per_eval: float, grid: int, fits: int, budget: float):
        self.seconds, self.per_eval, self.grid, self.fits = seconds, per_eval, grid, fits
        advice = (f"choose a grid of {fits} or less (about {duration(per_eval * fits * fits)})"
                  if fits >= MIN_GRID else "use fewer samples or a smaller model")
        super().__init__(f"a {grid}x{grid} landscape needs about {duration(seconds)} "
                         f"({per_eval * 1000:.3g} ms per loss evaluation, {grid * grid} evaluations), over the "
                         f"{duration(budget)} allowed: {advice}")


class Cancelled(InsightError):
    """The caller's progress callback asked to stop."""


def duration(seconds: float) -> str:
    if seconds < 10:
        return f"{seconds:.2g} s"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


@dataclass(frozen=True)
class Surface:
    """A loss surface over a plane of weight space.

    ``losses[i, j]`` is the loss at ``(xs[j], ys[i])`` (rows are y). ``path`` is
    ``(K, 2)`` plane coordinates of the training path (``None`` without one),
    ``path_steps`` their step numbers and ``path_losses`` the loss at each
    snapshot. ``kind`` is ``"random"``, ``"pca"`` or ``"exact"`` (a one-neuron
    regression, axes ``w`` and ``b``).
    """

    xs: np.ndarray
    ys: np.ndarray
    losses: np.ndarray
    kind: str
    x_label: str
    y_label: str
    centre: tuple[float, float]
    centre_loss: float
    path: np.ndarray | None = None
    path_steps: np.ndarray | None = None
    path_losses: np.ndarray | None = None
    explained: tuple[float, float] | None = None  # "pca": share of the path's variance


class LossProbe:
    """The loss of a model on a fixed sample of its training data, in eval mode.

    Parameters
    ----------
    model : torch.nn.Module
        The model; :meth:`set` overwrites its trainable weights.
    x, y : np.ndarray
        Normalised inputs and targets (at most :data:`LANDSCAPE_SAMPLES` are used).
    objective : backend.training.losses.Objective
        The run's loss (``objective(out, objective.loss_targets(y))``).
    """

    def __init__(self, model: nn.Module, x: np.ndarray, y: np.ndarray, objective):
        self.model = model
        self.params = [p for _, p in trainable(model)]
        if not self.params:
            raise InsightError("this model has no trainable weights: there is no landscape to draw")
        device = self.params[0].device
        n = min(len(x), LANDSCAPE_SAMPLES)
        self.x = torch.as_tensor(np.asarray(x[:n])).to(device)
        self.target = objective.loss_targets(torch.as_tensor(np.asarray(y[:n])).to(device))
        self.objective = objective
        self.origin = self.get()

    def get(self) -> torch.Tensor:
        with torch.no_grad():
            return torch.cat([p.detach().reshape(-1).float() for p in self.params])

    def set(self, flat: torch.Tensor) -> None:
        with torch.no_grad():
            start = 0
            for p in self.params:
                n = p.numel()
                p.copy_(flat[start:start + n].view_as(p).to(p.dtype))
                start += n

    def loss_at(self, flat: torch.Tensor) -> float:
        self.set(flat)
        with evaluating(self.model), torch.no_grad():
            out = first_output(self.model(self.x))
            value = float(self.objective(out, self.target))
        return value if math.isfinite(value) else float("nan")

    def restore(self) -> None:
        self.set(self.origin)


def probe_for(model: nn.Module, graph, settings, data) -> LossProbe:
    """A :class:`LossProbe` on ``data`` (a normalised Dataset) with the run's loss."""
    from layerloom.backend.training.checks import plan_run

    objective = plan_run(graph, data, settings).objective
    return LossProbe(model, data.x, data.y, objective)


def estimate(probe: LossProbe, repeats: int = 3) -> float:
    """Seconds one loss evaluation takes (the best of ``repeats`` after a warm-up)."""
    origin = probe.origin
    probe.loss_at(origin)
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        probe.loss_at(origin)
        best = min(best, time.perf_counter() - t0)
    probe.restore()
    return best


def check_budget(probe: LossProbe, grid: int, budget: float | None) -> float:
    """The estimated seconds for ``grid``; raises :class:`TooSlow` over ``budget``."""
    if not MIN_GRID <= grid <= MAX_GRID:
        raise InsightError(f"the grid must have {MIN_GRID} to {MAX_GRID} points a side, got {grid}")
    per_eval = estimate(probe)
    seconds = per_eval * grid * grid
    if budget is not None and seconds > budget:
        fits = int(math.sqrt(budget / max(per_eval, 1e-9)))
        raise TooSlow(seconds, per_eval, grid, min(fits, grid - 1), budget)
    return seconds


# ------------------------------------------------------------------ directions
def filter_normalised_direction(model: nn.Module, generator: torch.Generator) -> torch.Tensor:
    """A random direction, flattened like :meth:`LossProbe.get`: Gaussian, each
    filter scaled to its weights' filter norm; zero for 1-D parameters (biases,
    norms). A model with only 1-D parameters moves them, scaled to their norm."""
    parts, any_filter = [], False
    params = [p for _, p in trainable(model)]
    for p in params:
        w = p.detach().float().cpu()
        if w.dim() <= 1:
            parts.append(torch.zeros(w.numel()))
            continue
        any_filter = True
        d = torch.randn(w.shape, generator=generator)
        rows_w, rows_d = w.reshape(w.shape[0], -1), d.reshape(d.shape[0], -1)
        scale = rows_w.norm(dim=1, keepdim=True) / (rows_d.norm(dim=1, keepdim=True) + 1e-10)
        parts.append((rows_d * scale).reshape(-1))
    if not any_filter:
        parts = []
        for p in params:
            w = p.detach().float().cpu().reshape(-1)
            d = torch.randn(w.shape, generator=generator)
            parts.append(d * (w.norm() + 1e-3) / (d.norm() + 1e-10))
    return torch.cat(parts)


def pca_directions(points: np.ndarray) -> tuple[np.ndarray, np.ndarray, tuple[float, float]]:
    """The two principal directions of the path's offsets from its last point, and
    the share of the offsets' variance each explains."""
    offsets = (points - points[-1]).astype(np.float64)
    if len(points) < 3 or not np.any(offsets):
        raise InsightError("the directions of the training path need a recorded path of at least 3 "
                           "snapshots that moved; train the model in this session first")
    _, s, vt = np.linalg.svd(offsets, full_matrices=False)
    var = s**2 / max(float((s**2).sum()), 1e-30)
    second = vt[1] if len(vt) > 1 else np.zeros_like(vt[0])
    return vt[0], second, (float(var[0]), float(var[1]) if len(var) > 1 else 0.0)


def project(points: np.ndarray, origin: np.ndarray, d1: np.ndarray, d2: np.ndarray) -> np.ndarray:
    """Least-squares plane coordinates ``(K, 2)`` of ``points`` around ``origin``."""
    basis = np.stack([d1, d2], axis=1).astype(np.float64)  # (P, 2)
    offsets = (points - origin).astype(np.float64).T  # (P, K)
    coords, *_ = np.linalg.lstsq(basis, offsets, rcond=None)
    return coords.T


# -------------------------------------------------------------------- surfaces
def _grid(probe: LossProbe, xs, ys, at: Callable[[float, float], torch.Tensor],
          progress: Progress | None, budget: float | None = None) -> np.ndarray:
    """The losses over the grid. The budget is checked again after the first row
    (a busy machine can be far slower than the first timing): a grid heading for
    twice the budget stops with :class:`TooSlow`."""
    losses = np.full((len(ys), len(xs)), np.nan, np.float64)
    total = len(xs) * len(ys)
    t0 = time.perf_counter()
    try:
        for i, b in enumerate(ys):
            for j, a in enumerate(xs):
                losses[i, j] = probe.loss_at(at(float(a), float(b)))
                if progress is not None and not progress(i * len(xs) + j + 1, total):
                    raise Cancelled("the landscape was cancelled")
            if i == 0 and budget is not None:
                per_eval = (time.perf_counter() - t0) / len(xs)
                if per_eval * total > 2 * budget:
                    fits = int(math.sqrt(budget / max(per_eval, 1e-9)))
                    raise TooSlow(per_eval * total, per_eval, len(xs), min(fits, len(xs) - 1), budget)
    finally:
        probe.restore()
    return losses


def random_surface(probe: LossProbe, grid: int = 21, span: float = 1.0, seed: int = 0,
                   path: tuple[np.ndarray, np.ndarray] | None = None, directions: str = "random",
                   progress: Progress | None = None, budget: float | None = None) -> Surface:
    """The loss around the probe's current weights.

    Parameters
    ----------
    probe : LossProbe
        Model and data; its weights are put back afterwards.
    grid : int
        Points per side.
    span : float
        ``a`` and ``b`` run over ``[-span, span]`` (random directions; the PCA plane
        is sized to the path).
    seed : int
        Seed of the random directions.
    path : (steps, points), optional
        A recorded training path (:meth:`WeightPath.snapshot`), drawn projected.
    directions : str
        ``"random"`` (filter-normalised) or ``"pca"`` (the path's principal directions).
    progress : callable, optional
        ``progress(done, total)`` after each evaluation; returning False cancels.
    budget : float, optional
        Seconds allowed; over it :class:`TooSlow` is raised before any work.
    """
    check_budget(probe, grid, budget)
    origin = probe.origin.cpu()
    explained = None
    steps = points = None
    if path is not None and len(path[0]):
        steps, points = path
        if points.shape[1] != origin.numel():
            raise InsightError(f"the recorded path has {points.shape[1]:,} weights per snapshot and the model "
                               f"{origin.numel():,}: it belongs to another model")
    if directions == "pca":
        if points is None:
            raise InsightError("the directions of the training path need a recorded path; train the model "
                               "in this session first, or use random directions")
        d1, d2, explained = pca_directions(points)
        coords = project(points, origin.numpy(), d1, d2)
        reach = float(np.abs(coords).max()) * 1.25 or 1.0
        xs = ys = np.linspace(-reach, reach, grid)
        labels = (f"path direction 1 ({explained[0]:.0%} of its variance)",
                  f"path direction 2 ({explained[1]:.0%})")
    elif directions == "random":
        generator = torch.Generator().manual_seed(seed)
        d1 = filter_normalised_direction(probe.model, generator).numpy()
        d2 = filter_normalised_direction(probe.model, generator).numpy()
        coords = project(points, origin.numpy(), d1, d2) if points is not None else None
        xs = ys = np.linspace(-span, span, grid)
        labels = ("random direction 1 (filter-normalised)", "random direction 2 (filter-normalised)")
    else:
        raise InsightError(f"unknown directions {directions!r}: use 'random' or 'pca'")
    device = probe.origin.device
    t1 = torch.as_tensor(d1, dtype=torch.float32, device=device)
    t2 = torch.as_tensor(d2, dtype=torch.float32, device=device)
    base = probe.origin
    losses = _grid(probe, xs, ys, lambda a, b: base + a * t1 + b * t2, progress, budget)
    path_losses = _path_losses(probe, points)
    centre_loss = probe.loss_at(base)
    probe.restore()
    return Surface(np.asarray(xs), np.asarray(ys), losses, directions, labels[0], labels[1], (0.0, 0.0),
                   centre_loss, coords, steps, path_losses, explained)


def _path_losses(probe: LossProbe, points: np.ndarray | None) -> np.ndarray | None:
    if points is None:
        return None
    device = probe.origin.device
    try:
        return np.array([probe.loss_at(torch.as_tensor(p, device=device)) for p in points])
    finally:
        probe.restore()


def path_hint(surface: Surface) -> str:
    """A sentence for a random plane on which the training path is a dot: in many
    dimensions random directions are nearly orthogonal to any given path (Li et al.
    note it); the path's own directions show it."""
    if surface.kind != "random" or surface.path is None or not len(surface.path):
        return ""
    extent = float(np.ptp(surface.path, axis=0).max())
    if extent >= 0.05 * float(surface.xs[-1] - surface.xs[0]):
        return ""
    return ("the training path hardly shows on random directions (in many dimensions they are nearly "
            "orthogonal to it): choose the training path's directions (pca) to see it")


def is_single_neuron(model: nn.Module) -> bool:
    """One trainable weight and one bias, on one input: the ``(w, b)`` plane is the
    whole weight space."""
    params = trainable(model)
    return (len(params) == 2 and sum(p.numel() for _, p in params) == 2
            and any(n.endswith("bias") for n, _ in params))


def neuron_surface(probe: LossProbe, grid: int = 41, path: tuple[np.ndarray, np.ndarray] | None = None,
                   progress: Progress | None = None, budget: float | None = None) -> Surface:
    """The exact loss over the weight ``w`` and bias ``b`` of a single neuron, with
    the gradient-descent steps of ``path`` drawn as they were taken."""
    if not is_single_neuron(probe.model):
        raise InsightError("the exact (w, b) surface is for a single neuron with one weight and one bias; "
                           "use random directions for this model")
    check_budget(probe, grid, budget)
    names = [n for n, _ in trainable(probe.model)]
    w_at = 0 if names[0].endswith("weight") else 1
    centre = probe.origin.cpu().numpy().astype(np.float64)
    steps = points = None
    corners = [centre]
    if path is not None and len(path[0]):
        steps, points = path
        corners += list(points.astype(np.float64))
    corners = np.stack(corners)
    reach = np.maximum(np.abs(corners - centre).max(axis=0) * 1.3, 1.0)
    ws = np.linspace(centre[w_at] - reach[w_at], centre[w_at] + reach[w_at], grid)
    bs = np.linspace(centre[1 - w_at] - reach[1 - w_at], centre[1 - w_at] + reach[1 - w_at], grid)
    device = probe.origin.device

    def at(w: float, b: float) -> torch.Tensor:
        pair = [0.0, 0.0]
        pair[w_at], pair[1 - w_at] = w, b
        return torch.tensor(pair, dtype=torch.float32, device=device)

    losses = _grid(probe, ws, bs, at, progress, budget)
    coords = points[:, [w_at, 1 - w_at]].astype(np.float64) if points is not None else None
    path_losses = _path_losses(probe, points)
    centre_loss = probe.loss_at(probe.origin)
    probe.restore()
    return Surface(ws, bs, losses, "exact", "weight w", "bias b", (float(centre[w_at]), float(centre[1 - w_at])),
                   centre_loss, coords, steps, path_losses)


def landscape(probe: LossProbe, grid: int | None = None, directions: str = "auto", **options) -> Surface:
    """:func:`neuron_surface` for a single neuron (``directions="auto"`` or
    ``"exact"``), else :func:`random_surface`."""
    if directions in ("auto", "exact") and (directions == "exact" or is_single_neuron(probe.model)):
        options.pop("span", None)
        options.pop("seed", None)
        return neuron_surface(probe, grid or 41, **options)
    return random_surface(probe, grid or 21, directions="random" if directions == "auto" else directions,
                          **options)
