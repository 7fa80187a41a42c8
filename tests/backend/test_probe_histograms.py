"""The live probe measures the weight histogram of the layer on screen every time
and of the others in turn, so that every layer's history grows at a bounded cost."""

from __future__ import annotations

import torch

from layerloom.backend.compile import compile_graph
from layerloom.backend.training.probes import HIST_OTHERS, LiveProbe
from tests.backend.test_train_trainer import mlp


def _probe(hidden):
    graph = mlp(inputs=3, hidden=hidden)
    model = compile_graph(graph, seed=0)
    probe = LiveProbe(model, model.module_nodes, graph.topological_order(), torch.randn(8, 3),
                      objective=None, task="classification")
    dense = [n for n in graph.topological_order() if graph.node(n).type == "dense"]
    return probe, dense


def _measured(stats) -> set[str]:
    return {n.node_id for n in stats.nodes if n.hist_counts}


def test_a_small_model_has_every_layer_measured_each_time():
    probe, dense = _probe((8, 8))
    assert _measured(probe.live_stats(1, 1, dense[0])) == set(dense)


def test_a_deep_model_measures_the_shown_layer_always_and_the_others_in_turn():
    probe, dense = _probe((8,) * 7)  # 8 layers with weights
    shown = dense[2]
    seen: set[str] = set()
    for step in range(1, 4):
        measured = _measured(probe.live_stats(1, step, shown))
        assert shown in measured and len(measured) == 1 + HIST_OTHERS
        seen |= measured
    assert seen == set(dense)  # three measurements cover the seven others
