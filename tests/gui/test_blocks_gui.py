"""Blocks in the editor: make a block from the canvas selection, ungroup it, open
it, edit inside, go back out, undo, with the real mouse and keyboard."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtTest import QTest

from layerloom.graph import Graph, dumps, load_graph, make_block
from layerloom.gui.block_editors import OWN_WEIGHTS
from layerloom.gui.commands import SetParams
from tests.gui.test_window_helpers import make_window

CTRL = Qt.KeyboardModifier.ControlModifier
SHIFT = Qt.KeyboardModifier.ShiftModifier


def residual_graph() -> tuple[Graph, list[str]]:
    """input -> dense -> [dense relu -> dense, + skip] -> output, laid out in a row;
    returns the graph and the ids of the three nodes of the residual part."""
    g = Graph()
    ids = []
    for i, (type_id, params) in enumerate([
        ("input", {"shape": [4]}), ("dense", {"units": 8}), ("dense", {"units": 8, "activation": "relu"}),
        ("dense", {"units": 8}), ("add", {"inputs": 2}), ("output", {}),
    ]):
        ids.append(g.add_node(type_id, params, position=(i * 240.0, 0.0)).id)
    inp, first, a, b, add, out = ids
    g.connect(inp, "out", first, "in")
    g.connect(first, "out", a, "in")
    g.connect(a, "out", b, "in")
    g.connect(b, "out", add, "in1")
    g.connect(first, "out", add, "in2")
    g.connect(add, "out", out, "in")
    return g, [a, b, add]


@pytest.fixture
def window(qtbot, tmp_path):
    w = make_window(qtbot, tmp_path)
    w.activateWindow()
    qtbot.waitActive(w)
    w.names_asked = []
    w.ask_block_name = lambda default: w.names_asked.append(default) or "residual"
    return w


def load(window, graph: Graph) -> None:
    window.document.graph.replace_with(graph)
    window.undo_stack.clear()
    window.view.fit_to_view()
    window.scene.refresh_analysis()


def view_point(window, scene_point: QPointF) -> QPoint:
    return window.view.mapFromScene(scene_point)


def card_point(window, node_id: str) -> QPoint:
    """A point on a node's header."""
    item = window.scene.node_item(node_id)
    return view_point(window, item.scenePos() + QPointF(60, 12))


def rubber_band(window, ids: list[str]) -> None:
    """Drag a rubber band from empty canvas around the nodes ``ids``."""
    rect = None
    for nid in ids:
        r = window.scene.node_item(nid).sceneBoundingRect()
        rect = r if rect is None else rect.united(r)
    a = view_point(window, rect.topLeft() + QPointF(-15, -30))
    b = view_point(window, rect.bottomRight() + QPointF(10, 30))
    viewport = window.view.viewport()
    QTest.mousePress(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, a)
    for i in range(1, 6):
        QTest.mouseMove(viewport, a + (b - a) * (i / 5))
    QTest.mouseRelease(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, b)


def ctrl_click(window, ids: list[str]) -> None:
    viewport = window.view.viewport()
    QTest.mouseClick(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, card_point(window, ids[0]))
    for nid in ids[1:]:
        QTest.mouseClick(viewport, Qt.MouseButton.LeftButton, CTRL, card_point(window, nid))


def key(window, key: Qt.Key, modifier=Qt.KeyboardModifier.NoModifier) -> None:
    window.view.setFocus()
    QTest.keyClick(window.view, key, modifier)


def double_click(window, node_id: str) -> None:
    QTest.mouseDClick(window.view.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                      card_point(window, node_id))


def group_with_keys(window, ids: list[str]) -> str:
    rubber_band(window, ids)
    assert window.scene.selected_node_ids() == ids
    key(window, Qt.Key.Key_G, CTRL)
    (block,) = [n.id for n in window.graph.nodes if n.is_block]
    return block


def test_rubber_band_and_ctrl_g_make_a_block_and_ctrl_z_undoes_it(window):
    graph, ids = residual_graph()
    load(window, graph)
    before = dumps(window.graph)
    block = group_with_keys(window, ids)
    assert window.names_asked == ["block"], "a default name is offered"
    node = window.graph.node(block)
    assert node.params["block"] == "residual" and window.graph.blocks.names() == ["residual"]
    assert window.scene.selected_node_ids() == [block], "the new block node is selected"
    assert [n.id for n in window.graph.nodes] == ["input_1", "dense_1", block, "output_1"]
    assert {i.node_id for i in window.scene.node_items()} == {"input_1", "dense_1", block, "output_1"}
    window.graph.lint()
    after = dumps(window.graph)
    key(window, Qt.Key.Key_Z, CTRL)
    assert dumps(window.graph) == before
    assert len(window.scene.node_items()) == 6
    window.undo_stack.redo()
    assert dumps(window.graph) == after
    window.graph.lint()


def test_ctrl_clicks_select_and_the_card_shows_the_rolled_up_count(window):
    graph, ids = residual_graph()
    load(window, graph)
    ctrl_click(window, ids)
    assert window.scene.selected_node_ids() == ids
    key(window, Qt.Key.Key_G, CTRL)
    (block,) = [n.id for n in window.graph.nodes if n.is_block]
    window.scene.refresh_analysis()
    item = window.scene.node_item(block)
    assert item.inputs.keys() == {"in"} and item.outputs.keys() == {"out"}
    assert window.graph.analysis().nodes[block].params == 2 * (8 * 8 + 8)
    assert "144 params" in item._shown.count
    assert window.scene.edge_item(next(e for e in window.graph.edges if e.target == block))


def test_a_selection_that_cannot_be_a_block_is_refused_with_the_reason(window):
    graph, _ = residual_graph()
    load(window, graph)
    before = dumps(window.graph)
    ctrl_click(window, ["dense_2", "add_1"])  # dense_3 between them would loop outside
    key(window, Qt.Key.Key_G, CTRL)
    assert "cycle through dense_3" in window.statusBar().currentMessage()
    assert dumps(window.graph) == before and window.undo_stack.count() == 0
    ctrl_click(window, ["input_1", "dense_1"])
    key(window, Qt.Key.Key_G, CTRL)
    assert "Input and Output nodes stay outside" in window.statusBar().currentMessage()
    window.ask_block_name = lambda default: "residual block"
    ctrl_click(window, ["dense_2"])
    key(window, Qt.Key.Key_G, CTRL)
    assert "is not valid" in window.statusBar().currentMessage()
    assert dumps(window.graph) == before and window.undo_stack.count() == 0


def test_cancelling_the_name_changes_nothing(window):
    graph, ids = residual_graph()
    load(window, graph)
    window.ask_block_name = lambda default: None
    rubber_band(window, ids)
    key(window, Qt.Key.Key_G, CTRL)
    assert not window.graph.blocks.names() and window.undo_stack.count() == 0


def test_ctrl_shift_g_ungroups_and_undo_regroups(window):
    graph, ids = residual_graph()
    load(window, graph)
    original = {n.id: (n.type, n.params) for n in window.graph.nodes}
    block = group_with_keys(window, ids)
    grouped = dumps(window.graph)
    key(window, Qt.Key.Key_G, CTRL | SHIFT)
    assert {n.id: (n.type, n.params) for n in window.graph.nodes} == original
    assert set(window.scene.selected_node_ids()) == set(ids), "the block's layers are selected"
    window.graph.lint()
    key(window, Qt.Key.Key_Z, CTRL)
    assert dumps(window.graph) == grouped
    assert window.scene.node_item(block)


def test_double_click_opens_the_block_escape_goes_back(window):
    graph, ids = residual_graph()
    load(window, graph)
    block = group_with_keys(window, ids)
    double_click(window, block)
    body = window.graph.blocks["residual"].body
    assert window.scene.graph is body and window.inspector.graph is body
    assert window.breadcrumb.isVisible() and window.breadcrumb.texts() == ["Graph", "residual"]
    assert {i.node_id for i in window.scene.node_items()} == {n.id for n in body.nodes}
    shown = window.scene.node_item("dense_3")._shown
    assert shown.shape == "→ (N, 8)", "the inside shows the shapes it is inferred with"
    key(window, Qt.Key.Key_Escape)
    assert window.scene.graph is window.graph and not window.breadcrumb.isVisible()
    assert window.scene.selected_node_ids() == [block], "back on the block we came out of"
    key(window, Qt.Key.Key_Return)
    assert window.scene.graph is body
    QTest.mouseClick(window.breadcrumb.buttons[0], Qt.MouseButton.LeftButton)
    assert window.scene.graph is window.graph


def test_an_edit_inside_applies_to_every_instance_and_undoes(window):
    graph, ids = residual_graph()
    make_block(graph, ids, "residual")
    second = graph.add_node("block", {"block": "residual"}, position=(1200, 200))
    graph.remove_edge(next(e for e in graph.edges if e.target == "output_1"))
    graph.connect("residual", "out", second.id, "in")
    graph.connect(second.id, "out", "output_1", "in")
    load(window, graph)
    counts = window.graph.analysis().nodes
    assert counts["residual"].params == counts[second.id].params == 144
    before = dumps(window.graph)
    double_click(window, "residual")
    body = window.graph.blocks["residual"].body
    assert "all 2 of its instances" in window.breadcrumb.note.text()
    # click a layer inside and change it in the inspector
    ctrl_click(window, ["dense_2"])
    assert window.inspector.node_ids == ["dense_2"]
    assert window.inspector.apply("activation", "tanh")
    assert body.node("dense_2").params["activation"] == "tanh"
    for node_id in ("residual", second.id):  # every instance's inside follows
        inside = window.graph.blocks.instance_graph("residual", window.graph.node(node_id).params,
                                                    window.graph.analysis().nodes[node_id].inputs)
        assert inside.node("dense_2").params["activation"] == "tanh"
    assert dumps(window.graph) != before
    key(window, Qt.Key.Key_Escape)
    # the document's instances follow the definition
    assert window.scene.graph is window.graph
    # undo from outside: the canvas goes back in to show the undone edit
    key(window, Qt.Key.Key_Z, CTRL)
    assert window.scene.graph is body and window.breadcrumb.texts() == ["Graph", "residual"]
    assert body.node("dense_2").params["activation"] == "relu"
    while window.undo_stack.canUndo():
        window.undo_stack.undo()
    assert dumps(window.graph) == before
    window.graph.lint()


def test_adding_and_wiring_inside_changes_every_instance_shape(window):
    graph, ids = residual_graph()
    make_block(graph, ids, "residual")
    load(window, graph)
    before = dumps(window.graph)
    double_click(window, "residual")
    body = window.graph.blocks["residual"].body
    scene = window.scene
    # cut the wire into the output and put a Dense(3) in between, by dragging wires
    wire = next(e for e in body.edges if e.target == "out_output")
    scene.select_nodes([])
    scene.edge_item(wire).setSelected(True)
    key(window, Qt.Key.Key_Delete)
    assert wire not in body.edges
    new = scene.add_node("dense", (900.0, 300.0))
    window.scene.refresh_analysis()
    window.undo_stack.push(SetParams(body, [new], {"units": 3}))
    for src, sp, dst, dp in ((wire.source, wire.source_port, new, "in"), (new, "out", "out_output", "in")):
        a = scene.node_item(src).port(sp, True).scene_anchor()
        b = scene.node_item(dst).port(dp, False).scene_anchor()
        viewport = window.view.viewport()
        QTest.mousePress(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, view_point(window, a))
        for i in range(1, 6):
            QTest.mouseMove(viewport, view_point(window, a + (b - a) * (i / 5)))
        QTest.mouseRelease(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, view_point(window, b))
    assert any(e.target == "out_output" and e.source == new for e in body.edges)
    outside = window.graph.analysis()
    assert outside.nodes["residual"].outputs["out"].shape == (3,), "the instance follows its inside"
    assert outside.nodes["output_1"].inputs["in"].shape == (3,)
    key(window, Qt.Key.Key_Escape)
    assert window.scene.node_item("residual")._shown.shape == "→ (N, 3)"
    while window.undo_stack.canUndo():
        window.undo_stack.undo()
    assert dumps(window.graph) == before


def test_blocks_nest_and_the_breadcrumb_shows_the_path(window, tmp_path):
    graph, ids = residual_graph()
    inner = make_block(graph, ids[:2], "mlp").node_id
    make_block(graph, [inner, "add_1"], "residual")
    load(window, graph)
    double_click(window, "residual")
    double_click(window, inner)
    assert window.breadcrumb.texts() == ["Graph", "residual", "mlp"]
    assert window.scene.graph is window.graph.blocks["mlp"].body
    QTest.mouseClick(window.breadcrumb.buttons[1], Qt.MouseButton.LeftButton)
    assert window.breadcrumb.texts() == ["Graph", "residual"]
    assert window.scene.selected_node_ids() == [inner]
    key(window, Qt.Key.Key_Escape)
    key(window, Qt.Key.Key_Escape)  # at the top already: nothing happens
    assert window.scene.graph is window.graph and window.graph.blocks.names() == ["mlp", "residual"]


def test_context_menu_makes_opens_and_ungroups(window):
    graph, ids = residual_graph()
    load(window, graph)
    rubber_band(window, ids)
    window.view.setFocus()
    menu = window.show_context_menu(window.view.mapToGlobal(card_point(window, ids[0])))
    texts = [a.text() for a in menu.actions() if a.text()]
    assert "&Make Block…" in texts and "U&ngroup Block" not in texts
    next(a for a in menu.actions() if a.objectName() == "action_make_block").trigger()
    menu.close()
    (block,) = [n.id for n in window.graph.nodes if n.is_block]
    # a right-click on the block node selects it and offers the block commands
    QTest.mouseClick(window.view.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                     view_point(window, QPointF(-400, -400)))
    from PySide6.QtGui import QContextMenuEvent

    point = card_point(window, block)
    event = QContextMenuEvent(QContextMenuEvent.Reason.Mouse, point, window.view.viewport().mapToGlobal(point))
    window.view.contextMenuEvent(event)
    assert window.scene.selected_node_ids() == [block]
    menu = window.context_menu
    names = [a.objectName() for a in menu.actions()]
    assert names[:2] == ["action_open_block", "action_ungroup"]
    window.actions["open_block"].trigger()
    assert window.scene.graph is window.graph.blocks["residual"].body
    window.actions["leave_block"].trigger()
    window.actions["ungroup"].trigger()
    assert not any(n.is_block for n in window.graph.nodes)


def test_inspector_edits_repeat_shares_weights_and_exposed_params(window, qtbot):
    graph, ids = residual_graph()
    first = make_block(graph, ids[:2], "ff").node_id  # dense(8) relu -> dense(8): keeps its shape
    graph.blocks.expose("ff", "width", "dense_3", "units")
    second = graph.add_node("block", {"block": "ff"}, position=(700, 200)).id
    graph.remove_edge(next(e for e in graph.edges if e.target == "add_1" and e.source == first))
    graph.connect(first, "out", second, "in")
    graph.connect(second, "out", "add_1", "in1")
    load(window, graph)
    ctrl_click(window, [second])
    inspector = window.inspector
    assert set(inspector.editors) == {"block", "repeat", "shares_weights_with", "width"}
    assert inspector.editors["block"].name.text() == "ff"
    share = inspector.editors["shares_weights_with"]
    assert [share.itemText(i) for i in range(share.count())] == [OWN_WEIGHTS, first]
    share.activated.emit(1)
    assert window.graph.node(second).params["shares_weights_with"] == first
    assert window.graph.analysis().total_params == 8 * 4 + 8 + 144, "shared weights count once"
    # weights shared between instances of different shapes: refused as a node error
    inspector.apply("width", 6)
    window.scene.refresh_analysis()
    assert "shares weights" in window.scene.node_item(second).error
    window.undo_stack.undo()
    share.activated.emit(0)
    assert window.graph.node(second).params["shares_weights_with"] == ""
    inspector.editors["repeat"].setValue(3)
    assert window.graph.node(second).params["repeat"] == 3
    window.scene.refresh_analysis()
    assert "432 params" in window.scene.node_item(second)._shown.count
    # an exposed width that breaks the repeat chain: the usual node error, on the card
    inspector.apply("width", 5)
    window.scene.refresh_analysis()
    item = window.scene.node_item(second)
    assert item.error and "repeat 3" in item.error and "(5,)" in item.error
    qtbot.waitUntil(lambda: "repeat 3" in inspector.node_error.text())
    assert inspector.node_error.isVisibleTo(inspector)
    inspector.apply("width", 8)
    assert window.graph.analysis().valid
    # the Open button of the form opens the block
    QTest.mouseClick(inspector.editors["block"].open_button, Qt.MouseButton.LeftButton)
    assert window.scene.graph is window.graph.blocks["ff"].body


def test_an_error_inside_marks_the_block_node(window, qtbot):
    graph, ids = residual_graph()
    make_block(graph, ids, "residual")
    load(window, graph)
    double_click(window, "residual")
    window.inspector.set_selection(["dense_3"])
    assert window.inspector.apply("units", 5)  # the Add then receives (8) and (5)
    key(window, Qt.Key.Key_Escape)
    window.scene.refresh_analysis()
    item = window.scene.node_item("residual")
    assert item.error and "add_1" in item.error
    window.scene.select_nodes(["residual"])
    qtbot.waitUntil(lambda: "add_1" in window.inspector.node_error.text())


def test_save_reopen_and_recovery_keep_the_blocks(window, tmp_path):
    graph, ids = residual_graph()
    load(window, graph)
    group_with_keys(window, ids)
    double_click(window, "residual")
    window.inspector.set_selection(["dense_2"])
    assert window.inspector.apply("units", 8) is False  # unchanged value: no edit
    assert window.inspector.apply("activation", "tanh")
    key(window, Qt.Key.Key_Escape)
    assert window.autosaver.save_if_modified()
    recovered = load_graph(window.autosaver.recovery_file)
    assert recovered.blocks["residual"].body.node("dense_2").params["activation"] == "tanh"
    assert dumps(recovered) == dumps(window.graph)
    window.ask_save_path = lambda: str(tmp_path / "blocks.loom")
    assert window.save()
    saved = dumps(window.graph)
    double_click(window, "residual")  # opening a file while inside goes back to the top
    window.document.new()
    assert window.scene.graph is window.graph and not window.breadcrumb.isVisible()
    assert window.load(tmp_path / "blocks.loom")
    assert dumps(window.graph) == saved
    assert window.scene.node_item("residual")


def test_screenshots(window, qtbot, tmp_path):
    """Not an assertion on pixels: the pictures are for a person to look at."""
    graph, ids = residual_graph()
    load(window, graph)
    block = group_with_keys(window, ids)
    window.view.set_zoom(1.0)
    window.view.centerOn(window.scene.node_item(block).sceneBoundingRect().center())
    qtbot.wait(20)
    window.grab().save(str(tmp_path / "block_node.png"))
    window.show_context_menu(window.view.mapToGlobal(card_point(window, block)))
    window.context_menu.grab().save(str(tmp_path / "context_menu.png"))
    window.context_menu.close()
    double_click(window, block)
    qtbot.wait(20)
    window.grab().save(str(tmp_path / "inside.png"))
    assert "Block 'residual'" in window.inspector.title.text()
    assert (tmp_path / "inside.png").stat().st_size > 0


def test_a_block_made_inside_a_block_nests_and_undoes(window):
    graph, ids = residual_graph()
    load(window, graph)
    block = group_with_keys(window, ids)
    double_click(window, block)
    body = window.graph.blocks["residual"].body
    inside = dumps(window.graph)
    window.ask_block_name = lambda default: "mlp"
    ctrl_click(window, ["dense_2", "dense_3"])
    key(window, Qt.Key.Key_G, CTRL)
    (inner,) = [n.id for n in body.nodes if n.is_block]
    assert window.scene.selected_node_ids() == [inner] and window.graph.blocks.names() == ["residual", "mlp"]
    assert window.graph.analysis().nodes[block].params == 144, "the size is the same, nested"
    double_click(window, inner)
    assert window.breadcrumb.texts() == ["Graph", "residual", "mlp"]
    key(window, Qt.Key.Key_Escape)
    key(window, Qt.Key.Key_Z, CTRL)
    assert dumps(window.graph) == inside and window.scene.graph is body
    window.graph.lint()


def test_deleting_a_port_wired_outside_is_refused_inside(window):
    graph, ids = residual_graph()
    make_block(graph, ids, "residual")
    load(window, graph)
    before = dumps(window.graph)
    double_click(window, "residual")
    ctrl_click(window, ["in_input"])
    key(window, Qt.Key.Key_Delete)
    assert "wired on residual" in window.statusBar().currentMessage()
    assert dumps(window.graph) == before and window.undo_stack.count() == 0


def test_duplicating_a_block_node_makes_another_instance(window):
    graph, ids = residual_graph()
    make_block(graph, ids, "residual")
    load(window, graph)
    before = dumps(window.graph)
    ctrl_click(window, ["residual"])
    key(window, Qt.Key.Key_D, CTRL)
    (copy,) = window.scene.selected_node_ids()
    node = window.graph.node(copy)
    assert node.is_block and node.params["block"] == "residual" and copy != "residual"
    assert len(window.graph.blocks.instances("residual")) == 2
    window.graph.lint()
    # pasting it inside its own block is refused, with the reason
    window.copy()
    double_click(window, "residual")
    key(window, Qt.Key.Key_V, CTRL)
    assert "a block cannot contain itself" in window.statusBar().currentMessage()
    key(window, Qt.Key.Key_Escape)
    window.undo_stack.undo()
    assert dumps(window.graph) == before


def test_renaming_a_port_inside_keeps_the_wires_outside(window):
    graph, ids = residual_graph()
    make_block(graph, ids, "residual")
    load(window, graph)
    before = dumps(window.graph)
    double_click(window, "residual")
    ctrl_click(window, ["in_input"])
    window.inspector.label_edit.setText("x")
    window.inspector.label_edit.editingFinished.emit()
    key(window, Qt.Key.Key_Escape)
    assert window.graph.node("residual").input_ports() == ("x",)
    assert any(e.target == "residual" and e.target_port == "x" for e in window.graph.edges)
    assert window.scene.node_item("residual").inputs.keys() == {"x"}
    window.graph.lint()
    key(window, Qt.Key.Key_Z, CTRL)
    assert dumps(window.graph) == before


def test_exposing_a_parameter_inside_gives_each_instance_its_own_value(window, qtbot):
    graph, ids = residual_graph()
    make_block(graph, ids[:2], "ff")
    load(window, graph)
    before = dumps(window.graph)
    double_click(window, "ff")
    ctrl_click(window, ["dense_3"])
    inspector = window.inspector
    inspector.ask_parameter_name = lambda default: "width"
    label = inspector.param_labels["units"]
    menu = inspector._param_menu("units", label.mapToGlobal(label.rect().center()))
    (action,) = menu.actions()
    assert action.text() == "Expose as block parameter…"
    action.trigger()
    menu.close()
    assert window.graph.blocks["ff"].exposed == {"width": ("dense_3", "units")}
    assert inspector.param_labels["units"].text() == "Units ◆ width"
    key(window, Qt.Key.Key_Escape)
    assert window.graph.node("ff").params["width"] == 8
    window.scene.select_nodes(["ff"])
    assert "width" in inspector.editors
    # an instance's own value reaches its inside: the block and what follows it change shape
    assert inspector.apply("width", 5)
    assert window.graph.analysis().nodes["ff"].outputs["out"].shape == (5,)
    assert window.graph.blocks["ff"].body.node("dense_3").params["units"] == 8, "the definition keeps its own"
    key(window, Qt.Key.Key_Z, CTRL)
    key(window, Qt.Key.Key_Z, CTRL)  # the expose, from outside: the canvas goes in to show it
    assert window.scene.graph is window.graph.blocks["ff"].body
    assert dumps(window.graph) == before
    window.undo_stack.redo()
    assert window.graph.blocks["ff"].exposed == {"width": ("dense_3", "units")}
    window.scene.select_nodes(["dense_3"])
    assert inspector.param_labels["units"].text() == "Units ◆ width"
    assert inspector.unexpose("width")
    assert window.graph.blocks["ff"].exposed == {}
    qtbot.waitUntil(lambda: inspector.param_labels["units"].text() == "Units")
    window.undo_stack.undo()
    assert window.graph.blocks["ff"].exposed == {"width": ("dense_3", "units")}
    window.graph.lint()
