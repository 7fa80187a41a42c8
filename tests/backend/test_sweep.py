"""Hyperparameter sweeps: specs, grids, values written into the graph, trials that run,
fail, stop, and run on several processes."""

from __future__ import annotations

import threading

import pytest
import torch

from layerloom.backend.training.sweep import (
    SweepError,
    apply_values,
    candidates,
    check_metric,
    edits,
    grid,
    parse_axis,
    plan,
)
from layerloom.backend.training.sweep_run import Sweep, metric_of
from layerloom.graph import Graph
from tests.graph.helpers import chain

MOONS = {"name": "moons", "options": {"n_samples": 200}, "val_split": 0.25}


def block_mlp() -> Graph:
    """Input (2,) -> block ``ff`` (a Dense whose units are exposed as ``width``) ->
    Dense 2 -> Output, on a small moons set."""
    g = Graph()
    d = g.blocks.add("ff")
    _, hidden, _ = chain(d.body, ("input", {"shape": [2]}), ("dense", {"units": 8, "activation": "relu"}),
                         "output")
    g.blocks.expose("ff", "width", hidden, "units")
    x, block = chain(g, ("input", {"shape": [2]}), ("block", {"block": "ff"}))
    y, out = chain(g, ("dense", {"units": 2}), "output")
    g.connect(block, g.node(block).output_ports()[0], y, "in")
    g.dataset = dict(MOONS)
    g.training = {"epochs": 2, "lr": 0.01, "batch_size": 25, "device": "cpu"}
    return g


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# ------------------------------------------------------------------ specs
def test_a_list_and_ranges_give_the_values_in_order():
    g = block_mlp()
    assert parse_axis(g, "lr=0.001,0.01,0.1").values == (0.001, 0.01, 0.1)
    log = parse_axis(g, "lr=1e-4:1e-1:log:4")
    assert log.values == (1e-4, 1e-3, 1e-2, 1e-1) and log.scale == "log"
    assert parse_axis(g, "lr=1e-4:1e-1:log:6").values == (1e-4, 3.98e-4, 1.58e-3, 6.31e-3, 2.51e-2, 0.1)
    assert parse_axis(g, "batch_size=16:128:lin:4").values == (16, 53, 91, 128)
    assert parse_axis(g, "batch_size=1:3:lin:5").values == (1, 2, 3)  # rounded, each once
    assert parse_axis(g, "batch_size=16,full").values == (16, 0)  # the declaration's own word
    assert parse_axis(g, "optimizer=adam,sgd").values == ("adam", "sgd")
    assert parse_axis(g, "early_stopping=on,off").values == (True, False)


def test_node_and_block_parameters_are_swept_by_name():
    g = block_mlp()
    block_node = next(n.id for n in g.nodes if n.is_block)
    dense = next(n.id for n in g.nodes if n.type == "dense")
    assert parse_axis(g, "ff.width=4,16").target.kind == "block"
    assert parse_axis(g, f"{block_node}.width=4,16").target.kind == "node"
    assert parse_axis(g, f"{block_node}.repeat=1,2").values == (1, 2)
    assert parse_axis(g, f"{dense}.units=2,3").values == (2, 3)
    names = candidates(g)
    assert {"lr", "batch_size", "optimizer", "ff.width", f"{dense}.units"} <= set(names)
    assert "device" not in names and "processes" not in names


@pytest.mark.parametrize(("spec", "words"), [
    ("learning_rate=0.1", ["unknown setting 'learning_rate'"]),
    ("lrr=0.1", ["did you mean 'lr'"]),
    ("lr", ["expected NAME=VALUES"]),
    ("=1,2", ["no setting named"]),
    ("lr=", ["lr=", "separated by commas"]),
    ("lr=0.1,,0.2", ["separated by commas"]),
    ("lr=0.1,0.1", ["given twice"]),
    ("lr=-1,0.1", ["lr=-1,0.1", "value -1", "above 0"]),
    ("lr=1e-4:1e-1:log", ["START:STOP:SCALE:COUNT"]),
    ("lr=1e-4:1e-1:exp:4", ["log or lin", "'exp'"]),
    ("lr=0:1e-1:log:4", ["positive ends"]),
    ("lr=1e-4:1e-1:log:1", ["at least 2 values"]),
    ("lr=1e-4:1e-1:log:x", ["whole number", "'x'"]),
    ("lr=a:b:log:3", ["must be numbers"]),
    ("optimizer=0:1:lin:3", ["not a number setting", "sgd, adam"]),
    ("optimizer=adam,nadam", ["value 'nadam'", "must be one of"]),
    ("processes=1,2", ["cannot be swept", "--workers"]),
    ("device=cpu,cuda", ["cannot be swept"]),
    ("ff.depth=1,2", ["block 'ff' exposes no parameter 'depth'", "it exposes: width"]),
    ("nowhere.units=1,2", ["no node or block named 'nowhere'", "blocks: ff"]),
    ("dense_1.unitz=3", ["has no parameter 'unitz'", "did you mean 'units'"]),
    ("dense_1.units=0,4", ["value 0"]),
])
def test_bad_specs_name_the_part_at_fault(spec, words):
    with pytest.raises(SweepError) as info:
        parse_axis(block_mlp(), spec)
    for word in words:
        assert word in str(info.value)


def test_two_settings_make_a_grid_first_slowest_and_limits_hold():
    g = block_mlp()
    axes = plan(g, ["lr=0.01,0.1", "batch_size=16,32,64"])
    combos = grid(axes)
    assert len(combos) == 6 and combos[0] == {"lr": 0.01, "batch_size": 16} and combos[3]["lr"] == 0.1
    with pytest.raises(SweepError, match="nothing to sweep"):
        plan(g, [])
    with pytest.raises(SweepError, match="one or two settings"):
        plan(g, ["lr=0.1", "epochs=1", "seed=1"])
    with pytest.raises(SweepError, match="set twice"):
        plan(g, ["lr=0.1,0.2", "lr=0.3"])
    with pytest.raises(SweepError, match="at most"):
        plan(g, ["lr=1e-5:1:log:30", "seed=0:29:lin:30"])
    with pytest.raises(SweepError, match="unknown metric 'val_acc'.*val_accuracy"):
        check_metric("val_acc")


def test_values_are_written_into_a_copy_and_edits_say_what_use_best_changes():
    g = block_mlp()
    before = g.to_dict()
    dense = next(n.id for n in g.nodes if n.type == "dense")
    axes = plan(g, ["ff.width=4,32", f"{dense}.units=2,3"])
    copy = apply_values(g, axes, {"ff.width": 32, f"{dense}.units": 3})
    assert g.to_dict() == before
    block = next(n for n in copy.nodes if n.is_block)
    assert block.params["width"] == 32 and copy.node(dense).params["units"] == 3
    axes = plan(g, ["lr=0.5", "ff.width=4"])
    training, params = edits(g, axes, {"lr": 0.5, "ff.width": 4})
    assert training == {**g.training, "lr": 0.5}
    assert [(holder is g, nid, p, v) for holder, nid, p, v in params] == [
        (True, next(n.id for n in g.nodes if n.is_block), "width", 4)]


def test_metric_of_an_epoch_falls_back_to_training_without_validation():
    record = {"train": {"loss": 0.5, "accuracy": 0.8}, "val": {"loss": 0.7, "accuracy": 0.6}}
    assert metric_of(record, "val_accuracy") == 0.6 and metric_of(record, "loss") == 0.5
    assert metric_of({"train": {"loss": 0.5}, "val": None}, "val_loss") == 0.5
    assert metric_of({"train": {"loss": float("nan")}, "val": None}, "loss") is None


# ------------------------------------------------------------------ runs
def test_trials_train_one_after_another_and_the_best_is_picked():
    g = block_mlp()
    sweep = Sweep(g, plan(g, ["lr=0.0001,0.05", "ff.width=4,16"]), "val_accuracy")
    seen = []
    trials = sweep.run(on_trial=lambda t: seen.append((t.index, t.status)),
                       on_epoch=lambda i, e, n, v: seen.append(("epoch", i, e, n)))
    assert [t.status for t in trials] == ["completed"] * 4
    assert seen[:4] == [(0, "running"), ("epoch", 0, 1, 2), ("epoch", 0, 2, 2), (0, "completed")]
    for t in trials:
        assert t.epochs == 2 and 0 <= t.final <= 1 and t.best >= t.final and t.best_epoch in (1, 2)
        assert t.seconds > 0 and "val_loss" in t.metrics
    assert sweep.best() is max(trials, key=lambda t: t.final)
    assert sweep.best().values["lr"] == 0.05  # a rate 500 times larger learns more in two epochs
    rows = sweep.rows()
    assert list(rows[0])[:3] == ["lr", "ff.width", "final_val_accuracy"] and rows[0]["ff.width"] == "4"
    data = sweep.to_dict()
    assert data["best"] == sweep.best().index and data["trials"][1]["values"] == {"lr": 0.0001, "ff.width": 16}


def test_the_same_seed_gives_the_same_numbers_and_epochs_override_the_graphs():
    g = block_mlp()
    first = Sweep(g, plan(g, ["lr=0.01"]), "val_loss", epochs=1).run()
    again = Sweep(g, plan(g, ["lr=0.01"]), "val_loss", epochs=1).run()
    assert first[0].epochs == 1 and first[0].final == again[0].final
    swept = Sweep(g, plan(g, ["epochs=1,3"]), "val_loss", epochs=2).run()
    assert [t.epochs for t in swept] == [1, 3]  # a swept epochs beats the override


def test_a_failing_trial_records_its_message_and_the_sweep_goes_on():
    g = block_mlp()
    block = next(n.id for n in g.nodes if n.is_block)
    # repeat 2 chains the block's output (width) into its input (2): only width 2 fits
    sweep = Sweep(g, plan(g, [f"{block}.repeat=2", "ff.width=3,2"]), "val_loss")
    trials = sweep.run()
    assert [t.status for t in trials] == ["failed", "completed"]
    assert trials[0].message and "Traceback" not in trials[0].message and trials[0].final is None
    assert sweep.best() is trials[1]
    # a value the settings' rules refuse in combination fails that trial alone
    sweep = Sweep(g, plan(g, ["momentum=0,0.9", "nesterov=on"]), "loss")
    sweep.graph.training = {**sweep.graph.training, "optimizer": "sgd"}
    trials = sweep.run()
    assert trials[0].status == "failed" and "nesterov" in trials[0].message
    assert trials[1].status == "completed"


def test_stop_ends_after_the_trial_in_progress_and_cancel_stops_it():
    g = block_mlp()
    g.training = {**g.training, "epochs": 100_000}
    sweep = Sweep(g, plan(g, ["lr=0.01,0.02,0.03"]), "loss")
    started = threading.Event()

    def on_epoch(index, epoch, epochs, value):
        if epoch == 2:
            started.set()

    runner = threading.Thread(target=sweep.run, kwargs={"on_epoch": on_epoch})
    runner.start()
    assert started.wait(60)
    sweep.stop()
    assert sweep.stopping and runner.is_alive()  # the trial goes on ...
    sweep.stop(cancel=True)  # ... until it is cancelled
    runner.join(60)
    assert not runner.is_alive()
    assert [t.status for t in sweep.trials] == ["stopped", "skipped", "skipped"]
    assert sweep.trials[0].epochs >= 2 and sweep.trials[0].final is not None
