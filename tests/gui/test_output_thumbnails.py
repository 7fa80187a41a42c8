"""View ▸ Output Thumbnails: under each node card, what the node outputs for the
current sample, from the initial weights until a run gives others, live during
the run and from the trained model after it; inside a block, its inner nodes'
outputs; off for large graphs and broken ones, with the reason in the status bar;
never an undoable edit."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QRect
from PySide6.QtGui import QImage

from layerloom.backend.templates import template_path
from layerloom.backend.views.thumbnails import MAX_NODES
from layerloom.gui.commands import SetParams
from layerloom.gui.training.thumbnails import SETTINGS_KEY
from layerloom.gui.training.views.canvas_thumbnails import canvas_thumbnails
from tests.gui.test_training_helpers import one_thread, wait_for  # noqa: F401
from tests.gui.test_window_helpers import make_window

pytestmark = pytest.mark.usefixtures("one_thread")


def from_template(qtbot, tmp_path, name: str):
    window = make_window(qtbot, tmp_path)
    window.ask_template = lambda: template_path(name)
    assert window.new_from_template()
    window.view.set_zoom(1.0)
    return window


def toggled(qtbot, window, on: bool = True):
    """Switch the thumbnails with the View menu's action; wait for the next drawing."""
    thumbs = window.output_thumbnails
    before = thumbs.refreshes
    thumbs.action.trigger()
    assert thumbs.action.isChecked() is on
    if on:
        wait_for(qtbot, lambda: thumbs.refreshes > before and not thumbs._busy, timeout=60)
    return thumbs


def pixels(image: QImage) -> np.ndarray:
    image = image.convertToFormat(QImage.Format.Format_RGB32)
    words = np.frombuffer(image.constBits(), np.uint32, image.bytesPerLine() * image.height() // 4)
    return words.reshape(image.height(), -1)[:, : image.width()].copy()


def under_card(window, node_id: str) -> np.ndarray:
    """The canvas's pixels just under ``node_id``'s card."""
    item = window.scene.node_item(node_id)
    window.view.centerOn(item)
    window.view.viewport().repaint()
    rect = window.view.mapFromScene(item.sceneBoundingRect()).boundingRect()
    return pixels(window.view.viewport().grab(QRect(rect.left(), rect.bottom() + 2, rect.width(), 60)).toImage())


@pytest.mark.parametrize("template,node", [("mlp_two_moons", "dense_1"), ("cnn_digits", "conv2d_1")])
def test_toggling_on_draws_a_thumbnail_under_each_card(qtbot, tmp_path, template, node):
    window = from_template(qtbot, tmp_path, template)
    edits = window.undo_stack.count()
    before = under_card(window, node)
    thumbs = toggled(qtbot, window)
    shown = canvas_thumbnails(window.scene)
    graph = window.graph
    assert set(shown) == {n.id for n in graph.nodes if not n.spec.is_output}
    for thumb in shown.values():
        assert thumb.isVisible() and len(np.unique(pixels(thumb.image))) > 2, "a blank thumbnail"
        assert "initial weights" in thumb.toolTip() and "validation sample 0" in thumb.toolTip()
    after = under_card(window, node)
    assert (before != after).sum() > 200, "the canvas under the card looks the same"
    assert thumbs.message.startswith("Output thumbnails: validation sample 0, initial weights (not trained)")
    assert "; none for " in thumbs.message and "the Output node passes its input on" in thumbs.message
    assert window.statusBar().currentMessage() == thumbs.message
    assert window.settings.value(SETTINGS_KEY) in (True, "true")  # remembered for the next start
    window.grab().save(f"/tmp/layerloom_thumbnails_{template}.png")

    window.view.set_zoom(0.3)  # zoomed far out: the cards alone
    window.view.viewport().repaint()
    assert not shown[node].drawn
    toggled(qtbot, window, on=False)
    assert canvas_thumbnails(window.scene) == {}
    assert window.undo_stack.count() == edits  # showing thumbnails is no edit


def test_thumbnails_follow_edits_undo_and_the_run(qtbot, tmp_path):
    window = from_template(qtbot, tmp_path, "mlp_two_moons")
    thumbs = toggled(qtbot, window)
    first = thumbs.result.items["dense_1"].values.copy()

    # an edit: the new layer gets its thumbnail; undo takes it away again, and no
    # step of the undo stack belongs to the thumbnails
    count = thumbs.refreshes
    edits = window.undo_stack.count()
    window.undo_stack.push(SetParams(window.graph, ["dense_1"], {"units": 8}))
    wait_for(qtbot, lambda: thumbs.refreshes > count and not thumbs._busy
             and thumbs.result.items["dense_1"].values.shape == (8,), timeout=30)
    window.undo_stack.undo()
    wait_for(qtbot, lambda: thumbs.result.items["dense_1"].values.shape == (16,), timeout=30)
    np.testing.assert_allclose(thumbs.result.items["dense_1"].values, first)
    assert window.undo_stack.count() == edits + 1 and window.undo_stack.index() == edits

    # a card moved right under another: that card's thumbnail goes beside it, or
    # hides and the status bar says so; it never covers a card
    above, below = window.scene.node_item("dense_1"), window.scene.node_item("dense_2")
    window.graph.move_nodes({"dense_2": (above.x(), above.y() + above.height + 30)})
    wait_for(qtbot, lambda: below.y() > above.y(), timeout=5)
    thumb = canvas_thumbnails(window.scene)["dense_1"]
    wait_for(qtbot, lambda: thumb.crowded or thumb.x() > 0, timeout=5)
    assert not thumb.crowded and not thumb.sceneBoundingRect().intersects(below.sceneBoundingRect())
    window.graph.move_nodes({"dense_3": (above.x() + above.width + 20, above.y())})  # and one beside it
    wait_for(qtbot, lambda: thumb.crowded and not thumb.isVisible(), timeout=5)
    assert "; hidden where other cards leave no room: Hidden 1" in thumbs.message
    assert window.statusBar().currentMessage() == thumbs.message
    window.graph.move_nodes({"dense_2": (above.x(), above.y() + above.height + 400)})
    wait_for(qtbot, lambda: thumb.x() == 0 and thumb.isVisible(), timeout=5)

    # a run: live copies of its weights while it trains, its model after it
    dock = window.training_dock
    window.graph.set_settings("training", {**window.graph.training, "epochs": 10_000})  # stopped below
    dock.preload()
    wait_for(qtbot, lambda: dock.setup.dataset_for_run() is not None, timeout=30)
    run = dock.start()
    assert run is not None
    wait_for(qtbot, lambda: "(live)" in thumbs.weights, timeout=60)
    assert "step" in canvas_thumbnails(window.scene)["dense_1"].toolTip()
    dock.stop()
    wait_for(qtbot, lambda: not dock.running, timeout=60)
    wait_for(qtbot, lambda: thumbs.weights.startswith("the trained weights of"), timeout=30)
    trained = thumbs.result.items["dense_1"].values
    assert not np.allclose(trained, first)  # the trained layer outputs something else
    assert "trained weights" in canvas_thumbnails(window.scene)["dense_1"].toolTip()

    # another sample, chosen in the Inside tab
    count = thumbs.refreshes
    dock.inside_view.sample.setValue(7)
    wait_for(qtbot, lambda: thumbs.refreshes > count and thumbs.result.sample == 7, timeout=30)
    assert "validation sample 7" in canvas_thumbnails(window.scene)["dense_1"].toolTip()


def test_inside_blocks_and_off_above_the_node_limit_and_for_a_broken_graph(qtbot, tmp_path):
    window = from_template(qtbot, tmp_path, "resnet_digits")
    thumbs = toggled(qtbot, window)
    assert "layer1" in canvas_thumbnails(window.scene)  # a block shows its output
    top = thumbs.result.items

    window.scene.select_nodes(["layer1"])
    assert window.open_selected_block()  # the nodes inside the block get theirs
    wait_for(qtbot, lambda: "conv2d_1" in canvas_thumbnails(window.scene), timeout=30)
    inner = canvas_thumbnails(window.scene)
    assert set(inner) == {n.id for n in window.scene.graph.nodes if not n.spec.is_output}
    assert "inside the first of the 2 copies of Layer1" in inner["relu_2"].toolTip()
    assert thumbs.message.startswith("Output thumbnails inside Layer1: validation sample 0")
    np.testing.assert_allclose(thumbs.result.items["input_1"].values, top["relu"].values[:24])
    window.navigator.leave()
    wait_for(qtbot, lambda: "layer1" in canvas_thumbnails(window.scene), timeout=30)

    edge = next(e for e in window.graph.edges if e.target == "fc")
    window.graph.remove_edge(edge)
    wait_for(qtbot, lambda: thumbs.message.startswith("Output thumbnails need a graph without errors"), timeout=10)
    assert canvas_thumbnails(window.scene) == {} and "Traceback" not in thumbs.message
    window.graph.add_edge(edge)
    wait_for(qtbot, lambda: bool(canvas_thumbnails(window.scene)), timeout=30)

    extra = [window.graph.add_node("relu", position=(0.0, 900.0 + 60 * k)).id
             for k in range(MAX_NODES + 1 - len(window.graph))]
    assert not thumbs.action.isEnabled()
    assert f"up to {MAX_NODES} nodes" in thumbs.action.toolTip()
    assert canvas_thumbnails(window.scene) == {}
    for nid in extra:
        window.graph.remove_node(nid)
    assert thumbs.action.isEnabled() and thumbs.action.isChecked()
    wait_for(qtbot, lambda: bool(canvas_thumbnails(window.scene)), timeout=30)
