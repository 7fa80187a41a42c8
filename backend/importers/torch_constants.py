"""Values a traced model computes without looking at its inputs' values.

A causal mask registered as a buffer and sliced in ``forward``
(``self.bias[:, :, :T, :T] == 0``), a mask built from sizes
(``torch.tril(torch.ones(T, T, device=x.device))``), a scale
``1.0 / math.sqrt(k.size(-1))``: torch.fx records each of these as operations,
but their results are the same on every call, since LayerLoom fixes every dim
but the batch. The recording run keeps them (:class:`KnownValues`), and the
importer's rules read them as constants: a mask that is exactly causal becomes
MaskedFill's causal option, a number becomes a layer's parameter.

A value is kept only when it depends on nothing that changes from call to call:
not on the inputs' values, a trainable parameter, a layer's result, chance, or
the batch size (``x.size(0)``, ``x.shape`` as a whole).
"""

from __future__ import annotations

import builtins
import operator
from dataclasses import dataclass

import torch
import torch.fx as fx
from torch import nn

MAX_KEPT = 10_000_000  # elements of one kept tensor
META_METHODS = {"size", "dim", "ndimension", "numel", "nelement"}
META_ATTRIBUTES = {"shape", "dtype", "device", "ndim", "is_cuda", "layout"}
RANDOM_WORDS = ("rand", "normal", "bernoulli", "multinomial", "poisson", "empty", "dropout",
                "uniform_", "random_", "exponential", "geometric", "cauchy")

# states of a node
INPUT = "input"  # depends on the inputs' values, parameters, layers or chance
BATCH = "batch"  # depends on the batch size
BATCH_TUPLE = "batch tuple"  # a shape whose first item is the batch
FIXED = "fixed"  # the same on every call


@dataclass(frozen=True, eq=False)
class Constant:
    """A tensor the model computes from buffers and sizes only."""

    value: torch.Tensor

    def __repr__(self) -> str:
        return f"a constant tensor of shape {tuple(self.value.shape)}"


class KnownValues:
    """Follows a recording run node by node and keeps the results that are the
    same on every call (see the module docstring)."""

    def __init__(self, gm: fx.GraphModule, batch_dims: dict[fx.Node, int] | None = None):
        self.gm = gm
        self.batch_dims = batch_dims or {}  # inputs whose batch is not dim 0 (time first)
        self.state: dict[fx.Node, str] = {}
        self.values: dict[fx.Node, object] = {}

    def see(self, node: fx.Node, env: dict, result) -> None:
        state = self._state(node, env, result)
        self.state[node] = state
        if state == FIXED:
            kept = _keepable(result)
            if kept is not None:
                self.values[node] = kept

    def _state(self, node: fx.Node, env: dict, result) -> str:
        if node.op in ("placeholder", "call_module", "output"):
            return INPUT
        if node.op == "get_attr":
            found = _attribute(self.gm, node.target)
            trainable = isinstance(found, nn.Parameter) or (
                isinstance(found, torch.Tensor) and found.requires_grad)
            return INPUT if trainable else FIXED
        if _random(node.target):
            return INPUT
        meta = self._meta(node, env, result)
        if meta is not None:
            return meta
        states = {self.state.get(n, INPUT) for n in node.all_input_nodes}
        if INPUT in states:
            return INPUT
        if states & {BATCH, BATCH_TUPLE}:
            return BATCH
        return FIXED

    def _meta(self, node: fx.Node, env: dict, result) -> str | None:
        """The state of a size read (``x.size(1)``, ``x.shape``, ``shape[1:]``)."""
        target, args = node.target, node.args
        if node.op == "call_method" and target in META_METHODS:
            if target in ("numel", "nelement"):
                return BATCH
            if target == "size":
                dim = args[1] if len(args) > 1 else node.kwargs.get("dim")
                if dim is None:
                    return BATCH_TUPLE
                rank = getattr(env.get(args[0]), "ndim", 1)
                batch = self.batch_dims.get(args[0], 0)
                return BATCH if isinstance(dim, int) and dim % max(rank, 1) == batch else FIXED
            return FIXED
        if target is builtins.getattr and len(args) == 2 and args[1] in META_ATTRIBUTES:
            return BATCH_TUPLE if args[1] == "shape" else FIXED
        if target is builtins.len:
            return BATCH if self.state.get(args[0]) in (INPUT, BATCH_TUPLE) else None
        if target is operator.getitem and self.state.get(args[0]) == BATCH_TUPLE:
            container = env.get(args[0])
            index = args[1]
            if isinstance(container, tuple) and isinstance(index, (int, slice)):
                picked = range(len(container))[index]
                batch = self.batch_dims.get(args[0].args[0], 0) if args[0].args else 0
                if isinstance(picked, int):
                    return BATCH if picked == batch else FIXED
                return BATCH_TUPLE if batch in picked else FIXED
            return BATCH
        return None


def _attribute(gm: nn.Module, target: str):
    found = gm
    for part in target.split("."):
        found = getattr(found, part, None)
    return found


def _random(target) -> bool:
    name = target if isinstance(target, str) else getattr(target, "__name__", "")
    return any(word in name for word in RANDOM_WORDS)


def _keepable(result):
    """``result`` as kept: a detached copy of a tensor that is not too large, a
    number, or a tuple of numbers; ``None`` for anything else."""
    if isinstance(result, torch.Tensor):
        return result.detach().clone() if result.numel() <= MAX_KEPT else None
    if isinstance(result, (bool, int, float)):
        return result
    if isinstance(result, tuple) and all(isinstance(v, (int, float)) for v in result):
        return tuple(result)
    return None
