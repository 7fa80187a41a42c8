"""The trained-model side of the training dock: save weights, open them again,
export, and what happens to trained models when the graph is replaced (a mixin of :class:`~layerloom.gui.training.dock.TrainingDock`, kept apart so each
file stays readable).

Saving writes safetensors with the graph and the input normalisation embedded;
opening reads them back as a run of the session (for Try it and Export), and
offers to put the stored graph on the canvas when it differs from the one there.
Before the graph is replaced (New, Open, Import, Quit), a run going on is stopped
if the user agrees and weights in no file are saved or discarded as the user
chooses (:meth:`ModelFileActions.may_drop_runs`); once it is replaced, its runs and
their views go (:meth:`ModelFileActions.forget_runs`). Every question goes through
an ``ask_*`` method that tests replace.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QFileDialog, QMessageBox

from layerloom.graph import Graph
from layerloom.gui.background import BackgroundCall
from layerloom.gui.training.runs.model_files import (
    ModelFileError,
    data_for,
    open_trained,
    save_trained,
)
from layerloom.gui.training.runs.run_record import RUN_COLOURS, Run, graph_signature

WEIGHTS_FILTER = "LayerLoom weights (*.safetensors);;All files (*)"


class ModelFileActions:
    """Save / open trained weights and export; mixed into the dock, whose
    ``runs``, ``shown``, ``run_bar``, ``try_it``, ``keeper`` and ``document`` it uses."""

    def ask_save_weights_path(self, suggested: str) -> str | None:
        title = getattr(self, "_saving_title", None) or "Save trained weights"
        path, _ = QFileDialog.getSaveFileName(self, title, suggested, WEIGHTS_FILTER)
        return path or None

    def ask_open_weights_path(self) -> str | None:
        path, _ = QFileDialog.getOpenFileName(self, "Open trained weights", self._base_dir() or str(Path.home()),
                                              WEIGHTS_FILTER)
        return path or None

    def ask_replace_graph(self, path: str) -> bool:
        answer = QMessageBox.question(
            self, "Open the trained model's graph?",
            f"The weights in {Path(path).name} belong to a graph that differs from the one on the "
            "canvas. Open that graph (the current one is closed first)?",
            QMessageBox.StandardButton.Open | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.Open)
        return answer == QMessageBox.StandardButton.Open

    # ---------------------------------------------------------------- files
    def _base_dir(self) -> str | None:
        path = getattr(self.document, "path", None)
        return str(path.parent) if path else None

    def _suggested(self, run: Run, suffix: str) -> str:
        name = Path(getattr(self.document, "display_name", "model")).stem or "model"
        return str(Path(self._base_dir() or Path.home()) / f"{name}_run{run.number}{suffix}")

    def unsaved_runs(self) -> list[Run]:
        """Runs that trained a model whose weights are in no file yet."""
        return [r for r in self.runs if r.model is not None and not r.saved and not r.active and not r.keeping]

    def may_drop_runs(self) -> bool:
        """Before the graph is replaced (New, Open, Import, Quit): True when its runs
        may go. A run going on is stopped if the user agrees; trained weights in no
        file are saved, or discarded, as the user chooses."""
        if self.running:
            if not self.ask_stop_run():
                return False
            self.shutdown()
        unsaved = self.unsaved_runs()
        if not unsaved:
            return True
        answer = self.ask_unsaved_runs([r.label for r in unsaved])
        if answer == "save":
            return all(self.save_weights(run=r) is not None for r in unsaved)
        return answer == "discard"

    def forget_runs(self) -> None:
        """The graph was replaced: its runs, their views and messages go with it (a run
        still going on is stopped first)."""
        if self.running:
            self.shutdown()
        self.runs.clear()
        self._generation += 1  # a run of the old graph still being written is not listed
        self.current = None
        self._graph_changed = False
        self._checked_revision = -1
        if not self._built:
            self.shown = None
            return
        self.runs_panel.set_runs(self.runs, None)
        self.run_bar.notice.hide()
        self.run_bar.show_message("", "info")
        self.setup.show_problem("")
        self.show_run(None)
        self.load_kept_runs()  # the new graph's own runs, kept beside its file

    def save_weights(self, path: str | None = None, run: Run | None = None) -> Path | None:
        """Save the shown run's (or ``run``'s) trained weights, with the graph, as safetensors."""
        run = run or self.shown
        if not self.ensure_model(run):
            return None
        self._saving_title = f"Save the weights of {run.label} ({self.graph_name()})"
        path = path or self.ask_save_weights_path(self._suggested(run, ".safetensors"))
        if not path:
            return None
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            saved = save_trained(run.graph, run.model, path, run.normalisation,
                                 getattr(run.val, "vocabulary", None))
        except ModelFileError as exc:
            self.run_bar.show_message(str(exc), "error")
            return None
        finally:
            QApplication.restoreOverrideCursor()
        run.saved = True
        self.run_bar.show_message(f"Saved the weights of {run.label} ({self.graph_name()}) to {saved}", "done")
        return saved

    def open_weights(self, path: str | None = None) -> Run | None:
        """Open trained weights as a run of this session (Try it, Export); offers to
        open their graph when it differs from the one on the canvas."""
        if self.running:
            return None
        self._build()
        path = path or self.ask_open_weights_path()
        if not path:
            return None
        self.preload()
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            opened = open_trained(path)
        except ModelFileError as exc:
            self.run_bar.show_message(f"Cannot open the weights: {exc}", "error")
            return None
        finally:
            QApplication.restoreOverrideCursor()
        if graph_signature(opened.graph) != graph_signature(self.graph) and self.document is not None \
                and self.ask_replace_graph(path):
            self._replace_document_graph(opened.graph)
        run = self.adopt_model(opened.graph, opened.model, f"opened from {path}", opened.normalisation)
        self.run_bar.show_message(f"Opened the trained weights in {path}", "done")
        return run

    def adopt_model(self, graph: Graph, model, origin: str, normalisation=None) -> Run | None:
        """Make a trained ``model`` of ``graph`` a run of this session, so Try it,
        Save Weights and Export use it (opened weights, imported models).

        ``origin`` says where it came from ("opened from …", "imported from …").
        Returns ``None`` while a run is going on (its model stays current).
        """
        if self.running:
            return None
        self._build()
        model.eval()
        run = Run(self.next_run_number(), graph, dict(graph.training), dict(graph.dataset),
                  graph_signature(graph), RUN_COLOURS[len(self.runs) % len(RUN_COLOURS)],
                  status="loaded", message=origin, saved=True)
        run.model, run.normalisation = model, normalisation
        self.runs.append(run)
        self.runs_panel.set_runs(self.runs, run)
        self.show_run(run)
        self.load_run_data(run)
        return run

    def load_run_data(self, run: Run) -> None:
        """Load, in the background, the data ``run``'s model was trained on (Try it)."""
        if not run.graph.dataset.get("name"):
            return
        from layerloom.backend.datasets import DatasetError
        from layerloom.backend.training import SettingsError

        call = BackgroundCall(_run_data, run.number, run.graph, self._base_dir(),
                              expected=(DatasetError, SettingsError, OSError), parent=self)
        call.succeeded.connect(self._opened_data_ready)
        call.failed.connect(self._opened_data_failed)
        self.keeper.start(call)

    def _replace_document_graph(self, graph: Graph) -> None:
        window = self.window()
        if hasattr(window, "maybe_save") and not window.maybe_save():
            return
        self.document.restore(graph.copy(), None)

    def _opened_data_ready(self, result) -> None:
        number, val = result
        for run in self.runs:
            if run.number == number:
                run.val = val
                if run is self.shown:
                    self.try_it.set_run(run)
                    self.inside_view.set_run(run)

    def _opened_data_failed(self, message: str) -> None:
        self.try_it.verdict.setText(f"Cannot load the data to try the model on: {message}")

    def open_export_dialog(self):
        """Open the export dialog for the shown run's model; returns the dialog."""
        run = self.shown
        if not self.ensure_model(run):
            return None
        from layerloom.gui.training.runs.export_dialog import ExportDialog

        self.preload()
        dialog = ExportDialog(run.graph, run.model, self._base_dir() or str(Path.home()),
                              Path(self._suggested(run, "")).name, self,
                              subject=self.run_subject(run))
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.exported.connect(lambda _result, run=run: setattr(run, "saved", True))
        dialog.open()
        return dialog


def _run_data(number: int, graph: Graph, base_dir: str | None):
    return number, data_for(graph, base_dir)
