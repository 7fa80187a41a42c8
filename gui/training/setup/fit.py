"""Fit the graph's ends to a dataset: the Input node's shape and dtype, and the
units of the last Dense layer before the Output (for a segmentation, the channels
of the last convolution: its output is one score map per class).

Which layer sets the output's width (its ``width_param``) and which layers pass
the width through (``passes_width``) is declared with each layer type.

Pure functions over the graph and the dataset's facts (a built-in's
``DatasetInfo`` resolved for its options, or a loaded ``Dataset``: both have
``input_shape``, ``input_dtype``, ``task``, ``num_classes`` and ``target_shape``).
Each returns a :class:`Fix` that the set-up panel offers as a button and applies as
one undoable ``SetParams``, or ``None`` when nothing needs fixing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from layerloom.graph import Graph, fmt_shape


@dataclass(frozen=True)
class Fix:
    """Set ``values`` on node ``node_id``; ``text`` labels the button, ``why`` its tooltip."""

    node_id: str
    values: dict[str, Any]
    text: str
    why: str


def wanted_output(facts) -> tuple[int, ...]:
    """The per-sample model output the dataset trains against."""
    if facts.task == "classification":
        return (int(facts.num_classes),)
    if facts.task == "sequence":
        return (*tuple(facts.target_shape), int(facts.num_classes))
    if facts.task == "segmentation":
        return (int(facts.num_classes), *tuple(facts.target_shape))
    return tuple(facts.target_shape)


def input_fix(graph: Graph, facts) -> Fix | None:
    """Set the (single) Input node to the dataset's sample shape and dtype."""
    inputs = graph.inputs()
    if len(inputs) != 1:
        return None
    node = inputs[0]
    shape, dtype = tuple(int(s) for s in facts.input_shape), facts.input_dtype
    if tuple(node.params["shape"]) == shape and node.params["dtype"] == dtype:
        return None
    return Fix(node.id, {"shape": shape, "dtype": dtype},
               f"Set {node.title} to {fmt_shape(shape)} {dtype}",
               f"The dataset gives samples of shape {fmt_shape(shape)} ({dtype}); the Input node "
               f"{node.title!r} declares {fmt_shape(tuple(node.params['shape']))} ({node.params['dtype']})")


def last_dense(graph: Graph, channels: bool = False) -> str | None:
    """The layer with a ``width_param`` (a Dense) that feeds the (single) Output
    node, through layers that pass the width (dropouts, activations); ``None``
    when there is none. With ``channels``, the layer with a ``channels``
    parameter (a convolution) instead, whose channels are the output's first axis."""
    outputs = graph.outputs()
    if len(outputs) != 1 or outputs[0].params["target"] == "input" or outputs[0].params["loss"] == "none":
        return None  # the output is not compared with the dataset's targets
    current = outputs[0].id
    for _ in range(len(graph) + 1):
        wires = graph.incoming(current)
        if len(wires) != 1:
            return None
        source = graph.node(next(iter(wires.values())).source)
        if channels and "channels" in source.params and not source.is_block:
            return source.id
        if not channels and source.spec.width_param is not None:
            return source.id
        if not source.spec.passes_width:
            return None
        current = source.id
    return None


def output_fix(graph: Graph, facts) -> Fix | None:
    """Set the last Dense layer's units to the number of classes (or targets); for a
    segmentation, the last convolution's channels to the number of classes."""
    segmentation = facts.task == "segmentation"
    node_id = last_dense(graph, channels=segmentation)
    if node_id is None:
        return None
    node = graph.node(node_id)
    width = "channels" if segmentation else node.spec.width_param
    want = wanted_output(facts)
    wanted = want[0] if segmentation else want[-1] if want else None
    have = int(node.params[width])
    if not want or have == wanted:
        return None
    if facts.task == "classification" and have == 1 and facts.num_classes <= 2:
        return None  # one output for two classes trains with bce_with_logits
    what = {"classification": f"{facts.num_classes} classes", "sequence": f"a vocabulary of {facts.num_classes}",
            "segmentation": f"{facts.num_classes} classes per pixel"}
    reason = what.get(facts.task, f"{want[-1]} target value(s)")
    return Fix(node_id, {width: wanted}, f"Set {node.title} {width} to {wanted}",
               f"The dataset has {reason}, so the model must output {fmt_shape(want)} per sample; "
               f"{node.title!r} has {have} {width}")
