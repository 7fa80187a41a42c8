"""New from Template: a gallery of the example graphs in ``resources/examples``.

Each entry shows the title and description from the file's ``meta`` section and
what the graph holds (layers, parameters), grouped by ``meta["group"]`` in a
teaching order. A file that cannot be read is listed with the loader's message
instead of being skipped silently, and cannot be chosen.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QVBoxLayout,
    QWidget,
)

from layerloom.graph import GraphFileError, load_graph
from layerloom.gui.readable import human_count

PATH_ROLE = Qt.ItemDataRole.UserRole
# From first steps to whole architectures; other groups follow alphabetically.
GROUP_ORDER = ("Basics", "Activations", "Losses", "Optimisation", "Deep networks",
               "Regularisation", "Architectures", "MNIST-1D")
OTHER = "Other"


@dataclass(frozen=True)
class Template:
    """One example graph as the gallery shows it."""

    path: Path
    title: str
    description: str
    group: str = OTHER
    layers: int = 0
    params: int = 0
    error: str | None = None

    @property
    def summary(self) -> str:
        if self.error:
            return f"Cannot be opened: {self.error}"
        return f"{self.layers} layers · {human_count(self.params)} parameters · {self.path.name}"


def _group_key(group: str) -> tuple[int, str]:
    if group in GROUP_ORDER:
        return (GROUP_ORDER.index(group), "")
    return (len(GROUP_ORDER) + (group == OTHER), group.lower())


def list_templates(directory: Path) -> list[Template]:
    """The ``*.loom`` files of ``directory``, by group then title; unreadable last."""
    found = []
    for path in sorted(Path(directory).glob("*.loom")):
        fallback = path.stem.replace("_", " ").capitalize()
        try:
            graph = load_graph(path)
        except GraphFileError as exc:
            found.append(Template(path, fallback, "", error=str(exc)))
            continue
        title, description, group = (_text(graph.meta, key) for key in ("title", "description", "group"))
        found.append(Template(path, title or fallback, description, group or OTHER,
                              len(graph), graph.analysis().total_params))
    return sorted(found, key=lambda t: (t.error is not None, _group_key(t.group), t.title.lower()))


def _text(meta: dict, key: str) -> str:
    value = meta.get(key)
    return value.strip() if isinstance(value, str) else ""


class TemplateGallery(QDialog):
    """Pick an example to start from (objectName ``templateGallery``)."""

    def __init__(self, directory: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("templateGallery")
        self.setWindowTitle("New from Template")
        self.resize(820, 520)
        self.templates = list_templates(directory)

        self.list = QListWidget(self)
        self.list.setObjectName("templateList")
        self.list.setMinimumWidth(300)
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.setTextElideMode(Qt.TextElideMode.ElideRight)
        self._by_path = {str(t.path): t for t in self.templates}
        group = None
        for template in self.templates:
            heading = "Cannot be opened" if template.error else template.group
            if heading != group and (len({t.group for t in self.templates}) > 1 or template.error):
                group = heading
                header = QListWidgetItem(heading, self.list)
                header.setFlags(Qt.ItemFlag.ItemIsEnabled)  # a heading: readable, not choosable
                header.setForeground(QColor("#6b7380"))
                font = header.font()
                font.setBold(True)
                header.setFont(font)
            item = QListWidgetItem(template.title, self.list)
            item.setData(PATH_ROLE, str(template.path))
            item.setToolTip(template.summary)
            if template.error:
                item.setFlags(Qt.ItemFlag.NoItemFlags)

        self.title = QLabel(self)
        self.title.setObjectName("templateTitle")
        self.title.setWordWrap(True)
        self.description = QLabel(self)
        self.description.setObjectName("templateDescription")
        self.description.setWordWrap(True)
        self.description.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.summary = QLabel(self)
        self.summary.setObjectName("templateSummary")
        self.summary.setWordWrap(True)
        self.summary.setProperty("role", "hint")

        details = QVBoxLayout()
        details.addWidget(self.title)
        details.addWidget(self.description, 1)
        details.addWidget(self.summary)
        body = QHBoxLayout()
        body.addWidget(self.list)
        body.addLayout(details, 1)

        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self
        )
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Create")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(body, 1)
        if not self.templates:
            layout.addWidget(QLabel(f"No example graphs found in {directory}.", self))
        layout.addWidget(self.buttons)

        self.list.currentItemChanged.connect(self._show)
        self.list.itemDoubleClicked.connect(self._double_clicked)
        first = next((i for i in range(self.list.count()) if self._template_at(i) is not None
                      and self._template_at(i).error is None), None)
        if first is not None:
            self.list.setCurrentRow(first)
        self._show()

    def _double_clicked(self, item: QListWidgetItem) -> None:
        if self.selected_path() is not None:
            self.accept()

    def _show(self, *_args) -> None:
        template = self._current()
        ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        ok.setEnabled(template is not None and template.error is None)
        if template is None:
            self.title.clear()
            self.description.setText("Choose an example graph to start from.")
            self.summary.clear()
            return
        self.title.setText(f"<b>{template.title}</b>")
        self.description.setText(template.description)
        self.summary.setText(template.summary)

    def _template_at(self, row: int) -> Template | None:
        item = self.list.item(row)
        return self._by_path.get(item.data(PATH_ROLE)) if item is not None else None

    def _current(self) -> Template | None:
        return self._template_at(self.list.currentRow())

    def titles(self) -> list[str]:
        """The template titles listed, in order (group headings left out)."""
        return [t.title for i in range(self.list.count()) if (t := self._template_at(i))]

    def groups(self) -> list[str]:
        """The group headings, in order."""
        return [self.list.item(i).text() for i in range(self.list.count()) if self._template_at(i) is None]

    def selected_path(self) -> Path | None:
        template = self._current()
        return template.path if template is not None and template.error is None else None
