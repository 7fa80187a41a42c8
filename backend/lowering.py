"""How each layer type becomes torch: one lowering per layer id.

A lowering receives a node's params and the tensor specs on its ports and returns a
:class:`Lowering`: the ``nn.Module`` to register under the node's name (or
``None`` for pure functions such as merges) and, when a plain ``call_module`` is
not enough, an ``emit`` function that writes the node's operations into the
``torch.fx`` graph. This is the backend half of a layer's declaration: adding a
layer type touches ``graph/layers`` once and ``backend/lowerings`` once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import torch.fx as fx
from torch import nn

from layerloom.graph import REGISTRY, TensorSpec

# (fx graph, input fx nodes in port order, module target or None) -> output fx node
Emit = Callable[[fx.Graph, Sequence[fx.Node], str | None], fx.Node]


class Lowering(NamedTuple):
    module: nn.Module | None
    emit: Emit | None = None


LowerFn = Callable[[Mapping[str, Any], Mapping[str, TensorSpec], Mapping[str, TensorSpec]], Lowering]
LOWERINGS: dict[str, LowerFn] = {}


def lowering(*type_ids: str) -> Callable[[LowerFn], LowerFn]:
    """Register ``fn`` as the lowering of the given layer ids."""

    def register(fn: LowerFn) -> LowerFn:
        for type_id in type_ids:
            if type_id not in REGISTRY:
                raise ValueError(f"lowering for unknown layer id {type_id!r}")
            if type_id in LOWERINGS:
                raise ValueError(f"layer id {type_id!r} has two lowerings")
            LOWERINGS[type_id] = fn
        return fn

    return register


def call_module(graph: fx.Graph, args: Sequence[fx.Node], target: str | None) -> fx.Node:
    """The default emit: ``self.<target>(*args)``."""
    return graph.call_module(target, tuple(args))


def then(function: Callable, **kwargs: Any) -> Emit:
    """Emit ``function(self.<target>(*args), **kwargs)`` (a module then an activation)."""

    def emit(graph: fx.Graph, args: Sequence[fx.Node], target: str | None) -> fx.Node:
        return graph.call_function(function, (graph.call_module(target, tuple(args)),), kwargs)

    return emit

