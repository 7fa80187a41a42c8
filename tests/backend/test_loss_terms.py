"""Losses as part of the graph: each term against a hand computation, the weighted
total, several outputs, loss nodes, and the messages for wiring that cannot work."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from layerloom.backend.compile import compile_graph
from layerloom.backend.datasets import Dataset
from layerloom.backend.training import Trainer, TrainSettings
from layerloom.backend.training.checks import TrainingError, plan_run
from layerloom.backend.training.loss_terms import (
    NODE_KINDS,
    has_loss_terms,
    term_value,
    training_forward,
)
from layerloom.graph import REGISTRY, Graph, dumps, loads


def t(values) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float32)


# ------------------------------------------------------------- each term by hand
def test_mse_and_l1_against_a_hand_computation():
    pred, target = t([[1.0, 2.0], [3.0, 5.0]]), t([[0.0, 2.0], [1.0, 1.0]])
    # errors 1, 0, 2, 4 -> squares 1, 0, 4, 16
    assert term_value("mse", pred, target).item() == pytest.approx(21 / 4)
    assert term_value("l1", pred, target).item() == pytest.approx(7 / 4)
    # sum over a sample's values, mean over the batch: (1 + 0 + 4 + 16) / 2
    assert term_value("mse", pred, target, "sum").item() == pytest.approx(21 / 2)


def test_bce_on_probabilities_and_on_logits_by_hand():
    p, y = t([[0.8, 0.4]]), t([[1.0, 0.0]])
    hand = -(math.log(0.8) + math.log(0.6)) / 2
    assert term_value("bce", p, y).item() == pytest.approx(hand, rel=1e-6)
    logits = torch.logit(p)
    assert term_value("bce_with_logits", logits, y).item() == pytest.approx(hand, rel=1e-5)
    assert term_value("bce", p, y, "sum").item() == pytest.approx(2 * hand, rel=1e-6)


def test_cross_entropy_by_hand():
    scores, labels = t([[2.0, 0.0, 0.0]]), torch.tensor([0])
    hand = -math.log(math.exp(2) / (math.exp(2) + 2))
    assert term_value("cross_entropy", scores, labels).item() == pytest.approx(hand, rel=1e-6)


def test_kl_divergence_of_a_normal_from_the_prior_by_hand():
    mean, logvar = t([[1.0, 0.0], [0.0, 0.0]]), t([[0.0, math.log(4.0)], [0.0, 0.0]])
    # KL(N(m, s²) || N(0, 1)) = 0.5 (s² + m² - 1 - ln s²), summed over dims
    first = 0.5 * (1 + 1 - 1 - 0) + 0.5 * (4 + 0 - 1 - math.log(4.0))
    assert term_value("kl", mean, logvar).item() == pytest.approx((first + 0.0) / 2, rel=1e-6)
    assert term_value("kl", torch.zeros(3, 2), torch.zeros(3, 2)).item() == 0.0


# ------------------------------------------------------------ graphs with terms
def regression_data(n=64, seed=0) -> Dataset:
    rng = np.random.default_rng(seed)
    x = rng.random((n, 3)).astype(np.float32)
    y = (x @ np.array([[1.0], [-2.0], [0.5]], np.float32)).astype(np.float32)
    return Dataset("toy", x, y, "regression", (3,), "float", (1,), None, None, "a toy regression")


def two_headed(kl_weight=0.5, aux_weight=2.0) -> Graph:
    """Input (3,) -> mean/logvar (2,) -> Sampling -> Dense 1 -> Output "Value" (mse on the
    data); Dense 3 -> Output "Copy" (l1 on the input, weight aux_weight); a KL node."""
    g = Graph()
    x = g.add_node("input", {"shape": [3]}, label="x").id
    mean = g.add_node("dense", {"units": 2}, label="mean").id
    logvar = g.add_node("dense", {"units": 2}, label="logvar").id
    z = g.add_node("sampling", label="z").id
    value = g.add_node("dense", {"units": 1}, label="value head").id
    copy = g.add_node("dense", {"units": 3}, label="copy head").id
    out1 = g.add_node("output", {"loss": "mse"}, label="Value").id
    out2 = g.add_node("output", {"loss": "l1", "target": "input", "weight": aux_weight}, label="Copy").id
    kl = g.add_node("kl_divergence", {"weight": kl_weight}, label="KL").id
    for a, b in [(x, mean), (x, logvar), (z, value), (z, copy), (value, out1), (copy, out2)]:
        g.connect(a, "out", b, "in")
    for port, source in (("mean", mean), ("logvar", logvar)):
        g.connect(source, "out", z, port)
        g.connect(source, "out", kl, port)
    return g


def test_a_plain_graph_has_no_loss_terms_and_saves_its_output_as_before():
    g = Graph()
    x = g.add_node("input", {"shape": [3]}).id
    o = g.add_node("output").id
    g.connect(x, "out", o, "in")
    assert not has_loss_terms(g)
    text = dumps(g)
    assert '"loss"' not in text and '"weight"' not in text  # the Output's params are written only when set
    assert loads(text).node(o).params == {"loss": "auto", "target": "data", "weight": 1.0}
    g.set_param(o, "weight", 2.0)
    assert has_loss_terms(g)
    assert loads(dumps(g)).node(o).params["weight"] == 2.0


def test_the_total_is_the_weighted_sum_of_the_terms():
    g = two_headed(kl_weight=0.5, aux_weight=2.0)
    data = regression_data()
    terms = plan_run(g, data, TrainSettings()).objective
    assert terms.keys == ["loss_value", "loss_copy", "loss_kl"]
    assert terms.describe() == "total = 1·loss_value + 2·loss_copy + 0.5·loss_kl"
    model = compile_graph(g, seed=0)
    view = training_forward(model, g, terms)
    x, y = torch.from_numpy(data.x[:16]), torch.from_numpy(data.y[:16])
    model.eval()  # the Sampling node gives the mean: the values are repeatable
    terms.reset("train")
    results = view(x)
    total = terms(results, y)
    value, copy = model(x)
    mean = model.mean(x)
    logvar = model.logvar(x)
    hand = {"loss_value": ((value - y) ** 2).mean().item(),
            "loss_copy": (copy - x).abs().mean().item(),
            "loss_kl": (-0.5 * (1 + logvar - mean ** 2 - logvar.exp())).sum(1).mean().item()}
    assert total.item() == pytest.approx(hand["loss_value"] + 2 * hand["loss_copy"] + 0.5 * hand["loss_kl"],
                                         rel=1e-5)
    means = terms.term_means("train")
    assert means == pytest.approx(hand, rel=1e-5)


def test_the_view_shares_the_models_weights_and_loss_nodes_are_not_exported():
    g = two_headed()
    model = compile_graph(g, seed=0)
    assert len(model(torch.zeros(2, 3))) == 2  # the two Outputs only
    view = training_forward(model, g, plan_run(g, regression_data(), TrainSettings()).objective)
    assert {id(p) for p in view.parameters()} == {id(p) for p in model.parameters()}
    full = compile_graph(g, seed=0, with_losses=True)
    assert full.loss_inputs == [("kl_divergence_1", "mean"), ("kl_divergence_1", "logvar")]
    assert len(full(torch.zeros(2, 3))) == 2 + 2 + 1  # outputs, the KL's two inputs, the input


def test_a_run_reports_each_term_and_the_total():
    g = two_headed()
    events = []
    trainer = Trainer(g, regression_data(), regression_data(32, seed=1),
                      TrainSettings(epochs=3, batch_size=16, lr=0.01, optimizer="adam"),
                      on_event=events.append)
    final = trainer.run()
    assert final.kind == "finished", final
    started = next(e for e in events if e.kind == "started")
    assert "loss terms: total = 1·loss_value + 2·loss_copy + 0.5·loss_kl" in started.notes
    for record in trainer.history:
        for part in (record["train"], record["val"]):
            assert {"loss", "loss_value", "loss_copy", "loss_kl", "mae", "r2"} <= set(part)
    val = trainer.history[-1]["val"]  # evaluation: no noise, so the total adds up exactly
    assert val["loss"] == pytest.approx(val["loss_value"] + 2 * val["loss_copy"] + 0.5 * val["loss_kl"],
                                        rel=1e-5)
    assert trainer.history[-1]["train"]["loss"] < trainer.history[0]["train"]["loss"]


def test_loss_terms_only_report_losses_when_nothing_compares_with_the_targets():
    g = Graph()
    x = g.add_node("input", {"shape": [3]}, label="x").id
    d = g.add_node("dense", {"units": 3}, label="copy").id
    o = g.add_node("output", {"loss": "none"}, label="Out").id
    m = g.add_node("mse_loss", label="Copy error").id
    g.connect(x, "out", d, "in")
    g.connect(d, "out", o, "in")
    g.connect(d, "out", m, "pred")
    g.connect(x, "out", m, "target")
    trainer = Trainer(g, regression_data(), None, TrainSettings(epochs=1, batch_size=32))
    final = trainer.run()
    assert set(final.metrics) == {"loss", "loss_copy_error"}
    assert final.metrics["loss"] == pytest.approx(final.metrics["loss_copy_error"])


# --------------------------------------------------------------- wrong wiring
def test_a_kl_node_fed_outputs_of_different_shapes_names_them():
    g = two_headed()
    wide = g.add_node("dense", {"units": 5}, label="too wide").id
    g.connect("input_1", "out", wide, "in")
    g.remove_edge(g.incoming("kl_divergence_1")["logvar"])
    g.connect(wide, "out", "kl_divergence_1", "logvar")
    message = dict(g.analysis().errors)["kl_divergence_1"]
    assert "mean is (N, 2) but logvar is (N, 5)" in message
    assert "mean <- mean (out), logvar <- too wide (out)" in message


def test_a_kl_node_fed_one_output_twice_says_so():
    g = two_headed()
    g.remove_edge(g.incoming("kl_divergence_1")["logvar"])
    g.connect("dense_1", "out", "kl_divergence_1", "logvar")
    message = dict(g.analysis().errors)["kl_divergence_1"]
    assert "mean and logvar both come from mean (out)" in message


def test_cross_entropy_wired_to_float_targets_names_them():
    g = Graph()
    x = g.add_node("input", {"shape": [4]}, label="x").id
    o = g.add_node("output", label="Out").id
    ce = g.add_node("cross_entropy_loss", {"target": "wired"}, label="CE").id
    g.connect(x, "out", o, "in")
    g.connect(x, "out", ce, "pred")
    g.connect(x, "out", ce, "target")
    message = dict(g.analysis().errors)[ce]
    assert "needs class indices (N) long as target" in message and "target <- x (out)" in message


def test_a_reconstruction_of_another_shape_than_the_input_names_the_output():
    g = two_headed()
    g.set_param("dense_4", "units", 2)  # "copy head" no longer matches the input (3,)
    with pytest.raises(TrainingError, match=r"Output 'Copy' is compared with the model's input \(3,\) "
                                            r"but gives \(2,\)"):
        plan_run(g, regression_data(), TrainSettings())


def test_bce_against_inputs_outside_zero_one_says_what_to_do():
    g = two_headed()
    g.set_param("output_2", "loss", "bce")
    data = regression_data()
    data.x[0, 0] = 3.0
    with pytest.raises(TrainingError, match="range from 0.* to 3 after normalisation; set the "
                                            "dataset's normalise to minmax"):
        plan_run(g, data, TrainSettings())


def test_nothing_to_train_is_refused():
    g = two_headed()
    for nid in ("output_1", "output_2"):
        g.set_param(nid, "loss", "none")
    g.remove_node("kl_divergence_1")
    with pytest.raises(TrainingError, match="nothing to train"):
        plan_run(g, regression_data(), TrainSettings())


# ------------------------------------------------- every loss node's declaration
@pytest.mark.parametrize("spec", [s for s in REGISTRY if s.loss], ids=lambda s: s.type_id)
def test_every_loss_node_has_a_valid_example_help_and_a_term(spec):
    assert spec.category == "Loss" and not spec.is_output and not spec.output_ports({})
    for example in spec.examples:
        params = spec.check_params(example.params)
        assert set(example.inputs) == set(spec.input_ports(params))
        assert spec.infer(params, example.inputs) == {}
    assert spec.doc.strip() and all(p.help.strip() for p in spec.params)
    assert spec.type_id in NODE_KINDS or spec.type_id in ("reconstruction_loss", "bce_loss")


def test_the_learning_rate_finder_sweeps_the_total_of_the_terms():
    from layerloom.backend.training.lr_find import find_lr

    finding = find_lr(two_headed(), regression_data(), TrainSettings(batch_size=16), steps=12)
    assert len(finding.losses) == 12 and all(math.isfinite(v) for v in finding.losses)


def test_the_training_script_export_says_it_trains_one_loss(tmp_path):
    from layerloom.backend.export import ExportError, export_train_script
    from layerloom.backend.templates import load_template

    graph = load_template("vae_digits")
    with pytest.raises(ExportError, match="this graph sets its own loss terms"):
        export_train_script(graph, compile_graph(graph, seed=0), tmp_path / "train.py")


def test_loss_terms_refuse_several_processes_with_a_clear_message():
    trainer = Trainer(two_headed(), regression_data(), None, TrainSettings(epochs=1))
    trainer.world_size = 2  # what DistributedTrainer sets
    final = trainer.run()
    assert final.kind == "failed" and "trains on one process for now; leave --nproc out" in final.message


def test_a_loss_node_inside_a_block_is_refused_by_name_not_dropped():
    from layerloom.graph import make_block

    g = two_headed()
    mean, logvar, kl = (next(n.id for n in g.nodes if n.label == label) for label in ("mean", "logvar", "KL"))
    make_block(g, [mean, logvar, kl], "encoder")
    assert g.analysis().valid
    with pytest.raises(TrainingError, match=r"block 'encoder' holds the loss node\(s\) KL.*top level"):
        plan_run(g, regression_data(), TrainSettings())
