"""Inputs whose batch is not dim 0 in the source model.

LayerLoom's graphs take every input batch first. A time-first sequence read by
an RNN, LSTM or GRU with ``batch_first=False`` (T, N, F), or a recurrent state
(layers·dirs, N, H), has its batch in dim 1: the PyTorch importer runs the source
model on inputs laid out that way, follows them as
:class:`~layerloom.backend.importers.common.TimeMajor` values, and says where the
batch was (``ImportResult.batch_dims``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.fx as fx
from torch import nn

from layerloom.backend.export.common import example_inputs
from layerloom.backend.importers.common import ModelImportError
from layerloom.graph import TensorSpec


def source_inputs(module, specs: Sequence[TensorSpec], batch: int, seed: int,
                  batch_dims: Sequence[int]) -> tuple[torch.Tensor, ...]:
    """Random inputs in the source model's layout: batch first, then moved to
    each input's batch dim."""
    inputs = example_inputs(module, specs, batch, seed=seed)
    return tuple(x.movedim(0, d) for x, d in zip(inputs, batch_dims, strict=True))


def shapes_text(specs: Sequence[TensorSpec], batch_dims: Sequence[int]) -> str:
    """``(N, 6, 4), (1, N, 12)``: the inputs as the source model takes them."""
    texts = []
    for spec, d in zip(specs, batch_dims, strict=True):
        dims = [str(n) for n in spec.shape]
        dims.insert(d, "N")
        texts.append(f"({', '.join(dims)})")
    return ", ".join(texts)


def checked_batch_dims(batch_dims, shapes) -> list[int]:
    """The batch dims given (``--batch-dim``), checked: 0 or 1, one per shape."""
    if batch_dims is None:
        return []
    dims = [int(d) for d in batch_dims]
    if any(d not in (0, 1) for d in dims):
        raise ModelImportError(
            f"batch dims must be 0 or 1 (1: time first, or a recurrent state), got {dims}")
    if shapes is not None and len(dims) != len(shapes):
        raise ModelImportError(f"{len(dims)} batch dims were given for {len(shapes)} input shapes; give one per input")
    return dims


def detect_batch_dims(gm: fx.GraphModule, placeholders: list[fx.Node], notes: list[str]) -> list[int]:
    """1 for each input that goes straight into a torch RNN, LSTM or GRU with
    ``batch_first=False`` or is such a layer's initial state, else 0."""
    moved: set[fx.Node] = set()
    for node in gm.graph.nodes:
        if node.op != "call_module":
            continue
        m = gm.get_submodule(node.target)
        if not isinstance(m, nn.RNNBase) or type(m).__module__.startswith("layerloom."):
            continue  # LayerLoom's own layers read their states batch first
        x = node.args[0] if node.args else node.kwargs.get("input")
        if not m.batch_first and isinstance(x, fx.Node):
            moved.add(x)
        state = node.args[1] if len(node.args) > 1 else node.kwargs.get("hx")
        moved.update(n for n in (state if isinstance(state, (tuple, list)) else (state,)) if isinstance(n, fx.Node))
    dims = []
    for node in placeholders:
        dims.append(1 if node in moved else 0)
        if node in moved:
            notes.append(f"input {node.name!r} has its batch in dim 1 (it goes into a time-first recurrent layer "
                         "or is its state); the imported graph takes it batch first")
    return dims
