"""Reading the ``blocks`` section of a ``.loom`` file (format version 2).

Each entry is a definition: ``name``, ``exposed`` (``[{"name", "node", "param"}]``),
and ``nodes`` and ``edges`` like the document's. A definition may contain
instances of others, defined before or after it in the file; they are built
inner first. A reference to a missing definition, a definition containing itself
(directly or through others), a duplicate name or a value of the wrong type is a
:class:`GraphFileError` naming the definition and the place.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from layerloom.graph.blocks import check_block_name
from layerloom.graph.errors import GraphError, GraphFileError
from layerloom.graph.registry import BLOCK_TYPE

if TYPE_CHECKING:
    from layerloom.graph.model import Graph

BuildNodes = Callable[..., int]


def build_blocks(graph: Graph, raw: Any, name: str, build_nodes: BuildNodes, budget: int) -> int:
    """Add the definitions in ``raw`` to ``graph.blocks``; returns the node budget left."""
    if not isinstance(raw, list):
        raise GraphFileError(name, "blocks", f"expected a list, got {_kind(raw)}")
    entries: dict[str, tuple[str, dict[str, Any]]] = {}
    for i, entry in enumerate(raw):
        where = f"blocks[{i}]"
        if not isinstance(entry, dict):
            raise GraphFileError(name, where, f"expected an object, got {_kind(entry)}")
        block = entry.get("name")
        try:
            check_block_name(block)
        except GraphError as exc:
            raise GraphFileError(name, f"{where}.name", str(exc)) from None
        where = f"blocks[{i}] (name {block!r})"
        if block in entries:
            raise GraphFileError(name, where, f"duplicate block name {block!r}; "
                                 f"{entries[block][0]} has it already")
        for key in ("nodes", "edges", "exposed"):
            if not isinstance(entry.get(key, []), list):
                raise GraphFileError(name, f"{where}.{key}", f"expected a list, got {_kind(entry[key])}")
        entries[block] = (where, entry)
    uses = {block: _uses(block, where, entry, entries, name) for block, (where, entry) in entries.items()}
    for block in entries:
        graph.blocks.add(block)
    for block in _inner_first(uses, entries, name):
        where, entry = entries[block]
        body = graph.blocks[block].body
        budget = build_nodes(body, entry.get("nodes", []), entry.get("edges", []), name, f"{where}.", budget)
        _expose(graph, block, where, entry.get("exposed", []), name)
    return budget


def _uses(block: str, where: str, entry: dict, entries: dict, name: str) -> list[str]:
    """The definitions ``block``'s nodes are instances of; a missing one is an error."""
    found = []
    for j, node in enumerate(entry.get("nodes", [])):
        if not isinstance(node, dict) or node.get("type") != BLOCK_TYPE:
            continue
        params = node.get("params", {})
        inner = params.get("block") if isinstance(params, dict) else None
        place = f"{where}.nodes[{j}]"
        if not isinstance(inner, str):
            raise GraphFileError(name, place, f"a block node needs the name of its block in params.block, "
                                 f"got {inner!r}")
        if inner not in entries:
            raise GraphFileError(name, place, f"refers to block {inner!r}, which is not defined "
                                 f"(blocks: {', '.join(entries) or 'none'})")
        found.append(inner)
    return found


def _inner_first(uses: dict[str, list[str]], entries: dict, name: str) -> list[str]:
    """Definitions in an order where each comes after those it contains; a
    definition that contains itself is an error naming the loop."""
    order, done, path = [], set(), []

    def visit(block: str) -> None:
        if block in done:
            return
        if block in path:
            loop = " > ".join([*path[path.index(block):], block])
            raise GraphFileError(name, entries[path[path.index(block)]][0],
                                 f"block {block!r} contains itself ({loop}); a block cannot be recursive")
        path.append(block)
        for inner in uses[block]:
            visit(inner)
        path.pop()
        done.add(block)
        order.append(block)

    for block in uses:
        visit(block)
    return order


def _expose(graph: Graph, block: str, where: str, exposed: list, name: str) -> None:
    for k, item in enumerate(exposed):
        place = f"{where}.exposed[{k}]"
        if not isinstance(item, dict) or not all(isinstance(item.get(f), str) for f in ("name", "node", "param")):
            raise GraphFileError(name, place, "needs text fields name, node, param")
        try:
            graph.blocks.expose(block, item["name"], item["node"], item["param"])
        except GraphError as exc:
            raise GraphFileError(name, place, str(exc)) from None


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "text", bool: "true/false", type(None): "null"}.get(
        type(value), "a number"
    )
