"""``layerloom validate FILE``: check a graph and print its table."""

from __future__ import annotations

import sys

from layerloom.backend.cli import EXIT_INVALID, CommandError
from layerloom.graph import GraphFileError, load_graph
from layerloom.graph.node_training import describe as describe_training
from layerloom.graph.node_training import frozen_params


def add_parser(subs, name: str) -> None:
    p = subs.add_parser(name, help="check a .loom file and print its layers, shapes and sizes")
    p.add_argument("file", help="the .loom graph file")
    p.add_argument("--expand", action="store_true",
                   help="also print the inside of each block (indented under its row)")
    p.set_defaults(run=run)


def human(n: float, unit: str = "") -> str:
    """1234567 -> '1.23M' (for parameter counts, FLOPs and bytes)."""
    for size, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= size:
            return f"{n / size:.2f}{suffix}{unit}"
    return f"{int(n)}{unit}"


def human_bytes(n: float) -> str:
    for size, suffix in ((2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")):
        if n >= size:
            return f"{n / size:.1f} {suffix}"
    return f"{int(n)} B"


def table(graph, expand: bool = False) -> str:
    """The validate table: node, type, output shape, parameters, then totals.

    A block is one row with its rolled-up size (``block`` in the type column);
    with ``expand`` the rows of its inside follow it, indented.
    """
    analysis = graph.analysis()
    rows = [("node", "type", "output shape", "params")]
    _rows(graph, analysis, rows, expand, "")
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = []
    for i, r in enumerate(rows):
        lines.append("  ".join((r[0].ljust(widths[0]), r[1].ljust(widths[1]), r[2].ljust(widths[2]), r[3].rjust(widths[3]))).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    lines.append("")
    frozen = frozen_params(graph, analysis)
    lines.append(
        f"total: {len(graph)} nodes, {analysis.total_params:,} parameters"
        + (f" ({analysis.total_params - frozen:,} trainable, {frozen:,} frozen)" if frozen else "") + ", "
        f"{human(analysis.total_flops)} FLOPs and {human_bytes(analysis.total_activation_bytes)} "
        "of activations per sample"
    )
    return "\n".join(lines)


def _rows(graph, analysis, rows: list, expand: bool, indent: str) -> None:
    for nid in analysis.order:
        node, info = graph.node(nid), analysis.nodes[nid]
        sink = node.spec.is_output or node.spec.loss  # an Output or a loss node: no output of its own
        shape = str(info.out) if info.out else ("-" if sink and not info.error else "?")
        if node.spec.is_output and info.inputs:
            shape = str(next(iter(info.inputs.values())))
        kind = node.spec.name
        if node.is_block:
            repeat = node.params["repeat"]
            kind = f"block {kind}" + (f" x{repeat}" if repeat > 1 else "")
            if node.params["shares_weights_with"]:
                kind += f" (weights of {node.params['shares_weights_with']})"
        if node.training:  # frozen, an initialisation: shown beside the type
            kind += f" [{describe_training(node.training)}]"
        rows.append((indent + node.title, kind, shape, f"{info.params:,}"))
        if expand and node.is_block and not info.error and not info.blocked:
            inst = graph.blocks.instance(node.params["block"], node.params, info.inputs)
            _rows(inst.graph, inst.analysis, rows, expand, indent + "  ")


def run(args) -> int:
    try:
        graph = load_graph(args.file)
    except GraphFileError as exc:
        raise CommandError(str(exc)) from None
    print(table(graph, getattr(args, "expand", False)))
    analysis = graph.analysis()
    for nid, msg in analysis.warnings:
        print(f"warning: {nid}: {msg}", file=sys.stderr)
    if not analysis.valid:
        for nid, msg in analysis.errors:
            print(f"error: {nid}: {msg}")
        return EXIT_INVALID
    print("valid")
    return 0
