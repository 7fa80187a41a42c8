"""``layerloom blocks``: the built-in blocks and the user's block library.

``layerloom blocks`` lists them (name, where from, ports with shapes, exposed
parameters, size); ``blocks save FILE NAME`` copies a definition of a ``.loom`` file
into the library, ``blocks insert FILE NAME`` adds an instance of a built-in or
library block (with its definitions) to a ``.loom`` file, ``blocks delete NAME``
removes a library block. ``--library DIR`` (or ``$LAYERLOOM_BLOCKS_DIR``) names
the library folder. The app reads the same folder.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from layerloom.backend.cli import CommandError
from layerloom.graph import GraphError, GraphFileError, load_graph, save_graph
from layerloom.graph.block_store import (
    all_blocks,
    delete_block,
    find_block,
    insert_block,
    save_block,
    user_blocks_dir,
)
from layerloom.graph.fileio import describe_write_error


def add_parser(subs, name: str) -> None:
    p = subs.add_parser(
        name, help="list, save, insert and delete reusable blocks (built-in and your library)",
        description="Without an action: list the built-in blocks and the blocks in your library. "
        "Actions: save FILE NAME, insert FILE NAME [--id ID], delete NAME.",
    )
    p.add_argument("action", nargs="?", choices=("list", "save", "insert", "delete"), metavar="ACTION",
                   help="list (default), save, insert or delete")
    p.add_argument("args", nargs="*", metavar="ARG", help="save: FILE BLOCK_NAME; insert: FILE NAME; delete: NAME")
    p.add_argument("--library", metavar="DIR", type=Path,
                   help="the block library folder (default: $LAYERLOOM_BLOCKS_DIR or blocks/ in your data folder)")
    p.add_argument("--replace", action="store_true", help="save: replace a library block of the same name")
    p.add_argument("--id", dest="node_id", metavar="ID", help="insert: the new node's id")
    p.add_argument("--json", action="store_true", help="list: print JSON instead of text")
    p.set_defaults(run=run)


_ARGS = {"list": (), "save": ("FILE", "BLOCK_NAME"), "insert": ("FILE", "NAME"), "delete": ("NAME",)}


def run(args) -> int:
    action = args.action or "list"
    want = _ARGS[action]
    if len(args.args) != len(want):
        raise CommandError(f"'blocks {action}' takes {' '.join(want) or 'no arguments'}, "
                           f"got {len(args.args)} argument(s)")
    folder = args.library or user_blocks_dir()
    try:
        return {"list": _list, "save": _save, "insert": _insert, "delete": _delete}[action](args, folder)
    except GraphFileError as exc:
        raise CommandError(str(exc)) from None
    except GraphError as exc:
        raise CommandError(str(exc), 1) from None


def _list(args, folder: Path) -> int:
    blocks, warnings = all_blocks(folder)
    for w in warnings:
        print(f"warning: {w}", file=sys.stderr)
    rows = [b.summary() for b in blocks]
    if args.json:
        print(json.dumps(rows, indent=2, default=list))
        return 0
    table = [("name", "source", "inputs", "outputs", "exposed", "params")]
    for r in rows:
        table.append((
            r["name"], r["source"],
            ", ".join(f"{k} {v}" for k, v in r["inputs"].items()) or "-",
            ", ".join(f"{k} {v}" for k, v in r["outputs"].items()) or "-",
            ", ".join(f"{k}={_value(v)}" for k, v in r["exposed"].items()) or "-",
            "?" if r["params"] is None else f"{r['params']:,}",
        ))
    widths = [max(len(t[i]) for t in table) for i in range(5)]
    for i, t in enumerate(table):
        print("  ".join([*(t[j].ljust(widths[j]) for j in range(5)), t[5]]).rstrip())
        if i == 0:
            print("  ".join("-" * w for w in widths) + "  ------")
    print()
    print(f"{len(rows)} blocks; your library is {folder}")
    return 0


def _value(v) -> str:
    if isinstance(v, (list, tuple)):
        return "(" + ", ".join(str(x) for x in v) + ")"
    return str(v)


def _save(args, folder: Path) -> int:
    file, name = args.args
    graph = load_graph(file)
    try:
        path = save_block(graph, name, folder, replace=args.replace)
    except OSError as exc:
        raise CommandError(describe_write_error(exc, f"the block {name!r}")) from None
    print(f"saved block {name!r} to {path}")
    return 0


def _insert(args, folder: Path) -> int:
    file, name = args.args
    graph = load_graph(file)
    stored = find_block(name, folder)
    xs = [n.position[0] for n in graph.nodes] or [0]
    ys = [n.position[1] for n in graph.nodes] or [0]
    edit = insert_block(graph, stored, (max(xs) + 240, min(ys)), args.node_id)
    try:
        save_graph(graph, file)
    except OSError as exc:
        raise CommandError(describe_write_error(exc, file)) from None
    extra = f" (definition {edit.block!r})" if edit.block != name else ""
    print(f"added block node {edit.node_id!r}{extra} to {file}")
    return 0


def _delete(args, folder: Path) -> int:
    (name,) = args.args
    path = delete_block(name, folder)
    print(f"deleted block {name!r} ({path})")
    return 0
