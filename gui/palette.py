"""The layer palette: every registered layer type by category, with a search box.

Drag an entry onto the canvas to add that layer where it is dropped (the drag
carries :data:`LAYER_MIME`, the layer type id as UTF-8); double-click an entry,
or press Enter on it or in the search box, to add it at the centre of the view
(``layerActivated``). The list is built from :data:`layerloom.graph.REGISTRY`, so a new
layer declaration appears here without touching this file; after the layers come
the built-in blocks ("Blocks") and the user's block library ("My blocks"), from
:func:`~layerloom.gui.block_catalog.catalog`, whose rows carry a ``"block:NAME"``
key instead of a type id (a right-click on one of the user's offers to delete it).

With well over a hundred types the palette stays short: each category folds (a
click on its row, or the arrow keys), and the folded ones stay folded in the
next session (:func:`~layerloom.gui.user_settings.user_settings`, key
:data:`FOLDED_KEY`). While the search box holds text the list is flat and
ranked as :meth:`Registry.search <layerloom.graph.registry.Registry.search>` ranks
it (an exact name first), each row naming its category; a search that finds
nothing says so instead of showing an empty list.
"""

from __future__ import annotations

from html import escape

from PySide6.QtCore import QMimeData, Qt, Signal
from PySide6.QtGui import QColor, QContextMenuEvent, QKeyEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QLabel,
    QLineEdit,
    QMenu,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from layerloom.graph import REGISTRY, LayerSpec
from layerloom.graph.block_store import LIBRARY, StoredBlock
from layerloom.gui.block_catalog import (
    BUILTIN_CATEGORY,
    LIBRARY_CATEGORY,
    block_category,
    block_key,
    catalog,
    key_block_name,
    ranked,
)
from layerloom.gui.canvas.layer_rows import NOTE_ALIGNMENT, LayerRows, category_dot, no_match_text
from layerloom.gui.user_settings import user_settings

LAYER_MIME = "application/x-layerloom-layer"
TYPE_ROLE = Qt.ItemDataRole.UserRole
CATEGORY_ROLE = Qt.ItemDataRole.UserRole + 1
FOLDED_KEY = "palette/folded"
DIM = QColor("#7a8290")


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


def block_tooltip(block: StoredBlock) -> str:
    where = "your block library" if block.source == LIBRARY else "LayerLoom's built-in blocks"
    return "<br>".join([
        f"<b>{escape(block.name)}</b> <span style='color:#777'>(block from {where})</span>",
        escape(catalog().doc(block)),
        "<span style='color:#777'>Drag onto the canvas, or double-click to add; its definition is "
        "copied into the graph.</span>"])


def read_folded() -> set[str]:
    """The categories the user folded, as saved (QSettings gives a lone string,
    a list, or nothing)."""
    value = user_settings().value(FOLDED_KEY, [])
    if isinstance(value, str):
        value = [value] if value else []
    return {str(v) for v in (value or [])}


class LayerTree(LayerRows):
    """Categories with their layers (or, while searching, the ranked matches);
    dragging a layer carries its type id."""

    layerActivated = Signal(str)
    deleteBlockRequested = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("paletteTree")
        self.setIndentation(14)
        self.setDragEnabled(True)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setExpandsOnDoubleClick(False)  # a click folds a category already
        self.setAnimated(False)
        self.itemActivated.connect(self._on_activated)  # double-click and Enter
        self.itemClicked.connect(self._on_clicked)

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
        elif item.childCount():
            item.setExpanded(not item.isExpanded())  # Enter on a category

    def _on_clicked(self, item: QTreeWidgetItem, column: int) -> None:
        if item.childCount() and not item.data(0, TYPE_ROLE):
            item.setExpanded(not item.isExpanded())

    def set_all_expanded(self, expanded: bool) -> None:
        """Unfold (``True``) or fold every category."""
        for i in range(self.topLevelItemCount()):
            item = self.topLevelItem(i)
            if item.childCount():
                item.setExpanded(expanded)

    def contextMenuEvent(self, event: QContextMenuEvent) -> None:
        """A right-click offers to fold or unfold every category at once; on one of
        the user's blocks, to add it or delete it from the library."""
        item = self.itemAt(event.pos())
        name = key_block_name(item.data(0, TYPE_ROLE)) if item is not None else None
        if name is not None:
            menu = QMenu(self)
            menu.setObjectName("blockEntryMenu")
            menu.addAction("Add to Graph", lambda: self.layerActivated.emit(block_key(name)))
            stored = catalog().get(name)
            if stored is not None and stored.source == LIBRARY:
                menu.addAction("Delete from Library…", lambda: self.deleteBlockRequested.emit(name))
            menu.exec(event.globalPos())
            return
        if not any(self.topLevelItem(i).childCount() for i in range(self.topLevelItemCount())):
            return  # a list of search results has no categories
        menu = QMenu(self)
        menu.addAction("Fold all categories", lambda: self.set_all_expanded(False))
        menu.addAction("Unfold all categories", lambda: self.set_all_expanded(True))
        menu.exec(event.globalPos())


class _SearchBox(QLineEdit):
    """Down moves into the list, Enter adds the highlighted (or first) match."""

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
    deleteBlockRequested = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("palette")
        self.search = _SearchBox(self)
        self.search.setObjectName("paletteSearch")
        self.search.setPlaceholderText("Search layers (e.g. conv, lstm)")
        self.search.setClearButtonEnabled(True)
        self.search.setToolTip("Filter layers by name or keyword, best match first; "
                               "Enter adds the selected one")
        self.tree = LayerTree(self)
        self.empty = QLabel(self)
        self.empty.setObjectName("paletteEmpty")
        self.empty.setTextFormat(Qt.TextFormat.PlainText)
        self.empty.setAlignment(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop)
        self.empty.setWordWrap(True)
        self.empty.setContentsMargins(4, 12, 4, 4)
        self.empty.hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.setSpacing(6)
        layout.addWidget(self.search)
        layout.addWidget(self.tree, 1)
        layout.addWidget(self.empty, 1)
        self._items: dict[str, QTreeWidgetItem] = {}
        self._categories: dict[str, QTreeWidgetItem] = {}
        self._folded = read_folded()
        self._restoring = False
        self._query = ""
        self.tree.itemExpanded.connect(lambda item: self._remember_fold(item, False))
        self.tree.itemCollapsed.connect(lambda item: self._remember_fold(item, True))
        self.populate()
        self.search.textChanged.connect(self.filter)
        self.search.returnPressed.connect(self._activate_current)
        self.tree.layerActivated.connect(self.layerActivated)
        self.tree.deleteBlockRequested.connect(self.deleteBlockRequested)
        catalog().changed.connect(self.populate)

    # ------------------------------------------------------------------ lists
    def populate(self) -> None:
        """(Re)build the list from the registry: grouped by category, or the
        ranked matches of the search text."""
        self.filter(self.search.text())

    def filter(self, text: str) -> None:
        """Show the layers that match ``text``, best first; all, by category, when
        ``text`` is blank."""
        self._query = text.strip()
        if self._query:
            self._show_ranked(REGISTRY.search(self._query), catalog().search(self._query))
        else:
            self._show_groups()

    def _show_groups(self) -> None:
        self._restoring = True
        try:
            self._clear()
            self.tree.setRootIsDecorated(True)
            for category, specs in REGISTRY.by_category().items():
                group = self._group(category, category)
                group.setText(1, str(len(specs)))
                group.setToolTip(0, f"{category}: {len(specs)} layers. Click to fold or unfold.")
                for spec in specs:
                    self._layer_item(group, spec)
                group.setExpanded(category not in self._folded)
            blocks = catalog().blocks()
            for category in (BUILTIN_CATEGORY, LIBRARY_CATEGORY):
                group = self._categories.get(category) or self._group(category)
                for block in blocks:
                    if block_category(block) == category:
                        self._block_item(group, block)
                group.setText(1, str(group.childCount()))
                group.setExpanded(category not in self._folded)
                if category == LIBRARY_CATEGORY:
                    group.setToolTip(0, f"Your block library ({catalog().folder()}): select a block node "
                                     "and use Edit ▸ Save Block to Library… to add one")
        finally:
            self._restoring = False
        self.tree.fit_columns()
        self._show_empty(False)

    def _show_ranked(self, specs: list[LayerSpec], blocks: list[StoredBlock] = ()) -> None:
        self._clear()
        self.tree.setRootIsDecorated(False)
        rows = [(self._block_item(self.tree, entry), block_category(entry)) if isinstance(entry, StoredBlock)
                else (self._layer_item(self.tree, entry), entry.category)
                for entry in ranked(specs, list(blocks), self._query)]
        for item, category in rows:
            item.setText(1, category)
            item.setForeground(1, DIM)
            item.setTextAlignment(1, NOTE_ALIGNMENT)
            item.setIcon(0, category_dot(category if category in REGISTRY.by_category() else "Blocks"))
        if rows:
            self.tree.setCurrentItem(self.tree.topLevelItem(0))
        self.tree.fit_columns()
        self._show_empty(not rows)

    def _group(self, category: str, dot: str = "Blocks") -> QTreeWidgetItem:
        """A bold category row (folding its entries), coloured as ``dot``."""
        group = QTreeWidgetItem(self.tree, [category, "0"])
        group.setData(0, CATEGORY_ROLE, category)
        group.setFlags(Qt.ItemFlag.ItemIsEnabled)
        font = group.font(0)
        font.setBold(True)
        group.setFont(0, font)
        group.setForeground(0, QColor("#4b5361"))
        group.setForeground(1, DIM)
        group.setTextAlignment(1, NOTE_ALIGNMENT)
        group.setIcon(0, category_dot(dot))
        group.setToolTip(0, f"{category}: click to fold or unfold.")
        self._categories[category] = group
        return group

    def _block_item(self, parent, block: StoredBlock) -> QTreeWidgetItem:
        key = block_key(block.name)
        item = QTreeWidgetItem(parent, [block.name])
        item.setData(0, TYPE_ROLE, key)
        item.setToolTip(0, block_tooltip(block))
        item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
                      | Qt.ItemFlag.ItemIsDragEnabled)
        self._items[key] = item
        return item

    def _layer_item(self, parent, spec: LayerSpec) -> QTreeWidgetItem:
        item = QTreeWidgetItem(parent, [spec.name])
        item.setData(0, TYPE_ROLE, spec.type_id)
        item.setToolTip(0, layer_tooltip(spec))
        item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
                      | Qt.ItemFlag.ItemIsDragEnabled)
        self._items[spec.type_id] = item
        return item

    def _clear(self) -> None:
        self.tree.clear()
        self._items.clear()
        self._categories.clear()

    def _show_empty(self, empty: bool) -> None:
        """The no-match line instead of an empty list."""
        if empty:
            self.empty.setText(no_match_text(self._query) + "\n\nTry fewer letters, "
                               "another word (\"fc\", \"pool\"), or clear the search to browse by category.")
            self.empty.setToolTip(self._query)
        self.tree.setVisible(not empty)
        self.empty.setVisible(empty)

    # ---------------------------------------------------------------- folding
    def category_item(self, category: str) -> QTreeWidgetItem:
        """The row of ``category`` (only while the list is grouped)."""
        return self._categories[category]

    def folded_categories(self) -> set[str]:
        """The categories folded now (kept while searching)."""
        return set(self._folded)

    def set_folded(self, category: str, folded: bool) -> None:
        """Fold or unfold ``category``; remembered for the next session."""
        if category in self._categories:
            self._categories[category].setExpanded(not folded)  # remembered by the signal
        else:
            self._store_fold(category, folded)

    def _remember_fold(self, item: QTreeWidgetItem, folded: bool) -> None:
        category = item.data(0, CATEGORY_ROLE)
        if category and not self._restoring:
            self._store_fold(category, folded)

    def _store_fold(self, category: str, folded: bool) -> None:
        if folded == (category in self._folded):
            return
        if folded:
            self._folded.add(category)
        else:
            self._folded.discard(category)
        settings = user_settings()
        settings.setValue(FOLDED_KEY, sorted(self._folded))
        settings.sync()

    # ---------------------------------------------------------------- lookups
    def item_for(self, type_id: str) -> QTreeWidgetItem:
        """The list entry of a layer type (tests and drag sources use it)."""
        if key_block_name(type_id) is not None:
            return self._items[type_id]
        return self._items[REGISTRY.resolve(type_id)]

    def visible_type_ids(self) -> list[str]:
        """Type ids of the rows shown now, in list order (best match first while
        searching; not those inside a folded category)."""
        shown = []
        for type_id, item in self._items.items():
            parent = item.parent()
            if not item.isHidden() and (parent is None or parent.isExpanded()):
                shown.append(type_id)
        return shown if self.tree.isVisibleTo(self) else []

    def _activate_current(self) -> None:
        item = self.tree.currentItem()
        if item is None or not item.data(0, TYPE_ROLE):
            visible = self.visible_type_ids()
            if not visible:
                return
            item = self._items[visible[0]]
        self.layerActivated.emit(item.data(0, TYPE_ROLE))
