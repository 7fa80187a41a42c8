"""How well a generator covers its data: numbers a GAN template states and checks.

- :func:`mode_coverage` for labelled 2-D data made of clusters (``ring_mixture``):
  each class is a mode with its mean and spread measured on the real points; a
  generated point counts for its nearest mode when it lies within 3 standard
  deviations of it; a mode is covered when it gets at least
  :data:`MIN_SHARE` of the generated points. A collapsed generator covers one or
  two modes; a good one all of them with most points counted.
- :func:`class_spread` for labelled images (``digits``): a classifier trained on
  the real images names the class of each generated one; the classes that get at
  least :data:`MIN_SHARE` of them, and the share it names with confidence (a
  probability of 0.9 or more: the sample looks like one digit, not a blur), tell
  variety and quality apart. Numbers only: plain NumPy and scikit-learn.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MIN_SHARE = 0.02  # a mode (class) counts as covered with at least this share of the samples
WITHIN_STD = 3.0
CONFIDENT = 0.9


@dataclass(frozen=True)
class Coverage:
    """``covered`` of ``modes`` modes got their share; ``good_share`` of the
    generated points lie within 3 std of their nearest mode; ``counts`` per mode."""

    covered: int
    modes: int
    good_share: float
    counts: tuple[int, ...]


def mode_stats(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per class: the mean point ``(k, d)`` and the standard deviation ``(k,)``
    (the root mean square over the coordinates)."""
    classes = np.unique(y)
    means = np.stack([x[y == c].mean(axis=0) for c in classes])
    stds = np.array([np.sqrt(((x[y == c] - means[i]) ** 2).mean()) for i, c in enumerate(classes)])
    return means, np.maximum(stds, 1e-6)


def mode_coverage(generated: np.ndarray, real_x: np.ndarray, real_y: np.ndarray) -> Coverage:
    """How many of the real data's modes (its classes) the ``generated`` points cover."""
    means, stds = mode_stats(np.asarray(real_x, np.float64), np.asarray(real_y))
    g = np.asarray(generated, np.float64).reshape(len(generated), -1)
    dist = np.linalg.norm(g[:, None, :] - means[None, :, :], axis=2)
    nearest = dist.argmin(axis=1)
    good = dist[np.arange(len(g)), nearest] <= WITHIN_STD * stds[nearest]
    counts = np.bincount(nearest[good], minlength=len(means))
    covered = int((counts >= MIN_SHARE * len(g)).sum()) if len(g) else 0
    return Coverage(covered, len(means), float(good.mean()) if len(g) else 0.0,
                    tuple(int(c) for c in counts))


@dataclass(frozen=True)
class Spread:
    """``covered`` of ``classes`` classes get their share of the generated samples;
    ``confident_share`` of them the classifier names with probability >= 0.9;
    ``counts`` per class; ``real_accuracy`` is the classifier's on held-out real data."""

    covered: int
    classes: int
    confident_share: float
    counts: tuple[int, ...]
    real_accuracy: float


def train_classifier(real_x: np.ndarray, real_y: np.ndarray, seed: int = 0):
    """A logistic regression on the flattened real samples, and its accuracy on a
    fifth of them held out."""
    from sklearn.linear_model import LogisticRegression

    x = np.asarray(real_x, np.float64).reshape(len(real_x), -1)
    y = np.asarray(real_y)
    order = np.random.default_rng(seed).permutation(len(x))
    cut = len(x) // 5
    held, fit = order[:cut], order[cut:]
    model = LogisticRegression(max_iter=500, C=0.5).fit(x[fit], y[fit])
    accuracy = float((model.predict(x[held]) == y[held]).mean()) if cut else 1.0
    return model, accuracy


def class_spread(generated: np.ndarray, real_x: np.ndarray, real_y: np.ndarray,
                 classifier=None) -> Spread:
    """How the generated samples spread over the real data's classes."""
    model, accuracy = classifier or train_classifier(real_x, real_y)
    g = np.asarray(generated, np.float64).reshape(len(generated), -1)
    proba = model.predict_proba(g)
    predicted = model.classes_[proba.argmax(axis=1)]
    k = len(model.classes_)
    counts = np.array([(predicted == c).sum() for c in model.classes_])
    covered = int((counts >= MIN_SHARE * len(g)).sum()) if len(g) else 0
    confident = float((proba.max(axis=1) >= CONFIDENT).mean()) if len(g) else 0.0
    return Spread(covered, k, confident, tuple(int(c) for c in counts), accuracy)
