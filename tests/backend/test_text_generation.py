"""The ``text`` dataset, the causal GPT template and generating text with it.

The model-level tests use the ``gpt_chars`` template's graph with freshly
initialised weights (what generation does does not depend on training); the
command-line tests train it briefly through the real ``layerloom train`` once
and sample from the folder it wrote.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from layerloom.backend.compile import compile_graph
from layerloom.backend.datasets import DATASETS, DatasetError, load_dataset
from layerloom.backend.datasets.text_corpus import VOCABULARY, WORDS, corpus, encode
from layerloom.backend.export.weights import read_safetensors
from layerloom.backend.templates import load_template, template_path
from layerloom.backend.text_generation import (
    VOCABULARY_KEY,
    GenerationError,
    context_length,
    generate_text,
    read_vocabulary,
    vocabulary_metadata,
)

CLI = [sys.executable, "-m", "layerloom.gui.launcher"]


@pytest.fixture(scope="module")
def gpt():
    torch.manual_seed(0)
    return compile_graph(load_template("gpt_chars"), seed=0).eval()


# ------------------------------------------------------------------ dataset
def test_text_dataset_carries_its_vocabulary_and_next_character_targets():
    data = load_dataset("text", length=16, n_samples=50, seed=3)
    assert data.vocabulary == VOCABULARY and data.num_classes == len(VOCABULARY) == 28
    assert data.x.shape == data.y.shape == (50, 16) and data.x.dtype == np.int64
    assert data.task == "sequence" and data.input_shape == (16,)
    # y is x shifted by one: the next character at every position, across windows too
    assert np.array_equal(data.y[:, :-1], data.x[:, 1:])
    assert np.array_equal(data.y[:-1, -1], data.x[1:, 0])
    text = "".join(VOCABULARY[i] for i in data.x.reshape(-1))
    assert text == corpus(50 * 16 + 1, 3)[:-1]
    words = set(text.replace(".", " ").split()[1:-1])  # the first and last may be cut
    known = {w for options in WORDS.values() for w in options} | {"and"}
    assert words and words <= known
    assert DATASETS["text"].describe(length=40).input_shape == (40,)


def test_text_dataset_is_deterministic_with_its_seed():
    a, b = load_dataset("text", n_samples=20), load_dataset("text", n_samples=20)
    c = load_dataset("text", n_samples=20, seed=1)
    assert np.array_equal(a.x, b.x) and np.array_equal(a.y, b.y)
    assert not np.array_equal(a.x, c.x)


def test_text_shows_tokens_as_text_and_refuses_huge_sizes():
    data = load_dataset("text", length=8, n_samples=4)
    row = data.preview(1)["rows"][0]
    assert row[1] == repr("".join(VOCABULARY[i] for i in data.x[0]))
    assert data.label_text(data.y[0]) == repr("".join(VOCABULARY[i] for i in data.y[0]))
    assert data.subset([1, 2]).vocabulary == VOCABULARY
    with pytest.raises(DatasetError, match="characters, more than"):
        load_dataset("text", length=10_000, n_samples=10_000)
    with pytest.raises(DatasetError, match="not in the vocabulary"):
        encode("The end")


# --------------------------------------------------------------- the model
def test_gpt_template_is_one_block_instance_repeated_with_causal_attention():
    graph = load_template("gpt_chars")
    (block,) = [n for n in graph.nodes if n.is_block]
    assert block.params["repeat"] >= 2
    body = graph.blocks[block.params["block"]].body
    assert any(n.type == "scaled_dot_product_attention" and n.params["causal"] for n in body.nodes)
    assert graph.dataset["name"] == "text"


@pytest.mark.parametrize("causal", [True, False])
def test_output_at_a_position_does_not_depend_on_later_inputs(causal):
    graph = load_template("gpt_chars")
    body = graph.blocks["gpt_block"].body
    body.set_params("attention", {"causal": causal})
    model = compile_graph(graph, seed=0).eval()
    rng = np.random.default_rng(0)
    x = torch.as_tensor(rng.integers(0, len(VOCABULARY), size=(3, 32)))
    later = x.clone()
    later[:, 10:] = torch.as_tensor(rng.integers(0, len(VOCABULARY), size=(3, 22)))
    with torch.no_grad():
        a, b = model(x), model(later)
    assert a.shape == (3, 32, len(VOCABULARY))
    same_before = torch.allclose(a[:, :10], b[:, :10], atol=1e-5)
    assert same_before == causal  # without the mask, every position reads the later ones
    assert not torch.allclose(a[:, 10:], b[:, 10:], atol=1e-5)


# ---------------------------------------------------------------- sampling
def test_generated_text_has_the_length_and_only_vocabulary_characters(gpt):
    text = generate_text(gpt, VOCABULARY, "the cat ", length=77, temperature=1.0, seed=5)
    assert len(text) == 77 and set(text) <= set(VOCABULARY)
    assert generate_text(gpt, VOCABULARY, "the cat ", 77, 1.0, 5) == text  # seeded
    assert generate_text(gpt, VOCABULARY, "the cat ", 77, 1.0, 6) != text
    long_prompt = "the old fox chased a red ball near the river. " * 3  # longer than the context
    assert len(generate_text(gpt, VOCABULARY, long_prompt, 5, 0.8, 0)) == 5


def test_temperature_zero_is_greedy_and_ignores_the_seed(gpt):
    prompt = "a dog "
    text = generate_text(gpt, VOCABULARY, prompt, length=12, temperature=0.0, seed=1)
    assert generate_text(gpt, VOCABULARY, prompt, 12, 0.0, 99) == text
    ids = [VOCABULARY.index(c) for c in prompt]
    for _ in range(12):  # by hand: the likeliest character after the context, each time
        window = torch.zeros(1, 32, dtype=torch.long)
        window[0, :len(ids)] = torch.tensor(ids[-32:])
        with torch.no_grad():
            ids.append(int(gpt(window)[0, min(len(ids), 32) - 1].argmax()))
    assert text == "".join(VOCABULARY[i] for i in ids[len(prompt):])


@pytest.mark.parametrize("args, pattern", [
    (("",), "prompt is empty"),
    (("The",), "does not know: 'T'"),
    (("the", 0), "length must be"),
    (("the", 5, -1.0), "temperature must be"),
    (("the", 5, float("nan")), "temperature must be"),
])
def test_bad_requests_are_refused_with_the_value(gpt, args, pattern):
    with pytest.raises(GenerationError, match=pattern):
        generate_text(gpt, VOCABULARY, *args)


def test_models_and_vocabularies_that_cannot_generate_are_refused(gpt):
    with pytest.raises(GenerationError, match="scores 28 tokens but the vocabulary has 3"):
        generate_text(gpt, "abc", "a")
    with pytest.raises(GenerationError, match="more than once"):
        generate_text(gpt, "aab", "a")
    moons = compile_graph(load_template("mlp_two_moons"))
    with pytest.raises(GenerationError, match=r"one input of token ids \(T,\) long"):
        context_length(moons)
    assert context_length(gpt) == 32
    assert read_vocabulary(vocabulary_metadata(VOCABULARY)) == VOCABULARY
    assert read_vocabulary({}) is None and vocabulary_metadata(None) == {}
    with pytest.raises(GenerationError, match="unreadable"):
        read_vocabulary({VOCABULARY_KEY: "{not json"})


# ------------------------------------------------------------ command line
@pytest.fixture(scope="module")
def trained_dir(tmp_path_factory):
    """The template trained briefly by the real ``layerloom train``."""
    out = tmp_path_factory.mktemp("gpt_run")
    done = subprocess.run(
        [*CLI, "train", str(template_path("gpt_chars")), "--epochs", "1", "-o", "n_samples=200",
         "--out", str(out), "--no-progress", "--no-record"],  # no run kept beside the shipped template
        capture_output=True, text=True, timeout=300, env=_one_thread_env())
    assert done.returncode == 0, done.stderr
    return out


def _one_thread_env():
    import os

    return {**os.environ, "OMP_NUM_THREADS": "1"}


def _sample(*args):
    return subprocess.run([*CLI, "sample", *map(str, args)], capture_output=True, text=True, timeout=120,
                          env=_one_thread_env())


def test_train_stores_the_vocabulary_and_sample_continues_the_prompt(trained_dir):
    metadata, _ = read_safetensors(trained_dir / "model.safetensors")
    assert json.loads(metadata[VOCABULARY_KEY]) == VOCABULARY
    done = _sample(trained_dir, "--prompt", "the old ", "--length", 40, "--temperature", 0)
    assert done.returncode == 0, done.stderr
    text = done.stdout.rstrip("\n")
    assert text.startswith("the old ") and len(text) == len("the old ") + 40
    assert set(text) <= set(VOCABULARY)
    again = _sample(trained_dir / "model.safetensors", "-p", "the old ", "-n", 40, "-t", 0, "--seed", 7)
    assert again.stdout == done.stdout  # greedy: the seed does not matter
    seeded = [_sample(trained_dir, "-n", 30, "-t", 1.0, "--seed", 3).stdout for _ in range(2)]
    assert seeded[0] == seeded[1]


@pytest.mark.parametrize("args, pattern", [
    (["--prompt", "Hello"], "does not know: 'H'"),
    (["--temperature", "-1"], "must be from 0 to"),
    (["--length", "0"], "must be from 1 to"),
])
def test_sample_refuses_bad_input_in_one_line(trained_dir, args, pattern):
    done = _sample(trained_dir, *args)
    assert done.returncode != 0 and pattern in done.stderr
    assert done.stderr.startswith("error:") and "Traceback" not in done.stderr


def test_sample_explains_a_model_that_is_not_of_text(tmp_path):
    from layerloom.backend.export import save_weights

    graph = load_template("mlp_two_moons")
    save_weights(graph, compile_graph(graph), tmp_path / "moons.safetensors")
    done = _sample(tmp_path / "moons.safetensors")
    assert done.returncode == 2 and "not trained on text" in done.stderr
    done = _sample(tmp_path)
    assert done.returncode == 2 and "holds no model.safetensors" in done.stderr
