"""What differs between runs: their settings, their graphs and their results.

:func:`compare_runs` gives one table for any number of stored runs: one row per
thing that differs (a training or dataset setting, a node's type or parameter,
the wires) plus the results, one column per run. The app's compare dialog and
``layerloom runs FILE compare`` print the same rows. No torch here.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from layerloom.graph import Graph
from layerloom.graph.settings import defaults

ABSENT = "—"  # a node a run's graph does not have
RESULT_KEYS = ("loss", "val_loss", "accuracy", "val_accuracy", "mae", "val_mae", "r2", "val_r2")


def graph_signature(graph: Graph) -> str:
    """What decides the model: layer types, parameters and wires (not positions or
    labels), as text; equal signatures train the same model."""
    nodes = sorted((n.id, n.type, json.dumps(n.params, sort_keys=True, default=list)) for n in graph.nodes)
    edges = [(e.source, e.source_port, e.target, e.target_port) for e in graph.edges]
    return json.dumps([nodes, edges])


def signature_hash(graph: Graph) -> str:
    """A short digest of :func:`graph_signature`, stored with each run."""
    return hashlib.sha256(graph_signature(graph).encode("utf-8")).hexdigest()[:16]


def graph_changes(old: Graph, new: Graph) -> list[str]:
    """``old`` -> ``new`` in words, one line per change (empty when they train the
    same model): nodes added or removed, a type or parameter changed, wires."""
    lines = []
    old_nodes = {n.id: n for n in old.nodes}
    new_nodes = {n.id: n for n in new.nodes}
    for nid in old_nodes.keys() - new_nodes.keys():
        lines.append(f"removed {old_nodes[nid].title} ({nid})")
    for nid in new_nodes.keys() - old_nodes.keys():
        lines.append(f"added {new_nodes[nid].title} ({nid})")
    for nid in sorted(old_nodes.keys() & new_nodes.keys()):
        a, b = old_nodes[nid], new_nodes[nid]
        if a.type != b.type:
            lines.append(f"{nid}: {a.type} -> {b.type}")
            continue
        for key in sorted(a.params.keys() | b.params.keys()):
            if a.params.get(key) != b.params.get(key):
                lines.append(f"{nid}.{key}: {_text(a.params.get(key))} -> {_text(b.params.get(key))}")
    old_edges, new_edges = set(old.edges), set(new.edges)
    if old_edges != new_edges:
        lines.append(f"wires: {len(new_edges - old_edges)} added, {len(old_edges - new_edges)} removed")
    return lines


@dataclass
class Comparison:
    """Rows of ``(section, name, [value per run])``: only what differs, but every
    result row."""

    columns: list[str]
    rows: list[tuple[str, str, list[str]]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"runs": self.columns,
                "rows": [{"section": s, "name": n, "values": v} for s, n, v in self.rows]}

    def text(self) -> str:
        """A plain table, columns padded, for a terminal."""
        head = ["", *self.columns]
        body = [[f"{section}: {name}", *values] for section, name, values in self.rows]
        widths = [max(len(str(row[i])) for row in [head, *body]) for i in range(len(head))]
        lines = ["  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
                 for row in [head, *body]]
        return "\n".join(lines)


def compare_runs(runs: list) -> Comparison:
    """Compare stored runs (:class:`~layerloom.backend.runs.store.StoredRun`, or any
    object with ``label``, ``training``, ``dataset``, ``graph`` (or ``None``) and
    ``final``)."""
    table = Comparison([run.label for run in runs])
    for key in sorted({k for run in runs for k in run.final} | {"steps"}, key=_result_order):
        if key == "steps":
            values = [str(getattr(run, "steps", "") or "") for run in runs]
        else:
            values = [_number(run.final.get(key)) for run in runs]
        table.rows.append(("result", key, values))
    for section in ("training", "dataset"):
        base = defaults(section)
        merged = [{**base, **getattr(run, section)} for run in runs]
        for key in sorted({k for m in merged for k in m}):
            values = [_text(m.get(key)) for m in merged]
            if len(set(values)) > 1:
                table.rows.append((section, key, values))
    table.rows += _graph_rows([run.graph for run in runs])
    return table


def _graph_rows(graphs: list[Graph | None]) -> list[tuple[str, str, list[str]]]:
    present = [g for g in graphs if g is not None]
    if not present:
        return []
    rows = []
    nodes = [{n.id: n for n in g.nodes} if g is not None else {} for g in graphs]
    ids = sorted({nid for table in nodes for nid in table})
    for nid in ids:
        types = [table[nid].type if nid in table else ABSENT for table in nodes]
        if len(set(types)) > 1:
            rows.append(("graph", nid, types))
            continue
        keys = sorted({k for table in nodes for k in table[nid].params})
        for key in keys:
            values = [_text(table[nid].params.get(key)) for table in nodes]
            if len(set(values)) > 1:
                rows.append(("graph", f"{nid}.{key}", values))
    edges = [set(g.edges) if g is not None else set() for g in graphs]
    if len({frozenset(e) for e in edges}) > 1:
        rows.append(("graph", "wires", [str(len(e)) for e in edges]))
    params = [_parameters(g) for g in graphs]
    if len(set(params)) > 1:
        rows.append(("graph", "parameters", params))
    return rows


def _parameters(graph: Graph | None) -> str:
    if graph is None:
        return ABSENT
    try:
        analysis = graph.analysis()
        return f"{sum(info.params for info in analysis.nodes.values()):,}"
    except Exception:  # noqa: BLE001 - a graph of an older version that no longer analyses
        return "?"


def _result_order(key: str) -> tuple[int, str]:
    return (RESULT_KEYS.index(key) if key in RESULT_KEYS else len(RESULT_KEYS), key)


def _number(value: Any) -> str:
    if value is None:
        return ABSENT
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _text(value: Any) -> str:
    if value is None:
        return ABSENT
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, sort_keys=True, default=list)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)
