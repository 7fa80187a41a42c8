"""Metrics accumulated on the device, read once per epoch.

Adding a batch only queues a few tensor operations (no ``.item()``), so computing
training metrics does not stall a GPU step by step; :meth:`MetricSums.result` reads
the sums back at the end of the epoch.

Classification, sequence and segmentation tasks report ``accuracy`` (per token for
sequences, per pixel for segmentation masks; :func:`mean_iou` reads the mean
intersection over union of a segmentation from its pixel confusion matrix);
regression reports ``mae`` (mean absolute error over every value) and ``r2``,
exactly scikit-learn's ``r2_score`` over the pass: the squared errors of the
whole pass against the spread of the whole set, per target column, averaged over
the columns (``multioutput="uniform_average"``); a constant column scores 1 when
predicted exactly and 0 otherwise, as scikit-learn does.

Averaging over columns weighs every column alike, so with many outputs (the
pixels of an autoencoder) a column that is almost constant in one set (a pixel lit
in one image of a thousand) can pull that set's R² far below zero, while the same
pixel, exactly constant in a smaller validation split, scores 0 there. The two
numbers then differ although the losses agree; both are what ``r2_score`` gives.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from layerloom.backend.training.losses import Objective

FOLD = 256  # batches whose partial sums wait before being added up


def metric_names(task: str) -> tuple[str, ...]:
    """Metric names a task reports besides ``loss``."""
    return ("mae", "r2") if task == "regression" else ("accuracy",)


def wide_dtype(device: torch.device) -> torch.dtype:
    """The dtype sums are kept in: float64, except on Apple's mps (no float64)."""
    return torch.float32 if device.type == "mps" else torch.float64


def target_spread(targets: torch.Tensor | None, device: torch.device) -> torch.Tensor:
    """The variance of each target column, ``(k,)``: R²'s denominator per sample.

    Computed once per set and kept: it depends on the targets only, not on the
    model, and for a large set it costs as much as a pass of metrics.
    """
    wide = wide_dtype(device)
    if targets is None or not len(targets):
        k = math.prod(targets.shape[1:]) if targets is not None else 1
        return torch.zeros(k, dtype=wide, device=device)
    t = targets.reshape(len(targets), -1).to(device=device, dtype=wide)
    return (t - t.mean(0)).square().mean(0)


def mean_iou(matrix) -> float | None:
    """Mean intersection over union of a segmentation, from ``matrix[true][predicted]``
    pixel counts: per class, the pixels both call that class over the pixels either
    does, averaged over the classes that occur in either (``None`` when none do).

    Unlike pixel accuracy it weighs a small class as much as the background, so
    labelling every pixel background scores 1 / classes at best, however much of
    the image the background covers.
    """
    m = np.asarray(matrix, np.float64)
    hits = np.diag(m)
    union = m.sum(axis=0) + m.sum(axis=1) - hits
    seen = union > 0
    return float((hits[seen] / union[seen]).mean()) if seen.any() else None


class MetricSums:
    """Running sums for one pass over a dataset.

    Each :meth:`add` queues a few tensor operations whose results wait in a list
    (folded every :data:`FOLD` batches); nothing is read back before
    :meth:`result`. The trainer adds its training batches a group at a time (the
    outputs of up to ``LOSS_GROUP`` steps in one call), so a training step itself
    runs no metric operation at all. With a confusion matrix, the accuracy is read
    from the matrix's diagonal: one count per batch instead of two.

    Parameters
    ----------
    objective : Objective
        Gives the task and how outputs become predictions.
    device : torch.device
        Where the sums live.
    targets : torch.Tensor, optional
        Regression, ``(n, k)``: R² compares the squared error with the spread of
        these (a pass that stops early is measured against the spread of the whole
        set); not needed when ``spread`` is given.
    confusion : bool
        Also count a confusion matrix (classification; per pixel for segmentation).
    spread : torch.Tensor, optional
        Regression: :func:`target_spread` of ``targets``, when the caller keeps
        it from pass to pass (it is computed from ``targets`` otherwise).
    """

    def __init__(self, objective: Objective, device: torch.device,
                 targets: torch.Tensor | None = None, confusion: bool = False,
                 spread: torch.Tensor | None = None):
        self.objective = objective
        self.task = objective.task
        self.device = device
        self.count = 0
        self._pending: list[torch.Tensor] = []
        if self.task == "regression":
            if spread is None:
                spread = target_spread(targets, device)
            self.sst = spread  # per column, per sample
            self.sums = torch.zeros(2, len(spread), dtype=spread.dtype, device=device)  # |error|, error²
        else:
            self.sums = torch.zeros((), dtype=torch.int64, device=device)
        self.classes = objective.num_classes or 0
        self.matrix = None
        self._rows: list[list[int]] | None = None  # the matrix as read back, until the next add
        if confusion and self.task in ("classification", "segmentation"):
            self.matrix = torch.zeros(self.classes * self.classes, dtype=torch.int64, device=device)

    def add(self, out: torch.Tensor, y: torch.Tensor) -> None:
        """Add a batch: model outputs ``out`` and the dataset's targets ``y``."""
        if self.task == "none":  # trained on loss terms only (a VAE): nothing to score
            return
        if self.task == "regression":
            # summed in the wide dtype, so that how batches are grouped hardly matters
            diff = out.detach().reshape(len(out), -1).to(self.sums.dtype) - y.to(self.sums.dtype)
            self._pending.append(torch.stack((torch.linalg.vector_norm(diff, 1, dim=0),
                                              torch.linalg.vector_norm(diff, 2, dim=0).square())))
            self.count += len(y)
        else:
            pred = self.objective.predictions(out)
            self.count += y.numel()
            if self.matrix is not None:  # the accuracy is the matrix's diagonal
                self.matrix += torch.bincount((y * self.classes + pred).reshape(-1),
                                              minlength=self.classes ** 2)
                self._rows = None
            else:
                self._pending.append((pred == y).sum())
        if len(self._pending) >= FOLD:
            self._fold()

    def _fold(self) -> None:
        if self._pending:
            pending = self._pending[0] if len(self._pending) == 1 else torch.stack(self._pending).sum(0)
            self.sums += pending.to(self.sums.dtype)
            self._pending.clear()

    def result(self) -> dict[str, float]:
        """The metrics so far (empty before any batch)."""
        self._fold()
        if not self.count:
            return {}
        if self.task != "regression":
            correct = int(self.sums)
            if self.matrix is not None:
                rows = self.confusion()
                correct += sum(row[i] for i, row in enumerate(rows))
            return {"accuracy": correct / self.count}
        n = self.count
        abs_err, sq_err = self.sums[0], self.sums[1]
        mae = float(abs_err.sum()) / (n * len(abs_err))
        sst = self.sst * n
        r2 = torch.where(sst > 0, 1 - sq_err / sst.clamp_min(1e-30), (sq_err == 0).to(sst.dtype))
        return {"mae": mae, "r2": float(r2.mean())}

    def reduce(self, sum_across) -> None:
        """Add up these sums with those of the other processes of a distributed run.

        ``sum_across`` sums a tensor in place over the processes (an all-reduce);
        afterwards every process holds the totals, so :meth:`result` gives the
        metrics over all of their samples.
        """
        self._fold()
        sum_across(self.sums)
        count = torch.tensor([self.count], dtype=torch.int64, device=self.sums.device)
        sum_across(count)
        self.count = int(count)
        if self.matrix is not None:
            sum_across(self.matrix)
            self._rows = None

    def confusion(self) -> list[list[int]] | None:
        """``matrix[true][predicted]`` counts, or ``None`` when not counted."""
        if self.matrix is None:
            return None
        if self._rows is None:
            self._rows = self.matrix.view(self.classes, self.classes).tolist()
        return [list(row) for row in self._rows]

    # -------------------------------------------------------- checkpointing
    def state(self) -> dict:
        """Plain state (a CPU tensor and an int) to resume a half-finished epoch."""
        self._fold()
        return {"sums": self.sums.cpu(), "count": self.count}

    def load_state(self, data: dict) -> None:
        self.sums.copy_(data["sums"])
        self.count = int(data["count"])
