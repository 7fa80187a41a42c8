"""What the insight views share: the error they raise, reading a class score, and
capturing one graph node's output during a forward pass."""

from __future__ import annotations

from contextlib import contextmanager

import torch
import torch.fx as fx
from torch import nn

from layerloom.backend.insight.errors import InsightError


def first_output(out):
    return out[0] if isinstance(out, (tuple, list)) else out


def node_names(model: nn.Module) -> dict[str, str]:
    """Graph node id -> the name of the fx value that is its output (module nodes
    only: the compiled graph names a node's output after its submodule)."""
    return {nid: name for name, nid in getattr(model, "module_nodes", {}).items()}


def fx_node(model: fx.GraphModule, name: str) -> fx.Node | None:
    for node in model.graph.nodes:
        if node.name == name:
            return node
    return None


class _Capture(fx.Interpreter):
    """Runs the model and keeps the value of one fx node (the graph node's output,
    after its activation)."""

    def __init__(self, model: fx.GraphModule, name: str):
        super().__init__(model)
        self.name = name
        self.value: torch.Tensor | None = None

    def run_node(self, n: fx.Node):
        out = super().run_node(n)
        if n.name == self.name and isinstance(out, torch.Tensor):
            self.value = out
        return out


def forward_capturing(model: fx.GraphModule, x: torch.Tensor, name: str):
    """``(model output, captured value)`` of one forward pass."""
    capture = _Capture(model, name)
    out = first_output(capture.run(x))
    return out, capture.value


def class_score(out: torch.Tensor, target: int) -> torch.Tensor:
    """The raw score of class ``target`` of a one-sample classifier output.

    ``(1, C)`` scores give column ``target``; a single output (a binary classifier
    with one logit) gives the logit for class 1 and its negative for class 0.
    """
    flat = out.reshape(out.shape[0], -1)
    if flat.shape[1] == 1:
        return flat[0, 0] if target == 1 else -flat[0, 0]
    return flat[0, target]


def classes_of(out: torch.Tensor) -> int:
    n = out.reshape(out.shape[0], -1).shape[1]
    return 2 if n == 1 else n


def predicted_class(out: torch.Tensor) -> int:
    flat = out.reshape(out.shape[0], -1)
    if flat.shape[1] == 1:
        return int(flat[0, 0] > 0)
    return int(flat[0].argmax())


def check_classifier(task: str, what: str) -> None:
    if task != "classification":
        raise InsightError(f"{what} explains a class score, and this model's task is {task}; "
                           "it applies to classifiers")


def check_sample(data_x, index: int) -> int:
    if not 0 <= index < len(data_x):
        raise InsightError(f"sample {index} does not exist: the set has {len(data_x)} samples "
                           f"(0 to {len(data_x) - 1})")
    return index


def check_class(target: int | None, n: int) -> None:
    if target is not None and not 0 <= target < n:
        raise InsightError(f"class {target} does not exist: the model scores {n} classes (0 to {n - 1})")


@contextmanager
def evaluating(model: nn.Module):
    """Eval mode (dropout off, batch norm's running statistics) for the block."""
    was = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was)
