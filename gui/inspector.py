"""The inspector: a form for the selected node(s), generated from the layer schema.

Shows the layer's name and docs, its label (rename), one editor per parameter
(:mod:`layerloom.gui.param_editors`), its input and output shapes, parameter count, cost,
and its error. Several selected nodes of one type are edited together. Every edit
is an undo command; refused values stay in the form with the reason below it.
The form follows the graph's events (undo, redo, edits on the canvas) and writes
the model's values with the editors' signals blocked, so the two never loop.
"""

from __future__ import annotations

from typing import Any

import shiboken6
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QUndoStack
from PySide6.QtWidgets import (
    QFormLayout,
    QFrame,
    QLabel,
    QLineEdit,
    QMenu,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from layerloom.graph import Event, Graph, GraphError
from layerloom.graph.model import MAX_LABEL
from layerloom.graph.registry import BLOCK_TYPE
from layerloom.gui.activation_plot import ActivationPlot
from layerloom.gui.block_editors import BlockNameEditor, SharedWeightsEditor
from layerloom.gui.commands import Rename, SetParams
from layerloom.gui.inspector_blocks import BlockParamsMixin
from layerloom.gui.inspector_training import NodeTrainingForm
from layerloom.gui.param_editors import make_editor
from layerloom.gui.qt_util import qt_listener, signals_blocked
from layerloom.gui.readable import human_bytes, human_count


def _section(text: str, parent: QWidget) -> QLabel:
    label = QLabel(text, parent)
    label.setProperty("role", "section")
    return label


class Inspector(BlockParamsMixin, QWidget):
    """Parameter form of the selected nodes (objectName ``inspector``).

    Parameters
    ----------
    graph : Graph
        The document's graph; the inspector follows its events.
    undo_stack : QUndoStack
        Where edits go, as :class:`~layerloom.gui.commands.SetParams` / ``Rename``.

    Signals
    -------
    openBlockRequested(str)
        The Open button of a block node's form was pressed.
    """

    openBlockRequested = Signal(str)

    def __init__(self, graph: Graph, undo_stack: QUndoStack, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("inspector")
        self.graph = graph
        self.undo_stack = undo_stack
        self._ids: list[str] = []
        self._form_type: tuple | None = None  # what the form was built for (see _form_key)
        self.editors: dict[str, QWidget] = {}
        self.param_labels: dict[str, QLabel] = {}
        self.param_menu: QMenu | None = None
        self._refresh = QTimer(self)
        self._refresh.setSingleShot(True)
        self._refresh.setInterval(0)
        self._refresh.timeout.connect(self._refresh_from_events)
        self._values_stale = False
        self._build()
        self._listener = qt_listener(self._on_graph_event)
        graph.subscribe(self._listener)
        self.refresh()

    # ---------------------------------------------------------------- widgets
    def _build(self) -> None:
        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)  # everything wraps
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)
        body = QWidget(scroll)
        body.setObjectName("inspectorBody")
        scroll.setWidget(body)
        layout = QVBoxLayout(body)
        layout.setContentsMargins(10, 10, 10, 10)
        layout.setSpacing(6)

        self.title = QLabel(body)
        self.title.setObjectName("inspectorTitle")
        self.title.setWordWrap(True)  # a template's long title wraps, no sideways scrolling
        self.doc = QLabel(body)
        self.doc.setObjectName("inspectorDoc")
        self.doc.setWordWrap(True)
        layout.addWidget(self.title)
        layout.addWidget(self.doc)

        self.node_box = QWidget(body)
        node_layout = QVBoxLayout(self.node_box)
        node_layout.setContentsMargins(0, 4, 0, 0)
        node_layout.setSpacing(6)
        top = QFormLayout()
        top.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.label_edit = QLineEdit(self.node_box)
        self.label_edit.setObjectName("inspectorLabel")
        self.label_edit.setMaxLength(MAX_LABEL)
        self.label_edit.setToolTip("Name shown on the canvas; empty shows the node id")
        self.label_edit.editingFinished.connect(self._rename)
        top.addRow("Label", self.label_edit)
        node_layout.addLayout(top)

        node_layout.addWidget(_section("Parameters", self.node_box))
        self.form_host = QWidget(self.node_box)
        self.form_host.setObjectName("inspectorForm")
        self.form = QFormLayout(self.form_host)
        self.form.setContentsMargins(0, 0, 0, 0)
        self.form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        node_layout.addWidget(self.form_host)
        self.no_params = QLabel("This layer has no parameters.", self.node_box)
        self.no_params.setProperty("role", "hint")
        node_layout.addWidget(self.no_params)
        self.edit_error = QLabel(self.node_box)
        self.edit_error.setObjectName("inspectorEditError")
        self.edit_error.setWordWrap(True)
        self.edit_error.setProperty("role", "error")
        self.edit_error.hide()
        node_layout.addWidget(self.edit_error)
        self.training_form = NodeTrainingForm(self.graph, self.undo_stack, self._show_edit_error, self.node_box)
        node_layout.addWidget(self.training_form)

        node_layout.addWidget(_section("Shapes and cost", self.node_box))
        facts = QFormLayout()
        facts.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.facts: dict[str, QLabel] = {}
        for key, text in (
            ("inputs", "Input"), ("outputs", "Output"), ("params", "Parameters"),
            ("flops", "FLOPs"), ("memory", "Activations"),
        ):
            value = QLabel(self.node_box)
            value.setObjectName(f"inspector_{key}")
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            value.setWordWrap(True)
            facts.addRow(text, value)
            self.facts[key] = value
        node_layout.addLayout(facts)
        self.node_error = QLabel(self.node_box)
        self.node_error.setObjectName("inspectorNodeError")
        self.node_error.setWordWrap(True)
        self.node_error.setProperty("role", "errorBox")
        self.node_error.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        node_layout.addWidget(self.node_error)
        self.activation_plot = ActivationPlot(self.node_box)
        node_layout.addWidget(self.activation_plot)
        layout.addWidget(self.node_box)

        self.hint = QLabel(body)
        self.hint.setObjectName("inspectorHint")
        self.hint.setWordWrap(True)
        self.hint.setProperty("role", "hint")
        layout.addWidget(self.hint)
        layout.addStretch(1)

    # -------------------------------------------------------------- selection
    @property
    def node_ids(self) -> list[str]:
        return list(self._ids)

    def set_selection(self, node_ids: list[str]) -> None:
        """Show the nodes ``node_ids`` (the canvas selection)."""
        ids = [nid for nid in dict.fromkeys(node_ids) if self.graph.has_node(nid)]
        if ids == self._ids:
            return
        self._ids = ids
        self._show_edit_error("")
        self.refresh()

    def set_graph(self, graph: Graph) -> None:
        """Follow another graph (the document keeps one, but a caller may swap)."""
        self.graph.unsubscribe(self._listener)
        self.graph = graph
        self.training_form.graph = graph
        graph.subscribe(self._listener)
        self._ids = []
        self.refresh()

    def _on_graph_event(self, event: Event) -> None:
        if event.kind == "reset":
            self._ids = []
            self._values_stale = True
        elif event.kind == "node_removed" and event.node_id in self._ids:
            self._ids.remove(event.node_id)
            self._values_stale = True
        elif event.kind == "node_changed" and event.node_id in self._ids:
            self._show_edit_error("")
            self._values_stale = True
        elif event.kind == "block_changed" or (
                event.kind in ("node_added", "node_removed") and "shares_weights_with" in self.editors):
            self._values_stale = True  # exposed parameters; the instances to share weights with
        self._refresh.start()  # shapes and costs depend on the whole graph: coalesce

    def _refresh_from_events(self) -> None:
        # Other nodes' changes only move shapes and costs; leave the editors alone
        # so that text being typed (or refused) is not overwritten.
        self.refresh(values=self._values_stale)

    # ---------------------------------------------------------------- display
    def refresh(self, values: bool = True) -> None:
        """Rebuild (when the type changed) and refill the form from the model;
        with ``values=False`` only the shapes, costs and errors."""
        self._refresh.stop()
        self._values_stale = False
        nodes = [self.graph.node(nid) for nid in self._ids if self.graph.has_node(nid)]
        types = {_form_key(n.spec) for n in nodes}
        if not nodes or len(types) > 1:
            self._show_no_form(nodes)
            return
        spec = nodes[0].spec
        if len({n.params.get("block") for n in nodes}) > 1:  # instances of different blocks
            self._show_no_form(nodes)
            return
        if self._form_type != _form_key(spec):
            self._rebuild_form(spec)
            values = True
        elif not values and not self.node_box.isHidden():
            self._show_facts(nodes)
            return
        self.node_box.show()
        self.hint.hide()
        if len(nodes) == 1:
            self.title.setText(spec.name)
            self.doc.setText(spec.doc)
        else:
            self.title.setText(f"{len(nodes)} × {spec.name}")
            self.doc.setText(f"{spec.doc}\nEdits apply to all {len(nodes)} selected nodes.")
        self.label_edit.setEnabled(len(nodes) == 1)
        with signals_blocked(self.label_edit):
            self.label_edit.setText(nodes[0].label if len(nodes) == 1 else "")
            self.label_edit.setPlaceholderText(nodes[0].id if len(nodes) == 1 else "several nodes")
        self.refresh_values()
        self._show_facts(nodes)
        self.activation_plot.show_for(self.graph, nodes[0].id if len(nodes) == 1 else None)

    def _rebuild_form(self, spec) -> None:
        while self.form.rowCount():
            self.form.removeRow(0)
        self.editors.clear()
        self.param_labels.clear()
        for param in spec.params:
            editor = self._make_editor(param, spec)
            editor.edited.connect(lambda value, name=param.name: self.apply(name, value))
            editor.rejected.connect(self._show_edit_error)
            label = QLabel(param.title.capitalize(), self.form_host)
            label.setToolTip(editor.toolTip())
            label.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
            label.customContextMenuRequested.connect(
                lambda pos, name=param.name, lab=label: self._param_menu(name, lab.mapToGlobal(pos)))
            self.param_labels[param.name] = label
            label.setBuddy(editor)
            self.form.addRow(label, editor)
            self.editors[param.name] = editor
        self.no_params.setVisible(not spec.params)
        self.form_host.setVisible(bool(spec.params))
        self._form_type = _form_key(spec)

    def _make_editor(self, param, spec) -> QWidget:
        if spec.type_id == BLOCK_TYPE and param.name == "block":
            editor = BlockNameEditor(param, self.form_host)
            editor.openRequested.connect(lambda: self._ids and self.openBlockRequested.emit(self._ids[0]))
            return editor
        if spec.type_id == BLOCK_TYPE and param.name == "shares_weights_with":
            return SharedWeightsEditor(param, self.form_host)
        return make_editor(param, self.form_host)

    def _show_no_form(self, nodes) -> None:
        self.node_box.hide()
        self.hint.show()
        if not nodes and self.graph.is_body:
            name = self.graph.block_name
            count = len(self.graph.blocks.instances(name))
            self.title.setText(f"Block '{name}'")
            self.doc.setText(f"The inside of block '{name}', used by {count} "
                             f"instance{'s' if count != 1 else ''}: edits here apply to every one.")
            self.doc.show()
            self.hint.setText("Its Input nodes are the block's input ports and its Output nodes its "
                              "output ports (named by their labels). Esc goes back out.")
            return
        if not nodes:
            meta = self.graph.meta
            title = meta.get("title") if isinstance(meta.get("title"), str) else ""
            self.title.setText(title or "No selection")
            description = meta.get("description") if isinstance(meta.get("description"), str) else ""
            self.doc.setText(description)
            self.doc.setVisible(bool(description))
            self.hint.setText(
                "Select a layer on the canvas to see and edit its parameters. "
                "Drag layers from the palette to add them."
            )
            return
        self.doc.show()
        names = sorted({n.spec.name for n in nodes})
        self.title.setText(f"{len(nodes)} nodes selected")
        self.doc.setText(", ".join(names))
        total = sum(self.graph.analysis().nodes[n.id].params for n in nodes)
        self.hint.setText(
            f"They have {human_count(total)} parameters together. Select nodes of one type "
            "to edit their parameters together."
        )

    def _show_facts(self, nodes) -> None:
        analysis = self.graph.analysis()
        infos = [analysis.nodes[n.id] for n in nodes]
        self.doc.show()
        if len(nodes) == 1:
            info = infos[0]
            ins = ", ".join(f"{p}: {t}" if len(info.inputs) > 1 else str(t) for p, t in info.inputs.items())
            outs = ", ".join(str(t) for t in info.outputs.values())
            self.facts["inputs"].setText(ins or "—")
            self.facts["outputs"].setText(outs or ("—" if nodes[0].output_ports() else "model output"))
        else:
            self.facts["inputs"].setText("—")
            self.facts["outputs"].setText("—")
        if any(i.error or i.blocked for i in infos):  # not computed: do not claim zero
            for key in ("params", "flops", "memory"):
                self.facts[key].setText("—")
        else:
            frozen = all(n.training.get("trainable") is False for n in nodes)
            self.facts["params"].setText(human_count(sum(i.params for i in infos)) + (" (frozen)" if frozen else ""))
            self.facts["flops"].setText(human_count(sum(i.flops for i in infos)) + " per sample")
            self.facts["memory"].setText(human_bytes(sum(i.activation_bytes for i in infos)) + " per sample")
        errors = [i.message for i in infos if i.error]
        blocked = any(i.blocked for i in infos)
        if errors:
            self.node_error.setText("\n".join(errors))
        elif blocked:
            self.node_error.setText("No shapes: a layer upstream has an error; fix it first.")
        self.node_error.setVisible(bool(errors) or blocked)

    def _show_edit_error(self, message: str) -> None:
        self.edit_error.setText(message)
        self.edit_error.setVisible(bool(message))

    # ------------------------------------------------------------------ edits
    def apply(self, name: str, value: Any) -> bool:
        """Set parameter ``name`` to ``value`` on every shown node, as one undo step.

        A value the schema refuses (:class:`~layerloom.graph.ParamError`) or a change that
        would remove a wired port (:class:`~layerloom.graph.GraphError`) is not applied; its
        message is shown under the form. Returns True when the edit was pushed.
        """
        if not self._ids or not shiboken6.isValid(self):  # an editor losing focus as the window goes
            return False
        try:
            command = SetParams(self.graph, self._ids, {name: value})
        except GraphError as exc:
            self._show_edit_error(str(exc))
            editor = self.editors.get(name)
            if hasattr(editor, "set_invalid"):
                editor.set_invalid(True)
            if not getattr(editor, "holds_text", False):  # spin, check, combo: show the model again
                QTimer.singleShot(0, self.refresh_values)
            return False
        self._show_edit_error("")
        new = command.values[name]
        if all(self.graph.node(nid).params[name] == new for nid in self._ids):
            self.refresh_values()  # "3" typed over (3, 3): nothing changes, show it canonically
            return False
        self.undo_stack.push(command)
        return True

    def refresh_values(self) -> None:
        """Write the model's values into the editors (signals blocked)."""
        nodes = [self.graph.node(nid) for nid in self._ids if self.graph.has_node(nid)]
        if not nodes or self._form_type != _form_key(nodes[0].spec):
            return
        self.training_form.show_nodes(nodes)
        exposed = self._exposed_as()
        for param in nodes[0].spec.params:
            values = [n.params[param.name] for n in nodes]
            editor = self.editors[param.name]
            title = param.title.capitalize()
            self.param_labels[param.name].setText(
                f"{title} ◆ {exposed[param.name]}" if param.name in exposed else title)
            if isinstance(editor, SharedWeightsEditor):
                editor.set_choices(self.graph, self._ids)
            editor.set_value(values[0])
            if any(v != values[0] for v in values):
                editor.set_mixed()

    def _rename(self) -> None:
        if len(self._ids) != 1:
            return
        node = self.graph.node(self._ids[0])
        text = self.label_edit.text().strip()
        if text == node.label:
            return
        try:
            command = Rename(self.graph, node.id, text)
        except GraphError as exc:
            self._show_edit_error(str(exc))
            return
        self._show_edit_error("")
        self.undo_stack.push(command)


def _form_key(spec) -> tuple:
    """What a form is built for: the layer type; for a block node also its
    definition and parameters (exposing one adds a field)."""
    if spec.type_id == BLOCK_TYPE:
        return (spec.type_id, spec.name, tuple(p.name for p in spec.params))
    return (spec.type_id,)
