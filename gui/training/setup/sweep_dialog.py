"""Train > Sweep…: a hyperparameter sweep in a dialog, off the GUI thread.

The user picks one or two settings (a training setting, a node's parameter or an
exposed block parameter: :func:`~layerloom.backend.training.sweep.candidates`) and
their values, as a list or a range, with the values the text gives shown beside
it (or what is wrong with it). Start runs the trials on a snapshot of the graph
in a thread (one after another, or each in its own process): the table fills in
trial by trial and the plot draws the metric against the setting. Stop ends the
sweep after the trial in progress; pressed again (Stop Now) it stops that trial
too. "Use best" writes the best trial's values into the graph as one undoable
edit. ``layerloom sweep FILE --set ...`` does the same headless.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt, QThread, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from layerloom.backend.training.sweep import (
    SweepError,
    candidates,
    check_metric,
    edits,
    format_value,
    parse_axis,
    plan,
)
from layerloom.graph import Graph, GraphError, ParamError
from layerloom.graph import settings as declaration
from layerloom.gui.commands import CompoundCommand, SetParams, SetSettings
from layerloom.gui.training.setup.background_dialog import BackgroundRunDialog
from layerloom.gui.training.setup.sweep_plot import SweepPlot

NONE = "(none)"
SUGGESTED = {"lr": "1e-4:1e-1:log:4", "batch_size": "16,32,64", "epochs": "5,10,20",
             "weight_decay": "0,1e-4,1e-3", "optimizer": "adam,sgd", "momentum": "0,0.5,0.9"}
ERROR_STYLE = "color: #b91c1c"


def suggested_values(graph: Graph, name: str) -> str:
    """A sensible first list of values for ``name`` (the user edits it)."""
    if name in SUGGESTED:
        return SUGGESTED[name]
    try:
        from layerloom.backend.training.sweep import resolve_target

        target, param = resolve_target(graph, name)
    except SweepError:
        return ""
    if param.kind == "choice":
        return ",".join(map(str, param.choices))
    if param.kind == "bool":
        return "off,on"
    current = graph.training.get(target.param, param.default) if target.kind == "training" else \
        graph.node(target.owner).params.get(target.param) if target.kind == "node" else param.default
    if param.kind == "int" and isinstance(current, int) and current > 0:
        return ",".join(str(v) for v in dict.fromkeys((max(1, current // 2), current, current * 2)))
    if param.kind == "float" and isinstance(current, (int, float)) and current > 0:
        return f"{current / 10:g},{current:g},{current * 10:g}"
    return format_value(current) if current is not None else ""


class _SweepThread(QThread):
    """Runs a :class:`~layerloom.backend.training.sweep_run.Sweep`; a copy of each trial
    as it starts and ends (``trial``), each epoch (``epoch``), then ``finished``."""

    trial = Signal(object)
    epoch = Signal(int, int, int)

    def __init__(self, sweep, workers: int, parent=None):
        super().__init__(parent)
        self.sweep, self.workers = sweep, workers
        self.error = ""

    def run(self) -> None:
        try:
            self.sweep.run(self.workers, on_trial=lambda t: self.trial.emit(dataclasses.replace(t)),
                           on_epoch=lambda i, e, n, v: self.epoch.emit(i, e, n))
        except Exception as exc:  # never a traceback in the window: one line that says what
            self.error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"


class AxisRow(QWidget):
    """One swept setting: a name (picked or typed), its values, and their preview."""

    changed = Signal()

    def __init__(self, graph: Graph, index: int, optional: bool):
        super().__init__()
        self.graph, self.optional = graph, optional
        self.name = QComboBox()
        self.name.setObjectName(f"sweepSetting{index}")
        self.name.setEditable(True)
        self.name.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.name.setMinimumContentsLength(16)
        self.name.setToolTip("A training setting, NODE.PARAM (a node's parameter) or BLOCK.PARAM "
                             "(a parameter the block exposes: every instance takes the value)")
        self.values = QLineEdit()
        self.values.setObjectName(f"sweepValues{index}")
        self.values.setPlaceholderText("0.001,0.01,0.1  or  1e-4:1e-1:log:6")
        self.values.setToolTip("A list separated by commas, or a range START:STOP:log|lin:COUNT "
                               "(whole numbers are rounded)")
        self.preview = QLabel()
        self.preview.setObjectName(f"sweepPreview{index}")
        self.preview.setWordWrap(True)
        self._suggested = ""
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.name)
        row.addWidget(self.values, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addLayout(row)
        layout.addWidget(self.preview)
        self.fill()
        self.name.currentTextChanged.connect(self._name_changed)
        self.values.textChanged.connect(self._update)

    def fill(self) -> None:
        """Offer the graph's current candidates (keeping what is typed)."""
        text = self.name.currentText()
        self.name.blockSignals(True)
        self.name.clear()
        self.name.addItems(([NONE] if self.optional else []) + candidates(self.graph))
        self.name.setCurrentText(text or (NONE if self.optional else "lr"))
        self.name.blockSignals(False)
        if not self.values.text():
            self._name_changed(self.name.currentText())

    @property
    def used(self) -> bool:
        return self.name.currentText().strip() not in ("", NONE)

    def spec(self) -> str:
        return f"{self.name.currentText().strip()}={self.values.text().strip()}"

    def set_spec(self, name: str, values: str) -> None:
        self.name.setCurrentText(name)
        self.values.setText(values)

    def _name_changed(self, name: str) -> None:
        """A new setting: offer values to start from, unless the user typed their own
        (a name typed letter by letter must not wipe them)."""
        self.values.setEnabled(name.strip() not in ("", NONE))
        typed = self.values.text().strip()
        if typed and typed != self._suggested:
            self._update()
            return
        self._suggested = suggested_values(self.graph, name.strip()) if self.values.isEnabled() else ""
        self.values.setText(self._suggested)
        self._update()

    def _update(self) -> None:
        if not self.used:
            self.preview.setText("")
        else:
            try:
                axis = parse_axis(self.graph, self.spec())
            except SweepError as exc:
                self.preview.setStyleSheet(ERROR_STYLE)
                self.preview.setText(str(exc))
            else:
                self.preview.setStyleSheet("")
                shown = ", ".join(format_value(v) for v in axis.values[:12])
                more = ", …" if len(axis.values) > 12 else ""
                self.preview.setText(f"{len(axis.values)} value(s): {shown}{more}")
        self.changed.emit()


class SweepDialog(BackgroundRunDialog):
    """A sweep of ``graph`` (a snapshot is trained); ``undo_stack`` takes "Use best"."""

    wait_ms = 60_000

    def __init__(self, graph: Graph, undo_stack, base_dir: str | None = None, dataset_obj: Any = None,
                 parent: QWidget | None = None, status: Callable[[str], None] | None = None):
        super().__init__(parent)
        self.setObjectName("sweepDialog")
        self.setWindowTitle("Sweep settings")
        self.graph, self.undo_stack = graph, undo_stack
        self.base_dir, self.dataset_obj = base_dir, dataset_obj
        self.status_message = status or (lambda text: None)
        self.sweep = None
        self.trials: list = []

        intro = QLabel("Train the graph once per value of one or two settings (two make a grid) and "
                       "compare the metric each trial reaches. Every trial starts from fresh weights "
                       "with the graph's seed; the graph is not changed until you press Use best.")
        intro.setWordWrap(True)
        self.rows = [AxisRow(graph, 0, optional=False), AxisRow(graph, 1, optional=True)]
        self.metric_box = QComboBox()
        self.metric_box.setObjectName("sweepMetric")
        self.metric_box.addItems(declaration.MONITORS)
        self.metric_box.setCurrentText(str(graph.training.get("monitor", "val_loss")))
        self.metric_box.setToolTip("What the trials are compared by (val_: on the validation set)")
        self.epochs = QSpinBox()
        self.epochs.setObjectName("sweepEpochs")
        self.epochs.setRange(1, declaration.MAX_EPOCHS)
        self.epochs.setValue(int(graph.training.get("epochs", 10)))
        self.epochs.setToolTip("Epochs of each trial (unless epochs is the swept setting)")
        self.workers = QSpinBox()
        self.workers.setObjectName("sweepWorkers")
        self.workers.setRange(1, max(1, os.cpu_count() or 1))
        self.workers.setToolTip("Trials run side by side, each in its own process (1: one after another "
                                "in this one)")
        form = QFormLayout()
        form.addRow("Setting", self.rows[0])
        form.addRow("Second setting", self.rows[1])
        form.addRow("Metric", self.metric_box)
        options = QHBoxLayout()
        options.addWidget(self.epochs)
        options.addWidget(QLabel("Processes"))
        options.addWidget(self.workers)
        options.addStretch(1)
        form.addRow("Epochs per trial", options)
        for row in self.rows:
            row.changed.connect(self._update_count)

        self.table = QTableWidget(0, 0)
        self.table.setObjectName("sweepTable")
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.plot = SweepPlot()
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.table)
        split.addWidget(self.plot)
        split.setSizes([500, 360])

        self.progress.setObjectName("sweepProgress")
        self.status.setObjectName("sweepStatus")
        self.start_button = self._button("&Start", "sweepStart", self.start,
                                         "Run every trial in the background (also: layerloom sweep FILE --set ...)")
        self.stop_button = self._button("S&top", "sweepStop", self.stop, enabled=False)
        self.use_button = self._button("&Use best", "sweepUseBest", self.use_best,
                                       "Write the best trial's values into the graph (Undo takes them back)",
                                       enabled=False)
        self._lay_out(intro, form, split, [self.start_button, self.stop_button, self.use_button])
        self.resize(860, 640)
        self._update_count()

    def refresh(self) -> None:
        """Offer the graph's current settings and parameters (the dialog is reopened)."""
        if not self.running:
            for row in self.rows:
                row.fill()

    def forget(self) -> None:
        """Another graph was opened: stop a sweep in progress and drop the results
        (they, and Use best, were for the graph before)."""
        thread, self.thread = self.thread, None
        if thread is not None:
            for signal in (thread.trial, thread.epoch, thread.finished):
                signal.disconnect()
            self.sweep.stop(cancel=True)
            thread.wait(60_000)
            self._set_running(False)
        self.sweep, self.trials = None, []
        self.progress.setValue(0)
        self.table.clear()
        self.table.setRowCount(0)
        self.table.setColumnCount(0)
        self.plot.clear_trials()
        self.use_button.setEnabled(False)
        self.use_button.setText("&Use best")
        for row in self.rows:
            row.fill()
        self._update_count()

    # -------------------------------------------------------------- actions
    def specs(self) -> list[str]:
        return [row.spec() for row in self.rows if row.used]

    def _update_count(self) -> None:
        if self.running:
            return
        try:
            axes = plan(self.graph, self.specs())
        except SweepError as exc:
            self.status.setText(f"Cannot start: {exc}")
            self.start_button.setEnabled(False)
            return
        count = len(self.trials_of(axes))
        self.status.setText(f"{count} trial(s). Press Start to run them.")
        self.start_button.setEnabled(True)

    @staticmethod
    def trials_of(axes) -> list:
        from layerloom.backend.training.sweep import grid

        return grid(axes)

    def start(self) -> None:
        if self.running:
            return
        from layerloom.backend.training.sweep_run import Sweep

        try:
            axes = plan(self.graph, self.specs())
            metric = check_metric(self.metric_box.currentText())
        except SweepError as exc:
            self.status.setText(f"Cannot start: {exc}")
            return
        workers = self.workers.value()
        self.sweep = Sweep(self.graph, axes, metric, epochs=self.epochs.value(), base_dir=self.base_dir,
                           dataset=self.dataset_obj if workers == 1 else None)
        self.trials = [dataclasses.replace(t) for t in self.sweep.trials]
        self._fill_table()
        self.plot.show_trials(axes, self.trials, metric)
        self.progress.setRange(0, len(self.trials))
        self.progress.setValue(0)
        self.use_button.setEnabled(False)
        self.use_button.setText("&Use best")
        self.status.setText("Sweeping…")
        thread = _SweepThread(self.sweep, workers, self)
        thread.trial.connect(self._trial)
        thread.epoch.connect(self._epoch)
        self._launch(thread)

    def stop(self) -> None:
        """First press: end after the trial in progress; second: stop it too."""
        if self.thread is None:
            return
        if self.sweep.stopping:
            self.sweep.stop(cancel=True)
            self.stop_button.setEnabled(False)
            self.status.setText("Stopping the trial in progress…")
        else:
            self.sweep.stop()
            self.stop_button.setText("Stop &Now")
            self.stop_button.setToolTip("Stop the trial in progress too")
            self.status.setText("The sweep ends after the trial in progress (Stop Now ends it at once).")

    def use_best(self) -> bool:
        """Write the best trial's values into the graph: one undoable edit."""
        best = self.sweep.best() if self.sweep is not None else None
        if best is None:
            return False
        training, params = edits(self.graph, self.sweep.axes, best.values)
        shown = ", ".join(f"{k}={format_value(v)}" for k, v in best.values.items())
        command = CompoundCommand(f"Use sweep's best: {shown}")
        try:
            if training and training != self.graph.training:
                SetSettings(self.graph, "training", training, parent=command)
            for holder, node_id, param, value in params:
                if holder.node(node_id).params.get(param) != value:
                    SetParams(holder, [node_id], {param: value}, parent=command)
        except (GraphError, ParamError) as exc:
            self.status.setText(f"The best values no longer fit the graph: {exc}")
            return False
        if not command.children:
            self.status.setText(f"The graph already has the best values ({shown}).")
            return False
        self.undo_stack.push(command)
        self.status.setText(f"The graph now has {shown} (Edit > Undo takes it back).")
        self.status_message(f"Sweep: the graph now has {shown}")
        return True

    # -------------------------------------------------------------- results
    def _set_running(self, running: bool) -> None:
        self.start_button.setEnabled(not running)
        self.stop_button.setEnabled(running)
        self.stop_button.setText("S&top")
        self.stop_button.setToolTip("End the sweep after the trial in progress")
        for row in self.rows:
            row.setEnabled(not running)
        for widget in (self.metric_box, self.epochs, self.workers):
            widget.setEnabled(not running)

    def _fill_table(self) -> None:
        keys = [a.key for a in self.sweep.axes]
        heads = keys + [f"final {self.sweep.metric}", "best (epoch)", "time", "status"]
        self.table.clear()
        self.table.setColumnCount(len(heads))
        self.table.setHorizontalHeaderLabels(heads)
        self.table.setRowCount(len(self.trials))
        for trial in self.trials:
            self._show_row(trial)
        self.table.resizeColumnsToContents()

    def _show_row(self, trial, epoch: str = "") -> None:
        keys = [a.key for a in self.sweep.axes]
        best = "" if trial.best is None else f"{trial.best:.4g} ({trial.best_epoch})"
        status = epoch or trial.status
        if trial.message and trial.status == "failed":
            status = f"failed: {trial.message.splitlines()[0]}"
        cells = [format_value(trial.values[k]) for k in keys] + [
            "" if trial.final is None else f"{trial.final:.4g}", best,
            f"{trial.seconds:.1f} s" if trial.seconds else "", status]
        for column, text in enumerate(cells):
            item = QTableWidgetItem(text)
            if column == len(cells) - 1 and trial.message:
                item.setToolTip(trial.message)
            self.table.setItem(trial.index, column, item)

    def _trial(self, trial) -> None:
        self.trials[trial.index] = trial
        self._show_row(trial)
        ended = sum(t.status not in ("pending", "running") for t in self.trials)
        self.progress.setValue(ended)
        if trial.status != "running":
            best = self._best()
            self.plot.show_trials(self.sweep.axes, self.trials, self.sweep.metric, best)
            self._mark_best(best)
            self.status.setText(f"{ended} of {len(self.trials)} trial(s) done…")

    def _epoch(self, index: int, epoch: int, epochs: int) -> None:
        trial = self.trials[index]
        if trial.status == "running":
            self._show_row(trial, f"running: epoch {epoch}/{epochs}")

    def _best(self):
        from layerloom.backend.training.sweep import higher_is_better

        scored = [t for t in self.trials if t.final is not None and t.status in ("completed", "stopped")]
        if not scored:
            return None
        pick = max if higher_is_better(self.sweep.metric) else min
        return pick(scored, key=lambda t: t.final)

    def _mark_best(self, best) -> None:
        for row in range(self.table.rowCount()):
            for column in range(self.table.columnCount()):
                item = self.table.item(row, column)
                if item is not None:
                    font = item.font()
                    font.setBold(best is not None and row == best.index)
                    item.setFont(font)
        self.table.resizeColumnsToContents()

    def _ended(self) -> None:
        thread, self.thread = self.thread, None
        self._set_running(False)
        self.trials = [dataclasses.replace(t) for t in self.sweep.trials]
        for trial in self.trials:
            self._show_row(trial)
        self.table.resizeColumnsToContents()
        best = self.sweep.best()
        self.plot.show_trials(self.sweep.axes, self.trials, self.sweep.metric, best)
        self._mark_best(best)
        failed = sum(t.status == "failed" for t in self.trials)
        skipped = sum(t.status == "skipped" for t in self.trials)
        parts = [f"{len(self.trials) - skipped} trial(s) in {self.sweep.wall_time:.1f} s"]
        if failed:
            parts.append(f"{failed} failed (the table says why)")
        if skipped:
            parts.append(f"{skipped} not run (stopped)")
        if thread is not None and thread.error:
            parts.append(f"the sweep broke off: {thread.error}")
        if best is not None:
            shown = ", ".join(f"{k}={format_value(v)}" for k, v in best.values.items())
            self.use_button.setEnabled(True)
            self.use_button.setText(f"&Use best: {shown}")
            message = f"Best: {shown} ({self.sweep.metric} {best.final:.4g}); {'; '.join(parts)}."
        else:
            message = f"No trial finished with a {self.sweep.metric}; {'; '.join(parts)}."
        self.status.setText(message)
        self.status_message(f"Sweep finished. {message}")

    def _cancel(self) -> None:
        self.sweep.stop(cancel=True)
