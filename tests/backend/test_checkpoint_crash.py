"""Checkpoints survive kills and full disks: what is on disk always resumes."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest
import torch

from layerloom.backend.compile import compile_graph
from layerloom.backend.training.checkpoint import (
    OLD,
    READY,
    STATE,
    WEIGHTS,
    WRITING,
    CheckpointError,
    load_checkpoint,
    recover_checkpoint,
    save_checkpoint,
)
from layerloom.graph import Graph
from tests.backend.helpers import fill_disk, moons_file
from tests.graph.helpers import chain

KILLS = 50


def small_graph(width: int = 64) -> Graph:
    g = Graph()
    chain(g, ("input", {"shape": [8]}), ("dense", {"units": width, "activation": "relu"}),
          ("dense", {"units": 2}), "output")
    return g


def state_at(step: int, size: int = 16) -> dict:
    return {"progress": {"step": step, "epoch": 0, "batch": step},
            "optimizer": {"buffer": torch.full((size,), float(step))}}


def saved_step(folder) -> int:
    model = compile_graph(small_graph())
    state = load_checkpoint(folder, model)
    step = state["progress"]["step"]
    assert torch.equal(state["optimizer"]["buffer"], torch.full((16,), float(step)))
    assert torch.equal(model.state_dict()[next(iter(model.state_dict()))],
                       torch.full_like(model.state_dict()[next(iter(model.state_dict()))], step))
    return step


def _saver(folder) -> None:
    """The child: writes checkpoints of steps 1, 2, ... as fast as it can."""
    graph, model = small_graph(), compile_graph(small_graph())
    step = 1
    while True:
        with torch.no_grad():
            for tensor in model.state_dict().values():
                tensor.fill_(step)
        save_checkpoint(folder, model, graph, state_at(step))
        step += 1


def test_random_kills_never_lose_the_checkpoint(tmp_path):
    folder = tmp_path / "checkpoint"
    rng = random.Random(1234)
    last = 0
    for _ in range(KILLS):
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child never returns
            try:
                _saver(folder)
            finally:
                os._exit(1)
        time.sleep(rng.uniform(0.0, 0.06))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        recover_checkpoint(folder)  # as the next save or load does
        leftovers = [p.name for p in tmp_path.iterdir() if p.name != "checkpoint"]
        assert leftovers == [], leftovers
        if not folder.exists():
            assert last == 0  # killed before the first checkpoint was complete
            continue
        step = saved_step(folder)
        assert step >= 1
        last = step
    assert last > 0


def test_a_kill_between_the_two_renames_is_recovered(tmp_path):
    graph, model = small_graph(), compile_graph(small_graph())
    folder = tmp_path / "checkpoint"
    for step in (1, 2):
        with torch.no_grad():
            for tensor in model.state_dict().values():
                tensor.fill_(step)
        save_checkpoint(folder if step == 1 else tmp_path / "next", model, graph, state_at(step))
    # as if killed after the old folder was set aside and before the new one moved in
    folder.rename(tmp_path / f".checkpoint.x{OLD}")
    (tmp_path / "next").rename(tmp_path / f".checkpoint.y{READY}")
    (tmp_path / f".checkpoint.z{WRITING}").mkdir()
    assert saved_step(folder) == 2  # the complete new one wins
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint"]


def test_a_kill_before_the_new_folder_was_ready_keeps_the_old_one(tmp_path):
    graph, model = small_graph(), compile_graph(small_graph())
    folder = tmp_path / "checkpoint"
    with torch.no_grad():
        for tensor in model.state_dict().values():
            tensor.fill_(1)
    save_checkpoint(folder, model, graph, state_at(1))
    folder.rename(tmp_path / f".checkpoint.x{OLD}")
    half = tmp_path / f".checkpoint.y{WRITING}"
    half.mkdir()
    (half / WEIGHTS).write_bytes(b"half a file")
    assert saved_step(folder) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint"]


def test_a_folder_with_other_files_is_not_replaced(tmp_path):
    graph, model = small_graph(), compile_graph(small_graph())
    (tmp_path / "notes.txt").write_text("mine")
    save_checkpoint(tmp_path / "fresh", model, graph, state_at(1))  # a new folder is fine
    with pytest.raises(CheckpointError, match="holds other files .*notes.txt"):
        save_checkpoint(tmp_path, model, graph, state_at(1))
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_nan_weights_are_saved_as_they_are(tmp_path):
    graph, model = small_graph(), compile_graph(small_graph())
    with torch.no_grad():
        next(iter(model.parameters())).fill_(float("nan"))
    save_checkpoint(tmp_path / "c", model, graph, state_at(3))
    again = compile_graph(small_graph())
    load_checkpoint(tmp_path / "c", again)
    assert torch.isnan(next(iter(again.parameters()))).all()


# ----------------------------------------------------------------- full disk
@pytest.mark.parametrize("leave", [0, 20_000, 46_000, 90_000])
def test_a_full_disk_keeps_the_previous_checkpoint(small_disk, leave):
    disk = small_disk("1m")
    graph, model = small_graph(width=32), compile_graph(small_graph(width=32))
    folder = disk / "checkpoint"
    with torch.no_grad():
        for tensor in model.state_dict().values():
            tensor.fill_(1)
    save_checkpoint(folder, model, graph, state_at(1, size=16))
    fill_disk(disk, leave)
    big = state_at(2, size=40_000)  # 160 kB of optimizer state: never fits
    with pytest.raises(CheckpointError) as caught:
        save_checkpoint(folder, model, graph, big)
    message = str(caught.value)
    assert "no space left on the device while writing" in message and "\n" not in message
    state = load_checkpoint(folder, compile_graph(small_graph(width=32)))
    assert state["progress"]["step"] == 1
    assert sorted(p.name for p in disk.iterdir()) == ["ballast", "checkpoint"]
    assert sorted(p.name for p in folder.iterdir()) == [WEIGHTS, STATE]


# ------------------------------------------------------------------ the CLI
def test_a_killed_training_run_resumes_from_its_checkpoint(tmp_path):
    # long enough to be killed mid-run: checkpoints are spaced in time, not per epoch
    path = moons_file(tmp_path, training={"epochs": 20000, "lr": 0.01, "batch_size": 10})
    out = tmp_path / "run"
    events = tmp_path / "events.jsonl"
    command = [sys.executable, "-m", "layerloom.gui.launcher", "train", str(path),
               "--out", str(out), "--no-progress"]
    process = subprocess.Popen([*command, "--events", str(events)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    saved = 0
    while time.monotonic() < deadline and saved < 2:
        time.sleep(0.05)
        if events.exists():
            saved = events.read_text().count('"checkpoint"')
    time.sleep(random.Random(7).uniform(0.0, 0.05))
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert saved >= 2, process.stderr.read()
    on_disk = torch.load(out / "checkpoint" / STATE, weights_only=True)["progress"]["epoch"]
    assert on_disk >= 3
    target = on_disk + 2
    resumed = subprocess.run([*command[:-3], "--out", str(tmp_path / "more"), "--no-progress",
                              "--epochs", str(target), "--resume", str(out / "checkpoint")],
                             capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert f"completed after {target} epoch(s)" in resumed.stdout
    metrics = json.loads((tmp_path / "more" / "metrics.json").read_text())
    assert metrics["epochs"][-1]["epoch"] == target


class Payload:  # pickled by reference: reading it back would run this module's code
    def __reduce__(self):
        return (print, ("this ran",))


def test_a_checkpoint_state_carrying_code_is_refused_without_unsafe_advice(tmp_path):
    graph, model = small_graph(), compile_graph(small_graph())
    save_checkpoint(tmp_path / "c", model, graph, state_at(1))
    torch.save({"progress": {"step": 1}, "evil": Payload()}, tmp_path / "c" / STATE)
    with pytest.raises(CheckpointError) as caught:
        load_checkpoint(tmp_path / "c", compile_graph(small_graph()))
    message = str(caught.value)
    assert "could run code" in message and "refused" in message
    assert "weights_only" not in message and "False" not in message


def test_imported_weights_carrying_code_are_refused_without_unsafe_advice(tmp_path, capsys):
    from layerloom.backend.cli import main

    source = tmp_path / "net.py"
    source.write_text("from torch import nn\n\nclass Net(nn.Linear):\n"
                      "    def __init__(self):\n        super().__init__(4, 2)\n")
    torch.save({"weight": Payload()}, tmp_path / "w.pt")
    code = main(["import", f"{source}:Net", "--input-shape", "4", "-w", str(tmp_path / "w.pt"),
                 "-o", str(tmp_path / "n.loom")])
    err = capsys.readouterr().err
    assert code != 0 and "could run code" in err and "weights_only" not in err


def test_out_of_memory_before_the_first_batch_does_not_name_a_batch_size():
    from types import SimpleNamespace

    from layerloom.backend.training.checks import describe_failure

    trainer = SimpleNamespace(step=0, _batch=0, epoch=0, device=torch.device("cpu"), _bs=None,
                              settings=SimpleNamespace(compile=False))
    message = describe_failure(RuntimeError("DefaultCPUAllocator: can't allocate memory"), trainer)
    assert "None" not in message and "while setting up the run" in message
