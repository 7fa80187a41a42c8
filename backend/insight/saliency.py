"""Saliency: which input values the chosen class's score is most sensitive to.

The gradient of the class score (the raw logit, before the softmax, so other
classes do not enter) with respect to one input sample (Simonyan et al., 2014).
An image gives a heat map (the largest absolute gradient over its channels at each
pixel); a vector of features gives one signed bar per feature (positive: raising
the feature raises the score); any other float input a heat map of the absolute
gradient over its two (or flattened) dimensions. Token ids have no gradient, so
saliency does not apply to them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from layerloom.backend.insight.common import (
    InsightError,
    check_class,
    check_classifier,
    check_sample,
    class_score,
    classes_of,
    evaluating,
    first_output,
    predicted_class,
)


@dataclass(frozen=True)
class Saliency:
    """Saliency of one sample.

    Attributes
    ----------
    values : np.ndarray
        ``(H, W)`` in 0..1 for ``kind == "image"`` or ``"map"``; ``(F,)`` signed
        gradients for ``"features"``.
    kind : str
        ``"image"``, ``"map"`` or ``"features"``.
    sample : np.ndarray
        The input as the model saw it (normalised), for drawing beneath the map.
    target, predicted : int
        The class explained, and the class the model predicts.
    probability : float
        The model's probability of ``target`` (softmax or sigmoid of the scores).
    """

    values: np.ndarray
    kind: str
    sample: np.ndarray
    target: int
    predicted: int
    probability: float


def saliency(model: nn.Module, x: np.ndarray, index: int, task: str, target: int | None = None) -> Saliency:
    """The saliency of sample ``index`` of ``x`` for class ``target``.

    Parameters
    ----------
    model : torch.nn.Module
        The trained classifier (its device is used; its mode is restored after).
    x : np.ndarray
        Normalised inputs, one sample per row.
    index : int
        Which sample.
    task : str
        The dataset's task; only ``"classification"`` applies.
    target : int, optional
        The class whose score is explained (default: the predicted class).

    Raises
    ------
    InsightError
        Not a classifier, token inputs, a sample or class that does not exist.
    """
    check_classifier(task, "Saliency")
    check_sample(x, index)
    if not np.issubdtype(np.asarray(x).dtype, np.floating):
        raise InsightError("saliency is the gradient with respect to the input, and token ids have none; "
                           "it applies to float inputs (images, signals, features)")
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    sample = torch.as_tensor(np.asarray(x[index: index + 1], np.float32), device=device).requires_grad_(True)
    with evaluating(model), torch.enable_grad():
        out = first_output(model(sample))
        n = classes_of(out)
        check_class(target, n)
        predicted = predicted_class(out)
        target = predicted if target is None else int(target)
        (grad,) = torch.autograd.grad(class_score(out, target), sample)  # the weights' .grad stay untouched
    grad = grad[0].detach().float().cpu().numpy()
    probability = _probability(out.detach(), target)
    shape = grad.shape
    if len(shape) == 1:
        values, kind = grad, "features"
    elif len(shape) == 3:
        values, kind = _unit(np.abs(grad).max(axis=0)), "image"
    else:
        values, kind = _unit(np.abs(grad.reshape(shape[0], -1))), "map"
    return Saliency(values.astype(np.float32), kind, np.asarray(x[index], np.float32), target, predicted,
                    probability)


def _unit(values: np.ndarray) -> np.ndarray:
    top = float(values.max()) if values.size else 0.0
    return values / top if top > 0 else values


def _probability(out: torch.Tensor, target: int) -> float:
    flat = out.reshape(out.shape[0], -1).float()
    if flat.shape[1] == 1:
        p1 = float(torch.sigmoid(flat[0, 0]))
        return p1 if target == 1 else 1.0 - p1
    return float(torch.softmax(flat[0], dim=0)[target])
