"""Real multi-process runs on this machine (CPU, gloo, loopback): `layerloom train
--nproc 2` learns the same weights as one process, a failing rank ends the run
naming it, Ctrl-C stops every process after the same step, and the command runs
under torchrun itself. Each test starts a few Python processes (seconds each)."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from layerloom.backend.cli import main
from layerloom.backend.export.weights import load_model
from layerloom.backend.training.distributed import DEBUG_FAIL_VAR
from layerloom.backend.training.launch import free_port, train_command
from tests.backend.helpers import error_line, moons_file

ROOT = Path(__file__).resolve().parents[2]
TRAINING = {"epochs": 2, "lr": 0.02, "batch_size": 24, "seed": 5, "optimizer": "adam"}


@pytest.fixture(autouse=True)
def quiet_workers(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.delenv(DEBUG_FAIL_VAR, raising=False)
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK")}
    env.update(OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT), **extra)
    return env


def weight_gap(a: Path, b: Path) -> float:
    _, first = load_model(a)
    _, second = load_model(b)
    sa, sb = first.state_dict(), second.state_dict()
    assert sa.keys() == sb.keys()
    return max(float((sa[k] - sb[k]).abs().max()) for k in sa)


@pytest.fixture(scope="module")
def graph_file(tmp_path_factory):
    # 96 training samples, global batch 24: 4 steps per epoch, 12 rows per process
    folder = tmp_path_factory.mktemp("graph")
    path = moons_file(folder, training=TRAINING, dataset={"name": "moons", "options": {"n_samples": 120}})
    assert main(["train", str(path), "--out", str(folder / "alone"), "--no-progress"]) == 0
    return path, folder / "alone"


def test_two_processes_learn_the_weights_of_one(graph_file, tmp_path, capsys):
    path, alone = graph_file
    out = tmp_path / "two"
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    code = main(["train", str(path), "--out", str(out), "--nproc", "2", "--no-progress",
                 "--master-port", str(free_port())])
    assert code == 0
    assert {sig: signal.getsignal(sig) for sig in handlers} == handlers  # the launcher's are gone
    assert weight_gap(alone / "model.safetensors", out / "model.safetensors") < 1e-5
    one = json.loads((alone / "metrics.json").read_text())
    two = json.loads((out / "metrics.json").read_text())
    assert (two["processes"], two["backend"], two["steps"]) == (2, "gloo", one["steps"])
    # epoch losses and metrics are summed over both processes
    for a, b in zip(one["epochs"], two["epochs"], strict=True):
        assert b["train"] == pytest.approx(a["train"], abs=1e-5)
        assert b["val"] == pytest.approx(a["val"], abs=1e-5)
    assert (out / "checkpoint" / "state.pt").is_file()  # written by rank 0


def test_a_failing_rank_ends_the_run_and_is_named(graph_file, tmp_path, capsys, monkeypatch):
    path, _ = graph_file
    monkeypatch.setenv(DEBUG_FAIL_VAR, "1:3")
    code = main(["train", str(path), "--out", str(tmp_path / "run"), "--nproc", "2",
                 "--no-progress", "--master-port", str(free_port())])
    assert code == 1
    line, err = error_line(capsys)
    assert line.startswith("error: rank 1 failed: training failed at epoch 1, step 3")
    assert "failure injected on rank 1" in line
    assert not (tmp_path / "run" / "model.safetensors").exists()


def test_ctrl_c_stops_every_process_after_the_same_step(graph_file, tmp_path):
    path, _ = graph_file
    out = tmp_path / "run"
    command = train_command(path, 2, out=out, extra=("--epochs", "100000", "--master-port",
                                                     str(free_port())))
    proc = subprocess.Popen(command, cwd=ROOT, env=_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        seen = ""
        deadline = time.monotonic() + 60
        while "epoch 2/" not in seen and time.monotonic() < deadline:  # training is under way
            seen += proc.stderr.readline()
        assert "epoch 2/" in seen, seen
        proc.send_signal(signal.SIGINT)  # to the launcher alone: it tells the workers
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr
    assert "stopping every process after this step" in stderr and "Traceback" not in stderr
    report = json.loads((out / "metrics.json").read_text())
    assert report["stop_reason"] == "stopped" and report["processes"] == 2
    assert "stopped after" in stdout
    state = torch.load(out / "checkpoint" / "state.pt", weights_only=True)
    assert state["progress"]["step"] == report["steps"] >= 4


def test_the_command_joins_a_run_started_by_torchrun(graph_file, tmp_path):
    path, alone = graph_file
    out = tmp_path / "torchrun"
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2",
         "--master-addr", "127.0.0.1", "--master-port", str(free_port()),
         "-m", "layerloom.backend.training", str(path), "--out", str(out), "--no-progress"],
        cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "training on 2 processes" in done.stderr
    assert weight_gap(alone / "model.safetensors", out / "model.safetensors") < 1e-5
