"""Help ▸ Getting Started and Help ▸ Layer Reference.

Getting Started is the short guide of :mod:`layerloom.backend.cli.help_cmd` (build,
wire, train, export), the text ``layerloom help`` prints. The Layer Reference lists
every registered layer type, searchable as the palette is (the registry's ranking),
and shows for the one chosen exactly what ``layerloom layers NAME`` prints: its
help, parameters, ports, shape rule asked on standard inputs, and examples. Both
windows are not modal: they stay open beside the canvas while the user builds.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QAction, QFontDatabase, QKeySequence
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QPlainTextEdit,
    QSplitter,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from layerloom.graph import CATEGORIES, REGISTRY

TYPE_ROLE = Qt.ItemDataRole.UserRole


class GettingStarted(QDialog):
    """The guide (objectName ``gettingStarted``)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        from layerloom.backend.cli.help_cmd import TITLE, markdown

        super().__init__(parent)
        self.setObjectName("gettingStarted")
        self.setWindowTitle(TITLE)
        self.browser = QTextBrowser(self)
        self.browser.setObjectName("gettingStartedText")
        self.browser.setOpenExternalLinks(False)
        self.browser.setMarkdown(markdown())
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.browser, 1)
        layout.addWidget(buttons)
        self.resize(620, 640)


class LayerReference(QDialog):
    """Every layer type, searchable (objectName ``layerReference``)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("layerReference")
        self.setWindowTitle("Layer Reference")
        self.search = QLineEdit(self)
        self.search.setObjectName("referenceSearch")
        self.search.setPlaceholderText("Search layers (name, id or keyword)")
        self.search.setClearButtonEnabled(True)
        self.list = QListWidget(self)
        self.list.setObjectName("referenceList")
        self.empty = QLabel(self)
        self.empty.setObjectName("referenceEmpty")
        self.empty.setWordWrap(True)
        self.empty.setProperty("role", "hint")
        self.empty.hide()
        self.text = QPlainTextEdit(self)
        self.text.setObjectName("referenceText")
        self.text.setReadOnly(True)
        self.text.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.text.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))

        left = QWidget(self)
        column = QVBoxLayout(left)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self.search)
        column.addWidget(self.list, 1)
        column.addWidget(self.empty)
        split = QSplitter(Qt.Orientation.Horizontal, self)
        split.addWidget(left)
        split.addWidget(self.text)
        split.setStretchFactor(1, 1)
        split.setSizes([240, 620])
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.close)
        row = QHBoxLayout()
        row.addWidget(QLabel("The same text as <code>layerloom layers NAME</code>", self), 1)
        row.addWidget(buttons)
        layout = QVBoxLayout(self)
        layout.addWidget(split, 1)
        layout.addLayout(row)
        self.resize(900, 620)

        self.search.textChanged.connect(self.filter)
        self.list.currentItemChanged.connect(self._show_current)
        self.filter("")

    def filter(self, text: str) -> None:
        """List the types matching ``text`` (ranked), or all by category."""
        from layerloom.gui.canvas.layer_rows import no_match_text

        text = text.strip()
        specs = REGISTRY.search(text) if text else sorted(REGISTRY, key=lambda s: CATEGORIES.index(s.category))
        self.list.blockSignals(True)
        try:
            self.list.clear()
            for spec in specs:
                item = QListWidgetItem(f"{spec.name}   ·   {spec.category}")
                item.setData(TYPE_ROLE, spec.type_id)
                item.setToolTip(spec.doc)
                self.list.addItem(item)
        finally:
            self.list.blockSignals(False)
        self.empty.setText(no_match_text(text) if not specs else "")
        self.empty.setVisible(not specs)
        self.list.setVisible(bool(specs))
        if specs:
            self.list.setCurrentRow(0)
        else:
            self.text.clear()

    def show_type(self, type_id: str) -> bool:
        """Show ``type_id`` (clearing a search that hides it); False if unknown."""
        for _ in range(2):
            for row in range(self.list.count()):
                if self.list.item(row).data(TYPE_ROLE) == type_id:
                    self.list.setCurrentRow(row)
                    return True
            self.search.clear()
        return False

    @property
    def shown_type(self) -> str | None:
        item = self.list.currentItem()
        return item.data(TYPE_ROLE) if item is not None else None

    def _show_current(self, item: QListWidgetItem | None, _previous=None) -> None:
        from layerloom.backend.cli.layers import detail_text

        if item is None:
            self.text.clear()
            return
        self.text.setPlainText(detail_text(REGISTRY.get(item.data(TYPE_ROLE))))


class HelpPages(QObject):
    """The Help menu's pages for ``window``; each opens once and comes to the front."""

    def __init__(self, window: QWidget) -> None:
        super().__init__(window)
        self.window = window
        self.getting_started: GettingStarted | None = None
        self.layer_reference: LayerReference | None = None
        self.actions: dict[str, QAction] = {}
        for name, text, key, tip, slot in (
            ("getting_started", "&Getting Started", QKeySequence.StandardKey.HelpContents,
             "A short guide: build, wire, train, export", self.show_getting_started),
            ("layer_reference", "&Layer Reference", "Shift+F1",
             "Every layer type: parameters, ports and shape rule (as 'layerloom layers')", self.show_layer_reference),
        ):
            action = QAction(text, window)
            action.setObjectName(f"action_{name}")
            action.setShortcut(QKeySequence(key))
            action.setStatusTip(tip)
            action.triggered.connect(lambda _checked=False, s=slot: s())
            window.addAction(action)
            self.actions[name] = action

    def add_to_menu(self, menu: QMenu) -> None:
        first = menu.actions()[0] if menu.actions() else None
        menu.insertActions(first, list(self.actions.values()))
        if first is not None:
            menu.insertSeparator(first)

    def show_getting_started(self) -> GettingStarted:
        if self.getting_started is None:
            self.getting_started = GettingStarted(self.window)
        return _present(self.getting_started)

    def show_layer_reference(self, type_id: str | None = None) -> LayerReference:
        """Open the reference, on ``type_id`` or on the layer selected on the canvas."""
        if self.layer_reference is None:
            self.layer_reference = LayerReference(self.window)
        if type_id is None:
            type_id = _selected_type(self.window)
        if type_id:
            self.layer_reference.show_type(type_id)
        return _present(self.layer_reference)


def _present(dialog: QDialog) -> QDialog:
    dialog.show()
    dialog.raise_()
    dialog.activateWindow()
    return dialog


def _selected_type(window) -> str | None:
    ids = window.selected_ids() if hasattr(window, "selected_ids") else []
    if len(ids) == 1:
        node = window.scene.graph.node(ids[0])
        return None if node.is_block else node.type
    return None
