"""Loss functions fitted to a task and a model output.

A dataset gives class labels ``(n,)``, token targets ``(n, T)``, regression values
``(n, k)`` or segmentation masks ``(n, H, W)``; a model gives ``(N, C)``,
``(N, T, V)``, ``(N, k)`` or ``(N, C, H, W)``. :class:`Objective` joins the two: it
turns the dataset's targets once, before training, into what the chosen loss needs
(one-hot rows for MSE on a classifier, floats for BCE), so that a training step only
slices tensors, and it reshapes outputs where torch's losses want another layout
(``(N, T, V)`` becomes ``(N, V, T)`` for cross-entropy on tokens). Segmentation
outputs already hold their classes in dim 1, as torch's losses want them: a mask's
loss is the mean over every pixel, and a pixel's prediction is the arg-max over the
channels.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from layerloom.graph.tensor import fmt_shape

CLASS_LOSSES = ("cross_entropy", "nll")


class ObjectiveError(ValueError):
    """The loss does not fit the task or the model output; the message says why."""


def default_loss(task: str) -> str:
    """Cross-entropy for classification, sequence and segmentation tasks, MSE for regression."""
    return "mse" if task == "regression" else "cross_entropy"


class Objective:
    """The loss of one run, with the target and output layouts it needs.

    Parameters
    ----------
    loss : str
        A loss name from ``TrainSettings.loss`` (``"auto"`` picks from the task).
    task : str
        The dataset's task.
    num_classes : int or None
        Classes (or vocabulary size); ``None`` for regression.
    output_shape : tuple of int
        Per-sample shape of the model output.
    huber_delta : float
        Huber's switch point.
    """

    def __init__(self, loss: str, task: str, num_classes: int | None,
                 output_shape: tuple[int, ...], huber_delta: float = 1.0):
        self.name = default_loss(task) if loss == "auto" else loss
        self.task = task
        self.num_classes = num_classes
        self.output_shape = tuple(output_shape)
        self.huber_delta = huber_delta
        self._check()
        # A single output trained on 0/1 labels: predictions threshold that output.
        self.single_output = task == "classification" and self.output_shape == (1,)
        self.threshold = 0.0 if self.name == "bce_with_logits" else 0.5
        self._loss = self._make_loss()

    def _check(self) -> None:
        name, task = self.name, self.task
        if name in CLASS_LOSSES and task == "regression":
            raise ObjectiveError(
                f"the {name} loss needs class labels, but the dataset is a regression task "
                "with real-valued targets; choose mse, l1 or huber"
            )
        if name in CLASS_LOSSES and self.output_shape == (1,):
            raise ObjectiveError(
                f"the {name} loss needs one output per class ({self.num_classes}), but the "
                "model outputs (1,) per sample; set the last layer's units to "
                f"{self.num_classes}, or use bce_with_logits for a single output"
            )

    # ----------------------------------------------------------------- targets
    def loss_targets(self, y: torch.Tensor) -> torch.Tensor:
        """``y`` (a whole dataset's targets) in the form the loss compares to outputs."""
        if self.task == "regression" or self.name in CLASS_LOSSES:
            return y
        if self.single_output:
            return y.to(torch.float32).unsqueeze(-1)
        one_hot = F.one_hot(y, self.num_classes).to(torch.float32)
        return one_hot.movedim(-1, 1) if self.task == "segmentation" else one_hot

    # -------------------------------------------------------------------- loss
    def __call__(self, out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self._loss(out, target)

    def _make_loss(self):
        """The loss as one function, chosen once (a training step calls it directly)."""
        name, delta = self.name, self.huber_delta
        if name in CLASS_LOSSES:
            torch_loss = F.cross_entropy if name == "cross_entropy" else F.nll_loss
            if len(self.output_shape) > 1 and self.task != "segmentation":  # (N, T, V) -> (N, V, T)
                return lambda out, target: torch_loss(out.movedim(-1, 1), target)
            return torch_loss
        if name == "huber":
            return lambda out, target: F.huber_loss(out.float(), target, delta=delta)
        torch_loss = {"mse": F.mse_loss, "l1": F.l1_loss,
                      "bce_with_logits": F.binary_cross_entropy_with_logits}[name]
        return lambda out, target: torch_loss(out.float(), target)

    # ------------------------------------------- the trainer's view of loss terms
    # A graph with loss terms trains with a LossTerms (training/loss_terms.py), whose
    # model returns more than the scored output; one loss has nothing more to say.
    def scored(self, out: torch.Tensor) -> torch.Tensor:
        """The output that metrics score: the model's output itself."""
        return out

    def reset(self, phase: str) -> None:
        """Start a pass (``"train"`` or ``"eval"``): no terms to count."""

    def term_means(self, phase: str) -> dict[str, float]:
        """Each loss term's mean over the pass: none besides ``loss``."""
        return {}

    # ------------------------------------------------------------- predictions
    def predictions(self, out: torch.Tensor) -> torch.Tensor:
        """Class (or token) predictions from outputs, for accuracy and confusion."""
        if self.single_output:
            return (out[..., 0] > self.threshold).long()
        if self.task == "segmentation":  # (N, C, H, W) -> (N, H, W)
            return out.argmax(dim=1)
        return out.argmax(dim=-1)


def describe_shapes(output_shape: tuple[int, ...], task: str, num_classes: int | None,
                    target_shape: tuple[int, ...]) -> str | None:
    """Why a model output cannot train on the targets, or ``None`` when it can.

    Classification wants ``(C,)`` with ``C`` classes (or ``(1,)`` for two classes),
    sequence tasks ``(T, V)``, segmentation ``(C, H, W)`` for masks ``(H, W)``,
    regression the target shape.
    """
    out = tuple(output_shape)
    if task == "segmentation":
        want = (num_classes, *target_shape)
        if out == want:
            return None
        fix = f"end with a 1x1 Conv2d of {num_classes} channels"
        if len(out) == len(want) and out[1:] != want[1:]:
            fix = f"keep the size {fmt_shape(tuple(target_shape))} (same padding, or upsample as often as you pool)"
        elif len(out) != len(want):
            fix = f"keep the image layout (no Flatten) and {fix}"
        return (
            f"the model outputs {fmt_shape(out)} per sample but the dataset has per-pixel masks "
            f"of {fmt_shape(tuple(target_shape))} with {num_classes} classes, so the output must be "
            f"{fmt_shape(want)} (one score per class and pixel); {fix}"
        )
    if task == "classification":
        if out == (num_classes,) or (out == (1,) and num_classes <= 2):
            return None
        return (
            f"the model outputs {fmt_shape(out)} per sample but the dataset has "
            f"{num_classes} classes, so the output must be ({num_classes},); "
            f"set the last layer's units to {num_classes}"
            + (" (and flatten before it)" if len(out) > 1 else "")
        )
    if task == "sequence":
        want = (*target_shape, num_classes)
        if out == want:
            return None
        return (
            f"the model outputs {fmt_shape(out)} per sample but the dataset has token "
            f"targets of shape {fmt_shape(target_shape)} over a vocabulary of {num_classes}, "
            f"so the output must be {fmt_shape(want)} (one score per token and step); "
            f"keep the sequence (return_sequences) and set the last layer's units to {num_classes}"
        )
    if out == tuple(target_shape):
        return None
    return (
        f"the model outputs {fmt_shape(out)} per sample but the dataset's targets are "
        f"{fmt_shape(target_shape)}; set the last layer's units to {target_shape[-1]}"
        + (" (and flatten before it)" if len(out) > 1 else "")
    )
