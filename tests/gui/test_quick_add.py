"""The quick-add popup, driven with the mouse and keyboard: Tab or a double-click
opens it at the cursor, typing ranks the layers, Enter or a click adds the layer
there, wired to the port or wire under the cursor, as one undoable step."""

from __future__ import annotations

from PySide6.QtCore import QPoint, QPointF, QRect, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from layerloom.graph import REGISTRY
from layerloom.gui.block_catalog import block_key, catalog, ranked, result_key
from layerloom.gui.canvas.port_item import NORMAL, OK
from layerloom.gui.canvas.theme import GRID, HEADER_HEIGHT, NODE_WIDTH, snap


def hover(canvas, scene_point: QPointF) -> QPoint:
    """Move the mouse over ``scene_point``; returns it in viewport coordinates."""
    point = canvas.to_view(scene_point)
    QTest.mouseMove(canvas.viewport, point)
    return point


def press_tab(canvas) -> None:
    canvas.view.setFocus()
    QTest.keyClick(canvas.view, Qt.Key.Key_Tab)


def type_text(text: str) -> None:
    """Type into whatever has the keyboard focus, as a user would."""
    focused = QApplication.focusWidget()
    assert focused is not None
    QTest.keyClicks(focused, text)


def edges(graph) -> list[tuple[str, str, str, str]]:
    return [(e.source, e.source_port, e.target, e.target_port) for e in graph.edges]


def test_tab_typing_enter_adds_at_the_cursor_wired_to_the_port_under_it(canvas, graph, chain, undo_stack,
                                                                        check_undo_redo):
    (inp,) = chain(graph, ("input", {"shape": [4]}))
    canvas.scene.refresh_analysis()
    states = [graph.to_dict()]
    anchor = canvas.port_pos(inp, "out", True)
    hover(canvas, anchor + QPointF(3, 2))  # on the port
    press_tab(canvas)
    popup = canvas.view.quick_add
    assert popup.isVisible() and popup.search.hasFocus()
    assert popup.context.text() == "Wired to input_1.out"
    assert canvas.scene.node_item(inp).port("out", True).state == OK
    assert popup.visible_type_ids() == [s.type_id for group in REGISTRY.by_category().values() for s in group] \
        + [block_key(b.name) for b in catalog().blocks()]  # then the built-in and library blocks
    type_text("dense")
    assert popup.visible_type_ids() == [result_key(e) for e in ranked(
        REGISTRY.search("dense"), catalog().search("dense"), "dense")]
    assert popup.current_type_id() == "dense"
    QTest.keyClick(QApplication.focusWidget(), Qt.Key.Key_Return)

    assert not popup.isVisible() and canvas.view.hasFocus()
    assert [n.type for n in graph.nodes] == ["input", "dense"]
    assert edges(graph) == [(inp, "out", "dense_1", "in")]
    assert undo_stack.count() == 1 and undo_stack.undoText() == "Add Dense wired to input_1"
    # it lands at the cursor, beside the port rather than over its node
    x, y = graph.node("dense_1").position
    assert x == snap(anchor.x() + 2 * GRID + 3) and y == snap(anchor.y() + 2 - HEADER_HEIGHT / 2)
    assert canvas.scene.selected_node_ids() == ["dense_1"]
    assert canvas.scene.node_item(inp).port("out", True).state == NORMAL
    states.append(graph.to_dict())
    check_undo_redo(undo_stack, graph, states)
    undo_stack.undo()  # one undo takes the node and its wire away
    assert graph.to_dict() == states[0]


def test_tab_on_empty_canvas_centres_the_header_on_the_cursor(canvas, graph, undo_stack):
    point = hover(canvas, QPointF(430, 310))
    press_tab(canvas)
    assert canvas.view.quick_add.context.text() == "Add a layer here"
    type_text("lstm")
    QTest.keyClick(QApplication.focusWidget(), Qt.Key.Key_Enter)
    spot = canvas.view.mapToScene(point)
    assert graph.node("lstm_1").position == (snap(spot.x() - NODE_WIDTH / 2), snap(spot.y() - HEADER_HEIGHT / 2))
    assert graph.edges == [] and undo_stack.undoText() == "Add LSTM"


def test_double_click_on_empty_canvas_opens_it_and_arrows_choose(canvas, graph, chain, qtbot):
    (dense,) = chain(graph, "dense")
    canvas.scene.refresh_analysis()
    popup = canvas.view.quick_add
    # not on a node
    qtbot.mouseDClick(canvas.viewport, Qt.MouseButton.LeftButton, pos=canvas.to_view(canvas.node_pos(dense)))
    assert not popup.isVisible()
    qtbot.mouseDClick(canvas.viewport, Qt.MouseButton.LeftButton, pos=canvas.to_view(QPointF(500, 400)))
    assert popup.isVisible() and popup.search.hasFocus()
    type_text("relu")
    found = [result_key(e) for e in ranked(REGISTRY.search("relu"), catalog().search("relu"), "relu")]
    assert popup.visible_type_ids() == found and found[0] == "relu"
    QTest.keyClick(popup.search, Qt.Key.Key_Down)
    assert popup.current_type_id() == found[1]
    QTest.keyClick(popup.search, Qt.Key.Key_Up)
    QTest.keyClick(popup.search, Qt.Key.Key_Down)
    QTest.keyClick(popup.search, Qt.Key.Key_Return)
    assert [n.type for n in graph.nodes] == ["dense", found[1]]


def test_escape_cancels_and_changes_nothing(canvas, graph, chain, undo_stack):
    a, b = chain(graph, ("input", {"shape": [4]}), "output")
    canvas.scene.refresh_analysis()
    before = graph.to_dict()
    hover(canvas, canvas.scene.edge_items()[0].path().pointAtPercent(0.5))
    press_tab(canvas)
    popup = canvas.view.quick_add
    assert popup.isVisible()
    type_text("conv")
    QTest.keyClick(QApplication.focusWidget(), Qt.Key.Key_Escape)
    assert not popup.isVisible() and canvas.view.hasFocus()
    assert graph.to_dict() == before and undo_stack.count() == 0
    assert canvas.scene.edge_items()[0].drop_hint is None
    # a click beside the popup closes it too, and adds nothing
    press_tab(canvas)
    assert popup.isVisible()
    canvas.click(QPointF(900, 700))
    assert not popup.isVisible() and graph.to_dict() == before and undo_stack.count() == 0


def test_a_click_on_a_row_adds_that_layer(canvas, graph, qtbot):
    hover(canvas, QPointF(300, 200))
    press_tab(canvas)
    popup = canvas.view.quick_add
    type_text("drop")
    item = popup.list.topLevelItem(0)
    qtbot.mouseClick(popup.list.viewport(), Qt.MouseButton.LeftButton,
                     pos=popup.list.visualItemRect(item).center())
    assert [n.type for n in graph.nodes] == [item.data(0, Qt.ItemDataRole.UserRole)]
    assert not popup.isVisible()


def test_no_match_says_so_and_enter_adds_nothing(canvas, graph, undo_stack):
    press_tab(canvas)
    popup = canvas.view.quick_add
    type_text("xyz")
    assert popup.visible_type_ids() == [] and not popup.list.isVisible()
    assert popup.empty.isVisible() and popup.empty.text() == "No layer matches 'xyz'"
    QTest.keyClick(popup.search, Qt.Key.Key_Return)
    assert popup.isVisible() and len(graph) == 0 and undo_stack.count() == 0
    QTest.keyClicks(popup.search, "\b\b\b")
    assert popup.list.isVisible() and popup.current_type_id() is not None


def test_tab_over_a_wire_inserts_the_layer_into_it(canvas, graph, chain, undo_stack, check_undo_redo):
    a, b = chain(graph, ("input", {"shape": [4]}), "output")
    canvas.scene.refresh_analysis()
    states = [graph.to_dict()]
    wire = canvas.scene.edge_items()[0]
    hover(canvas, wire.path().pointAtPercent(0.5) + QPointF(0, 3))
    press_tab(canvas)
    assert canvas.view.quick_add.context.text() == "Into the wire input_1 → output_1"
    assert wire.drop_hint is False  # the first row, Input, takes no input
    type_text("relu")
    assert wire.drop_hint is True
    QTest.keyClick(QApplication.focusWidget(), Qt.Key.Key_Return)
    assert edges(graph) == [(a, "out", "relu_1", "in"), ("relu_1", "out", b, "in")]
    assert undo_stack.count() == 1 and undo_stack.undoText() == "Insert ReLU into input_1 → output_1"
    states.append(graph.to_dict())
    check_undo_redo(undo_stack, graph, states)


def test_a_wire_let_go_on_empty_canvas_opens_it_for_that_port(canvas, graph, chain, undo_stack):
    (inp,) = chain(graph, ("input", {"shape": [4]}))
    canvas.scene.refresh_analysis()
    drop_at = QPointF(520, 160)
    canvas.drag(canvas.port_pos(inp, "out", True), drop_at)
    popup = canvas.view.quick_add
    assert popup.isVisible() and popup.context.text() == "Wired to input_1.out"
    type_text("gelu")
    QTest.keyClick(QApplication.focusWidget(), Qt.Key.Key_Return)
    assert edges(graph) == [(inp, "out", "gelu_1", "in")]
    assert graph.node("gelu_1").position == (snap(drop_at.x()), snap(drop_at.y() - HEADER_HEIGHT / 2))
    undo_stack.undo()
    assert [n.id for n in graph.nodes] == [inp] and graph.edges == []


def test_at_a_free_input_port_the_new_layer_feeds_it(canvas, graph, chain):
    (dense,) = chain(graph, ("dense", {"units": 3}), x0=400)
    canvas.scene.refresh_analysis()
    anchor = canvas.port_pos(dense, "in", False)
    hover(canvas, anchor)
    press_tab(canvas)
    type_text("input")
    QTest.keyClick(QApplication.focusWidget(), Qt.Key.Key_Return)
    assert edges(graph) == [("input_1", "out", dense, "in")]
    x, _ = graph.node("input_1").position
    assert x + NODE_WIDTH <= anchor.x() - GRID, "placed left of the port, not over its node"


def test_a_layer_that_cannot_take_the_port_is_added_unwired_with_the_reason(canvas, graph, chain, undo_stack):
    (inp,) = chain(graph, ("input", {"shape": [4]}))
    canvas.scene.refresh_analysis()
    hover(canvas, canvas.port_pos(inp, "out", True))
    press_tab(canvas)
    type_text("conv2d")
    QTest.keyClick(QApplication.focusWidget(), Qt.Key.Key_Return)
    assert [n.type for n in graph.nodes] == ["input", "conv2d"] and graph.edges == []
    assert undo_stack.count() == 1
    assert canvas.messages[-1].startswith("Conv2d not connected to input_1.out:")
    assert "(C, H, W)" in canvas.messages[-1]


def test_the_popup_stays_inside_the_canvas_near_its_edges(canvas):
    popup = canvas.view.quick_add
    view_rect = canvas.view.rect()
    for point in (QPoint(5, 5), QPoint(view_rect.width() - 3, view_rect.height() - 3),
                  QPoint(view_rect.width() - 40, 20), QPoint(10, view_rect.height() - 10)):
        canvas.view.open_quick_add(point)
        assert view_rect.contains(popup.geometry()), (point, popup.geometry())
        popup.close_popup()
    # near the bottom-right corner it opens up and to the left of the cursor, and
    # never covers the cursor (the port or wire there stays in sight)
    corner = QPoint(view_rect.width() - 20, view_rect.height() - 20)
    canvas.view.open_quick_add(corner)
    assert popup.geometry().right() < corner.x() and popup.geometry().top() < corner.y() - 200
    for point in (QPoint(5, 5), corner, QPoint(500, 350)):
        canvas.view.open_quick_add(point)
        assert not popup.geometry().contains(point)
    popup.close_popup()
    canvas.view.resize(260, 200)  # a canvas smaller than the popup: it shrinks to fit
    QApplication.processEvents()
    canvas.view.open_quick_add(QPoint(100, 100))
    assert QRect(canvas.view.rect()).contains(popup.geometry())


def test_in_the_window_a_click_elsewhere_closes_it_and_keeps_the_focus_there(qtbot, tmp_path):
    from tests.gui.test_window_helpers import make_window

    window = make_window(qtbot, tmp_path)
    viewport = window.view.viewport()
    QTest.mouseMove(viewport, QPoint(300, 200))
    window.view.setFocus()
    QTest.keyClick(window.view, Qt.Key.Key_Tab)
    popup = window.view.quick_add
    assert popup.isVisible() and popup.search.hasFocus()
    assert window.view.rect().contains(popup.geometry())
    search = window.layer_palette.search
    qtbot.mouseClick(search, Qt.MouseButton.LeftButton)
    assert not popup.isVisible()
    assert search.hasFocus(), "the focus stays where the user clicked"
    assert len(window.graph) == 0 and window.undo_stack.count() == 0
    # Enter in the popup adds the layer, and the canvas has the keyboard again
    window.view.setFocus()
    QTest.keyClick(window.view, Qt.Key.Key_Tab)
    type_text("dense")
    QTest.keyClick(QApplication.focusWidget(), Qt.Key.Key_Return)
    assert [n.type for n in window.graph.nodes] == ["dense"] and window.view.hasFocus()


def test_layers_with_a_variable_number_of_outputs(canvas, graph, monkeypatch):
    """Ports come from the declaration (``outputs`` may be a callable of the params):
    quick add at the second of three outputs wires that one."""
    from layerloom.graph.params import Param
    from layerloom.graph.registry import LayerSpec

    spec = LayerSpec("test_fan_out", "TestFanOut", "Tensor", "Copies its input to N outputs.",
                     (Param("n", "int", 3, "How many outputs.", minimum=1, maximum=8),),
                     lambda params, ins: {f"out{i + 1}": ins["in"] for i in range(params["n"])},
                     outputs=lambda params: tuple(f"out{i + 1}" for i in range(params["n"])))
    monkeypatch.setitem(REGISTRY._specs, spec.type_id, spec)
    inp = graph.add_node("input", {"shape": [4]}, position=(0, 0)).id
    fan = graph.add_node("test_fan_out", position=(240, 0)).id
    graph.connect(inp, "out", fan, "in")
    canvas.scene.refresh_analysis()
    assert list(canvas.scene.node_item(fan).outputs) == ["out1", "out2", "out3"]
    hover(canvas, canvas.port_pos(fan, "out2", True))
    press_tab(canvas)
    assert canvas.view.quick_add.context.text() == "Wired to test_fan_out_1.out2"
    type_text("relu")
    QTest.keyClick(QApplication.focusWidget(), Qt.Key.Key_Return)
    assert edges(graph)[-1] == (fan, "out2", "relu_1", "in")
    assert canvas.scene.edge_item(graph.edges[-1]).label == "(N, 4)"
