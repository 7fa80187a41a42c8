"""Undoable edits of the whole graph at once (restoring a run's graph version)."""

from __future__ import annotations

from layerloom.graph.model import Graph
from layerloom.gui.commands import Command, CompoundCommand


class ReplaceGraph(Command):
    """Put ``graph``'s content (nodes, wires, blocks, settings) on the canvas in one
    edit; undo gives back the exact graph that was there (``to_dict`` equal)."""

    def __init__(self, target: Graph, graph: Graph, text: str, parent: CompoundCommand | None = None):
        super().__init__(text, parent)
        self.target = target
        self.new = graph.copy()
        self.old: Graph | None = None

    def redo(self) -> None:
        self.old = self.target.copy()
        self.target.replace_with(self.new.copy())

    def undo(self) -> None:
        if self.old is not None:
            self.target.replace_with(self.old.copy())
