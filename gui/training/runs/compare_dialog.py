"""The table of what differs between runs: results, settings and graph changes.

One column per run (its colour in the header, as on the plots), one row per thing
that differs (:func:`layerloom.backend.runs.compare_runs`, the same rows
``layerloom runs FILE compare`` prints). Copy puts the table on the clipboard as text.
"""

from __future__ import annotations

from PySide6.QtGui import QColor, QGuiApplication, QIcon, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

SECTION_NAMES = {"result": "Result", "training": "Training", "dataset": "Dataset", "graph": "Graph"}


def _swatch(colour: str) -> QIcon:
    pixmap = QPixmap(12, 12)
    pixmap.fill(QColor(colour))
    return QIcon(pixmap)


class CompareDialog(QDialog):
    """Compare runs (objectName ``compareRunsDialog``; the table is ``compareTable``)."""

    def __init__(self, comparison, colours: list[str], graph_name: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("compareRunsDialog")
        self.setWindowTitle(f"Compare {len(comparison.columns)} runs of {graph_name}")
        self.comparison = comparison
        self.table = QTableWidget(len(comparison.rows), len(comparison.columns))
        self.table.setObjectName("compareTable")
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        for col, (label, colour) in enumerate(zip(comparison.columns, colours, strict=True)):
            item = QTableWidgetItem(_swatch(colour), label.split(" · ")[0])
            item.setToolTip(label)
            self.table.setHorizontalHeaderItem(col, item)
        for row, (section, name, values) in enumerate(comparison.rows):
            self.table.setVerticalHeaderItem(row, QTableWidgetItem(f"{SECTION_NAMES.get(section, section)}: {name}"))
            for col, value in enumerate(values):
                item = QTableWidgetItem(value)
                item.setToolTip(f"{comparison.columns[col]}\n{name}: {value}")
                self.table.setItem(row, col, item)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.horizontalHeader().setMinimumSectionSize(90)
        changed = sum(1 for s, _, _ in comparison.rows if s != "result")
        summary = QLabel(f"{changed} setting(s) and graph change(s) differ between the runs; "
                         "the results are always listed. Hover a column header for the run's settings.")
        summary.setObjectName("compareSummary")
        summary.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        copy = buttons.addButton("Copy as text", QDialogButtonBox.ButtonRole.ActionRole)
        copy.setObjectName("compareCopy")
        copy.setToolTip("Copy the table as plain text (as 'layerloom runs FILE compare' prints it)")
        copy.clicked.connect(self.copy_text)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(summary)
        layout.addWidget(self.table, 1)
        layout.addWidget(buttons)
        self.table.setCurrentItem(None)
        self.resize(min(1100, 260 + 170 * len(comparison.columns)), min(700, 150 + 31 * len(comparison.rows)))

    def copy_text(self) -> str:
        text = self.comparison.text()
        QGuiApplication.clipboard().setText(text)
        return text
