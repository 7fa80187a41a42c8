"""``text``: a character-level corpus generated locally, for language models.

Sentences come from a small English grammar over a vocabulary of real words
("the old fox chased a red ball near the river."), so a model that learns the
characters visibly learns words, spelling and sentence shape, and a sample drawn
from it reads like the corpus. The text is one long string cut into windows of
``length`` characters that do not overlap, so a validation window is text the
model never trained on. ``x`` is a window ``(T,)`` of character ids, ``y`` the
same window shifted by one: the next character at each position (the
``"sequence"`` task, outputs ``(T, V)``).

The character vocabulary is fixed (:data:`VOCABULARY`: space, full stop and the
26 lower-case letters), so the token ids mean the same characters for every seed
and option; the dataset carries it (``Dataset.vocabulary``) so tokens can be
shown, and prompts encoded, as text.
"""

from __future__ import annotations

import numpy as np

from layerloom.backend.datasets.base import Dataset, DatasetError
from layerloom.backend.datasets.registry import DatasetInfo, register
from layerloom.backend.datasets.sequences import length_param
from layerloom.backend.datasets.synthetic import MAX_SAMPLES, seed_param
from layerloom.graph.params import Int

TEXT_DOC = ("Sentences from a small English grammar as characters: from a window of `length` "
            "characters (T,), predict the next character at every position (character-level "
            "language model).")

VOCABULARY = " .abcdefghijklmnopqrstuvwxyz"
MAX_CHARACTERS = 20_000_000  # n_samples x length above this is a typo, not a corpus
WINDOWS = Int("n_samples", 4000, "Number of windows (samples) of `length` characters", minimum=2,
              maximum=MAX_SAMPLES)

# The grammar: a sentence is one of SENTENCES, each slot filled from its word list.
WORDS = {
    "det": ("the", "the", "the", "a", "my", "our", "every"),
    "adj": ("small", "big", "old", "young", "red", "green", "happy", "quiet", "brown", "little"),
    "noun": ("cat", "dog", "bird", "fox", "girl", "boy", "man", "woman", "king", "queen",
             "horse", "teacher", "farmer", "child"),
    "thing": ("tree", "house", "river", "garden", "ball", "book", "window", "hill", "boat",
              "table", "bridge"),
    "vt": ("saw", "found", "liked", "chased", "followed", "watched", "helped", "painted",
           "carried", "wanted"),
    "vi": ("slept", "sang", "ran", "smiled", "waited", "jumped", "laughed", "walked", "danced"),
    "prep": ("in", "near", "under", "behind", "by", "over", "across"),
    "adv": ("quietly", "slowly", "again", "today", "together", "happily"),
}
SENTENCES = (
    ("np", "vt", "obj"),
    ("np", "vt", "obj", "pp"),
    ("np", "vi"),
    ("np", "vi", "pp"),
    ("np", "vi", "adv"),
    ("np", "vi", "and", "np", "vi"),
    ("np", "vt", "obj", "adv"),
)


def _noun_phrase(rng: np.random.Generator, kind: str) -> list[str]:
    words = [_pick(rng, "det")]
    if rng.random() < 0.4:
        words.append(_pick(rng, "adj"))
    words.append(_pick(rng, kind))
    return words


def _pick(rng: np.random.Generator, slot: str) -> str:
    options = WORDS[slot]
    return options[int(rng.integers(len(options)))]


def sentence(rng: np.random.Generator) -> str:
    """One sentence of the grammar, lower-case, ending in a full stop."""
    words: list[str] = []
    for slot in SENTENCES[int(rng.integers(len(SENTENCES)))]:
        if slot == "np":
            words += _noun_phrase(rng, "noun")
        elif slot == "obj":
            words += _noun_phrase(rng, "noun" if rng.random() < 0.5 else "thing")
        elif slot == "pp":
            words += [_pick(rng, "prep"), *_noun_phrase(rng, "thing")]
        elif slot == "and":
            words.append("and")
        else:
            words.append(_pick(rng, slot))
    return " ".join(words) + "."


def corpus(n_characters: int, seed: int) -> str:
    """At least ``n_characters`` of text: sentences joined by spaces, cut to length."""
    rng = np.random.default_rng(seed)
    parts: list[str] = []
    total = 0
    while total < n_characters:
        parts.append(sentence(rng))
        total += len(parts[-1]) + 1
    return " ".join(parts)[:n_characters]


def encode(text: str, vocabulary: str = VOCABULARY) -> np.ndarray:
    """Character ids of ``text`` (int64); every character must be in ``vocabulary``."""
    index = {c: i for i, c in enumerate(vocabulary)}
    unknown = sorted({c for c in text if c not in index})
    if unknown:
        raise DatasetError(f"characters {''.join(unknown)!r} are not in the vocabulary {vocabulary!r}")
    return np.fromiter((index[c] for c in text), dtype=np.int64, count=len(text))


def make_text(length: int, n_samples: int, seed: int) -> Dataset:
    total = n_samples * length + 1
    if total > MAX_CHARACTERS:
        raise DatasetError(
            f"dataset 'text': n_samples={n_samples:,} x length={length:,} is {total - 1:,} characters, "
            f"more than {MAX_CHARACTERS:,}; lower one of them"
        )
    ids = encode(corpus(total, seed))
    x = ids[:-1].reshape(n_samples, length)
    y = ids[1:].reshape(n_samples, length)
    return Dataset(
        name="text", x=np.ascontiguousarray(x), y=np.ascontiguousarray(y), task="sequence",
        input_shape=(length,), input_dtype="long", target_shape=(length,),
        num_classes=len(VOCABULARY), class_names=None, description=TEXT_DOC, vocabulary=VOCABULARY,
    )


register(DatasetInfo(
    name="text", description=TEXT_DOC, task="sequence", input_shape=(32,), input_dtype="long",
    num_classes=len(VOCABULARY), options=(length_param(32), WINDOWS, seed_param()),
    target_shape=(32,), loader=make_text,
    shapes=lambda o: ((o["length"],), (o["length"],), len(VOCABULARY)), category="Sequences",
))
