"""Two-dimensional toy classification sets: xor, moons, circles, spirals, blobs, linear.

Points in the plane, so a student can see the decision boundary a network learns
and why a perceptron cannot solve xor while a small MLP can. Every generator
draws from its own ``np.random.default_rng(seed)``: the same options give the same
points, and the global NumPy, ``random`` and torch states are never touched.
Classes are balanced (sizes differ by at most one) and rows are shuffled.
"""

from __future__ import annotations

import numpy as np

from layerloom.backend.datasets.base import Dataset
from layerloom.backend.datasets.registry import DatasetInfo, register
from layerloom.graph.params import Float, Int

SEED_MAX = 2**32 - 1
MAX_SAMPLES = 1_000_000


def n_samples_param(default: int) -> Int:
    return Int("n_samples", default, "Number of points", minimum=2, maximum=MAX_SAMPLES)


def noise_param(default: float, help: str = "Standard deviation of the Gaussian noise added to each point") -> Float:
    return Float("noise", default, help, minimum=0.0, maximum=10.0)


def seed_param() -> Int:
    return Int("seed", 0, "Random seed: the same seed gives the same data", minimum=0, maximum=SEED_MAX)


def classes_param(default: int, help: str) -> Int:
    return Int("classes", default, help, minimum=2, maximum=20)


def class_sizes(n: int, k: int) -> np.ndarray:
    """``k`` class sizes summing to ``n`` that differ by at most one."""
    return np.full(k, n // k) + (np.arange(k) < n % k)


def labels_for(n: int, k: int) -> np.ndarray:
    """Balanced labels ``0 0 .. 1 1 .. k-1`` for ``n`` points, in class order."""
    return np.repeat(np.arange(k, dtype=np.int64), class_sizes(n, k))


def points_dataset(name: str, x: np.ndarray, y: np.ndarray, k: int, rng, description: str) -> Dataset:
    """Shuffle rows with ``rng`` and wrap them as a 2-D classification dataset."""
    order = rng.permutation(len(y))
    return Dataset(
        name=name, x=np.ascontiguousarray(x[order], dtype=np.float32), y=y[order].astype(np.int64),
        task="classification", input_shape=(2,), input_dtype="float", target_shape=(),
        num_classes=k, class_names=[str(i) for i in range(k)], description=description,
    )


# ----------------------------------------------------------------- generators

XOR_DOC = ("Four clusters in the corners of a square, labelled by the sign of x·y: "
           "not linearly separable, the classic case a perceptron cannot learn.")
MOONS_DOC = "Two interleaving half circles: a curved boundary for a small MLP."
CIRCLES_DOC = "A small circle inside a larger one: separable only by a closed boundary."
SPIRALS_DOC = ("Interleaved spiral arms, one per class: hard for shallow models, "
               "needs depth or many hidden units.")
BLOBS_DOC = "Gaussian clusters around random centres, one per class: the easy case."
LINEAR_DOC = ("Two classes on either side of a random line with a gap between them: "
              "linearly separable, so a perceptron converges.")


def make_xor(n_samples: int, noise: float, seed: int) -> Dataset:
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1.0, 1.0, size=(n_samples, 2))
    x += np.sign(x) * 0.1  # a small gap around the axes keeps the labels clean without noise
    y = ((x[:, 0] > 0) != (x[:, 1] > 0)).astype(np.int64)
    x += rng.normal(0.0, noise, size=x.shape)
    return points_dataset("xor", x, y, 2, rng, XOR_DOC)


def make_moons(n_samples: int, noise: float, seed: int) -> Dataset:
    rng = np.random.default_rng(seed)
    y = labels_for(n_samples, 2)
    t = np.pi * rng.uniform(0.0, 1.0, size=n_samples)
    upper = np.stack([np.cos(t), np.sin(t)], axis=1)
    lower = np.stack([1.0 - np.cos(t), 0.5 - np.sin(t)], axis=1)
    x = np.where(y[:, None] == 0, upper, lower) + rng.normal(0.0, noise, size=(n_samples, 2))
    return points_dataset("moons", x, y, 2, rng, MOONS_DOC)


def make_circles(n_samples: int, noise: float, factor: float, seed: int) -> Dataset:
    rng = np.random.default_rng(seed)
    y = labels_for(n_samples, 2)
    t = 2.0 * np.pi * rng.uniform(0.0, 1.0, size=n_samples)
    radius = np.where(y == 0, 1.0, factor)
    x = radius[:, None] * np.stack([np.cos(t), np.sin(t)], axis=1)
    x += rng.normal(0.0, noise, size=x.shape)
    return points_dataset("circles", x, y, 2, rng, CIRCLES_DOC)


def make_spirals(n_samples: int, classes: int, noise: float, turns: float, seed: int) -> Dataset:
    rng = np.random.default_rng(seed)
    y = labels_for(n_samples, classes)
    r = rng.uniform(0.05, 1.0, size=n_samples)  # distance from the centre, 0..1
    angle = 2.0 * np.pi * (turns * r + y / classes)
    x = r[:, None] * np.stack([np.cos(angle), np.sin(angle)], axis=1)
    x += rng.normal(0.0, noise, size=x.shape)
    return points_dataset("spirals", x, y, classes, rng, SPIRALS_DOC)


def make_blobs(n_samples: int, classes: int, noise: float, seed: int) -> Dataset:
    rng = np.random.default_rng(seed)
    y = labels_for(n_samples, classes)
    centres = rng.uniform(-5.0, 5.0, size=(classes, 2))
    x = centres[y] + rng.normal(0.0, noise, size=(n_samples, 2))
    return points_dataset("blobs", x, y, classes, rng, BLOBS_DOC)


def make_linear(n_samples: int, noise: float, margin: float, seed: int) -> Dataset:
    rng = np.random.default_rng(seed)
    angle = rng.uniform(0.0, 2.0 * np.pi)
    normal = np.array([np.cos(angle), np.sin(angle)])
    offset = rng.uniform(-0.3, 0.3)
    y = labels_for(n_samples, 2)
    # Points are placed by their signed distance d from the line (|d| >= margin / 2)
    # and a position t along it, so the gap exists by construction.
    d = rng.uniform(margin / 2, 1.0 + margin / 2, size=n_samples) * np.where(y == 1, 1.0, -1.0)
    t = rng.uniform(-1.0, 1.0, size=n_samples)
    along = np.array([-normal[1], normal[0]])
    x = (offset + d)[:, None] * normal + t[:, None] * along
    x += rng.normal(0.0, noise, size=x.shape)
    return points_dataset("linear", x, y, 2, rng, LINEAR_DOC)


def _two_d(options):
    return (2,), (), 2


def _two_d_k(options):
    return (2,), (), options["classes"]


def _info(name, doc, loader, options, num_classes=2, shapes=_two_d):
    return DatasetInfo(
        name=name, description=doc, task="classification", input_shape=(2,),
        input_dtype="float", num_classes=num_classes, options=options, target_shape=(),
        loader=loader, shapes=shapes,
    )


register(_info("xor", XOR_DOC, make_xor, (n_samples_param(400), noise_param(0.05), seed_param())))
register(_info("moons", MOONS_DOC, make_moons, (n_samples_param(400), noise_param(0.1), seed_param())))
register(_info("circles", CIRCLES_DOC, make_circles, (
    n_samples_param(400), noise_param(0.05),
    Float("factor", 0.5, "Radius of the inner circle relative to the outer one",
          minimum=0.05, maximum=0.95),
    seed_param(),
)))
register(_info("spirals", SPIRALS_DOC, make_spirals, (
    n_samples_param(600), classes_param(3, "Number of spiral arms, one class each"),
    noise_param(0.02), Float("turns", 0.75, "How many times each arm winds around the centre",
                             minimum=0.1, maximum=5.0),
    seed_param(),
), num_classes=3, shapes=_two_d_k))
register(_info("blobs", BLOBS_DOC, make_blobs, (
    n_samples_param(400), classes_param(3, "Number of clusters, one class each"),
    noise_param(0.8, "Standard deviation of each cluster"), seed_param(),
), num_classes=3, shapes=_two_d_k))
register(_info("linear", LINEAR_DOC, make_linear, (
    n_samples_param(200), noise_param(0.0, "Gaussian noise added after labelling (above 0 the "
                                            "classes may overlap)"),
    Float("margin", 0.2, "Width of the empty gap between the classes", minimum=0.0, maximum=2.0),
    seed_param(),
)))
