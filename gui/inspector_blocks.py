"""The inspector's part for a layer inside a block: expose one of its parameters
as a block parameter (each instance then sets its own value), or stop exposing
it, from the menu of the parameter's label. Both are undoable commands
(:mod:`layerloom.gui.commands_blocks`)."""

from __future__ import annotations

from PySide6.QtWidgets import QInputDialog, QMenu

from layerloom.graph import GraphError
from layerloom.gui.commands_blocks import ExposeParam, UnexposeParam


class BlockParamsMixin:
    """Needs the inspector's ``graph``, ``_ids``, ``undo_stack``, ``param_menu``,
    ``_show_edit_error`` and ``refresh_values``."""

    def _exposed_as(self) -> dict[str, str]:
        """``{inner param: block parameter}`` of the one node shown, inside a block."""
        if len(self._ids) != 1 or not self.graph.is_body:
            return {}
        definition = self.graph.blocks[self.graph.block_name]
        return {inner: name for name, (nid, inner) in definition.exposed.items() if nid == self._ids[0]}

    def ask_parameter_name(self, default: str) -> str | None:
        """The name of a block parameter being exposed; ``None`` to cancel."""
        name, ok = QInputDialog.getText(self, "Expose as block parameter",
                                        "Name of the block parameter (each instance sets its own value):",
                                        text=default)
        return name.strip() if ok else None

    def _param_menu(self, name: str, global_pos) -> QMenu | None:
        """Inside a block, a parameter label's menu: expose it, or stop exposing it."""
        if len(self._ids) != 1 or not self.graph.is_body:
            return None
        menu = QMenu(self)
        menu.setObjectName("inspectorParamMenu")
        exposed = self._exposed_as()
        if name in exposed:
            menu.addAction(f"Stop exposing '{exposed[name]}'", lambda: self.unexpose(exposed[name]))
        else:
            menu.addAction("Expose as block parameter…", lambda: self.expose(name))
        self.param_menu = menu
        menu.popup(global_pos)
        return menu

    def expose(self, param: str) -> bool:
        """Make the shown node's ``param`` a parameter of the block it is inside."""
        if len(self._ids) != 1 or not self.graph.is_body:
            return False
        name = self.ask_parameter_name(param)
        if not name:
            return False
        return self._push(lambda: ExposeParam(self.graph, name, self._ids[0], param))

    def unexpose(self, name: str) -> bool:
        return self._push(lambda: UnexposeParam(self.graph, name))

    def _push(self, build) -> bool:
        try:
            command = build()
        except GraphError as exc:
            self._show_edit_error(str(exc))
            return False
        self._show_edit_error("")
        self.undo_stack.push(command)
        self.refresh_values()
        return True
