"""Regression metrics are scikit-learn's over the whole pass: R² per target column,
averaged over the columns (constant columns as scikit-learn scores them), the same
for a training pass and for validation on the same data."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import mean_absolute_error, r2_score

from layerloom.backend.datasets import Dataset
from layerloom.backend.training import Objective, Trainer, TrainSettings
from layerloom.backend.training.metrics import MetricSums
from layerloom.graph import Graph
from tests.graph.helpers import chain

CPU = torch.device("cpu")


def awkward_targets(n: int, rng: np.random.Generator) -> np.ndarray:
    """Four target columns: a spread one, a constant one, one lit in a single row
    (nearly constant, as a corner pixel of an image set) and a small-spread one."""
    y = np.zeros((n, 4), np.float32)
    y[:, 0] = rng.normal(size=n)
    y[rng.integers(n), 2] = 1.0
    y[:, 3] = rng.normal(scale=0.01, size=n)
    return y


@settings(max_examples=25, deadline=None)
@given(n=st.integers(2, 60), batch=st.integers(1, 70), seed=st.integers(0, 999))
def test_r2_and_mae_equal_sklearn_whatever_the_batches(n, batch, seed):
    rng = np.random.default_rng(seed)
    y = awkward_targets(n, rng)
    pred = y + rng.normal(scale=0.1, size=y.shape).astype(np.float32)
    pred[:, 1] = 0.0 if seed % 2 else pred[:, 1]  # the constant column: exact, or not
    sums = MetricSums(Objective("auto", "regression", None, (4,)), CPU, torch.from_numpy(y))
    for lo in range(0, n, batch):
        sums.add(torch.from_numpy(pred[lo:lo + batch]), torch.from_numpy(y[lo:lo + batch]))
    result = sums.result()
    assert result["r2"] == pytest.approx(r2_score(y, pred), rel=1e-5, abs=1e-6)
    assert result["mae"] == pytest.approx(mean_absolute_error(y, pred), rel=1e-5)


def test_training_and_validation_r2_agree_on_the_same_data():
    rng = np.random.default_rng(0)
    n = 70  # batches of 16: a short last batch
    x = rng.normal(size=(n, 3)).astype(np.float32)
    y = awkward_targets(n, rng)
    data = Dataset("awkward", x, y, "regression", (3,), "float", (4,), None, None, "")
    graph = Graph()
    chain(graph, ("input", {"shape": [3]}), ("dense", {"units": 4}), "output")
    # a rate this small leaves the weights as they were: both passes score one model
    trainer = Trainer(graph, data, data, TrainSettings(optimizer="sgd", lr=1e-12, epochs=1,
                                                       batch_size=16))
    final = trainer.run()
    assert final.kind == "finished", final
    with torch.no_grad():
        pred = trainer.model.eval()(torch.from_numpy(x)).numpy()
    expected = r2_score(y, pred)
    assert expected < -1  # the column lit once dominates the average, as in sklearn
    assert final.metrics["r2"] == pytest.approx(expected, rel=1e-5)
    assert final.metrics["val_r2"] == pytest.approx(expected, rel=1e-5)
    assert final.metrics["loss"] == pytest.approx(final.metrics["val_loss"], rel=1e-5)
    assert trainer.evaluate(data)["r2"] == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("group, keep", [(128, True), (3, True), (3, False)])
def test_training_accuracy_scored_in_groups_is_the_fixed_models_over_the_epoch(group, keep, monkeypatch):
    """Outputs wait and are scored ``group`` steps at a time (or at once when too
    large to keep); with a learning rate too small to move the weights, the epoch's
    training accuracy must be that of the model on every training sample."""
    from layerloom.backend.training import trainer as trainer_module

    monkeypatch.setattr(trainer_module, "LOSS_GROUP", group)
    if not keep:
        monkeypatch.setattr(trainer_module, "KEEP_OUTPUT", 0)
    rng = np.random.default_rng(3)
    x = rng.normal(size=(101, 2)).astype(np.float32)
    y = (x[:, 0] + 0.3 * rng.normal(size=101) > 0).astype(np.int64)
    data = Dataset("toy", x, y, "classification", (2,), "float", (), 2, ["a", "b"], "")
    g = Graph()
    chain(g, ("input", {"shape": [2]}), ("dense", {"units": 2}), "output")
    trainer = Trainer(g, data, None, TrainSettings(optimizer="sgd", lr=1e-30, epochs=2, batch_size=7))
    final = trainer.run()
    with torch.no_grad():
        expected = float((trainer.model(torch.from_numpy(x)).argmax(-1).numpy() == y).mean())
    assert final.reason == "completed"
    assert [h["train"]["accuracy"] for h in trainer.history] == [pytest.approx(expected)] * 2
