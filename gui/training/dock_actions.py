"""The training dock's actions (Start, Pause, Stop, the trained-model files) and
the Train menu built from them, and the question asked before closing during a
run: a mixin of :class:`~layerloom.gui.training.dock.TrainingDock`, kept apart so each file
stays readable."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMenu, QMessageBox, QWidget


class RunActions:
    """The dock's ``QAction``s; mixed into the dock, whose slots they call."""

    # ------------------------------------------------------------ actions
    def _build_actions(self) -> dict[str, QAction]:
        spec = {
            "start": ("&Start Training", "F5", self.start),
            "pause": ("&Pause", "F6", self.toggle_pause),
            "stop": ("S&top", "Shift+F5", self.stop),
            "save_weights": ("&Save Trained Weights…", "", self.save_weights),
            "open_weights": ("&Open Trained Weights…", "", self.open_weights),
            "export": ("&Export Trained Model…", "Ctrl+E", self.open_export_dialog),
            # the runs kept beside the graph (gui.training.runs.kept_runs)
            "compare_runs": ("&Compare Ticked Runs…", "", lambda: self.compare_runs()),
            "restore_run": ("&Restore Graph of the Run Shown", "", lambda: self.restore_run()),
            "delete_run": ("&Delete the Run Shown…", "", lambda: self.delete_run()),
            "sweep": ("S&weep Settings…", "Ctrl+Shift+F5", self.open_sweep),
        }
        actions = {}
        for name, (text, key, slot) in spec.items():
            action = QAction(text, self)
            action.setObjectName(f"action_train_{name}")
            if key:
                action.setShortcut(QKeySequence(key))
                action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            action.triggered.connect(slot)
            actions[name] = action
        for name, tip in (("compare_runs", "A table of what differs between the runs ticked in the Runs tab"),
                          ("restore_run", "Put the shown run's graph and settings back on the canvas (undoable)"),
                          ("delete_run", "Delete the shown run and its folder beside the graph (asks first)")):
            actions[name].setStatusTip(tip)
            actions[name].setToolTip(tip)
        return actions

    def train_menu(self, parent: QWidget | None = None) -> QMenu:
        """The Train menu for the main window's menu bar (objectName ``menu_train``)."""
        menu = QMenu("&Train", parent)
        menu.setObjectName("menu_train")
        a = self.actions
        menu.addActions([a["start"], a["pause"], a["stop"], a["continue"], a["resume_checkpoint"]])
        menu.addAction(a["sweep"])
        menu.addSeparator()
        menu.addActions([a["save_weights"], a["open_weights"], a["export"]])
        menu.addSeparator()
        menu.addActions([a["compare_runs"], a["restore_run"], a["delete_run"]])
        menu.addSeparator()
        menu.addAction(self.toggleViewAction())
        if parent is not None:
            parent.addActions(list(a.values()))
        return menu

    def open_sweep(self):
        """Open the sweep dialog on this graph (non-modal; one at a time)."""
        self._build()
        from layerloom.gui.training.setup.sweep_dialog import SweepDialog  # pyqtgraph on first use

        dialog = getattr(self, "sweep_dialog", None)
        if dialog is None:
            window = self.window()
            bar = getattr(window, "statusBar", None)
            dialog = self.sweep_dialog = SweepDialog(
                self.graph, self.undo_stack, parent=window,
                status=(lambda text: bar().showMessage(text, 8000)) if bar else None)
            if self.document is not None:  # another graph: the results were of the last one
                self.document.replaced.connect(dialog.forget)
        dialog.dataset_obj = self.setup.dataset_for_run()  # as they are now: the data may have changed
        dialog.base_dir = self._base_dir()
        dialog.refresh()
        dialog.show()
        dialog.raise_()
        return dialog

    # ------------------------------------------------------------ questions
    def ask_unsaved_runs(self, labels: list[str]) -> str:
        """Dropping trained models whose weights are in no file: ``"save"``,
        ``"discard"`` or ``"cancel"`` (replaced in tests)."""
        which = ", ".join(labels)
        box = QMessageBox(QMessageBox.Icon.Question, "Trained model not saved",
                          f"{which} trained a model whose weights were not saved or exported. "
                          "They are lost if you go on.", parent=self)
        save = box.addButton("Save Weights…", QMessageBox.ButtonRole.AcceptRole)
        discard = box.addButton("Discard", QMessageBox.ButtonRole.DestructiveRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(save)
        box.exec()
        clicked = box.clickedButton()
        return "save" if clicked is save else "discard" if clicked is discard else "cancel"

    def ask_stop_run(self) -> bool:
        """Closing during a run: stop it? (replaced in tests)"""
        answer = QMessageBox.question(
            self, "Training is running",
            "A training run is still going. Stop it and close the window?\n\nTo keep what the model "
            "has learned, cancel, stop the run and use Save Weights first.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel)
        return answer == QMessageBox.StandardButton.Yes
