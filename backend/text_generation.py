"""Generate text with a trained character-level model, one character at a time.

A model trained on token windows of text (the ``text`` dataset) takes ``(T,)``
character ids and gives scores ``(T, V)``: at every position, how likely each
character is to come next. :func:`generate_text` turns it into a writer: it
encodes a prompt, feeds the last ``T`` characters (the context the model was
trained with), turns the scores at the last position into probabilities with a
softmax at a temperature, draws the next character, appends it and repeats.
Temperature 0 takes the likeliest character every time (greedy: the same text
on every call); higher temperatures make rarer characters likelier. The draws
come from ``numpy.random.default_rng(seed)``, so a seed gives the same text.

A context shorter than ``T`` is placed at the start of the window and the rest
filled with :data:`PAD` ids; the model's prediction is read at the last real
character. For a causal model (each position attends only to itself and earlier
ones, as the ``gpt_chars`` template's) this is exact: what follows a position
cannot change its output.

The app's Try it tab and ``layerloom sample`` both call :func:`generate_text`.
The vocabulary travels with a trained model in its safetensors metadata under
:data:`VOCABULARY_KEY` (:func:`vocabulary_metadata` writes it,
:func:`read_vocabulary` reads and checks it).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

VOCABULARY_KEY = "layerloom.vocabulary"
PAD = 0  # id that fills the window after a context shorter than the model's
MAX_LENGTH = 100_000  # characters one call may generate
MAX_TEMPERATURE = 100.0
MAX_VOCABULARY = 100_000


class GenerationError(Exception):
    """A model, vocabulary or request that cannot generate text; the message says why."""


def vocabulary_metadata(vocabulary: str | None) -> dict[str, str]:
    """The safetensors metadata entry that stores ``vocabulary`` (none for ``None``)."""
    return {} if vocabulary is None else {VOCABULARY_KEY: json.dumps(vocabulary)}


def read_vocabulary(metadata: Mapping[str, str]) -> str | None:
    """The vocabulary stored in a weights file's metadata, ``None`` when it has none.

    Raises
    ------
    GenerationError
        The entry is there but is not a string of distinct characters.
    """
    if VOCABULARY_KEY not in metadata:
        return None
    try:
        vocabulary = json.loads(metadata[VOCABULARY_KEY])
    except (TypeError, ValueError) as exc:
        raise GenerationError(f"the stored vocabulary is unreadable ({exc})") from None
    check_vocabulary(vocabulary)
    return vocabulary


def check_vocabulary(vocabulary: Any) -> str:
    if not isinstance(vocabulary, str) or not 1 <= len(vocabulary) <= MAX_VOCABULARY:
        raise GenerationError(
            f"a vocabulary is a string of 1 to {MAX_VOCABULARY:,} characters, got {_short(vocabulary)}"
        )
    if len(set(vocabulary)) != len(vocabulary):
        twice = sorted({c for c in vocabulary if vocabulary.count(c) > 1})
        raise GenerationError(f"the vocabulary names characters {''.join(twice)!r} more than once")
    return vocabulary


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def context_length(model: nn.Module) -> int:
    """``T``: the length of the one token input the model was compiled for.

    Raises
    ------
    GenerationError
        The model does not take one ``(T,)`` long input and give ``(T, V)`` scores.
    """
    inputs = getattr(model, "input_specs", None)
    outputs = getattr(model, "output_specs", None)
    if not inputs or not outputs:
        raise GenerationError("the model does not say what it takes: compile it from a LayerLoom graph")
    if len(inputs) != 1 or inputs[0].dtype != "long" or len(inputs[0].shape) != 1:
        got = ", ".join(str(spec) for spec in inputs)
        raise GenerationError(
            f"generating text needs a model with one input of token ids (T,) long; this one takes {got}"
        )
    (t,) = inputs[0].shape
    out = tuple(outputs[0].shape)
    if len(out) != 2 or out[0] != t:
        raise GenerationError(
            f"generating text needs scores (T, V) for every position of the input ({t},); this model "
            f"gives {out}: its output must keep the sequence and end in one score per character"
        )
    return int(t)


def generate_text(model: nn.Module, vocabulary: str, prompt: str, length: int = 200,
                  temperature: float = 0.8, seed: int = 0) -> str:
    """The ``length`` characters ``model`` writes after ``prompt``.

    Parameters
    ----------
    model : nn.Module
        A compiled graph (:class:`~layerloom.backend.compile.CompiledGraph`) with
        one ``(T,)`` long input and ``(T, V)`` scores as its (first) output;
        it is put in eval mode and run on the device it is on.
    vocabulary : str
        The character of each token id (``V`` of them).
    prompt : str
        The text to continue: at least one character, each in ``vocabulary``.
    length : int
        Characters to generate, 1 to :data:`MAX_LENGTH`.
    temperature : float
        Softmax temperature, 0 to :data:`MAX_TEMPERATURE`; 0 is greedy.
    seed : int
        Seed of the draws.

    Returns
    -------
    str
        The generated characters only (the prompt is not repeated).

    Raises
    ------
    GenerationError
        A model that cannot generate, a vocabulary that does not fit its
        outputs, or a request out of range (the message quotes the value).
    """
    check_vocabulary(vocabulary)
    t = context_length(model)
    v = int(model.output_specs[0].shape[1])
    if v != len(vocabulary):
        raise GenerationError(
            f"the model scores {v} tokens but the vocabulary has {len(vocabulary)} characters; "
            "use the vocabulary of the data it was trained on"
        )
    if not isinstance(prompt, str) or not prompt:
        raise GenerationError("the prompt is empty: give at least one character to continue")
    unknown = sorted({c for c in prompt if c not in vocabulary})
    if unknown:
        raise GenerationError(f"the prompt has characters the model does not know: {''.join(unknown)!r}; "
                              f"it knows {vocabulary!r}")
    if isinstance(length, bool) or not isinstance(length, int) or not 1 <= length <= MAX_LENGTH:
        raise GenerationError(f"the length must be a whole number from 1 to {MAX_LENGTH:,}, got {length!r}")
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) \
            or not math.isfinite(temperature) or not 0.0 <= temperature <= MAX_TEMPERATURE:
        raise GenerationError(f"the temperature must be a number from 0 to {MAX_TEMPERATURE:g}, "
                              f"got {temperature!r}")
    index = {c: i for i, c in enumerate(vocabulary)}
    ids = [index[c] for c in prompt]
    rng = np.random.default_rng(seed)
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    window = torch.full((1, t), PAD, dtype=torch.long, device=device)
    model.eval()
    out: list[str] = []
    with torch.no_grad():
        for _ in range(length):
            context = ids[-t:]
            window.fill_(PAD)
            window[0, :len(context)] = torch.tensor(context, dtype=torch.long)
            scores = model(window)
            if isinstance(scores, (tuple, list)):
                scores = scores[0]
            logits = scores[0, len(context) - 1].double().cpu().numpy()
            nxt = _draw(logits, temperature, rng)
            ids.append(nxt)
            out.append(vocabulary[nxt])
    return "".join(out)


def _draw(logits: np.ndarray, temperature: float, rng: np.random.Generator) -> int:
    if not np.isfinite(logits).any():
        raise GenerationError("the model's scores are not finite numbers (NaN or infinite); train it again")
    if temperature == 0.0:
        return int(np.argmax(np.where(np.isfinite(logits), logits, -np.inf)))
    z = np.where(np.isfinite(logits), logits / temperature, -np.inf)
    z = z - z.max()
    p = np.exp(z)
    p /= p.sum()
    return int(rng.choice(len(p), p=p))
