"""`layerloom train FILE`: outputs, overrides, Ctrl-C, resume, and one error line per bad input."""

import io
import json
import os
import signal

import pytest
import torch

from layerloom.backend.cli import main
from layerloom.backend.cli import train as train_cli
from layerloom.backend.export.weights import load_model
from layerloom.graph import Graph, save_graph
from tests.backend.helpers import error_line, moons_file
from tests.graph.helpers import chain


def test_trains_with_the_file_settings_and_writes_outputs(tmp_path, capsys):
    path = moons_file(tmp_path)
    out = tmp_path / "run"
    assert main(["train", str(path), "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "completed after 3 epoch(s)" in captured.out
    assert "epoch 3/3" in captured.err and "val_accuracy" in captured.err
    report = json.loads((out / "metrics.json").read_text())
    assert [e["epoch"] for e in report["epochs"]] == [1, 2, 3]
    assert report["final"]["val_loss"] == report["epochs"][-1]["val"]["loss"]
    assert report["device"] == "cpu" and report["stop_reason"] == "completed" and report["wall_time"] > 0
    assert report["settings"]["lr"] == 0.01
    graph, model = load_model(out / "model.safetensors")
    assert graph.dataset["name"] == "moons"
    assert (out / "checkpoint" / "model.safetensors").is_file()
    assert (out / "checkpoint" / "state.pt").is_file()


def test_command_line_overrides_the_file(tmp_path, capsys):
    path = moons_file(tmp_path)
    out = tmp_path / "run"
    code = main(["train", str(path), "--out", str(out), "--epochs", "2", "--batch-size", "full",
                 "--lr", "0.05", "--optimizer", "sgd", "--seed", "3", "--device", "cpu",
                 "--dataset", "circles"])
    assert code == 0
    report = json.loads((out / "metrics.json").read_text())
    s = report["settings"]
    assert (s["epochs"], s["batch_size"], s["lr"], s["optimizer"], s["seed"]) == (2, 0, 0.05, "sgd", 3)
    assert report["dataset"]["name"] == "circles" and report["dataset"]["options"] == {}
    assert report["steps"] == 2  # full batch: one step per epoch


def test_default_output_folder_is_runs_slash_name(tmp_path, capsys, monkeypatch):
    path = moons_file(tmp_path, training={"epochs": 1})
    monkeypatch.chdir(tmp_path)
    assert main(["train", str(path)]) == 0
    assert (tmp_path / "runs" / "moons" / "metrics.json").is_file()


def test_ctrl_c_stops_cleanly_with_a_checkpoint_and_resume_finishes(tmp_path, capsys, monkeypatch):
    path = moons_file(tmp_path, training={"epochs": 4, "batch_size": 20})
    out = tmp_path / "run"

    class InterruptAtStep12(train_cli.Progress):
        def __call__(self, event):
            super().__call__(event)
            if event.kind == "step" and event.step == 12:
                os.kill(os.getpid(), signal.SIGINT)  # the user presses Ctrl-C

    monkeypatch.setattr(train_cli, "Progress", InterruptAtStep12)
    monkeypatch.setattr(train_cli, "BAR_INTERVAL", 0.0)  # a step event for every step
    assert main(["train", str(path), "--out", str(out)]) == 130
    captured = capsys.readouterr()
    assert "stopping after this step" in captured.err and "--resume" in captured.err
    report = json.loads((out / "metrics.json").read_text())
    assert report["stop_reason"] == "stopped" and report["steps"] == 12
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handler restored

    monkeypatch.setattr(train_cli, "Progress", train_cli.Progress)
    assert main(["train", str(path), "--out", str(out), "--resume", str(out / "checkpoint")]) == 0
    report = json.loads((out / "metrics.json").read_text())
    assert report["stop_reason"] == "completed" and report["steps"] == 32
    assert [e["epoch"] for e in report["epochs"]] == [1, 2, 3, 4]


def test_progress_bar_draws_on_a_terminal():
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    from layerloom.backend.training.events import Epoch, Started, Step

    stream = Terminal()
    bar = train_cli.Progress(stream)
    bar(Started(10, 40, 4, "cpu", 100, 80, 20, 8))
    bar(Step(1, 5, 0.6931, 0.01, 1000.0))
    bar(Epoch(1, 10, {"loss": 0.5}, None, 0.01, 1.0))
    bar.close()
    text = stream.getvalue()
    assert "\repoch 1/4 [###......" in text and "5/40" in text and "loss 0.6931" in text
    assert "ETA" in text and "epoch 1/4  loss 0.5000" in text


# ----------------------------------------------------------------------- errors
def test_missing_file(tmp_path, capsys):
    assert main(["train", str(tmp_path / "nope.loom")]) != 0
    line, _ = error_line(capsys)
    assert "nope.loom" in line and "no such file" in line


def test_invalid_graph_prints_each_node_error(tmp_path, capsys):
    g = Graph()
    chain(g, ("input", {"shape": [2]}), ("conv2d", {}), ("dense", {}), "output")
    g.add_node("dense", {}, node_id="loose")
    g.connect("loose", "out", g.add_node("output").id, "in")
    path = tmp_path / "bad.loom"
    save_graph(g, path)
    assert main(["train", str(path)]) == 1
    line, err = error_line(capsys)
    assert "the graph has 2 error(s)" in line
    assert "  conv2d_1: " in err and "  loose: " in err


def test_unknown_dataset(tmp_path, capsys):
    path = moons_file(tmp_path)
    assert main(["train", str(path), "--dataset", "moonz"]) != 0
    line, _ = error_line(capsys)
    assert "moonz" in line and "not a built-in" in line


def test_no_dataset_chosen(tmp_path, capsys):
    path = moons_file(tmp_path, dataset={})
    assert main(["train", str(path)]) != 0
    line, _ = error_line(capsys)
    assert "no dataset is chosen" in line and "--dataset" in line


def test_dataset_graph_mismatch(tmp_path, capsys):
    path = moons_file(tmp_path, inputs=5)
    assert main(["train", str(path)]) != 0
    line, _ = error_line(capsys)
    assert "gives samples of shape (2,)" in line and "expects (5,)" in line


def test_unknown_training_setting_in_the_file(tmp_path, capsys):
    path = moons_file(tmp_path, training={"epochs": 2, "learning_rate": 0.1})
    assert main(["train", str(path)]) != 0
    line, _ = error_line(capsys)
    assert "at training.learning_rate: unknown training setting 'learning_rate'" in line
    assert "known settings are optimizer, lr," in line


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--epochs", "0"], "must be at least 1"),
        (["--epochs", "many"], "argument --epochs: epochs must be a whole number, got 'many'"),
        (["--lr", "-1"], "argument --lr: lr must be above 0, got -1.0"),
        (["--lr", "fast"], "argument --lr: lr must be a number, got 'fast'"),
        (["--batch-size", "abc"], "batch_size must be a whole number of samples or 'full'"),
        (["--optimizer", "lion"], "invalid choice: 'lion'"),
        (["--device", "tpu"], "device must be auto, cpu, cuda, cuda:N or mps, got 'tpu'"),
        (["--seed", "-2"], "argument --seed: seed must be at least 0, got -2"),
        (["--val-split", "1.5"], "argument --val-split: val_split must be below 1, got 1.5"),
        (["--resume", "nowhere"], "no checkpoint folder there"),
    ],
)
def test_bad_option_values(tmp_path, capsys, args, expected):
    path = moons_file(tmp_path)
    try:
        code = main(["train", str(path), "--out", str(tmp_path / "o"), *args])
    except SystemExit as exc:  # argparse's own checks exit with status 2
        code = exc.code
    assert code != 0
    line, _ = error_line(capsys)
    assert expected in line


def test_cuda_asked_without_a_gpu(tmp_path, capsys):
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    path = moons_file(tmp_path)
    assert main(["train", str(path), "--device", "cuda"]) != 0
    line, _ = error_line(capsys)
    assert "no CUDA GPU is available" in line
