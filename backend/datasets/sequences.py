"""Sequence datasets for recurrent and attention models: sine, copy, reverse, sort.

``sine`` is forecasting: a window of ``length`` noisy values ``(T, 1)``
(batch-first, one feature per step, as LSTM/GRU layers take it) and the next
value as a regression target ``(1,)``. ``copy``, ``reverse`` and ``sort`` are token
tasks: ``x`` is ``(T,)`` int64 ids from a vocabulary of ``vocab`` tokens (for an
Embedding layer), ``y`` the ``(T,)`` int64 tokens to produce at each position, and
``num_classes`` is the vocabulary size. ``copy`` needs no memory, ``reverse`` needs
the whole sequence (bidirectional RNN or attention), ``sort`` needs comparisons
across it. Every generator uses its own ``np.random.default_rng(seed)``.
"""

from __future__ import annotations

import numpy as np

from layerloom.backend.datasets.base import Dataset, DatasetError
from layerloom.backend.datasets.registry import DatasetInfo, register
from layerloom.backend.datasets.synthetic import n_samples_param, noise_param, seed_param
from layerloom.graph.params import Int

SINE_DOC = ("Sine waves of random frequency and phase with noise: from a window of "
            "`length` values (T, 1), predict the next one (regression).")
COPY_DOC = "Token sequences (T,) to copy position by position: the baseline token task."
REVERSE_DOC = "Token sequences (T,) to output in reverse order: needs the whole sequence."
SORT_DOC = "Token sequences (T,) to output sorted ascending: needs comparisons across it."

MIN_PERIOD, MAX_PERIOD = 6.0, 40.0  # steps per cycle of the generated sine waves
MAX_VALUES = 100_000_000  # n_samples x length above this is a typo, not a dataset


def _check_size(name: str, n_samples: int, length: int) -> None:
    if n_samples * length > MAX_VALUES:
        raise DatasetError(
            f"dataset {name!r}: n_samples={n_samples:,} x length={length:,} is "
            f"{n_samples * length:,} values, more than {MAX_VALUES:,}; lower one of them"
        )


def length_param(default: int) -> Int:
    return Int("length", default, "Sequence length T (time steps)", minimum=1, maximum=10_000)


def vocab_param() -> Int:
    return Int("vocab", 10, "Vocabulary size V: tokens are 0..V-1", minimum=2, maximum=100_000)


def make_sine(length: int, n_samples: int, noise: float, seed: int) -> Dataset:
    _check_size("sine", n_samples, length)
    rng = np.random.default_rng(seed)
    period = rng.uniform(MIN_PERIOD, MAX_PERIOD, size=(n_samples, 1))
    phase = rng.uniform(0.0, 2.0 * np.pi, size=(n_samples, 1))
    steps = np.arange(length + 1)[None, :]
    series = np.sin(2.0 * np.pi * steps / period + phase)
    series += rng.normal(0.0, noise, size=series.shape)
    return Dataset(
        name="sine", x=np.ascontiguousarray(series[:, :length, None], dtype=np.float32),
        y=np.ascontiguousarray(series[:, length:], dtype=np.float32), task="regression",
        input_shape=(length, 1), input_dtype="float", target_shape=(1,), num_classes=None,
        class_names=None, description=SINE_DOC,
    )


def _tokens(name: str, doc: str, rule, length: int, vocab: int, n_samples: int, seed: int) -> Dataset:
    _check_size(name, n_samples, length)
    rng = np.random.default_rng(seed)
    x = rng.integers(0, vocab, size=(n_samples, length), dtype=np.int64)
    return Dataset(
        name=name, x=x, y=np.ascontiguousarray(rule(x), dtype=np.int64), task="sequence",
        input_shape=(length,), input_dtype="long", target_shape=(length,), num_classes=vocab,
        class_names=None, description=doc,
    )


def make_copy(length: int, vocab: int, n_samples: int, seed: int) -> Dataset:
    return _tokens("copy", COPY_DOC, lambda x: x.copy(), length, vocab, n_samples, seed)


def make_reverse(length: int, vocab: int, n_samples: int, seed: int) -> Dataset:
    return _tokens("reverse", REVERSE_DOC, lambda x: x[:, ::-1], length, vocab, n_samples, seed)


def make_sort(length: int, vocab: int, n_samples: int, seed: int) -> Dataset:
    return _tokens("sort", SORT_DOC, lambda x: np.sort(x, axis=1), length, vocab, n_samples, seed)


register(DatasetInfo(
    name="sine", description=SINE_DOC, task="regression", input_shape=(20, 1),
    input_dtype="float", num_classes=None,
    options=(length_param(20), n_samples_param(1000), noise_param(0.05), seed_param()),
    target_shape=(1,), loader=make_sine,
    shapes=lambda o: ((o["length"], 1), (1,), None), category="Sequences",
))

for _name, _doc, _make in (
    ("copy", COPY_DOC, make_copy), ("reverse", REVERSE_DOC, make_reverse),
    ("sort", SORT_DOC, make_sort),
):
    register(DatasetInfo(
        name=_name, description=_doc, task="sequence", input_shape=(10,), input_dtype="long",
        num_classes=10,
        options=(length_param(10), vocab_param(), n_samples_param(2000), seed_param()),
        target_shape=(10,), loader=_make,
        shapes=lambda o: ((o["length"],), (o["length"],), o["vocab"]), category="Sequences",
    ))
