"""The inspector's editors for a block node's own parameters.

``block`` (which definition the node is an instance of) is shown, not edited,
with a button that opens the block; ``shares_weights_with`` is a choice among the
other instances of the same definition in the same graph. The other parameters
(``repeat``, exposed ones) use the ordinary editors of
:mod:`layerloom.gui.param_editors`. Both classes speak the editors' protocol:
``edited(value)``, ``rejected(reason)``, :meth:`set_value`, :meth:`set_mixed`.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QPushButton, QWidget

from layerloom.graph.model import Graph
from layerloom.graph.params import Param
from layerloom.gui.param_editors import tooltip_for
from layerloom.gui.qt_util import signals_blocked

OWN_WEIGHTS = "its own weights"


class BlockNameEditor(QWidget):
    """The definition's name and an Open button (``openRequested``)."""

    edited = Signal(object)  # never: the definition of a node is not changed here
    rejected = Signal(str)
    openRequested = Signal()

    def __init__(self, param: Param, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.param = param
        self.setObjectName(f"param_{param.name}")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.name = QLabel(self)
        self.name.setObjectName("inspectorBlockName")
        self.open_button = QPushButton("Open", self)
        self.open_button.setObjectName("inspectorOpenBlock")
        self.open_button.setToolTip("Show the inside of this block (double-click the node, or Enter)")
        self.open_button.clicked.connect(self.openRequested.emit)
        layout.addWidget(self.name, 1)
        layout.addWidget(self.open_button)
        self.setToolTip("The block definition this node is an instance of; edits inside it apply "
                        "to every instance")

    def set_value(self, value: Any) -> None:
        self.name.setText(str(value))

    def set_mixed(self) -> None:
        self.name.setText("several")


class SharedWeightsEditor(QComboBox):
    """``its own weights`` or the id of another instance of the same block."""

    edited = Signal(object)
    rejected = Signal(str)

    def __init__(self, param: Param, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.param = param
        self.setObjectName(f"param_{param.name}")
        self.setToolTip(tooltip_for(param) + "\nThe same layers are called twice: their parameters are "
                        "counted and trained once")
        self._ids: list[str] = [""]
        self.addItem(OWN_WEIGHTS)
        self.activated.connect(lambda index: self.edited.emit(self._ids[index]))

    def set_choices(self, graph: Graph, node_ids: list[str]) -> None:
        """Offer the other instances of the shown nodes' block in ``graph``."""
        nodes = [graph.node(nid) for nid in node_ids if graph.has_node(nid)]
        names = {n.params.get("block") for n in nodes}
        others = [n for n in graph.nodes if n.is_block and n.params.get("block") in names and n.id not in node_ids]
        ids = [""] + [n.id for n in others]
        if ids == self._ids:
            return
        current = self.currentIndex()
        with signals_blocked(self):
            self.clear()
            self.addItem(OWN_WEIGHTS)
            for node in others:
                self.addItem(node.title if node.title == node.id else f"{node.title} ({node.id})")
            self._ids = ids
            self.setCurrentIndex(min(max(current, 0), len(ids) - 1))

    def set_value(self, value: Any) -> None:
        with signals_blocked(self):
            if value not in self._ids:  # a file naming an instance not offered: show it anyway
                self.addItem(f"{value} (not an instance of this block)")
                self._ids.append(value)
            self.setCurrentIndex(self._ids.index(value))

    def set_mixed(self) -> None:
        self.setToolTip(tooltip_for(self.param) + "\n(the selected nodes have different values)")
