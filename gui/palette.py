"""The layer palette: every registered layer type by category, with a search box.

Drag an entry onto the canvas to add that layer where it is dropped (the drag
carries :data:`LAYER_MIME`, the layer type id as UTF-8); double-click an entry,
or press Enter on it or in the search box, to add it at the centre of the view
(``layerActivated``). The list is built from :data:`layerloom.graph.REGISTRY`, so a new
layer declaration appears here without touching this file.
"""

from __future__ import annotations

from html import escape

from PySide6.QtCore import QMimeData, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QKeyEvent, QPainter, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QLabel,
    QLineEdit,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from layerloom.graph import REGISTRY, LayerSpec
from layerloom.gui.canvas.theme import category_colour

LAYER_MIME = "application/x-layerloom-layer"
TYPE_ROLE = Qt.ItemDataRole.UserRole


def layer_tooltip(spec: LayerSpec) -> str:
    """The layer's docs line, its parameters and the words search finds it by."""
    lines = [f"<b>{escape(spec.name)}</b> <span style='color:#777'>({escape(spec.category)})</span>",
             escape(spec.doc)]
    if spec.params:
        lines.append("Parameters: " + escape(", ".join(p.title for p in spec.params)))
    if spec.keywords:
        lines.append(f"<span style='color:#777'>Also found as: {escape(', '.join(spec.keywords))}</span>")
    lines.append("<span style='color:#777'>Drag onto the canvas, or double-click to add.</span>")
    return "<br>".join(lines)


def _dot(colour: QColor, size: int = 10) -> QIcon:
    """A round swatch in the category's colour (the same as the canvas headers)."""
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(colour)
    painter.drawEllipse(1, 1, size - 2, size - 2)
    painter.end()
    return QIcon(pixmap)


class LayerTree(QTreeWidget):
    """Categories with their layers; dragging a layer carries its type id."""

    layerActivated = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("paletteTree")
        self.setHeaderHidden(True)
        self.setRootIsDecorated(True)
        self.setIndentation(14)
        self.setUniformRowHeights(True)
        self.setDragEnabled(True)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setAnimated(False)
        self.itemActivated.connect(self._on_activated)  # double-click and Enter

    def mimeTypes(self) -> list[str]:
        return [LAYER_MIME]

    def mimeData(self, items) -> QMimeData:
        """The drag payload: the first layer's type id under :data:`LAYER_MIME`."""
        mime = QMimeData()
        for item in items:
            type_id = item.data(0, TYPE_ROLE)
            if type_id:
                mime.setData(LAYER_MIME, type_id.encode("utf-8"))
                mime.setText(type_id)
                break
        return mime

    def supportedDropActions(self) -> Qt.DropAction:
        return Qt.DropAction.CopyAction

    def _on_activated(self, item: QTreeWidgetItem, column: int) -> None:
        type_id = item.data(0, TYPE_ROLE)
        if type_id:
            self.layerActivated.emit(type_id)


class _SearchBox(QLineEdit):
    """Down moves into the list, Enter adds the highlighted (or only) match."""

    def __init__(self, palette: Palette) -> None:
        super().__init__(palette)
        self._palette = palette

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = event.key()
        if key in (Qt.Key.Key_Down, Qt.Key.Key_Up):
            self._palette.tree.setFocus()
            self._palette.tree.keyPressEvent(event)
            return
        if key == Qt.Key.Key_Escape and self.text():
            self.clear()
            return
        super().keyPressEvent(event)


class Palette(QWidget):
    """The searchable list of layer types (objectName ``palette``)."""

    layerActivated = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("palette")
        self.search = _SearchBox(self)
        self.search.setObjectName("paletteSearch")
        self.search.setPlaceholderText("Search layers  (e.g. conv, lstm, residual)")
        self.search.setClearButtonEnabled(True)
        self.search.setToolTip("Filter layers by name or keyword; Enter adds the selected one")
        self.tree = LayerTree(self)
        self.empty = QLabel("No layer matches.", self)
        self.empty.setObjectName("paletteEmpty")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.setSpacing(6)
        layout.addWidget(self.search)
        layout.addWidget(self.tree, 1)
        layout.addWidget(self.empty)
        self._items: dict[str, QTreeWidgetItem] = {}
        self._categories: dict[str, QTreeWidgetItem] = {}
        self.populate()
        self.search.textChanged.connect(self.filter)
        self.search.returnPressed.connect(self._activate_current)
        self.tree.layerActivated.connect(self.layerActivated)

    def populate(self) -> None:
        """(Re)build the list from the registry, grouped by category."""
        self.tree.clear()
        self._items.clear()
        self._categories.clear()
        for category, specs in REGISTRY.by_category().items():
            group = QTreeWidgetItem(self.tree, [category])
            group.setFlags(Qt.ItemFlag.ItemIsEnabled)
            font = group.font(0)
            font.setBold(True)
            group.setFont(0, font)
            group.setForeground(0, QColor("#4b5361"))
            group.setIcon(0, _dot(category_colour(category)))
            self._categories[category] = group
            for spec in specs:
                item = QTreeWidgetItem(group, [spec.name])
                item.setData(0, TYPE_ROLE, spec.type_id)
                item.setToolTip(0, layer_tooltip(spec))
                item.setFlags(
                    Qt.ItemFlag.ItemIsEnabled
                    | Qt.ItemFlag.ItemIsSelectable
                    | Qt.ItemFlag.ItemIsDragEnabled
                )
                self._items[spec.type_id] = item
        self.tree.expandAll()
        self.filter(self.search.text())

    def item_for(self, type_id: str) -> QTreeWidgetItem:
        """The list entry of a layer type (tests and drag sources use it)."""
        return self._items[REGISTRY.resolve(type_id)]

    def visible_type_ids(self) -> list[str]:
        """Type ids currently shown, in list order."""
        return [
            tid for tid, item in self._items.items()
            if not item.isHidden() and not item.parent().isHidden()
        ]

    def filter(self, text: str) -> None:
        """Show only layers whose name, id, category or keywords match ``text``."""
        matches = {spec.type_id for spec in REGISTRY.search(text)} if text.strip() else None
        for type_id, item in self._items.items():
            item.setHidden(matches is not None and type_id not in matches)
        first = None
        for group in self._categories.values():
            shown = [group.child(i) for i in range(group.childCount()) if not group.child(i).isHidden()]
            group.setHidden(not shown)
            if shown and first is None:
                first = shown[0]
        if matches is not None:
            self.tree.expandAll()
            self.tree.setCurrentItem(first)
        self.empty.setVisible(first is None)

    def _activate_current(self) -> None:
        item = self.tree.currentItem()
        if item is None or item.isHidden() or not item.data(0, TYPE_ROLE):
            visible = self.visible_type_ids()
            if not visible:
                return
            item = self._items[visible[0]]
        self.layerActivated.emit(item.data(0, TYPE_ROLE))
