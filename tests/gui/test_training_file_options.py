"""The options of a user data file in the set-up panel: one editor per option of
the file's kind, made from its declaration by the layers' editor factory, typed
text turned into the values the readers take, each edit checked by loading the
file, undoable and saved in the .loom file."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from PySide6.QtCore import QCoreApplication, Qt
from PySide6.QtWidgets import QComboBox, QLabel, QLineEdit, QToolButton

from layerloom.backend.datasets import FILE_KINDS
from layerloom.graph import Graph, load_graph, save_graph
from layerloom.gui.param_editors import (
    ChoiceEditor,
    ColumnsEditor,
    IntsEditor,
    PathEditor,
    TextEditor,
    make_editor,
)
from layerloom.gui.training.setup.setup_panel import SetupPanel
from tests.gui.test_training_helpers import wait_for


def write_table(folder, name: str = "table.csv") -> None:
    """Columns a, b, c (numbers), score (a measurement) and label (three text classes)."""
    rng = np.random.default_rng(0)
    rows = ["a,b,c,score,label"] + [
        f"{a:.3f},{b:.3f},{c:.3f},{s:.4f},{('cat', 'dog', 'emu')[i % 3]}"
        for i, (a, b, c, s) in enumerate(rng.normal(size=(30, 4)))
    ]
    (folder / name).write_text("\n".join(rows))


def write_idx(path, array: np.ndarray) -> None:
    path.write_bytes(bytes([0, 0, 8, array.ndim]) + struct.pack(f">{array.ndim}i", *array.shape)
                     + array.astype(np.uint8).tobytes())


def write_images(folder) -> None:
    from PIL import Image

    for label, colour in (("cats", (200, 30, 30)), ("dogs", (30, 30, 200))):
        (folder / label).mkdir(parents=True)
        for i in range(2):
            Image.new("RGB", (5, 4), colour).save(folder / label / f"{i}.png")


def open_panel(qtbot, folder, name: str, options: dict | None = None, graph: Graph | None = None) -> SetupPanel:
    from PySide6.QtGui import QUndoStack

    graph = Graph() if graph is None else graph
    if name:
        graph.set_settings("dataset", {"name": name, "options": options or {}})
    panel = SetupPanel(graph, QUndoStack(), lambda: str(folder))
    qtbot.addWidget(panel)
    panel.resize(340, 800)
    panel.show()
    panel.enable_preview()
    if name:
        wait_for(qtbot, lambda: panel.dataset_for_run() is not None or panel.load_error is not None)
    return panel


def type_into(qtbot, editor: QLineEdit, text: str) -> None:
    """Replace the field's text with the keyboard and press Return."""
    qtbot.keyClick(editor, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClick(editor, Qt.Key.Key_Backspace)
    if text:
        qtbot.keyClicks(editor, text)
    qtbot.keyClick(editor, Qt.Key.Key_Return)


def choose(combo: QComboBox, text: str) -> None:
    """Pick the entry shown as ``text`` as a user would (activated)."""
    index = combo.findText(text)
    assert index >= 0, f"{text!r} is not offered"
    combo.setCurrentIndex(index)
    combo.activated.emit(index)


def settled(panel: SetupPanel, options: dict):
    """True once the graph holds ``options`` and the preview shows the data they load."""
    return panel.graph.dataset["options"] == options and panel.dataset_for_run() is not None


def test_each_kind_of_data_gets_the_editors_of_its_options(qtbot, tmp_path):
    write_table(tmp_path)
    panel = open_panel(qtbot, tmp_path, "table.csv")
    form = panel.file_options
    assert form.isVisibleTo(panel) and form.kind is FILE_KINDS["csv"]
    assert list(form.editors) == ["features", "target", "task", "header", "delimiter"]
    kinds = {key: type(editor) for key, editor in form.editors.items()}
    assert kinds == {"features": ColumnsEditor, "target": ColumnsEditor, "task": ChoiceEditor,
                     "header": ChoiceEditor, "delimiter": TextEditor}
    assert all(isinstance(form.editors[key], QLineEdit) for key in ("features", "target", "delimiter"))
    assert form.editors["target"].placeholderText() == "last column"
    assert form.editors["target"].text() == ""
    assert [form.editors["header"].itemText(i) for i in range(3)] == ["auto", "yes", "no"]
    assert "the column to predict" in form.editors["target"].toolTip().lower()
    assert panel.findChild(QLabel, "fileOptionsName").text() == "table.csv (CSV table)"

    np.savez(tmp_path / "arrays.npz", x=np.zeros((6, 3), np.float32), y=np.array([0, 1] * 3))
    panel.choose_dataset("arrays.npz")
    wait_for(qtbot, lambda: form.kind is FILE_KINDS["npz"])
    assert list(form.editors) == ["task"]
    assert [form.editors["task"].itemText(i) for i in range(4)] == ["auto", "classification", "regression",
                                                                   "sequence"]

    write_images(tmp_path / "pets")
    panel.choose_dataset("pets")
    wait_for(qtbot, lambda: form.kind is FILE_KINDS["images"])
    assert list(form.editors) == ["size", "mode"] and isinstance(form.editors["size"], IntsEditor)
    assert form.editors["size"].placeholderText() == "original size"

    images = np.zeros((4, 3, 3))
    write_idx(tmp_path / "digits-images-idx3-ubyte", images)
    write_idx(tmp_path / "digits-labels-idx1-ubyte", np.array([0, 1, 2, 1]))
    panel.choose_dataset("digits-images-idx3-ubyte")  # one images file takes its labels file
    wait_for(qtbot, lambda: settled(panel, {}) and form.kind is FILE_KINDS["idx"])
    assert list(form.editors) == ["labels"] and panel.dataset_for_run().num_classes == 3
    assert isinstance(form.editors["labels"], PathEditor)
    assert panel.findChild(QLabel, "fileOptionsName").text() == "digits-images-idx3-ubyte (IDX images)"
    write_idx(tmp_path / "other.idx1", np.array([0, 4, 4, 1]))
    form.editors["labels"].ask_path = lambda: str(tmp_path / "other.idx1")
    form.editors["labels"].findChild(QToolButton).click()  # the folder button at the end of the field
    wait_for(qtbot, lambda: settled(panel, {"labels": "other.idx1"}))  # next to the images: travels with them
    assert panel.dataset_for_run().num_classes == 5
    (tmp_path / "mnist").mkdir()
    write_idx(tmp_path / "mnist" / "train-images-idx3-ubyte", images)
    write_idx(tmp_path / "mnist" / "train-labels-idx1-ubyte", np.array([0, 1, 2, 1]))
    panel.choose_dataset("mnist")  # a folder is split by file name
    wait_for(qtbot, lambda: form.kind is FILE_KINDS["idx"] and list(form.editors) == ["split"])
    choose(form.editors["split"], "test")
    wait_for(qtbot, lambda: "no test images file" in panel.file_options.message.text())
    assert panel.graph.dataset["options"] == {}

    panel.choose_dataset("moons")  # built-ins keep their own option editors
    wait_for(qtbot, lambda: not form.isVisibleTo(panel))
    assert "n_samples" in panel.option_editors


def test_target_and_features_change_what_loads_and_undo_puts_them_back(qtbot, tmp_path):
    write_table(tmp_path)
    panel = open_panel(qtbot, tmp_path, "table.csv")
    graph, stack, editors = panel.graph, panel.undo_stack, panel.file_options.editors
    data = panel.dataset_for_run()
    assert data.input_shape == (4,) and data.task == "classification" and data.num_classes == 3

    type_into(qtbot, editors["features"], "a, 2")  # a name and an index
    wait_for(qtbot, lambda: settled(panel, {"features": ["a", 2]}))
    assert panel.dataset_for_run().input_shape == (2,)
    assert stack.count() == 1 and stack.undoText() == "Change dataset settings"

    type_into(qtbot, editors["target"], "score")
    wait_for(qtbot, lambda: settled(panel, {"features": ["a", 2], "target": "score"}))
    data = panel.dataset_for_run()
    assert data.task == "regression" and tuple(data.target_shape) == (1,)
    assert "regression" in panel.preview.summary.text() and "target (1,)" in panel.preview.summary.text()

    type_into(qtbot, editors["target"], "")  # empty: the default, so the key goes
    wait_for(qtbot, lambda: settled(panel, {"features": ["a", 2]}))
    assert panel.dataset_for_run().task == "classification"
    assert stack.count() == 3

    stack.undo()
    wait_for(qtbot, lambda: editors["target"].text() == "score")
    assert graph.dataset["options"] == {"features": ["a", 2], "target": "score"}
    wait_for(qtbot, lambda: settled(panel, graph.dataset["options"]) and panel.dataset_for_run().task == "regression")
    stack.undo()
    stack.undo()
    wait_for(qtbot, lambda: editors["features"].text() == "" and editors["target"].text() == "")
    assert graph.dataset["options"] == {}
    stack.redo()
    wait_for(qtbot, lambda: editors["features"].text() == "a, 2")
    assert graph.dataset["options"] == {"features": ["a", 2]}
    wait_for(qtbot, lambda: settled(panel, {"features": ["a", 2]}))
    assert panel.dataset_for_run().input_shape == (2,)

    type_into(qtbot, editors["target"], "score")
    panel.keeper.wait_all()  # the check has loaded, its answer waits in the event queue
    stack.undo()  # undone before the answer is read: the check is dropped, the undo stands
    wait_for(qtbot, lambda: not panel.file_options._running and editors["features"].text() == "")
    qtbot.wait(50)
    assert graph.dataset["options"] == {} and stack.index() == 0 and stack.canRedo()
    assert editors["target"].text() == ""


def test_a_check_answered_after_another_file_was_chosen_is_dropped(qtbot, tmp_path):
    write_table(tmp_path)
    (tmp_path / "other.csv").write_text("x,y\n" + "\n".join(f"{i},{i % 2}" for i in range(12)))
    panel = open_panel(qtbot, tmp_path, "table.csv")
    type_into(qtbot, panel.file_options.editors["features"], "a, b")
    panel.keeper.wait_all()  # table.csv's check has loaded, its answer waits in the event queue
    panel.choose_dataset("other.csv")  # a new file before the answer is read ...
    QCoreApplication.sendPostedEvents()  # ... and the answer read before the panel's refresh
    wait_for(qtbot, lambda: settled(panel, {}) and panel.graph.dataset["name"] == "other.csv")
    qtbot.wait(50)
    assert panel.graph.dataset["options"] == {} and len(panel.dataset_for_run()) == 12


def test_an_edit_made_while_a_refused_one_is_checked_is_kept(qtbot, tmp_path, monkeypatch):
    import threading

    from layerloom.gui.training.setup import file_options

    write_table(tmp_path)
    panel = open_panel(qtbot, tmp_path, "table.csv")
    editors, gate, load = panel.file_options.editors, threading.Event(), file_options._load
    monkeypatch.setattr(file_options, "_load", lambda *args: (gate.wait(10), load(*args))[1])
    type_into(qtbot, editors["target"], "nope")  # checked while ...
    type_into(qtbot, editors["features"], "a, b")  # ... this waits, built on it
    gate.set()
    wait_for(qtbot, lambda: settled(panel, {"features": ["a", "b"]}))
    assert panel.dataset_for_run().input_shape == (2,) and panel.undo_stack.count() == 1
    assert "no column 'nope'" in panel.file_options.message.text()


def test_a_column_that_does_not_exist_is_refused_with_the_readers_message(qtbot, tmp_path):
    write_table(tmp_path)
    panel = open_panel(qtbot, tmp_path, "table.csv", {"features": [0, 1, 2]})
    graph, stack, target = panel.graph, panel.undo_stack, panel.file_options.editors["target"]
    assert panel.file_options.editors["features"].text() == "0, 1, 2"

    loaded = panel.dataset_for_run()
    type_into(qtbot, target, "nope")
    wait_for(qtbot, lambda: panel.file_options.message.isVisibleTo(panel))
    assert "no column 'nope'; the columns are a, b, c, score, label" in panel.file_options.message.text()
    assert graph.dataset["options"] == {"features": [0, 1, 2]} and stack.count() == 0
    assert target.text() == "nope" and target.property("invalid") is True
    assert panel.dataset_for_run() is loaded and panel.load_error is None  # the stored options still load

    choose(panel.file_options.editors["header"], "no")  # names in row 1 are not numbers
    wait_for(qtbot, lambda: "row 1, column '0' (feature) holds 'a'" in panel.file_options.message.text())
    assert graph.dataset["options"] == {"features": [0, 1, 2]} and stack.count() == 0

    type_into(qtbot, target, "label")  # fixed: kept, and the preview is back
    wait_for(qtbot, lambda: settled(panel, {"features": [0, 1, 2], "target": "label"}))
    assert target.property("invalid") is False and panel.load_error is None
    assert not panel.file_options.message.isVisibleTo(panel)
    assert panel.file_options.editors["header"].currentText() == "auto"
    assert stack.count() == 1


def test_image_size_and_mode_and_npz_task(qtbot, tmp_path):
    write_images(tmp_path / "pets")
    panel = open_panel(qtbot, tmp_path, "pets")
    editors, graph = panel.file_options.editors, panel.graph
    assert panel.dataset_for_run().input_shape == (3, 4, 5)
    type_into(qtbot, editors["size"], "8x6")
    wait_for(qtbot, lambda: settled(panel, {"size": [8, 6]}))
    assert panel.dataset_for_run().input_shape == (3, 8, 6)
    assert editors["size"].text() == "8, 6"
    choose(editors["mode"], "grayscale")
    wait_for(qtbot, lambda: settled(panel, {"size": [8, 6], "mode": "grayscale"}))
    assert panel.dataset_for_run().input_shape == (1, 8, 6)

    type_into(qtbot, editors["size"], "big")  # refused before any load, saying what to type
    wait_for(qtbot, lambda: panel.file_options.message.isVisibleTo(panel))
    message = panel.file_options.message.text()
    assert "'3, 3'" in message and "nothing for original size" in message and "'big'" in message
    type_into(qtbot, editors["size"], "0, 6")  # the declaration's range: refused before any load
    wait_for(qtbot, lambda: "size must be at least 1, got 0" in panel.file_options.message.text())
    assert editors["size"].property("invalid") is True
    assert graph.dataset["options"] == {"size": [8, 6], "mode": "grayscale"}
    choose(editors["mode"], "auto")  # the default: the key goes, the refused size is dropped
    wait_for(qtbot, lambda: settled(panel, {"size": [8, 6]}))
    assert panel.dataset_for_run().input_shape == (3, 8, 6) and editors["size"].text() == "8, 6"

    x = np.arange(12, dtype=np.float32).reshape(6, 2)
    np.savez(tmp_path / "arrays.npz", x=x, y=np.array([0, 1, 2, 0, 1, 2]))
    panel.choose_dataset("arrays.npz")
    wait_for(qtbot, lambda: settled(panel, {}) and panel.dataset_for_run().task == "classification")
    choose(panel.file_options.editors["task"], "regression")
    wait_for(qtbot, lambda: settled(panel, {"task": "regression"}))
    assert panel.dataset_for_run().task == "regression"
    assert graph.dataset["name"] == "arrays.npz"


def test_options_are_saved_in_the_loom_file_and_shown_when_it_is_reopened(qtbot, tmp_path):
    (tmp_path / "data").mkdir()
    write_table(tmp_path / "data", "table.tsv")
    text = (tmp_path / "data" / "table.tsv").read_text().replace(",", "\t")
    (tmp_path / "data" / "table.tsv").write_text(text)
    panel = open_panel(qtbot, tmp_path, "data/table.tsv")
    editors = panel.file_options.editors
    type_into(qtbot, editors["delimiter"], "tab")
    wait_for(qtbot, lambda: settled(panel, {"delimiter": "\t"}))
    type_into(qtbot, editors["features"], "a, b")
    type_into(qtbot, editors["target"], "3")  # edits made while one is checked wait for it
    wait_for(qtbot, lambda: settled(panel, {"delimiter": "\t", "features": ["a", "b"], "target": 3}))
    choose(editors["header"], "yes")
    stored = {"delimiter": "\t", "features": ["a", "b"], "target": 3, "header": True}
    wait_for(qtbot, lambda: settled(panel, stored))

    path = tmp_path / "model.loom"
    save_graph(panel.graph, path)
    reopened = open_panel(qtbot, tmp_path, "", graph=load_graph(path))
    wait_for(qtbot, lambda: reopened.dataset_for_run() is not None)
    assert reopened.graph.dataset["options"] == stored
    editors = reopened.file_options.editors
    shown = [editors[key].text() for key in ("delimiter", "features", "target")]
    assert shown == ["tab", "a, b", "3"] and editors["header"].currentText() == "yes"
    data = reopened.dataset_for_run()
    assert data.task == "regression" and data.feature_names == ["a", "b"] and data.input_shape == (2,)


@pytest.mark.parametrize(("kind", "key", "text", "value"), [
    ("csv", "features", "a, 2, \"2019\"", ("a", 2, "2019")),
    ("csv", "features", "score", "score"),
    ("csv", "target", " -1 ", -1),
    ("csv", "target", "x, y", ("x", "y")),
    ("csv", "target", " , ", None),
    ("images", "size", "(28, 32)", (28, 32)),
    ("images", "size", "16", (16, 16)),
    ("images", "size", "", None),
    ("csv", "delimiter", "tab", "\t"),
    ("csv", "delimiter", " ", " "),
    ("csv", "delimiter", "", None),
    ("idx", "labels", " lab.gz ", "lab.gz"),
])
def test_typed_text_becomes_the_value_the_reader_takes_and_reads_back(qtbot, kind, key, text, value):
    param = next(p for p in FILE_KINDS[kind].options if p.name == key)
    editor = make_editor(param)
    qtbot.addWidget(editor)
    edits = []
    editor.edited.connect(lambda typed: edits.append(param.coerce(typed)))
    editor.set_value({"columns": "z", "ints": (9, 9), "text": ";", "path": "z"}[param.kind])  # then retyped
    editor.setText(text)
    editor.editingFinished.emit()
    assert edits == [value]
    editor.set_value(param.to_json(value))  # as stored in the .loom file
    shown = editor.text()
    editor.set_invalid(True)  # commits the text it shows
    editor.editingFinished.emit()
    assert edits == [value, value], shown


def test_every_offered_choice_is_handled_by_its_reader(tmp_path):
    """The readers check choices against the same lists the panel offers; each
    value must also be one the reader acts on: data, or a clear DatasetError."""
    from layerloom.backend.datasets import DatasetError, load_dataset

    write_table(tmp_path)
    np.savez(tmp_path / "arrays.npz", x=np.zeros((4, 2), np.int64), y=np.zeros((4, 2), np.int64))
    write_images(tmp_path / "pets")
    paths = {"csv": tmp_path / "table.csv", "npz": tmp_path / "arrays.npz", "images": tmp_path / "pets"}
    for kind, path in paths.items():
        for param in FILE_KINDS[kind].options:
            if param.kind != "choice":
                continue
            for choice in param.choices:
                try:
                    load_dataset(path, **{param.name: choice})
                except DatasetError as exc:  # this data cannot be read that way: said clearly
                    assert str(path) in str(exc)
            with pytest.raises(DatasetError, match="must be one of"):
                load_dataset(path, **{param.name: "none of these"})


def test_a_file_kind_registered_in_a_test_gets_its_form_from_its_declaration(qtbot, tmp_path):
    from layerloom.gui.param_editors import FloatEditor
    from tests.backend.toy_file_kind import numbers_kind, write_numbers

    write_numbers(tmp_path / "sums.numbers")
    with numbers_kind() as kind:
        panel = open_panel(qtbot, tmp_path, "sums.numbers")
        form, stack = panel.file_options, panel.undo_stack
        assert form.isVisibleTo(panel) and form.kind is kind
        assert panel.findChild(QLabel, "fileOptionsName").text() == "sums.numbers (number list)"
        assert list(form.editors) == ["scale", "task"]
        assert isinstance(form.editors["scale"], FloatEditor) and isinstance(form.editors["task"], ChoiceEditor)
        assert form.editors["scale"].text() == "1.0" and "Allowed: 0.01 … 100" in form.editors["scale"].toolTip()
        assert [form.editors["task"].itemText(i) for i in range(2)] == ["classification", "regression"]
        unscaled = panel.dataset_for_run().x.copy()

        type_into(qtbot, form.editors["scale"], "2")
        wait_for(qtbot, lambda: settled(panel, {"scale": 2.0}))
        assert np.allclose(panel.dataset_for_run().x, 2 * unscaled)
        choose(form.editors["task"], "regression")
        wait_for(qtbot, lambda: settled(panel, {"scale": 2.0, "task": "regression"}))
        assert panel.dataset_for_run().task == "regression" and stack.count() == 2

        type_into(qtbot, form.editors["scale"], "0")  # the declared range, before any load
        wait_for(qtbot, lambda: "scale must be at least 0.01, got 0.0" in form.message.text())
        assert form.editors["scale"].property("invalid") is True and stack.count() == 2
        type_into(qtbot, form.editors["scale"], "2.0")  # the stored value typed back: the refusal goes
        wait_for(qtbot, lambda: not form.message.isVisibleTo(panel) and not form._running)
        assert form.editors["scale"].property("invalid") is False and stack.count() == 2

        stack.undo()
        wait_for(qtbot, lambda: settled(panel, {"scale": 2.0}) and form.editors["task"].currentText() == "classification")
        assert form.editors["scale"].text() == "2.0" and form.editors["scale"].property("invalid") is False
        stack.undo()
        wait_for(qtbot, lambda: settled(panel, {}) and form.editors["scale"].text() == "1.0")
        assert np.allclose(panel.dataset_for_run().x, unscaled)
        panel.close()
        panel.keeper.wait_all()
