"""Every run of the graph, to compare.

A table with one row per run (newest first): its colour, what it trained with,
its state, its final numbers and where it is kept (runs last beside the graph's
file, see :mod:`~layerloom.gui.training.runs.kept_runs`). Tick runs to overlay their
loss curves on the Loss tab; select a row to show that run in every tab (Try it
and Export use the run shown). Below the table: Compare (the ticked runs),
Restore Graph and Delete (the selected run).
"""

from __future__ import annotations

from collections.abc import Callable, Set

from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from layerloom.gui.training.runs.run_record import Run

COLUMNS = ("Run", "State", "Loss", "Val loss", "Metric", "Steps", "Kept")


def _swatch(colour: str) -> QIcon:
    pixmap = QPixmap(12, 12)
    pixmap.fill(QColor(colour))
    return QIcon(pixmap)


def _number(value: float | None) -> str:
    return "–" if value is None else f"{value:.3g}"  # as the Loss header quotes it


class RunsPanel(QWidget):
    """The Runs tab (objectName ``runsPanel``).

    Signals
    -------
    overlaysChanged(list)
        The numbers of the ticked runs.
    runChosen(int)
        The number of the run the user selected, to show in every tab.
    compareRequested()
        Compare the ticked runs.
    restoreRequested(int), deleteRequested(int)
        Restore the graph of / delete the selected run (its number).
    """

    title = "Runs"

    overlaysChanged = Signal(list)
    runChosen = Signal(int)
    compareRequested = Signal()
    restoreRequested = Signal(int)
    deleteRequested = Signal(int)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("runsPanel")
        self.runs: list[Run] = []
        self.note_of: Callable[[Run], str] = lambda run: ""  # the "Kept" column (the dock sets it)
        self._filling = False
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setObjectName("runsTable")
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().hide()
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for col in range(1, len(COLUMNS) - 1):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(len(COLUMNS) - 1, QHeaderView.ResizeMode.Interactive)
        header.resizeSection(len(COLUMNS) - 1, 170)
        hint = QLabel("Tick runs to overlay their curves and compare them; select one to show it everywhere. "
                      "Runs are kept beside the graph's file (NAME.runs).")
        hint.setWordWrap(True)

        def button(text: str, name: str, tip: str) -> QPushButton:
            b = QPushButton(text)
            b.setObjectName(name)
            b.setToolTip(tip)
            return b

        self.compare = button("Compare…", "runsCompare",
                              "A table of the results, settings and graph changes of the ticked runs")
        self.restore = button("Restore Graph", "runsRestore",
                              "Put the selected run's graph and settings back on the canvas (one undoable edit)")
        self.delete = button("Delete…", "runsDelete", "Delete the selected run and its folder (asks first; "
                             "the Delete key in the table)")
        buttons = QHBoxLayout()
        buttons.setContentsMargins(0, 0, 0, 0)
        for b in (self.compare, self.restore, self.delete):
            buttons.addWidget(b)
        buttons.addWidget(hint, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.table, 1)
        layout.addLayout(buttons)
        self.compare.clicked.connect(self.compareRequested)
        self.restore.clicked.connect(lambda: self._emit_selected(self.restoreRequested))
        self.delete.clicked.connect(lambda: self._emit_selected(self.deleteRequested))
        self.table.installEventFilter(self)  # the Delete key in the table (the canvas keeps its own)
        self.table.itemChanged.connect(self._item_changed)
        self.table.itemSelectionChanged.connect(self._selection_changed)

    # ------------------------------------------------------------------- api
    def set_runs(self, runs: list[Run], shown: Run | None = None) -> None:
        """Rebuild the table for ``runs`` (kept ticks stay ticked)."""
        ticked = set(self.ticked())
        self.runs = list(runs)
        self._filling = True
        try:
            self.table.setRowCount(len(runs))
            for row, run in enumerate(reversed(runs)):
                first = QTableWidgetItem(_swatch(run.colour), run.label)
                first.setData(Qt.ItemDataRole.UserRole, run.number)
                first.setFlags(first.flags() | Qt.ItemFlag.ItemIsUserCheckable)
                first.setCheckState(Qt.CheckState.Checked if run.number in ticked else Qt.CheckState.Unchecked)
                first.setToolTip(self._tip(run))
                self.table.setItem(row, 0, first)
                for col, text in enumerate(self._cells(run), start=1):
                    item = QTableWidgetItem(text)
                    if col == len(COLUMNS) - 1:
                        item.setToolTip(text)
                    self.table.setItem(row, col, item)
                if run is shown:
                    self.table.selectRow(row)
        finally:
            self._filling = False

    def set_run(self, run: Run | None) -> None:
        """Select the row of ``run``, the run every view shows (without asking
        for it again through ``runChosen``)."""
        row = self._row_of(run.number) if run is not None else None
        if row is None:
            return
        self._filling = True
        try:
            self.table.selectRow(row)
        finally:
            self._filling = False

    def refresh(self, changed: Set[str] | None = None, full: bool = False) -> None:
        """Nothing to redraw for the shown run: the rows follow every run, through
        :meth:`update_run`."""

    def update_run(self, run: Run) -> None:
        """Refresh one run's row (state and numbers)."""
        row = self._row_of(run.number)
        if row is None:
            return
        self._filling = True
        try:
            self.table.item(row, 0).setToolTip(self._tip(run))
            for col, text in enumerate(self._cells(run), start=1):
                item = self.table.item(row, col)
                if item.text() != text:
                    item.setText(text)
                    if col == len(COLUMNS) - 1:
                        item.setToolTip(text)
        finally:
            self._filling = False

    def set_ticked(self, numbers: list[int]) -> None:
        """Tick exactly the runs ``numbers`` (their curves are overlaid)."""
        self._filling = True
        try:
            for row in range(self.table.rowCount()):
                item = self.table.item(row, 0)
                wanted = int(item.data(Qt.ItemDataRole.UserRole)) in numbers
                item.setCheckState(Qt.CheckState.Checked if wanted else Qt.CheckState.Unchecked)
        finally:
            self._filling = False
        self.overlaysChanged.emit(self.ticked())

    def selected(self) -> int | None:
        """The number of the selected run."""
        rows = {index.row() for index in self.table.selectedIndexes()}
        if not rows:
            return None
        return int(self.table.item(min(rows), 0).data(Qt.ItemDataRole.UserRole))

    def ticked(self) -> list[int]:
        out = []
        for row in range(self.table.rowCount()):
            item = self.table.item(row, 0)
            if item is not None and item.checkState() == Qt.CheckState.Checked:
                out.append(int(item.data(Qt.ItemDataRole.UserRole)))
        return out

    # --------------------------------------------------------------- private
    def eventFilter(self, watched, event) -> bool:
        """Delete (or Backspace) in the table deletes the selected run; the window's
        Delete action (the canvas's) does not take the key while the table has focus."""
        kind = event.type()
        if watched is self.table and kind in (QEvent.Type.ShortcutOverride, QEvent.Type.KeyPress) \
                and event.key() in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace):
            event.accept()
            if kind == QEvent.Type.KeyPress:
                self._emit_selected(self.deleteRequested)
            return True
        return super().eventFilter(watched, event)

    def _emit_selected(self, signal) -> None:
        number = self.selected()
        if number is not None:
            signal.emit(number)

    def _tip(self, run: Run) -> str:
        note = self.note_of(run)
        return "\n".join(t for t in (run.label, run.message, note) if t)

    def _cells(self, run: Run) -> list[str]:
        loss = run.train_loss()
        val = run.val_loss.last()
        name = run.metric_name()
        metric = "–"
        if name:
            series = run.metrics.get(f"val_{name}") or run.metrics.get(name)
            if series is not None and series.last() is not None:
                metric = f"{name} {series.last()[1]:.3g}"
        return [run.status, _number(loss), _number(val[1] if val else None),
                metric, str(run.step), self.note_of(run)]

    def _row_of(self, number: int) -> int | None:
        for row in range(self.table.rowCount()):
            item = self.table.item(row, 0)
            if item is not None and item.data(Qt.ItemDataRole.UserRole) == number:
                return row
        return None

    def _item_changed(self, item: QTableWidgetItem) -> None:
        if not self._filling and item.column() == 0:
            self.overlaysChanged.emit(self.ticked())

    def _selection_changed(self) -> None:
        if self._filling:
            return
        rows = {index.row() for index in self.table.selectedIndexes()}
        if rows:
            item = self.table.item(min(rows), 0)
            self.runChosen.emit(int(item.data(Qt.ItemDataRole.UserRole)))
