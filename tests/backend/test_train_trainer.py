"""The Trainer learns, reports through events, and runs every optimizer, loss and schedule."""

import math

import numpy as np
import pytest
import torch

from layerloom.backend.compile import compile_graph
from layerloom.backend.datasets import load_dataset
from layerloom.backend.training import (
    LOSSES,
    OPTIMIZERS,
    SCHEDULES,
    DatasetSettings,
    EventQueue,
    Trainer,
    TrainSettings,
    prepare_data,
)
from layerloom.graph import Graph
from tests.graph.helpers import chain


def mlp(inputs=2, hidden=(32,), classes=2, dropout=0.0, head_activation="none") -> Graph:
    g = Graph()
    layers = [("input", {"shape": [inputs]})]
    for h in hidden:
        layers.append(("dense", {"units": h, "activation": "relu"}))
        if dropout:
            layers.append(("dropout", {"p": dropout}))
    layers += [("dense", {"units": classes}), "output"]
    if head_activation != "none":
        layers.insert(-1, (head_activation, {}))
    chain(g, *layers)
    return g


def moons(n=600, val=0.2, noise=0.1):
    return prepare_data(DatasetSettings("moons", {"n_samples": n, "noise": noise}, val_split=val), seed=0)


def train(graph, data, **kw):
    events = EventQueue()
    options = {k: kw.pop(k) for k in ("stats_every", "step_every", "min_step_interval", "model") if k in kw}
    trainer = Trainer(graph, data.train, data.val, TrainSettings(**kw), on_event=events, **options)
    final = trainer.run()
    return trainer, final, events.drain()


def of(events, kind):
    return [e for e in events if e.kind == kind]


# ---------------------------------------------------------------------- learning
def test_two_moons_reaches_95_percent():
    trainer, final, events = train(mlp(hidden=(32, 32)), moons(), lr=0.01, epochs=25, batch_size=32)
    assert final.kind == "finished" and final.reason == "completed"
    assert final.metrics["val_accuracy"] > 0.95
    epochs = of(events, "epoch")
    assert [e.epoch for e in epochs] == list(range(1, 26))
    assert epochs[-1].train["loss"] < epochs[0].train["loss"]


def test_digits_reaches_90_percent_with_a_small_mlp():
    g = Graph()
    chain(g, ("input", {"shape": [1, 8, 8]}), "flatten", ("dense", {"units": 64, "activation": "relu"}),
          ("dense", {"units": 10}), "output")
    data = prepare_data(DatasetSettings("digits", val_split=0.2), seed=0)
    _, final, events = train(g, data, lr=3e-3, epochs=12, batch_size=64)
    assert final.metrics["val_accuracy"] > 0.90
    confusion = of(events, "confusion")[-1]
    matrix = np.array(confusion.matrix)
    assert matrix.shape == (10, 10) and matrix.sum() == len(data.val)
    assert np.trace(matrix) / matrix.sum() == pytest.approx(final.metrics["val_accuracy"])


def test_regression_metrics_match_sklearn():
    from sklearn.metrics import mean_absolute_error, r2_score

    g = Graph()
    chain(g, ("input", {"shape": [10]}), ("dense", {"units": 16, "activation": "relu"}),
          ("dense", {"units": 1}), "output")
    data = prepare_data(DatasetSettings("diabetes", val_split=0.25), seed=0)
    trainer, final, _ = train(g, data, lr=0.02, epochs=30, batch_size=32)
    assert final.metrics["val_r2"] > 0.3  # a linear model gets about 0.45
    trainer.model.eval()
    with torch.no_grad():
        pred = trainer.model(torch.as_tensor(data.val.x)).numpy()
    assert final.metrics["val_mae"] == pytest.approx(mean_absolute_error(data.val.y, pred), rel=1e-4)
    assert final.metrics["val_r2"] == pytest.approx(r2_score(data.val.y, pred), rel=1e-4)
    assert trainer.objective.name == "mse"  # the default for regression


def test_sequence_task_uses_per_token_accuracy():
    g = Graph()
    chain(g, ("input", {"shape": [10], "dtype": "long"}),
          ("embedding", {"num_embeddings": 10, "embedding_dim": 16}),
          ("dense", {"units": 10}), "output")
    data = prepare_data(DatasetSettings("copy", {"n_samples": 400}, val_split=0.25), seed=0)
    trainer, final, _ = train(g, data, lr=0.05, epochs=4, batch_size=50)
    assert trainer.objective.name == "cross_entropy"
    with torch.no_grad():
        pred = trainer.model.eval()(torch.as_tensor(data.val.x)).argmax(-1).numpy()
    assert final.metrics["val_accuracy"] == pytest.approx((pred == data.val.y).mean())
    assert final.metrics["val_accuracy"] > 0.9


@pytest.mark.parametrize("task", ["classification", "sequence"])
def test_training_accuracy_counts_every_sample_once(task):
    if task == "classification":
        graph, data = mlp(hidden=(16,)), moons(n=203)  # 162 training rows: a partial last batch
    else:
        graph = Graph()
        chain(graph, ("input", {"shape": [10], "dtype": "long"}),
              ("embedding", {"num_embeddings": 10, "embedding_dim": 8}), ("dense", {"units": 10}),
              "output")
        data = prepare_data(DatasetSettings("reverse", {"n_samples": 150}), seed=0)
    model = compile_graph(graph, seed=3)
    with torch.no_grad():
        pred = model(torch.as_tensor(data.train.x)).argmax(-1).numpy()
    assert len(np.unique(pred)) > 1  # a model that predicts one class would hide the row order
    expected = (pred == data.train.y).mean()
    # a rate this small leaves the weights as they were: the epoch scores the initial model
    _, final, _ = train(graph, data, model=model, optimizer="sgd", lr=1e-12, epochs=1, batch_size=32)
    assert final.metrics["accuracy"] == pytest.approx(expected)


def test_mse_on_a_classifier_trains_against_one_hot_targets():
    _, final, _ = train(mlp(hidden=(32, 32)), moons(), lr=0.01, epochs=15, batch_size=32, loss="mse")
    assert final.metrics["val_accuracy"] > 0.85


def test_single_logit_with_bce_predicts_by_threshold():
    _, final, _ = train(mlp(hidden=(32,), classes=1), moons(), lr=0.01, epochs=15,
                        loss="bce_with_logits")
    assert final.metrics["val_accuracy"] > 0.85


# ------------------------------------------------------------ every combination
@pytest.mark.parametrize("optimizer", OPTIMIZERS)
@pytest.mark.parametrize("schedule", SCHEDULES)
def test_every_optimizer_loss_and_schedule_runs(optimizer, schedule):
    data = moons(n=40, val=0.25)
    for loss in LOSSES:
        head = "log_softmax" if loss == "nll" else "none"
        graph = mlp(hidden=(8,), head_activation=head)
        model = compile_graph(graph, seed=0)
        before = [p.detach().clone() for p in model.parameters()]
        settings = dict(optimizer=optimizer, schedule=schedule, loss=loss, lr=0.01, epochs=2,
                        batch_size=10, momentum=0.9 if optimizer in ("sgd", "rmsprop") else 0.0,
                        nesterov=optimizer == "sgd", weight_decay=1e-4, grad_clip=1.0,
                        lr_step_size=1, lr_patience=0)
        trainer, final, events = train(graph, data, model=model, **settings)
        assert final.kind == "finished", (loss, final)
        assert final.steps == 6
        assert all(math.isfinite(e.loss) for e in of(events, "step"))
        assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


# -------------------------------------------------------------------- schedules
def test_step_schedule_multiplies_by_gamma_every_step_size_epochs():
    _, _, events = train(mlp(hidden=(8,)), moons(n=100), lr=0.1, epochs=5, batch_size=40,
                         optimizer="sgd", schedule="step", lr_step_size=2, lr_gamma=0.5)
    # an epoch event reports the rate the epoch trained with
    assert [e.lr for e in of(events, "epoch")] == pytest.approx([0.1, 0.1, 0.05, 0.05, 0.025])


def test_cosine_and_one_cycle_shapes():
    _, _, events = train(mlp(hidden=(8,)), moons(n=100), lr=0.1, epochs=6, batch_size=20,
                         optimizer="sgd", schedule="cosine", min_lr=0.001)
    lrs = [e.lr for e in of(events, "step")]
    assert lrs[0] < 0.1 and all(a >= b for a, b in zip(lrs, lrs[1:], strict=False))
    assert lrs[-1] == pytest.approx(0.001, abs=2e-3)
    _, _, events = train(mlp(hidden=(8,)), moons(n=100), lr=0.1, epochs=6, batch_size=20,
                         optimizer="sgd", schedule="one_cycle")
    lrs = [e.lr for e in of(events, "step")]
    peak = int(np.argmax(lrs))
    assert 0 < peak < len(lrs) - 1 and max(lrs) == pytest.approx(0.1, rel=0.05)
    assert lrs[0] < 0.02 and lrs[-1] < 0.01


def test_plateau_schedule_lowers_the_rate_when_the_monitor_stalls():
    _, _, events = train(mlp(hidden=(8,)), moons(n=100), lr=0.1, epochs=4, batch_size=80,
                         optimizer="sgd", schedule="plateau", lr_patience=0, lr_gamma=0.5,
                         monitor="val_loss", mode="max")  # "max" on a falling loss: always stalls
    # the first epoch sets the reference; every later one stalls and halves the rate
    assert [e.lr for e in of(events, "epoch")] == pytest.approx([0.1, 0.1, 0.05, 0.025])


def test_early_stopping_stops_after_patience_epochs_without_improvement():
    _, final, events = train(mlp(hidden=(8,)), moons(n=100), lr=1e-4, epochs=50, batch_size=80,
                             early_stopping=True, patience=3, min_delta=10.0)
    assert final.reason == "early_stopping"
    assert len(of(events, "epoch")) == 4 == final.epochs


# ------------------------------------------------------------------ batch sizes
@pytest.mark.parametrize(("batch_size", "steps"), [(0, 1), ("full", 1), (1, 30), (7, 5)])
def test_batch_sizes(batch_size, steps):
    _, final, events = train(mlp(hidden=(4,)), moons(n=40, val=0.25), epochs=2, batch_size=batch_size)
    started = of(events, "started")[0]
    assert started.steps_per_epoch == steps and started.total_steps == 2 * steps
    assert final.steps == 2 * steps


# --------------------------------------------------------------- reproducibility
def test_same_seed_same_losses_other_seed_other_losses():
    graph, data = mlp(hidden=(16,), dropout=0.3), moons(n=200)
    runs = [train(graph, data, seed=seed, epochs=3, lr=0.01)[2] for seed in (5, 5, 6)]
    losses = [[e.loss for e in of(events, "step")] for events in runs]
    assert losses[0] == losses[1]
    assert losses[0] != losses[2]


def test_statistics_do_not_change_the_run():
    graph, data = mlp(hidden=(16,), dropout=0.3), moons(n=200)
    plain = train(graph, data, epochs=2)[2]
    with_stats = train(graph, data, epochs=2, stats_every=1)[2]
    assert [e.loss for e in of(plain, "step")] == [e.loss for e in of(with_stats, "step")]


# ------------------------------------------------------------------------ events
def test_started_event_describes_the_run():
    graph, data = mlp(hidden=(16,)), moons(n=100)
    trainer, _, events = train(graph, data, epochs=2, batch_size=16)
    started = events[0]
    assert started.kind == "started"
    assert started.parameter_count == sum(p.numel() for p in trainer.model.parameters())
    assert (started.train_size, started.val_size, started.steps_per_epoch) == (80, 20, 5)
    assert started.device == "cpu"
    assert events[-1].kind == "finished"


def test_step_events_are_thinned_but_cover_every_step():
    graph, data = mlp(hidden=(4,)), moons(n=100)
    _, final, events = train(graph, data, epochs=3, batch_size=10, step_every=4)
    steps = of(events, "step")
    assert sum(e.steps for e in steps) == final.steps == 24
    assert len(steps) == 6 and steps[0].step == 4
    _, _, events = train(graph, data, epochs=3, batch_size=10, min_step_interval=60.0)
    steps = of(events, "step")
    assert len(steps) <= 2 and sum(e.steps for e in steps) == 24


def test_stats_events_hold_histograms_norms_and_dead_units():
    graph = mlp(hidden=(16,))
    model = compile_graph(graph, seed=0)
    hidden = next(n for n in graph.nodes if n.type == "dense")
    with torch.no_grad():  # a bias this negative keeps every unit of the layer at zero
        dict(model.named_parameters())[f"{hidden.id}.bias"].fill_(-100.0)
    _, final, events = train(graph, moons(n=100), epochs=2, batch_size=20, stats_every=3, model=model)
    stats = of(events, "stats")
    assert [s.step for s in stats] == [3, 6]  # 8 steps
    nodes = {n.node_id: n for n in stats[0].nodes}
    assert set(nodes) == {n.id for n in graph.nodes if n.type == "dense"}
    first = nodes[hidden.id]
    assert sum(first.hist_counts) == 2 * 16 and len(first.hist_edges) == len(first.hist_counts) + 1
    assert first.dead_fraction == 1.0
    assert first.grad_norm == 0.0  # dead units get no gradient
    last = next(n for i, n in nodes.items() if i != hidden.id)
    assert last.dead_fraction is None and last.grad_norm > 0 and last.weight_norm > 0


def test_separate_relu_node_counts_dead_units():
    g = Graph()
    chain(g, ("input", {"shape": [2]}), ("dense", {"units": 8}), "relu", ("dense", {"units": 2}), "output")
    _, _, events = train(g, moons(n=100), epochs=1, batch_size=20, stats_every=1)
    first = of(events, "stats")[0].nodes[0]
    assert first.dead_fraction is not None and 0.0 <= first.dead_fraction < 1.0


def test_gradient_clipping_bounds_the_global_norm():
    _, _, events = train(mlp(hidden=(16,)), moons(n=100), epochs=1, batch_size=20, lr=0.1,
                         grad_clip=0.01, stats_every=1)
    for stats in of(events, "stats"):
        total = math.sqrt(sum(n.grad_norm ** 2 for n in stats.nodes))
        assert total <= 0.01 * 1.0001


def test_weight_decay_shrinks_weights():
    graph, data = mlp(hidden=(16,)), moons(n=100)
    plain, _, _ = train(graph, data, optimizer="sgd", lr=0.1, epochs=5)
    decayed, _, _ = train(graph, data, optimizer="sgd", lr=0.1, epochs=5, weight_decay=0.5)
    norm = lambda m: torch.linalg.vector_norm(torch.cat([p.reshape(-1) for p in m.parameters()]))  # noqa: E731
    assert norm(decayed.model) < 0.8 * norm(plain.model)


def test_mixed_precision_on_cpu_trains_in_fp32_with_a_note():
    _, final, events = train(mlp(hidden=(4,)), moons(n=40), epochs=1, precision="bf16")
    assert final.reason == "completed"
    assert any("bf16" in note and "fp32" in note for note in events[0].notes)


def test_evaluate_on_a_test_split():
    from dataclasses import replace

    shipped = replace(load_dataset("moons", n_samples=200), test=load_dataset("moons", n_samples=100, seed=9))
    data = prepare_data(DatasetSettings(val_split=0.2), dataset=shipped)
    assert data.test is not None and len(data.test) == 100
    trainer, _, _ = train(mlp(hidden=(16,)), data, epochs=5, lr=0.01)
    metrics = trainer.evaluate(data.test)
    with torch.no_grad():
        pred = trainer.model.eval()(torch.as_tensor(data.test.x)).argmax(-1).numpy()
    assert set(metrics) == {"loss", "accuracy"}
    assert metrics["accuracy"] == pytest.approx((pred == data.test.y).mean())


def test_loads_dataset_by_name_and_options():
    d = load_dataset("moons", n_samples=50)
    data = prepare_data(DatasetSettings(val_split=0.0), dataset=d)
    assert data.val is None and len(data.train) == 50
    _, final, events = train(mlp(), data, epochs=1)
    assert final.reason == "completed" and of(events, "epoch")[0].val is None
    assert "val_loss" not in final.metrics
