"""The main window: layout, actions, drag and drop, undo/redo, start-up."""

from __future__ import annotations

import json
import subprocess
import time

import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import QApplication

from layerloom.graph import REGISTRY
from layerloom.gui.commands import Connect
from layerloom.gui.palette import LAYER_MIME
from tests.gui.test_window_helpers import PYTHON, REPO, make_window, subprocess_env


@pytest.fixture
def window(qtbot, tmp_path):
    return make_window(qtbot, tmp_path)


def _types(graph) -> list[str]:
    return [n.type for n in graph.nodes]


def test_layout_has_palette_canvas_and_inspector(window):
    from PySide6.QtWidgets import QDockWidget

    assert window.findChild(type(window.layer_palette), "palette") is window.layer_palette
    assert window.layer_palette.search.objectName() == "paletteSearch"
    assert window.findChild(type(window.inspector), "inspector") is window.inspector
    assert window.centralWidget().isAncestorOf(window.view)  # under the block path bar
    palette_area = window.dockWidgetArea(window.findChild(QDockWidget, "paletteDock"))
    inspector_area = window.dockWidgetArea(window.findChild(QDockWidget, "inspectorDock"))
    assert palette_area == Qt.DockWidgetArea.LeftDockWidgetArea
    assert inspector_area == Qt.DockWidgetArea.RightDockWidgetArea
    palette_right = window.layer_palette.mapTo(window, QPoint(window.layer_palette.width(), 0)).x()
    canvas_left = window.view.mapTo(window, QPoint(0, 0)).x()
    canvas_right = window.view.mapTo(window, QPoint(window.view.width(), 0)).x()
    assert palette_right <= canvas_left < canvas_right <= window.inspector.mapTo(window, QPoint(0, 0)).x()


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("new", QKeySequence.StandardKey.New), ("open", QKeySequence.StandardKey.Open),
        ("save", QKeySequence.StandardKey.Save), ("save_as", QKeySequence.StandardKey.SaveAs),
        ("undo", QKeySequence.StandardKey.Undo), ("redo", QKeySequence.StandardKey.Redo),
        ("cut", QKeySequence.StandardKey.Cut), ("copy", QKeySequence.StandardKey.Copy),
        ("paste", QKeySequence.StandardKey.Paste), ("delete", QKeySequence.StandardKey.Delete),
        ("select_all", QKeySequence.StandardKey.SelectAll),
        ("zoom_in", QKeySequence.StandardKey.ZoomIn), ("zoom_out", QKeySequence.StandardKey.ZoomOut),
    ],
)
def test_actions_use_standard_keys(window, name, key):
    action = window.action(name)
    expected = QKeySequence.keyBindings(key)
    assert expected and action.shortcut() == expected[0]


def test_every_toolbar_action_has_a_shortcut_in_its_tooltip(window):
    actions = [a for a in window.toolbar.actions() if not a.isSeparator()]
    names = {a.objectName() for a in actions}
    assert {"action_new", "action_open", "action_save", "action_undo", "action_redo",
            "action_zoom_in", "action_zoom_out", "action_fit", "action_auto_layout"} <= names
    for action in actions:
        keys = action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
        assert keys, action.objectName()
        assert f"({keys})" in action.toolTip(), (action.objectName(), action.toolTip())
    assert window.action("duplicate").shortcut().toString()
    assert window.action("fit").shortcut().toString()
    assert window.action("auto_layout").shortcut().toString()


def test_drop_a_palette_entry_on_the_canvas(window, qtbot):
    # Source half: what the palette puts in the drag for the Dense entry.
    tree = window.layer_palette.tree
    mime = tree.mimeData([window.layer_palette.item_for("dense")])
    assert LAYER_MIME in tree.mimeTypes()
    assert bytes(mime.data(LAYER_MIME).data()).decode() == "dense"
    # Target half: the drag arrives over the canvas and is dropped there.
    viewport = window.view.viewport()
    point = QPoint(viewport.width() // 3, viewport.height() // 2)
    copy, left, none = Qt.DropAction.CopyAction, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    enter = QDragEnterEvent(point, copy, mime, left, none)
    QApplication.sendEvent(viewport, enter)
    assert enter.isAccepted()
    move = QDragMoveEvent(point, copy, mime, left, none)
    QApplication.sendEvent(viewport, move)
    assert move.isAccepted()
    QApplication.sendEvent(viewport, QDropEvent(QPointF(point), copy, mime, left, none))

    assert _types(window.graph) == ["dense"]
    node = window.graph.nodes[0]
    item_rect = window.scene.node_item(node.id).sceneBoundingRect()
    assert item_rect.contains(window.view.mapToScene(point)), "the layer lands where it was dropped"
    assert window.scene.selected_node_ids() == [node.id]
    qtbot.waitUntil(lambda: window.inspector.title.text() == "Dense")
    assert window.document.is_modified


def test_double_click_and_enter_add_at_the_centre(window, qtbot):
    tree = window.layer_palette.tree
    item = window.layer_palette.item_for("dropout")
    rect = tree.visualItemRect(item)
    # A real double-click: the first click, then the second one as a double-click.
    qtbot.mouseClick(tree.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.mouseDClick(tree.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert _types(window.graph) == ["dropout"]
    centre = window.view.mapToScene(window.view.viewport().rect().center())
    assert window.scene.node_item(window.graph.nodes[0].id).sceneBoundingRect().contains(centre)

    window.layer_palette.search.setFocus()
    qtbot.keyClicks(window.layer_palette.search, "flatten")
    qtbot.keyClick(window.layer_palette.search, Qt.Key.Key_Return)
    assert _types(window.graph) == ["dropout", "flatten"]
    first, second = (n.position for n in window.graph.nodes)
    assert first != second, "a second layer added at the centre does not hide the first"


def test_undo_and_redo_through_the_window_actions(window, qtbot):
    window.add_layer("input")
    window.add_layer("dense")
    node = window.graph.node("dense_1")
    window.scene.select_nodes(["dense_1"])
    qtbot.waitUntil(lambda: "units" in window.inspector.editors)
    spin = window.inspector.editors["units"]
    spin.setValue(64)
    snapshots = [[], ["input"], ["input", "dense"]]
    assert node.params["units"] == 64

    undo, redo = window.action("undo"), window.action("redo")
    undo.trigger()
    assert window.graph.node("dense_1").params["units"] == 32
    for expected in reversed(snapshots[:-1]):
        undo.trigger()
        assert _types(window.graph) == expected
    assert not undo.isEnabled()
    assert not window.document.is_modified
    for expected in snapshots[1:]:
        redo.trigger()
        assert _types(window.graph) == expected
    redo.trigger()
    assert window.graph.node("dense_1").params["units"] == 64
    assert not redo.isEnabled()


def test_copy_paste_duplicate_delete_select_all(window, qtbot):
    window.add_layer("input")
    window.add_layer("dense")
    window.action("select_all").trigger()
    assert window.scene.selected_node_ids() == ["input_1", "dense_1"]
    window.action("copy").trigger()
    window.action("paste").trigger()
    assert _types(window.graph) == ["input", "dense", "input", "dense"]
    assert window.scene.selected_node_ids() == ["input_2", "dense_2"]
    window.action("duplicate").trigger()
    assert len(window.graph) == 6
    window.action("delete").trigger()
    assert len(window.graph) == 4
    window.scene.select_nodes(["dense_1"])
    window.action("cut").trigger()
    assert [n.id for n in window.graph.nodes] == ["input_1", "input_2", "dense_2"]
    window.action("undo").trigger()
    assert window.graph.has_node("dense_1")


def test_status_bar_shows_totals_errors_and_canvas_messages(window, qtbot):
    status = window.graph_status
    assert status.errors.text() == "Empty graph"
    window.add_layer("input")
    window.add_layer("dense")
    window.add_layer("output")
    assert len(window.graph.analysis().errors) == 2  # Dense and Output are not wired
    qtbot.waitUntil(lambda: status.errors.text() == "2 errors")
    assert "not connected" in status.errors.toolTip()
    qtbot.mouseClick(status.errors, Qt.MouseButton.LeftButton)
    assert window.scene.selected_node_ids() == ["dense_1"], "a click selects the first layer at fault"
    qtbot.mouseClick(status.errors, Qt.MouseButton.LeftButton)
    assert window.scene.selected_node_ids() == ["output_1"], "and the next one on the next click"
    window.undo_stack.push(Connect(window.graph, "input_1", "out", "dense_1", "in"))
    window.undo_stack.push(Connect(window.graph, "dense_1", "out", "output_1", "in"))
    qtbot.waitUntil(lambda: status.errors.text() == "No errors")
    analysis = window.graph.analysis()
    assert status.params.text().endswith(f"{analysis.total_params:,}")  # 2*32 + 32 = 96
    assert analysis.total_params == 96
    assert str(analysis.total_flops) in status.flops.text()
    window.scene.statusMessage.emit("Wire refused: test")
    assert window.statusBar().currentMessage() == "Wire refused: test"


def test_no_display_says_so_in_one_line(tmp_path):
    env = subprocess_env(tmp_path)  # no DISPLAY, WAYLAND_DISPLAY or QT_QPA_PLATFORM
    result = subprocess.run(
        [PYTHON, "-c", "import sys; from layerloom.gui.launcher import main; sys.exit(main([]))"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "xvfb-run -a layerloom" in lines[0]
    assert "headless" in lines[0]
    assert "Traceback" not in result.stderr and not result.stdout


def test_display_check_accepts_headless_platforms():
    from layerloom.gui.app import display_problem

    assert display_problem({}, "linux") is not None
    assert display_problem({"DISPLAY": ":0"}, "linux") is None
    assert display_problem({"WAYLAND_DISPLAY": "wayland-0"}, "linux") is None
    assert display_problem({"QT_QPA_PLATFORM": "offscreen"}, "linux") is None
    assert display_problem({"QT_QPA_PLATFORM": "xcb"}, "linux") is not None
    assert display_problem({}, "darwin") is None
    assert display_problem({}, "win32") is None


PROBE = r"""
import json, sys, time
start = time.perf_counter()
import layerloom.gui.app
import layerloom.gui.training.dock as dock
dock.PRELOAD_DELAY_MS = 60_000  # the deliberate preload waits: on a busy machine the open may take longer

def probe(app, window):
    deadline = time.perf_counter() + 10
    while not window.isVisible() and time.perf_counter() < deadline:
        app.processEvents()
    shown = time.perf_counter() - start
    torch_at_show = "torch" in sys.modules
    for _ in range(20):   # let the deferred start-up (file opening) run
        app.processEvents()
    print(json.dumps({
        "seconds": shown, "torch_at_show": torch_at_show, "torch_after_open": "torch" in sys.modules,
        "visible": window.isVisible(), "title": window.windowTitle(), "nodes": len(window.graph),
    }))
    return 0

layerloom.gui.app._exec = probe
sys.exit(layerloom.gui.app.run_app(sys.argv[1:]))
"""


def test_window_shows_fast_without_importing_torch(tmp_path):
    from layerloom.gui.app import sample_project

    sample = sample_project()
    args = [str(sample)] if sample else []
    env = subprocess_env(tmp_path, QT_QPA_PLATFORM="offscreen")
    began = time.perf_counter()
    result = subprocess.run([PYTHON, "-c", PROBE, *args], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=60)
    wall = time.perf_counter() - began
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["visible"]
    assert report["torch_at_show"] is False
    assert report["torch_after_open"] is False
    assert report["seconds"] < 2.0, report
    assert wall < 10
    if sample:
        assert report["title"].startswith("Untitled"), "an example opens as a copy"
        assert report["nodes"] > 0


def test_sample_project_opens_without_a_file(window, monkeypatch):
    from layerloom.gui.app import sample_project

    sample = sample_project()
    if sample is None:
        pytest.skip("no example graph ships yet")
    window.open_startup(None, sample)
    assert len(window.graph) > 0
    assert window.document.path is None, "the installed example is never overwritten by Save"
    assert not window.document.is_modified
    assert all(n.type in REGISTRY for n in window.graph.nodes)


def test_an_example_given_by_path_opens_as_a_copy(window):
    from layerloom.gui.app import sample_project

    sample = sample_project()
    if sample is None:
        pytest.skip("no example graph ships yet")
    before = sample.read_bytes()
    assert window.load(sample)
    assert window.document.path is None and len(window.graph) > 0
    assert sample not in window.recent.paths()
    window.ask_save_path = lambda: None  # the user cancels the Save As dialog
    assert not window.save()
    assert sample.read_bytes() == before
