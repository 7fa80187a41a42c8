"""Files and safety: save/open, unsaved-changes prompts, bad files, autosave and
recovery, recent files, templates."""

from __future__ import annotations

import json
import subprocess

import pytest

from layerloom.graph import GraphFileError, load_graph, save_graph
from layerloom.gui.commands import AddNode, SetParams
from layerloom.gui.template_gallery import TemplateGallery, list_templates
from layerloom.resources import examples_dir
from tests.gui.test_window_helpers import PYTHON, REPO, make_window, subprocess_env


@pytest.fixture
def window(qtbot, tmp_path):
    return make_window(qtbot, tmp_path)


def _edit(window, units=7):
    window.undo_stack.push(AddNode(window.graph, "dense", {"units": units}))


def _small_graph_file(path, units=5):
    from layerloom.graph import Graph

    g = Graph()
    g.add_node("input", {"shape": (3,)}, position=(0, 0))
    g.add_node("dense", {"units": units}, position=(280, 0), label="Hidden")
    g.add_node("output", position=(560, 0))
    g.connect("input_1", "out", "dense_1", "in")
    g.connect("dense_1", "out", "output_1", "in")
    g.meta = {"title": f"Small {units}", "description": f"A Dense layer of {units} units."}
    save_graph(g, path)
    return path


def test_save_reopen_save_is_byte_identical(window, tmp_path):
    example = examples_dir() / "cnn_digits.loom"
    source = tmp_path / "source.loom"  # a copy: the test saves over what it opened
    if example.exists():
        source.write_bytes(example.read_bytes())
    else:
        _small_graph_file(source)
    assert window.load(source)
    _edit(window)
    first, second = tmp_path / "first.loom", tmp_path / "second.loom"
    window.ask_save_path = lambda: str(first)
    window.action("save_as").trigger()
    assert first.exists()
    assert window.document.path == first and not window.document.is_modified
    saved = window.graph.to_dict()
    window.document.new()
    assert window.open_file(first)
    assert window.graph.to_dict() == saved
    assert window.undo_stack.count() == 0, "opening a file clears the undo stack"
    window.ask_save_path = lambda: str(tmp_path / "second")  # no suffix: .loom is added
    assert window.save_as()
    assert second.read_bytes() == first.read_bytes()


def test_title_marks_unsaved_changes(window, tmp_path):
    assert window.windowTitle() == "Untitled — LayerLoom"
    _edit(window)
    assert window.windowTitle() == "Untitled* — LayerLoom"
    target = tmp_path / "model.loom"
    window.ask_save_path = lambda: str(target)
    assert window.save()
    assert window.windowTitle() == "model.loom — LayerLoom"
    window.action("undo").trigger()
    assert window.windowTitle() == "model.loom* — LayerLoom"
    window.action("redo").trigger()
    assert window.windowTitle() == "model.loom — LayerLoom"


@pytest.mark.parametrize("answer", ["cancel", "discard", "save"])
def test_new_asks_before_dropping_changes(window, tmp_path, answer):
    _edit(window)
    asked = []
    window.ask_save_discard_cancel = lambda: asked.append(1) or answer
    target = tmp_path / "kept.loom"
    window.ask_save_path = lambda: str(target)
    done = window.new_document()
    assert asked == [1]
    if answer == "cancel":
        assert not done and len(window.graph) == 1 and window.document.is_modified
    else:
        assert done and len(window.graph) == 0 and not window.document.is_modified
        assert target.exists() == (answer == "save")
    if answer == "save":
        assert [n.params["units"] for n in load_graph(target).nodes] == [7]


def test_open_and_close_ask_too(window, qtbot, tmp_path):
    other = _small_graph_file(tmp_path / "other.loom")
    _edit(window)
    window.ask_save_discard_cancel = lambda: "cancel"
    assert not window.open_file(other)
    assert [n.type for n in window.graph.nodes] == ["dense"]
    assert not window.close()
    assert window.isVisible()
    window.ask_save_discard_cancel = lambda: "discard"
    assert window.open_file(other)
    assert [n.type for n in window.graph.nodes] == ["input", "dense", "output"]
    _edit(window)
    assert window.close()


def test_unchanged_document_closes_without_a_question(window):
    assert window.close()  # ask_save_discard_cancel would fail the test


@pytest.mark.parametrize(
    "content",
    [b'{"format": "layerloom.graph", "format_version": 1, "nodes": [', b"\x89PNG\r\n",
     b'{"format": "layerloom.graph", "format_version": 1, "nodes": [{"id": "a", "type": "nope"}]}'],
)
def test_bad_file_shows_the_loader_message_and_keeps_the_document(window, tmp_path, content):
    good = _small_graph_file(tmp_path / "good.loom")
    assert window.load(good)
    _edit(window)
    before = (window.graph.to_dict(), window.document.path, window.undo_stack.count())
    bad = tmp_path / "bad.loom"
    bad.write_bytes(content)
    with pytest.raises(GraphFileError) as expected:
        load_graph(bad)
    window.ask_save_discard_cancel = lambda: "discard"
    assert not window.open_file(bad)
    assert len(window.errors) == 1
    title, message = window.errors[0]
    assert str(expected.value) in message
    assert "Traceback" not in message
    assert (window.graph.to_dict(), window.document.path, window.undo_stack.count()) == before
    assert window.document.is_modified


def test_autosave_writes_when_modified_and_clean_save_deletes_it(window, tmp_path):
    saver = window.autosaver
    assert saver.timer.interval() == 2 * 60 * 1000 and saver.timer.isActive()
    assert not saver.save_if_modified(), "nothing to protect yet"
    _edit(window)
    saver.timer.timeout.emit()
    recovery = saver.recovery_file
    assert recovery.exists()
    assert recovery.parent.parent == (tmp_path / "settings" / "LayerLoom"), "beside the user's settings"
    assert load_graph(recovery).to_dict()["nodes"] == window.graph.to_dict()["nodes"]
    assert not saver.save_if_modified(), "unchanged since the last autosave"
    window.ask_save_path = lambda: str(tmp_path / "saved.loom")
    assert window.save()
    assert not recovery.exists()


def test_declined_recovery_is_deleted(window, tmp_path):
    folder = window.autosaver.directory
    folder.mkdir(parents=True)
    _small_graph_file(folder / "1234-abcd.loom")
    offered = []
    window.ask_restore = lambda recovery: offered.append(recovery.describe()) or False
    assert not window.offer_recovery()
    assert offered and "untitled" in offered[0]
    assert not (folder / "1234-abcd.loom").exists()
    assert len(window.graph) == 0
    assert window.autosaver.find_orphan() is None


CRASHING_APP = r"""
import sys, time
from PySide6.QtCore import QSettings
QSettings.setDefaultFormat(QSettings.Format.IniFormat)
QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, sys.argv[1])
from PySide6.QtWidgets import QApplication
app = QApplication([])
from layerloom.gui.main_window import MainWindow
from layerloom.gui.commands import AddNode
window = MainWindow()
window.document.open(sys.argv[2])
window.undo_stack.push(AddNode(window.graph, "dense", {"units": 7}, position=(0, 300)))
assert window.autosaver.save_if_modified()
print("autosaved", flush=True)
time.sleep(60)
"""


def test_recovery_after_the_app_is_killed(window, tmp_path):
    original = _small_graph_file(tmp_path / "work.loom")
    env = subprocess_env(tmp_path, QT_QPA_PLATFORM="offscreen")
    child = subprocess.Popen(
        [PYTHON, "-c", CRASHING_APP, str(tmp_path / "settings"), str(original)],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert child.stdout.readline().strip() == "autosaved", child.stderr.read()
        assert window.autosaver.find_orphan() is None, "a running LayerLoom's file is not offered"
    finally:
        child.kill()
        child.wait(timeout=30)
    offered = []
    window.ask_restore = lambda recovery: offered.append(recovery) or True
    window.open_startup(None, None)
    assert len(offered) == 1
    assert offered[0].original_path == original
    assert [n.params.get("units") for n in window.graph.nodes if n.type == "dense"] == [5, 7]
    assert window.document.path == original
    assert window.document.is_modified and "*" in window.windowTitle()
    assert not offered[0].graph_file.exists()
    assert window.autosaver.recovery_file.exists(), "the restored work is protected again"
    assert window.save()
    assert [n.params.get("units") for n in load_graph(original).nodes if n.type == "dense"] == [5, 7]


def test_recent_files_keep_the_last_ten(window, tmp_path):
    files = [_small_graph_file(tmp_path / f"g{i}.loom", units=i + 1) for i in range(12)]
    for path in files:
        assert window.open_file(path)
    recent = window.recent.paths()
    assert recent == [p.absolute() for p in reversed(files)][:10]
    window.recent_menu.aboutToShow.emit()
    entries = [a for a in window.recent_menu.actions() if a.data()]
    assert [a.data() for a in entries] == [str(p) for p in recent]
    entries[3].trigger()
    assert window.document.path == recent[3]
    assert window.recent.paths()[0] == recent[3]

    from layerloom.gui.user_settings import user_settings

    assert json.loads(user_settings().value("recentFiles"))[0] == str(recent[3]), "kept in QSettings"
    recent[5].unlink()
    window.open_file(recent[5])
    assert "no such file" in window.errors[-1][1]
    assert recent[5] not in window.recent.paths()


def test_template_gallery_lists_the_examples_with_their_meta(qtbot, tmp_path):
    folder = tmp_path / "examples"
    folder.mkdir()
    _small_graph_file(folder / "b.loom", units=2)
    _small_graph_file(folder / "a.loom", units=9)
    (folder / "broken.loom").write_text("{", encoding="utf-8")
    gallery = TemplateGallery(folder)
    qtbot.addWidget(gallery)
    assert gallery.titles() == ["Small 2", "Small 9", "Broken"]
    assert gallery.selected_path() == folder / "b.loom"
    assert gallery.description.text() == "A Dense layer of 2 units."
    broken_row = gallery.list.count() - 1
    gallery.list.setCurrentRow(broken_row)
    assert gallery.selected_path() is None, "a file that cannot be read cannot be chosen"
    assert "Cannot be opened" in gallery.list.item(broken_row).toolTip()

    shipped = list_templates(examples_dir())
    real = TemplateGallery(examples_dir())
    qtbot.addWidget(real)
    assert sorted(real.titles()) == sorted(t.title for t in shipped)
    assert len(shipped) == len(list(examples_dir().glob("*.loom")))
    for template in shipped:
        meta = load_graph(template.path).meta
        assert template.title == meta["title"] and template.description == meta["description"]
        assert template.group == meta.get("group", "Other")
    groups = real.groups()
    assert groups == list(dict.fromkeys(t.group for t in shipped))
    if "Basics" in groups:
        assert groups[0] == "Basics", "the gallery starts with the first steps"


def test_new_from_template_opens_an_untitled_copy(window, tmp_path):
    template = _small_graph_file(tmp_path / "template.loom", units=4)
    window.ask_template = lambda: template
    window.action("new_from_template").trigger()
    assert len(window.graph) == 3 and window.document.path is None
    assert not window.document.is_modified
    window.undo_stack.push(SetParams(window.graph, ["dense_1"], {"units": 6}))
    window.ask_save_path = lambda: str(tmp_path / "mine.loom")
    assert window.save()
    assert load_graph(template).node("dense_1").params["units"] == 4, "the template is untouched"


def test_dropping_a_loom_file_on_the_canvas_opens_it(window, tmp_path):
    path = _small_graph_file(tmp_path / "dropped.loom")
    window.view.fileDropped.emit(str(path))
    assert window.document.path == path


def test_save_includes_a_value_still_being_typed(window, qtbot, tmp_path):
    node = window.graph.add_node("dropout")
    window.scene.select_nodes([node.id])
    qtbot.waitUntil(lambda: "p" in window.inspector.editors)
    editor = window.inspector.editors["p"]
    editor.setFocus()
    qtbot.waitUntil(editor.hasFocus)
    editor.selectAll()
    qtbot.keyClicks(editor, "0.35")  # no Enter: the user presses Ctrl+S right away
    target = tmp_path / "typed.loom"
    window.ask_save_path = lambda: str(target)
    window.action("save").trigger()
    assert load_graph(target).node(node.id).params["p"] == 0.35
    assert not window.document.is_modified


def test_save_on_a_full_disk_says_so_and_keeps_the_old_file(window, small_disk):
    from tests.backend.helpers import fill_disk

    disk = small_disk("64k")
    path = _small_graph_file(disk / "g.loom")
    before = path.read_bytes()
    assert window.open_file(path)
    for units in range(200, 260):  # enough parameters that the file grows
        _edit(window, units)
    fill_disk(disk, leave=0)
    assert window.save() is False
    (title, message), = window.errors
    assert title == "Cannot save" and "No space left on the device while writing" in message
    assert path.read_bytes() == before
    assert sorted(p.name for p in disk.iterdir()) == ["ballast", "g.loom"]
    assert window.document.is_modified, "the edits are still there to save elsewhere"


def test_autosave_on_a_full_disk_tells_the_status_bar_once_and_recovers(window, small_disk):
    from tests.backend.helpers import fill_disk

    disk = small_disk("64k")
    saver = window.autosaver
    saver.directory = disk / "recovery"
    _edit(window)
    fill_disk(disk, leave=0)
    told = []
    saver.failed.connect(told.append)
    assert not saver.save_if_modified()
    _edit(window, 9)
    assert not saver.save_if_modified()
    assert len(told) == 1 and "no space left on the device" in told[0]
    assert "Autosave failed" in window.statusBar().currentMessage()
    leftovers = list((disk / "recovery").glob(".*")) if (disk / "recovery").exists() else []
    assert leftovers == []
    (disk / "ballast").unlink()
    _edit(window, 11)
    assert saver.save_if_modified() and saver.recovery_file.exists()
    assert saver.last_error is None


@pytest.mark.parametrize("kind", ["loop", "fifo", "zero"])
def test_special_files_get_a_message_not_a_crash(window, tmp_path, kind):
    import os

    path = tmp_path / f"{kind}.loom"
    if kind == "loop":
        path.symlink_to(tmp_path / "other.loom")
        (tmp_path / "other.loom").symlink_to(path)
    elif kind == "fifo":
        os.mkfifo(path)
    else:
        path.symlink_to("/dev/zero")
    before = window.graph.to_dict()
    assert not window.open_file(path)
    (title, message), = window.errors
    assert str(path.name) in message and "Traceback" not in message
    assert window.graph.to_dict() == before
