"""Every writer on a full disk: one clear line, nothing half-written under the real
name, no staging folder left. Each runs through the real command line."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from tests.backend.helpers import fill_disk, moons_file

FULL = "no space left on the device while writing"


def layerloom(*args, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "layerloom.gui.launcher", *map(str, args)],
                          capture_output=True, text=True, timeout=300, cwd=cwd)


def assert_one_full_disk_line(done: subprocess.CompletedProcess) -> None:
    assert done.returncode != 0
    assert "Traceback" not in done.stderr and "terminate called" not in done.stderr, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and FULL in errors[0], done.stderr


def only_ballast(disk) -> list[str]:
    return sorted(p.name for p in disk.iterdir() if p.name != "ballast")


@pytest.fixture(scope="module")
def graph_file(tmp_path_factory):
    return moons_file(tmp_path_factory.mktemp("graph"))


@pytest.mark.parametrize("fmt,name", [
    ("onnx", "model.onnx"), ("torchscript", "model.pt"), ("python", "model.py"),
    ("safetensors", "model.safetensors"), ("train-script", "train.py"),
])
def test_export_on_a_full_disk(small_disk, graph_file, fmt, name):
    disk = small_disk("64k")
    fill_disk(disk, leave=2_000)
    done = layerloom("export", graph_file, "-o", disk / name, "--format", fmt)
    assert_one_full_disk_line(done)
    assert only_ballast(disk) == []


def test_import_on_a_full_disk(small_disk, tmp_path):
    source = tmp_path / "net.py"
    source.write_text(textwrap.dedent("""
        from torch import nn

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(64, 64)

            def forward(self, x):
                return self.fc(x)
    """))
    disk = small_disk("64k")
    fill_disk(disk, leave=2_000)
    done = layerloom("import", f"{source}:Net", "--input-shape", "64", "-o", disk / "net.loom")
    assert_one_full_disk_line(done)
    assert only_ballast(disk) == []


def test_new_on_a_full_disk(small_disk):
    disk = small_disk("64k")
    fill_disk(disk, leave=0)
    done = layerloom("new", "cnn_digits", "-o", disk / "cnn.loom")
    assert_one_full_disk_line(done)
    assert only_ballast(disk) == []


def test_training_output_on_a_full_disk(small_disk, graph_file):
    disk = small_disk("64k")
    fill_disk(disk, leave=2_000)
    done = layerloom("train", graph_file, "--out", disk / "run", "--no-progress")
    assert_one_full_disk_line(done)


def test_an_events_log_on_a_full_disk(small_disk, graph_file, tmp_path):
    disk = small_disk("64k")
    fill_disk(disk, leave=0)
    done = layerloom("train", graph_file, "--out", tmp_path / "run", "--no-progress",
                     "--events", disk / "events.jsonl")
    assert_one_full_disk_line(done)
