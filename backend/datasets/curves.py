"""One-input regression sets, ``line`` and ``curve``, and ``word_contexts`` for embeddings.

``line`` is what a single linear neuron can fit exactly (``y = slope x + intercept``
plus noise), so its loss over the weight and the bias is a paraboloid a student can
see gradient descent walk down. ``curve`` is a smooth bump-and-wiggle no straight line
fits: one hidden layer approximates it better the more units it has (universal
approximation). ``word_contexts`` is a generated word task (skip-gram): a word id in, a word
beside it in a generated sentence out; words of one topic share their contexts, so
an embedding trained on it gives them nearby vectors. Every generator draws from its own ``np.random.default_rng(seed)``.
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
WORDS_DOC = ("Skip-gram pairs from generated sentences ('the two red cat likes the pear and the plum'): "
             "a word id in, a word next to it out; words of a topic share contexts.")

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


FUNCTION_WORDS = ("the", "likes", "and")
VOCABULARY = (*FUNCTION_WORDS, *WORDS)


def sentence(rng) -> list[str]:
    """``the NUMBER COLOUR ANIMAL likes the FRUIT and the FRUIT``: each topic has its slot."""
    pick = {topic: (lambda words=words: words[rng.integers(len(words))]) for topic, words in TOPICS.items()}
    return ["the", pick["numbers"](), pick["colours"](), pick["animals"](), "likes", "the", pick["fruit"](),
            "and", "the", pick["fruit"]()]


def make_word_contexts(n_samples: int, window: int, seed: int) -> Dataset:
    """Skip-gram pairs: a word and one word at most ``window`` places from it, drawn
    from generated sentences. Words of one topic fill the same slot, so they share
    their contexts, and an embedding trained to predict the context gives them
    nearby vectors (the distributional hypothesis behind word2vec)."""
    rng = np.random.default_rng(seed)
    index = {w: i for i, w in enumerate(VOCABULARY)}
    centres, contexts = [], []
    while len(centres) < n_samples:
        words = sentence(rng)
        for i, word in enumerate(words):
            for j in range(max(0, i - window), min(len(words), i + window + 1)):
                if j != i:
                    centres.append(index[word])
                    contexts.append(index[words[j]])
    order = rng.permutation(len(centres))[:n_samples]
    return Dataset(
        name="word_contexts", x=np.asarray(centres, np.int64)[order].reshape(-1, 1),
        y=np.asarray(contexts, np.int64)[order], task="classification", input_shape=(1,), input_dtype="long",
        target_shape=(), num_classes=len(VOCABULARY), class_names=list(VOCABULARY), description=WORDS_DOC,
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
    name="word_contexts", description=WORDS_DOC, task="classification", input_shape=(1,),
    input_dtype="long", num_classes=len(VOCABULARY), target_shape=(), loader=make_word_contexts,
    category="Sequences",
    options=(Int("n_samples", 4000, "Number of (word, context) pairs", minimum=2, maximum=1_000_000),
             Int("window", 1, "Context words taken on each side of a word", minimum=1, maximum=5),
             seed_param())))
