"""``ring_mixture``: a 2-D mixture of Gaussians whose centres sit evenly on a circle.

The classic test of a GAN (Metz et al., 2017, "Unrolled GANs"): the data has
``modes`` separate clusters of equal weight, and a generator that collapses onto a
few of them is plain to see when its points are drawn over the real ones. Each
sample's label is its mode, so :func:`layerloom.backend.training.gan_measures.mode_coverage`
can count the modes a generator covers (and a classifier can train on it too).
"""

from __future__ import annotations

import numpy as np

from layerloom.backend.datasets.registry import DatasetInfo, register
from layerloom.backend.datasets.synthetic import n_samples_param, points_dataset, seed_param
from layerloom.graph.params import Float, Int

RING_DOC = ("Points from a mixture of Gaussians on a ring (8 by default, equal weights; the label "
            "is the mode): the GAN test where mode collapse shows.")


def ring_centres(modes: int, radius: float) -> np.ndarray:
    """The ``(modes, 2)`` centres, evenly spaced on the circle, the first at angle 0."""
    angle = 2.0 * np.pi * np.arange(modes) / modes
    return radius * np.stack([np.cos(angle), np.sin(angle)], axis=1)


def make_ring_mixture(n_samples: int, modes: int, radius: float, std: float, seed: int):
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(modes, dtype=np.int64), -(-n_samples // modes))[:n_samples]
    x = ring_centres(modes, radius)[y] + rng.normal(0.0, std, size=(n_samples, 2))
    return points_dataset("ring_mixture", x, y, modes, rng, RING_DOC)


register(DatasetInfo(
    name="ring_mixture", description=RING_DOC, task="classification", input_shape=(2,),
    input_dtype="float", num_classes=8, target_shape=(), loader=make_ring_mixture,
    shapes=lambda options: ((2,), (), options["modes"]),
    options=(
        n_samples_param(2000),
        Int("modes", 8, "Number of Gaussians on the ring", minimum=2, maximum=20),
        Float("radius", 2.0, "Radius of the ring", minimum=0.1, maximum=100.0),
        Float("std", 0.1, "Standard deviation of each Gaussian", minimum=0.001, maximum=10.0),
        seed_param(),
    ),
))
