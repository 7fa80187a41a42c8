"""``layerloom sample MODEL``: generate text with a trained character-level model.

MODEL is the folder ``layerloom train`` wrote (its ``model.safetensors``) or a
``.safetensors`` file saved by LayerLoom. The characters the model's token ids
stand for come from the file's metadata (written when it was trained on text),
else from the dataset its graph names. The prompt and what the model writes
after it go to stdout; the same seed gives the same text
(:func:`layerloom.backend.text_generation.generate_text` does the work, as in the
app's Try it tab).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from layerloom.backend.cli import CommandError

MODEL_FILE = "model.safetensors"


def add_parser(subs, name: str) -> None:
    p = subs.add_parser(
        name, help="generate text with a model trained on characters (the text dataset)",
        description="Continue a prompt one character at a time with a trained character-level model: "
        "the last T characters go in, the next one is drawn from the softmax of the scores at a "
        "temperature (0: always the likeliest).",
    )
    p.add_argument("model", metavar="MODEL",
                   help=f"a trained run's folder (holding {MODEL_FILE}) or a .safetensors file")
    p.add_argument("-p", "--prompt", default="the ", help="the text to continue (default 'the ')")
    p.add_argument("-n", "--length", type=_count, default=200, metavar="N",
                   help="characters to generate (default 200)")
    p.add_argument("-t", "--temperature", type=_temperature, default=0.8, metavar="T",
                   help="softmax temperature: 0 greedy, 1 the model's own odds (default 0.8)")
    p.add_argument("--seed", type=_count0, default=0, help="seed of the draws (default 0)")
    p.set_defaults(run=run)


def _number(text: str, kind):
    try:
        return kind(text)
    except ValueError:
        what = "a whole number" if kind is int else "a number"
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None


def _count(text: str) -> int:
    from layerloom.backend.text_generation import MAX_LENGTH

    value = _number(text, int)
    if not 1 <= value <= MAX_LENGTH:
        raise argparse.ArgumentTypeError(f"must be from 1 to {MAX_LENGTH:,}, got {value}")
    return value


def _count0(text: str) -> int:
    value = _number(text, int)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def _temperature(text: str) -> float:
    from layerloom.backend.text_generation import MAX_TEMPERATURE

    value = _number(text, float)
    if not 0.0 <= value <= MAX_TEMPERATURE:  # NaN fails too
        raise argparse.ArgumentTypeError(f"must be from 0 to {MAX_TEMPERATURE:g}, got {text}")
    return value


def run(args) -> int:
    from layerloom.backend.text_generation import GenerationError, generate_text

    path = model_path(args.model)
    graph, model, vocabulary = load_text_model(path)
    try:
        text = generate_text(model, vocabulary, args.prompt, args.length, args.temperature, args.seed)
    except GenerationError as exc:
        raise CommandError(f"{path}: {exc}") from None
    print(args.prompt + text)
    return 0


def model_path(given: str) -> Path:
    """The weights file: ``given`` itself, or ``given/model.safetensors`` for a folder."""
    path = Path(given)
    if path.is_dir():
        if not (path / MODEL_FILE).is_file():
            raise CommandError(f"{path} holds no {MODEL_FILE}; give the folder 'layerloom train' "
                               "wrote, or a .safetensors file")
        return path / MODEL_FILE
    if not path.exists():
        raise CommandError(f"no such file or folder: {given}")
    return path


def load_text_model(path: Path):
    """The graph, the model (CPU, eval mode) and its vocabulary; raises :class:`CommandError`."""
    from layerloom.backend.export import WeightsError, load_model
    from layerloom.backend.export.weights import read_safetensors
    from layerloom.backend.text_generation import GenerationError, read_vocabulary
    from layerloom.graph import GraphError, GraphFileError

    try:
        graph, model = load_model(path)
        metadata, _ = read_safetensors(path)
        vocabulary = read_vocabulary(metadata)
    except (WeightsError, GraphError, GraphFileError, GenerationError) as exc:
        raise CommandError(f"{path}: {exc}" if str(path) not in str(exc) else str(exc)) from None
    if vocabulary is None:
        vocabulary = _dataset_vocabulary(graph, path)
    return graph, model, vocabulary


def _dataset_vocabulary(graph, path: Path) -> str:
    """The vocabulary of the built-in dataset the graph was set up with."""
    from layerloom.backend.datasets import DATASETS, DatasetError, load_dataset

    name = (graph.dataset or {}).get("name")
    if name in DATASETS:
        try:
            dataset = load_dataset(name, **(graph.dataset.get("options") or {}))
        except DatasetError as exc:
            raise CommandError(f"{path}: cannot load its dataset to find the characters: {exc}") from None
        if dataset.vocabulary is not None:
            return dataset.vocabulary
    raise CommandError(
        f"{path} does not say which characters its tokens stand for: it was not trained on text "
        f"(its dataset is {name or 'not set'}); train a model on the text dataset, e.g. the "
        "gpt_chars template"
    )
