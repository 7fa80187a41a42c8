"""Big graphs: read in the background, drawn a slice at a time, drawn simply when
zoomed out. No wall-clock asserts: the event loop's turns are counted instead."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QRectF, Qt, QTimer
from PySide6.QtGui import QColor, QImage, QPainter

from layerloom.graph import Graph, GraphFileError, load_graph, save_graph
from layerloom.gui import file_loading
from layerloom.gui.canvas import theme
from layerloom.gui.commands import SetParams
from tests.gui.test_files import _small_graph_file
from tests.gui.test_window_helpers import make_window

BLOCKS = 666  # 3 * 666 + 3 = 2,001 nodes: well over the sizes read and drawn at once
BIG_WAIT_MS = 180_000  # a 2,001-node open took 2 minutes on a machine with 13 jobs on 2 cores


def residual_graph(blocks: int) -> Graph:
    """Input, ``blocks`` x (Dense, Dropout, residual Add), Dense, Output, laid out."""
    g = Graph()
    prev = g.add_node("input", {"shape": [16]}).id
    for i in range(blocks):
        y = 160.0 * i
        dense = g.add_node("dense", {"units": 16}, position=(0, y)).id
        g.connect(prev, "out", dense, "in")
        drop = g.add_node("dropout", {"p": 0.1}, position=(240, y)).id
        g.connect(dense, "out", drop, "in")
        add = g.add_node("add", position=(480, y)).id
        g.connect(prev, "out", add, "in1")
        g.connect(drop, "out", add, "in2")
        prev = add
    head = g.add_node("dense", {"units": 4}, position=(720, 0)).id
    g.connect(prev, "out", head, "in")
    g.connect(head, "out", g.add_node("output", position=(960, 0)).id, "in")
    return g


@pytest.fixture(scope="module")
def big_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("big") / "big.loom"
    save_graph(residual_graph(BLOCKS), path)
    assert path.stat().st_size > file_loading.BACKGROUND_BYTES
    return path


@pytest.fixture
def window(qtbot, tmp_path):
    w = make_window(qtbot, tmp_path)
    small = _small_graph_file(tmp_path / "small.loom")
    assert w.load(small)
    return w


def _ticking(window):
    """A 1 ms timer counting the event loop's turns."""
    ticks = []
    timer = QTimer(window)
    timer.setInterval(1)
    timer.timeout.connect(lambda: ticks.append(window.scene.builder.busy))
    timer.start()
    return ticks


def test_a_big_file_opens_while_the_event_loop_keeps_turning(window, big_file, qtbot):
    ticks = _ticking(window)
    progress, ended = [], []
    window.file_load.progress.connect(lambda text, done, total: progress.append((text, done, total)))
    window.file_load.loadFinished.connect(ended.append)
    assert window.load(big_file)
    assert window.file_load.busy and window.file_load.indicator.isVisible()
    assert window.file_load.indicator.cancel.isVisible()
    assert len(window.graph) == 3, "the current document stays until the file is read"
    qtbot.waitUntil(lambda: bool(ended) and not window.scene.builder.busy, timeout=BIG_WAIT_MS)
    assert ended == [True]
    # the loop turned while the file was read and again between slices of the drawing
    assert ticks.count(False) >= 1 and ticks.count(True) >= 2
    assert progress[0] == ("Opening big.loom", 0, 0)
    drawn = [(done, total) for text, done, total in progress if text.startswith("Drawing")]
    assert len(drawn) >= 3 and drawn[-1][0] == drawn[-1][1] == len(window.graph) + len(window.graph.edges)
    assert [d for d, _ in drawn] == sorted(d for d, _ in drawn)
    # the whole graph, nothing dropped, as the file has it
    assert window.graph.to_dict() == load_graph(big_file).to_dict()
    assert len(window.graph) == 3 * BLOCKS + 3
    scene = window.scene
    assert {i.node_id for i in scene.node_items()} == {n.id for n in window.graph.nodes}
    assert {i.edge for i in scene.edge_items()} == set(window.graph.edges)
    assert window.document.path == big_file and not window.document.is_modified
    assert window.undo_stack.count() == 0
    assert not window.file_load.indicator.isVisible()
    assert window.graph.lint_problems() == []


def test_cancel_leaves_the_current_document(window, big_file, qtbot):
    before, path = window.graph.to_dict(), window.document.path
    ended = []
    window.file_load.loadFinished.connect(ended.append)
    assert window.load(big_file)
    qtbot.mouseClick(window.file_load.indicator.cancel, Qt.MouseButton.LeftButton)
    assert ended == [False] and not window.file_load.busy
    assert not window.file_load.indicator.isVisible()
    for worker in window.file_load._threads:  # the read ends on its own; its graph is dropped
        qtbot.waitUntil(worker.isFinished, timeout=BIG_WAIT_MS)
    qtbot.wait(50)
    assert window.graph.to_dict() == before and window.document.path == path
    assert len(window.scene.node_items()) == 3
    assert "cancelled" in window.statusBar().currentMessage()
    assert ended == [False]


def test_a_damaged_big_file_gives_the_usual_message(window, big_file, qtbot, tmp_path):
    damaged = tmp_path / "damaged.loom"
    damaged.write_bytes(big_file.read_bytes()[:-200])  # truncated JSON
    with pytest.raises(GraphFileError) as refused:
        load_graph(damaged)
    before = window.graph.to_dict()
    ended = []
    window.file_load.loadFinished.connect(ended.append)
    assert window.load(damaged)
    qtbot.waitUntil(lambda: bool(ended), timeout=BIG_WAIT_MS)
    assert ended == [False]
    assert window.errors == [("Cannot open file", str(refused.value))]
    assert window.graph.to_dict() == before and window.document.path.name == "small.loom"


def test_edits_while_a_big_graph_is_drawn_are_shown(window, big_file, qtbot):
    ended = []
    window.file_load.loadFinished.connect(ended.append)
    window.load(big_file)
    qtbot.waitUntil(lambda: bool(ended), timeout=BIG_WAIT_MS)
    scene, graph = window.scene, window.graph
    assert scene.builder.busy, "a 2,000-node graph is drawn in slices"
    assert window.view.zoom == 1.0, "meanwhile the view shows its beginning at 100 %"
    last = graph.nodes[-2]  # the head Dense: among the last cards to be made
    assert scene.node_item_or_none(last.id) is None
    window.undo_stack.push(SetParams(graph, [last.id], {"units": 9}))
    graph.remove_node(graph.nodes[1].id)  # a card probably made, and its wires
    qtbot.waitUntil(lambda: not scene.builder.busy, timeout=BIG_WAIT_MS)
    assert {i.node_id for i in scene.node_items()} == {n.id for n in graph.nodes}
    assert {i.edge for i in scene.edge_items()} == set(graph.edges)
    scene.refresh_analysis()
    assert "9" in " ".join(t[1].text() for t in scene.node_item(last.id)._texts)


def _render(scene, item, scale: float) -> QImage:
    """Paint the part of ``scene`` under ``item`` into an image, at ``scale``."""
    rect = item.sceneBoundingRect()
    image = QImage(int(rect.width() * scale) + 1, int(rect.height() * scale) + 1, QImage.Format.Format_ARGB32)
    image.fill(QColor("white"))
    painter = QPainter(image)
    scene.render(painter, QRectF(0, 0, image.width(), image.height()), rect)
    painter.end()
    return image


def test_zoomed_out_cards_are_plain_boxes_without_text(window):
    item = window.scene.node_item("dense_1")
    item.setCacheMode(item.CacheMode.NoCache)  # paint straight into the image
    small = _render(window.scene, item, 0.2)
    assert item.drawn_simple, f"below {theme.DETAIL_MIN_ZOOM:.0%} a card is a plain box"
    # the box is there: the card's fill, not the white under it
    assert small.pixelColor(small.width() // 2, small.height() * 3 // 4) == theme.NODE_FILL
    full = _render(window.scene, item, 1.0)
    assert not item.drawn_simple
    # full size has text: darker pixels inside the body than the plain fill
    dark = sum(full.pixelColor(x, y).lightness() < 120
               for x in range(0, full.width(), 2) for y in range(0, full.height(), 2))
    assert dark > 20


def test_a_big_recovered_graph_is_restored_in_the_background(window, big_file, qtbot):
    folder = window.autosaver.directory
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "1234-abcd.loom").write_bytes(big_file.read_bytes())
    window.ask_restore = lambda recovery: True
    ended = []
    window.file_load.loadFinished.connect(ended.append)
    assert window.offer_recovery()
    assert window.file_load.busy and len(window.graph) == 3
    qtbot.waitUntil(lambda: bool(ended), timeout=BIG_WAIT_MS)
    assert ended == [True]
    assert len(window.graph) == 3 * BLOCKS + 3 and window.document.is_modified
    assert not (folder / "1234-abcd.loom").exists(), "the old copy goes once restored"
    assert window.autosaver.recovery_file.exists(), "the restored work is protected again"


def test_a_big_graph_is_left_out_of_cycle_collection_until_a_small_one_opens(window, big_file, qtbot,
                                                                            monkeypatch):
    """The cycle collector's full walks of a big graph's objects were the longest
    stalls of an open; the objects a big open makes are left out of them, and
    handed back when the document is small again."""
    import gc

    from layerloom.gui import heap
    from layerloom.gui.canvas import scene_build

    window.training_dock.preload()  # torch's objects kept apart before, not amid, the open
    heap.release()
    assert heap.settled() == 0
    ended = []
    window.file_load.loadFinished.connect(ended.append)
    assert window.load(big_file)
    qtbot.waitUntil(lambda: bool(ended) and not window.scene.builder.busy, timeout=BIG_WAIT_MS)
    assert not heap.paused(), "the collector runs again once the file is read"
    assert not gc.isenabled() and heap.collects_on_gui_thread(), "on the GUI thread only"
    big, nodes = heap.settled(), len(window.graph)
    assert big > 20 * nodes, "the graph and its cards are out of the collector's reach"
    released, release = [], heap.release
    monkeypatch.setattr(heap, "release", lambda: (released.append(True), release()))
    monkeypatch.setattr(scene_build, "RELEASE_AFTER", big + 1)
    apart = gc.get_freeze_count()
    window.document.new()
    # no cycle holds the graph or its cards: they went with the document all the same
    assert not released and gc.get_freeze_count() < apart - 20 * nodes
    assert window.load(big_file)
    qtbot.waitUntil(lambda: not window.file_load.busy and not window.scene.builder.busy, timeout=BIG_WAIT_MS)
    monkeypatch.setattr(scene_build, "RELEASE_AFTER", 1_000)
    window.document.new()
    assert released and heap.settled() == 0, "a small graph after a big one: everything collectable again"
