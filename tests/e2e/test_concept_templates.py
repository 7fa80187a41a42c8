"""The seed-concept templates reach the results their descriptions state.

Each is trained exactly as a user who opens it and presses Train would (its saved
data, settings and seed, on the CPU), through the same measurement as
``benchmarks/templates_table.py``; they are small enough to train in full here.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from benchmarks.template_concepts import TEMPLATES
from benchmarks.templates_table import measure
from layerloom.backend.templates import DIVERGES, load_template, parse_expected, template_names
from layerloom.backend.training import DatasetSettings, Trainer, TrainSettings, prepare_data


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_every_concept_template_is_shipped_and_comes_from_its_builder():
    assert set(TEMPLATES) <= set(template_names())
    for name, build in TEMPLATES.items():
        built, shipped = build(), load_template(name)
        assert built.meta["expected"] == shipped.meta["expected"], f"{name}: run make_templates"
        assert TrainSettings.from_dict(built.training) == TrainSettings.from_dict(shipped.training), name


@pytest.mark.parametrize("name", list(TEMPLATES))
def test_concept_template_reaches_its_stated_result(name):
    clauses = parse_expected(load_template(name).meta["expected"])
    needs_stats = any(c.metric in ("grad ratio", "dead units") for c in clauses)
    m = measure(name, stats=needs_stats)
    assert m.failed is None or any(c.metric == DIVERGES for c in clauses), m.failed
    for clause in clauses:
        assert clause.holds(m.metrics.get(clause.metric)), f"{name}: {clause} measured {m.metrics}"


def test_optimisers_differ_only_in_their_settings_and_rank_as_described():
    graphs = {k: load_template(f"optimiser_{k}") for k in ("sgd", "momentum", "rmsprop", "adam")}
    first = graphs["sgd"]
    for g in graphs.values():
        assert g.dataset == first.dataset and [n.type for n in g.nodes] == [n.type for n in first.nodes]
        keep = {k: v for k, v in g.training.items() if k not in ("optimizer", "lr", "momentum")}
        assert keep == {k: v for k, v in first.training.items() if k not in ("optimizer", "lr", "momentum")}
    accuracy = {k: measure(f"optimiser_{k}", stats=False).metrics["val accuracy"] for k in graphs}
    assert accuracy["sgd"] + 0.3 < accuracy["momentum"] <= max(accuracy["rmsprop"], accuracy["adam"]) + 0.05


def test_early_stopping_stops_early_and_width_helps():
    m = measure("early_stopping", stats=False)
    planned = load_template("early_stopping").training["epochs"]
    assert m.metrics["val loss rise"] < measure("overfitting_baseline", stats=False).metrics["val loss rise"]
    graph = load_template("early_stopping")
    settings = TrainSettings.from_dict(graph.training).replace(device="cpu")
    data = prepare_data(DatasetSettings.from_dict(graph.dataset), seed=settings.seed)
    final = Trainer(graph, data.train, data.val, settings).run()
    assert final.reason == "early_stopping" and final.epochs < planned
    r2 = [measure(f"width_{k}", stats=False).metrics["val r2"] for k in (2, 8, 64)]
    assert r2[0] < r2[1] < r2[2]


def test_word_embeddings_group_each_topic():
    """After training, words of one topic are closer to each other than to other topics' words."""
    from layerloom.backend.datasets.curves import TOPICS
    from layerloom.backend.insight.embedding import projection

    graph = load_template("word_embeddings")
    settings = TrainSettings.from_dict(graph.training).replace(device="cpu")
    data = prepare_data(DatasetSettings.from_dict(graph.dataset), seed=settings.seed)
    trainer = Trainer(graph, data.train, data.val, settings)
    trainer.run()
    result = projection(trainer.model, graph, data=data.val)
    where = dict(zip(result.labels, result.points, strict=True))
    within, between = [], []
    for topic, words in TOPICS.items():
        for other, other_words in TOPICS.items():
            for a in words:
                for b in other_words:
                    if a != b:
                        (within if topic == other else between).append(np.linalg.norm(where[a] - where[b]))
    assert np.mean(within) < 0.5 * np.mean(between)


def test_only_the_initialisation_differs_between_the_init_templates():
    built = {name: TEMPLATES[name]() for name in ("init_zeros", "init_small", "init_he")}
    shapes = {name: [(n.type, dict(n.params)) for n in g.nodes] for name, g in built.items()}
    assert shapes["init_zeros"] == shapes["init_small"] == shapes["init_he"]
    inits = {name: {n.training.get("init") for n in g.nodes if n.type == "dense"} for name, g in built.items()}
    assert inits == {"init_zeros": {"zeros"}, "init_small": {"normal"}, "init_he": {"kaiming_normal"}}
    assert {name: g.training for name, g in built.items()}["init_he"] == built["init_zeros"].training
