"""Fine-tuning: per-node initialisation and freezing in the compiled model, starting
weights from a file, and the best weights kept by the trainer."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from layerloom.backend.compile import compile_graph
from layerloom.backend.export import save_weights
from layerloom.backend.export.weights import load_model, read_safetensors
from layerloom.backend.node_training import parameter_counts
from layerloom.backend.training import DatasetSettings, Trainer, TrainSettings, prepare_data
from layerloom.backend.training.best import BestWeights
from layerloom.backend.training.init_weights import InitWeightsError, load_into, model_from_weights
from layerloom.graph import Graph, load_graph, save_graph
from tests.backend.helpers import moons_file
from tests.graph.helpers import chain


def mlp(hidden: int = 16) -> tuple[Graph, list[str]]:
    g = Graph()
    ids = chain(g, ("input", {"shape": [2]}), ("dense", {"units": hidden, "activation": "relu"}),
                ("dense", {"units": 2}), "output")
    return g, ids


# ------------------------------------------------------------- initialisation
@pytest.mark.parametrize("scheme", ["kaiming_normal", "kaiming_uniform", "xavier_normal",
                                    "xavier_uniform", "normal", "orthogonal", "zeros"])
def test_each_scheme_draws_the_weights_seeded(scheme):
    g, ids = mlp(64)
    g.node(ids[0]).params = {**g.node(ids[0]).params, "shape": (64,)}
    g.set_training(ids[1], {"init": scheme, "init_std": 0.5})
    a, b = compile_graph(g, seed=3), compile_graph(g, seed=3)
    w, bias = a.dense_1.weight, a.dense_1.bias
    assert torch.equal(w, b.dense_1.weight)  # reproducible
    assert torch.count_nonzero(bias) == 0  # biases start at zero
    fresh = compile_graph(mlp(64)[0], seed=3).dense_1.weight
    if scheme == "zeros":
        assert torch.count_nonzero(w) == 0
        return
    assert not torch.equal(w, fresh)
    std = float(w.detach().std())
    expected = {"kaiming_normal": (2 / 64) ** 0.5, "kaiming_uniform": (2 / 64) ** 0.5,
                "xavier_normal": (2 / 128) ** 0.5, "xavier_uniform": (2 / 128) ** 0.5,
                "normal": 0.5, "orthogonal": (1 / 64) ** 0.5}[scheme]
    assert std == pytest.approx(expected, rel=0.1)
    if scheme == "orthogonal":
        assert torch.allclose(w @ w.T, torch.eye(64), atol=1e-4)


def test_frozen_nodes_get_no_gradient_and_stay_out_of_the_optimizer():
    g, ids = mlp()
    g.set_training(ids[1], {"trainable": False})
    model = compile_graph(g, seed=0)
    assert [n for n, p in model.named_parameters() if not p.requires_grad] == ["dense_1.weight", "dense_1.bias"]
    assert parameter_counts(model) == (34, 48)
    data = prepare_data(DatasetSettings.from_dict({"name": "moons", "options": {"n_samples": 100}}), 0)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    trainer = Trainer(g, data.train, data.val, TrainSettings(epochs=2, lr=0.05), model=model)
    started = []
    trainer.on_event = lambda e: started.append(e) if e.kind == "started" else None
    assert trainer.run().kind == "finished"
    assert started[0].parameter_count == 82 and started[0].frozen_count == 48
    after = trainer.model.state_dict()
    assert torch.equal(after["dense_1.weight"], before["dense_1.weight"])
    assert not torch.equal(after["dense_2.weight"], before["dense_2.weight"])
    assert all(p is not model.dense_1.weight for group in trainer.optimizer.param_groups for p in group["params"])


def test_everything_frozen_is_a_clear_failure():
    g, ids = mlp()
    for nid in ids[1:3]:
        g.set_training(nid, {"trainable": False})
    data = prepare_data(DatasetSettings.from_dict({"name": "moons", "options": {"n_samples": 60}}), 0)
    final = Trainer(g, data.train, None, TrainSettings(epochs=1)).run()
    assert final.kind == "failed" and "every node with weights is frozen" in final.message


# ------------------------------------------------------------ starting weights
def test_weights_from_a_file_start_the_run_and_a_misfit_names_the_first_tensor(tmp_path):
    g, _ = mlp()
    trained = compile_graph(g, seed=5)
    path = save_weights(g, trained, tmp_path / "w.safetensors").path
    model = model_from_weights(g, path, seed=0)
    assert torch.equal(model.dense_1.weight, trained.dense_1.weight)
    other, _ = mlp(8)
    fresh = compile_graph(other, seed=1)
    kept = {k: v.clone() for k, v in fresh.state_dict().items()}
    with pytest.raises(InitWeightsError) as err:
        load_into(fresh, path)
    assert "tensor 'dense_1.weight' has shape (16, 2) in the file but the graph needs (8, 2)" in str(err.value)
    assert "and 2 more tensors do not fit" in str(err.value)
    assert all(torch.equal(kept[k], v) for k, v in fresh.state_dict().items())  # untouched
    (tmp_path / "empty").mkdir()
    with pytest.raises(InitWeightsError, match="holds no model.safetensors or best.safetensors"):
        load_into(fresh, tmp_path / "empty")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "model.safetensors").write_bytes(path.read_bytes())
    assert torch.equal(model_from_weights(g, tmp_path / "run").dense_1.weight, trained.dense_1.weight)


# ------------------------------------------------------------------ best weights
def test_best_weights_are_restored_at_the_end_and_survive_a_resume(tmp_path):
    g, _ = mlp()
    data = prepare_data(DatasetSettings.from_dict({"name": "moons", "options": {"n_samples": 200}}), 0)
    # a learning rate that overshoots after a few epochs, so the best epoch is not the last
    settings = TrainSettings(epochs=6, lr=0.3, optimizer="sgd", batch_size=0, seed=1)
    trainer = Trainer(g, data.train, data.val, settings)
    final = trainer.run()
    best = final.best
    losses = [e["val"]["loss"] for e in trainer.history]
    assert best["metric"] == "val_loss" and best["epoch"] == losses.index(min(losses)) + 1
    assert best["value"] == pytest.approx(min(losses))
    assert trainer.evaluate(data.val)["loss"] == pytest.approx(min(losses), rel=1e-5)
    off = Trainer(g, data.train, data.val, settings.replace(keep_best=False))
    assert off.run().best == {} and off.evaluate(data.val)["loss"] == pytest.approx(losses[-1], rel=1e-5)
    # by accuracy, highest wins
    acc = Trainer(g, data.train, data.val, settings.replace(monitor="val_accuracy"))
    assert acc.run().best["mode"] == "max"
    # stopped after 3 epochs and resumed: the kept weights go on from the checkpoint
    half = Trainer(g, data.train, data.val, settings, checkpoint_dir=tmp_path / "ck")
    half.on_event = lambda e: half.stop() if e.kind == "epoch" and e.epoch == 3 else None
    half.run()
    resumed = Trainer(g, data.train, data.val, settings, resume_from=tmp_path / "ck")
    assert resumed.run().best == best


def test_no_validation_means_no_best_weights():
    g, _ = mlp()
    data = prepare_data(DatasetSettings.from_dict({"name": "moons", "options": {"n_samples": 60},
                                                   "val_split": 0.0}), 0)
    assert BestWeights.for_run(TrainSettings(), has_validation=False) is None
    assert Trainer(g, data.train, None, TrainSettings(epochs=1)).run().best == {}


# ------------------------------------------------------------- the real command
def layerloom(*args, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "layerloom.gui.launcher", *map(str, args)],
                          capture_output=True, text=True, timeout=300, cwd=cwd)


def test_cli_init_freeze_and_save_best(tmp_path):
    path = moons_file(tmp_path, training={"epochs": 3, "lr": 0.05, "batch_size": 40})
    first = tmp_path / "first"
    done = layerloom("train", path, "--out", first, "--save-best", "val_accuracy", "--no-progress")
    assert done.returncode == 0, done.stderr
    report = json.loads((first / "metrics.json").read_text())
    assert report["best"]["metric"] == "val_accuracy" and report["settings"]["monitor"] == "val_accuracy"
    assert f"kept the weights of epoch {report['best']['epoch']}" in done.stdout
    meta, best = read_safetensors(first / "best.safetensors")
    assert meta["layerloom.best_epoch"] == str(report["best"]["epoch"])
    _, final = read_safetensors(first / "model.safetensors")
    assert all(torch.equal(best[k], final[k]) for k in best)  # restored at the end

    second = tmp_path / "second"
    done = layerloom("train", path, "--out", second, "--init", first, "--freeze", "dense_1", "--no-progress")
    assert done.returncode == 0, done.stderr
    assert "82 parameters (48 frozen)" in done.stderr
    _, tuned = read_safetensors(second / "model.safetensors")
    assert torch.equal(tuned["dense_1.weight"], final["dense_1.weight"])  # frozen, from --init
    assert not torch.equal(tuned["dense_2.weight"], final["dense_2.weight"])
    graph, _ = load_model(second / "model.safetensors")
    assert graph.node("dense_1").training == {"trainable": False}  # the snapshot says so
    assert load_graph(path).node("dense_1").training == {}  # the file itself is not changed


def test_cli_init_that_does_not_fit_writes_nothing(tmp_path):
    g, _ = mlp(8)
    g.dataset = {"name": "moons", "options": {"n_samples": 60}}
    save_graph(g, tmp_path / "small.loom")
    other, _ = mlp(16)
    save_weights(other, compile_graph(other, seed=0), tmp_path / "w.safetensors")
    out = tmp_path / "out"
    done = layerloom("train", tmp_path / "small.loom", "--init", tmp_path / "w.safetensors", "--out", out)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert ("tensor 'dense_1.weight' has shape (16, 2) in the file but the graph needs (8, 2)"
            in done.stderr)
    assert not out.exists()
    done = layerloom("train", tmp_path / "small.loom", "--freeze", "nope", "--out", out)
    assert done.returncode == 2 and "--freeze nope: no node with that id or label" in done.stderr
    done = layerloom("train", tmp_path / "small.loom", "--save-best", "val_loss", "--val-split", "0",
                     "--out", out)
    assert done.returncode == 2 and "needs a validation set" in done.stderr


def test_cli_layers_and_validate_show_the_node_settings(tmp_path):
    g, ids = mlp()
    g.set_training(ids[1], {"trainable": False, "init": "xavier_uniform"})
    save_graph(g, tmp_path / "g.loom")
    done = layerloom("validate", tmp_path / "g.loom")
    assert done.returncode == 0
    assert "Dense [frozen, init xavier_uniform]" in done.stdout
    assert "82 parameters (34 trainable, 48 frozen)" in done.stdout
    done = layerloom("layers", "conv2d", "--json")
    names = [p["name"] for p in json.loads(done.stdout)["node_training"]]
    assert names == ["trainable", "init", "init_std"]
    assert json.loads(layerloom("layers", "relu", "--json").stdout)["node_training"] == []


def test_a_frozen_block_freezes_its_inside_and_init_applies_inside_blocks():
    from layerloom.graph import make_block

    g, ids = mlp()
    g.set_training(ids[1], {"init": "zeros"})
    make_block(g, [ids[1]], "Hidden")
    block = next(n for n in g.nodes if n.is_block)
    model = compile_graph(g, seed=0)
    inner = [p for n, p in model.named_parameters() if n.startswith(block.id)]
    assert inner and all(torch.count_nonzero(p) == 0 for p in inner)  # zeros, inside the block
    g.set_training(block.id, {"trainable": False})
    frozen = compile_graph(g, seed=0)
    assert parameter_counts(frozen) == (34, 48)


def test_python_and_onnx_exports_of_a_fine_tuned_graph_still_match(tmp_path):
    from layerloom.backend.export import export_onnx, export_python

    g, ids = mlp()
    g.set_training(ids[1], {"trainable": False, "init": "orthogonal"})
    model = compile_graph(g, seed=2)
    export_python(g, model, tmp_path / "model.py")  # checked against the model in a fresh process
    export_onnx(g, model, tmp_path / "model.onnx")  # checked with onnxruntime
    assert (tmp_path / "model.py").is_file() and (tmp_path / "model.onnx").is_file()
