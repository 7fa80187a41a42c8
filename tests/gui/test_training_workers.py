"""The two workers of a run (in-app thread and several processes) share one base:
the queue the dock drains, the data, the probe's bookkeeping and the failure event
of an unexpected error."""

from __future__ import annotations

import pytest

from layerloom.graph import Graph
from layerloom.gui.training.process_worker import ProcessWorker
from layerloom.gui.training.worker import TrainingWorker
from layerloom.gui.training.worker_base import ProbeProblem, RunWorker
from tests.gui.test_training_helpers import MOONS, moons_mlp


class Broken(RunWorker):
    """A run whose training raises where nothing expects it."""

    def __init__(self):
        super().__init__(Graph(), {}, {})
        self.calls: list[str] = []

    def _run(self) -> None:
        self.calls.append("run")
        raise ValueError("boom\nand a second line nobody reads")

    def _abandon(self) -> None:
        self.calls.append("abandon")

    def _ended(self) -> None:
        self.calls.append("ended")


def test_both_workers_share_the_base(qtbot):
    graph = moons_mlp()
    thread = TrainingWorker(graph, graph.training, graph.dataset)
    processes = ProcessWorker(graph, graph.training, graph.dataset, 2)
    for worker, name, pausable in ((thread, "trainingWorker", True), (processes, "processWorker", False)):
        assert isinstance(worker, RunWorker)
        assert worker.objectName() == name and worker.pausable is pausable
        assert worker.graph is graph and worker.training == graph.training and worker.training is not graph.training
        assert worker.trainer is None and worker.data is None and worker.trained_model() is None
        assert worker.queue.drain() == []


def test_an_unexpected_error_ends_the_run_with_its_first_line(qtbot):
    worker = Broken()
    worker.run()  # the thread's body, here on the test's thread
    assert worker.calls == ["run", "abandon", "ended"]
    (event,) = worker.queue.drain()
    assert event.kind == "failed"
    assert event.message == "training could not start: ValueError: boom"


def test_the_base_offers_no_pause_and_a_probe_problem_is_said_once(qtbot):
    worker = Broken()
    assert not worker.pausable
    worker.pause()
    worker.resume()  # nothing to do, nothing raised
    worker._report_probe(RuntimeError("no grid"), "live statistics are off for this run")
    (event,) = worker.queue.drain()
    assert isinstance(event, ProbeProblem)
    assert event.message == "live statistics are off for this run (RuntimeError: no grid)"
    assert worker._probe_failed and worker._next_probe == float("inf")


def test_prepared_data_is_kept_and_announced(qtbot):
    graph = moons_mlp()
    worker = TrainingWorker(graph, graph.training, dict(MOONS))
    data = worker._prepare_data()
    assert worker.data is data and worker.settings.lr == pytest.approx(0.01)
    (event,) = worker.queue.drain()
    assert event.kind == "data" and event.name == data.train.name and event.train_size == len(data.train)
