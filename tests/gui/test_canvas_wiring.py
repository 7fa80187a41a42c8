"""Wiring on the canvas with the mouse: accepted wires become one Connect, refused
ones leave the graph as it was and say why, and errors show on the node until the
graph is fixed."""

from __future__ import annotations

from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtTest import QTest

from layerloom.gui.canvas.port_item import BAD, NORMAL, OK
from layerloom.gui.commands import Disconnect, SetParams


def test_wire_two_ports_with_the_mouse(canvas, graph, chain, undo_stack, check_undo_redo):
    a, b, c = chain(graph, ("input", {"shape": [4]}), ("dense", {"units": 3}), "output", wired=False)
    canvas.scene.refresh_analysis()
    states = [graph.to_dict()]
    canvas.wire(a, b)
    assert undo_stack.count() == 1 and undo_stack.undoText() == "Connect input_1 → dense_1"
    states.append(graph.to_dict())
    assert states[-1]["edges"] == [{"source": a, "source_port": "out", "target": b, "target_port": "in"}]
    # from an input port back to an output port works as well
    canvas.drag(canvas.port_pos(c, "in", False), canvas.port_pos(b, "out", True))
    states.append(graph.to_dict())
    assert len(states[-1]["edges"]) == 2
    assert canvas.scene.edge_item(graph.edges[1]).label == "(N, 3)"
    check_undo_redo(undo_stack, graph, states)
    assert canvas.messages == []


def test_ports_light_up_while_a_wire_is_dragged(canvas, graph, chain, undo_stack):
    a, b, c, d = chain(graph, ("input", {"shape": [4]}), "dense", ("dense", {"units": 2}), "output",
                       wired=False)
    graph.connect(a, "out", b, "in")
    canvas.scene.refresh_analysis()
    scene = canvas.scene
    start = canvas.to_view(canvas.port_pos(c, "out", True))
    QTest.mousePress(canvas.viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start)
    QTest.mouseMove(canvas.viewport, start + QPoint(40, 60))
    assert scene.wire_in_progress()
    assert scene.node_item(d).port("in", False).state == OK
    assert scene.node_item(b).port("in", False).state == BAD  # taken
    assert scene.node_item(c).port("in", False).state == BAD  # itself
    assert scene.node_item(a).port("out", True).state == BAD  # an output
    over = canvas.to_view(canvas.port_pos(d, "in", False))
    QTest.mouseMove(canvas.viewport, over)
    assert scene._wire.preview.path().currentPosition() == canvas.port_pos(d, "in", False)
    # dropped on empty canvas: the quick-add popup offers a layer for the port
    # (see test_quick_add.py); Escape closes it, nothing changes, the ports calm down
    QTest.mouseRelease(canvas.viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                       canvas.to_view(QPointF(600, 500)))
    assert not scene.wire_in_progress() and undo_stack.count() == 0
    assert canvas.view.quick_add.isVisible()
    QTest.keyClick(canvas.view.quick_add.search, Qt.Key.Key_Escape)
    assert not canvas.view.quick_add.isVisible() and undo_stack.count() == 0
    assert {p.state for item in scene.node_items() for p in item.ports()} == {NORMAL}


def refused(canvas, graph, undo_stack, do, reason: str) -> None:
    before, count = graph.to_dict(), undo_stack.count()
    do()
    assert graph.to_dict() == before and undo_stack.count() == count
    assert canvas.messages and canvas.messages[-1].startswith("Wire refused:")
    assert reason in canvas.messages[-1]


def test_refused_wires_change_nothing_and_say_why(canvas, graph, chain, undo_stack):
    a, b, c = chain(graph, ("input", {"shape": [4]}), ("dense", {"units": 4}), ("add", {}))
    canvas.scene.refresh_analysis()
    refused(canvas, graph, undo_stack, lambda: canvas.wire(c, b), "already has a wire from input_1")
    undo_stack.push(Disconnect(graph, [graph.edges[0]]))
    refused(canvas, graph, undo_stack, lambda: canvas.wire(c, b), "would make a cycle")
    image = graph.add_node("conv2d", position=(240, 300)).id
    refused(canvas, graph, undo_stack, lambda: canvas.wire(a, image),
            "conv2d_1 cannot take (N, 4): Conv2d needs (C, H, W); it receives (4,)")


def test_a_wire_dropped_on_a_card_takes_its_first_free_input(canvas, graph, chain, undo_stack):
    a, b, c = chain(graph, ("input", {"shape": [4]}), ("dense", {"units": 4}), ("add", {}))
    canvas.scene.refresh_analysis()
    body = canvas.scene.node_item(c).sceneBoundingRect().center()
    canvas.drag(canvas.port_pos(a, "out", True), body)
    assert undo_stack.undoText() == "Connect input_1 → add_1"
    assert graph.incoming(c)["in2"].source == a


def test_error_badge_appears_for_a_wrong_wire_and_goes_when_fixed(canvas, graph, chain, undo_stack):
    tokens, dense, out = chain(graph, ("input", {"shape": [20], "dtype": "long"}), ("dense", {"units": 3}),
                               "output", wired=False)
    graph.connect(dense, "out", out, "in")
    canvas.scene.refresh_analysis()
    item = canvas.scene.node_item(dense)
    assert "not connected" in item.badge.toolTip()
    canvas.wire(tokens, dense)  # allowed: the rank fits; the dtype does not
    assert undo_stack.undoText() == "Connect input_1 → dense_1"
    assert item.error and item.badge.isVisible()
    assert item.badge.toolTip() == graph.analysis().nodes[dense].message
    assert "needs float values" in item.badge.toolTip() and "insert an Embedding" in item.badge.toolTip()
    assert canvas.scene.node_item(out).error is None and not canvas.scene.node_item(out).badge.isVisible()

    undo_stack.push(SetParams(graph, [tokens], {"dtype": "float"}))  # the fix
    assert item.error is None and not item.badge.isVisible()
    assert canvas.scene.edge_item(graph.edges[-1]).label == "(N, 20)"
    undo_stack.undo()
    graph.lint()
    assert item.badge.isVisible()


def test_add_with_mismatched_shapes_shows_an_error_until_fixed(canvas, graph, chain, undo_stack):
    x, dense, add = chain(graph, ("input", {"shape": [8]}), ("dense", {"units": 4}), ("add", {}))
    graph.add_node("output", position=(720, 0))
    graph.connect(add, "out", "output_1", "in")
    canvas.scene.refresh_analysis()
    canvas.drag(canvas.port_pos(x, "out", True), canvas.port_pos(add, "in2", False))
    item = canvas.scene.node_item(add)
    assert undo_stack.count() == 1
    assert "Add needs equal shapes; in1 is (4,) but in2 is (8,)" in item.badge.toolTip()
    assert canvas.scene.node_item("output_1").badge.isVisible() is False
    undo_stack.push(SetParams(graph, [dense], {"units": 8}))
    assert not item.badge.isVisible() and item.error is None
    assert graph.analysis().valid


def test_escape_or_a_graph_change_cancels_a_wire(canvas, graph, chain, undo_stack):
    a, b = chain(graph, ("input", {"shape": [4]}), "dense", wired=False)
    canvas.scene.refresh_analysis()
    start = canvas.to_view(canvas.port_pos(a, "out", True))
    target = canvas.to_view(canvas.port_pos(b, "in", False))
    for cancel in (lambda: canvas.key(Qt.Key.Key_Escape), lambda: graph.add_node("output")):
        QTest.mousePress(canvas.viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start)
        QTest.mouseMove(canvas.viewport, target)
        assert canvas.scene.wire_in_progress()
        cancel()
        assert not canvas.scene.wire_in_progress()
        QTest.mouseRelease(canvas.viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, target)
        assert graph.edges == [] and undo_stack.count() == 0
    assert {p.state for item in canvas.scene.node_items() for p in item.ports()} == {NORMAL}


def test_rank_check_refuses_only_ranks_a_layer_never_takes(graph):
    from layerloom.graph import TensorSpec
    from layerloom.gui.canvas.wire_check import rank_problem

    conv = graph.add_node("conv2d")
    flat = graph.add_node("flatten")
    dense = graph.add_node("dense")
    add = graph.add_node("add")
    vector, image = TensorSpec((784,)), TensorSpec((1, 28, 28))
    assert "Conv2d needs (C, H, W)" in rank_problem(conv, vector)
    assert rank_problem(conv, image) is None
    assert rank_problem(conv, TensorSpec((1, 2, 2))) is None  # too small, but the rank fits
    assert rank_problem(flat, vector) is None and rank_problem(flat, image) is None
    assert rank_problem(dense, TensorSpec((20,), "long")) is None  # a dtype error, shown on the node
    assert rank_problem(add, TensorSpec((3, 5))) is None
