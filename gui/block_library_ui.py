"""The main window's side of the block library: insert, save, delete.

Inserting a built-in or library block (palette double-click or drag, quick-add
popup) is one undoable command (:class:`~layerloom.gui.commands_library.InsertStoredBlock`).
"Save Block to Library…" (Edit menu) saves the selected block node's definition
to the user's library under a name the user gives, asking before it replaces a
block of that name. Deleting a library block (the palette entry's context menu)
asks first. Both read and write the folder ``layerloom blocks`` uses.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QPointF
from PySide6.QtWidgets import QInputDialog, QMainWindow, QMessageBox

from layerloom.graph import GraphError
from layerloom.graph.block_store import delete_block, save_block
from layerloom.graph.blocks import check_block_name
from layerloom.graph.fileio import describe_write_error
from layerloom.gui.block_catalog import catalog
from layerloom.gui.commands_library import InsertStoredBlock


class BlockLibraryUi(QObject):
    """Connects the palette, the canvas and the Edit menu to the block library."""

    def __init__(self, window: QMainWindow) -> None:
        super().__init__(window)
        self.window = window
        window.view.blockRequested.connect(self.insert_at)
        window.layer_palette.deleteBlockRequested.connect(self.delete)
        catalog().changed.connect(self.report_skipped)
        self.report_skipped()

    def report_skipped(self) -> None:
        """Say in the status bar which library files could not be read (each is
        skipped; the rest of the library works)."""
        warnings = catalog().warnings
        if warnings:
            more = f" (and {len(warnings) - 1} more)" if len(warnings) > 1 else ""
            self.window.show_status(f"Block library: {warnings[0]}{more}", 12000)

    # ---------------------------------------------------------------- insert
    def insert(self, name: str) -> str | None:
        """Add block ``name`` in the middle of the view."""
        view = self.window.view
        pos = view.scene_pos_for_drop(view.viewport().rect().center())
        taken = {tuple(n.position) for n in self.window.graph.nodes}
        while (pos.x(), pos.y()) in taken:
            pos += QPointF(20, 20)
        return self.insert_at(name, pos)

    def insert_at(self, name: str, pos: QPointF) -> str | None:
        """Add block ``name`` with its card's top-left at ``pos`` (scene); one undo step."""
        stored = catalog().get(name)
        if stored is None:
            self.window.show_status(f"No built-in or library block is called {name!r}; nothing added")
            return None
        scene = self.window.scene
        command = scene.push(lambda: InsertStoredBlock(self.window.graph, stored, (pos.x(), pos.y())))
        if command is None:
            return None
        scene.select_nodes([command.node_id])
        self.window.show_status(f"Added block {name} as {command.node_id}", 4000)
        return command.node_id

    # ------------------------------------------------------------------ save
    def selected_block(self) -> str | None:
        """The block definition of the one selected node, if it is a block node."""
        ids = self.window.selected_ids()
        if len(ids) != 1 or not self.window.graph.has_node(ids[0]):
            return None
        node = self.window.graph.node(ids[0])
        return node.params["block"] if node.is_block else None

    def save_selected(self, name: str | None = None, replace: bool | None = None) -> bool:
        """Save the selected block node's definition to the library.

        ``name`` (asked when ``None``) is the library name: saving under another
        name than the definition's saves a renamed copy. ``replace`` (asked when
        ``None``) says whether to replace a library block of that name.
        """
        block = self.selected_block()
        if block is None:
            self.window.show_status("Select one block node to save its block to the library")
            return False
        if name is None:
            name, ok = QInputDialog.getText(self.window, "Save Block to Library",
                                            "Name in your block library:", text=block)
            if not ok:
                return False
            name = name.strip()
        graph = self.window.graph
        try:
            check_block_name(name)
            source = graph
            if name != block:  # a renamed copy: the document keeps its own name
                from layerloom.graph import Graph

                source = Graph()
                source.replace_with(graph)
                source.blocks.rename(block, name)
            exists = (catalog().folder() / f"{name}.loom").exists()
            if exists and replace is None:
                answer = QMessageBox.question(
                    self.window, "Replace Block?",
                    f"Your block library already has a block {name!r}. Replace it?")
                replace = answer == QMessageBox.StandardButton.Yes
                if not replace:
                    return False
            path = save_block(source, name, catalog().folder(), replace=bool(replace))
        except GraphError as exc:
            self.window.show_status(str(exc), 8000)
            return False
        except OSError as exc:
            self.window.show_status(describe_write_error(exc, f"the block {name!r}"), 8000)
            return False
        catalog().reload()
        self.window.show_status(f"Saved block {name} to {path}", 6000)
        return True

    # ---------------------------------------------------------------- delete
    def delete(self, name: str, confirm: bool = True) -> bool:
        """Delete library block ``name`` (after asking, unless ``confirm`` is off).
        Graphs that use it keep their own copy of its definition."""
        if confirm:
            answer = QMessageBox.question(
                self.window, "Delete Block?",
                f"Delete {name!r} from your block library? Graphs that use it keep their copy.")
            if answer != QMessageBox.StandardButton.Yes:
                return False
        try:
            delete_block(name, catalog().folder())
        except (GraphError, OSError) as exc:
            self.window.show_status(str(exc), 8000)
            return False
        catalog().reload()
        self.window.show_status(f"Deleted block {name} from your library", 5000)
        return True
