"""``layerloom blocks``: the built-in blocks and the user's block library.

``layerloom blocks`` lists them (name, where from, ports with shapes, exposed
parameters, size); ``blocks save FILE NAME`` copies a definition of a ``.loom`` file
into the library, ``blocks insert FILE NAME`` adds an instance of a built-in or
library block (with its definitions) to a ``.loom`` file, ``blocks delete NAME``
removes a library block. ``--library DIR`` (or ``$LAYERLOOM_BLOCKS_DIR``) names
the library folder. The app reads the same folder.

``blocks make FILE --nodes A,B,... --name NAME`` and ``blocks ungroup FILE NODE_ID``
are Ctrl+G and Ctrl+Shift+G without the window: the same edits
(:func:`~layerloom.graph.make_block`, :func:`~layerloom.graph.ungroup`) with the same
refusals; ``--inside BLOCK`` edits the inside of a definition instead of the top
level (blocks nest), ``-o OUT`` writes elsewhere. The file is written atomically and
only when the edit succeeded.
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
from layerloom.graph.grouping import make_block, ungroup


def add_parser(subs, name: str) -> None:
    p = subs.add_parser(
        name, help="list, save, insert and delete reusable blocks; make and ungroup blocks in a file",
        description="Without an action: list the built-in blocks and the blocks in your library. "
        "Actions: save FILE NAME, insert FILE NAME [--id ID], delete NAME, "
        "make FILE --nodes A,B,... --name NAME [-o OUT], ungroup FILE NODE_ID [-o OUT].",
    )
    p.add_argument("action", nargs="?", choices=tuple(_ARGS), metavar="ACTION",
                   help="list (default), save, insert, delete, make or ungroup")
    p.add_argument("args", nargs="*", metavar="ARG",
                   help="save: FILE BLOCK_NAME; insert: FILE NAME; delete: NAME; make: FILE; ungroup: FILE NODE_ID")
    p.add_argument("--library", metavar="DIR", type=Path,
                   help="the block library folder (default: $LAYERLOOM_BLOCKS_DIR or blocks/ in your data folder)")
    p.add_argument("--replace", action="store_true", help="save: replace a library block of the same name")
    p.add_argument("--id", dest="node_id", metavar="ID", help="insert: the new node's id")
    p.add_argument("--json", action="store_true", help="list: print JSON instead of text")
    p.add_argument("--nodes", metavar="A,B,...", help="make: the ids of the nodes that become the block")
    p.add_argument("--name", metavar="NAME", help="make: the new block definition's name")
    p.add_argument("--inside", metavar="BLOCK",
                   help="make, ungroup: edit inside the definition BLOCK instead of the top level")
    p.add_argument("-o", "--output", metavar="OUT", type=Path,
                   help="make, ungroup: write the result to OUT (default: overwrite FILE)")
    p.set_defaults(run=run)


_ARGS = {"list": (), "save": ("FILE", "BLOCK_NAME"), "insert": ("FILE", "NAME"), "delete": ("NAME",),
         "make": ("FILE",), "ungroup": ("FILE", "NODE_ID")}


def run(args) -> int:
    action = args.action or "list"
    want = _ARGS[action]
    if len(args.args) != len(want):
        raise CommandError(f"'blocks {action}' takes {' '.join(want) or 'no arguments'}, "
                           f"got {len(args.args)} argument(s)")
    folder = args.library or user_blocks_dir()
    try:
        return {"list": _list, "save": _save, "insert": _insert, "delete": _delete,
                "make": _make, "ungroup": _ungroup}[action](args, folder)
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


def _level(graph, args):
    """The graph the edit applies to: the top level, or the inside of ``--inside``."""
    if not args.inside:
        return graph, "the graph"
    if args.inside not in graph.blocks:
        known = ", ".join(graph.blocks.names()) or "none"
        raise GraphError(f"no block definition {args.inside!r} in the file (definitions: {known})")
    return graph.blocks[args.inside].body, f"block {args.inside!r}"


def _write(graph, args) -> str:
    out = args.output or args.args[0]
    try:
        save_graph(graph, out)
    except OSError as exc:
        raise CommandError(describe_write_error(exc, out)) from None
    return str(out)


def _make(args, folder: Path) -> int:
    if not args.nodes or not args.name:
        raise CommandError("'blocks make' needs --nodes A,B,... and --name NAME")
    ids = [part.strip() for part in args.nodes.split(",") if part.strip()]
    graph = load_graph(args.args[0])
    level, where = _level(graph, args)
    missing = [nid for nid in ids if not level.has_node(nid)]
    if missing:
        known = ", ".join(n.id for n in level.nodes)
        raise GraphError(f"{where} has no node {', '.join(map(repr, missing))} (its nodes: {known})")
    edit = make_block(level, ids, args.name)
    definition = graph.blocks[args.name]
    ports = "; ".join(f"{kind}: {', '.join(names) or '-'}" for kind, names in
                      (("inputs", definition.input_ports()), ("outputs", definition.output_ports())))
    out = _write(graph, args)
    print(f"made block {args.name!r} of {len(ids)} node(s) ({', '.join(n.id for _, n in edit.removed)}) "
          f"in {where}: block node {edit.node_id!r}, {ports}; wrote {out}")
    return 0


def _ungroup(args, folder: Path) -> int:
    file, node_id = args.args
    graph = load_graph(file)
    level, where = _level(graph, args)
    if not level.has_node(node_id):
        blocks = ", ".join(n.id for n in level.nodes if n.is_block) or "none"
        raise GraphError(f"{where} has no node {node_id!r} (its block nodes: {blocks})")
    block = level.node(node_id).params.get("block")
    edit = ungroup(level, node_id)
    out = _write(graph, args)
    print(f"ungrouped block node {node_id!r} (definition {block!r}, kept) in {where} into "
          f"{len(edit.added)} node(s): {', '.join(edit.added) or '-'}; wrote {out}")
    return 0
