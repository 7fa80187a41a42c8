"""Would a wire be accepted? The graph's own rules plus an obvious-rank check.

``Graph.check_connect`` refuses cycles, taken inputs and unknown ports. On top of
that the canvas refuses a wire whose tensor has a rank the target layer never
takes (a ``(784,)`` vector into a Conv2d): a layer's accepted ranks are found by
trying its shape rule on small probe tensors of each rank, once per layer type
and parameters. A wire whose rank fits but whose sizes do not (an Add of ``(64,)``
and ``(32,)``) is allowed: the node then shows the error with its fix, which
teaches more than a refused drag.
"""

from __future__ import annotations

from functools import lru_cache

from layerloom.graph.errors import ConnectionRefused, ShapeError
from layerloom.graph.inference import Analysis
from layerloom.graph.model import Graph, Node
from layerloom.graph.registry import REGISTRY
from layerloom.graph.tensor import TensorSpec

PROBE_RANKS = (1, 2, 3, 4, 5)
PROBE_SIZES = (4, 8, 16, 32, 64, 128)


def wire_problem(graph: Graph, analysis: Analysis, source: str, source_port: str,
                 target: str, target_port: str) -> str | None:
    """Why the wire ``source.source_port -> target.target_port`` is refused, or ``None``."""
    try:
        graph.check_connect(source, source_port, target, target_port)
    except ConnectionRefused as exc:
        return str(exc)
    info = analysis.nodes.get(source)
    tensor = info.outputs.get(source_port) if info is not None else None
    if tensor is None:
        return None
    return rank_problem(graph.node(target), tensor)


def rank_problem(node: Node, tensor: TensorSpec) -> str | None:
    """Why ``node`` cannot take ``tensor`` on any input because of its rank, or ``None``
    when the rank is accepted or when the layer's ranks cannot be told apart."""
    params = tuple(sorted(node.params.items()))
    ranks = accepted_ranks(node.type, params, tensor.dtype)
    if not ranks or tensor.rank in ranks:
        return None
    spec = node.spec
    try:
        spec.infer(node.params, {port: tensor for port in node.input_ports()})
    except ShapeError as exc:
        return f"{node.title} cannot take {tensor}: {exc}"
    except Exception:
        return None
    return None


@lru_cache(maxsize=4096)
def accepted_ranks(type_id: str, params: tuple, dtype: str) -> frozenset[int]:
    """The per-sample ranks for which some probe tensor passes the layer's shape rule."""
    spec = REGISTRY.get(type_id)
    values = dict(params)
    ports = spec.input_ports(values)
    ranks = set()
    for rank in PROBE_RANKS:
        for size in PROBE_SIZES:
            probe = TensorSpec((size,) * rank, dtype)
            try:
                spec.infer(values, {port: probe for port in ports})
            except Exception:  # a probe a rule was never meant for; that rank fails
                continue
            ranks.add(rank)
            break
    return frozenset(ranks)
