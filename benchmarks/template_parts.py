"""What the template builders share: chains of layers, and finishing a template.

:mod:`benchmarks.template_graphs` and the modules of templates built with blocks
(:mod:`benchmarks.template_blocks_vision`, ...) import these; the builders' modules
never import each other's, so :data:`~benchmarks.template_graphs.TEMPLATES` can
gather them all without an import cycle.
"""

from __future__ import annotations

from typing import Any

from layerloom.graph import Graph
from layerloom.graph.layout import NODE_HEIGHT, V_GAP, auto_layout

ROW = NODE_HEIGHT + V_GAP  # one row of nodes further down

# The two moons most 2-D templates learn, and the 100 noisy points (half held out)
# a large MLP overfits.
MOONS = {"name": "moons", "options": {"n_samples": 1000, "noise": 0.2, "seed": 0},
         "normalise": "standard", "val_split": 0.2}
OVERFIT_MOONS = {"name": "moons", "options": {"n_samples": 100, "noise": 0.35, "seed": 0},
                 "normalise": "standard", "val_split": 0.5}
# How the deep moons MLPs train (deep_*_mlp, batch_norm_deep), and the overfitting
# MLP (overfitting_*, early_stopping).
DEEP_TRAINING = {"optimizer": "sgd", "lr": 0.05, "momentum": 0.9, "epochs": 20,
                 "batch_size": 32}
OVERFIT_TRAINING = {"optimizer": "adam", "lr": 0.001, "epochs": 300, "batch_size": "full"}

# A layer in a chain: (type id, params, label).
Layer = tuple[str, dict[str, Any], str]


def chain(graph: Graph, source: str, layers: list[Layer]) -> str:
    """Append ``layers`` one after another from node ``source``; returns the last id."""
    for type_id, params, label in layers:
        node = graph.add_node(type_id, params, label=label)
        graph.connect(source, "out", node.id, "in")
        source = node.id
    return source


def sequential(input_params: dict[str, Any], input_label: str, layers: list[Layer]) -> Graph:
    """Input -> layers -> Output."""
    graph = Graph()
    inp = graph.add_node("input", input_params, label=input_label)
    last = chain(graph, inp.id, layers)
    out = graph.add_node("output", label="Prediction")
    graph.connect(last, "out", out.id, "in")
    return graph


def dense(units: int, activation: str = "none", label: str = "") -> Layer:
    return ("dense", {"units": units, "activation": activation}, label)


def finish(graph: Graph, meta: dict[str, str], dataset: dict[str, Any],
           training: dict[str, Any]) -> Graph:
    graph.meta = dict(meta)
    graph.dataset = dict(dataset)
    graph.training = {"seed": 0, "device": "auto", **training}
    auto_layout(graph)
    return graph
