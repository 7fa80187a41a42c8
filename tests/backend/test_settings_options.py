"""The backend reads the settings' one declaration: TrainSettings/DatasetSettings
have exactly its fields and defaults, and `layerloom train` makes its options from it."""

from dataclasses import fields

import pytest

from layerloom.backend.cli import build_parser, main
from layerloom.backend.cli import settings_options as cli_options
from layerloom.backend.training import DatasetSettings, SettingsError, TrainSettings
from layerloom.graph import settings as declaration
from layerloom.graph.params import Float, Int
from tests.backend.helpers import error_line, moons_file


@pytest.mark.parametrize(("cls", "section"), [(TrainSettings, "training"), (DatasetSettings, "dataset")])
def test_the_settings_classes_have_the_declared_fields_and_defaults(cls, section):
    assert {f.name for f in fields(cls)} == {p.name for p in declaration.declared(section)}
    made = cls()
    for param in declaration.declared(section):
        assert getattr(made, param.name) == param.default, param.name


def test_help_lists_every_option_with_its_range_and_default(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for _section, param in cli_options.options():
        assert param.flag.split()[0] in text
    assert "--lr LR learning rate: the size of each update" in text
    assert "(above 0, at most 1000; default: the file's, else 0.001)" in text
    assert "--val-split F share of the samples held out for validation; 0: none (at least 0, below 1;" in text
    assert "--optimizer {sgd,adam,adamw,rmsprop,adagrad}" in text


def test_options_are_read_and_checked_by_the_declaration(tmp_path):
    parser = build_parser()
    args = parser.parse_args(["train", "f.loom", "--batch-size", "FULL", "--lr", "1e-3",
                              "--device", "CUDA:1", "--val-split", "0.96", "--dataset", "circles"])
    assert cli_options.overrides(args, "training") == {"lr": 1e-3, "batch_size": 0, "device": "cuda:1"}
    assert cli_options.overrides(args, "dataset") == {"name": "circles", "val_split": 0.96}
    assert cli_options.overrides(parser.parse_args(["train", "f.loom"]), "training") == {}


def test_a_setting_added_to_the_declaration_becomes_a_checked_option(tmp_path, capsys, monkeypatch):
    warmup = Int("warmup_epochs", 0, "Epochs of linear warm-up", minimum=0, maximum=100,
                 flag="--warmup-epochs N")
    monkeypatch.setattr(declaration, "TRAINING", (*declaration.TRAINING, warmup))
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--warmup-epochs N epochs of linear warm-up (0 … 100; default: the file's, else 0)" in text
    args = build_parser().parse_args(["train", "f.loom", "--warmup-epochs", "7"])
    assert cli_options.overrides(args, "training") == {"warmup_epochs": 7}
    with pytest.raises(SystemExit) as info:
        main(["train", str(moons_file(tmp_path)), "--warmup-epochs", "101"])
    assert info.value.code == 2
    line, _ = error_line(capsys)
    assert "argument --warmup-epochs: warmup_epochs must be at most 100, got 101" in line


def test_a_float_option_without_a_value_name_still_reads_numbers(monkeypatch):
    ratio = Float("ratio", 0.5, "A share", minimum=0.0, maximum=1.0, exclusive_maximum=True, flag="--ratio")
    monkeypatch.setattr(declaration, "DATASET", (*declaration.DATASET, ratio))
    args = build_parser().parse_args(["train", "f.loom", "--ratio", "0.25"])
    assert cli_options.overrides(args, "dataset") == {"ratio": 0.25}


def test_command_line_values_go_through_the_same_checks_as_the_file(tmp_path, capsys):
    """--val-split 0.96 trains (the set-up form took only up to 0.95 before)."""
    path = moons_file(tmp_path, training={"epochs": 1, "batch_size": "full"})
    out = tmp_path / "run"
    assert main(["train", str(path), "--out", str(out), "--val-split", "0.96", "--no-progress"]) == 0
    assert '"val_split": 0.96' in (out / "metrics.json").read_text()
    with pytest.raises(SettingsError, match="val_split must be below 1, got 1.0"):
        DatasetSettings.from_dict({"val_split": 1.0})
