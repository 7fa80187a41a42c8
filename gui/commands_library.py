"""The undoable insertion of a built-in or library block into the document."""

from __future__ import annotations

from collections.abc import Iterable

from layerloom.graph import Graph
from layerloom.graph.block_store import InsertEdit, StoredBlock, insert_block
from layerloom.graph.structure import check_position
from layerloom.gui.commands import Command, CompoundCommand


class InsertStoredBlock(Command):
    """Copy a stored block's definitions into the graph and add an instance. The
    node id is chosen once, so redo after undo brings back the same node."""

    def __init__(self, graph: Graph, stored: StoredBlock, position: Iterable[float] = (0.0, 0.0),
                 node_id: str | None = None, parent: CompoundCommand | None = None):
        self.graph = graph
        self.stored = stored
        self.position = check_position(position)
        # a trial on a copy picks the id and the definition names, and refuses now, not in redo
        trial = Graph()
        trial.replace_with(graph)
        edit = insert_block(trial, stored, self.position, node_id)
        self.node_id = edit.node_id
        self._edit: InsertEdit | None = None
        super().__init__(f"Add block {stored.name}", parent)

    def redo(self) -> None:
        self._edit = insert_block(self.graph, self.stored, self.position, self.node_id)

    def undo(self) -> None:
        if self._edit is not None:
            self._edit.undo()
            self._edit = None
