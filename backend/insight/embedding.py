"""An embedding's vectors projected to 2-D, so that similar tokens can be seen near
each other.

The rows of an Embedding node's weight matrix (one vector per token) are centred
and projected on their two principal components (PCA by singular value
decomposition); ``explained`` says how much of the vectors' variance the plane
keeps. A 2-D embedding is shown as it is.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from torch import nn

from layerloom.backend.insight.common import InsightError, node_names


@dataclass(frozen=True)
class Projection:
    """``points`` ``(V, 2)``: one row per token; ``labels`` their names."""

    points: np.ndarray
    labels: list[str]
    node: str
    dim: int
    explained: tuple[float, float]


def embedding_nodes(graph, model: nn.Module) -> list[str]:
    """Graph nodes (in graph order) whose module is an ``nn.Embedding``."""
    names = node_names(model)
    return [nid for nid in graph.analysis().order
            if nid in names and isinstance(model.get_submodule(names[nid]), nn.Embedding)]


def token_labels(count: int, data) -> list[str]:
    """Names of ``count`` token ids: the characters of a text vocabulary, the class
    names where inputs and outputs share them (a skip-gram task), else the ids."""
    vocabulary = getattr(data, "vocabulary", None) if data is not None else None
    if vocabulary is not None and len(vocabulary) >= count:
        return [repr(c)[1:-1] if c.isspace() else c for c in vocabulary[:count]]
    names = getattr(data, "class_names", None) if data is not None else None
    if names is not None and len(names) == count and getattr(data, "input_dtype", "") == "long":
        return [str(n) for n in names]
    return [str(i) for i in range(count)]


def projection(model: nn.Module, graph, node: str | None = None, data=None) -> Projection:
    """The vectors of Embedding ``node`` (default: the first) in 2-D.

    Raises
    ------
    InsightError
        No Embedding node, or ``node`` is not one.
    """
    candidates = embedding_nodes(graph, model)
    if not candidates:
        raise InsightError("this model has no Embedding node: the embedding view shows the vectors an "
                           "Embedding layer learns for its tokens")
    if node is None:
        node = candidates[0]
    elif node not in candidates:
        raise InsightError(f"node {node!r} is not an Embedding; choose one of {', '.join(candidates)}")
    weight = model.get_submodule(node_names(model)[node]).weight.detach().float().cpu().numpy()
    vectors = weight.astype(np.float64)
    dim = vectors.shape[1]
    if dim == 1:
        points = np.concatenate([vectors, np.zeros_like(vectors)], axis=1)
        explained = (1.0, 0.0)
    elif dim == 2:
        points, explained = vectors, (1.0, 1.0)
    else:
        centred = vectors - vectors.mean(axis=0)
        _, s, vt = np.linalg.svd(centred, full_matrices=False)
        points = centred @ vt[:2].T
        var = s**2 / max(float((s**2).sum()), 1e-30)
        explained = (float(var[0]), float(var[1]))
    return Projection(points.astype(np.float32), token_labels(len(points), data), node, dim, explained)
