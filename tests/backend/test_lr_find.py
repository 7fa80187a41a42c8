"""The learning-rate range test (`layerloom lr-find`, Training > Find…)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import threading

import pytest
import torch

from layerloom.backend.templates import load_template
from layerloom.backend.training import (
    DatasetSettings,
    LrFindError,
    TrainingError,
    TrainSettings,
    find_lr,
    prepare_data,
)
from layerloom.backend.training.lr_find import rate_at, steepest, suggest
from layerloom.graph import load_graph, save_graph


@pytest.fixture(scope="module")
def moons():
    torch.set_num_threads(1)
    graph = load_template("mlp_two_moons")
    settings = TrainSettings.from_dict(graph.training).replace(device="cpu")
    data = prepare_data(DatasetSettings.from_dict(graph.dataset), seed=settings.seed)
    return graph, data.train, settings


def test_rates_grow_evenly_on_a_log_scale():
    rates = [rate_at(i, 1e-4, 1.0, 5) for i in range(5)]
    assert rates == pytest.approx([1e-4, 1e-3, 1e-2, 1e-1, 1.0])


def test_the_suggestion_reads_the_curve():
    rates = [10 ** (-6 + i * 0.25) for i in range(25)]  # 1e-6 .. 1
    # flat until 1e-4, falling fastest around 1e-3, lowest at 1e-2, then up
    def loss(r):
        x = math.log10(r)
        return 1.0 if x < -4 else (1.0 - 0.8 * (1 + math.tanh(2 * (x + 3))) / 2 if x <= -2 else 0.2 + (x + 2) ** 2)
    curve = [loss(r) for r in rates]
    assert steepest(rates, curve) == pytest.approx(1e-3, rel=0.8)
    low = rates[curve.index(min(curve))]
    assert suggest(rates, curve) == pytest.approx(min(steepest(rates, curve), low / 10))
    assert suggest(rates, [1.0 + i for i in range(10)]) is None  # it never falls
    assert suggest(rates[:2], [1.0, 0.5]) is None  # too short to tell


def test_a_range_test_on_two_moons_finds_where_the_loss_falls(moons):
    graph, train, settings = moons
    seen = []
    finding = find_lr(graph, train, settings, start=1e-5, end=100.0, steps=80,
                      on_step=lambda step, rate, loss: seen.append((step, rate, loss)))
    assert finding.ended == "diverged", "rates up to 100 blow the loss up"
    assert len(finding.rates) < 80 and [s for s, _, _ in seen] == list(range(1, len(seen) + 1))
    assert finding.rates == sorted(finding.rates)
    assert min(finding.smoothed) < 0.8 * finding.smoothed[0], "the loss fell on the way"
    assert 1e-4 < finding.suggested < finding.lowest
    data = json.loads(json.dumps(finding.to_dict()))
    assert data["suggested"] == finding.suggested and len(data["rates"]) == len(finding.rates)


def test_stop_ends_the_test_after_the_step(moons):
    graph, train, settings = moons
    stop = threading.Event()

    def on_step(step, rate, loss):
        if step == 3:
            stop.set()

    finding = find_lr(graph, train, settings, steps=100, on_step=on_step, stop=stop)
    assert finding.ended == "stopped" and len(finding.rates) == 3


@pytest.mark.parametrize("start, end, steps, words", [
    (1.0, 0.1, 50, "must be larger"), (-1.0, 1.0, 50, "positive"), (1e-6, 1.0, 2, "at least 5 steps"),
])
def test_ranges_it_cannot_sweep_are_refused(moons, start, end, steps, words):
    graph, train, settings = moons
    with pytest.raises(LrFindError, match=words):
        find_lr(graph, train, settings, start=start, end=end, steps=steps)


def test_a_graph_that_does_not_fit_the_data_says_what_to_change(moons):
    graph, train, settings = moons
    broken = graph.copy()
    broken.node(next(n.id for n in broken.nodes if n.spec.is_input)).params["shape"] = [3]
    broken = load_graph_from(broken)
    with pytest.raises(TrainingError, match="shape"):
        find_lr(broken, train, settings, steps=10)


def load_graph_from(graph):
    """The graph through its file format (the edit above bypassed the undo commands)."""
    from layerloom.graph import dumps, loads

    return loads(dumps(graph))


# ------------------------------------------------------------------ the CLI
def cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "layerloom.gui.launcher", "lr-find", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd, timeout=300)


@pytest.fixture
def moons_file(tmp_path):
    path = tmp_path / "moons.loom"
    save_graph(load_template("mlp_two_moons"), path)
    return path


def test_cli_prints_the_curve_and_the_suggestion_and_apply_saves_it(moons_file):
    proc = cli(moons_file, "--steps", "40", "--max-lr", "10", "--json", "--device", "cpu")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert len(result["rates"]) == len(result["losses"]) <= 40 and result["suggested"] > 0
    before = load_graph(moons_file).training["lr"]
    proc = cli(moons_file, "--steps", "40", "--max-lr", "10", "--apply", "--device", "cpu")
    assert proc.returncode == 0, proc.stderr
    assert "suggested learning rate" in proc.stdout and "learning rate set to" in proc.stdout
    assert "rate" in proc.stdout.splitlines()[0] and "#" in proc.stdout
    after = load_graph(moons_file).training["lr"]
    assert after != before and f"{after:g}" in proc.stdout


def test_cli_refuses_bad_ranges_and_broken_graphs_in_one_line(moons_file, tmp_path):
    text = moons_file.read_text()
    proc = cli(moons_file, "--min-lr", "1", "--max-lr", "0.1")
    assert proc.returncode == 2 and proc.stderr.startswith("error:") and "must be larger" in proc.stderr
    assert "Traceback" not in proc.stderr and moons_file.read_text() == text
    proc = cli(moons_file, "--min-lr", "-1")
    assert proc.returncode == 2 and "positive number" in proc.stderr
    broken = tmp_path / "broken.loom"
    graph = load_graph(moons_file)
    graph.remove_node(next(n.id for n in graph.nodes if n.type == "dense"))
    save_graph(graph, broken)
    proc = cli(broken)
    assert proc.returncode == 1 and "error" in proc.stderr and "Traceback" not in proc.stderr
