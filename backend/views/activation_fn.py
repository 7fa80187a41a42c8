"""The ``activation`` view: an activation function and its derivative over [-5, 5].

For an activation node, the function is the node's own module, built from its
settings (the trained one, where a model is given: a PReLU's learned slope); for
a layer with an ``activation`` field (Dense, Conv, Transformer layers) it is that
function. The derivative comes from autograd, so it is the one training uses
(ReLU's is 0 at 0, as torch defines it). Softmax-like functions, whose outputs
depend on a whole row, are not drawn: the view says so.
"""

from __future__ import annotations

import numpy as np

from layerloom.backend.views.base import Curves, Figure, NotApplicable, View, ViewContext, register
from layerloom.backend.views.common import first_node

RANGE = (-5.0, 5.0)
POINTS = 401
NOT_ELEMENTWISE = {"softmax": "Softmax", "log_softmax": "LogSoftmax", "glu": "GLU"}


def is_activation(node) -> bool:
    return node.spec.category == "Activation"


def has_activation(node) -> bool:
    """An activation node, or a layer whose activation field is set."""
    return is_activation(node) or node.params.get("activation") not in (None, "none")


def function_of(ctx: ViewContext, nid: str):
    """``(callable on a 1-d tensor, name)`` for the node's activation."""
    import torch

    node = ctx.graph.node(nid)
    kind = node.type if is_activation(node) else node.params.get("activation")
    if kind in (None, "none"):
        raise NotApplicable(f"{node.title} applies no activation function; pick an activation node "
                            "or set the layer's activation")
    if kind in NOT_ELEMENTWISE or kind == "softmax":
        raise NotApplicable(f"{NOT_ELEMENTWISE.get(kind, kind)} is not drawn as a curve: each of its outputs "
                            "depends on every value of its row, not on one input alone")
    if not is_activation(node):
        from layerloom.backend.lowerings.core import ACTIVATION_FUNCTIONS

        function, kwargs = ACTIVATION_FUNCTIONS[kind]
        return (lambda t: function(t, **kwargs)), kind
    module = None
    if ctx.model is not None:
        from layerloom.backend.compile import node_names

        module = getattr(ctx.model, node_names(ctx.graph)[nid], None)
    if module is None:
        import layerloom.backend.lowerings  # noqa: F401  (registers the lowerings)
        from layerloom.backend.lowering import LOWERINGS

        info = ctx.graph.analysis().nodes[nid]
        module = LOWERINGS[node.type](node.params, info.inputs, info.outputs).module
    if module is None:
        raise NotApplicable(f"{node.title} has no function to draw")
    channels = int(node.params.get("num_parameters") or 1)

    def apply(t: torch.Tensor) -> torch.Tensor:  # one channel of (N, C) for per-channel modules
        return module(t.reshape(-1, 1).expand(-1, channels))[:, 0]

    return apply, node.spec.name


def compute(ctx: ViewContext) -> Figure:
    import torch

    nid = ctx.node_or("activation", lambda g: first_node(g, has_activation), "an activation")
    node = ctx.graph.node(nid)
    fn, name = function_of(ctx, nid)
    x = torch.linspace(*RANGE, POINTS, dtype=torch.float32, requires_grad=True)
    with torch.enable_grad():
        y = fn(x)
        (grad,) = torch.autograd.grad(y.sum(), x, allow_unused=True)
    y = y.detach().numpy().astype(np.float64)
    dy = grad.numpy().astype(np.float64) if grad is not None else np.zeros_like(y)
    xs = x.detach().numpy().astype(np.float64)
    panel = Curves(f"{name}(x) and its derivative", xs, [(y, f"{name}(x)", (37, 99, 235)),
                                                         (dy, "derivative", (249, 115, 22))],
                   x_title="x (the value before the activation)")
    small = float(np.mean(np.abs(dy) < 0.05))
    note = (f"over [{RANGE[0]:g}, {RANGE[1]:g}]: output from {y.min():.3g} to {y.max():.3g}; derivative from "
            f"{dy.min():.3g} to {dy.max():.3g}; the gradient is below 0.05 on {small:.0%} of this range")
    if small > 0.3:
        note += " (little or no gradient flows back through inputs there)"
    title = f"{node.title}: activation {name}" if node.title != name else f"Activation {name}"
    return Figure(title, [panel], note, columns=1, data={"x": xs, "y": y, "derivative": dy})


register(View(
    "activation", "Activation function",
    "an activation function (an activation node, or a layer's activation field) and its derivative over [-5, 5]",
    compute, needs=frozenset(), applies=lambda graph, nid: has_activation(graph.node(nid)), order=40,
))
