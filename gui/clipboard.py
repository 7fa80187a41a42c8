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
from layerloom.graph.registry import REGISTRY

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
    new_nodes = []
    for raw in nodes:
        if not isinstance(raw, dict) or not isinstance(raw.get("type"), str):
            raise GraphError(f"pasted node {raw!r:.80} has no layer type")
        if raw["type"] not in REGISTRY:
            raise GraphError(f"pasted node has an unknown layer type {raw['type']!r}")
        new_id = _free_id(REGISTRY.resolve(raw["type"]), taken)
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
    try:
        return build_graph({"nodes": new_nodes, "edges": new_edges}, "pasted nodes")
    except GraphFileError as exc:
        raise GraphError(f"cannot paste: {exc.problem} ({exc.where})") from None


def _free_id(base: str, taken: set[str]) -> str:
    i = 1
    while f"{base}_{i}" in taken:
        i += 1
    return f"{base}_{i}"
