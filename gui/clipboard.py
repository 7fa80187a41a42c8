"""Copy and paste of canvas selections as plain data.

A copied selection is the ``nodes`` and ``edges`` part of the ``.loom`` data of
the selected nodes (the wires between them only). It travels through the system
clipboard as JSON under :data:`MIME_TYPE`, so it can come back from another
LayerLoom window, or be anything at all: pasting treats it like a file, builds it
into a scratch graph (every type, value and wire checked by the graph itself) and
only then adds it to the document.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from PySide6.QtCore import QMimeData

from layerloom.graph.errors import GraphError, GraphFileError
from layerloom.graph.fileformat import build_graph, graph_to_data
from layerloom.graph.model import Graph
from layerloom.graph.registry import BLOCK_TYPE, REGISTRY

MIME_TYPE = "application/x-layerloom-nodes"
MAX_PASTE_BYTES = 4 * 1024 * 1024


def copy_selection(graph: Graph, node_ids: Iterable[str]) -> dict[str, Any]:
    """Plain data for the nodes ``node_ids`` and the wires among them."""
    chosen = set(node_ids)
    data = graph_to_data(graph)
    return {
        "nodes": [n for n in data["nodes"] if n["id"] in chosen],
        "edges": [e for e in data["edges"] if e["source"] in chosen and e["target"] in chosen],
    }


def to_mime(data: Mapping[str, Any]) -> QMimeData:
    """Mime data holding ``data`` as JSON (also as text, for pasting elsewhere)."""
    text = json.dumps(data, indent=1, ensure_ascii=False)
    mime = QMimeData()
    mime.setData(MIME_TYPE, text.encode("utf-8"))
    mime.setText(text)
    return mime


def from_mime(mime: QMimeData) -> dict[str, Any] | None:
    """The copied data in ``mime``, or ``None`` when it holds no LayerLoom nodes.

    Raises :class:`GraphError` when the data is LayerLoom's but unreadable.
    """
    if not mime.hasFormat(MIME_TYPE):
        return None
    raw = bytes(mime.data(MIME_TYPE).data())
    if len(raw) > MAX_PASTE_BYTES:
        raise GraphError(f"the clipboard holds {len(raw):,} bytes of nodes; the limit is {MAX_PASTE_BYTES:,}")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise GraphError("the clipboard's LayerLoom data is not valid JSON; copy the nodes again") from None
    if not isinstance(data, dict):
        raise GraphError("the clipboard's LayerLoom data is not an object; copy the nodes again")
    return data


def build_paste(graph: Graph, data: Mapping[str, Any], offset: Iterable[float]) -> Graph:
    """A scratch graph of the nodes in ``data`` with ids that are free in ``graph``,
    shifted by ``offset``, and the wires among them.

    Raises :class:`GraphError` naming the problem when ``data`` is not valid.
    """
    nodes, edges = data.get("nodes", []), data.get("edges", [])
    if not isinstance(nodes, list) or not isinstance(edges, list):
        raise GraphError("pasted data needs lists 'nodes' and 'edges'")
    dx, dy = offset
    renamed: dict[str, str] = {}
    taken = {n.id for n in graph.nodes}
    used: set[str] = set()  # block definitions the pasted block nodes are instances of
    new_nodes = []
    for raw in nodes:
        if not isinstance(raw, dict) or not isinstance(raw.get("type"), str):
            raise GraphError(f"pasted node {raw!r:.80} has no layer type")
        if raw["type"] == BLOCK_TYPE:
            used.add(_pasted_block(graph, raw))
            base = BLOCK_TYPE
        elif raw["type"] not in REGISTRY:
            raise GraphError(f"pasted node has an unknown layer type {raw['type']!r}")
        else:
            base = REGISTRY.resolve(raw["type"])
        new_id = _free_id(base, taken)
        taken.add(new_id)
        renamed[str(raw.get("id"))] = new_id
        position = raw.get("position", (0, 0))
        try:
            x, y = (float(v) for v in position)
        except (TypeError, ValueError):
            raise GraphError(f"pasted node position must be two numbers, got {position!r:.80}") from None
        new_nodes.append({**raw, "id": new_id, "position": [x + dx, y + dy]})
    new_edges = []
    for raw in edges:
        if not isinstance(raw, dict):
            raise GraphError(f"pasted wire {raw!r:.80} is not an object")
        if raw.get("source") in renamed and raw.get("target") in renamed:
            new_edges.append({**raw, "source": renamed[raw["source"]], "target": renamed[raw["target"]]})
    for raw in new_nodes:
        if raw["type"] == BLOCK_TYPE and isinstance(raw.get("params"), dict):
            shares = raw["params"].get("shares_weights_with", "")
            shares = renamed.get(shares, shares if graph.has_node(str(shares)) else "")
            raw["params"] = {**raw["params"], "shares_weights_with": shares}
    try:
        return build_graph({"nodes": new_nodes, "edges": new_edges, "blocks": _definitions(graph, used)},
                           "pasted nodes")
    except GraphFileError as exc:
        raise GraphError(f"cannot paste: {exc.problem} ({exc.where})") from None


def _pasted_block(graph: Graph, raw: dict) -> str:
    """The definition a pasted block node is an instance of, once it is known to
    ``graph``'s document and may go where it is pasted."""
    params = raw.get("params")
    name = params.get("block") if isinstance(params, dict) else None
    if not isinstance(name, str) or name not in graph.blocks:
        raise GraphError(f"the pasted block node is an instance of block {name!r}, which this graph does not "
                         f"define (blocks: {', '.join(graph.blocks.names()) or 'none'})")
    if graph.is_body and graph.blocks.reaches(name, graph.block_name):
        raise GraphError(f"cannot paste block {name!r} inside block {graph.block_name!r}: "
                         "a block cannot contain itself")
    return name


def _definitions(graph: Graph, names: set[str]) -> list[dict]:
    """The plain data of the definitions ``names`` and those they contain."""
    if not names:
        return []
    wanted = {d.name for d in graph.blocks if any(graph.blocks.reaches(n, d.name) for n in names)}
    return [d for d in graph_to_data(graph.blocks.root)["blocks"] if d["name"] in wanted]


def _free_id(base: str, taken: set[str]) -> str:
    i = 1
    while f"{base}_{i}" in taken:
        i += 1
    return f"{base}_{i}"
