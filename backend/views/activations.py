"""The ``activations`` view: what one node outputs for one sample.

Read by the output's shape (the sample's, without the batch axis): ``(C, H, W)``
feature maps as a grid of small images, one per channel; ``(T, D)`` sequences as
a heat map over time (tokens on the time axis where the input is tokens); a
vector as bars (a heat map beyond 64 values); a classifier's Output as labelled
class probabilities with the true class marked. The sample itself is drawn
beside it, and the note gives the output's range and, for a layer that cuts at
zero, how many of its values are zero.
"""

from __future__ import annotations

import math

import numpy as np

from layerloom.backend.views.base import (
    SAMPLE_NEEDS,
    Bars,
    Figure,
    Heatmap,
    Images,
    NotApplicable,
    View,
    ViewContext,
    register,
)
from layerloom.backend.views.common import (
    MAX_VECTOR_BARS,
    first_node,
    output_probabilities,
    sample_panel,
    token_labels,
)

MAX_CHANNELS = 64
MAX_ROWS = 64


def _default(graph) -> str | None:
    return first_node(graph, lambda n: not n.spec.is_input and not n.spec.is_output)


def compute(ctx: ViewContext) -> Figure:
    from layerloom.backend.views.capture import record

    model, data = ctx.need_model("activations"), ctx.need_data("activations")
    nid = ctx.node_or("activations", _default, "a layer")
    node = ctx.graph.node(nid)
    if node.spec.is_input:
        raise NotApplicable(f"{node.title} is the input: pick a layer to see what it makes of the sample")
    x, y, name = ctx.chosen_sample()
    recording = record(model, ctx.graph, x)
    if nid not in recording.outputs:
        raise NotApplicable(f"{node.title} gives no tensor the views can show")
    out = recording.outputs[nid]
    title = f"{node.title}: output for {name}"
    panels = [p for p in (sample_panel(ctx, x[0], y),) if p is not None]
    tokens = token_labels(data, x[0])
    probs = output_probabilities(ctx, out) if node.spec.is_output else None
    if probs is not None:
        names = list(data.class_names or [str(c) for c in range(len(probs))])
        top = np.argsort(-probs)[:10]
        true = int(y) if y is not None else -1
        panels.append(Bars("Predicted probabilities" + (" (true class in green)" if y is not None else ""),
                           probs[top], [names[c] for c in top], [k for k, c in enumerate(top) if c == true],
                           y_range=(0.0, 1.0)))
        note = f"predicted {names[int(top[0])]} ({probs[top[0]]:.0%})"
        note += f" · true class {names[true]}" if y is not None else f" · {name}: no true class"
        return Figure(title, panels, note, data={"output": out, "probabilities": probs})
    panels.append(output_panel(node.title, out, tokens))
    return Figure(title, panels, describe(out, node), columns=2, data={"output": out})


def output_panel(name: str, out: np.ndarray, tokens: list[str] | None = None):
    """The panel that suits an output of this shape."""
    shape = out.shape
    if out.ndim >= 3:  # (C, H, W) or (C, D, H, W): one image per channel (the middle slice in depth)
        maps = out if out.ndim == 3 else out[:, out.shape[1] // 2]
        maps = maps.reshape(maps.shape[0], maps.shape[-2], maps.shape[-1])
        n = min(len(maps), MAX_CHANNELS)
        more = f" (first {n} of {len(maps)})" if len(maps) > n else ""
        return Images(f"Feature maps {tuple(shape)}: one per channel{more}", list(maps[:n]),
                      [f"{c}" for c in range(n)], shared_scale=True)
    if out.ndim == 2:  # (T, D): time along the bottom, features up the side
        t, d = shape
        rows = min(d, MAX_ROWS)
        labels = tokens if tokens is not None and len(tokens) == t else [str(k) for k in range(t)]
        more = f" (first {rows} of {d})" if d > rows else ""
        return Heatmap(f"Sequence {tuple(shape)}: features over time{more}", out[:, :rows].T,
                       [str(k) for k in range(rows)], labels, "feature", "position (token)" if tokens else "time step",
                       diverging=bool((out < 0).any()))
    flat = out.reshape(-1)
    if flat.size <= MAX_VECTOR_BARS:
        return Bars(f"Vector ({flat.size} values)", flat, [str(k) for k in range(flat.size)], y_title="value")
    side = math.ceil(math.sqrt(flat.size))
    grid = np.full(side * side, np.nan)
    grid[: flat.size] = flat
    return Heatmap(f"Vector ({flat.size} values) as a {side}×{side} grid", grid.reshape(side, side),
                   diverging=bool((flat < 0).any()))


def describe(out: np.ndarray, node=None) -> str:
    """One line: shape, range, mean and the share of zeros."""
    flat = out.reshape(-1)
    finite = flat[np.isfinite(flat)]
    if not finite.size:
        return f"shape {tuple(out.shape)} · no finite values"
    zeros = float((finite == 0).mean())
    text = (f"shape {tuple(out.shape)} · min {finite.min():.3g} · max {finite.max():.3g} · "
            f"mean {finite.mean():.3g}")
    if zeros > 0:
        text += f" · {zeros:.0%} of the values are 0"
        if node is not None and "relu" in (node.type, node.params.get("activation")):
            text += " (the ReLU cut them)"
    return text


register(View(
    "activations", "Node output",
    "what a node outputs for one validation sample: feature maps, sequences, vectors or class probabilities",
    compute, needs=SAMPLE_NEEDS, applies=lambda graph, nid: not graph.node(nid).spec.is_input, order=10,
))
