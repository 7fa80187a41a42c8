"""TrainSettings and DatasetSettings: the .loom file's "training" and "dataset" sections."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from layerloom.backend.training.settings import (
    LOSSES,
    OPTIMIZERS,
    PRECISIONS,
    SCHEDULES,
    DatasetSettings,
    SettingsError,
    TrainSettings,
)


def test_defaults_round_trip_through_json():
    s = TrainSettings()
    data = json.loads(json.dumps(s.to_dict()))
    assert TrainSettings.from_dict(data) == s
    assert data["betas"] == [0.9, 0.999]


def test_missing_keys_take_defaults_and_values_are_kept():
    s = TrainSettings.from_dict({"lr": 0.05, "optimizer": "sgd", "momentum": 0.9, "nesterov": True})
    assert (s.lr, s.optimizer, s.momentum, s.nesterov) == (0.05, "sgd", 0.9, True)
    assert s.epochs == TrainSettings().epochs


def test_unknown_keys_are_named():
    with pytest.raises(SettingsError) as info:
        TrainSettings.from_dict({"learning_rate": 0.1, "epochs": 3, "optimiser": "sgd"})
    message = str(info.value)
    assert "'learning_rate'" in message and "'optimiser'" in message
    assert "lr" in message  # the known names are listed


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("lr", -0.1, "lr must be above 0"),
        ("lr", "fast", "lr must be a number, got 'fast'"),
        ("epochs", 0, "epochs must be at least 1"),
        ("epochs", 2.5, "epochs must be a whole number, got 2.5"),
        ("optimizer", "adamx", "optimizer must be one of 'sgd', 'adam', 'adamw', 'rmsprop', 'adagrad', got 'adamx'"),
        ("loss", "hinge", "loss must be one of"),
        ("schedule", "linear", "schedule must be one of"),
        ("batch_size", "huge", "batch_size must be a whole number of samples or 'full', got 'huge'"),
        ("batch_size", -4, "batch_size must be at least 0"),
        ("momentum", 1.5, "momentum must be below 1, got 1.5"),
        ("momentum", 1.0, "momentum must be below 1"),
        ("betas", [0.9], "betas needs 2 values, got 1: [0.9]"),
        ("betas", [0.9, 1.0], "betas must be below 1, got 1.0"),
        ("device", "tpu", "device must be auto, cpu, cuda, cuda:N or mps, got 'tpu'"),
        ("precision", "int8", "precision must be one of 'fp32', 'bf16', 'fp16', got 'int8'"),
        ("monitor", "val_f1", "monitor must be one of"),
        ("early_stopping", "yes", "early_stopping must be true or false, got 'yes'"),
        ("grad_clip", float("nan"), "grad_clip must be a finite number"),
        ("seed", -1, "seed must be at least 0"),
        ("seed", 2**64, "seed is too large"),
        ("patience", 0, "patience must be at least 1"),
    ],
)
def test_bad_values_name_key_and_value(key, value, expected):
    with pytest.raises(SettingsError) as info:
        TrainSettings.from_dict({key: value})
    assert expected in str(info.value)


def test_nesterov_needs_momentum():
    with pytest.raises(SettingsError, match="nesterov needs momentum"):
        TrainSettings(optimizer="sgd", nesterov=True)


@pytest.mark.parametrize("value", ["full", "FULL", " Full ", 0])
def test_full_batch_is_stored_as_zero(value):
    assert TrainSettings.from_dict({"batch_size": value}).batch_size == 0


def test_replace_applies_overrides_and_ignores_none():
    s = TrainSettings(lr=0.01, epochs=5)
    t = s.replace(epochs=2, lr=None, batch_size="full")
    assert (t.epochs, t.lr, t.batch_size) == (2, 0.01, 0)
    assert s.epochs == 5
    with pytest.raises(SettingsError, match="epochs"):
        s.replace(epochs=-3)


@pytest.mark.parametrize(
    ("monitor", "mode", "expected"),
    [("val_loss", "auto", "min"), ("accuracy", "auto", "max"), ("val_r2", "auto", "max"),
     ("val_mae", "auto", "min"), ("val_loss", "max", "max")],
)
def test_monitor_mode(monitor, mode, expected):
    assert TrainSettings(monitor=monitor, mode=mode).monitor_mode == expected


@settings(max_examples=25, deadline=None)
@given(
    optimizer=st.sampled_from(OPTIMIZERS),
    loss=st.sampled_from(LOSSES),
    schedule=st.sampled_from(SCHEDULES),
    precision=st.sampled_from(PRECISIONS),
    lr=st.floats(1e-6, 10.0),
    epochs=st.integers(1, 10_000),
    batch_size=st.integers(0, 4096),
    seed=st.integers(0, 10**9),
)
def test_any_valid_settings_round_trip(optimizer, loss, schedule, precision, lr, epochs, batch_size, seed):
    s = TrainSettings(optimizer=optimizer, loss=loss, schedule=schedule, precision=precision,
                      lr=lr, epochs=epochs, batch_size=batch_size, seed=seed)
    assert TrainSettings.from_dict(json.loads(json.dumps(s.to_dict()))) == s


# ----------------------------------------------------------------- dataset section
def test_dataset_settings_round_trip_and_defaults():
    d = DatasetSettings.from_dict({"name": "moons", "options": {"noise": 0.3}})
    assert (d.normalise, d.val_split) == ("standard", 0.2)
    assert DatasetSettings.from_dict(json.loads(json.dumps(d.to_dict()))) == d


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"name": "moons", "split": 0.1}, "unknown dataset setting 'split'"),
        ({"name": "moons", "val_split": 1.0}, "val_split must be below 1"),
        ({"name": "moons", "val_split": -0.1}, "val_split must be at least 0"),
        ({"name": "moons", "normalise": "zscore"}, "normalise must be one of 'standard', 'minmax', 'none'"),
        ({"name": 3}, "name must be text, got 3"),
        ({"name": "moons", "options": [1]}, "options must be an object with text keys, got [1]"),
    ],
)
def test_dataset_settings_errors(data, expected):
    with pytest.raises(SettingsError) as info:
        DatasetSettings.from_dict(data)
    assert expected in str(info.value)


def test_relative_data_path_resolves_next_to_the_graph(tmp_path):
    (tmp_path / "points.csv").write_text("a,b,label\n1,2,0\n")
    d = DatasetSettings("points.csv")
    assert d.resolve_name(str(tmp_path)) == str(tmp_path / "points.csv")
    assert DatasetSettings("moons").resolve_name(str(tmp_path)) == "moons"
