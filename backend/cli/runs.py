"""``layerloom runs FILE``: the runs kept next to a graph (``NAME.runs/``).

``layerloom runs FILE`` lists them (a damaged run, or one from a newer LayerLoom,
with the reason); ``show ID`` prints one (settings, results, files and what
changed in the graph since); ``compare ID ID...`` prints the table of what
differs between runs (results, settings, graph); ``delete ID...`` removes run
folders. ``--json`` prints plain data instead. An ID is ``run-003``, ``run-3`` or ``3``.
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path

from layerloom.backend.cli import CommandError

ACTIONS = ("list", "show", "compare", "delete")


def add_parser(subs, name: str) -> None:
    p = subs.add_parser(
        name, help="list, show, compare or delete the runs kept next to a .loom graph",
        description="Every training run of a graph (in the app or with 'layerloom train') is kept in "
        "NAME.runs/ beside NAME.loom: its settings, graph, curves and weights. List them, show one, "
        "compare several (results, settings and graph changes) or delete some. "
        "IDs are run-003, run-3 or 3.",
    )
    p.add_argument("file", help="the .loom graph file")
    p.add_argument("action", nargs="?", default="list", choices=ACTIONS,
                   help="list (default), show ID, compare ID ID..., delete ID...")
    p.add_argument("ids", nargs="*", metavar="ID", help="the runs to act on")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(run=run)


def run(args) -> int:
    from layerloom.backend.runs import runs_folder

    path = Path(args.file)
    folder = runs_folder(path)
    if not path.exists() and not folder.exists():
        raise CommandError(f"{path}: no such file (and no {folder.name} beside it)")
    need = {"list": (0, 0), "show": (1, 1), "compare": (2, None), "delete": (1, None)}[args.action]
    count = len(args.ids)
    if count < need[0] or (need[1] is not None and count > need[1]):
        wanted = {"list": "no ID", "show": "one ID", "compare": "two or more IDs",
                  "delete": "one or more IDs"}[args.action]
        raise CommandError(f"runs {args.action} takes {wanted}, got {count}")
    return {"list": _list, "show": _show, "compare": _compare, "delete": _delete}[args.action](args, path)


def _current_graph(path: Path):
    """The graph in ``path`` now, or ``None`` when it cannot be read."""
    from layerloom.graph import GraphFileError, load_graph

    try:
        return load_graph(path)
    except GraphFileError:
        return None


def _find(path: Path, ident: str):
    from layerloom.backend.runs import RunsError, find_run

    try:
        return find_run(path, ident)
    except RunsError as exc:
        raise CommandError(str(exc)) from None


def _when(stamp: float | None) -> str:
    if not stamp:
        return "–"
    return datetime.datetime.fromtimestamp(stamp).strftime("%Y-%m-%d %H:%M")


def _value(values: dict, *keys: str) -> str:
    for key in keys:
        value = values.get(key)
        if isinstance(value, (int, float)):
            return f"{key} {value:.4g}"
    return "–"


def _list(args, path: Path) -> int:
    from layerloom.backend.runs import list_runs, runs_folder

    runs = list_runs(path)
    graph = _current_graph(path)
    if args.json:
        print(json.dumps([{**r.summary(), "graph": r.graph_note(graph)} for r in runs], indent=2))
        return 0
    if not runs:
        print(f"no runs of {path.name} yet (they are kept in {runs_folder(path)})")
        return 0
    rows = [("ID", "STATE", "WHEN", "LOSS", "VAL", "METRIC", "STEPS", "GRAPH / PROBLEM")]
    for r in runs:
        if not r.ok:
            rows.append((r.id, r.status, "–", "–", "–", "–", "–", r.problem or ""))
            continue
        rows.append((r.id, r.status, _when(r.created), _value(r.final, "loss").removeprefix("loss "),
                     _value(r.final, "val_loss").removeprefix("val_loss "),
                     _value(r.final, "val_accuracy", "accuracy", "val_mae", "mae"), str(r.steps),
                     r.graph_note(graph)))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=False)) + "  " + row[-1])
    return 0


def _show(args, path: Path) -> int:
    from layerloom.backend.runs import RunsError, graph_changes

    r = _find(path, args.ids[0])
    graph = _current_graph(path)
    changes = graph_changes(r.graph, graph) if r.ok and graph is not None and r.graph is not None else []
    if args.json:
        data = {**r.summary(), "graph": r.graph_note(graph), "changes_since": changes}
        try:
            data["curves"] = sorted(r.history()) if r.ok else []
        except RunsError as exc:
            data["problem"] = str(exc)
        print(json.dumps(data, indent=2))
        return 0
    print(f"{r.label}  ({r.folder})")
    if not r.ok:
        print(f"  problem: {r.problem}")
        print(f"  delete it with: layerloom runs {path} delete {r.id}")
        return 0
    print(f"  state: {r.status}" + (f" · {r.message}" if r.message else ""))
    print(f"  when: {_when(r.created)} · from the {'app' if r.source == 'app' else 'command line'}"
          + (f" · on {r.device}" if r.device else ""))
    wall = f" in {r.wall_time:.1f} s" if r.wall_time is not None else ""
    print(f"  trained: {r.epochs} epoch(s), {r.steps} steps{wall}")
    if r.final:
        print("  final: " + ", ".join(f"{k} {_num(v)}" for k, v in r.final.items()))
    if r.test:
        print("  test: " + ", ".join(f"{k} {_num(v)}" for k, v in r.test.items()))
    print("  training: " + ", ".join(f"{k}={_plain(v)}" for k, v in r.training.items()))
    print("  dataset: " + ", ".join(f"{k}={_plain(v)}" for k, v in r.dataset.items()))
    kept = (f" (epoch {r.best['epoch']}, best {r.best['metric']} {_num(r.best.get('value'))})"
            if r.best else "")
    print("  weights: " + (f"{r.weights}{kept}" if r.weights else "none (the run trained nothing to keep)"))
    try:
        curves = r.history()
        print("  curves: " + (", ".join(f"{k} ({len(v[0])} points)" for k, v in sorted(curves.items()))
                              or "none"))
    except RunsError as exc:
        print(f"  curves: unreadable ({exc})")
    if graph is None:
        print(f"  graph: {path} cannot be read, so it is not compared")
    elif not changes:
        print("  graph: the same as in the file now")
    else:
        print(f"  graph: changed since ({len(changes)}):")
        for line in changes:
            print(f"    {line}")
    return 0


def _compare(args, path: Path) -> int:
    from layerloom.backend.runs import compare_runs

    runs = [_find(path, ident) for ident in args.ids]
    bad = [r for r in runs if not r.ok]
    if bad:
        raise CommandError(f"{bad[0].id} cannot be compared: {bad[0].problem}")
    table = compare_runs(runs)
    if args.json:
        print(json.dumps(table.to_json(), indent=2))
    else:
        print(table.text())
    return 0


def _delete(args, path: Path) -> int:
    from layerloom.backend.runs import RunsError, delete_run

    runs = [_find(path, ident) for ident in args.ids]
    for r in runs:
        try:
            delete_run(r)
        except RunsError as exc:
            raise CommandError(str(exc)) from None
        if args.json:
            print(json.dumps({"deleted": r.id, "folder": str(r.folder)}))
        else:
            print(f"deleted {r.id} ({r.folder})")
    return 0


def _num(value) -> str:
    return f"{value:.4g}" if isinstance(value, (int, float)) else "–"


def _plain(value) -> str:
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    return str(value)
