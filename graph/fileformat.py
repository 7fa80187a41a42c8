"""The ``.loom`` file format: JSON data, never code.

Loading is parse -> plain data -> migrations -> build. Every problem ends in one
:class:`~layerloom.graph.errors.GraphFileError` naming the file, the place and the problem.
Nothing read from a file is executed, imported, unpickled or evaluated: layer types
are looked up in the registry's allow-list, every value is checked against its
layer's schema, and the ``dataset`` and ``training`` sections against the settings'
declaration (:mod:`graph.settings`). Saving is atomic and deterministic, so save -> load -> save gives
the same bytes.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from layerloom.graph.block_data import build_blocks
from layerloom.graph.errors import GraphError, GraphFileError, ParamError, UnknownLayerError
from layerloom.graph.fileio import ReadRefused, read_regular_file, write_atomic
from layerloom.graph.graph_data import FORMAT, FORMAT_VERSION, graph_to_data
from layerloom.graph.model import Edge, Graph
from layerloom.graph.params import MAX_TEXT
from layerloom.graph.settings import SECTIONS as SETTINGS_SECTIONS
from layerloom.graph.settings import check_rules, check_setting, to_json

SUFFIX = ".loom"
MAX_FILE_BYTES = 64 * 1024 * 1024
MAX_NODES = 20_000
MAX_SETTINGS_DEPTH = 8

# version -> function turning data of that version into data of version + 1.
Migration = Callable[[dict[str, Any]], dict[str, Any]]
MIGRATIONS: dict[int, Migration] = {}


def _v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    """Version 2 adds block definitions; a version-1 graph has none."""
    data.setdefault("blocks", [])
    return data


MIGRATIONS[1] = _v1_to_v2

SECTIONS = ("meta", "dataset", "training")


# -------------------------------------------------------------------- writing
# The plain data itself comes from graph_data (FORMAT, FORMAT_VERSION, graph_to_data).
def dumps(graph: Graph) -> str:
    return json.dumps(graph_to_data(graph), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def save_graph(graph: Graph, path: str | os.PathLike) -> None:
    """Write ``graph`` to ``path`` atomically: a temporary file in the same folder,
    flushed to disk, then renamed over the target. A failure leaves the old file."""
    write_atomic(path, dumps(graph).encode("utf-8"))


# -------------------------------------------------------------------- reading
def load_graph(path: str | os.PathLike) -> Graph:
    """Read a ``.loom`` file; any problem raises :class:`GraphFileError`."""
    path = Path(path)
    try:
        raw = read_regular_file(path, MAX_FILE_BYTES)
    except FileNotFoundError:
        raise GraphFileError(path, "", "no such file") from None
    except IsADirectoryError:
        raise GraphFileError(path, "", "is a folder, not a .loom file") from None
    except ReadRefused as exc:
        raise GraphFileError(path, "", exc.strerror) from None
    except OSError as exc:
        raise GraphFileError(path, "", f"cannot read: {exc.strerror or exc}") from None
    return loads(raw, str(path))


def loads(text: str | bytes, name: str = "<text>") -> Graph:
    """Build a graph from ``.loom`` text; ``name`` is used in error messages."""
    return build_graph(parse(text, name), name)


def parse(text: str | bytes, name: str = "<text>") -> dict[str, Any]:
    """JSON text -> plain data at the current format version."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise GraphFileError(name, f"byte {exc.start}", "not UTF-8 text; is this a .loom file?") from None
    text = text.removeprefix("\ufeff")  # a byte-order mark some editors add
    if len(text) > MAX_FILE_BYTES:
        raise GraphFileError(name, "", f"text is {len(text):,} characters; the limit is {MAX_FILE_BYTES:,}")
    try:
        data = json.loads(text, parse_constant=_reject_constant, object_pairs_hook=_unique_keys)
    except json.JSONDecodeError as exc:
        problem = "the file ends too early (truncated?)" if exc.pos >= len(text.rstrip()) else exc.msg
        raise GraphFileError(name, f"line {exc.lineno} column {exc.colno}", f"not valid JSON: {problem}") from None
    except _DuplicateKey as exc:
        raise GraphFileError(name, "", f"the key {exc.args[0]!r} appears twice in one object; "
                             "keep one of them") from None
    except RecursionError:
        raise GraphFileError(name, "", "JSON nested too deeply") from None
    except ValueError as exc:  # huge integers, NaN/Infinity
        raise GraphFileError(name, "", f"unreadable number: {exc}") from None
    if not isinstance(data, dict):
        raise GraphFileError(name, "top level", f"expected a JSON object, got {_kind(data)}")
    bad = _bad_text(data, "") if _MAYBE_BAD_TEXT.search(text) else None
    if bad is not None:
        raise GraphFileError(name, bad[0] or "top level", bad[1])
    if data.get("format") != FORMAT:
        raise GraphFileError(name, "format", f"expected {FORMAT!r}, got {data.get('format')!r}; not a LayerLoom graph")
    version = data.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int):
        raise GraphFileError(name, "format_version", f"expected an integer, got {version!r}")
    if version > FORMAT_VERSION or version < 1:
        hint = "; it was written by a newer LayerLoom, please update" if version > FORMAT_VERSION else ""
        raise GraphFileError(
            name, "format_version", f"unsupported version {version} (this LayerLoom reads 1..{FORMAT_VERSION}){hint}"
        )
    while version < FORMAT_VERSION:
        data = MIGRATIONS[version](data)
        version += 1
        data["format_version"] = version
    return data


# UTF-8 text cannot hold a surrogate or (in valid JSON) a raw NUL: only the escapes
# \u0000 and \ud800-\udfff make them, so the walk runs only where one appears.
_MAYBE_BAD_TEXT = re.compile(r"\\u(?:0000|[dD][89a-fA-F])")


class _DuplicateKey(ValueError):
    pass


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    data = dict(pairs)
    if len(data) != len(pairs):
        seen = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return data


def _bad_text(value: Any, where: str) -> tuple[str, str] | None:
    """``(place, problem)`` of the first text that cannot be saved again: a lone UTF-16
    surrogate (JSON's ``"\\ud800"``) or a NUL character."""
    if isinstance(value, str):
        if "\0" in value:
            return where, "text holds a NUL character"
        if any("\ud800" <= c <= "\udfff" for c in value):
            return where, "text holds a lone surrogate (an invalid \\ud800-\\udfff escape)"
        return None
    items = value.items() if isinstance(value, dict) else enumerate(value) \
        if isinstance(value, list) else ()
    for key, item in items:
        place = f"{where}[{key}]" if isinstance(key, int) else f"{where}.{key}" if where else key
        found = _bad_text(key, place) if isinstance(key, str) else None
        found = found or _bad_text(item, place)
        if found is not None:
            return found
    return None


def _reject_constant(token: str):
    raise ValueError(f"{token} is not allowed")


def build_graph(data: dict[str, Any], name: str = "<data>") -> Graph:
    """Plain data (current version) -> a checked :class:`Graph`."""
    graph = Graph()
    nodes = data.get("nodes", [])
    edges = data.get("edges", [])
    with graph.blocks.quiet():
        budget = build_blocks(graph, data.get("blocks", []), name, _build_nodes, MAX_NODES)
        _build_nodes(graph, nodes, edges, name, "", budget)
    for section in SECTIONS:
        value = data.get(section, {})
        if not isinstance(value, dict):
            raise GraphFileError(name, section, f"expected an object, got {_kind(value)}")
        _check_plain(value, name, section, 0)
        if section in SETTINGS_SECTIONS:
            value = _check_settings(section, value, name)
        setattr(graph, section, value)
    graph.revision = 0
    return graph


def _build_nodes(graph: Graph, nodes: Any, edges: Any, name: str, prefix: str, budget: int) -> int:
    """Add the ``nodes`` and ``edges`` read from a file to ``graph`` (the document,
    or a block's inside: ``prefix`` names its place); returns the node budget left."""
    if not isinstance(nodes, list):
        raise GraphFileError(name, f"{prefix}nodes", f"expected a list, got {_kind(nodes)}")
    if not isinstance(edges, list):
        raise GraphFileError(name, f"{prefix}edges", f"expected a list, got {_kind(edges)}")
    if len(nodes) > budget:
        raise GraphFileError(name, f"{prefix}nodes", f"{MAX_NODES - budget + len(nodes):,} nodes in all; "
                             f"the limit is {MAX_NODES:,}")
    for i, raw in enumerate(nodes):
        where = f"{prefix}nodes[{i}]"
        if not isinstance(raw, dict):
            raise GraphFileError(name, where, f"expected an object, got {_kind(raw)}")
        node_id = raw.get("id")
        if isinstance(node_id, str):
            where = f"{prefix}nodes[{i}] (id {node_id!r})"
        type_id = raw.get("type")
        if not isinstance(type_id, str):
            raise GraphFileError(name, where, f"'type' must be a layer type id, got {type_id!r}")
        if isinstance(node_id, str) and graph.has_node(node_id):
            raise GraphFileError(name, where, f"duplicate node id {node_id!r}")
        params = raw.get("params", {})
        if not isinstance(params, dict):
            raise GraphFileError(name, f"{where}.params", f"expected an object, got {_kind(params)}")
        try:
            graph.add_node(
                type_id,
                params=params,
                position=raw.get("position", (0, 0)),
                label=raw.get("label", ""),
                node_id=node_id,
                training=raw.get("training"),
            )
        except UnknownLayerError:
            raise GraphFileError(name, where, f"unknown layer type {type_id!r}") from None
        except GraphError as exc:
            raise GraphFileError(name, where, str(exc)) from None
    for i, raw in enumerate(edges):
        where = f"{prefix}edges[{i}]"
        if not isinstance(raw, dict):
            raise GraphFileError(name, where, f"expected an object, got {_kind(raw)}")
        fields = [raw.get(k) for k in ("source", "source_port", "target", "target_port")]
        if not all(isinstance(f, str) for f in fields):
            raise GraphFileError(name, where, "needs text fields source, source_port, target, target_port")
        for node_id in (fields[0], fields[2]):
            if not graph.has_node(node_id):
                raise GraphFileError(name, where, f"refers to node {node_id!r}, which does not exist")
        try:
            graph.add_edge(Edge(*fields))
        except GraphError as exc:
            raise GraphFileError(name, where, str(exc)) from None
    return budget - len(nodes)


def _check_settings(section: str, value: dict[str, Any], name: str) -> dict[str, Any]:
    """A settings section checked against its declaration, value by value, in
    canonical JSON form (``"full"`` batch size as 0); missing keys stay missing."""
    checked = {}
    for key, raw in value.items():
        try:
            checked[key] = check_setting(section, key, raw)
        except ParamError as exc:
            raise GraphFileError(name, f"{section}.{key}", str(exc)) from None
    try:
        check_rules(section, checked)
    except ParamError as exc:
        raise GraphFileError(name, section, str(exc)) from None
    return to_json(section, checked)


def _check_plain(value: Any, name: str, where: str, depth: int) -> None:
    """Settings hold plain JSON values of bounded depth and size."""
    if depth > MAX_SETTINGS_DEPTH:
        raise GraphFileError(name, where, "nested too deeply")
    if isinstance(value, dict):
        for k, v in value.items():
            _check_plain(v, name, f"{where}.{k}", depth + 1)
    elif isinstance(value, list):
        if len(value) > MAX_TEXT:
            raise GraphFileError(name, where, f"list of {len(value):,} items is too long")
        for i, v in enumerate(value):
            _check_plain(v, name, f"{where}[{i}]", depth + 1)
    elif isinstance(value, str):
        if len(value) > MAX_TEXT:
            raise GraphFileError(name, where, f"text of {len(value):,} characters is too long")
    elif isinstance(value, float):
        if abs(value) > 1e300:
            raise GraphFileError(name, where, f"number {value!r} is out of range")
    elif isinstance(value, int) and not isinstance(value, bool):
        if abs(value) > 2**63:
            raise GraphFileError(name, where, f"number {value} is out of range")
    elif value is not None and not isinstance(value, bool):
        raise GraphFileError(name, where, f"unexpected value {value!r}")


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "text", bool: "true/false", type(None): "null"}.get(
        type(value), "a number"
    )
