"""Pause, resume, stop and set_lr from another thread; checkpoints and resuming."""

import threading
import time

import numpy as np
import pytest
import torch

from layerloom.backend.datasets import Dataset
from layerloom.backend.export.weights import load_model
from layerloom.backend.training import (
    DatasetSettings,
    EventQueue,
    Trainer,
    TrainSettings,
    load_checkpoint,
    prepare_data,
)
from layerloom.backend.training.checkpoint import STATE, WEIGHTS
from layerloom.graph import Graph
from tests.graph.helpers import chain


def mlp(inputs=2, hidden=16, classes=2, dropout=0.2) -> Graph:
    g = Graph()
    chain(g, ("input", {"shape": [inputs]}), ("dense", {"units": hidden, "activation": "relu"}),
          ("dropout", {"p": dropout}), ("dense", {"units": classes}), "output")
    return g


def moons(n=200):
    return prepare_data(DatasetSettings("moons", {"n_samples": n, "noise": 0.1}), seed=0)


class Recorder:
    """A consumer that keeps every event and lets a test wait for one."""

    def __init__(self):
        self.events = []
        self.cond = threading.Condition()

    def __call__(self, event):
        with self.cond:
            self.events.append(event)
            self.cond.notify_all()

    def wait_for(self, predicate, timeout=10.0):
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                found = [e for e in self.events if predicate(e)]
                if found:
                    return found[0]
                left = deadline - time.monotonic()
                assert left > 0, f"timed out; events: {[e.kind for e in self.events]}"
                self.cond.wait(left)

    def of(self, kind):
        with self.cond:
            return [e for e in self.events if e.kind == kind]


def slow_run(tmp_path=None, **settings):
    """A run whose steps take tens of milliseconds, in a background thread."""
    rng = np.random.default_rng(0)
    data = Dataset("wide", rng.normal(size=(1024, 256)).astype(np.float32),
                   rng.integers(0, 2, 1024).astype(np.int64), "classification", (256,), "float",
                   (), 2, None, "random points")
    g = Graph()
    chain(g, ("input", {"shape": [256]}), ("dense", {"units": 512, "activation": "relu"}),
          ("dense", {"units": 512, "activation": "relu"}), ("dense", {"units": 2}), "output")
    recorder = Recorder()
    trainer = Trainer(g, data, None, TrainSettings(epochs=10_000, batch_size=512, **settings),
                      on_event=recorder, checkpoint_dir=tmp_path)
    result = {}
    thread = threading.Thread(target=lambda: result.setdefault("final", trainer.run()), daemon=True)
    thread.start()
    return trainer, recorder, thread, result


def test_stop_from_another_thread_answers_within_half_a_second(tmp_path):
    trainer, recorder, thread, result = slow_run(tmp_path / "ckpt")
    recorder.wait_for(lambda e: e.kind == "step" and e.step >= 2)
    start = time.perf_counter()
    trainer.stop()
    thread.join(5.0)
    assert time.perf_counter() - start < 0.5
    final = result["final"]
    assert final.kind == "finished" and final.reason == "stopped"
    assert recorder.of("checkpoint")[-1].step == final.steps == trainer.step
    assert (tmp_path / "ckpt" / WEIGHTS).is_file() and (tmp_path / "ckpt" / STATE).is_file()


def test_pause_holds_steps_set_lr_applies_on_resume_and_stop_ends_a_pause():
    trainer, recorder, thread, result = slow_run(lr=1e-3)
    recorder.wait_for(lambda e: e.kind == "step" and e.step >= 2)
    trainer.pause()
    paused = recorder.wait_for(lambda e: e.kind == "paused")
    assert trainer.paused and trainer.state == "paused"
    trainer.set_lr(0.0123)
    time.sleep(0.3)
    assert trainer.step == paused.step
    assert not [e for e in recorder.of("step") if e.step > paused.step]
    assert trainer.optimizer.param_groups[0]["lr"] == 1e-3  # not before resume
    trainer.resume()
    resumed = recorder.wait_for(lambda e: e.kind == "resumed")
    assert resumed.lr == pytest.approx(0.0123)
    after = recorder.wait_for(lambda e: e.kind == "step" and e.step > paused.step)
    assert after.lr == pytest.approx(0.0123)
    trainer.pause()
    recorder.wait_for(lambda e: e.kind == "paused" and e.step > paused.step)
    start = time.perf_counter()
    trainer.stop()
    thread.join(5.0)
    assert time.perf_counter() - start < 0.5
    assert result["final"].reason == "stopped"


def test_set_lr_refuses_bad_values():
    trainer = Trainer(mlp(), moons().train)
    for bad in (0, -1.0, float("nan"), "fast", True):
        with pytest.raises(ValueError, match="^lr must be (above 0|a number|a finite number), got "):
            trainer.set_lr(bad)


# ------------------------------------------------------------------ checkpoints
def step_losses(events):
    return [(e.step, e.loss) for e in events if e.kind == "step"]


def run(graph, data, settings, **kw):
    events = EventQueue()
    trainer = Trainer(graph, data.train, data.val, settings, on_event=events, **kw)
    final = trainer.run()
    return trainer, final, events.drain()


@pytest.mark.parametrize("stop_at", [7, 10, 11])  # mid-epoch, last step of epoch 2, first of 3
def test_resumed_run_continues_exactly_like_an_uninterrupted_one(tmp_path, stop_at):
    graph, data = mlp(), moons()
    settings = TrainSettings(optimizer="sgd", momentum=0.9, lr=0.05, epochs=4, batch_size=32,
                             schedule="one_cycle")
    full, full_final, full_events = run(graph, data, settings)
    assert full.steps_per_epoch == 5

    holder = {}

    def stop_at_step(event):
        if event.kind == "step" and event.step == stop_at:
            holder["trainer"].stop()

    first = Trainer(graph, data.train, data.val, settings, on_event=stop_at_step,
                    checkpoint_dir=tmp_path)
    holder["trainer"] = first
    stopped = first.run()
    assert stopped.reason == "stopped" and stopped.steps == stop_at

    resumed, final, events = run(graph, data, settings, resume_from=tmp_path)
    assert events[0].first_step == stop_at + 1
    assert step_losses(events) == step_losses(full_events)[stop_at:]
    assert final.metrics == full_final.metrics
    strip = [{k: v for k, v in r.items() if k != "time"} for r in resumed.history]
    assert strip == [{k: v for k, v in r.items() if k != "time"} for r in full.history]
    for a, b in zip(resumed.model.state_dict().values(), full.model.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_checkpoint_files_are_safe_to_read(tmp_path):
    graph, data = mlp(), moons()
    trainer, _, events = run(graph, data, TrainSettings(epochs=2), checkpoint_dir=tmp_path)
    assert [e.epoch for e in events if e.kind == "checkpoint"] == [1, 2]
    state = torch.load(tmp_path / STATE, weights_only=True)
    assert state["progress"]["step"] == trainer.step
    loaded_graph, model = load_model(tmp_path / WEIGHTS)
    assert loaded_graph == graph
    for a, b in zip(model.state_dict().values(), trainer.model.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_checkpoints_wait_checkpoint_every_seconds_but_the_last_state_is_always_written(tmp_path):
    graph, data = mlp(), moons()
    settings = TrainSettings(epochs=3)
    trainer, final, events = run(graph, data, settings, checkpoint_dir=tmp_path / "a",
                                 checkpoint_every=3600.0)
    assert [(e.epoch, e.step) for e in events if e.kind == "checkpoint"] == [(3, final.steps)]
    assert torch.load(tmp_path / "a" / STATE, weights_only=True)["progress"]["step"] == final.steps
    longer = TrainSettings(epochs=4)
    resumed, more, _ = run(graph, data, longer, resume_from=tmp_path / "a")
    full, full_final, _ = run(graph, data, longer)
    assert more.metrics == full_final.metrics

    holder = {}

    def stop_at_step(event):
        if event.kind == "step" and event.step == 7:
            holder["trainer"].stop()

    stopped = Trainer(graph, data.train, data.val, settings, on_event=stop_at_step,
                      checkpoint_dir=tmp_path / "b", checkpoint_every=3600.0)
    holder["trainer"] = stopped
    assert stopped.run().reason == "stopped"
    assert torch.load(tmp_path / "b" / STATE, weights_only=True)["progress"]["step"] == 7


def test_a_checkpoint_cut_short_is_refused(tmp_path):
    graph, data = mlp(), moons()
    run(graph, data, TrainSettings(epochs=2), checkpoint_dir=tmp_path / "a")
    run(graph, data, TrainSettings(epochs=1), checkpoint_dir=tmp_path / "b")
    (tmp_path / "b" / STATE).replace(tmp_path / "a" / STATE)  # weights of step 14, state of 7
    _, final, _ = run(graph, data, TrainSettings(epochs=3), resume_from=tmp_path / "a")
    assert final.kind == "failed" and "different steps" in final.message
    with pytest.raises(Exception, match="no checkpoint folder"):
        load_checkpoint(tmp_path / "missing", torch.nn.Linear(1, 1))


def test_resume_with_another_batch_size_fails_clearly(tmp_path):
    graph, data = mlp(), moons()
    run(graph, data, TrainSettings(epochs=1, batch_size=32), checkpoint_dir=tmp_path)
    _, final, _ = run(graph, data, TrainSettings(epochs=2, batch_size=16), resume_from=tmp_path)
    assert final.kind == "failed"
    assert "5 steps per epoch" in final.message and "10" in final.message and "batch size" in final.message


def test_resume_with_another_graph_names_the_tensors(tmp_path):
    data = moons()
    run(mlp(hidden=16), data, TrainSettings(epochs=1), checkpoint_dir=tmp_path)
    _, final, _ = run(mlp(hidden=8), data, TrainSettings(epochs=2), resume_from=tmp_path)
    assert final.kind == "failed" and "do not match the graph" in final.message
    assert "(16, 2)" in final.message or "(16,)" in final.message


def test_a_trainer_runs_once():
    trainer = Trainer(mlp(), moons(n=40).train, settings=TrainSettings(epochs=1))
    assert trainer.run().kind == "finished"
    again = trainer.run()
    assert again.kind == "failed" and "already run" in again.message
    assert trainer.state == "finished"
