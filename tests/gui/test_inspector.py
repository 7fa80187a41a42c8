"""The inspector: a form from the layer schema; edits are undoable commands."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox, QComboBox, QLineEdit, QSpinBox

from layerloom.graph import REGISTRY
from layerloom.gui.commands import Connect, SetParams
from tests.gui.test_window_helpers import make_window

EDITOR_TYPES = {"int": QSpinBox, "float": QLineEdit, "bool": QCheckBox, "choice": QComboBox, "ints": QLineEdit,
                "floats": QLineEdit}


@pytest.fixture
def window(qtbot, tmp_path):
    return make_window(qtbot, tmp_path)


@pytest.fixture
def inspector(window):
    return window.inspector


def _select(window, qtbot, *ids):
    window.scene.select_nodes(list(ids))
    qtbot.waitUntil(lambda: window.inspector.node_ids == list(ids))


def _type_into(qtbot, editor, text):
    """Select the editor's text, type ``text`` and press Enter, like a user."""
    editor.setFocus()
    line = editor.lineEdit() if isinstance(editor, QSpinBox) else editor
    line.selectAll()
    qtbot.keyClicks(line, text)
    qtbot.keyClick(line, Qt.Key.Key_Return)


def test_form_is_generated_from_every_layer_schema(window, inspector, qtbot):
    for spec in REGISTRY:
        node = window.graph.add_node(spec.type_id)
        _select(window, qtbot, node.id)
        assert list(inspector.editors) == [p.name for p in spec.params]
        assert inspector.title.text() == spec.name
        for param in spec.params:
            editor = inspector.editors[param.name]
            optional_int = param.kind == "int" and param.optional  # typed; empty means unset
            expected = QLineEdit if optional_int else EDITOR_TYPES[param.kind]
            assert isinstance(editor, expected), (spec.type_id, param.name)
            if param.help:
                assert param.help in editor.toolTip()
            if optional_int:
                assert editor.placeholderText() == param.unset
            elif param.kind == "int":
                assert editor.value() == node.params[param.name]
                if param.minimum is not None:
                    assert editor.minimum() == param.minimum
                if param.maximum is not None:
                    assert editor.maximum() == param.maximum
            elif param.kind == "choice":
                assert [editor.itemText(i) for i in range(editor.count())] == list(param.choices)
                assert editor.currentText() == node.params[param.name]
            elif param.kind == "bool":
                assert editor.isChecked() == node.params[param.name]


def test_int_spin_box_edit_is_undoable(window, inspector, qtbot):
    node = window.graph.add_node("dense")
    _select(window, qtbot, node.id)
    _type_into(qtbot, inspector.editors["units"], "64")
    assert node.params["units"] == 64
    window.action("undo").trigger()
    assert node.params["units"] == 32
    qtbot.waitUntil(lambda: inspector.editors["units"].value() == 32)
    window.action("redo").trigger()
    assert node.params["units"] == 64
    qtbot.waitUntil(lambda: inspector.editors["units"].value() == 64)


def test_small_float_values_can_be_typed(window, inspector, qtbot):
    node = window.graph.add_node("batch_norm")
    _select(window, qtbot, node.id)
    _type_into(qtbot, inspector.editors["eps"], "1e-7")
    assert node.params["eps"] == 1e-7
    _type_into(qtbot, inspector.editors["momentum"], "0.0003")
    assert node.params["momentum"] == 0.0003
    qtbot.waitUntil(lambda: inspector.editors["momentum"].text() == "0.0003")


@pytest.mark.parametrize(
    ("text", "reason"),
    [("abc", "must be a number"), ("1.5", "must be at most 1"), ("-0.1", "must be at least 0")],
)
def test_invalid_float_is_refused_with_the_reason(window, inspector, qtbot, text, reason):
    node = window.graph.add_node("dropout")
    _select(window, qtbot, node.id)
    before = window.undo_stack.count()
    editor = inspector.editors["p"]
    _type_into(qtbot, editor, text)
    assert node.params["p"] == 0.5
    assert window.undo_stack.count() == before
    assert inspector.edit_error.isVisible()
    assert reason in inspector.edit_error.text()
    assert editor.property("invalid") is True
    assert editor.text() == text, "the refused text stays for the user to fix"
    _type_into(qtbot, editor, "0.2")
    assert node.params["p"] == 0.2
    assert not inspector.edit_error.isVisible()


def test_tuple_editor_reads_lists_single_numbers_and_words(window, inspector, qtbot):
    conv = window.graph.add_node("conv2d")
    _select(window, qtbot, conv.id)
    _type_into(qtbot, inspector.editors["kernel_size"], "5, 3")
    assert conv.params["kernel_size"] == (5, 3)
    _type_into(qtbot, inspector.editors["stride"], "2")
    assert conv.params["stride"] == (2, 2)
    _type_into(qtbot, inspector.editors["padding"], "same")
    assert conv.params["padding"] == "same"
    _type_into(qtbot, inspector.editors["padding"], "valid")
    assert conv.params["padding"] == "valid"
    qtbot.waitUntil(lambda: inspector.editors["stride"].text() == "2, 2")
    _type_into(qtbot, inspector.editors["kernel_size"], "3, x")
    assert conv.params["kernel_size"] == (5, 3)
    assert "whole numbers separated by commas" in inspector.edit_error.text()
    _type_into(qtbot, inspector.editors["kernel_size"], "3, 3, 3")
    assert conv.params["kernel_size"] == (5, 3)
    assert "needs 2 values" in inspector.edit_error.text()

    data = window.graph.add_node("input")
    _select(window, qtbot, data.id)
    _type_into(qtbot, inspector.editors["shape"], "3, 32, 32")
    assert data.params["shape"] == (3, 32, 32)


def test_check_box_and_combo_box_edits(window, inspector, qtbot):
    node = window.graph.add_node("dense")
    _select(window, qtbot, node.id)
    qtbot.mouseClick(inspector.editors["bias"], Qt.MouseButton.LeftButton)
    assert node.params["bias"] is False
    combo = inspector.editors["activation"]
    combo.setFocus()
    qtbot.keyClick(combo, Qt.Key.Key_Down)
    assert node.params["activation"] == "relu"
    assert window.undo_stack.count() == 2
    window.undo_stack.undo()
    window.graph.lint()
    qtbot.waitUntil(lambda: combo.currentText() == "none")
    assert window.undo_stack.count() == 2, "writing the model's value back is not an edit"


def test_change_that_removes_a_wired_port_is_refused(window, inspector, qtbot):
    graph = window.graph
    sources = [graph.add_node("input") for _ in range(3)]
    add = graph.add_node("add", {"inputs": 3})
    for i, src in enumerate(sources, start=1):
        graph.connect(src.id, "out", add.id, f"in{i}")
    _select(window, qtbot, add.id)
    spin = inspector.editors["inputs"]
    _type_into(qtbot, spin, "2")
    assert add.params["inputs"] == 3
    assert "in3 still have wires; disconnect them first" in inspector.edit_error.text()
    qtbot.waitUntil(lambda: spin.value() == 3)


def test_several_nodes_of_one_type_are_edited_together(window, inspector, qtbot):
    a = window.graph.add_node("dense", {"units": 8})
    b = window.graph.add_node("dense", {"units": 16})
    _select(window, qtbot, a.id, b.id)
    assert inspector.title.text() == "2 × Dense"
    assert not inspector.label_edit.isEnabled()
    _type_into(qtbot, inspector.editors["units"], "10")
    assert (a.params["units"], b.params["units"]) == (10, 10)
    assert window.undo_stack.count() == 1
    window.undo_stack.undo()
    window.graph.lint()
    assert (a.params["units"], b.params["units"]) == (8, 16)

    c = window.graph.add_node("dropout", {"p": 0.1})
    d = window.graph.add_node("dropout", {"p": 0.2})
    _select(window, qtbot, c.id, d.id)
    p_editor = inspector.editors["p"]
    assert p_editor.text() == "" and p_editor.placeholderText() == "mixed"
    _type_into(qtbot, p_editor, "0.3")
    assert (c.params["p"], d.params["p"]) == (0.3, 0.3)
    qtbot.waitUntil(lambda: p_editor.text() == "0.3")


def test_nodes_of_different_types_show_no_form(window, inspector, qtbot):
    a = window.graph.add_node("dense")
    b = window.graph.add_node("dropout")
    _select(window, qtbot, a.id, b.id)
    assert not inspector.node_box.isVisible()
    assert "one type" in inspector.hint.text()


def test_rename_through_the_label_field(window, inspector, qtbot):
    node = window.graph.add_node("dense")
    _select(window, qtbot, node.id)
    _type_into(qtbot, inspector.label_edit, "Hidden")
    assert node.label == "Hidden"
    window.undo_stack.undo()
    window.graph.lint()
    assert node.label == ""
    qtbot.waitUntil(lambda: inspector.label_edit.text() == "")


def test_shows_shapes_counts_and_errors(window, inspector, qtbot):
    graph = window.graph
    data = graph.add_node("input", {"shape": (4,)})
    dense = graph.add_node("dense", {"units": 3})
    _select(window, qtbot, dense.id)
    assert "not connected" in inspector.node_error.text()
    assert inspector.node_error.isVisible()
    window.undo_stack.push(Connect(graph, data.id, "out", dense.id, "in"))
    qtbot.waitUntil(lambda: not inspector.node_error.isVisible())
    info = graph.analysis().nodes[dense.id]
    assert info.params == 4 * 3 + 3
    assert inspector.facts["params"].text() == "15"
    assert inspector.facts["outputs"].text() == str(info.out) == "(N, 3)"
    assert inspector.facts["inputs"].text() == "(N, 4)"


def test_form_follows_edits_made_elsewhere_without_echo(window, inspector, qtbot):
    node = window.graph.add_node("dropout")
    _select(window, qtbot, node.id)
    window.undo_stack.push(SetParams(window.graph, [node.id], {"p": 0.125}))
    qtbot.waitUntil(lambda: inspector.editors["p"].text() == "0.125")
    assert window.undo_stack.count() == 1
    window.graph.remove_node(node.id)
    qtbot.waitUntil(lambda: inspector.node_ids == [])
    assert not inspector.node_box.isVisible()


def test_a_seed_beyond_32_bits_is_typed_and_kept(qtbot):
    """A timestamp seed (over 2^31) fits its field, and the field keeps answering."""
    from layerloom.graph import Param
    from layerloom.gui.param_editors import WideIntEditor, make_editor

    param = Param("seed", "int", 0, minimum=0, maximum=2 ** 63 - 1)
    editor = make_editor(param)
    qtbot.addWidget(editor)
    assert isinstance(editor, WideIntEditor)
    editor.set_value(1_733_400_000_123)
    assert editor.text() == "1733400000123" and not editor.signalsBlocked()
    got, refused = [], []
    editor.edited.connect(got.append)
    editor.rejected.connect(refused.append)
    editor.setText("9007199254740993")
    editor.editingFinished.emit()
    assert got == [9007199254740993]
    editor.setText("-4")
    editor.editingFinished.emit()
    assert refused and "seed must be a whole number (0 … " in refused[0]
    small = make_editor(Param("units", "int", 8, minimum=1, maximum=10_000))
    qtbot.addWidget(small)
    assert not isinstance(small, WideIntEditor)
