"""The document: a graph of layer nodes and the wires between their ports.

:class:`Graph` is the :class:`~layerloom.graph.structure.GraphStructure` (nodes, edges,
their indexes, events and checked mutations) with what the rest of ``graph/``
knows about it: its shape inference, cached until the next change, and its plain
data, through which graphs compare equal. Shape inference and the file format's
writer read a structure, never this module, so the imports point one way.
"""

from __future__ import annotations

from typing import Any

from layerloom.graph.blocks import BlockLibrary
from layerloom.graph.graph_data import graph_to_data
from layerloom.graph.inference import Analysis, analyse
from layerloom.graph.node_fields import MAX_COORD, MAX_LABEL, check_label, check_position
from layerloom.graph.structure import EVENT_KINDS, Edge, Event, GraphStructure, Listener, Node

__all__ = [
    "EVENT_KINDS", "MAX_COORD", "MAX_LABEL", "Edge", "Event", "Graph", "Listener", "Node",
    "check_label", "check_position",
]


class Graph(GraphStructure):
    """The document: nodes, edges, metadata and settings (see
    :class:`~layerloom.graph.structure.GraphStructure`), its analysis cached until the next
    change, equal to another graph with the same plain data."""

    def __init__(self, library: BlockLibrary | None = None, block_name: str | None = None) -> None:
        super().__init__(library if library is not None else BlockLibrary(Graph))
        if library is None:
            self.blocks.root = self
        self.block_name = block_name  # set on a block definition's body
        self.instance_of: str | None = None  # set on one instance's concrete copy of a body
        self._analysis: Analysis | None = None
        self._adopted: Analysis | None = None  # the analysis replace_with takes over

    @property
    def is_body(self) -> bool:
        """Whether this graph is the inside of one of the document's block definitions."""
        return self.block_name is not None and self.block_name in self.blocks \
            and self.blocks[self.block_name].body is self

    def _emit(self, event: Event) -> None:
        self._analysis = self._adopted if event.kind == "reset" else None
        super()._emit(event)
        if self.is_body and event.kind not in ("block_added", "block_removed", "block_changed"):
            self.blocks.body_changed(self, event)

    def _check_add(self, node: Node) -> None:
        if self.is_body:
            self.blocks.check_add(self, node)

    def _check_remove(self, node: Node) -> None:
        if self.is_body:
            self.blocks.check_remove(self, node)

    def _check_label(self, node: Node, label: str) -> None:
        if self.is_body:
            self.blocks.check_label(self, node, label)

    def clear(self) -> None:
        if self.blocks.root is self:
            self.blocks.clear()
        super().clear()

    def replace_with(self, other, take: bool = False) -> None:
        """Take over ``other``'s content (see ``GraphStructure.replace_with``), and its
        analysis when it has one (a big file analysed in the background opens
        without analysing it again)."""
        self._adopted = other._analysis if isinstance(other, Graph) else None
        try:
            super().replace_with(other, take)
        finally:
            self._adopted = None

    def _take_blocks(self, other) -> None:
        if self.blocks.root is self:
            self.blocks.replace_with(other.blocks)

    def analysis(self) -> Analysis:
        """Shapes, parameter counts, costs and errors; cached until the next change."""
        if self._analysis is None:
            self._analysis = analyse(self)
        return self._analysis

    def to_dict(self) -> dict[str, Any]:
        return graph_to_data(self)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Graph):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    __hash__ = None  # mutable

    def lint_problems(self) -> list[str]:
        """The structure's disagreements, and a cached analysis that no longer
        matches the graph (a change that told nobody)."""
        problems = super().lint_problems()
        if self.blocks.root is self:
            for definition in self.blocks:
                problems += [f"block {definition.name!r}: {p}" for p in definition.body.lint_problems()]
        if not problems and self._analysis is not None and self._analysis != analyse(self):
            problems.append("analysis cache: it describes an older graph; a change did not emit its event")
        return problems
