"""`layerloom sweep FILE --set ...` through the real command line."""

from __future__ import annotations

import contextlib
import csv
import json
import os
import signal
import subprocess
import sys

import pytest

from layerloom.backend.cli import main
from layerloom.backend.training.sweep import plan
from layerloom.backend.training.sweep_run import Sweep
from layerloom.graph import load_graph, save_graph
from tests.backend.helpers import error_line
from tests.backend.test_sweep import block_mlp


def cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "layerloom.gui.launcher", "sweep", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd, timeout=300)


@pytest.fixture
def block_file(tmp_path):
    path = tmp_path / "ff.loom"
    save_graph(block_mlp(), path)
    return path


def test_a_grid_prints_a_table_with_the_best_marked_and_writes_csv(block_file, tmp_path):
    text = block_file.read_text()
    out = tmp_path / "results.csv"
    proc = cli(block_file, "--set", "lr=1e-4:1e-1:log:2", "--set", "ff.width=4,8", "--metric", "val_accuracy",
               "--epochs", "1", "-o", out)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split()[:4] == ["lr", "ff.width", "final", "val_accuracy"] and "status" in lines[0]
    assert len(lines) == 6 and sum(line.startswith("*") for line in lines) == 1
    assert lines[-1].startswith("best: lr=") and "4 trial(s)" in lines[-1]
    assert "trial 4/4: lr=0.1, ff.width=8: completed" in proc.stderr
    rows = list(csv.DictReader(out.open()))
    assert [(r["lr"], r["ff.width"]) for r in rows] == [("0.0001", "4"), ("0.0001", "8"), ("0.1", "4"), ("0.1", "8")]
    assert all(r["status"] == "completed" and 0 <= float(r["final_val_accuracy"]) <= 1 for r in rows)
    assert all(r["epochs"] == "1" for r in rows)
    assert block_file.read_text() == text  # a sweep never changes the file


def test_json_output_and_a_json_file_hold_every_trial(block_file, tmp_path):
    out = tmp_path / "results.json"
    proc = cli(block_file, "--set", "optimizer=adam,sgd", "--epochs", "1", "--json", "--out", out,
               "--batch-size", "50")
    assert proc.returncode == 0, proc.stderr
    printed = json.loads(proc.stdout)
    assert printed == json.loads(out.read_text())
    assert printed["metric"] == "val_loss" and printed["higher_is_better"] is False  # the file's monitor
    assert [t["values"]["optimizer"] for t in printed["trials"]] == ["adam", "sgd"]
    assert printed["axes"][0]["values"] == ["adam", "sgd"] and printed["best"] in (0, 1)


def test_a_failing_trial_is_recorded_and_the_others_run_on_worker_processes(block_file):
    graph = load_graph(block_file)
    block = next(n.id for n in graph.nodes if n.is_block)
    # repeat 2 chains the block into itself: only width 2 (the input's size) fits
    proc = cli(block_file, "--set", f"{block}.repeat=2", "--set", "ff.width=3,2", "--epochs", "1",
               "--workers", "2", "--json", "--metric", "val_accuracy")
    assert proc.returncode == 0, proc.stderr
    trials = json.loads(proc.stdout)["trials"]
    assert [t["status"] for t in trials] == ["failed", "completed"]
    assert trials[0]["message"] and "Traceback" not in proc.stderr
    # a trial in its own process gives the numbers of one in this process
    here = Sweep(graph, plan(graph, [f"{block}.repeat=2", "ff.width=2"]), "val_accuracy", epochs=1).run()
    assert trials[1]["final"] == pytest.approx(here[0].final)


def test_every_trial_failing_ends_with_an_error(block_file):
    graph = load_graph(block_file)
    block = next(n.id for n in graph.nodes if n.is_block)
    proc = cli(block_file, "--set", f"{block}.repeat=2,3", "--epochs", "1")
    assert proc.returncode == 1 and "every trial failed" in proc.stderr
    assert "failed" in proc.stdout and "Traceback" not in proc.stderr


@pytest.mark.parametrize(("args", "words"), [
    ([], ["nothing to sweep"]),
    (["--set", "lrr=0.1"], ["unknown setting 'lrr'", "did you mean 'lr'"]),
    (["--set", "lr=1e-4:1e-1:log"], ["lr=1e-4:1e-1:log", "START:STOP:SCALE:COUNT"]),
    (["--set", "ff.depth=1,2"], ["block 'ff' exposes no parameter 'depth'"]),
    (["--set", "lr=0.1", "--metric", "val_acc"], ["unknown metric 'val_acc'"]),
    (["--set", "lr=0.1", "-o", "results.txt"], ["--out results.txt", ".csv or .json"]),
    (["--set", "lr=0.1", "--workers", "0"], ["--workers", "between 1 and 64"]),
])
def test_bad_input_ends_in_one_error_line(block_file, args, words, capsys, monkeypatch):
    monkeypatch.chdir(block_file.parent)
    with pytest.raises(SystemExit) if "--workers" in args else contextlib.nullcontext():
        assert main(["sweep", str(block_file), *args]) == 2
    line, _ = error_line(capsys)
    for word in words:
        assert word in line


def test_a_bad_spec_through_the_real_command_and_the_help(block_file):
    proc = cli(block_file, "--set", "lr=1e-4:1e-1:exp:4")
    assert proc.returncode == 2 and proc.stderr.startswith("error: lr=1e-4:1e-1:exp:4: the scale must be log or lin")
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    proc = subprocess.run([sys.executable, "-m", "layerloom.gui.launcher", "sweep", "--help"],
                          capture_output=True, text=True, timeout=120)
    assert "--set NAME=VALUES" in proc.stdout and "--workers" in proc.stdout


def test_ctrl_c_ends_after_the_trial_and_twice_stops_it(block_file, tmp_path, capsys, monkeypatch):
    from layerloom.backend.cli import sweep as sweep_cli

    out = tmp_path / "partial.csv"
    report = sweep_cli._report

    def pressing_ctrl_c(sweep):
        show = report(sweep)

        def on_trial(trial):
            show(trial)
            if trial.status == "running":  # the user presses Ctrl-C twice as the first trial starts
                os.kill(os.getpid(), signal.SIGINT)
                os.kill(os.getpid(), signal.SIGINT)

        return on_trial

    monkeypatch.setattr(sweep_cli, "_report", pressing_ctrl_c)
    code = main(["sweep", str(block_file), "--set", "lr=0.01,0.02,0.03", "--epochs", "100000", "-o", str(out)])
    assert code == 130
    captured = capsys.readouterr()
    assert "stopping after this trial (Ctrl-C again" in captured.err and "stopping this trial" in captured.err
    assert [row["status"] for row in csv.DictReader(out.open())] == ["stopped", "skipped", "skipped"]
    assert captured.out.count("skipped") == 2, captured.err
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handler restored
