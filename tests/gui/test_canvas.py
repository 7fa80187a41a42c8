"""The canvas driven like a user drives it: drops from the palette, dragging nodes,
rubber-band selection, Delete, zoom and pan; the model is checked after each
edit, after undo and after redo."""

from __future__ import annotations

from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent, QWheelEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from layerloom.graph import Graph
from layerloom.gui.canvas import LAYER_MIME_TYPE
from layerloom.gui.canvas.theme import GRID, HEADER_HEIGHT, NODE_WIDTH
from layerloom.gui.commands import SetParams


def drop(canvas, mime: QMimeData, at: QPoint) -> bool:
    """Send a drag-enter, a drag-move and a drop at ``at`` (viewport coordinates),
    as the palette's drag would; returns whether the drop was accepted."""
    viewport = canvas.viewport
    action = Qt.DropAction.CopyAction
    buttons, mods = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    enter = QDragEnterEvent(at, action, mime, buttons, mods)
    QApplication.sendEvent(viewport, enter)
    if not enter.isAccepted():
        return False
    move = QDragMoveEvent(at, action, mime, buttons, mods)
    QApplication.sendEvent(viewport, move)
    event = QDropEvent(QPointF(at), action, mime, buttons, mods)
    QApplication.sendEvent(viewport, event)
    return event.isAccepted()


def layer_mime(type_id: str) -> QMimeData:
    mime = QMimeData()
    mime.setData(LAYER_MIME_TYPE, type_id.encode("utf-8"))
    return mime


def test_scene_follows_the_graph(canvas, graph, chain):
    ids = chain(graph, ("input", {"shape": [4]}), ("dense", {"units": 3}), "output")
    canvas.scene.refresh_analysis()
    assert {i.node_id for i in canvas.scene.node_items()} == set(ids)
    assert len(canvas.scene.edge_items()) == 2
    assert canvas.scene.node_item("dense_1").pos() == QPointF(240, 0)
    graph.move_node("dense_1", (300, 40))
    assert canvas.scene.node_item("dense_1").pos() == QPointF(300, 40)
    graph.remove_node("output_1")
    assert len(canvas.scene.node_items()) == 2 and len(canvas.scene.edge_items()) == 1

    other = Graph()
    other.add_node("input", {"shape": [2]}, position=(20, 20))
    graph.replace_with(other)  # a file opened into the live document: one "reset"
    assert [i.node_id for i in canvas.scene.node_items()] == ["input_1"]
    assert canvas.scene.edge_items() == []

    fresh = Graph()
    fresh.add_node("dense", position=(0, 100))
    canvas.scene.set_graph(fresh)
    assert [i.node_id for i in canvas.scene.node_items()] == ["dense_1"]
    graph.add_node("output")  # the old graph no longer reaches the scene
    assert len(canvas.scene.node_items()) == 1


def test_nodes_show_params_shapes_and_counts(canvas, graph, chain, undo_stack):
    chain(graph, ("input", {"shape": [8]}), ("dense", {"units": 4, "activation": "relu"}), "output")
    canvas.scene.refresh_analysis()
    dense = canvas.scene.node_item("dense_1")
    texts = [st.text() for _, st, *_ in dense._texts]
    assert texts[:3] == ["Dense", "dense_1", "units 4 · relu"]
    assert "→ (N, 4)" in texts and "36 params" in texts
    labels = sorted(item.label for item in canvas.scene.edge_items())
    assert labels == ["(N, 4)", "(N, 8)"]
    undo_stack.push(SetParams(graph, ["dense_1"], {"units": 10}))
    assert sorted(item.label for item in canvas.scene.edge_items()) == ["(N, 10)", "(N, 8)"]
    assert "90 params" in [st.text() for _, st, *_ in dense._texts]


def test_drop_a_layer_from_the_palette(canvas, graph, undo_stack, check_undo_redo):
    states = [graph.to_dict()]
    at = QPoint(300, 200)
    assert drop(canvas, layer_mime("dense"), at)
    states.append(graph.to_dict())
    node = graph.node("dense_1")
    spot = canvas.view.mapToScene(at)
    assert node.position[0] % GRID == 0 and node.position[1] % GRID == 0
    assert abs(node.position[0] + NODE_WIDTH / 2 - spot.x()) <= GRID / 2
    assert abs(node.position[1] + HEADER_HEIGHT / 2 - spot.y()) <= GRID / 2
    assert undo_stack.count() == 1 and undo_stack.undoText() == "Add Dense"
    assert canvas.scene.selected_node_ids() == ["dense_1"]
    assert drop(canvas, layer_mime("input"), QPoint(100, 100))
    states.append(graph.to_dict())
    check_undo_redo(undo_stack, graph, states)


def test_drop_of_an_unknown_layer_or_other_data_changes_nothing(canvas, graph, undo_stack):
    assert not drop(canvas, layer_mime("warp_drive"), QPoint(200, 200))
    assert canvas.messages and "warp_drive" in canvas.messages[-1]
    text = QMimeData()
    text.setText("dense")
    assert not drop(canvas, text, QPoint(200, 200))
    assert len(graph) == 0 and undo_stack.count() == 0


def test_drop_a_loom_file_asks_the_window_to_open_it(canvas, qtbot, tmp_path):
    mime = QMimeData()
    path = tmp_path / "model.loom"
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    with qtbot.waitSignal(canvas.view.fileDropped) as blocker:
        assert drop(canvas, mime, QPoint(50, 50))
    assert blocker.args == [str(path)]
    mime.setUrls([QUrl.fromLocalFile(str(tmp_path / "notes.txt"))])
    assert not drop(canvas, mime, QPoint(50, 50))


def test_dragging_a_node_is_one_move_command_on_release(canvas, graph, chain, undo_stack,
                                                        check_undo_redo):
    a, b = chain(graph, ("input", {"shape": [4]}), ("dense", {"units": 3}))
    canvas.scene.refresh_analysis()
    states = [graph.to_dict()]
    item = canvas.scene.node_item(b)
    start = canvas.to_view(canvas.node_pos(b))
    QTest.mousePress(canvas.viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start)
    for step in range(1, 6):
        QTest.mouseMove(canvas.viewport, start + QPoint(13 * step, 9 * step))
        assert graph.node(b).position == (240.0, 0.0)  # the model waits for the release
    assert item.pos() == QPointF(300, 40)  # snapped while dragging
    edge = canvas.scene.edge_items()[0]
    assert edge.path().currentPosition() == item.port("in", False).scene_anchor()
    QTest.mouseRelease(canvas.viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                       start + QPoint(65, 45))
    assert undo_stack.count() == 1 and undo_stack.undoText() == "Move Dense"
    assert graph.node(b).position == (300.0, 40.0)
    states.append(graph.to_dict())
    check_undo_redo(undo_stack, graph, states)
    undo_stack.undo()
    graph.lint()
    assert item.pos() == QPointF(240, 0)  # the item follows the model back
    assert edge.path().currentPosition() == item.port("in", False).scene_anchor()


def test_dragging_a_selection_moves_all_of_it_in_one_command(canvas, graph, chain, undo_stack):
    ids = chain(graph, ("input", {"shape": [4]}), "dense", "dense", "output")
    canvas.scene.select_nodes(ids[1:3])
    canvas.drag(canvas.node_pos(ids[1]), canvas.node_pos(ids[1]) + QPointF(0, 80))
    assert undo_stack.count() == 1 and undo_stack.undoText() == "Move 2 nodes"
    assert [graph.node(n).position for n in ids] == [(0, 0), (240, 80), (480, 80), (720, 0)]
    undo_stack.undo()
    graph.lint()
    assert [graph.node(n).position for n in ids] == [(0, 0), (240, 0), (480, 0), (720, 0)]


def test_click_without_moving_pushes_nothing(canvas, graph, chain, undo_stack):
    a, = chain(graph, "dense")
    canvas.click(canvas.node_pos(a))
    assert canvas.scene.selected_node_ids() == [a] and undo_stack.count() == 0


def test_rubber_band_selects_the_nodes_it_touches(canvas, graph, chain, qtbot):
    ids = chain(graph, ("input", {"shape": [4]}), "dense", "output", dx=240)
    seen = []
    canvas.scene.selectionChangedIds.connect(seen.append)
    canvas.drag(QPointF(-40, -60), QPointF(300, 80))
    assert canvas.scene.selected_node_ids() == ids[:2]
    assert seen[-1] == ids[:2]
    canvas.click(QPointF(200, 400))  # empty canvas clears the selection
    assert canvas.scene.selected_node_ids() == [] and seen[-1] == []


def test_delete_key_removes_selection_and_undo_restores_it(canvas, graph, chain, undo_stack,
                                                            check_undo_redo):
    ids = chain(graph, ("input", {"shape": [4]}), ("dense", {"units": 3}), "dense", "output")
    canvas.scene.refresh_analysis()
    states = [graph.to_dict()]
    canvas.click(canvas.node_pos(ids[1]))
    canvas.view.setFocus()
    canvas.key(Qt.Key.Key_Delete)
    assert not graph.has_node(ids[1]) and undo_stack.undoText() == "Delete Dense"
    states.append(graph.to_dict())

    edge_item = canvas.scene.edge_items()[0]  # dense_2 -> output_1
    canvas.click(edge_item.path().pointAtPercent(0.5))
    assert edge_item.isSelected() and canvas.scene.selected_node_ids() == []
    canvas.key(Qt.Key.Key_Backspace)
    assert graph.edges == [] and undo_stack.undoText() == "Disconnect dense_2 → output_1"
    states.append(graph.to_dict())
    check_undo_redo(undo_stack, graph, states)
    assert len(canvas.scene.edge_items()) == 0 and len(canvas.scene.node_items()) == 3


def test_delete_with_nothing_selected_does_nothing(canvas, graph, chain, undo_stack):
    chain(graph, "dense")
    canvas.key(Qt.Key.Key_Delete)
    assert len(graph) == 1 and undo_stack.count() == 0


def wheel(canvas, at: QPoint, delta: int) -> None:
    event = QWheelEvent(QPointF(at), QPointF(canvas.viewport.mapToGlobal(at)), QPoint(0, 0),
                        QPoint(0, delta), Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier,
                        Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(canvas.viewport, event)


def test_wheel_zooms_around_the_cursor(canvas):
    at = QPoint(700, 150)
    under = canvas.view.mapToScene(at)
    wheel(canvas, at, 120)
    assert abs(canvas.view.zoom - 1.2) < 1e-9
    after = canvas.view.mapToScene(at)
    assert abs(after.x() - under.x()) < 2 and abs(after.y() - under.y()) < 2
    for _ in range(30):
        wheel(canvas, at, -120)
    assert abs(canvas.view.zoom - 0.15) < 1e-9  # clamped
    canvas.view.zoom_in()
    assert abs(canvas.view.zoom - 0.15 * 1.25) < 1e-9


def test_middle_drag_and_space_drag_pan(canvas, graph, chain, undo_stack):
    chain(graph, "dense")
    centre = canvas.viewport.rect().center()
    before = canvas.view.mapToScene(centre)
    canvas.drag_view(QPoint(500, 300), QPoint(400, 250), button=Qt.MouseButton.MiddleButton)
    moved = canvas.view.mapToScene(centre) - before
    assert abs(moved.x() - 100) < 2 and abs(moved.y() - 50) < 2

    before = canvas.view.mapToScene(centre)
    canvas.view.setFocus()
    QTest.keyPress(canvas.view, Qt.Key.Key_Space)
    start = canvas.to_view(canvas.node_pos("dense_1"))  # even over a node: pan, not move
    canvas.drag_view(start, start + QPoint(-60, 30))
    QTest.keyRelease(canvas.view, Qt.Key.Key_Space)
    moved = canvas.view.mapToScene(centre) - before
    assert abs(moved.x() - 60) < 2 and abs(moved.y() + 30) < 2
    assert undo_stack.count() == 0 and canvas.scene.selected_node_ids() == []


def test_fit_to_view_shows_every_node(canvas, graph, chain):
    chain(graph, ("input", {"shape": [4]}), *["dense"] * 8, "output", x0=-300, y0=900, dx=300)
    canvas.view.fit_to_view()
    visible = canvas.view.mapToScene(canvas.viewport.rect()).boundingRect()
    assert visible.contains(canvas.scene.nodes_bounding_rect())
    assert canvas.view.zoom < 1
    graph.clear()
    canvas.view.fit_to_view()
    assert abs(canvas.view.zoom - 1.0) < 1e-9


def test_grid_background_and_items_render(canvas, graph, chain):
    chain(graph, ("input", {"shape": [1, 28, 28]}), ("conv2d", {"channels": 4}), "flatten",
          ("dense", {"units": 10}), "output")
    canvas.scene.refresh_analysis()
    canvas.view.fit_to_view()
    image = canvas.view.grab().toImage()
    assert not image.isNull()
    colours = {image.pixelColor(x, y).name() for x in range(0, image.width(), 7)
               for y in range(0, image.height(), 7)}
    assert "#f5f6f8" in colours and "#ffffff" in colours and len(colours) > 10


def test_rename_shows_the_label_in_the_header(canvas, graph, chain, undo_stack):
    from layerloom.gui.commands import Rename

    chain(graph, ("dense", {"units": 3}))
    item = canvas.scene.node_item("dense_1")
    undo_stack.push(Rename(graph, "dense_1", "Encoder"))
    assert [st.text() for _, st, *_ in item._texts][:2] == ["Encoder", "Dense"]
    undo_stack.undo()
    graph.lint()
    assert [st.text() for _, st, *_ in item._texts][:2] == ["Dense", "dense_1"]


def test_scene_helpers_paste_layout_and_add_at_centre(canvas, graph, chain, undo_stack):
    from layerloom.gui.clipboard import copy_selection

    ids = chain(graph, ("input", {"shape": [4]}), ("dense", {"units": 3}), "output")
    pasted = canvas.scene.paste(copy_selection(graph, ids[:2]), (40, 40))
    assert pasted == ["input_2", "dense_2"] and canvas.scene.selected_node_ids() == pasted
    assert graph.incoming("dense_2")["in"].source == "input_2"
    assert canvas.scene.paste({"nodes": [{"type": "warp"}], "edges": []}) == []
    assert "unknown layer type 'warp'" in canvas.messages[-1]

    canvas.scene.auto_layout()
    assert undo_stack.undoText() == "Auto layout"
    xs = sorted({graph.node(n).position[0] for n in ("input_1", "dense_1", "output_1")})
    assert len(xs) == 3  # one column per layer
    undo_stack.undo()
    graph.lint()
    assert graph.node("dense_1").position == (240, 0)

    first = canvas.view.add_layer("dropout")
    second = canvas.view.add_layer("dropout")
    a, b = graph.node(first).position, graph.node(second).position
    assert b == (a[0] + 20, a[1] + 20)  # the second steps aside from the first
    centre = canvas.view.mapToScene(canvas.viewport.rect().center())
    assert abs(a[0] + NODE_WIDTH / 2 - centre.x()) <= GRID


def test_ports_explain_their_tensors(canvas, graph, chain):
    chain(graph, ("input", {"shape": [6]}), ("dense", {"units": 2}))
    canvas.scene.refresh_analysis()
    dense = canvas.scene.node_item("dense_1")
    assert dense.port("in", False).toolTip() == "in: (N, 6)"
    assert dense.port("out", True).toolTip() == "out: (N, 2)"
    assert dense.toolTip().startswith("Dense: Fully connected layer")


def test_a_scene_deleted_with_its_window_lets_go_of_the_graph(qtbot, graph, undo_stack):
    from PySide6.QtWidgets import QWidget

    from layerloom.gui.canvas import GraphScene
    from layerloom.gui.commands import AddNode

    window = QWidget()
    scene = GraphScene(graph, undo_stack)
    scene.setParent(window)
    del scene
    with qtbot.waitSignal(window.destroyed):
        window.deleteLater()
    assert len(graph._listeners) == 1  # still subscribed, until ...
    undo_stack.push(AddNode(graph, "dense"))  # ... the next event finds it gone
    assert graph._listeners == []
