"""Undoable block edits: make a block from a selection, ungroup a block node.

Both wrap the graph's own compound edits (:func:`~layerloom.graph.make_block`,
:func:`~layerloom.graph.ungroup`), which record what they changed so that undo
gives back the exact document. A made block keeps its definition object across
undo and redo: edits made inside it later (commands on its ``body``) still point
at the body the library holds after a redo.
"""

from __future__ import annotations

from collections.abc import Iterable

from layerloom.graph.blocks import check_block_name
from layerloom.graph.errors import GraphError
from layerloom.graph.grouping import GroupEdit, check_selection, make_block, ungroup
from layerloom.graph.model import Edge, Graph, Node
from layerloom.gui.commands import Command, CompoundCommand, _count


def default_block_name(graph: Graph, node_ids: Iterable[str]) -> str:
    """A free definition name for a block made of ``node_ids``: ``dense_block``
    when they are all one layer type, else ``block``; ``_2``, ``_3`` … when taken."""
    types = {graph.node(nid).type for nid in node_ids if graph.has_node(nid)}
    base = f"{types.pop()}_block" if len(types) == 1 else "block"
    name, i = base, 2
    while name in graph.blocks:
        name, i = f"{base}_{i}", i + 1
    return name


class MakeBlock(Command):
    """Replace the nodes ``node_ids`` of ``graph`` by one instance of a new block
    definition ``name``. Refused (a :class:`GraphError` with the reason) when
    the selection cannot become a block or the name is taken."""

    def __init__(self, graph: Graph, node_ids: Iterable[str], name: str,
                 parent: CompoundCommand | None = None):
        self.graph = graph
        self.node_ids = list(dict.fromkeys(node_ids))
        self.name = check_block_name(name)
        if name in graph.blocks:
            raise GraphError(f"a block definition {name!r} already exists; choose another name")
        check_selection(graph, self.node_ids)
        super().__init__(f"Make block {name!r} of {_count(len(self.node_ids), 'node')}", parent)
        self.node_id: str | None = None  # the block node's id, once made
        self._edit: GroupEdit | None = None
        self._block: tuple[int, Node] | None = None  # the block node and its place
        self._wires: list[tuple[int, Edge]] = []  # its wires and their places

    def redo(self) -> None:
        graph = self.graph
        if self._edit is None:
            self._edit = make_block(graph, self.node_ids, self.name)
            self.node_id = self._edit.node_id
            order = [n.id for n in graph.nodes]
            self._block = (order.index(self.node_id), graph.node(self.node_id))
            self._wires = [(i, e) for i, e in enumerate(graph.edges) if self.node_id in (e.source, e.target)]
            return
        # Again after an undo: the same definition object, so that commands made
        # inside its body afterwards find the body the library holds.
        edit = self._edit
        graph.blocks.insert(edit.definition, edit.definition_index)
        for _, node in reversed(edit.removed):
            graph.remove_node(node.id)
        index, node = self._block
        graph.add_node(node.type, node.params, node.position, node.label, node.id, index, node.training)
        for i, edge in self._wires:
            graph.add_edge(edge, i)

    def undo(self) -> None:
        self._edit.undo()


class Ungroup(Command):
    """Replace the block node ``node_id`` by a copy of its inside; the definition
    stays (other instances may use it)."""

    def __init__(self, graph: Graph, node_id: str, parent: CompoundCommand | None = None):
        self.graph = graph
        self.node_id = node_id
        node = graph.node(node_id)
        if not node.is_block:
            raise GraphError(f"{node.title} is a {node.spec.name}, not a block; only a block can be ungrouped")
        ungroup(graph.copy(), node_id)  # refused here, with the reason, before anything changes
        super().__init__(f"Ungroup {node.title}", parent)
        self._edit: GroupEdit | None = None

    @property
    def added(self) -> list[str]:
        """The ids of the nodes the block was replaced by (after redo)."""
        return list(self._edit.added) if self._edit else []

    def redo(self) -> None:
        self._edit = ungroup(self.graph, self.node_id)

    def undo(self) -> None:
        self._edit.undo()


class ExposeParam(Command):
    """Make ``node_id``'s ``inner`` parameter, inside the block whose body is
    ``body``, a block parameter called ``name``: each instance gets its own value
    (the inner one to start with)."""

    def __init__(self, body: Graph, name: str, node_id: str, inner: str,
                 parent: CompoundCommand | None = None):
        if not body.is_body:
            raise GraphError("only a parameter of a layer inside a block can be exposed; open the block first")
        self.graph = body
        self.block = body.block_name
        self.name = check_block_name(name, "parameter name")
        node = body.node(node_id)
        definition = body.blocks[self.block]
        if name in definition.exposed or name in ("block", "repeat", "shares_weights_with"):
            raise GraphError(f"block {self.block!r} already has a parameter {name!r}; choose another name")
        node.spec.param(inner)
        if (node_id, inner) in definition.exposed.values():
            raise GraphError(f"{node.title}.{inner} is already exposed in block {self.block!r}")
        if node.spec.is_input and inner in ("shape", "dtype"):
            raise GraphError(f"an Input's {inner} comes from what the block receives; it cannot be exposed")
        self.node_id, self.inner = node_id, inner
        super().__init__(f"Expose {node.title}.{inner} as {name!r}", parent)
        self._values: dict | None = None

    def redo(self) -> None:
        self.graph.blocks.expose(self.block, self.name, self.node_id, self.inner, self._values)

    def undo(self) -> None:
        self._values = self.graph.blocks.unexpose(self.block, self.name)


class UnexposeParam(Command):
    """Stop exposing the block parameter ``name`` of the block whose body is ``body``."""

    def __init__(self, body: Graph, name: str, parent: CompoundCommand | None = None):
        if not body.is_body:
            raise GraphError("only a block's parameters can be unexposed; open the block first")
        self.graph = body
        self.block = body.block_name
        definition = body.blocks[self.block]
        if name not in definition.exposed:
            raise GraphError(f"block {self.block!r} has no exposed parameter {name!r}")
        self.name = name
        self.node_id, self.inner = definition.exposed[name]
        super().__init__(f"Stop exposing {name!r}", parent)
        self._values: dict | None = None

    def redo(self) -> None:
        blocks = self.graph.blocks
        self._order = list(blocks[self.block].exposed)
        self._keys = {(g.block_name, n.id): list(n.params) for g, n in blocks.instances(self.block)}
        self._values = blocks.unexpose(self.block, self.name)

    def undo(self) -> None:
        blocks = self.graph.blocks
        blocks.expose(self.block, self.name, self.node_id, self.inner, self._values)
        # put the parameter back in its place, in the definition and on each instance
        definition = blocks[self.block]
        definition.exposed = {k: definition.exposed[k] for k in self._order}
        for g, node in blocks.instances(self.block):
            keys = self._keys.get((g.block_name, node.id))
            if keys is not None:
                node.params = {k: node.params[k] for k in keys}
