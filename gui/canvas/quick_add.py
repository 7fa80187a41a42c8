"""The quick-add popup: a small layer search that opens on the canvas at the cursor.

Tab, or a double-click on empty canvas, or a wire let go over empty canvas opens
it (see :class:`~layerloom.gui.canvas.view.GraphView`). Typing narrows the list, best
match first (:meth:`Registry.search <layerloom.graph.registry.Registry.search>`); Up,
Down, Page Up and Page Down move; after the layers come the built-in and library
blocks (``"block:NAME"`` keys, see :mod:`~layerloom.gui.block_catalog`). Enter or a
click adds the highlighted layer
(``chosen``); Escape, a click elsewhere or the focus going away closes it
(``closed``). The popup is a child of the canvas, kept whole inside it: near the
right or bottom edge it opens to the left of or above the cursor.
"""

from __future__ import annotations

from PySide6.QtCore import QPoint, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFocusEvent, QKeyEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QGraphicsDropShadowEffect,
    QLabel,
    QLineEdit,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from layerloom.graph.block_store import StoredBlock
from layerloom.graph.registry import REGISTRY, LayerSpec
from layerloom.gui.block_catalog import block_category, block_key, catalog, key_block_name, ranked
from layerloom.gui.canvas.layer_rows import (
    NOTE_ALIGNMENT,
    LayerRows,
    category_dot,
    elide_lines,
    no_match_text,
)

TYPE_ROLE = Qt.ItemDataRole.UserRole
POPUP_SIZE = QSize(300, 300)
EDGE_MARGIN = 6  # pixels kept between the popup and the canvas's edges
CURSOR_GAP = 12  # pixels between the cursor and the popup: the port or wire there stays in sight
MOVE_KEYS = (Qt.Key.Key_Up, Qt.Key.Key_Down, Qt.Key.Key_PageUp, Qt.Key.Key_PageDown)
DIM = QColor("#7a8290")


class _SearchLine(QLineEdit):
    """Keeps the focus while the popup is open; hands the moving keys to the list."""

    def __init__(self, popup: QuickAdd) -> None:
        super().__init__(popup)
        self._popup = popup

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = event.key()
        if key == Qt.Key.Key_Escape:
            self._popup.close_popup()
        elif key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self._popup.choose_current()
        elif key in MOVE_KEYS:
            self._popup.list.keyPressEvent(event)
        elif key in (Qt.Key.Key_Tab, Qt.Key.Key_Backtab):
            event.accept()  # the popup keeps the focus
        else:
            super().keyPressEvent(event)

    def focusOutEvent(self, event: QFocusEvent) -> None:
        super().focusOutEvent(event)
        if event.reason() != Qt.FocusReason.PopupFocusReason:
            self._popup.close_popup()  # the user went elsewhere


class QuickAdd(QFrame):
    """The popup (objectName ``quickAdd``): ``search`` above the ranked ``list``.

    Signals
    -------
    chosen(str)
        The user picked this layer type; the popup is hidden already.
    closed()
        The popup closed (right after ``chosen`` too).
    """

    chosen = Signal(str)
    closed = Signal()

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.setObjectName("quickAdd")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setAutoFillBackground(True)
        self.context = QLabel(self)
        self.context.setObjectName("quickAddContext")
        self.context.setTextFormat(Qt.TextFormat.PlainText)
        self.search = _SearchLine(self)
        self.search.setObjectName("quickAddSearch")
        self.search.setPlaceholderText("Search layers…")
        self.search.setClearButtonEnabled(False)
        self.setFocusProxy(self.search)  # a click on the list keeps the focus in the search
        self.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self.list = LayerRows(self)
        self.list.setObjectName("quickAddList")
        self.list.setRootIsDecorated(False)
        self.list.setIndentation(0)
        self.list.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.list.itemClicked.connect(lambda item, _column: self._choose(item))
        self.list.currentItemChanged.connect(self._show_doc)
        self.empty = QLabel(self)
        self.empty.setObjectName("quickAddEmpty")
        self.empty.setTextFormat(Qt.TextFormat.PlainText)
        self.empty.setAlignment(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop)
        self.empty.setWordWrap(True)
        self.doc = QLabel(self)
        self.doc.setObjectName("quickAddDoc")
        self.doc.setTextFormat(Qt.TextFormat.PlainText)
        self.doc.setWordWrap(True)
        self.doc.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.doc.setFixedHeight(self.doc.fontMetrics().lineSpacing() * 2 + 4)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 8)
        layout.setSpacing(5)
        layout.addWidget(self.context)
        layout.addWidget(self.search)
        layout.addWidget(self.list, 1)
        layout.addWidget(self.empty, 1)
        layout.addWidget(self.doc)
        shadow = QGraphicsDropShadowEffect(self)
        shadow.setBlurRadius(18)
        shadow.setOffset(0, 3)
        shadow.setColor(QColor(15, 23, 42, 70))
        self.setGraphicsEffect(shadow)
        self.search.textChanged.connect(self._refill)
        self.hide()

    # ------------------------------------------------------------------ open
    def open_at(self, point: QPoint, context: str = "") -> None:
        """Show the popup with its corner at ``point`` (parent coordinates), fully
        inside the parent; ``context`` says what the new layer will be wired to."""
        self.context.setText(context or "Add a layer here")
        self.context.setToolTip(context)
        self.search.clear()
        self._refill("")
        area = self.parentWidget().rect()
        width = min(POPUP_SIZE.width(), area.width() - 2 * EDGE_MARGIN)
        height = min(POPUP_SIZE.height(), area.height() - 2 * EDGE_MARGIN)
        self.resize(max(width, 120), max(height, 120))
        self.move(_inside(point.x() + CURSOR_GAP, point.x() - CURSOR_GAP, self.width(), area.width()),
                  _inside(point.y() - CURSOR_GAP, point.y() + CURSOR_GAP, self.height(), area.height()))
        self.show()
        self.raise_()
        self._show_doc(self.list.currentItem())  # elided for the width it has now
        self.search.setFocus(Qt.FocusReason.PopupFocusReason)

    def close_popup(self) -> None:
        """Hide, handing the keyboard back to the canvas if the popup had it; says
        ``closed`` once."""
        if self._hide():
            self.closed.emit()

    def _hide(self) -> bool:
        """Hide (whether it was shown). The focus goes to the canvas first, or
        else Qt would pass it on to whatever widget follows in the tab order."""
        if self.isHidden():
            return False
        if self.search.hasFocus():
            self.parentWidget().setFocus(Qt.FocusReason.PopupFocusReason)
        self.hide()
        return True

    # ------------------------------------------------------------------ list
    def _refill(self, text: str) -> None:
        """The matches of ``text``, best first (every layer, by category, for none)."""
        query = text.strip()
        specs = REGISTRY.search(query) if query else [
            spec for group in REGISTRY.by_category().values() for spec in group]
        blocks = catalog().search(query) if query else catalog().blocks()
        self.list.clear()
        specs = ranked(specs, blocks, query) if query else specs + blocks
        for entry in specs:
            if isinstance(entry, StoredBlock):
                self._add_block_row(entry)
            else:
                self._add_row(entry)
        self.list.fit_columns()
        if specs:
            self.list.setCurrentItem(self.list.topLevelItem(0))
        else:
            self.empty.setText(no_match_text(query))
            self.doc.clear()
        self.list.setVisible(bool(specs))
        self.empty.setVisible(not specs)

    def _add_row(self, spec: LayerSpec) -> None:
        item = QTreeWidgetItem(self.list, [spec.name, spec.category])
        item.setData(0, TYPE_ROLE, spec.type_id)
        item.setIcon(0, category_dot(spec.category))
        item.setForeground(1, DIM)
        item.setTextAlignment(1, NOTE_ALIGNMENT)
        item.setToolTip(0, spec.doc)

    def _add_block_row(self, block: StoredBlock) -> None:
        category = block_category(block)
        item = QTreeWidgetItem(self.list, [block.name, category])
        item.setData(0, TYPE_ROLE, block_key(block.name))
        item.setIcon(0, category_dot("Blocks"))
        item.setForeground(1, DIM)
        item.setTextAlignment(1, NOTE_ALIGNMENT)
        item.setToolTip(0, catalog().doc(block))

    def _show_doc(self, item: QTreeWidgetItem | None, _previous=None) -> None:
        if item is None:
            self.doc.clear()
            return
        key = item.data(0, TYPE_ROLE)
        name = key_block_name(key)
        block = catalog().get(name) if name is not None else None
        text = catalog().doc(block) if block is not None else REGISTRY.get(key).doc
        self.doc.setText(elide_lines(text, self.doc.fontMetrics(), self.doc.width()))

    def visible_type_ids(self) -> list[str]:
        """The listed layer types, in order (empty when nothing matches)."""
        if self.list.isHidden():
            return []
        return [self.list.topLevelItem(i).data(0, TYPE_ROLE) for i in range(self.list.topLevelItemCount())]

    def current_type_id(self) -> str | None:
        item = self.list.currentItem()
        return item.data(0, TYPE_ROLE) if item is not None and not self.list.isHidden() else None

    # ---------------------------------------------------------------- choose
    def choose_current(self) -> None:
        """Enter: add the highlighted layer (nothing when nothing matches)."""
        item = self.list.currentItem()
        if item is not None and not self.list.isHidden():
            self._choose(item)

    def _choose(self, item: QTreeWidgetItem) -> None:
        type_id = item.data(0, TYPE_ROLE)
        if self._hide():
            self.chosen.emit(type_id)
            self.closed.emit()


def _inside(after: int, before: int, size: int, room: int) -> int:
    """Where a popup of ``size`` starts along one axis of ``room``: at ``after``
    when it fits there, else ending at ``before``, and never past either edge."""
    start = after if after + size + EDGE_MARGIN <= room else before - size
    return max(EDGE_MARGIN, min(start, room - size - EDGE_MARGIN))
