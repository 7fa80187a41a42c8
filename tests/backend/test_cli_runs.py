"""Runs kept next to their graph: `layerloom train` writes NAME.runs/run-NNN, and
`layerloom runs FILE [show|compare|delete]` reads them, through the real CLI.
Damaged runs, runs of a newer LayerLoom and of an earlier graph are listed with the
reason and can be deleted; a killed write leaves nothing that breaks listing."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

from layerloom.backend.export.weights import load_model
from layerloom.backend.runs import (
    HistoryRecorder,
    NewRun,
    compare_runs,
    find_run,
    graph_changes,
    list_runs,
    runs_folder,
    write_run,
)
from layerloom.backend.runs.history import Curve, curves_from_json, curves_to_json
from layerloom.graph import load_graph, save_graph
from tests.backend.helpers import moons_file


def layerloom(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "layerloom.gui.launcher", *map(str, args)],
                          capture_output=True, text=True, timeout=180)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A graph trained twice through the real CLI (the second with other settings)."""
    folder = tmp_path_factory.mktemp("runs")
    path = moons_file(folder, training={"epochs": 2, "lr": 0.01, "batch_size": 40})
    first = layerloom("train", path, "--out", folder / "out", "--no-progress")
    assert first.returncode == 0, first.stderr
    assert "kept as run-001" in first.stdout
    second = layerloom("train", path, "--out", folder / "out", "--no-progress", "--lr", "0.05", "--epochs", "3")
    assert second.returncode == 0, second.stderr
    assert "kept as run-002" in second.stdout
    return path


def test_train_keeps_settings_graph_curves_and_weights(trained):
    run = find_run(trained, "2")
    assert run.ok and run.id == "run-002" and run.status == "finished" and run.source == "cli"
    assert run.training["lr"] == 0.05 and run.training["epochs"] == 3  # the settings it ran with
    assert run.dataset["name"] == "moons" and run.epochs == 3 and run.steps == 12
    assert run.graph.training["lr"] == 0.05  # the snapshot carries them too (restore gives them back)
    curves = run.history()
    assert {"loss", "lr", "epoch_loss", "val_loss", "accuracy", "val_accuracy"} <= set(curves)
    assert curves["val_loss"][0] == [4.0, 8.0, 12.0]
    assert math.isclose(curves["val_loss"][1][-1], run.final["val_loss"], rel_tol=1e-5)
    graph, model = load_model(run.weights)  # as Save Weights writes them: the graph embedded
    assert graph.dataset["name"] == "moons" and sum(p.numel() for p in model.parameters()) == 82
    # the best epoch's weights are kept (on by default with validation), and the record says which
    assert run.best["metric"] == "val_loss" and 1 <= run.best["epoch"] <= 3
    assert math.isclose(run.best["value"], min(curves["val_loss"][1]), rel_tol=1e-5)
    assert not list(runs_folder(trained).glob(".tmp-*"))


def test_list_show_and_compare_through_the_cli(trained):
    listed = layerloom("runs", trained)
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[0].split()[:3] == ["ID", "STATE", "WHEN"]
    assert lines[1].startswith("run-001  finished") and lines[2].startswith("run-002  finished")
    assert lines[1].endswith("same graph")
    as_json = json.loads(layerloom("runs", trained, "--json").stdout)
    assert [r["id"] for r in as_json] == ["run-001", "run-002"]
    assert as_json[1]["training"]["lr"] == 0.05 and as_json[1]["weights"].endswith("model.safetensors")

    shown = layerloom("runs", trained, "show", "run-1")
    assert shown.returncode == 0, shown.stderr
    assert "state: finished" in shown.stdout and "graph: the same as in the file now" in shown.stdout
    assert "lr=0.01" in shown.stdout and "model.safetensors (epoch " in shown.stdout
    assert "best val_loss" in shown.stdout

    compared = layerloom("runs", trained, "compare", "1", "2")
    assert compared.returncode == 0, compared.stderr
    rows = {line.split("  ")[0]: line for line in compared.stdout.splitlines()}
    assert "training: lr" in rows and "0.01" in rows["training: lr"] and "0.05" in rows["training: lr"]
    assert "training: epochs" in rows and "result: val_loss" in rows
    assert "training: optimizer" not in rows  # only what differs
    table = json.loads(layerloom("runs", trained, "compare", "1", "2", "--json").stdout)
    lr = next(r for r in table["rows"] if r["section"] == "training" and r["name"] == "lr")
    assert lr["values"] == ["0.01", "0.05"]


def test_graph_edited_since_is_named_in_list_show_and_compare(trained, tmp_path):
    graph = load_graph(trained)
    dense = next(n for n in graph.nodes if n.type == "dense" and n.params.get("units") == 16)
    graph.set_params(dense.id, {"units": 32})
    edited = tmp_path / "moons.loom"
    save_graph(graph, edited)
    runs_folder(trained).rename(runs_folder(edited))  # the same runs beside the edited file
    try:
        listed = layerloom("runs", edited).stdout
        assert "an earlier version of the graph" in listed
        shown = layerloom("runs", edited, "show", "1").stdout
        assert f"{dense.id}.units: 16 -> 32" in shown
        new = NewRun(graph, graph.training, graph.dataset, "failed", message="boom")
        third = write_run(edited, new)  # a failed run: no weights
        compared = layerloom("runs", edited, "compare", "1", third.id).stdout
        assert f"graph: {dense.id}.units" in compared and "parameters" in compared
        assert third.weights is None and third.status == "failed"
        assert "none (the run trained nothing to keep)" in layerloom("runs", edited, "show", "3").stdout
        assert layerloom("runs", edited, "delete", "3").returncode == 0
    finally:
        runs_folder(edited).rename(runs_folder(trained))


def test_damaged_newer_and_stray_folders_are_listed_with_the_reason_and_deletable(tmp_path):
    path = moons_file(tmp_path)
    graph = load_graph(path)
    good = write_run(path, NewRun(graph, graph.training, graph.dataset, "finished"))
    folder = runs_folder(path)
    for name in ("run-002", "run-003", "run-004", "run-005"):
        (folder / name).mkdir()
    (folder / "run-002" / "run.json").write_text("{ truncated")
    (folder / "run-003" / "run.json").write_text(json.dumps({"format": "layerloom.run", "format_version": 9}))
    # run-004: no run.json at all
    (folder / "run-005" / "run.json").write_text((good.folder / "run.json").read_text())
    (folder / "run-005" / "graph.loom").write_text('{"format": "layerloom.graph", "format_version": 2, "nod')
    (folder / "notes").mkdir()
    (folder / ".tmp-abc").mkdir()  # a write that was killed: ignored

    listed = layerloom("runs", path)
    assert listed.returncode == 0 and "Traceback" not in listed.stderr
    out = {line.split()[0]: line for line in listed.stdout.splitlines()[1:]}
    assert set(out) == {"run-001", "run-002", "run-003", "run-004", "run-005", "notes"}
    assert "not valid JSON" in out["run-002"]
    assert "newer LayerLoom (run format 9" in out["run-003"]
    assert "run.json is missing" in out["run-004"]
    assert "its graph cannot be read" in out["run-005"]
    assert "not a run folder" in out["notes"]
    shown = layerloom("runs", path, "show", "run-003")
    assert shown.returncode == 0 and "update LayerLoom" in shown.stdout and "delete run-003" in shown.stdout
    refused = layerloom("runs", path, "compare", "1", "2")
    assert refused.returncode == 2 and refused.stderr.startswith("error: run-002 cannot be compared")
    deleted = layerloom("runs", path, "delete", "2", "run-003", "4", "5", "notes")
    assert deleted.returncode == 0, deleted.stderr
    assert [r.id for r in list_runs(path)] == ["run-001"]
    assert write_run(path, NewRun(graph, {}, {}, "stopped")).id == "run-002"  # after the highest left


def test_bad_usage_is_one_error_line(tmp_path):
    path = moons_file(tmp_path)
    missing = layerloom("runs", path, "show", "7")
    assert missing.returncode == 2 and missing.stderr.strip().startswith("error: no run '7'")
    assert "runs: none yet" in missing.stderr
    assert layerloom("runs", path, "compare", "1").stderr.startswith("error: runs compare takes two or more")
    assert "no such file" in layerloom("runs", tmp_path / "nope.loom").stderr
    assert "no runs of moons.loom yet" in layerloom("runs", path).stdout


def test_no_record_keeps_nothing(tmp_path):
    path = moons_file(tmp_path, training={"epochs": 1, "batch_size": "full"})
    done = layerloom("train", path, "--out", tmp_path / "out", "--no-progress", "--no-record")
    assert done.returncode == 0, done.stderr
    assert not runs_folder(path).exists() and "kept as" not in done.stdout


def test_a_run_folder_that_cannot_be_written_warns_and_the_command_succeeds(tmp_path):
    path = moons_file(tmp_path, training={"epochs": 1, "batch_size": "full"})
    runs_folder(path).write_text("a file where the runs folder goes")
    done = layerloom("train", path, "--out", tmp_path / "out", "--no-progress")
    assert done.returncode == 0, done.stderr
    assert "warning: the run is not kept with the graph" in done.stderr
    assert (tmp_path / "out" / "model.safetensors").is_file()


# ------------------------------------------------------------- the pieces alone
def test_curves_stay_bounded_and_round_trip():
    curve = Curve(capacity=8)
    for step in range(1, 101):
        curve.append(step, 1.0 / step)
    assert len(curve) <= 8 and curve.xs[-1] > 80
    data = curves_to_json({"loss": (curve.xs, curve.ys), "gap": ([1, 2], [math.nan, 2.0])})
    back = curves_from_json(json.loads(json.dumps(data)))
    assert back["loss"][0] == pytest.approx(curve.xs) and math.isnan(back["gap"][1][0])
    for bad in ({"loss": {"x": [1], "y": [1, 2]}}, {"loss": {"x": ["a"], "y": [1]}}, [1]):
        with pytest.raises(ValueError):
            curves_from_json(bad)


def test_recorder_folds_the_trainer_events():
    from layerloom.backend.training.events import Epoch, Failed, Step

    recorder = HistoryRecorder()
    recorder(Step(1, 1, 0.9, 0.1, 10.0))
    recorder(Epoch(1, 1, {"loss": 0.8, "accuracy": 0.5}, {"loss": 0.7, "accuracy": 0.6}, 0.1, 1.0))
    recorder(Failed("nan loss"))
    assert recorder.curves["val_accuracy"].ys == [0.6] and recorder.status == "failed"


def test_graph_changes_and_compare_of_objects(tmp_path):
    graph = load_graph(moons_file(tmp_path))
    other = graph.copy()
    first = [n for n in other.nodes if n.type == "dense"][0]
    other.set_params(first.id, {"units": 8})
    assert graph_changes(graph, other) == [f"{first.id}.units: 16 -> 8"]
    assert graph_changes(graph, graph.copy()) == []

    class R:
        def __init__(self, label, g, lr):
            self.label, self.graph, self.training, self.dataset = label, g, {"lr": lr}, {}
            self.final, self.steps = {"loss": 0.5}, 3

    table = compare_runs([R("a", graph, 0.1), R("b", other, 0.1)])
    names = [(s, n) for s, n, _ in table.rows]
    assert ("graph", f"{first.id}.units") in names and ("training", "lr") not in names


def test_a_failed_run_is_kept_with_its_message_and_no_weights(tmp_path, capsys):
    from layerloom.backend.cli import main

    path = moons_file(tmp_path)
    code = main(["train", str(path), "--out", str(tmp_path / "out"), "--no-progress", "--lr", "1000",
                 "--optimizer", "sgd", "--epochs", "20"])
    assert code == 1
    run = find_run(path, "1")
    assert run.status == "failed" and "loss became nan" in run.message and run.weights is None
    assert run.training["lr"] == 1000 and "epoch_loss" in run.history()


def test_a_write_that_breaks_half_way_leaves_no_run(tmp_path, monkeypatch):
    import layerloom.backend.runs.store as store

    path = moons_file(tmp_path)
    graph = load_graph(path)

    def killed(*args):
        raise KeyboardInterrupt  # the process is stopped while the weights are written

    monkeypatch.setattr(store, "_write_weights", killed)
    with pytest.raises(KeyboardInterrupt):
        write_run(path, NewRun(graph, {}, {}, "finished"), model=object())
    assert list(runs_folder(path).iterdir()) == [] and list_runs(path) == []


def test_a_name_taken_meanwhile_by_another_process_gives_the_next(tmp_path, monkeypatch):
    import layerloom.backend.runs.store as store

    path = moons_file(tmp_path)
    graph = load_graph(path)
    write_run(path, NewRun(graph, {}, {}, "finished"))
    monkeypatch.setattr(store, "next_number", lambda folder: 1)  # as if run-001 appeared after the count
    assert write_run(path, NewRun(graph, {}, {}, "stopped")).id == "run-002"
    assert [r.status for r in list_runs(path)] == ["finished", "stopped"]
