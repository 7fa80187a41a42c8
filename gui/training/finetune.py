"""Fine-tuning and continuing runs in the app.

- **Start from** (a row of the set-up form, :class:`StartFromField`): a run starts from
  fresh weights, from the weights of the run shown in the dock (a finished run, or
  weights opened or imported, which the dock shows as a run), or from a
  ``.safetensors`` file. Weights that do not fit the graph stop the start with a
  message naming the first tensor that does not fit and both shapes.
- **Continue** a stopped run: every in-app run keeps a checkpoint (written when it
  stops or ends, and at most once a minute after an epoch); Continue starts a run
  that goes on from it with the stopped run's graph, data and settings, to the
  number of epochs now in the set-up (so a finished run can be trained longer).
- **Resume from Checkpoint…**: a checkpoint folder (``layerloom train``'s
  ``OUT/checkpoint``) goes on with the graph on the canvas and its settings, as
  ``layerloom train --resume`` does.

:class:`FinetuneActions` is a mixin of :class:`~layerloom.gui.training.dock.TrainingDock`.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QComboBox, QFileDialog, QHBoxLayout, QLabel, QVBoxLayout, QWidget

FRESH, SHOWN_RUN, FILE = "fresh", "run", "file"
CHOICES = ((FRESH, "Fresh weights"), (SHOWN_RUN, "The shown run's weights"), (FILE, "A file…"))
_FOLDERS: list[str] = []  # the in-app runs' checkpoint folders, removed when the app ends


class StartError(Exception):
    """A run cannot start from the chosen weights; the message says why."""


class StartFromField(QWidget):
    """Where a run's weights start: fresh, the shown run's, or a file's."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("startFromField")
        self.path: str | None = None
        self.combo = QComboBox(self)
        self.combo.setObjectName("startFromCombo")
        # a chosen file's name is long: the field keeps the column's width (its tooltip has it all)
        self.combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.combo.setMinimumContentsLength(12)
        for key, text in CHOICES:
            self.combo.addItem(text, key)
        self.combo.setToolTip(
            "Fine-tuning: start from fresh weights, from the weights of the run shown in the "
            "dock (a trained, opened or imported model), or from a .safetensors file "
            "(also: layerloom train --init WEIGHTS)")
        self.combo.activated.connect(self._picked)
        self.file_label = QLabel(self)
        self.file_label.setObjectName("startFromFile")
        self.file_label.setProperty("role", "hint")
        self.file_label.setWordWrap(True)
        self.file_label.hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.combo, 1)
        layout.addLayout(row)
        layout.addWidget(self.file_label)
        self._index = 0

    def ask_path(self) -> str | None:
        """The weights file to start from (a dialog; tests replace it)."""
        path, _ = QFileDialog.getOpenFileName(self, "Start from the weights in", "",
                                              "Weights (*.safetensors);;All files (*)")
        return path or None

    def choice(self) -> tuple[str, str | None]:
        """``(FRESH | SHOWN_RUN | FILE, path or None)``."""
        return self.combo.currentData(), self.path if self.combo.currentData() == FILE else None

    def set_choice(self, key: str, path: str | None = None) -> None:
        self.combo.setCurrentIndex(self.combo.findData(key))
        self._index = self.combo.currentIndex()
        self.path = path if key == FILE else None
        self._show_path()
        self.changed.emit()

    def _picked(self, index: int) -> None:
        if self.combo.itemData(index) == FILE:
            path = self.ask_path()
            if not path:  # cancelled: keep what was chosen before
                self.combo.setCurrentIndex(self._index)
                return
            self.path = path
        self._index = index
        self._show_path()
        self.changed.emit()

    def _show_path(self) -> None:
        shown = self.combo.currentData() == FILE and self.path
        self.file_label.setText(Path(self.path).name if shown else "")
        self.file_label.setToolTip(self.path or "")
        self.file_label.setVisible(bool(shown))


def checkpoint_folder() -> str:
    """A new folder for one in-app run's checkpoint (removed when the app ends)."""
    folder = tempfile.mkdtemp(prefix="layerloom-checkpoint-")
    _FOLDERS.append(folder)
    return str(Path(folder) / "checkpoint")


@atexit.register
def _remove_folders() -> None:  # pragma: no cover - interpreter shutdown
    for folder in _FOLDERS:
        shutil.rmtree(folder, ignore_errors=True)


def start_model(graph, seed: int, kind: str, path: str | None, run):
    """The model a run of ``graph`` starts from (``None``: fresh weights) and a note
    saying where its weights came from; raises :class:`StartError`."""
    if kind == FRESH:
        return None, ""
    from layerloom.backend.compile import compile_graph
    from layerloom.backend.training.init_weights import InitWeightsError, load_into, mismatch

    if kind == SHOWN_RUN:
        if run is None or run.model is None or run.active:
            raise StartError("No trained weights are shown to start from: pick a finished run in Runs "
                             "(or open weights), or set Start from to fresh weights.")
        model = compile_graph(graph, seed=seed)
        source = run.model.state_dict()
        problem = mismatch(model, source)
        if problem:
            raise StartError(f"The weights of {run.label} do not fit this graph: {problem}. "
                             "Start from fresh weights, or show a run of this graph.")
        model.load_state_dict(source)
        return model, f"started from the weights of {run.label}"
    if not path:
        raise StartError("Choose the weights file to start from (Start from: A file…).")
    model = compile_graph(graph, seed=seed)
    try:
        file = load_into(model, path)
    except InitWeightsError as exc:
        raise StartError(f"Cannot start from {Path(path).name}: {exc}") from None
    return model, f"started from the weights in {file.name}"


class FinetuneActions:
    """Start-from weights, Continue and Resume from Checkpoint for the dock."""

    def _finetune_actions(self) -> dict[str, QAction]:
        spec = {
            "continue": ("&Continue Stopped Run", self.continue_run,
                         "Go on training the shown stopped run from where it stopped"),
            "resume_checkpoint": ("&Resume from Checkpoint…", self.resume_from_checkpoint,
                                  "Go on from a checkpoint folder (layerloom train's OUT/checkpoint) "
                                  "with the graph on the canvas"),
        }
        actions = {}
        for name, (text, slot, tip) in spec.items():
            action = QAction(text, self)
            action.setObjectName(f"action_train_{name}")
            action.setStatusTip(tip)
            action.setToolTip(tip)
            action.triggered.connect(lambda _=False, slot=slot: slot())
            actions[name] = action
        return actions

    def _start_weights(self, snapshot, training: dict):
        """``(model or None, note)`` for a new run of ``snapshot`` (Start from);
        raises StartError."""
        from layerloom.backend.training import SettingsError, TrainSettings

        try:
            seed = TrainSettings.from_dict(training).seed
        except SettingsError:
            return None, ""  # the run reports the bad setting itself
        kind, path = self.setup.start_from.choice()
        return start_model(snapshot, seed, kind, path, self.shown)

    def can_continue(self, run=None) -> bool:
        run = run or self.shown
        return (run is not None and not self.running and run.status in ("stopped", "finished")
                and bool(getattr(run, "checkpoint", None)) and Path(run.checkpoint).is_dir())

    def continue_run(self, run=None):
        """Start a run that goes on from ``run``'s checkpoint (the shown run by default),
        with its graph, data and settings, to the epochs now in the set-up."""
        run = run or self.shown
        if not self.can_continue(run):
            self.run_bar.show_message("Only a stopped or finished in-app run can be continued: show "
                                      "one in Runs (a run on several processes keeps no checkpoint).",
                                      "error")
            return None
        training = dict(run.training)
        epochs = self.graph.training.get("epochs")
        if isinstance(epochs, int) and epochs > int(training.get("epochs", 0)):
            training["epochs"] = epochs
        return self.start(resume=(run.graph, training, dict(run.dataset), run.checkpoint,
                                  f"continues {run.label}"))

    def ask_checkpoint_path(self) -> str | None:
        return QFileDialog.getExistingDirectory(self, "Resume from the checkpoint folder") or None

    def resume_from_checkpoint(self, path: str | None = None):
        """Go on from the checkpoint folder ``path`` with the canvas's graph and settings."""
        from layerloom.backend.training.checkpoint import STATE, WEIGHTS

        path = path or self.ask_checkpoint_path()
        if not path:
            return None
        self._build()
        folder = Path(path)
        if not ((folder / WEIGHTS).is_file() and (folder / STATE).is_file()):
            self.run_bar.show_message(f"{folder} is not a checkpoint folder: it needs {WEIGHTS} and "
                                      f"{STATE} (layerloom train writes one in OUT/checkpoint).", "error")
            return None
        return self.start(resume=(self.graph, dict(self.graph.training), dict(self.graph.dataset),
                                  str(folder), f"resumed from the checkpoint in {folder}"))

    def _sync_finetune(self) -> None:
        self.actions["continue"].setEnabled(self.can_continue())
        self.actions["resume_checkpoint"].setEnabled(not self.running)
        self.run_bar.continue_run.setVisible(self.can_continue())
