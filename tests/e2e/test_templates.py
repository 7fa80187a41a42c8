"""Every teaching template opens, validates, and trains as its description says.

Each template is trained briefly on the CPU with its own dataset and training
settings (only the epoch count is cut and the data subsampled, so a run is a few
dozen steps): the loss must fall, except where the template's point is that it
does not (the perceptron on XOR stays at chance, the learning rate of 1 diverges,
the deep sigmoid network's gradient vanishes before the first layers).
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from layerloom.backend.templates import (
    GROUPS,
    list_templates,
    load_template,
    parse_expected,
    template_names,
)
from layerloom.backend.training import (
    DatasetSettings,
    Failed,
    Finished,
    Trainer,
    TrainSettings,
    prepare_data,
)
from layerloom.graph.layout import NODE_HEIGHT, NODE_WIDTH

EXAMPLES = Path(__file__).resolve().parents[2] / "resources" / "examples"
NAMES = template_names()
# Templates whose loss is not meant to fall; each has its own test below.
NOT_LEARNING = {"perceptron_xor", "learning_rate_1", "deep_sigmoid_mlp",
                "optimiser_sgd",  # plain SGD at 0.01 barely moves: tests/e2e/test_concept_templates.py
                "init_zeros", "init_small"}  # weights that start wrong: the same test file
# Two networks that compete: no single loss falls (tests/backend/test_gan.py trains them).
GAN = {n for n in NAMES if load_template(n).training.get("task") == "gan"}
TRAIN_SAMPLES = 256  # the training set is cut to this many samples ...
VAL_SAMPLES = 128
STEPS = 40  # ... and trained for about this many steps,
# except these slow starters (their plateau is part of what they show)
SLOW_STARTERS = {"activation_sigmoid": 120, "deep_relu_mlp": 250, "vit_digits": 80}
WINDOW = 5  # steps averaged at each end of the run


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models train far faster on one thread than on contended ones."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def brief_run(name: str, steps: int = STEPS, stats_every: int = 0, step_every: int = 1,
              **overrides):
    """Train template ``name`` for about ``steps`` steps on a subset of its data.

    Returns the final event, the per-step losses, the statistics events and the
    trainer.
    """
    graph = load_template(name)
    settings = TrainSettings.from_dict(graph.training).replace(device="cpu", **overrides)
    data = prepare_data(DatasetSettings.from_dict(graph.dataset), seed=settings.seed)
    train = data.train.subset(range(min(len(data.train), TRAIN_SAMPLES)))
    val = data.val.subset(range(min(len(data.val), VAL_SAMPLES))) if data.val else None
    per_epoch = math.ceil(len(train) / (settings.batch_size or len(train)))
    settings = settings.replace(epochs=max(1, round(steps / per_epoch)))
    losses, stats = [], []

    def on_event(event):
        if event.kind == "step":
            losses.append(event.loss)
        elif event.kind == "stats":
            stats.append(event)

    trainer = Trainer(graph, train, val, settings, on_event=on_event, stats_every=stats_every,
                      step_every=step_every)
    return trainer.run(), losses, stats, trainer


def mean(values) -> float:
    return sum(values) / len(values)


def grad_ratio(graph, stats) -> float:
    """Median over the statistics events of first-layer / last-layer gradient norm."""
    order = {nid: i for i, nid in enumerate(graph.topological_order())}
    ratios = []
    for event in stats:
        nodes = sorted(event.nodes, key=lambda n: order[n.node_id])
        ratios.append(nodes[0].grad_norm / nodes[-1].grad_norm)
    return sorted(ratios)[len(ratios) // 2]


# ----------------------------------------------------------------- every file
@pytest.mark.parametrize("name", NAMES)
def test_template_is_valid_and_self_describing(name):
    graph = load_template(name)
    analysis = graph.analysis()
    assert analysis.valid, analysis.errors
    meta = graph.meta
    assert meta["title"] and len(meta["description"]) > 80
    assert meta["group"] in GROUPS
    assert parse_expected(meta["expected"])
    TrainSettings.from_dict(graph.training)
    assert DatasetSettings.from_dict(graph.dataset).name
    for node in graph.nodes:
        assert node.label or node.spec.is_output, f"{node.id} has no label"


@pytest.mark.parametrize("name", NAMES)
def test_template_is_laid_out_left_to_right_without_overlaps(name):
    graph = load_template(name)
    pos = {n.id: n.position for n in graph.nodes}
    for e in graph.edges:
        assert pos[e.source][0] < pos[e.target][0], f"{e} points left"
    boxes = sorted(pos.values())
    for i, (x, y) in enumerate(boxes):
        for x2, y2 in boxes[i + 1:]:
            assert abs(x - x2) >= NODE_WIDTH or abs(y - y2) >= NODE_HEIGHT


def test_names_cover_the_curriculum():
    names = set(NAMES)
    assert {"perceptron_linear", "perceptron_xor", "mlp_xor"} <= names
    assert {f"activation_{a}" for a in ("relu", "sigmoid", "tanh", "gelu")} <= names
    assert {"loss_cross_entropy", "loss_mse"} <= names
    assert {"batch_size_full", "batch_size_32", "batch_size_1"} <= names
    assert sum(n.startswith("learning_rate_") for n in names) >= 3
    assert {"deep_sigmoid_mlp", "deep_relu_mlp", "deep_residual_mlp"} <= names
    assert sum(n.startswith("overfitting_") for n in names) >= 3
    assert {"cnn_digits", "mnist1d_mlp", "mnist1d_cnn", "mnist1d_gru"} <= names
    assert {"rnn_sine", "lstm_sine", "gru_sine", "transformer_sort"} <= names
    assert {"resnet_digits", "mobilenet_digits", "vit_digits"} <= names  # built with blocks
    assert {"gpt_chars"} <= names  # built with blocks
    assert "unet_shapes" in names
    assert {"gan_mixture", "dcgan_digits"} <= GAN
    assert "vae_digits" in names  # generative: loss terms, the Sampling node
    assert [t.name for t in list_templates()][0] == "perceptron_linear"


def test_templates_that_compare_differ_only_in_what_they_compare():
    """Activation templates share data and settings; the learning-rate ones differ in lr."""
    first = load_template("activation_relu")
    for kind in ("sigmoid", "tanh", "gelu"):
        other = load_template(f"activation_{kind}")
        assert (other.dataset, other.training) == (first.dataset, first.training)
        assert [n.type for n in other.nodes] == [
            kind if n.type == "relu" else n.type for n in first.nodes]
    rates = [load_template(n) for n in NAMES if n.startswith("learning_rate_")]
    assert len({g.training["lr"] for g in rates}) == len(rates)
    for g in rates:
        assert {**g.training, "lr": 0} == {**rates[0].training, "lr": 0}
        assert g.dataset == rates[0].dataset


# ------------------------------------------------------------------- training
@pytest.mark.parametrize("name", [n for n in NAMES if n not in NOT_LEARNING | GAN])
def test_template_trains_and_its_loss_falls(name):
    final, losses, _, _ = brief_run(name, SLOW_STARTERS.get(name, STEPS))
    assert isinstance(final, Finished), getattr(final, "message", final)
    assert len(losses) >= 2 * WINDOW
    first, last = mean(losses[:WINDOW]), mean(losses[-WINDOW:])
    assert last < 0.9 * first, f"{name}: loss {first:.4f} -> {last:.4f}"


def test_perceptron_stays_at_chance_on_xor_where_the_mlp_learns_it():
    final, _, _, _ = brief_run("perceptron_xor", steps=300)
    assert isinstance(final, Finished)
    assert final.metrics["val_accuracy"] <= 0.65
    assert final.metrics["val_loss"] > 0.6  # about log 2: no better than a coin
    final, _, _, _ = brief_run("mlp_xor", steps=300)
    assert final.metrics["val_accuracy"] >= 0.9


@pytest.mark.parametrize("stats_every, step_every", [(0, 1), (5, 1000)],
                         ids=["plain", "with-statistics-like-the-app"])
def test_divergent_learning_rate_blows_up(stats_every, step_every):
    """The run ends with the divergence message (also when layer statistics, which
    the app collects, are due while losses are still unread)."""
    final, losses, _, _ = brief_run("learning_rate_1", stats_every=stats_every,
                                    step_every=step_every)
    if isinstance(final, Failed):
        assert "diverged" in final.message and "Lower the learning rate" in final.message
    else:
        assert mean(losses[-WINDOW:]) > mean(losses[:WINDOW])


def test_gradient_vanishes_in_the_deep_sigmoid_net_and_flows_in_the_residual_one():
    final, _, stats, trainer = brief_run("deep_sigmoid_mlp", stats_every=5)
    assert isinstance(final, Finished) and stats
    sigmoid = grad_ratio(trainer.graph, stats)
    final, _, stats, trainer = brief_run("deep_residual_mlp", stats_every=5)
    assert isinstance(final, Finished) and stats
    residual = grad_ratio(trainer.graph, stats)
    assert sigmoid < 1e-3 < 0.1 < residual
