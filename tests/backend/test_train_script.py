"""`layerloom export FILE --format train-script`: a standalone training script that
needs only torch, trains like LayerLoom (under torchrun too), and reads its data
from a NumPy .npz file without numpy."""

import ast
import importlib.util
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from layerloom.backend.cli import main
from layerloom.backend.export import FORMATS
from layerloom.backend.export import train_script_runtime as runtime
from layerloom.backend.export.weights import load_model
from layerloom.backend.training import (
    DatasetSettings,
    Objective,
    Trainer,
    TrainSettings,
    prepare_data,
)
from layerloom.backend.training.launch import free_port
from layerloom.graph import load_graph
from tests.backend.helpers import error_line, moons_file

ROOT = Path(__file__).resolve().parents[2]
# exercises momentum, a per-step schedule and clipping, which the script must mirror
TRAINING = {"epochs": 2, "lr": 0.05, "batch_size": 20, "seed": 4, "optimizer": "sgd",
            "momentum": 0.9, "schedule": "cosine", "grad_clip": 1.0}



@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    folder = tmp_path_factory.mktemp("script")
    path = moons_file(folder, training=TRAINING, dataset={"name": "moons", "options": {"n_samples": 100}})
    script = folder / "train.py"
    assert main(["export", str(path), "--format", "train-script", "-o", str(script),
                 "--with-data", "--seed", str(TRAINING["seed"])]) == 0
    return path, script


def layerloom_weights(path: Path) -> dict[str, torch.Tensor]:
    """What `layerloom train` learns from the file (one process)."""
    graph = load_graph(path)
    settings = TrainSettings.from_dict(graph.training)
    data = prepare_data(DatasetSettings.from_dict(graph.dataset), settings.seed, str(path.parent))
    trainer = Trainer(graph, data.train, data.val, settings)
    assert trainer.run().kind == "finished"
    return trainer.model.state_dict()


def import_script(script: Path):
    spec = importlib.util.spec_from_file_location("exported_train_script", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_export_writes_script_weights_and_data(exported, capsys):
    path, script = exported
    folder = script.parent
    assert {p.name for p in folder.iterdir()} >= {"train.py", "train.safetensors", "train.npz"}
    modules = set()
    for node in ast.walk(ast.parse(script.read_text())):
        if isinstance(node, ast.Import):
            modules |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            modules.add(node.module.split(".")[0])
    assert "torch" in modules and not modules & {"layerloom", "backend", "graph", "numpy", "safetensors"}
    data = np.load(folder / "train.npz", allow_pickle=False)
    assert sorted(data.files) == ["x", "x_val", "y", "y_val"] and len(data["x"]) == 80
    assert "train-script" in FORMATS


def test_the_script_trains_like_layerloom_in_one_process(exported, tmp_path):
    path, script = exported
    module = import_script(script)  # needs only torch: runs here without a subprocess
    assert module.main(["--out", str(tmp_path / "run")], module.Model, module.CONFIG, str(script),
                       module.load_safetensors) == 0
    trained = load_file(tmp_path / "run" / "model.safetensors")
    expected = layerloom_weights(path)
    assert max(float((trained[k] - expected[k]).abs().max()) for k in expected) < 1e-5
    graph, _ = load_model(tmp_path / "run" / "model.safetensors")  # LayerLoom reopens it
    assert graph.training["optimizer"] == "sgd"
    report = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert [e["epoch"] for e in report["epochs"]] == [1, 2] and "val" in report["epochs"][0]


def test_the_script_runs_under_torchrun_with_two_processes(exported, tmp_path):
    path, script = exported
    env = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK")}
    env.update(OMP_NUM_THREADS="1")
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2",
         "--master-addr", "127.0.0.1", "--master-port", str(free_port()),
         str(script), "--out", str(tmp_path / "run")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "training on 2 process(es)" in done.stdout
    trained = load_file(tmp_path / "run" / "model.safetensors")
    expected = layerloom_weights(path)
    assert max(float((trained[k] - expected[k]).abs().max()) for k in expected) < 1e-5


def test_with_data_belongs_to_the_train_script(tmp_path, capsys):
    path = moons_file(tmp_path)
    assert main(["export", str(path), "--format", "python", "-o", str(tmp_path / "m.py"),
                 "--with-data"]) == 2
    line, _ = error_line(capsys)
    assert "--with-data goes with --format train-script, not python" in line


def test_a_graph_without_dataset_cannot_become_a_training_script(tmp_path, capsys):
    path = moons_file(tmp_path, dataset={})
    assert main(["export", str(path), "--format", "train-script", "-o", str(tmp_path / "t.py")]) == 2
    line, _ = error_line(capsys)
    assert "needs the graph's dataset" in line
    assert not (tmp_path / "t.py").exists()


# ------------------------------------------------------------------ runtime
@pytest.mark.parametrize("compressed", [False, True])
def test_npz_files_read_without_numpy_match_numpy(tmp_path, compressed):
    rng = np.random.default_rng(0)
    arrays = {"x": rng.standard_normal((5, 3)).astype(np.float32), "y": rng.integers(0, 4, 5),
              "d": rng.standard_normal(4), "b": np.array([True, False]), "u": np.arange(6, dtype=np.uint8),
              "empty": np.zeros((0, 2), np.float32), "scalar": np.float32(2.5)}
    target = tmp_path / "d.npz"
    (np.savez_compressed if compressed else np.savez)(target, **arrays)
    read = runtime.read_npz(target)
    assert read.keys() == arrays.keys()
    for name, array in arrays.items():
        assert read[name].shape == array.shape and np.array_equal(read[name].numpy(), array), name


def test_npz_with_objects_or_fortran_order_is_refused(tmp_path):
    np.savez(tmp_path / "o.npz", x=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ValueError, match="cannot be read"):
        runtime.read_npz(tmp_path / "o.npz")
    np.savez(tmp_path / "f.npz", x=np.asfortranarray(np.ones((2, 3), np.float32)))
    with pytest.raises(ValueError, match="fortran order True"):
        runtime.read_npz(tmp_path / "f.npz")
    with zipfile.ZipFile(tmp_path / "bad.npz", "w") as archive:
        archive.writestr("x.npy", b"not an array")
    with pytest.raises(ValueError, match="not a NumPy array"):
        runtime.read_npz(tmp_path / "bad.npz")


def test_safetensors_written_without_the_package_read_back(tmp_path):
    tensors = {"w": torch.randn(3, 4), "i": torch.arange(5), "h": torch.randn(2).half(),
               "flag": torch.tensor([True, False]), "e": torch.zeros(0, 3)}
    runtime.write_safetensors(tensors, tmp_path / "m.safetensors", {"k": "v"})
    back = load_file(tmp_path / "m.safetensors")
    assert back.keys() == tensors.keys() and all(torch.equal(back[k], tensors[k]) for k in tensors)
    assert runtime.read_safetensors_metadata(tmp_path / "m.safetensors") == {"k": "v"}
    save_file({"a": torch.ones(2)}, str(tmp_path / "p.safetensors"), metadata={"m": "1"})
    assert runtime.read_safetensors_metadata(tmp_path / "p.safetensors") == {"m": "1"}


@pytest.mark.parametrize(("loss", "task", "classes", "shape"), [
    ("auto", "classification", 3, (3,)), ("mse", "classification", 3, (3,)),
    ("bce_with_logits", "classification", 2, (1,)), ("huber", "regression", None, (2,)),
    ("cross_entropy", "sequence", 5, (4, 5)), ("auto", "segmentation", 3, (3, 4, 5)),
    ("mse", "segmentation", 3, (3, 4, 5)),
])
def test_script_losses_equal_layerloom_losses(loss, task, classes, shape):
    objective = Objective(loss, task, classes, shape, huber_delta=0.5)
    config = {"loss": objective.name, "task": task, "num_classes": classes, "output_shape": list(shape),
              "huber_delta": 0.5, "single_output": objective.single_output,
              "threshold": objective.threshold}
    loss_fn, targets, predict = runtime.loss_function(config)
    g = torch.Generator().manual_seed(1)
    out = torch.randn(6, *shape, generator=g)
    if task == "regression":
        y = torch.randn(6, *shape, generator=g)
    else:
        per_sample = shape[1:] if task == "segmentation" else shape[:-1]  # a mask (H, W), or tokens
        y = torch.randint(0, classes, (6, *per_sample), generator=g)
    assert torch.equal(targets(y), objective.loss_targets(y))
    assert float(loss_fn(out, targets(y))) == pytest.approx(float(objective(out, objective.loss_targets(y))))
    if task != "regression":
        assert torch.equal(predict(out), objective.predictions(out))


def test_the_script_keeps_frozen_nodes_frozen_and_the_best_weights(tmp_path):
    from layerloom.graph import save_graph

    path = moons_file(tmp_path, training={"epochs": 6, "lr": 3.0, "optimizer": "sgd", "batch_size": 0,
                                          "seed": 1}, dataset={"name": "moons", "options": {"n_samples": 200}})
    graph = load_graph(path)
    graph.set_training("dense_1", {"trainable": False})
    save_graph(graph, path)
    script = tmp_path / "train.py"
    assert main(["export", str(path), "--format", "train-script", "-o", str(script), "--with-data",
                 "--seed", "1"]) == 0
    module = import_script(script)
    assert module.CONFIG["frozen"] == ["dense_1.weight", "dense_1.bias"]
    assert module.main(["--out", str(tmp_path / "run")], module.Model, module.CONFIG, str(script),
                       module.load_safetensors) == 0
    trained = load_file(tmp_path / "run" / "model.safetensors")
    start = load_file(tmp_path / "train.safetensors")
    assert torch.equal(trained["dense_1.weight"], start["dense_1.weight"])
    expected = layerloom_weights(path)  # LayerLoom also restores its best epoch's weights
    assert max(float((trained[k] - expected[k]).abs().max()) for k in expected) < 1e-5
    report = json.loads((tmp_path / "run" / "metrics.json").read_text())
    losses = [e["val"]["loss"] for e in report["epochs"]]
    assert report["best"]["epoch"] == losses.index(min(losses)) + 1
