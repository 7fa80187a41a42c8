"""Trained weights as files: save a run's model, open one again.

The file is safetensors with the graph embedded (the backend's format, which
``layerloom export`` and :func:`layerloom.backend.export.load_model` read) plus the input
normalisation the model was trained with, so that a reopened model sees its
inputs scaled as in training. Nothing is unpickled or executed when reading.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from layerloom.graph import Graph
from layerloom.graph.fileio import describe_write_error


class ModelFileError(Exception):
    """A weights file that cannot be written or read; the message says why."""


@dataclass
class OpenedModel:
    graph: Graph
    model: Any
    normalisation: Any  # backend.datasets.Normalisation or None
    path: Path
    vocabulary: str | None = None  # the characters of the token ids, for a model of text


def save_trained(graph: Graph, model, path: str | Path, normalisation=None,
                 vocabulary: str | None = None) -> Path:
    """Write ``model``'s weights with ``graph`` (and ``normalisation``, and the
    ``vocabulary`` of a model of text) to ``path``; the file is read back and
    compared before it replaces ``path``."""
    from layerloom.backend.export import ExportError, save_weights
    from layerloom.backend.text_generation import vocabulary_metadata
    from layerloom.backend.training.checkpoint import NORMALISATION_KEY, json_metadata

    metadata = vocabulary_metadata(vocabulary)
    if normalisation is not None:
        metadata[NORMALISATION_KEY] = json_metadata(normalisation.to_dict())
    try:
        return save_weights(graph, model, path, metadata).path
    except ExportError as exc:
        raise ModelFileError(str(exc)) from None
    except OSError as exc:
        raise ModelFileError(f"{describe_write_error(exc, str(path))}; choose another folder") from None


def open_trained(path: str | Path) -> OpenedModel:
    """The graph, model (CPU, eval mode), normalisation and vocabulary stored in ``path``."""
    from layerloom.backend.datasets import DatasetError, Normalisation
    from layerloom.backend.export import WeightsError, load_model
    from layerloom.backend.export.weights import read_safetensors
    from layerloom.backend.text_generation import GenerationError, read_vocabulary
    from layerloom.backend.training.checkpoint import NORMALISATION_KEY
    from layerloom.graph import GraphError, GraphFileError

    path = Path(path)
    try:
        graph, model = load_model(path)
        metadata, _ = read_safetensors(path)
    except (WeightsError, GraphError, GraphFileError) as exc:
        raise ModelFileError(str(exc)) from None
    normalisation = None
    if NORMALISATION_KEY in metadata:
        try:
            normalisation = Normalisation.from_dict(json.loads(metadata[NORMALISATION_KEY]))
        except (ValueError, DatasetError) as exc:
            raise ModelFileError(f"{path}: the stored input normalisation is unreadable ({exc})") from None
    try:
        vocabulary = read_vocabulary(metadata)
    except GenerationError as exc:
        raise ModelFileError(f"{path}: {exc}") from None
    return OpenedModel(graph, model, normalisation, path, vocabulary)


def data_for(graph: Graph, base_dir: str | None = None):
    """The validation set (the training set when there is none) that a reopened
    model was trained with: same split, same scaling. Raises the backend's errors
    (``DatasetError``, ``SettingsError``) for data that cannot be loaded."""
    from layerloom.backend.training import DatasetSettings, TrainSettings, prepare_data

    settings = TrainSettings.from_dict(graph.training)
    data = prepare_data(DatasetSettings.from_dict(graph.dataset), seed=settings.seed, base_dir=base_dir)
    return data.val if data.val is not None else data.train
