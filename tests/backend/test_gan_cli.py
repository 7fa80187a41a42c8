"""``layerloom train`` and ``layerloom export --network`` on a GAN project, through the real CLI."""

from __future__ import annotations

import json
import subprocess
import sys

import onnxruntime
import pytest
from PIL import Image

from layerloom.backend.templates import load_template
from layerloom.graph import save_graph


def cli(*args: str, timeout: int = 240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "layerloom.gui.launcher", *args],
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The mixture template trained for 2 epochs on a small set, headless."""
    folder = tmp_path_factory.mktemp("gan")
    graph = load_template("gan_mixture")
    graph.dataset = {**graph.dataset, "options": {**graph.dataset["options"], "n_samples": 400}}
    path = folder / "ring.loom"
    save_graph(graph, path)
    done = cli("train", str(path), "--epochs", "2", "--out", str(folder / "run"), "--no-progress")
    return folder, done


def test_train_writes_weights_metrics_and_a_sample_picture_per_epoch(trained):
    folder, done = trained
    assert done.returncode == 0, done.stderr
    run = folder / "run"
    assert sorted(p.name for p in (run / "samples").iterdir()) == [
        "epoch_000.png", "epoch_001.png", "epoch_002.png"]
    with Image.open(run / "samples" / "epoch_002.png") as picture:
        assert picture.size == (320, 320)
    report = json.loads((run / "metrics.json").read_text())
    assert report["task"] == "gan" and len(report["epochs"]) == 2
    assert report["discriminator_steps"] == 8 and report["generator_steps"] == 8
    assert {"d_loss", "g_loss", "real_accuracy", "fake_accuracy", "modes_covered"} <= set(report["final"])
    assert "discriminator and 8 generator steps" in done.stdout
    assert "epoch 2/2" in done.stderr and "d_loss" in done.stderr


def test_the_generator_exports_alone_as_onnx_and_python(trained):
    folder, _ = trained
    model = folder / "run" / "model.safetensors"
    done = cli("export", str(model), "--network", "generator", "-o", str(folder / "gen.onnx"))
    assert done.returncode == 0, done.stderr
    session = onnxruntime.InferenceSession(str(folder / "gen.onnx"))
    (inp,), (out,) = session.get_inputs(), session.get_outputs()
    assert inp.shape[1:] == [8] and out.shape[1:] == [2]  # noise in, a point out
    done = cli("export", str(model), "--network", "Discriminator", "-o", str(folder / "disc.py"))
    assert done.returncode == 0, done.stderr
    assert "class" in (folder / "disc.py").read_text()
    done = cli("export", str(model), "--network", "critic", "-o", str(folder / "x.onnx"))
    assert done.returncode != 0 and "no block node 'critic'" in done.stderr
    assert "'Generator' (block generator)" in done.stderr


def test_a_generator_that_does_not_fit_fails_with_both_shapes(tmp_path):
    graph = load_template("gan_mixture")
    body = graph.blocks["generator"].body
    last = next(n for n in body.nodes if n.label == "Point (x, y)")
    body.set_param(last.id, "units", 3)
    path = tmp_path / "bad.loom"
    save_graph(graph, path)
    done = cli("train", str(path), "--epochs", "1", "--out", str(tmp_path / "run"))
    assert done.returncode == 1
    assert "makes samples of shape (3,)" in done.stderr and "takes (2,)" in done.stderr
    assert "Traceback" not in done.stderr


def test_task_gan_on_the_command_line_and_refused_options(tmp_path):
    graph = load_template("gan_mixture")
    graph.training = {**graph.training, "task": "supervised"}
    path = tmp_path / "g.loom"
    save_graph(graph, path)
    done = cli("train", str(path), "--task", "gan", "--nproc", "2", "--out", str(tmp_path / "r"))
    assert done.returncode == 2 and "a GAN project trains in one process" in done.stderr
