"""Dropping a node onto a wire, driven with the mouse: an unwired node dragged over
a wire lights it, and on release goes into it as one undoable step when the graph's
inference says it fits there; otherwise it is only moved, and the status bar says
why. A layer dragged from the palette onto a wire does the same."""

from __future__ import annotations

from types import SimpleNamespace

from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtTest import QTest

from layerloom.graph import Edge
from tests.gui.test_canvas import drop, layer_mime


def edges(graph) -> list[tuple[str, str, str, str]]:
    return [(e.source, e.source_port, e.target, e.target_port) for e in graph.edges]


def start_drag(canvas, node_id: str) -> QPoint:
    start = canvas.to_view(canvas.node_pos(node_id))
    QTest.mousePress(canvas.viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start)
    return start


def move_to(canvas, start: QPoint, end: QPoint, steps: int = 6) -> None:
    for i in range(1, steps + 1):
        QTest.mouseMove(canvas.viewport, start + (end - start) * (i / steps))


def release(canvas, at: QPoint) -> None:
    QTest.mouseRelease(canvas.viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, at)


def straight_wire(canvas, graph, chain, **input_params):
    """Input at (0, 0) wired to an Output at (480, 0): a wire along y = 14."""
    a, b = chain(graph, ("input", {"shape": [4], **input_params}), "output", dx=480)
    canvas.scene.refresh_analysis()
    return a, b, canvas.scene.edge_items()[0]


def test_a_node_dragged_onto_a_wire_is_inserted(canvas, graph, chain, undo_stack, check_undo_redo):
    a, b, wire = straight_wire(canvas, graph, chain)
    relu = graph.add_node("relu", position=(200, 300)).id
    canvas.scene.refresh_analysis()
    states = [graph.to_dict()]
    start = start_drag(canvas, relu)
    over = canvas.to_view(QPointF(300, 12))  # the header's grab point onto the wire
    move_to(canvas, start, over)
    assert wire.drop_hint is True, "the wire lights up green under the card"
    assert graph.node(relu).position == (200.0, 300.0), "nothing changes before the release"
    release(canvas, over)

    assert edges(graph) == [(a, "out", relu, "in"), (relu, "out", b, "in")]
    assert graph.node(relu).position == (240.0, 0.0)
    assert undo_stack.count() == 1 and undo_stack.undoText() == "Insert ReLU into input_1 → output_1"
    assert canvas.messages == []
    assert all(item.drop_hint is None for item in canvas.scene.edge_items())
    assert canvas.scene.edge_item(graph.edges[1]).label == "(N, 4)"
    states.append(graph.to_dict())
    check_undo_redo(undo_stack, graph, states)
    undo_stack.undo()  # the old wire comes back, and the node goes back where it was
    assert edges(graph) == [(a, "out", b, "in")] and graph.node(relu).position == (200.0, 300.0)


def test_a_wire_too_short_for_the_card_makes_room(canvas, graph, chain, undo_stack, check_undo_redo):
    a, b, c = chain(graph, ("input", {"shape": [4]}), "output", "output", wired=False)
    graph.connect(a, "out", b, "in")
    graph.move_node(c, (600, 200))  # not after the wire: stays put
    graph.move_node(b, (240, 0))
    relu = graph.add_node("relu", position=(200, 300)).id
    canvas.scene.refresh_analysis()
    states = [graph.to_dict()]
    start = start_drag(canvas, relu)
    over = canvas.to_view(QPointF(130, 12))  # over the Input's card and the short wire
    move_to(canvas, start, over)
    assert canvas.scene.edge_items()[0].drop_hint is True
    assert canvas.scene.node_item(relu).drop_hint is True, "the card is ringed green too"
    release(canvas, over)
    assert edges(graph) == [(a, "out", relu, "in"), (relu, "out", b, "in")]
    assert graph.node(relu).position == (220.0, 0.0), "off the Input's card"
    assert graph.node(b).position == (440.0, 0.0), "the Output steps right to make room"
    assert graph.node(c).position == (600.0, 200.0)
    assert canvas.scene.node_item(relu).drop_hint is None
    states.append(graph.to_dict())
    check_undo_redo(undo_stack, graph, states)
    undo_stack.undo()
    assert graph.node(b).position == (240.0, 0.0) and graph.node(relu).position == (200.0, 300.0)


def test_the_wire_goes_dark_again_when_the_card_leaves_it(canvas, graph, chain, undo_stack):
    a, b, wire = straight_wire(canvas, graph, chain)
    relu = graph.add_node("relu", position=(200, 300)).id
    canvas.scene.refresh_analysis()
    start = start_drag(canvas, relu)
    over = canvas.to_view(QPointF(300, 12))
    move_to(canvas, start, over)
    assert wire.drop_hint is True
    away = canvas.to_view(QPointF(300, 200))
    move_to(canvas, over, away)
    assert wire.drop_hint is None
    release(canvas, away)
    assert edges(graph) == [(a, "out", b, "in")] and undo_stack.undoText() == "Move ReLU"


def test_a_node_that_does_not_fit_is_only_dropped_and_the_status_says_why(canvas, graph, chain, undo_stack,
                                                                          check_undo_redo):
    a, b, wire = straight_wire(canvas, graph, chain)
    conv = graph.add_node("conv2d", position=(200, 300)).id
    canvas.scene.refresh_analysis()
    states = [graph.to_dict()]
    start = start_drag(canvas, conv)
    over = canvas.to_view(QPointF(300, 12))
    move_to(canvas, start, over)
    assert wire.drop_hint is False, "red: Conv2d cannot take (N, 4)"
    release(canvas, over)

    assert edges(graph) == [(a, "out", b, "in")], "the wire stays"
    assert graph.node(conv).position == (240.0, 0.0) and undo_stack.undoText() == "Move Conv2d"
    assert canvas.messages[-1].startswith("Conv2d not inserted into input_1 → output_1:")
    assert "(C, H, W)" in canvas.messages[-1] and "(4,)" in canvas.messages[-1]
    assert wire.drop_hint is None
    states.append(graph.to_dict())
    check_undo_redo(undo_stack, graph, states)


def test_a_node_with_wires_is_never_inserted(canvas, graph, chain, undo_stack):
    a, b, wire = straight_wire(canvas, graph, chain)
    c, d = chain(graph, ("input", {"shape": [4]}), "relu", y0=300, x0=-240)
    canvas.scene.refresh_analysis()
    start = start_drag(canvas, d)
    over = canvas.to_view(QPointF(300, 12))
    move_to(canvas, start, over)
    assert wire.drop_hint is None
    release(canvas, over)
    assert edges(graph) == [(a, "out", b, "in"), (c, "out", d, "in")]
    assert undo_stack.undoText() == "Move ReLU"


def test_a_layer_with_two_inputs_takes_the_wire_on_its_first(canvas, graph, chain, undo_stack):
    a, b, wire = straight_wire(canvas, graph, chain)
    add = graph.add_node("add", position=(200, 300)).id
    canvas.scene.refresh_analysis()
    start = start_drag(canvas, add)
    over = canvas.to_view(QPointF(300, 12))
    move_to(canvas, start, over)
    release(canvas, over)
    assert edges(graph) == [(a, "out", add, "in1"), (add, "out", b, "in")]
    assert "in2" not in graph.incoming(add), "the second input waits for its own wire"


def test_a_palette_layer_dropped_onto_a_wire_is_inserted(canvas, graph, chain, undo_stack, check_undo_redo):
    a, b, wire = straight_wire(canvas, graph, chain)
    states = [graph.to_dict()]
    at = canvas.to_view(wire.path().pointAtPercent(0.4) + QPointF(0, 4))
    assert drop(canvas, layer_mime("dropout"), at)
    assert edges(graph) == [(a, "out", "dropout_1", "in"), ("dropout_1", "out", b, "in")]
    assert undo_stack.count() == 1 and undo_stack.undoText() == "Insert Dropout into input_1 → output_1"
    assert canvas.scene.selected_node_ids() == ["dropout_1"]
    assert all(item.drop_hint is None for item in canvas.scene.edge_items())
    states.append(graph.to_dict())
    check_undo_redo(undo_stack, graph, states)
    undo_stack.undo()
    assert edges(graph) == [(a, "out", b, "in")] and len(graph) == 2


def test_a_palette_layer_that_does_not_fit_is_added_beside_the_wire(canvas, graph, chain, undo_stack):
    a, b, wire = straight_wire(canvas, graph, chain)
    at = canvas.to_view(wire.path().pointAtPercent(0.5))
    assert drop(canvas, layer_mime("lstm"), at)  # LSTM needs (T, F); the wire carries (4,)
    assert [n.type for n in graph.nodes] == ["input", "output", "lstm"]
    assert edges(graph) == [(a, "out", b, "in")]
    assert canvas.messages[-1].startswith("LSTM not inserted into input_1 → output_1:")
    assert undo_stack.undoText() == "Add LSTM"


def test_a_drop_away_from_wires_adds_the_layer_unwired(canvas, graph, chain):
    a, b, wire = straight_wire(canvas, graph, chain)
    assert drop(canvas, layer_mime("relu"), canvas.to_view(QPointF(300, 300)))
    assert edges(graph) == [(a, "out", b, "in")] and canvas.messages == []


def test_insert_plan_cases_without_the_mouse(graph):
    from layerloom.gui.canvas.insertion import PortRef, attach_plan, insert_plan

    a = graph.add_node("input", {"shape": [3, 8, 8]}).id
    b = graph.add_node("output").id
    edge = graph.connect(a, "out", b, "in")
    before = graph.to_dict()
    fits = insert_plan(graph, edge, "conv2d_1", "conv2d")
    assert fits.fits and fits.cut == (edge,)
    assert fits.add == (Edge(a, "out", "conv2d_1", "in"), Edge("conv2d_1", "out", b, "in"))
    assert insert_plan(graph, edge, "input_2", "input").problem == "Input takes no input"
    assert insert_plan(graph, edge, "output_2", "output").problem == "Output gives no output"
    assert attach_plan(graph, PortRef(b, "in", False), "relu_1", "relu").cut == (edge,), \
        "at a wired input port the layer goes into that wire"
    assert graph.to_dict() == before, "planning changes nothing"


def test_the_window_status_bar_says_why_a_drop_was_not_inserted(qtbot, tmp_path):
    from tests.gui.test_window_helpers import make_window

    window = make_window(qtbot, tmp_path)
    a = window.graph.add_node("input", {"shape": [4]}, position=(0, 0)).id
    b = window.graph.add_node("output", position=(480, 0)).id
    window.graph.connect(a, "out", b, "in")
    window.view.centerOn(240, 0)
    window.scene.refresh_analysis()
    wire = window.scene.edge_items()[0]
    canvas = SimpleNamespace(viewport=window.view.viewport())  # what drop() needs
    at = window.view.mapFromScene(wire.path().pointAtPercent(0.5))
    assert drop(canvas, layer_mime("conv2d"), at)
    assert window.statusBar().currentMessage().startswith("Conv2d not inserted into input_1 → output_1:")
    assert len(window.graph.edges) == 1
