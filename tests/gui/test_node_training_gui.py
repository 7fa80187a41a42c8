"""Freezing and initialisation in the app: the inspector's Training section, undo,
the snowflake on the node card and the status bar's frozen count."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from layerloom.gui.canvas import labels
from tests.gui.test_window_helpers import make_window


@pytest.fixture
def window(qtbot, tmp_path):
    return make_window(qtbot, tmp_path)


def _mlp(window):
    g = window.graph
    ids = []
    for i, (type_id, params) in enumerate([("input", {"shape": [2]}), ("dense", {"units": 16, "activation": "relu"}),
                                           ("dense", {"units": 2}), ("output", {})]):
        node = g.add_node(type_id, params, position=(i * 240.0, 0.0))
        if ids:
            g.connect(ids[-1], "out", node.id, "in")
        ids.append(node.id)
    return ids


def _select(window, qtbot, *ids):
    window.scene.select_nodes(list(ids))
    qtbot.waitUntil(lambda: window.inspector.node_ids == list(ids))


def test_freeze_and_initialise_from_the_inspector_with_undo(window, qtbot):
    ids = _mlp(window)
    _select(window, qtbot, ids[1])
    form = window.inspector.training_form
    assert form.isVisible() and list(form.editors) == ["trainable", "init", "init_std"]
    assert form.editors["trainable"].isChecked() and not form.editors["init_std"].isEnabled()
    before = window.graph.to_dict()

    QTest.mouseClick(form.editors["trainable"], Qt.MouseButton.LeftButton,
                     pos=form.editors["trainable"].rect().center())
    assert window.graph.node(ids[1]).training == {"trainable": False}
    assert window.undo_stack.undoText() == "Freeze dense_1"
    frozen = window.graph.to_dict()
    qtbot.waitUntil(lambda: "(48 frozen)" in window.graph_status.params.text())
    qtbot.waitUntil(lambda: window.scene.node_item(ids[1])._shown.count.startswith(labels.FROZEN_MARK))
    assert "(frozen)" in window.inspector.facts["params"].text()

    combo = form.editors["init"]
    combo.setCurrentIndex(combo.findText("normal"))  # the user picks from the list
    combo.activated.emit(combo.currentIndex())
    assert window.graph.node(ids[1]).training == {"trainable": False, "init": "normal"}
    qtbot.waitUntil(lambda: form.editors["init_std"].isEnabled())  # the form follows the model
    std = form.editors["init_std"]
    std.setFocus()
    std.selectAll()
    qtbot.keyClicks(std, "-1")
    qtbot.keyClick(std, Qt.Key.Key_Return)
    assert "init_std" not in window.graph.node(ids[1]).training  # refused, with the reason shown
    assert window.inspector.edit_error.isVisible() and "above 0" in window.inspector.edit_error.text()
    std.selectAll()
    qtbot.keyClicks(std, "0.1")
    qtbot.keyClick(std, Qt.Key.Key_Return)
    assert window.graph.node(ids[1]).training == {"trainable": False, "init": "normal", "init_std": 0.1}
    qtbot.waitUntil(lambda: "init normal 0.1" in window.scene.node_item(ids[1])._shown.keys)

    window.undo_stack.undo()
    window.undo_stack.undo()
    assert window.graph.to_dict() == frozen
    window.undo_stack.undo()
    assert window.graph.to_dict() == before
    qtbot.waitUntil(lambda: form.editors["trainable"].isChecked())
    assert "frozen" not in window.graph_status.params.text()
    window.undo_stack.redo()
    assert window.graph.to_dict() == frozen


def test_layers_without_weights_have_no_training_section_and_several_nodes_share_it(window, qtbot):
    ids = _mlp(window)
    window.graph.add_node("relu")
    _select(window, qtbot, "relu_1")
    assert not window.inspector.training_form.isVisible()
    _select(window, qtbot, ids[1], ids[2])
    form = window.inspector.training_form
    assert form.isVisible()
    form.apply("trainable", False)
    assert all(window.graph.node(n).training == {"trainable": False} for n in ids[1:3])
    assert window.undo_stack.undoText() == "Freeze 2 nodes"
    window.graph.set_training(ids[2], {"trainable": True})
    _select(window, qtbot, ids[1])
    _select(window, qtbot, ids[1], ids[2])
    assert form.editors["trainable"].checkState() == Qt.CheckState.PartiallyChecked


def test_screenshot(window, qtbot, tmp_path):
    ids = _mlp(window)
    window.graph.set_training(ids[1], {"trainable": False, "init": "kaiming_normal"})
    _select(window, qtbot, ids[1])
    window.resize(1400, 800)
    qtbot.wait(200)
    window.grab().save("/tmp/ft_inspector.png")


def test_delete_undo_and_copy_paste_keep_the_node_settings(window, qtbot):
    from layerloom.gui.clipboard import copy_selection
    from layerloom.gui.commands import Paste, RemoveNodes

    ids = _mlp(window)
    window.graph.set_training(ids[1], {"trainable": False, "init": "zeros"})
    window.undo_stack.push(RemoveNodes(window.graph, [ids[1]]))
    window.undo_stack.undo()
    assert window.graph.node(ids[1]).training == {"trainable": False, "init": "zeros"}
    window.undo_stack.push(Paste(window.graph, copy_selection(window.graph, [ids[1]]), (40, 40)))
    pasted = [n for n in window.graph.nodes if n.id not in ids]
    assert len(pasted) == 1 and pasted[0].training == {"trainable": False, "init": "zeros"}
