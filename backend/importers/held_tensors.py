"""Tensors a PyTorch model holds outside its layers (``self.cls_token``, a
position table, a buffer): kept lazy as an :class:`Attr` until an operation uses
them, then a Parameter node (an ``nn.Parameter``) or a Constant node (a buffer),
repeated over the batch of a tensor the model computes with."""

from __future__ import annotations

import torch
from torch import fx

from layerloom.backend.importers import torch_rules as general
from layerloom.backend.importers.common import Unsupported, Value, clean_label, refuse
from layerloom.graph.errors import ParamError

LONG_DTYPES = {torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8}


def is_tensor(found) -> bool:
    """Whether a recorded result is one tensor (not a size, a tuple or nothing)."""
    return hasattr(found, "shape") and hasattr(found, "dtype") and not isinstance(found, tuple)


class Attr:
    """A tensor the model holds outside its layers (``self.cls_token``, a buffer),
    or one cut from such a tensor with constant indices (``self.pe[:, :T]``).

    It becomes a Parameter (from an ``nn.Parameter``) or a Constant node where the
    model uses it as a tensor; the node repeats it over the batch, so its
    per-sample shape is read from the uses: against tensors of the same rank the
    first dim must be 1 (it meets the batch), against tensors of a higher rank it
    broadcasts as it is.
    """

    def __init__(self, tensor: torch.Tensor, node: fx.Node, parameter: bool, source: str | None,
                 label: str | None = None):
        self.tensor = tensor.detach()
        self.node = node
        self.parameter = parameter
        self.source = source  # the model's name for exactly this tensor (None for a cut)
        self.label = held_label(source or "") if label is None else label
        self._made: dict[tuple[int, ...], Value] = {}

    def cut(self, tensor: torch.Tensor, node: fx.Node) -> Attr:
        """The part ``tensor`` of this one: named after it, but not its source."""
        return Attr(tensor, node, self.parameter, None, self.label)

    def as_value(self, mp, shape: tuple[int, ...] | None = None) -> Value:
        per = self._per_sample(mp) if shape is None else tuple(shape)
        if per not in self._made:
            self._made[per] = self._make(mp, per)
        return self._made[per]

    def _per_sample(self, mp) -> tuple[int, ...]:
        shape = tuple(self.tensor.shape)
        ranks = [len(found.shape) for user in self.node.users if is_tensor(found := mp.records.get(user))]
        refuse(not ranks, f"uses the tensor {self.name} of shape {shape} where LayerLoom needs a batch of samples")
        rank = max(ranks)
        if rank > len(shape):
            per = (1,) * (rank - 1 - len(shape)) + shape
        else:
            refuse(rank < len(shape) or shape[0] != 1,
                   f"uses the tensor {self.name} of shape {shape} with tensors of rank {rank}: its first dim "
                   f"meets the batch, so it must be 1 (keep such tensors as (1, ...), like a class token)")
            per = shape[1:]
        refuse(not per, f"uses the tensor {self.name} as one number per sample; LayerLoom's tensors have a dim")
        return per

    @property
    def name(self) -> str:
        return f"self.{self.source}" if self.source else "held by the model"

    def _make(self, mp, per: tuple[int, ...]) -> Value:
        tensor = self.tensor.reshape(1, *per)
        label = self.label
        sources = {"weight" if self.parameter else "value": self.source} if self.source else None
        like = batch_source(mp, self.node)
        try:
            if self.parameter:
                return mp.builder.add("parameter", {"shape": list(per)}, [like], per, label=label,
                                      weights={"weight": tensor.float()}, sources=sources)
            if tensor.dtype == torch.bool or not (tensor.is_floating_point() or tensor.dtype in LONG_DTYPES):
                raise Unsupported(f"uses the {tensor.dtype} tensor {self.name}; LayerLoom's constants are float or long")
            dtype = "float" if tensor.is_floating_point() else "long"
            tensor = tensor.float() if dtype == "float" else tensor.long()
            return mp.builder.add("constant", _constant_params(tensor, per, dtype), [like], per, label=label,
                                  weights={"value": tensor}, sources=sources, dtype=dtype)
        except ParamError as exc:
            raise Unsupported(str(exc)) from None


def held_label(target: str) -> str:
    for suffix in (".weight", ".value"):  # LayerLoom's own LearnedTensor / ConstantTensor
        if target.endswith(suffix):
            return clean_label(target[: -len(suffix)])
    return clean_label(target)


def _constant_params(tensor: torch.Tensor, per, dtype: str) -> dict:
    params = {"shape": list(per), "dtype": dtype}
    flat = tensor.reshape(-1)
    if bool((flat == flat[0]).all()):
        params["fill"] = float(flat[0])
    elif flat.numel() <= 8:
        params["values"] = [float(v) for v in flat]
    return params


def batch_source(mp, node: fx.Node) -> Value:
    """A tensor with the batch for a Parameter or Constant made for ``node``: one
    its uses compute with (``B`` of ``expand(B, -1, -1)`` is ``x.shape[0]``), or
    the model's first input."""
    seen = {node}
    todo = [n for user in node.users for n in user.all_input_nodes]
    for _ in range(64):
        if not todo:
            break
        candidate = todo.pop(0)
        if candidate in seen:
            continue
        seen.add(candidate)
        found = mp.env.get(candidate)
        if isinstance(found, Value):
            return found
        if isinstance(found, general.Size):
            todo.extend(candidate.all_input_nodes)
    for candidate, found in mp.env.items():
        if candidate.op == "placeholder" and isinstance(found, Value):
            return found
    raise Unsupported("finds no input with a batch to repeat the tensor over")


def get_attr(mp, node):
    """``self.cls_token``, ``self.pos_embed``, a buffer: a lazy :class:`Attr`."""
    tensor = mp.gm
    for part in node.target.split("."):
        tensor = getattr(tensor, part)
    refuse(not isinstance(tensor, torch.Tensor), f"reads self.{node.target}, which is not a tensor")
    return Attr(tensor, node, isinstance(tensor, torch.nn.Parameter), node.target)
