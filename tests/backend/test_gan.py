"""GAN projects: the two networks found in the graph, the alternating steps, both
losses, the shape messages, collapse detection, coverage and the templates."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.template_gan import gan_graph, leaky  # noqa: E402
from benchmarks.template_parts import dense  # noqa: E402
from layerloom.backend.datasets import load_dataset  # noqa: E402
from layerloom.backend.templates import load_template  # noqa: E402
from layerloom.backend.training import DatasetSettings, Finished, TrainSettings, prepare_data  # noqa: E402
from layerloom.backend.training.gan import GanTrainer, network_settings  # noqa: E402
from layerloom.backend.training.gan_measures import class_spread, mode_coverage  # noqa: E402
from layerloom.backend.training.gan_parts import (  # noqa: E402
    CollapseWatch,
    GanError,
    check_data,
    discriminator_loss,
    find_networks,
    generator_loss,
)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def small_gan(sample: int = 2, takes: list[int] | None = None):
    """Noise (4) -> Dense 16 -> Dense ``sample`` | D takes ``takes`` -> Dense 16 -> 1."""
    return gan_graph(4, [dense(16, "relu", "G hidden"), dense(sample, label="G out")], takes or [2],
                     [dense(16, label="D hidden"), leaky(), dense(1, label="D score")])


def ring(n: int = 400):
    return load_dataset("ring_mixture", n_samples=n)


def settings(**changes) -> TrainSettings:
    base = dict(task="gan", device="cpu", epochs=1, batch_size=50, lr=1e-3, seed=0)
    return TrainSettings.from_dict({**base, **changes})


# ------------------------------------------------------------------- the graph
def test_the_networks_are_the_two_block_nodes_in_order():
    nets = find_networks(small_gan())
    graph = small_gan()
    assert graph.node(nets.generator_id).params["block"] == "generator"
    assert graph.node(nets.discriminator_id).params["block"] == "discriminator"
    assert nets.noise_shape == (4,) and nets.sample_shape == (2,)


def test_a_generator_that_does_not_fit_the_discriminator_names_both_shapes():
    with pytest.raises(GanError) as err:
        find_networks(small_gan(sample=3, takes=[2]))
    text = str(err.value)
    assert "makes samples of shape (3,)" in text and "takes (2,)" in text
    assert "'Generator'" in text and "'Discriminator'" in text


def test_data_of_another_shape_is_named():
    nets = find_networks(small_gan(sample=3, takes=[3]))
    with pytest.raises(GanError, match=r"gives samples of shape \(2,\) but the generator 'Generator' makes \(3,\)"):
        check_data(nets, ring())


def test_a_discriminator_with_several_scores_is_refused():
    graph = gan_graph(4, [dense(2, label="G out")], [2], [dense(3, label="D score")])
    with pytest.raises(GanError, match=r"gives \(3,\) per sample; it must give one score"):
        find_networks(graph)


def test_a_layer_in_place_of_a_block_says_to_make_a_block():
    graph = small_gan()
    nets = find_networks(graph)
    edge = next(e for e in graph.edges if e.source == nets.noise_id)
    graph.remove_edge(edge)
    layer = graph.add_node("dense", {"units": 4}, label="Loose dense")
    graph.connect(nets.noise_id, "out", layer.id, "in")
    graph.connect(layer.id, "out", nets.generator_id, "noise")
    with pytest.raises(GanError, match="'Loose dense' is a Dense layer, not a block"):
        find_networks(graph)


# ------------------------------------------------------------------ the losses
def test_both_losses_match_the_hand_computation():
    real = torch.tensor([2.0, -1.0, 0.5])
    fake = torch.tensor([-3.0, 0.2])
    sig = torch.sigmoid
    hand_d = -(torch.log(sig(real)).mean() + torch.log(1 - sig(fake)).mean())
    assert discriminator_loss(real, fake).item() == pytest.approx(hand_d.item(), rel=1e-6)
    assert generator_loss(fake, "minimax").item() == pytest.approx(
        torch.log(1 - sig(fake)).mean().item(), rel=1e-6)
    assert generator_loss(fake, "non_saturating").item() == pytest.approx(
        -torch.log(sig(fake)).mean().item(), rel=1e-6)
    # at a draw (every score 0) the discriminator's loss is 2 log 2
    assert discriminator_loss(torch.zeros(4), torch.zeros(4)).item() == pytest.approx(2 * math.log(2))
    with pytest.raises(ValueError, match="unknown GAN loss"):
        generator_loss(fake, "wasserstein")


def test_the_minimax_gradient_fades_where_the_non_saturating_one_does_not():
    fake = torch.tensor([-8.0], requires_grad=True)  # the discriminator is sure it is fake
    (g_minimax,) = torch.autograd.grad(generator_loss(fake, "minimax"), fake)
    (g_ns,) = torch.autograd.grad(generator_loss(fake, "non_saturating"), fake)
    assert abs(g_minimax.item()) < 1e-3 < 0.9 < abs(g_ns.item())


# -------------------------------------------------------------- the alternation
def snapshot(module):
    return [p.detach().clone() for p in module.parameters()]


def changed(before, module):
    return [not torch.equal(a, b) for a, b in zip(before, module.parameters(), strict=True)]


def test_each_step_changes_only_its_own_network():
    trainer = GanTrainer(small_gan(), ring(), settings())
    trainer._setup()
    g0, d0 = snapshot(trainer.generator), snapshot(trainer.discriminator)
    trainer.discriminator_step(trainer._x[:50])
    assert all(changed(d0, trainer.discriminator)) and not any(changed(g0, trainer.generator))
    g1, d1 = snapshot(trainer.generator), snapshot(trainer.discriminator)
    trainer.generator_step(50)
    assert all(changed(g1, trainer.generator)) and not any(changed(d1, trainer.discriminator))
    assert all(p.requires_grad for p in trainer.discriminator.parameters())


@pytest.mark.parametrize("d_steps", [1, 3])
def test_discriminator_and_generator_steps_are_counted(d_steps):
    events = []
    data = ring(400)  # 8 batches of 50 per epoch
    trainer = GanTrainer(small_gan(), data, settings(epochs=3, d_steps=d_steps), on_event=events.append)
    final = trainer.run()
    assert isinstance(final, Finished), final
    assert trainer.step == 24 and trainer.g_steps == 24 // d_steps
    progress = [e for e in events if e.kind == "gan"]
    assert progress[-1].d_steps == 24 and progress[-1].g_steps == 24 // d_steps
    assert [e.epoch for e in events if e.kind == "epoch"] == [1, 2, 3]
    samples = [e for e in events if e.kind == "gan_samples"]
    assert [e.epoch for e in samples] == [0, 1, 2, 3]  # before training and after each epoch
    assert samples[0].array().shape == (512, 2) and len(samples[0].real) == 2 * 400  # every real point, up to 512
    epoch = [e for e in events if e.kind == "epoch"][-1].train
    assert {"d_loss", "g_loss", "real_accuracy", "fake_accuracy", "modes_covered"} <= set(epoch)
    assert 0 <= epoch["real_accuracy"] <= 1 and 0 <= epoch["fake_accuracy"] <= 1


def test_the_reported_accuracies_match_the_discriminator():
    trainer = GanTrainer(small_gan(), ring(), settings())
    trainer._setup()
    real = trainer._x[:50]
    torch.manual_seed(5)
    state = trainer.noise_gen.get_state()
    with torch.no_grad():
        fake = trainer.generator(trainer.noise(50))
        want_real = (trainer.discriminator(real) > 0).float().mean().item()
        want_fake = (trainer.discriminator(fake) < 0).float().mean().item()
    trainer.noise_gen.set_state(state)
    _, real_acc, fake_acc = trainer.discriminator_step(real)
    assert (real_acc, fake_acc) == (pytest.approx(want_real), pytest.approx(want_fake))


def test_each_network_gets_its_own_optimizer_and_rate():
    s = settings(optimizer="adam", lr=0.01, g_lr=0.002, d_optimizer="sgd")
    assert (network_settings(s, "g").optimizer, network_settings(s, "g").lr) == ("adam", 0.002)
    assert (network_settings(s, "d").optimizer, network_settings(s, "d").lr) == ("sgd", 0.01)
    trainer = GanTrainer(small_gan(), ring(), s)
    trainer._setup()
    assert isinstance(trainer.d_opt, torch.optim.SGD) and trainer.g_opt.param_groups[0]["lr"] == 0.002


def test_the_same_seed_repeats_the_run():
    runs = []
    for _ in range(2):
        trainer = GanTrainer(small_gan(), ring(), settings(epochs=2))
        runs.append(trainer.run().metrics)
    assert runs[0] == runs[1]


def test_stop_ends_the_run_between_steps():
    trainer = GanTrainer(small_gan(), ring(), settings(epochs=50))
    trainer.on_event = lambda e: trainer.stop() if e.kind == "gan" and e.step >= 3 else None
    final = trainer.run()
    assert final.reason == "stopped" and final.steps == 3


# ------------------------------------------------------------------- collapse
def test_collapse_is_told_once_after_a_run_of_tiny_discriminator_losses():
    watch = CollapseWatch(threshold=0.05, steps=5)
    assert all(watch.update(0.01, i, "minimax") is None for i in range(4))
    assert watch.update(0.5, 5, "minimax") is None  # the run is broken: counting starts again
    messages = [watch.update(0.01, 6 + i, "minimax") for i in range(6)]
    assert messages[:4] == [None] * 4 and messages[5] is None
    assert "collapsed" in messages[4] and "non_saturating" in messages[4] and "d_lr" in messages[4]


def test_a_run_whose_discriminator_wins_is_reported_as_collapsed(monkeypatch):
    from layerloom.backend.training import gan_parts

    monkeypatch.setattr(gan_parts, "COLLAPSE_STEPS", 20)
    monkeypatch.setattr(gan_parts.CollapseWatch.__init__, "__defaults__", (0.05, 20))
    # a frozen generator (no learning) and a fast discriminator: it soon tells every sample
    events = []
    trainer = GanTrainer(small_gan(), ring(), settings(epochs=30, g_lr=1e-9, d_lr=0.05, gan_loss="minimax"),
                         on_event=events.append)
    final = trainer.run()
    assert isinstance(final, Finished)
    notes = [e.message for e in events if e.kind == "note"]
    assert trainer.collapse and notes == [trainer.collapse]
    assert "the run collapsed" in trainer.collapse and "Try:" in trainer.collapse


# ------------------------------------------------------------------- measures
def test_mode_coverage_counts_the_modes_with_their_share():
    data = ring(800)
    centres = np.array([data.x[data.y == k].mean(axis=0) for k in range(8)])
    one_mode = np.repeat(centres[:1], 100, axis=0)
    assert mode_coverage(one_mode, data.x, data.y).covered == 1
    all_modes = np.repeat(centres, 20, axis=0)
    found = mode_coverage(all_modes, data.x, data.y)
    assert (found.covered, found.modes, found.good_share) == (8, 8, 1.0)
    far = np.full((50, 2), 100.0)
    assert mode_coverage(far, data.x, data.y).good_share == 0.0


def test_class_spread_sees_real_digits_spread_and_a_blur_not():
    digits = load_dataset("digits")
    spread = class_spread(digits.x[:500], digits.x, digits.y)
    assert spread.covered == 10 and spread.real_accuracy > 0.9 and spread.confident_share > 0.5
    blur = np.repeat(digits.x.mean(axis=0, keepdims=True), 200, axis=0)
    assert class_spread(blur, digits.x, digits.y).covered == 1


# ------------------------------------------------------------------ templates
def test_the_mixture_template_covers_most_modes_after_brief_training():
    graph = load_template("gan_mixture")
    s = TrainSettings.from_dict(graph.training).replace(device="cpu", epochs=40)
    data = prepare_data(DatasetSettings.from_dict(graph.dataset), seed=s.seed)
    final = GanTrainer(graph, data.train, s).run()
    assert isinstance(final, Finished), final
    assert final.metrics["modes_covered"] >= 5  # the full run's claim (>= 6) is checked below


def test_the_dcgan_template_draws_digit_shaped_samples_from_its_first_steps():
    graph = load_template("dcgan_digits")
    s = TrainSettings.from_dict(graph.training).replace(device="cpu", epochs=1)
    data = prepare_data(DatasetSettings.from_dict(graph.dataset), seed=s.seed)
    events = []
    final = GanTrainer(graph, data.train, s, on_event=events.append).run()
    assert isinstance(final, Finished), final
    samples = [e for e in events if e.kind == "gan_samples"]
    assert samples[-1].array().shape == (64, 1, 8, 8)
    assert 0.0 <= samples[-1].array().min() and samples[-1].array().max() <= 1.0  # the sigmoid


@pytest.mark.slow
@pytest.mark.parametrize("name", ["gan_mixture", "dcgan_digits"])
def test_gan_templates_reach_their_stated_result(name):
    from benchmarks.template_gan import measure_gan
    from layerloom.backend.templates import parse_expected

    graph = load_template(name)
    metrics, failed, _ = measure_gan(graph)
    assert failed is None
    for clause in parse_expected(graph.meta["expected"]):
        assert clause.holds(metrics.get(clause.metric)), (clause, metrics)


def test_softplus_forms_are_the_bce_the_loss_means():
    logits = torch.tensor([0.3, -2.0])
    assert F.softplus(-logits).mean().item() == pytest.approx(
        F.binary_cross_entropy_with_logits(logits, torch.ones(2)).item())


def test_a_nan_loss_fails_the_run_saying_what_to_do(monkeypatch):
    from layerloom.backend.training import gan

    monkeypatch.setattr(gan, "discriminator_loss", lambda r, f: (r.mean() + f.mean()) * float("nan"))
    final = GanTrainer(small_gan(), ring(), settings()).run()
    assert final.kind == "failed"
    assert "discriminator's loss became NaN or infinite at step 1" in final.message and "d_lr" in final.message


def test_data_that_does_not_fit_fails_the_run_with_its_message():
    final = GanTrainer(small_gan(sample=3, takes=[3]), ring(), settings()).run()
    assert final.kind == "failed" and "gives samples of shape (2,)" in final.message
