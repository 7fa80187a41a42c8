"""One declaration, every surface: the .loom loader, the backend's settings, the
set-up form and the `layerloom train` options all read graph/settings.py, so a
setting added there shows up in each, and they accept exactly the same values."""

from __future__ import annotations

import json

import pytest

from layerloom.backend.cli import build_parser
from layerloom.backend.cli import settings_options as cli_options
from layerloom.backend.training import DatasetSettings, SettingsError, TrainSettings
from layerloom.graph import GraphFileError, dumps, loads
from layerloom.graph import settings as declaration
from layerloom.graph.params import Float, Int
from tests.gui.test_training_file_options import type_into
from tests.gui.test_training_helpers import make_host, one_thread  # noqa: F401

pytestmark = pytest.mark.usefixtures("one_thread")

SETTINGS_CLASS = {"training": TrainSettings, "dataset": DatasetSettings}
ALLOWED = {"momentum": "Allowed: ≥ 0, < 1", "val_split": "Allowed: ≥ 0, < 1", "lr": "Allowed: > 0, ≤ 1000"}


def file_accepts(graph, section: str, key: str, value) -> bool:
    """Whether a .loom file whose ``section`` holds ``key: value`` loads."""
    data = json.loads(dumps(graph))
    data[section] = {key: value}
    try:
        loads(json.dumps(data), "check.loom")
    except GraphFileError as exc:
        assert exc.where == f"{section}.{key}" and repr(value) in exc.problem
        return False
    return True


def backend_accepts(section: str, key: str, value) -> bool:
    try:
        SETTINGS_CLASS[section].from_dict({key: value})
    except SettingsError:
        return False
    return True


def form_accepts(qtbot, panel, section: str, key: str, text: str, value) -> bool:
    """Type ``text`` into the set-up form's field for ``key``, as a user would."""
    editors = panel.training_editors if section == "training" else panel.editors
    editor = editors[key]
    if section == "training" and not editor.isVisible():
        panel.advanced_box.setChecked(True)  # open "More"
        qtbot.waitUntil(editor.isVisible)
    sections = {"training": lambda: panel.graph.training, "dataset": lambda: panel.graph.dataset}
    before = dict(sections[section]())
    type_into(qtbot, editor, text)
    after = sections[section]()
    if after.get(key) == value:
        assert not panel.problem.isVisibleTo(panel)
        return True
    assert after == before, "a refused value must leave the settings as they were"
    assert panel.problem.isVisibleTo(panel) and key in panel.problem.text()
    return False


def cli_accepts(capsys, section: str, key: str, text: str, value) -> bool | None:
    """Whether ``layerloom train`` takes ``text`` for the setting (``None``: no option)."""
    param = declaration.setting(section, key)
    if not param.flag:
        return None
    try:
        args = build_parser().parse_args(["train", "f.loom", param.flag.split()[0], text])
    except SystemExit as exc:
        assert exc.code == 2 and key in capsys.readouterr().err
        return False
    assert cli_options.overrides(args, section)[key] == value
    return True


@pytest.mark.parametrize(("section", "key", "text", "value", "accepted"), [
    ("training", "momentum", "0.9995", 0.9995, True),  # the form stopped at 0.999
    ("training", "momentum", "1.0", 1.0, False),
    ("dataset", "val_split", "0.96", 0.96, True),  # the form stopped at 0.95
    ("dataset", "val_split", "1.0", 1.0, False),
    ("training", "lr", "0", 0.0, False),  # the form took 0
    ("training", "lr", "1e-09", 1e-9, True),
])
def test_every_surface_accepts_the_same_values(qtbot, capsys, section, key, text, value, accepted):
    host = make_host(qtbot)
    panel = host.dock.setup
    editors = panel.training_editors if section == "training" else panel.editors
    assert ALLOWED[key] in editors[key].toolTip()  # the form says the range it keeps
    assert file_accepts(host.graph, section, key, value) is accepted
    assert backend_accepts(section, key, value) is accepted
    assert form_accepts(qtbot, panel, section, key, text, value) is accepted
    has_option = key != "momentum"  # momentum is set in the file or the form only
    assert cli_accepts(capsys, section, key, text, value) is (accepted if has_option else None)


@pytest.mark.parametrize(("section", "param", "good", "bad"), [
    ("training", Int("warmup_epochs", 0, "Epochs of linear warm-up", minimum=0, maximum=100,
                     form="more", flag="--warmup-epochs N"), 5, 500),
    ("dataset", Float("label_noise", 0.0, "Share of labels flipped at random", minimum=0.0,
                      maximum=0.5, flag="--label-noise P"), 0.25, 0.75),
])
def test_a_setting_added_to_the_declaration_reaches_every_surface(qtbot, capsys, monkeypatch,
                                                                  section, param, good, bad):
    name = "TRAINING" if section == "training" else "DATASET"
    monkeypatch.setattr(declaration, name, (*getattr(declaration, name), param))
    host = make_host(qtbot)
    panel = host.dock.setup

    # the set-up form: a field from the same editor factory as a layer's, in its place
    editors = panel.training_editors if section == "training" else panel.editors
    editor = editors[param.name]
    assert editor.objectName() == f"param_{param.name}"
    assert param.help in editor.toolTip()
    box = panel.advanced_box if param.form == "more" else panel.findChild(type(panel.advanced_box), "datasetBox")
    assert box.isAncestorOf(editor)
    assert form_accepts(qtbot, panel, section, param.name, str(good), good)
    if param.kind == "float":
        assert not form_accepts(qtbot, panel, section, param.name, str(bad), bad)
        assert "at most 0.5" in panel.problem.text()
    else:  # a spin box cannot go past the declared range
        assert (editor.minimum(), editor.maximum()) == (param.minimum, param.maximum)

    # the file: saved, loaded and checked
    stored = getattr(loads(dumps(host.graph)), section)
    assert stored[param.name] == good
    assert not file_accepts(host.graph, section, param.name, bad)

    # the command line: an option with the declared help and range, checked
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    flag, _, metavar = param.flag.partition(" ")
    assert f"{flag} {metavar} {param.help[:1].lower()}{param.help[1:]}" in help_text
    assert cli_accepts(capsys, section, param.name, str(good), good) is True
    assert cli_accepts(capsys, section, param.name, str(bad), bad) is False


def test_the_editor_factory_covers_the_settings_kinds(qtbot):
    from layerloom.graph.params import Floats, Object, Text
    from layerloom.gui.param_editors import make_editor

    betas = make_editor(Floats("betas", (0.9, 0.999), "beta1 and beta2", length=2, minimum=0.0,
                               maximum=1.0, exclusive_maximum=True))
    name = make_editor(Text("name", "", "A dataset"))
    qtbot.addWidget(betas)
    qtbot.addWidget(name)
    betas.set_value((0.9, 0.999))
    assert betas.text() == "0.9, 0.999" and "Allowed: ≥ 0, < 1" in betas.toolTip()
    edits, refusals = [], []
    betas.edited.connect(edits.append)
    betas.rejected.connect(refusals.append)
    type_into(qtbot, betas, "0.8, 0.99")
    type_into(qtbot, betas, "0.8, x")
    assert edits == [(0.8, 0.99)]
    assert refusals == ["betas takes numbers separated by commas such as '0.5, 0.5'; got '0.8, x'"]
    name.edited.connect(edits.append)
    type_into(qtbot, name, "points.csv")
    assert edits[-1] == "points.csv"
    with pytest.raises(ValueError, match="no editor for options of kind 'object'"):
        make_editor(Object("options"))


def test_a_timestamp_seed_fits_every_surface(qtbot, capsys):
    """Seeds of 2**31 and more (a timestamp) open from a file, are typed into the form
    (a text field: a spin box holds 32 bits) and given on the command line."""
    from layerloom.gui.param_editors import WideIntEditor

    seed = 1_733_400_000_123
    host = make_host(qtbot)
    panel = host.dock.setup
    assert isinstance(panel.training_editors["seed"], WideIntEditor)
    assert file_accepts(host.graph, "training", "seed", seed)
    assert backend_accepts("training", "seed", seed)
    assert form_accepts(qtbot, panel, "training", "seed", str(seed), seed)
    assert cli_accepts(capsys, "training", "seed", str(seed), seed)
    assert not form_accepts(qtbot, panel, "training", "seed", str(2 ** 64), 2 ** 64)
