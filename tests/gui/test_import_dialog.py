"""File ▸ Import Model…: the options dialog, the background import, and what the
window and the Training dock hold afterwards."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QKeySequence

from layerloom.backend.compile import compile_graph
from layerloom.backend.import_options import read_classes, read_onnx_inputs
from layerloom.backend.importers import import_file, import_onnx
from layerloom.graph import Graph
from layerloom.gui.import_dialog import ImportDialog, ask_import_options
from layerloom.gui.importing import ImportRequest
from layerloom.gui.training.runs.run_record import graph_signature
from tests.backend.test_import_options import CLASSES_SOURCE
from tests.gui.test_window_helpers import UnexpectedDialog, make_window

MLP_SOURCE = '''
import torch
from torch import nn


class Block(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.fc = nn.Linear(width, width)

    def forward(self, x):
        return torch.relu(self.fc(x))


class MLP(nn.Module):
    def __init__(self, hidden=16):
        super().__init__()
        self.fc1 = nn.Linear(8, hidden)
        self.block = Block(hidden)
        self.out = nn.Linear(hidden, 3)

    def forward(self, x):
        return self.out(self.block(torch.relu(self.fc1(x))))
'''

UNSUPPORTED_SOURCE = '''
from torch import nn


class Pair(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.bil = nn.PairwiseDistance(keepdim=True)

    def forward(self, x):
        h = self.fc(x)
        return self.bil(h, h)
'''

TIMEOUT_MS = 30_000


def _refuse(name):
    def ask(*args, **kwargs):
        raise UnexpectedDialog(f"unexpected {name}{args!r}")

    return ask


@pytest.fixture
def window(qtbot, tmp_path):
    w = make_window(qtbot, tmp_path)
    w.training_dock.ask_replace_graph = _refuse("ask_replace_graph")
    return w


def _run_import(qtbot, window) -> None:
    """File ▸ Import through the menu action; wait for the background import."""
    window.action("import_model").trigger()
    assert window.model_import.busy, "the import runs in the background"
    assert window.model_import.busy_indicator.isVisible()
    assert not window.action("import_model").isEnabled()
    qtbot.waitUntil(lambda: not window.model_import.busy, timeout=TIMEOUT_MS)
    assert not window.model_import.busy_indicator.isVisible()
    assert window.action("import_model").isEnabled()


def _outputs(model, x):
    with torch.no_grad():
        return model(x)


def _saved_graph(window, tmp_path) -> dict:
    """Put a small saved graph in the window; returns its content."""
    window.add_layer("dense")
    assert window.document.is_modified
    window.ask_save_path = lambda: str(tmp_path / "before.loom")
    assert window.save()
    return window.graph.to_dict()


# ------------------------------------------------------------------ the flow
def test_import_python_model_opens_new_document_and_gives_dock_the_weights(qtbot, window, tmp_path, monkeypatch):
    source = tmp_path / "mlp.py"
    source.write_text(MLP_SOURCE)
    expected = import_file(f"{source}:MLP", {"hidden": 12})
    trained = tmp_path / "trained.pt"  # its weights, under the source model's names
    torch.save({name: expected.state_dict[key] for key, name in expected.origins.items()}, trained)
    window.add_layer("dense")  # unsaved work: the window asks first
    asked = []
    window.ask_save_discard_cancel = lambda: asked.append("save?") or "discard"
    window.ask_import_path = lambda: str(source)

    def options(path: Path) -> ImportRequest:
        dialog = ImportDialog(path, parent=window)
        assert dialog.class_name.currentText() == "MLP"
        assert [r.name.text() for r in dialog.rows] == ["x"]
        dialog.args.setText('{"hidden": 12}')
        dialog.weights.setText(str(trained))
        return dialog.request()

    window.ask_import_options = options
    _run_import(qtbot, window)

    assert asked == ["save?"]
    assert window.errors == []
    assert window.graph == expected.graph
    assert window.graph.analysis().valid
    xs = [n.position[0] for n in window.graph.nodes]
    assert len(set(xs)) == len(xs), "the imported graph is laid out"
    assert window.windowTitle() == "Untitled — imported from mlp.py:MLP — LayerLoom"
    assert window.undo_stack.count() == 0 and window.undo_stack.isClean()
    assert window.document.path is None

    run = window.training_dock.shown
    assert run is not None and run.model is not None
    assert graph_signature(run.graph) == graph_signature(window.graph)
    assert "mlp.py:MLP" in window.training_dock.run_bar.message.text()
    x = torch.randn(5, 8)
    assert torch.allclose(_outputs(run.model, x), _outputs(expected.model, x), atol=1e-6)
    assert run.message == "imported from mlp.py:MLP"

    # The first edit marks it modified; saving drops the "imported from" part.
    window.add_layer("dropout")
    assert window.windowTitle() == "Untitled* — imported from mlp.py:MLP — LayerLoom"
    window.ask_save_path = lambda: str(tmp_path / "mlp.loom")
    assert window.save()
    assert window.windowTitle() == "mlp.loom — LayerLoom"


def test_edits_made_while_importing_are_asked_about_again(qtbot, window, tmp_path):
    source = tmp_path / "mlp.py"
    source.write_text(MLP_SOURCE)
    window.ask_import_path = lambda: str(source)
    window.ask_import_options = lambda path: ImportRequest(path, "MLP")
    window.action("import_model").trigger()
    assert window.model_import.busy
    window.add_layer("dense")  # before the result can arrive (it comes through the event loop)
    edited = window.graph.to_dict()
    asked = []
    window.ask_save_discard_cancel = lambda: asked.append("save?") or "cancel"
    qtbot.waitUntil(lambda: not window.model_import.busy, timeout=TIMEOUT_MS)
    assert asked == ["save?"]
    assert window.graph.to_dict() == edited
    assert window.document.origin is None and window.training_dock.runs == []
    assert "not opened" in window.statusBar().currentMessage()


def test_importing_during_a_run_asks_to_stop_it_first(qtbot, window, tmp_path, monkeypatch):
    """The run belongs to the graph on the canvas: an import that replaces that graph
    asks to stop it, and a No imports nothing."""
    from layerloom.gui.training import TrainingDock

    source = tmp_path / "mlp.py"
    source.write_text(MLP_SOURCE)
    window.ask_import_path = _refuse("ask_import_path")
    before = window.graph.to_dict()
    monkeypatch.setattr(TrainingDock, "running", property(lambda self: True))
    asked = []
    window.training_dock.ask_stop_run = lambda: asked.append(True) or False
    try:
        assert window.import_model() is False
    finally:
        monkeypatch.undo()  # before the window closes: a running dock would ask to stop
    assert asked and not window.model_import.busy
    assert window.graph.to_dict() == before and window.training_dock.runs == []


def test_import_action_is_in_the_file_menu_with_a_shortcut(window):
    action = window.action("import_model")
    assert action.shortcut() == QKeySequence("Ctrl+I")
    assert "ONNX" in action.statusTip()
    assert action in window.findChild(type(window.recent_menu), "menu_file").actions()


def test_cancelling_the_unsaved_changes_question_imports_nothing(window):
    window.add_layer("dense")
    before = window.graph.to_dict()
    window.ask_save_discard_cancel = lambda: "cancel"
    window.ask_import_path = _refuse("ask_import_path")
    assert window.import_model() is False
    assert not window.model_import.busy
    assert window.graph.to_dict() == before


def test_unsupported_module_shows_the_importers_list_and_keeps_the_graph(qtbot, window, tmp_path):
    before = _saved_graph(window, tmp_path)
    title = window.windowTitle()
    source = tmp_path / "pair.py"
    source.write_text(UNSUPPORTED_SOURCE)
    window.ask_import_path = lambda: str(source)
    window.ask_import_options = lambda path: ImportRequest(path, "Pair")
    _run_import(qtbot, window)

    assert len(window.errors) == 1
    heading, message = window.errors[0]
    assert heading == "Cannot import pair.py:Pair"
    assert "torch.nn.PairwiseDistance" in message and "module 'bil'" in message
    assert "Traceback" not in message
    assert window.graph.to_dict() == before
    assert window.windowTitle() == title
    assert window.training_dock.runs == []


def test_bad_input_shape_shows_the_importers_message(qtbot, window, tmp_path):
    source = tmp_path / "mlp.py"
    source.write_text(MLP_SOURCE)
    window.ask_import_path = lambda: str(source)
    window.ask_import_options = lambda path: ImportRequest(path, "MLP", input_shapes=[(5,)])
    _run_import(qtbot, window)
    (heading, message), = window.errors
    assert "fails on inputs (N, 5)" in message and "check the input shapes" in message
    assert "Traceback" not in message
    assert len(window.graph) == 0


def test_code_that_exits_while_loading_is_reported(qtbot, window, tmp_path):
    source = tmp_path / "leaves.py"
    source.write_text("raise SystemExit(3)\n")
    window.ask_import_path = lambda: str(source)
    window.ask_import_options = lambda path: ImportRequest(path, "Net")
    _run_import(qtbot, window)
    (_, message), = window.errors
    assert "fails while loading: SystemExit" in message


def test_a_file_that_is_neither_python_nor_onnx_is_refused(window, tmp_path):
    other = tmp_path / "model.h5"
    other.write_bytes(b"\0")
    window.ask_import_path = lambda: str(other)
    window.ask_import_options = _refuse("ask_import_options")
    assert window.import_model() is False
    (heading, message), = window.errors
    assert "model.h5" in heading and ".onnx" in message


def test_closing_the_window_waits_for_a_running_import(qtbot, window, tmp_path):
    source = tmp_path / "mlp.py"
    source.write_text(MLP_SOURCE)
    window.ask_import_path = lambda: str(source)
    window.ask_import_options = lambda path: ImportRequest(path, "MLP")
    assert window.import_model()
    assert window.model_import.busy
    assert window.close()
    assert not window.model_import.busy
    assert len(window.graph) == 0, "a result that arrives while closing is dropped"


# ----------------------------------------------------------------------- ONNX
@pytest.fixture(scope="module")
def onnx_files(tmp_path_factory):
    """An exported Dense model, and a copy whose feature dim is left open."""
    from layerloom.backend.export import export_onnx

    folder = tmp_path_factory.mktemp("onnx")
    graph = Graph()
    x = graph.add_node("input", {"shape": [6], "dtype": "float"})
    dense = graph.add_node("dense", {"units": 3})
    out = graph.add_node("output")
    graph.connect(x.id, "out", dense.id, "in")
    graph.connect(dense.id, "out", out.id, "in")
    model = compile_graph(graph, seed=3).eval()
    fixed = folder / "dense.onnx"
    export_onnx(graph, model, fixed)

    import onnx

    proto = onnx.load(str(fixed))
    dim = proto.graph.input[0].type.tensor_type.shape.dim[1]
    dim.ClearField("dim_value")
    dim.dim_param = "features"
    opened = folder / "open.onnx"
    onnx.save(proto, str(opened))
    return graph, model, fixed, opened


def test_onnx_with_declared_shapes_shows_them_and_offers_one_sheet(qtbot, onnx_files):
    _, _, fixed, _ = onnx_files
    (item,) = read_onnx_inputs(fixed)
    assert item.dims[1:] == (6,) and not item.open
    dialog = ImportDialog(fixed, read_onnx_inputs(fixed))
    qtbot.addWidget(dialog)
    (row,) = dialog.rows
    assert row.shape.text() == "6" and not row.shape.isEnabled()
    assert row.batch.isHidden() and row.dtype.isHidden()
    assert dialog.request() == ImportRequest(fixed), "the file's own shapes, blocks by default"
    dialog.flat.setChecked(True)
    assert dialog.request() == ImportRequest(fixed, flat=True)


def test_an_unreadable_onnx_file_goes_to_the_importer_to_say_why(tmp_path):
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a protobuf")
    assert ask_import_options(broken) == ImportRequest(broken)  # no dialog: the import reports it


TIME_FIRST_SOURCE = '''
import torch
from torch import nn


class Forecast(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(3, 8)
        self.head = nn.Linear(8, 1)

    def forward(self, x):
        out, _ = self.lstm(x)
        return self.head(out[-1])
'''


def test_a_time_first_input_is_imported_with_its_batch_in_dim_1(qtbot, window, tmp_path):
    source = tmp_path / "forecast.py"
    source.write_text(TIME_FIRST_SOURCE)
    scope: dict = {}
    exec(TIME_FIRST_SOURCE, scope)
    model = scope["Forecast"]().eval()
    weights = tmp_path / "forecast.pt"
    torch.save(model.state_dict(), weights)
    window.ask_import_path = lambda: str(source)

    def options(path: Path) -> ImportRequest:
        dialog = ImportDialog(path, parent=window)
        dialog.weights.setText(str(weights))
        (row,) = dialog.rows
        assert row.batch.currentText() == "batch first" and row.batch.toolTip()
        row.shape.setText("12, 3")  # (time, features) of one sample
        row.batch.setCurrentText("time first")
        request = dialog.request()
        assert request.batch_dims == [1]
        return request

    window.ask_import_options = options
    _run_import(qtbot, window)

    assert window.errors == []
    expected = import_file(f"{source}:Forecast", weights=weights, input_shapes=[(12, 3)], batch_dims=[1])
    assert window.graph == expected.graph and window.graph.analysis().valid
    assert expected.batch_dims == [1]
    run = window.training_dock.shown
    x = torch.randn(12, 5, 3)  # time first, as the source model takes it
    (batch_first,) = expected.batch_first(x)
    assert batch_first.shape == (5, 12, 3)
    assert torch.allclose(_outputs(run.model, batch_first), _outputs(model, x), atol=1e-5)


def test_onnx_with_an_open_dim_asks_for_the_shape_and_imports(qtbot, window, onnx_files):
    graph, model, _, opened = onnx_files
    inputs = read_onnx_inputs(opened)
    assert [i.open for i in inputs] == [True]
    window.ask_import_path = lambda: str(opened)

    def options(path: Path) -> ImportRequest:
        dialog = ImportDialog(path, read_onnx_inputs(path), parent=window)
        assert len(dialog.rows) == 1 and dialog.rows[0].shape.isEnabled()
        assert "?" in dialog.rows[0].declared.text()
        with pytest.raises(ValueError, match="missing"):
            dialog.request()
        dialog.rows[0].shape.setText("6")
        return dialog.request()

    window.ask_import_options = options
    _run_import(qtbot, window)

    assert window.errors == []
    expected = import_onnx(opened, [(6,)])
    assert window.graph == expected.graph
    assert [n.type for n in window.graph.nodes] == [n.type for n in graph.nodes]
    assert window.windowTitle() == "Untitled — imported from open.onnx — LayerLoom"
    x = torch.randn(4, 6)
    run = window.training_dock.shown
    assert torch.allclose(_outputs(run.model, x), _outputs(model, x), atol=1e-5)


# ---------------------------------------------------------------- the dialog
def test_dialog_offers_one_row_per_forward_input(qtbot, tmp_path):
    source = tmp_path / "models.py"
    source.write_text(CLASSES_SOURCE)
    dialog = ImportDialog(source)
    qtbot.addWidget(dialog)
    assert not (tmp_path / "ran.txt").exists()
    assert [dialog.class_name.itemText(i) for i in range(dialog.class_name.count())] == [
        "Base", "Net", "Tail", "Later"]
    assert "runs the Python code in models.py" in dialog.findChild(type(dialog.error), "importWarning").text()
    assert [r.name.text() for r in dialog.rows] == ["tokens", "mask"]
    dialog.class_name.setCurrentText("Net")
    assert [r.name.text() for r in dialog.rows] == ["x", "y"]
    dialog.class_name.setCurrentText("Ne")  # typing: the rows stay
    assert len(dialog.rows) == 2
    dialog.class_name.setCurrentText("Net")

    dialog.rows[0].shape.setText("(1, 28, 28)")
    dialog.rows[1].shape.setText("4x5")
    dialog.rows[1].dtype.setCurrentText("long")
    request = dialog.request()
    assert request.class_name == "Net"
    assert request.input_shapes == [(1, 28, 28), (4, 5)]
    assert request.input_dtypes == ["float", "long"]
    assert request.args is None and request.weights is None
    assert request.flat is False  # submodules become blocks unless asked
    dialog.show()
    qtbot.mouseClick(dialog.flat, Qt.MouseButton.LeftButton, pos=QPoint(6, dialog.flat.height() // 2))
    assert dialog.request().flat is True

    dialog.add_input()
    assert len(dialog.rows) == 3
    dialog.remove_input(dialog.rows[1])
    assert [r.shape.text() for r in dialog.rows] == ["(1, 28, 28)", ""]
    dialog.remove_input(dialog.rows[1])
    dialog.remove_input(dialog.rows[0])  # the last row stays
    assert len(dialog.rows) == 1 and not dialog.rows[0].remove.isEnabled()


@pytest.mark.parametrize(
    ("field", "text", "message"),
    [
        ("args", "{hidden: 4}", "not valid JSON"),
        ("args", "[4]", "must be a JSON object"),
        ("shape", "1, -2", "is not a shape"),
        ("weights", "missing.pt", "does not exist"),
        ("class", "not a name", "is not a class name"),
    ],
)
def test_dialog_refuses_bad_options_and_says_why(qtbot, tmp_path, field, text, message):
    source = tmp_path / "mlp.py"
    source.write_text(MLP_SOURCE)
    dialog = ImportDialog(source)
    qtbot.addWidget(dialog)
    widget = {"args": dialog.args, "shape": dialog.rows[0].shape, "weights": dialog.weights,
              "class": dialog.class_name.lineEdit()}[field]
    widget.setText(text)
    dialog.show()
    dialog.accept()
    assert dialog.isVisible(), "the dialog stays open"
    assert message in dialog.error.text() and dialog.error.isVisible()


def test_dialog_takes_a_state_dict_from_browse(qtbot, tmp_path):
    source = tmp_path / "mlp.py"
    source.write_text(MLP_SOURCE)
    state = tmp_path / "trained.pt"
    state.write_bytes(b"")
    dialog = ImportDialog(source)
    qtbot.addWidget(dialog)
    dialog.ask_weights_path = lambda: str(state)
    dialog.findChild(type(dialog.add_button), "importBrowseWeights").click()
    assert dialog.request().weights == state


def test_syntax_error_is_shown_and_the_class_can_still_be_typed(qtbot, tmp_path):
    source = tmp_path / "broken.py"
    source.write_text("class Net(nn.Module):\n    def forward(self, x)\n")
    found = read_classes(source)
    assert found.modules == [] and "line 2" in found.error
    dialog = ImportDialog(source)
    qtbot.addWidget(dialog)
    assert dialog.class_name.currentText() == "" and len(dialog.rows) == 1
    dialog.class_name.setCurrentText("Net")
    assert dialog.request().class_name == "Net"
