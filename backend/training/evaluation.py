"""Scoring a :class:`~layerloom.backend.training.trainer.Trainer`'s model: the
training metrics of an epoch, the validation pass after it, a held-out set after the
run, and the monitored value that early stopping and the schedule follow.

Evaluation runs in eval mode without gradients, in batches of :data:`EVAL_BATCH`
samples, with the run's mixed precision; the validation pass checks for a stop
between batches, so a long one does not hold up :meth:`~Trainer.stop`.
"""

from __future__ import annotations

import torch

from layerloom.backend.datasets import Dataset
from layerloom.backend.training.checks import TrainingError, plan_run
from layerloom.backend.training.metrics import MetricSums, target_spread, wide_dtype

EVAL_BATCH = 512


class EvaluationMixin:
    """The scoring of a :class:`~layerloom.backend.training.trainer.Trainer`; the
    methods marked as hooks are what :class:`~layerloom.backend.training.distributed.
    DistributedTrainer` overrides to score across processes."""

    def _tensors(self, data: Dataset) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor,
                                               torch.Tensor | None]:
        """``(x, y, loss targets, spread)`` of ``data`` on the device; ``spread`` (the
        targets' variance that regression's R² divides by) is computed once here."""
        x = torch.as_tensor(data.x).to(self.device)
        y = torch.as_tensor(data.y).to(self.device)
        spread = target_spread(y, self.device) if self.objective.task == "regression" else None
        return x, y, self.objective.loss_targets(y), spread

    def _settle(self) -> None:
        """Score the training outputs that wait, in one go."""
        outputs, rows = self._outputs, self._rows
        if not outputs:
            return
        with torch.no_grad():
            out = outputs[0] if len(outputs) == 1 else torch.cat(outputs)
            if self.world_size == 1:  # the batches follow each other in the epoch's order
                at = self._rows_from
                targets = self._y[self._perm[at:at + len(out)]]
            else:
                targets = self._y[rows[0] if len(rows) == 1 else torch.cat(rows)]
            self._sums.add(out, targets)
        outputs.clear()
        rows.clear()

    def _train_metrics(self) -> dict[str, float]:
        """Hook: the epoch's training loss and metrics from the running sums."""
        return {"loss": self._loss_sum / max(self._loss_n, 1), **self._sums.result(),
                **self.objective.term_means("train")}

    def _validate(self):
        """Hook: ``(metrics, confusion)`` on the validation set, ``None`` if stopped."""
        return self._evaluate(*self._val, confusion=True, stoppable=True)

    def _monitored(self, train: dict, val: dict | None) -> float | None:
        name = self.settings.monitor
        source = val if name.startswith("val_") and val is not None else train
        return source.get(name.removeprefix("val_"))

    def _improved(self, value: float) -> bool:
        if self._best is None:
            return True
        delta = self.settings.min_delta
        if self.settings.monitor_mode == "min":
            return value < self._best - delta
        return value > self._best + delta

    def _evaluate(self, x: torch.Tensor, y: torch.Tensor, y_loss: torch.Tensor,
                  spread: torch.Tensor | None, confusion: bool = False, stoppable: bool = False):
        """Loss and metrics over ``x`` in eval mode; ``None`` if stopped meanwhile."""
        result = self._evaluate_sums(x, y, y_loss, spread, confusion, stoppable)
        if result is None:
            return None
        loss_sum, sums = result
        return ({"loss": float(loss_sum) / max(len(x), 1), **sums.result(), **self.objective.term_means("eval")},
                sums.confusion())

    def _evaluate_sums(self, x: torch.Tensor, y: torch.Tensor, y_loss: torch.Tensor,
                       spread: torch.Tensor | None, confusion: bool = False,
                       stoppable: bool = False, rows: slice = slice(None)):
        """``(loss sum, MetricSums)`` over the samples ``rows`` of ``x`` (regression's
        R² still measures ``spread``, that of all of ``y``); ``None`` if stopped."""
        sums = MetricSums(self.objective, self.device, y, confusion=confusion, spread=spread)
        wide = wide_dtype(self.device)
        loss_sum = None
        if rows != slice(None):
            x, y, y_loss = x[rows], y[rows], y_loss[rows]
        whole = len(x) <= EVAL_BATCH  # one batch: no slicing
        self.objective.reset("eval")
        self.model.eval()
        try:
            with torch.no_grad():
                for i in range(0, len(x), EVAL_BATCH):
                    if stoppable and self._stop.is_set():
                        return None
                    part = slice(i, i + EVAL_BATCH)
                    xb, yb, tb = (x, y, y_loss) if whole else (x[part], y[part], y_loss[part])
                    with self._autocast():
                        out = self._eval_forward(xb)
                        loss = self.objective(out, tb)
                    weighted = loss.detach().to(wide) * len(xb)
                    loss_sum = weighted if loss_sum is None else loss_sum + weighted
                    sums.add(self.objective.scored(out), yb)
        finally:
            self.model.train()
        if loss_sum is None:
            loss_sum = torch.zeros((), dtype=wide, device=self.device)
        return loss_sum, sums

    def evaluate(self, data: Dataset) -> dict[str, float]:
        """Loss and metrics of the trained model on ``data`` (normalised like the
        training data), e.g. a held-out test set after :meth:`run`."""
        if self.model is None or self.device is None:
            raise TrainingError("nothing to evaluate yet: run the trainer first")
        plan_run(self.graph, data, self.settings)
        metrics, _ = self._evaluate(*self._tensors(data))
        return metrics

    def final_metrics(self) -> dict[str, float]:
        """``loss``, ``accuracy``, ..., ``val_loss``, ... of the last epoch (or of the
        part of an epoch trained before a stop)."""
        if self.history:
            last = self.history[-1]
            train, val = last["train"], last["val"]
        elif getattr(self, "_loss_n", 0):
            self._settle()
            train, val = {"loss": self._loss_sum / self._loss_n, **self._sums.result()}, None
        else:
            return {}
        out = dict(train)
        out.update({f"val_{k}": v for k, v in (val or {}).items()})
        return out
