"""The settings' one declaration (graph/settings.py) and the .loom loader that checks
a file's "dataset" and "training" sections against it."""

import json

import pytest

from layerloom.graph import GraphFileError, ParamError, dumps, load_graph, loads, save_graph
from layerloom.graph import settings as declaration
from layerloom.graph.params import Float, Floats, Int, Object, Param, Text
from layerloom.resources import examples_dir
from tests.graph.helpers import mlp


def _file(tmp_path, training=None, dataset=None, name="m.loom"):
    """A small graph saved with the given sections, written as JSON as they are."""
    data = json.loads(dumps(mlp()))
    data["training"] = training or {}
    data["dataset"] = dataset or {}
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return path


# ------------------------------------------------------------------ declaration
@pytest.mark.parametrize("section", declaration.SECTIONS)
def test_every_default_passes_its_own_check(section):
    names = [p.name for p in declaration.declared(section)]
    assert len(names) == len(set(names))
    checked = declaration.check_values(section, declaration.defaults(section))
    assert declaration.to_json(section, checked) == json.loads(json.dumps(
        declaration.to_json(section, declaration.defaults(section))))


def test_flags_are_unique_and_name_an_option():
    flags = [p.flag.split()[0] for s in declaration.SECTIONS for p in declaration.declared(s) if p.flag]
    assert len(flags) == len(set(flags))
    assert {"--lr", "--epochs", "--batch-size", "--dataset", "--val-split", "--nproc"} <= set(flags)


def test_unknown_keys_are_named_with_the_known_ones():
    with pytest.raises(ParamError) as info:
        declaration.check_values("training", {"learning_rate": 0.1, "optimiser": "sgd", "epochs": 2})
    message = str(info.value)
    assert "unknown training settings 'learning_rate', 'optimiser'" in message
    assert "known settings are optimizer, lr, batch_size" in message


@pytest.mark.parametrize(("key", "good", "bad", "expected"), [
    ("lr", 1e-6, 0, "lr must be above 0, got 0.0"),
    ("momentum", 0.9995, 1.0, "momentum must be below 1, got 1.0"),
    ("betas", [0.5, 0.9999], [0.9, 1.0], "betas must be below 1, got 1.0"),
    ("batch_size", "FULL", "half", "batch_size must be a whole number of samples or 'full', got 'half'"),
    ("device", "CUDA:1", "tpu", "device must be auto, cpu, cuda, cuda:N or mps, got 'tpu'"),
    ("lr_gamma", 1.0, 0.0, "lr_gamma must be above 0, got 0.0"),
])
def test_bounds_and_spellings(key, good, bad, expected):
    declaration.check_setting("training", key, good)
    with pytest.raises(ParamError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        declaration.check_setting("training", key, bad)


def test_canonical_values():
    values = declaration.check_values("training", {"batch_size": "full", "lr": 1, "device": " CPU",
                                                   "betas": [0.8, 0.9]})
    assert values == {"batch_size": 0, "lr": 1.0, "device": "cpu", "betas": (0.8, 0.9)}
    assert declaration.to_json("training", values)["betas"] == [0.8, 0.9]


def test_nesterov_needs_momentum():
    with pytest.raises(ParamError, match="nesterov needs momentum above 0"):
        declaration.check_values("training", {"optimizer": "sgd", "nesterov": True})
    declaration.check_values("training", {"optimizer": "sgd", "nesterov": True, "momentum": 0.9})


# ------------------------------------------------------------- the Param kinds
def test_exclusive_bounds_and_range_text():
    p = Float("share", 0.5, minimum=0.0, maximum=1.0, exclusive_maximum=True)
    assert p.coerce(0) == 0.0 and p.coerce(0.999) == 0.999
    with pytest.raises(ParamError, match="share must be below 1, got 1.0"):
        p.coerce(1)
    assert p.range_text() == "at least 0, below 1"
    assert Int("n", 1, minimum=1, maximum=9).range_text() == "1 … 9"
    assert Float("lr", 1.0, minimum=0, exclusive_minimum=True).range_text() == "above 0"


def test_text_floats_and_object_kinds():
    assert Text("t", "").coerce("a b") == "a b"
    with pytest.raises(ParamError, match="t must be text, got 3"):
        Text("t", "").coerce(3)
    with pytest.raises(ParamError, match="too long: 10,001 characters"):
        Text("t", "").coerce("x" * 10_001)
    f = Floats("f", (0.1, 0.2), length=2, minimum=0)
    assert f.coerce([1, 2]) == (1.0, 2.0)
    with pytest.raises(ParamError, match="f needs 2 values, got 3"):
        f.coerce([1, 2, 3])
    with pytest.raises(ParamError, match="f must be a number, got 'x'"):
        f.coerce([1, "x"])
    options = {"noise": 0.1}
    copied = Object("o").coerce(options)
    assert copied == options and copied is not options
    with pytest.raises(ParamError, match="o must be an object with text keys"):
        Object("o").coerce([1])


def test_a_misdeclared_param_is_refused():
    with pytest.raises(ValueError, match="unknown form place 'side'"):
        Param("x", "int", 0, form="side")
    with pytest.raises(ValueError, match="must start with '--'"):
        Param("x", "int", 0, flag="x N")


# ---------------------------------------------------------------------- loader
@pytest.mark.parametrize(("section", "key", "value", "expected"), [
    ("training", "lr", 0, "lr must be above 0, got 0"),
    ("training", "momentum", 1.0, "momentum must be below 1, got 1.0"),
    ("training", "epochs", 2.5, "epochs must be a whole number, got 2.5"),
    ("training", "optimizer", "adamx", "optimizer must be one of 'sgd', 'adam'"),
    ("training", "early_stopping", "yes", "early_stopping must be true or false, got 'yes'"),
    ("training", "learning_rate", 0.1, "unknown training setting 'learning_rate'; known settings are"),
    ("dataset", "val_split", 1.0, "val_split must be below 1, got 1.0"),
    ("dataset", "name", 3, "name must be text, got 3"),
    ("dataset", "options", [1], "options must be an object with text keys, got [1]"),
    ("dataset", "split", 0.1, "unknown dataset setting 'split'"),
])
def test_a_bad_setting_in_a_file_is_a_named_error(tmp_path, section, key, value, expected):
    path = _file(tmp_path, **{section: {key: value}})
    with pytest.raises(GraphFileError) as info:
        load_graph(path)
    error = info.value
    assert error.where == f"{section}.{key}"
    assert expected in error.problem
    assert str(error).startswith(f"{path} at {section}.{key}: ")


def test_a_broken_rule_between_settings_names_the_section(tmp_path):
    path = _file(tmp_path, training={"optimizer": "sgd", "nesterov": True})
    with pytest.raises(GraphFileError, match=r"at training: nesterov needs momentum above 0"):
        load_graph(path)


def test_the_loader_keeps_checked_values_in_canonical_form(tmp_path):
    path = _file(tmp_path, training={"batch_size": "full", "lr": 1, "device": "CPU"},
                 dataset={"name": "moons", "val_split": 0})
    graph = load_graph(path)
    assert graph.training == {"batch_size": 0, "lr": 1.0, "device": "cpu"}
    assert graph.dataset == {"name": "moons", "val_split": 0.0}  # missing keys stay missing
    save_graph(graph, path)
    first = path.read_bytes()
    save_graph(load_graph(path), path)
    assert path.read_bytes() == first


def test_every_example_still_loads():
    examples = sorted(examples_dir().glob("*.loom"))
    assert len(examples) > 20
    for path in examples:
        graph = load_graph(path)
        raw = json.loads(path.read_text(encoding="utf-8"))
        assert set(graph.training) == set(raw["training"]), path.name
        assert set(graph.dataset) == set(raw["dataset"]), path.name


def test_a_setting_added_to_the_declaration_is_checked_by_the_loader(monkeypatch):
    warmup = Int("warmup_epochs", 0, "Epochs of linear warm-up", minimum=0, maximum=100)
    monkeypatch.setattr(declaration, "TRAINING", (*declaration.TRAINING, warmup))
    text = dumps(mlp())
    data = json.loads(text)
    data["training"] = {"warmup_epochs": 5}
    assert loads(json.dumps(data)).training == {"warmup_epochs": 5}
    data["training"] = {"warmup_epochs": 500}
    with pytest.raises(GraphFileError, match=r"at training.warmup_epochs: warmup_epochs must be at most 100, got 500"):
        loads(json.dumps(data), "w.loom")
    monkeypatch.undo()
    with pytest.raises(GraphFileError, match="unknown training setting 'warmup_epochs'"):
        loads(json.dumps(data), "w.loom")
