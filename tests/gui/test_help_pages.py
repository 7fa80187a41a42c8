"""Help > Getting Started and Help > Layer Reference: the same texts as
``layerloom help`` and ``layerloom layers NAME``."""

from __future__ import annotations

import subprocess
import sys

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QMenu

from layerloom.graph import REGISTRY
from tests.gui.test_window_helpers import make_window


@pytest.fixture
def window(qtbot, tmp_path):
    return make_window(qtbot, tmp_path)


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "layerloom.gui.launcher", *args],
                          capture_output=True, text=True, timeout=120)


def test_the_help_menu_has_the_guide_and_the_reference(window):
    menu = window.findChild(QMenu, "menu_help")
    names = [a.objectName() for a in menu.actions() if a.objectName()]
    assert names[:2] == ["action_getting_started", "action_layer_reference"]
    assert "action_about" in names


def test_getting_started_walks_through_build_wire_train_export(window, qtbot):
    QTest.keyClick(window, Qt.Key.Key_F1)
    page = window.help_pages.getting_started
    assert page is not None and page.isVisible()
    text = page.browser.toPlainText()
    steps = ["1. Build", "2. Wire", "3. Train", "4. Export"]
    positions = [text.index(step) for step in steps]
    assert positions == sorted(positions)
    assert "Ctrl+2" in text and "layerloom train" in text
    # opening it again brings the same window to the front
    window.help_pages.actions["getting_started"].trigger()
    assert window.help_pages.getting_started is page


def test_layer_reference_is_searchable_and_says_what_the_cli_says(window, qtbot):
    ref = window.help_pages.show_layer_reference()
    assert ref.list.count() == len(REGISTRY)
    ref.search.setFocus()
    QTest.keyClicks(ref.search, "conv2d")
    assert ref.shown_type == "conv2d"  # the best match first, shown at once
    assert all("conv" in ref.list.item(i).text().lower() for i in range(min(3, ref.list.count())))
    printed = _cli("layers", "conv2d")
    assert printed.returncode == 0, printed.stderr
    assert ref.text.toPlainText() == printed.stdout.rstrip("\n")

    ref.search.clear()
    QTest.keyClicks(ref.search, "zzqq")
    assert ref.empty.isVisible() and ref.empty.text() == "No layer matches 'zzqq'"
    assert not ref.list.isVisible() and ref.text.toPlainText() == ""


def test_layer_reference_opens_on_the_selected_layer(window, qtbot):
    node = window.graph.add_node("lstm", {})
    window.scene.select_nodes([node.id])
    QTest.keyClick(window, Qt.Key.Key_F1, Qt.KeyboardModifier.ShiftModifier)
    ref = window.help_pages.layer_reference
    assert ref.isVisible() and ref.shown_type == "lstm"
    assert ref.text.toPlainText().startswith("LSTM (lstm)")


def test_layerloom_help_prints_the_guide(capsys):
    from layerloom.backend.cli import main as cli_main
    from layerloom.backend.cli.help_cmd import markdown, plain_text

    done = _cli("help")
    assert done.returncode == 0, done.stderr
    assert done.stdout == plain_text()
    assert "1. Build" in done.stdout and "4. Export" in done.stdout
    wrong = _cli("help", "nonsense")
    assert wrong.returncode == 2 and wrong.stderr.startswith("error: no help topic is called 'nonsense'")
    assert cli_main(["help", "--markdown"]) == 0
    assert capsys.readouterr().out == markdown()  # the page the app renders
    assert cli_main(["help", "layers"]) == 0
    assert "layerloom layers NAME" in capsys.readouterr().out
