"""Runs that last: kept beside the graph, shown again when it reopens, compared,
restored and deleted (a mixin of :class:`~layerloom.gui.training.dock.TrainingDock`).

A run that ends (finished, stopped or failed) is written in the background to
``NAME.runs/run-NNN/`` beside ``NAME.loom`` (:mod:`layerloom.backend.runs`, the
same folder ``layerloom train`` and ``layerloom runs`` use). A graph with no file
yet keeps its runs in memory ("not kept yet") and writes them when it is first
saved. Opening a graph lists its kept runs as finished runs with their curves;
their weights are read only when Try it, Save Weights or Export needs them.
Restoring puts a run's graph version back on the canvas as one undoable edit;
deleting asks first, then removes the run's folder. Every question goes through
an ``ask_*`` method that tests replace.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QMessageBox

from layerloom.backend.runs import NewRun, RunsError, StoredRun, list_runs, next_number, runs_folder
from layerloom.backend.runs.store import delete_run as delete_run_folder
from layerloom.graph import Graph
from layerloom.gui.background import BackgroundCall
from layerloom.gui.commands_graph import ReplaceGraph
from layerloom.gui.training.runs.run_record import RUN_COLOURS, Run, graph_signature
from layerloom.gui.training.views.series import BoundedSeries

OVERLAID_ON_OPEN = 5  # kept runs ticked (curves overlaid) when a graph opens
ENDED = ("finished", "stopped", "failed")


class KeptRunActions:
    """Keep, reopen, compare, restore and delete runs; mixed into the dock, whose
    ``runs``, ``shown``, ``graph``, ``document``, ``undo_stack``, ``runs_panel``,
    ``run_bar`` and ``keeper`` it uses."""

    _generation = 0  # bumps when the graph is replaced: late writes of the old one are dropped
    kept_loading = False  # the kept runs of the graph just opened are being read

    def ask_delete_run(self, run: Run) -> bool:
        where = f" and its folder {run.kept.folder}" if run.kept is not None else ""
        unsaved = " Its trained weights are in no file." if run.model is not None and not run.saved else ""
        answer = QMessageBox.question(
            self, "Delete the run?", f"Delete {run.label}{where}? This cannot be undone.{unsaved}",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel)
        return answer == QMessageBox.StandardButton.Yes

    def connect_kept_runs(self) -> None:
        """Wire the Runs tab's buttons (the dock's ``_build`` calls this once) and
        list the runs kept beside a graph opened before the views existed."""
        panel = self.runs_panel
        panel.note_of = self.run_note
        panel.compareRequested.connect(self.compare_runs)
        panel.restoreRequested.connect(lambda n: self.restore_run(self._run_numbered(n)))
        panel.deleteRequested.connect(lambda n: self.delete_run(self._run_numbered(n)))
        if self.runs:
            panel.set_runs(self.runs, self.shown)
        elif self.graph_path() is not None:
            self.load_kept_runs()

    def _run_numbered(self, number: int) -> Run | None:
        return next((r for r in self.runs if r.number == number), None)

    def prepare_shown_run(self, run: Run | None) -> None:
        """Before ``run`` is shown: Try it names the run and graph it tries, and a
        kept run's weights are read if Try it is on screen."""
        if not self._built:
            return
        self.try_it.set_subject(f"{run.label} · {self.graph_name()}" if run is not None else "")
        if run is not None and self.tabs.currentWidget() is self.try_it:
            self.ensure_model(run)

    # --------------------------------------------------------------- naming
    def graph_path(self) -> Path | None:
        return getattr(self.document, "path", None)

    def graph_name(self) -> str:
        return getattr(self.document, "display_name", None) or "Untitled"

    def next_run_number(self) -> int:
        """After every run of the session and every run folder beside the graph."""
        numbers = [r.number for r in self.runs]
        path = self.graph_path()
        floor = next_number(runs_folder(path)) if path is not None else 1
        return max([floor, *(n + 1 for n in numbers)])

    def run_subject(self, run: Run) -> str:
        """``Run 3 · adam, lr 0.05 · moons (graph moons.loom, an earlier version)``:
        what Export names."""
        earlier = "" if run.signature == self.current_signature() else \
            ", an earlier version than the canvas shows"
        return f"{run.label} (graph {self.graph_name()}{earlier})"

    def current_signature(self) -> str:
        """The canvas graph's signature, computed once per revision."""
        cached = getattr(self, "_signature_cache", None)
        if cached is None or cached[0] != self.graph.revision:
            cached = (self.graph.revision, graph_signature(self.graph))
            self._signature_cache = cached
        return cached[1]

    def run_note(self, run: Run) -> str:
        """What the Runs table says about where a run is kept."""
        if run.problem:
            return run.problem
        if run.active:
            return ""
        earlier = "" if run.signature == self.current_signature() else " · earlier graph"
        if run.pending:
            return "not kept yet: save the graph to keep it" + earlier
        if run.kept is not None:
            return f"kept as {run.kept.id}" + earlier
        return ("opened" if run.status == "loaded" else "in this session only") + earlier

    # -------------------------------------------------------------- keeping
    def keep_run(self, run: Run) -> None:
        """Write an ended run beside the graph in the background (or, for a graph
        with no file yet, mark it to be kept when the graph is saved)."""
        if run.status not in ENDED or run.kept is not None or run.problem:
            return
        path = self.graph_path()
        if path is None:
            run.pending = True
            self.runs_panel.update_run(run)
            return
        run.pending = False
        new = _new_run(run)
        model = run.model if run.status != "failed" else None
        run.keeping = True  # Quit and Open do not ask about weights on their way to a file
        call = BackgroundCall(_write, self._generation, run.number, path, new, model, _metadata(run),
                              parent=self)
        call.run_number = run.number
        call.succeeded.connect(self._run_kept)
        call.failed.connect(self._keep_broke)
        self.keeper.start(call)

    def keep_pending_runs(self, _path=None) -> None:
        """The graph was saved: runs waiting for its file are kept now."""
        for run in self.runs:
            if run.pending:
                self.keep_run(run)

    def _run_kept(self, result) -> None:
        generation, number, stored, problem = result
        if generation != self._generation:
            return
        for run in self.runs:
            if run.number != number or run.kept is not None:
                continue
            run.keeping = False
            if problem is not None:
                self._keep_failed(problem)
                continue
            run.kept, run.saved = stored, run.saved or stored.weights is not None
            self.runs_panel.update_run(run)
            if not self.running:
                self.run_bar.show_message(f"{run.label} kept in {stored.folder}", "done")

    def _keep_broke(self, message: str) -> None:
        """An unexpected error while keeping a run (the expected ones come through
        :meth:`_run_kept`): the run is not kept, and its weights count as unsaved."""
        number = getattr(self.sender(), "run_number", None)
        for run in self.runs:
            if run.number == number and run.kept is None:
                run.keeping = False
        self._keep_failed(message)

    def _keep_failed(self, message: str) -> None:
        self.run_bar.show_message(f"The run is not kept with the graph: {message}", "error")

    # ------------------------------------------------------------ reopening
    def load_kept_runs(self) -> None:
        """List, in the background, the runs kept beside the graph's file; they
        become runs of this session (:meth:`_kept_runs_read`)."""
        path = self.graph_path()
        if path is None or not self._built:  # not built: listed when it is (connect_kept_runs)
            return
        self.kept_loading = True
        call = BackgroundCall(_read_kept, self._generation, path, expected=(OSError,), parent=self)
        call.succeeded.connect(self._kept_runs_read)
        call.failed.connect(self._kept_runs_failed)
        self.keeper.start(call)

    def _kept_runs_failed(self, message: str) -> None:
        self.kept_loading = False
        self.run_bar.show_message(f"Cannot list the runs kept beside the graph: {message}", "error")

    def _kept_runs_read(self, result) -> list[Run]:
        """The kept runs as runs of the session, before those trained since the graph
        opened (the newest kept one shown if none is, the last few overlaid)."""
        generation, path, read = result
        if generation != self._generation:  # another graph was opened meanwhile
            return []
        self.kept_loading = False
        runs = [_from_stored(s, curves, i) for i, (s, curves) in enumerate(read)]
        numbers = {r.number for r in self.runs}
        for i, run in enumerate(runs):  # a folder without a number gets one after the rest
            if run.number in numbers or run.number <= 0:
                run.number = max(numbers | {0}) + 1
            numbers.add(run.number)
            run.colour = RUN_COLOURS[(len(self.runs) + i) % len(RUN_COLOURS)]
        self.runs[:0] = runs
        usable = [r for r in runs if not r.problem]
        self.runs_panel.set_runs(self.runs, self.shown)
        self.runs_panel.set_ticked([r.number for r in usable[-OVERLAID_ON_OPEN:]])
        if usable and self.shown is None:
            self.show_run(usable[-1])
            self.runs_panel.set_run(usable[-1])
        if self.running:
            pass  # the run's own messages stay
        elif usable:
            damaged = len(runs) - len(usable)
            more = f" ({damaged} cannot be used: see the Runs tab)" if damaged else ""
            self.run_bar.show_message(f"{len(usable)} kept run(s) of {self.graph_name()}{more}", "info")
        elif runs:
            self.run_bar.show_message(f"The runs kept in {runs_folder(path)} cannot be used: see the Runs tab",
                                      "error")
        return runs

    def ensure_model(self, run: Run | None) -> bool:
        """Read a kept run's weights if they are not loaded yet (Try it, Save
        Weights, Export); True when the run has a model."""
        if run is None or run.active:
            return False
        if run.model is not None:
            return True
        weights = run.kept.weights if run.kept is not None else None
        if weights is None:
            return False
        from layerloom.gui.training.runs.model_files import ModelFileError, open_trained

        self.preload()
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            opened = open_trained(weights)
        except ModelFileError as exc:
            run.problem = f"its weights cannot be read: {exc}"
            self.run_bar.show_message(f"{run.label}: {run.problem}", "error")
            self.runs_panel.update_run(run)
            return False
        finally:
            QApplication.restoreOverrideCursor()
        run.model, run.normalisation = opened.model, opened.normalisation
        run.saved = True
        self.load_run_data(run)
        self._sync_state()
        return True

    def has_weights(self, run: Run | None) -> bool:
        """A run whose trained model is loaded, or can be (kept weights)."""
        if run is None or run.active or run.problem:
            return False
        return run.model is not None or (run.kept is not None and run.kept.weights is not None)

    # -------------------------------------------------- restore, delete, compare
    def _chosen(self, run: Run | None) -> Run | None:
        return run if run is not None else self.shown

    def restore_run(self, run: Run | None = None) -> bool:
        """Put ``run``'s graph version (and its settings) on the canvas: one undoable edit."""
        run = self._chosen(run)
        if run is None:
            self.run_bar.show_message("Select a run in the Runs tab to restore its graph.", "error")
            return False
        if run.problem or not len(run.graph):
            self.run_bar.show_message(f"{run.label} cannot be restored: {run.problem or 'it has no graph'}",
                                      "error")
            return False
        if graph_signature(run.graph) == self.current_signature() \
                and run.graph.training == self.graph.training and run.graph.dataset == self.graph.dataset:
            self.run_bar.show_message(f"The canvas already holds the graph and settings of {run.label}.")
            return False
        self.undo_stack.push(ReplaceGraph(self.graph, run.graph, f"Restore the graph of {run.label}"))
        self.run_bar.show_message(f"Restored the graph of {run.label} (Undo gives the previous one back).",
                                  "done")
        return True

    def delete_run(self, run: Run | None = None) -> bool:
        """Delete ``run`` (asks first): its folder beside the graph, and its row."""
        run = self._chosen(run)
        if run is None:
            return False
        if run.active:
            self.run_bar.show_message("Stop the run before deleting it.", "error")
            return False
        if not self.ask_delete_run(run):
            return False
        if run.kept is not None:
            try:
                delete_run_folder(run.kept)
            except RunsError as exc:
                self.run_bar.show_message(str(exc), "error")
                return False
        self.runs.remove(run)
        if self.shown is run:
            rest = [r for r in self.runs if not r.problem]
            self.show_run(rest[-1] if rest else None)
        self.runs_panel.set_runs(self.runs, self.shown)
        self._overlays_changed(self.runs_panel.ticked())
        where = f" and {run.kept.folder}" if run.kept is not None else ""
        self.run_bar.show_message(f"Deleted {run.label}{where}.", "done")
        return True

    def compare_runs(self, numbers: list[int] | None = None):
        """Open the table of what differs between the ticked runs (or ``numbers``);
        returns the dialog, or ``None`` with the reason shown."""
        numbers = self.runs_panel.ticked() if numbers is None else numbers
        runs = [r for r in self.runs if r.number in numbers]
        bad = [r for r in runs if r.problem]
        if len(runs) < 2 or bad:
            why = f"{bad[0].label} cannot be compared: {bad[0].problem}" if bad else \
                "Tick two or more runs in the Runs tab to compare them."
            self.run_bar.show_message(why, "error")
            return None
        from layerloom.backend.runs import compare_runs
        from layerloom.gui.training.runs.compare_dialog import CompareDialog

        table = compare_runs([_comparable(r) for r in runs])
        dialog = CompareDialog(table, [r.colour for r in runs], self.graph_name(), self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        return dialog


# ------------------------------------------------------------------ helpers
def _write(generation: int, number: int, path: Path, new: NewRun, model, metadata):
    """Keep a run (in a background thread): ``(generation, number, stored run or
    None, the problem or None)``."""
    from layerloom.backend.runs import write_run

    try:
        return generation, number, write_run(path, new, model, metadata), None
    except RunsError as exc:
        return generation, number, None, str(exc)


def _series(run: Run) -> dict[str, tuple[list[float], list[float]]]:
    named = {"loss": run.loss, "lr": run.lr, "epoch_loss": run.epoch_loss, "val_loss": run.val_loss,
             **run.metrics}
    out = {}
    for name, series in named.items():
        if len(series) or series.last() is not None:
            x, y = series.arrays()
            out[name] = (x.tolist(), y.tolist())
    return out


def _new_run(run: Run) -> NewRun:
    return NewRun(run.graph, dict(run.training), dict(run.dataset), run.status, "app", run.message,
                  dict(run.final), None, run.step, run.epoch, run.wall_time,
                  run.started.device if run.started is not None else None, _series(run), best=dict(run.best))


def _metadata(run: Run) -> dict[str, str]:
    """The safetensors metadata Save Weights writes (normalisation, vocabulary)."""
    from layerloom.backend.training.checkpoint import NORMALISATION_KEY

    metadata = {}
    if run.normalisation is not None:
        metadata[NORMALISATION_KEY] = json.dumps(run.normalisation.to_dict())
    vocabulary = getattr(run.val, "vocabulary", None)
    if vocabulary is not None:
        from layerloom.backend.text_generation import vocabulary_metadata

        metadata.update(vocabulary_metadata(vocabulary))
    return metadata


def _read_kept(generation: int, path: Path):
    """The runs beside ``path`` with their curves (in a background thread)."""
    read = []
    for stored in list_runs(path):
        try:
            curves = stored.history() if stored.ok else {}
        except RunsError as exc:
            curves = exc
        read.append((stored, curves))
    return generation, path, read


def _from_stored(stored: StoredRun, curves, index: int) -> Run:
    """A kept run as a run of the session: its curves and settings; weights on demand.
    ``curves`` is the run's history, or the :class:`RunsError` reading it raised."""
    graph = stored.graph if stored.graph is not None else Graph()
    run = Run(stored.number or 0, graph, dict(stored.training), dict(stored.dataset),
              graph_signature(graph), RUN_COLOURS[index % len(RUN_COLOURS)],
              status=stored.status, message=stored.message or stored.problem or "", saved=True)
    run.kept, run.problem = stored, stored.problem
    run.final, run.wall_time = dict(stored.final), stored.wall_time
    run.step, run.epoch = stored.steps, stored.epochs
    if isinstance(curves, RunsError):
        run.problem, curves = f"damaged: {curves}", {}
    for name, (xs, ys) in curves.items():
        series = BoundedSeries.from_arrays(xs, ys)
        if name in ("loss", "lr", "epoch_loss", "val_loss"):
            setattr(run, name, series)
        else:
            run.metrics[name] = series
    if not run.message and stored.ok:
        wall = f" in {stored.wall_time:.1f} s" if stored.wall_time is not None else ""
        run.message = f"{stored.status} after {stored.epochs} epoch(s), {stored.steps} steps{wall}"
    return run


def _comparable(run: Run) -> SimpleNamespace:
    return SimpleNamespace(label=run.label, training=run.training, dataset=run.dataset,
                           graph=run.graph if len(run.graph) else None, final=run.final, steps=run.step)
