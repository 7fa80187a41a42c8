"""One-input regression sets: ``line`` and ``curve``, and ``word_topics`` for embeddings.

``line`` is what a single linear neuron can fit exactly (``y = slope x + intercept``
plus noise), so its loss over the weight and the bias is a paraboloid a student can
see gradient descent walk down. ``curve`` is a smooth bump-and-wiggle no straight line
fits: one hidden layer approximates it better the more units it has (universal
approximation). ``word_topics`` is a generated word task: each sample is a word id,
its target the topic of that word (words of one topic share a vector once an
embedding learns it). Every generator draws from its own ``np.random.default_rng(seed)``.
"""

from __future__ import annotations

import numpy as np

from layerloom.backend.datasets.base import Dataset
from layerloom.backend.datasets.registry import DatasetInfo, register
from layerloom.backend.datasets.synthetic import n_samples_param, noise_param, seed_param
from layerloom.graph.params import Float, Int

LINE_DOC = ("Points on a straight line y = slope·x + intercept with Gaussian noise: one input, "
            "one target; a single linear neuron fits it.")
CURVE_DOC = ("A smooth curve y = sin(3x) + 0.3x² sampled on [-2, 2] with noise: no line fits it; "
             "one hidden layer approximates it better with more units.")
WORDS_DOC = ("Word ids (one per sample) labelled by their topic (animals, colours, numbers, "
             "fruit): an embedding learns vectors that group each topic's words.")

TOPICS = {
    "animals": ("cat", "dog", "horse", "cow", "sheep", "mouse"),
    "colours": ("red", "green", "blue", "yellow", "purple", "orange"),
    "numbers": ("one", "two", "three", "four", "five", "six"),
    "fruit": ("apple", "pear", "plum", "cherry", "grape", "lemon"),
}
WORDS = tuple(w for words in TOPICS.values() for w in words)


def _regression(name: str, x: np.ndarray, y: np.ndarray, doc: str) -> Dataset:
    return Dataset(
        name=name, x=np.ascontiguousarray(x.reshape(-1, 1), dtype=np.float32),
        y=np.ascontiguousarray(y.reshape(-1, 1), dtype=np.float32), task="regression",
        input_shape=(1,), input_dtype="float", target_shape=(1,), num_classes=None,
        class_names=None, description=doc,
    )


def make_line(n_samples: int, noise: float, slope: float, intercept: float, seed: int) -> Dataset:
    rng = np.random.default_rng(seed)
    x = rng.uniform(-2.0, 2.0, n_samples)
    y = slope * x + intercept + rng.normal(0.0, noise, n_samples)
    return _regression("line", x, y, LINE_DOC)


def curve_function(x: np.ndarray) -> np.ndarray:
    """The noiseless target of ``curve``."""
    return np.sin(3.0 * x) + 0.3 * x**2


def make_curve(n_samples: int, noise: float, seed: int) -> Dataset:
    rng = np.random.default_rng(seed)
    x = rng.uniform(-2.0, 2.0, n_samples)
    y = curve_function(x) + rng.normal(0.0, noise, n_samples)
    return _regression("curve", x, y, CURVE_DOC)


def make_word_topics(n_samples: int, seed: int) -> Dataset:
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, len(WORDS), n_samples)
    per_topic = len(WORDS) // len(TOPICS)
    return Dataset(
        name="word_topics", x=ids.reshape(-1, 1).astype(np.int64), y=(ids // per_topic).astype(np.int64),
        task="classification", input_shape=(1,), input_dtype="long", target_shape=(),
        num_classes=len(TOPICS), class_names=list(TOPICS), description=WORDS_DOC,
    )


register(DatasetInfo(
    name="line", description=LINE_DOC, task="regression", input_shape=(1,), input_dtype="float",
    num_classes=None, target_shape=(1,), loader=make_line, category="2-D toys", options=(
        n_samples_param(200), noise_param(0.3),
        Float("slope", 2.0, "Slope of the line", minimum=-100.0, maximum=100.0),
        Float("intercept", -1.0, "Value of the line at x = 0", minimum=-100.0, maximum=100.0),
        seed_param(),
    )))
register(DatasetInfo(
    name="curve", description=CURVE_DOC, task="regression", input_shape=(1,), input_dtype="float",
    num_classes=None, target_shape=(1,), loader=make_curve, category="2-D toys",
    options=(n_samples_param(400), noise_param(0.05), seed_param())))
register(DatasetInfo(
    name="word_topics", description=WORDS_DOC, task="classification", input_shape=(1,),
    input_dtype="long", num_classes=len(TOPICS), target_shape=(), loader=make_word_topics,
    category="Sequences",
    options=(Int("n_samples", 2000, "Number of samples", minimum=len(WORDS), maximum=1_000_000),
             seed_param())))
