"""The inspector's Training section: whether the selected nodes train, and how their
weights start.

Its form is made from the per-node declaration (:mod:`layerloom.graph.node_training`)
with the same editors as the layer parameters: Trainable (off freezes the node:
no gradient, not in the optimizer), Initialisation and its std. Every edit is a
:class:`~layerloom.gui.commands_training.SetNodeTraining` undo command; the form is
refilled from the model with the editors' signals blocked.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtGui import QUndoStack
from PySide6.QtWidgets import QFormLayout, QLabel, QVBoxLayout, QWidget

from layerloom.graph import Graph, GraphError
from layerloom.graph.node_training import applicable, full
from layerloom.gui.commands_training import SetNodeTraining
from layerloom.gui.param_editors import make_editor
from layerloom.gui.qt_util import signals_blocked


class NodeTrainingForm(QWidget):
    """Trainable, initialisation and init std of the shown nodes (hidden for nodes
    without parameters)."""

    def __init__(self, graph: Graph, undo_stack: QUndoStack, on_error, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("inspectorTraining")
        self.graph = graph
        self.undo_stack = undo_stack
        self.on_error = on_error  # shows a refused value's message under the form
        self.node_ids: list[str] = []
        self.editors: dict[str, QWidget] = {}
        self._key: tuple = ()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.heading = QLabel("Training", self)
        self.heading.setProperty("role", "section")
        layout.addWidget(self.heading)
        self.form = QFormLayout()
        self.form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        layout.addLayout(self.form)
        self.hide()

    def show_nodes(self, nodes) -> None:
        """Fill the form for ``nodes`` (all of one type), or hide it."""
        self.node_ids = [n.id for n in nodes]
        params = applicable(nodes[0].spec) if nodes else ()
        if not params:
            self.hide()
            return
        key = tuple(p.name for p in params)
        if key != self._key:
            self._build(params)
        values = [full(n.training) for n in nodes]
        for name, editor in self.editors.items():
            with signals_blocked(editor):
                editor.set_value(values[0][name])
                if any(v[name] != values[0][name] for v in values):
                    editor.set_mixed()
        if "init_std" in self.editors:
            normal = all(v["init"] == "normal" for v in values)
            self.editors["init_std"].setEnabled(normal)
            self.form.labelForField(self.editors["init_std"]).setEnabled(normal)
        self.show()

    def _build(self, params) -> None:
        while self.form.rowCount():
            self.form.removeRow(0)
        self.editors.clear()
        for param in params:
            editor = make_editor(param, self)
            editor.setObjectName(f"training_{param.name}")
            editor.edited.connect(lambda value, name=param.name: self.apply(name, value))
            editor.rejected.connect(self.on_error)
            label = QLabel(param.title.capitalize(), self)
            label.setToolTip(editor.toolTip())
            label.setBuddy(editor)
            self.form.addRow(label, editor)
            self.editors[param.name] = editor
        self._key = tuple(p.name for p in params)

    def apply(self, name: str, value: Any) -> bool:
        """Set ``name`` to ``value`` on every shown node, as one undo step."""
        if not self.node_ids:
            return False
        try:
            command = SetNodeTraining(self.graph, self.node_ids, {name: value})
        except GraphError as exc:
            self.on_error(str(exc))
            return False
        self.on_error("")
        if all(full(self.graph.node(nid).training)[name] == full({name: value})[name]
               for nid in self.node_ids):
            return False
        self.undo_stack.push(command)
        return True
