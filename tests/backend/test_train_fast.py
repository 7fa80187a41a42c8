"""The fast path (the ``compile`` setting): fused optimizer everywhere, torch.compile
where it pays (CUDA), and a clean fall-back with a note when compiling fails.

CI has no GPU, so the compile path is forced on the CPU here by saying it pays;
torch.compile itself is replaced by stand-ins (a real compile takes tens of seconds on
a small machine; ``benchmarks/train_overhead.py`` measures the real thing).
"""

import json
import math
import subprocess
import sys

import pytest
import torch

from layerloom.backend.training import (
    DatasetSettings,
    EventQueue,
    Trainer,
    TrainSettings,
    prepare_data,
)
from layerloom.backend.training import trainer as trainer_module
from layerloom.backend.training.optim import optimizer_kind
from tests.backend.helpers import moons_file
from tests.backend.test_train_trainer import mlp


@pytest.fixture(scope="module")
def data():
    return prepare_data(DatasetSettings("moons", {"n_samples": 80, "noise": 0.1}, val_split=0.25), seed=0)


def run(data, **settings):
    events = EventQueue()
    trainer = Trainer(mlp(hidden=(8,)), data.train, data.val,
                      TrainSettings(epochs=2, batch_size=16, **settings), on_event=events)
    final = trainer.run()
    return trainer, final, events.drain()


def losses(events):
    return [e.loss for e in events if e.kind == "step"]


def weights(trainer):
    return torch.cat([p.detach().reshape(-1) for p in trainer.model.parameters()])


def test_on_a_cpu_the_fast_path_is_the_fused_optimizer_without_compiling(data, monkeypatch):
    compiled = []
    monkeypatch.setattr(torch, "compile", lambda *a, **k: compiled.append(a) or a[0])
    plain, plain_final, _ = run(data)
    fast, final, events = run(data, compile=True)
    assert final.reason == "completed" and compiled == []
    assert optimizer_kind(fast.optimizer) == "fused" and optimizer_kind(plain.optimizer) == "for-loop"
    note = " ".join(events[0].notes)
    assert "fast path: fused adam" in note and "torch.compile is left out on cpu" in note
    # the same training, up to the rounding of a fused kernel
    assert torch.allclose(weights(fast), weights(plain), atol=1e-5)
    assert final.metrics["val_loss"] == pytest.approx(plain_final.metrics["val_loss"], abs=1e-5)


def test_where_compile_pays_the_model_is_compiled(data, monkeypatch):
    wrapped = []

    def fake_compile(model, mode=None):
        wrapped.append((model, mode))
        return lambda x: model(x)

    monkeypatch.setattr(torch, "compile", fake_compile)
    monkeypatch.setattr(trainer_module, "compile_pays", lambda device: True)
    trainer, final, events = run(data, compile=True)
    assert final.reason == "completed"
    assert wrapped == [(trainer.model, None)]  # CUDA graphs ("reduce-overhead") only on CUDA
    assert "torch.compile (the first steps are slow" in " ".join(events[0].notes)
    assert not any(e.kind == "note" for e in events)


def test_a_compile_that_fails_at_the_first_step_falls_back_with_a_note(data, monkeypatch):
    from torch._dynamo.exc import TorchDynamoException

    calls = []

    def failing_compile(model, mode=None):
        def forward(x):
            calls.append(len(x))
            raise TorchDynamoException("InductorError: CppCompileError: C++ compile error")
        return forward

    eager, _, eager_events = run(data, compile=True)
    monkeypatch.setattr(torch, "compile", failing_compile)
    monkeypatch.setattr(trainer_module, "compile_pays", lambda device: True)
    trainer, final, events = run(data, compile=True)
    assert final.reason == "completed" and calls == [16]  # tried once, never again
    notes = [e for e in events if e.kind == "note"]
    assert len(notes) == 1 and notes[0].step == 1
    assert "torch.compile is not available" in notes[0].message and "training without it" in notes[0].message
    assert "C++ compile error" in notes[0].message
    # the failed attempt changed nothing: the run is the eager fast path's, step for step
    assert losses(events) == losses(eager_events)
    assert torch.equal(weights(trainer), weights(eager))


def test_a_platform_without_compile_says_so_when_the_run_starts(data, monkeypatch):
    def unsupported(model, mode=None):
        raise RuntimeError("torch.compile is not supported on this platform")

    monkeypatch.setattr(torch, "compile", unsupported)
    monkeypatch.setattr(trainer_module, "compile_pays", lambda device: True)
    _, final, events = run(data, compile=True)
    assert final.reason == "completed"
    assert any("not supported on this platform" in n and "training without it" in n for n in events[0].notes)


def test_an_error_of_the_model_itself_is_not_hidden_by_the_fall_back(data, monkeypatch):
    def broken(model, mode=None):
        def forward(x):
            raise RuntimeError("mat1 and mat2 shapes cannot be multiplied (16x2 and 3x8)")
        return forward

    monkeypatch.setattr(torch, "compile", broken)
    monkeypatch.setattr(trainer_module, "compile_pays", lambda device: True)
    _, final, _ = run(data, compile=True)
    assert final.kind == "failed" and "shapes cannot be multiplied" in final.message


def test_layerloom_train_compile_trains_to_a_finite_loss(tmp_path):
    path = moons_file(tmp_path, training={"epochs": 2})
    out = tmp_path / "run"
    result = subprocess.run([sys.executable, "-m", "layerloom.gui.launcher", "train", str(path),
                             "--out", str(out), "--compile", "--device", "cpu", "--no-progress"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "note: fast path: fused adam" in result.stderr
    report = json.loads((out / "metrics.json").read_text())
    assert report["settings"]["compile"] is True
    assert math.isfinite(report["final"]["loss"]) and report["stop_reason"] == "completed"
