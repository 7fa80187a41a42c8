"""Starting weights for fine-tuning: a model of a graph with weights from a file.

``layerloom train --init WEIGHTS`` and the app's "Start from: a file…" both use
:func:`model_from_weights`. The file is a ``.safetensors`` written by Save Weights,
by ``layerloom train`` (``model.safetensors`` / ``best.safetensors``, or the run
folder holding them) or a checkpoint folder. Every tensor the graph needs must be
in the file with the same shape; the first one that does not fit is named with both
shapes, and nothing is loaded (the model keeps its fresh weights untouched).
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from layerloom.backend.compile import compile_graph
from layerloom.backend.export.common import WeightsError
from layerloom.backend.export.weights import read_safetensors
from layerloom.graph import Graph

CANDIDATES = ("model.safetensors", "best.safetensors")


class InitWeightsError(Exception):
    """Weights that cannot start a run of this graph; the message says which and why."""


def weights_file(path: str | os.PathLike) -> Path:
    """``path`` itself, or the weights in the folder it names (a run folder's
    ``model.safetensors``, else its ``best.safetensors``; a checkpoint folder's)."""
    path = Path(path)
    if path.is_dir():
        for name in CANDIDATES:
            if (path / name).is_file():
                return path / name
        raise InitWeightsError(f"{path}: the folder holds no {' or '.join(CANDIDATES)}")
    if not path.is_file():
        raise InitWeightsError(f"{path}: no such file")
    return path


def mismatch(model: torch.nn.Module, tensors: dict[str, torch.Tensor]) -> str | None:
    """What keeps ``tensors`` from loading into ``model``: the first tensor (in the
    model's order) that is missing or has another shape, with both shapes, and how
    many more do not fit; ``None`` when they all fit."""
    expected = model.state_dict()
    problems = []
    for name, target in expected.items():
        need = _shape(target)
        if name not in tensors:
            problems.append(f"tensor {name!r} is not in the file (the graph needs {need})")
        elif tuple(tensors[name].shape) != tuple(target.shape):
            problems.append(f"tensor {name!r} has shape {_shape(tensors[name])} in the file but the "
                            f"graph needs {need}")
        elif tensors[name].is_floating_point() != target.is_floating_point():
            problems.append(f"tensor {name!r} is {tensors[name].dtype} in the file but the graph "
                            f"needs {target.dtype}")
    problems += [f"tensor {name!r} {_shape(t)} in the file is not in the graph"
                 for name, t in tensors.items() if name not in expected]
    if not problems:
        return None
    more = len(problems) - 1
    return problems[0] + (f" (and {more} more tensor{'s' if more > 1 else ''} do not fit)" if more else "")


def load_into(model: torch.nn.Module, path: str | os.PathLike) -> Path:
    """Copy the weights of ``path`` into ``model``; returns the file read.

    Raises
    ------
    InitWeightsError
        An unreadable file, or weights that do not fit (the first such tensor named,
        with the file's shape and the graph's); ``model`` is then unchanged.
    """
    file = weights_file(path)
    try:
        _meta, tensors = read_safetensors(file)
    except WeightsError as exc:
        raise InitWeightsError(str(exc)) from None
    problem = mismatch(model, tensors)
    if problem:
        raise InitWeightsError(f"the weights in {file} do not fit this graph: {problem}. "
                               "Were they saved from another version of the graph?")
    with torch.no_grad():
        for name, target in model.state_dict().items():
            target.copy_(tensors[name].to(dtype=target.dtype))
    return file


def model_from_weights(graph: Graph, path: str | os.PathLike, seed: int = 0):
    """``graph`` compiled (its frozen nodes frozen) with the weights of ``path``."""
    model = compile_graph(graph, seed=seed)
    load_into(model, path)
    return model


def _shape(t: torch.Tensor) -> str:
    return "(" + ", ".join(str(d) for d in t.shape) + (",)" if t.dim() == 1 else ")")
