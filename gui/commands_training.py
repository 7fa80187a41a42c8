"""Undoable edits of nodes' training settings: trainable (freeze) and initialisation."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from layerloom.graph.errors import GraphError
from layerloom.graph.model import Graph
from layerloom.graph.node_training import NODE_TRAINING, check_training
from layerloom.gui.commands import Command, CompoundCommand, _count


class SetNodeTraining(Command):
    """Set training settings (``{"trainable": False}``, ``{"init": "orthogonal"}``) on
    one or more nodes; checked when built, so a refused value raises before it is
    pushed. Undo gives each node its own old settings back."""

    def __init__(self, graph: Graph, node_ids: Iterable[str], values: Mapping[str, Any],
                 parent: CompoundCommand | None = None):
        self.graph = graph
        self.node_ids = list(dict.fromkeys(node_ids))
        if not self.node_ids:
            raise GraphError("no nodes to change")
        for nid in self.node_ids:
            node = graph.node(nid)
            check_training(node.spec, {**node.training, **values})
        self.values = dict(values)
        nodes = [graph.node(nid) for nid in self.node_ids]
        target = nodes[0].title if len(nodes) == 1 else _count(len(nodes), "node")
        super().__init__(_text(self.values, target), parent)
        self._old: dict[str, dict[str, Any]] = {}

    def redo(self) -> None:
        self._old = {nid: self.graph.set_training(nid, self.values) for nid in self.node_ids}

    def undo(self) -> None:
        for nid in reversed(self.node_ids):
            self.graph.set_training(nid, self._old[nid], replace=True)


def _text(values: Mapping[str, Any], target: str) -> str:
    if set(values) == {"trainable"}:
        return f"{'Unfreeze' if values['trainable'] else 'Freeze'} {target}"
    titles = ", ".join(p.title for p in NODE_TRAINING if p.name in values)
    return f"Set {titles} of {target}"
