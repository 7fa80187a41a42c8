"""The set-up panel: what to train on and how.

Dataset: a picker of the built-ins (grouped as in the registry) and of user data
(Open Data… for any registered kind of file: CSV, NumPy ``.npz``, an image folder,
MNIST IDX files), the
dataset's options (a file's: :mod:`~layerloom.gui.training.setup.file_options`), its preview and
shapes, normalisation and validation share, and buttons that fit the graph's
Input node and last Dense layer to the data.
Training: optimizer, learning rate, batch size, epochs, loss, schedule, seed,
device, processes (several GPUs: :mod:`~layerloom.gui.training.setup.processes_field`) and mixed
precision, and a few advanced knobs under More (:mod:`~layerloom.gui.training.setup.more_form`).

The fields are built from the settings' one declaration (:mod:`layerloom.graph.settings`,
read by the file loader and ``layerloom train`` too), in its order: a setting's
``form`` says whether it is a main field, one folded away under More, or not in the
form; the editor comes from the same factory as a layer's property form. Only the
dataset picker and its options, the device and the processes have widgets of their
own. Every change is an undoable :class:`~layerloom.gui.commands.SetSettings` on the graph's
``dataset`` or ``training`` section (so it is saved in the ``.loom`` file and marks
the document modified), checked against the declaration first; the form follows
the graph (undo, redo, another file opened) with its signals blocked.
The device list needs torch: it starts as Auto and CPU, and the dock adds the
GPUs (:meth:`set_devices`) once it has imported torch, just after the window
shows; dataset previews start then too (:meth:`enable_preview`).
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QFont, QStandardItemModel
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from layerloom.graph import Event, Graph, GraphError, Param, ParamError
from layerloom.graph.layers.losses import has_loss_terms
from layerloom.graph.settings import check_values, declared, defaults
from layerloom.gui.background import BackgroundCall, CallKeeper
from layerloom.gui.commands import SetParams, SetSettings
from layerloom.gui.param_editors import make_editor
from layerloom.gui.qt_util import qt_listener, signals_blocked
from layerloom.gui.training.finetune import StartFromField
from layerloom.gui.training.setup.dataset_preview import DatasetPreview
from layerloom.gui.training.setup.file_options import FileOptionsForm, data_filter
from layerloom.gui.training.setup.fit import Fix, input_fix, output_fix
from layerloom.gui.training.setup.more_form import MoreForm
from layerloom.gui.training.setup.processes_field import ProcessesField

OPEN_FILE = "\0open-file"
OPEN_FOLDER = "\0open-folder"


class SetupPanel(QScrollArea):
    """The set-up column of the training dock (objectName ``trainingSetup``).

    Parameters
    ----------
    graph, undo_stack
        The document's graph and undo stack.
    base_dir : callable
        Returns the folder of the ``.loom`` file (``None`` while untitled): user
        data paths are stored relative to it when they lie inside it.

    Signals
    -------
    datasetChanged()
        The chosen dataset or its preview changed.
    """

    datasetChanged = Signal()

    def __init__(self, graph: Graph, undo_stack, base_dir: Callable[[], str | None] = lambda: None,
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("trainingSetup")
        self.graph = graph
        self.undo_stack = undo_stack
        self.base_dir = base_dir
        self.editors: dict[str, Any] = {}
        self.training_editors: dict[str, Any] = {}
        self.option_editors: dict[str, Any] = {}
        self.loaded: tuple[str, Any] | None = None  # (key, Dataset) of the preview
        self.load_error: str | None = None
        self._loading_key: str | None = None
        self.preview_enabled = False  # the dock turns previews on once the window is up
        self._options_for: str | None = None
        self.keeper = CallKeeper(self)
        self._refresh_timer = QTimer(self)
        self._refresh_timer.setSingleShot(True)
        self._refresh_timer.setInterval(0)
        self._refresh_timer.timeout.connect(self.refresh)

        body = QWidget()
        self.setWidget(body)
        self.setWidgetResizable(True)
        self.setFrameShape(QScrollArea.Shape.NoFrame)
        # a row wider than the column (a long choice, a narrow window) scrolls rather than clips
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        layout = QVBoxLayout(body)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self._build_dataset_box())
        self.training_box = QGroupBox("Training")
        self.training_box.setObjectName("trainingBox")
        self.training_form = QFormLayout(self.training_box)
        self._build_training_form()
        layout.addWidget(self.training_box)
        self.problem = QLabel()
        self.problem.setObjectName("setupProblem")
        self.problem.setWordWrap(True)
        self.problem.setStyleSheet("color: #b91c1c")
        self.problem.hide()
        layout.addWidget(self.problem)
        layout.addStretch(1)
        self._listener = listener = qt_listener(self._on_graph_event)
        graph.subscribe(listener)
        self.destroyed.connect(lambda *_: graph.unsubscribe(listener))
        self.refresh()

    # ------------------------------------------------------------ dataset box
    def _build_dataset_box(self) -> QGroupBox:
        box = QGroupBox("Dataset")
        box.setObjectName("datasetBox")
        form = QFormLayout(box)
        self.dataset_form = form
        own = {"name": self._add_dataset_picker, "options": self._add_options_rows}
        for param in declared("dataset"):
            if param.form:  # the dataset box has no More part
                own.get(param.name, self._add_dataset_editor)(form, param)
        self.preview = DatasetPreview()
        form.addRow(self.preview)
        fits = QHBoxLayout()
        self.fit_input = QPushButton()
        self.fit_input.setObjectName("fitInput")
        self.fit_output = QPushButton()
        self.fit_output.setObjectName("fitOutput")
        for button in (self.fit_input, self.fit_output):
            button.hide()
            fits.addWidget(button)
        fits.addStretch(1)
        self.fit_input.clicked.connect(lambda: self.apply_fix(self._fixes[0]))
        self.fit_output.clicked.connect(lambda: self.apply_fix(self._fixes[1]))
        self._fixes: tuple[Fix | None, Fix | None] = (None, None)
        form.addRow(fits)
        return box

    def _add_dataset_picker(self, form: QFormLayout, param: Param) -> None:
        self.dataset_combo = QComboBox()
        self.dataset_combo.setObjectName("datasetCombo")
        self.dataset_combo.setMinimumContentsLength(10)
        self.dataset_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.dataset_combo.activated.connect(self._dataset_activated)
        form.addRow(param.title.capitalize(), self.dataset_combo)

    def _add_options_rows(self, form: QFormLayout, param: Param) -> None:
        """The built-in dataset's option fields, and a data file's reader options."""
        self.options_box = QWidget()
        self.options_form = QFormLayout(self.options_box)
        self.options_form.setContentsMargins(0, 0, 0, 0)
        form.addRow(self.options_box)
        self.file_options = FileOptionsForm(self.keeper, lambda: self.graph.dataset.get("options") or {},
                                            self.resolved_name)
        self.file_options.accepted.connect(self._keep_file_options)  # a refusal shows in the form
        form.addRow(self.file_options)

    def _add_dataset_editor(self, form: QFormLayout, param: Param) -> None:
        editor = make_editor(param)
        editor.edited.connect(lambda value, key=param.name: self._set_dataset({key: value}))
        editor.rejected.connect(self.show_problem)
        self.editors[param.name] = editor
        form.addRow(param.title.capitalize(), editor)

    def _fill_dataset_combo(self, current: str) -> None:
        from layerloom.backend.datasets import list_datasets

        combo = self.dataset_combo
        with signals_blocked(combo):
            combo.clear()
            combo.addItem("Choose a dataset…", "")
            category = None
            for info in list_datasets():
                if info.category != category:
                    category = info.category
                    combo.insertSeparator(combo.count())
                    combo.addItem(category, None)
                    item = combo.model().item(combo.count() - 1) if isinstance(combo.model(), QStandardItemModel) else None
                    if item is not None:
                        item.setEnabled(False)
                        font = QFont(item.font())
                        font.setBold(True)
                        item.setFont(font)
                combo.addItem(f"   {info.name}", info.name)
                combo.setItemData(combo.count() - 1, info.description, Qt.ItemDataRole.ToolTipRole)
            combo.insertSeparator(combo.count())
            if current and combo.findData(current) < 0:
                combo.addItem(Path(current).name, current)
                combo.setItemData(combo.count() - 1, current, Qt.ItemDataRole.ToolTipRole)
            combo.addItem("Open data file…", OPEN_FILE)
            combo.addItem("Open data folder…", OPEN_FOLDER)
            combo.setCurrentIndex(max(0, combo.findData(current)))

    def _dataset_activated(self, index: int) -> None:
        data = self.dataset_combo.itemData(index)
        if data in (OPEN_FILE, OPEN_FOLDER):
            path = self.ask_data_path(folder=data == OPEN_FOLDER)
            if path:
                self.choose_dataset(self._stored_path(path))
            else:
                self.refresh()
            return
        if data:
            self.choose_dataset(data)

    def ask_data_path(self, folder: bool) -> str | None:
        """Ask for user data (replaced in tests)."""
        start = self.base_dir() or str(Path.home())
        if folder:
            return QFileDialog.getExistingDirectory(self, "Open data folder", start) or None
        path, _ = QFileDialog.getOpenFileName(self, "Open data file", start, data_filter())
        return path or None

    def _stored_path(self, path: str) -> str:
        """``path`` relative to the ``.loom`` file's folder when it lies inside it."""
        base = self.base_dir()
        if base:
            try:
                return Path(os.path.relpath(path, base)).as_posix() if Path(path).resolve().is_relative_to(
                    Path(base).resolve()) else path
            except ValueError:
                return path
        return path

    def choose_dataset(self, name: str) -> None:
        """Train on ``name`` (a built-in or a path), with default options."""
        if name == self.graph.dataset.get("name") and not self.graph.dataset.get("options"):
            return
        self._set_dataset({"name": name, "options": {}})

    def _set_dataset(self, changes: dict[str, Any]) -> bool:
        """Change dataset settings (one undoable command); refused values show why.
        The section keeps every setting the form shows, defaults included."""
        data = {p.name: copy.deepcopy(p.default) for p in declared("dataset") if p.form}
        data.update(self.graph.dataset)
        data.update(changes)
        try:
            check_values("dataset", data)
        except ParamError as exc:
            self.show_problem(str(exc))
            self.refresh()
            return False
        if data != self.graph.dataset:
            self.undo_stack.push(SetSettings(self.graph, "dataset", data))
        self.show_problem("")
        return True

    def _set_option(self, key: str, value: Any) -> None:
        options = dict(self.graph.dataset.get("options") or {})
        options[key] = value
        name = self.graph.dataset.get("name", "")
        from layerloom.backend.datasets import DATASETS, DatasetError

        if name in DATASETS:
            try:
                DATASETS[name].check_options(options)
            except DatasetError as exc:
                self.show_problem(str(exc))
                return
        self._set_dataset({"options": options})

    def _rebuild_options(self, name: str) -> None:
        from layerloom.backend.datasets import DATASETS

        while self.options_form.rowCount():
            self.options_form.removeRow(0)
        self.option_editors = {}
        info = DATASETS.get(name)
        for param in info.options if info else ():
            editor = make_editor(param)
            editor.edited.connect(lambda value, key=param.name: self._set_option(key, value))
            editor.rejected.connect(self.show_problem)
            self.option_editors[param.name] = editor
            self.options_form.addRow(param.title.capitalize(), editor)

    def _keep_file_options(self, options: dict, dataset) -> None:
        """Store options the file's reader accepted (one undoable step) and preview the data they load."""
        self._set_dataset({"options": options})
        self._loading_key, self.load_error = self.dataset_key(), None
        self._preview_loaded((self._loading_key, dataset))

    def _align_labels(self) -> None:
        """One label column for the dataset form and the option forms inside it, so the fields line up."""
        labels = [item.widget() for form in (self.dataset_form, self.options_form, self.file_options.form)
                  for row in range(form.rowCount())
                  if (item := form.itemAt(row, QFormLayout.ItemRole.LabelRole)) is not None]
        width = max(label.sizeHint().width() for label in labels)
        for label in labels:
            label.setMinimumWidth(width)

    # ----------------------------------------------------------- training form
    def enable_preview(self) -> None:
        """Start loading dataset previews (the dock calls this once the window is up)."""
        if not self.preview_enabled:
            self.preview_enabled = True
            self.refresh()

    def set_devices(self, devices: list[tuple[str, str]], gpus: int | None = None) -> None:
        """``(label, device name)`` pairs for the device combo (what torch found),
        and the number of CUDA GPUs (which bounds the processes field)."""
        if gpus is not None:
            self.processes_field.set_gpus(gpus)
        with signals_blocked(self.device_combo):
            self.device_combo.clear()
            for label, name in devices:
                self.device_combo.addItem(label, name)
        self.refresh()

    def _build_training_form(self) -> None:
        self.more_form = MoreForm()
        self.advanced_box = self.more_form.box
        forms = {"main": self.training_form, "more": self.more_form.form}
        own = {"device": self._add_device_row, "processes": self._add_processes_row}
        for param in declared("training"):
            if param.form:
                own.get(param.name, self._add_training_editor)(forms[param.form], param)
        if "batch_size" in self.training_editors:
            self.training_editors["batch_size"].setSpecialValueText("full")  # 0: the whole set
        self.start_from = StartFromField()  # fine-tuning: gui/training/finetune.py
        self.training_form.addRow("Start from", self.start_from)
        self.training_form.addRow(self.more_form)

    def _add_device_row(self, form: QFormLayout, param: Param) -> None:
        """The devices torch finds (:meth:`set_devices`); Auto and CPU until then."""
        self.device_combo = QComboBox()
        self.device_combo.setObjectName("deviceCombo")
        for label, name in (("Auto (best available)", "auto"), ("CPU", "cpu")):
            self.device_combo.addItem(label, name)
        self.device_combo.activated.connect(
            lambda i: self.set_training({param.name: self.device_combo.itemData(i)}))
        form.addRow(param.title.capitalize(), self.device_combo)

    def _add_processes_row(self, form: QFormLayout, param: Param) -> None:
        self.processes_field = ProcessesField(param)
        self.processes_field.edited.connect(lambda n: self.set_training({param.name: n}))
        form.addRow(param.title.capitalize(), self.processes_field)

    def _add_training_editor(self, form: QFormLayout, param: Param) -> None:
        editor = make_editor(param)
        editor.edited.connect(lambda value, key=param.name: self.set_training({key: value}))
        editor.rejected.connect(self.show_problem)
        self.training_editors[param.name] = editor
        if param.name == "lr":
            self.find_lr_button = QToolButton()
            self.find_lr_button.setObjectName("findLrButton")
            self.find_lr_button.setText("Find…")
            self.find_lr_button.setToolTip(
                "Find a learning rate: a short test run with a growing rate shows where the loss "
                "falls fastest (also: layerloom lr-find FILE)")
            self.find_lr_button.clicked.connect(self.find_learning_rate)
            row = QHBoxLayout()
            row.setContentsMargins(0, 0, 0, 0)
            row.addWidget(editor, 1)
            row.addWidget(self.find_lr_button)
            form.addRow(param.title.capitalize(), row)
        else:
            form.addRow(param.title.capitalize(), editor)
        if param.name == "loss":
            self.loss_hint = QLabel()
            self.loss_hint.setObjectName("lossHint")
            self.loss_hint.setWordWrap(True)
            form.addRow("", self.loss_hint)

    def find_learning_rate(self) -> QDialog:
        """Open the learning-rate range test on this graph (non-modal; one at a time)."""
        # pyqtgraph is imported on first use
        from layerloom.gui.training.setup.lr_find_dialog import LrFindDialog

        dialog = getattr(self, "lr_dialog", None)
        if dialog is None:
            dialog = self.lr_dialog = LrFindDialog(
                self.graph, lambda rate: self.set_training({"lr": rate}), parent=self.window())
        dialog.dataset_obj = self.dataset_for_run()  # as they are now: the data may have changed
        dialog.base_dir = self.base_dir()
        dialog.show()
        dialog.raise_()
        return dialog

    def set_training(self, changes: dict[str, Any]) -> bool:
        """Change training settings (one undoable command); refused values show why."""
        data = dict(self.graph.training)
        data.update(changes)
        try:
            check_values("training", data)
        except ParamError as exc:
            self.show_problem(str(exc))
            self.refresh()
            return False
        if data != self.graph.training:
            self.undo_stack.push(SetSettings(self.graph, "training", data))
        self.show_problem("")
        return True

    # ------------------------------------------------------------ follow graph
    def _on_graph_event(self, event: Event) -> None:
        if event.kind in ("settings_changed", "reset", "node_changed", "node_added", "node_removed",
                          "edge_added", "edge_removed") and not self._refresh_timer.isActive():
            self._refresh_timer.start()

    def refresh(self) -> None:
        """Show the graph's settings in the form (signals blocked)."""
        dataset = self.graph.dataset
        name = str(dataset.get("name") or "")
        self._fill_dataset_combo(name)
        if name != self._options_for:
            self._options_for = name
            self._rebuild_options(name)
        options = dataset.get("options") or {}
        from layerloom.backend.datasets import DATASETS

        info = DATASETS.get(name)
        for param in info.options if info else ():
            self.option_editors[param.name].set_value(options.get(param.name, param.default))
        self.file_options.show_file(self.resolved_name() if name and info is None else "")
        self._align_labels()
        for name, editor in self.editors.items():
            editor.set_value(dataset.get(name, defaults("dataset")[name]))
        self._refresh_training()
        self._load_preview()
        self._update_fixes()

    def _refresh_training(self) -> None:
        values = defaults("training")
        try:
            values.update(check_values("training", self.graph.training))
        except ParamError as exc:
            self.show_problem(f"The training settings of this file cannot be used: {exc}")
        for name, editor in self.training_editors.items():
            editor.set_value(values[name])
        device = values["device"]
        index = self.device_combo.findData(device)
        if index < 0:
            self.device_combo.addItem(f"{device} (not available here)", device)
            index = self.device_combo.count() - 1
        self.device_combo.setCurrentIndex(index)
        self.processes_field.show_settings(device, values["processes"])
        cuda = device.startswith("cuda") or (device == "auto" and any(
            str(self.device_combo.itemData(i)).startswith("cuda") for i in range(self.device_combo.count())))
        self.training_editors["precision"].setEnabled(cuda)
        self.training_editors["precision"].setToolTip(
            "Mixed precision on a CUDA GPU (bf16 or fp16)" if cuda else "Mixed precision needs a CUDA device")
        task = self.data_facts().task if self.data_facts() is not None else None
        resolved = {"classification": "cross_entropy", "sequence": "cross_entropy",
                    "segmentation": "cross_entropy", "regression": "mse"}.get(task)
        hint = f"auto: {resolved} for {task}" if values["loss"] == "auto" and resolved else ""
        if has_loss_terms(self.graph):
            hint = ("the graph sets its losses (Outputs' loss, loss nodes); this one serves Outputs "
                    "whose loss is auto" + (f" ({hint})" if hint else ""))
        self.loss_hint.setText(hint)

    def show_problem(self, text: str) -> None:
        self.problem.setText(text)
        self.problem.setVisible(bool(text))

    # ----------------------------------------------------------------- preview
    def dataset_key(self) -> str:
        """Identifies the data the current settings load (name resolved + options)."""
        name = str(self.graph.dataset.get("name") or "")
        return json.dumps([self.resolved_name(), self.graph.dataset.get("options") or {}], sort_keys=True) \
            if name else ""

    def resolved_name(self) -> str:
        from layerloom.backend.datasets import DATASETS

        name = str(self.graph.dataset.get("name") or "")
        base = self.base_dir()
        if name and name not in DATASETS and base and not os.path.isabs(name):
            candidate = os.path.join(base, name)
            if os.path.exists(candidate):
                return candidate
        return name

    def dataset_for_run(self):
        """The previewed dataset when it is the one the settings name, else ``None``."""
        key = self.dataset_key()
        if self.loaded is not None and self.loaded[0] == key:
            return self.loaded[1]
        return None

    @property
    def loading(self) -> bool:
        return self._loading_key is not None

    def _load_preview(self) -> None:
        key = self.dataset_key()
        if not key:
            self.loaded, self.load_error, self._loading_key = None, None, None
            self.preview.show_message("No dataset chosen: pick a built-in or open your own data")
            return
        if (self.loaded is not None and self.loaded[0] == key) or key == self._loading_key:
            return
        if not self.preview_enabled:
            self.preview.show_message(f"{self.graph.dataset.get('name')}: the preview loads in a moment…")
            return
        from layerloom.backend.datasets import DatasetError, load_dataset

        self._loading_key = key
        self.load_error = None
        self.preview.show_message(f"Loading {self.graph.dataset.get('name')}…")
        call = BackgroundCall(_load, load_dataset, self.resolved_name(),
                              dict(self.graph.dataset.get("options") or {}), key,
                              expected=(DatasetError, OSError, GraphError), parent=self)
        call.succeeded.connect(self._preview_loaded)
        call.failed.connect(self._preview_failed)
        self.keeper.start(call)

    def _preview_loaded(self, result) -> None:
        key, dataset = result
        if key != self._loading_key:
            return
        self._loading_key = None
        self.loaded = (key, dataset)
        self.preview.show_dataset(dataset)
        self._update_fixes()
        self._refresh_training()
        self.datasetChanged.emit()

    def _preview_failed(self, message: str) -> None:
        self._loading_key = None
        self.loaded = None
        self.load_error = message
        self.preview.show_message(message)
        self._update_fixes()
        self.datasetChanged.emit()

    # -------------------------------------------------------------------- fits
    def data_facts(self):
        """Shapes, dtype, task and classes of the chosen data, without loading a
        built-in (its declaration is resolved for the options)."""
        from layerloom.backend.datasets import DATASETS, DatasetError

        name = str(self.graph.dataset.get("name") or "")
        if name in DATASETS:
            try:
                return DATASETS[name].describe(**(self.graph.dataset.get("options") or {}))
            except DatasetError:
                return None
        return self.dataset_for_run()

    def _update_fixes(self) -> None:
        facts = self.data_facts()
        if self.graph.training.get("task") == "gan":
            facts = None  # a GAN's Input is its noise and its Output a score: nothing to fit to the data
        fixes = (input_fix(self.graph, facts), output_fix(self.graph, facts)) if facts is not None else (None, None)
        self._fixes = fixes
        for button, fix in zip((self.fit_input, self.fit_output), fixes, strict=True):
            button.setVisible(fix is not None)
            if fix is not None:
                button.setText(fix.text)
                button.setToolTip(fix.why)

    def apply_fix(self, fix: Fix | None) -> bool:
        """Apply a fit as one undoable :class:`~layerloom.gui.commands.SetParams`."""
        if fix is None:
            return False
        try:
            command = SetParams(self.graph, [fix.node_id], fix.values)
        except GraphError as exc:
            self.show_problem(str(exc))
            return False
        self.undo_stack.push(command)
        self._update_fixes()
        return True

    def fixes(self) -> tuple[Fix | None, Fix | None]:
        """``(input fix, output fix)`` offered now."""
        return self._fixes


def _load(load_dataset, name: str, options: dict, key: str):
    return key, load_dataset(name, **options)
