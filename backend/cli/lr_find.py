"""``layerloom lr-find FILE``: the learning-rate range test, headless."""

from __future__ import annotations

import argparse
import json
import math
import sys
from types import SimpleNamespace

from layerloom.backend.cli import CommandError
from layerloom.backend.cli.settings_options import add_options


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, not {text!r}")
    return value


def add_parser(subs, name: str) -> None:
    p = subs.add_parser(
        name, help="find a learning rate: the range test over exponentially growing rates",
        description="Train from fresh weights for a few dozen steps while the learning rate grows "
        "from --min-lr to --max-lr, and print the loss at each rate and the suggested rate (where "
        "the loss falls fastest). The optimizer, batch size, loss and data are the graph's own; "
        "the weights are thrown away.",
    )
    p.add_argument("file", help="the .loom graph file")
    p.add_argument("--min-lr", type=_positive, default=1e-6, metavar="RATE", help="first rate (default 1e-6)")
    p.add_argument("--max-lr", type=_positive, default=1.0, metavar="RATE", help="last rate (default 1)")
    p.add_argument("--steps", type=int, default=100, metavar="N", help="rates tried, one step each (default 100)")
    p.add_argument("--json", action="store_true", help="print the rates, losses and suggestion as JSON")
    p.add_argument("--apply", action="store_true",
                   help="save the suggested rate as the file's learning rate (the file is rewritten safely)")
    p.add_argument("-o", "--option", action="append", default=[], metavar="KEY=VALUE",
                   help="a dataset option, as for train")
    add_options(p)
    p.set_defaults(run=run)


def run(args) -> int:
    from layerloom.backend.cli.train import _prepare
    from layerloom.backend.training import LrFindError, TrainingError, find_lr
    from layerloom.graph import save_graph

    # the run's options, without its output folder: nothing is written but the file (--apply)
    prepared = _prepare(SimpleNamespace(**vars(args), out=None, resume=None), make_out=False)
    try:
        finding = find_lr(prepared.graph, prepared.data.train, prepared.settings,
                          start=args.min_lr, end=args.max_lr, steps=args.steps)
    except (LrFindError, TrainingError) as exc:
        raise CommandError(f"{args.file}: {exc}") from None
    if args.json:
        json.dump(finding.to_dict(), sys.stdout, indent=1)
        print()
    else:
        _table(finding)
        print(finding.summary())
    if args.apply:
        if finding.suggested is None:
            raise CommandError(f"{args.file} is unchanged: {finding.summary()}")
        graph = prepared.graph
        graph.training = {**graph.training, "lr": float(f"{finding.suggested:.2g}")}
        try:
            save_graph(graph, args.file)
        except OSError as exc:
            raise CommandError(f"cannot write {args.file}: {exc.strerror or exc}") from None
        print(f"{args.file}: learning rate set to {graph.training['lr']:g}")
    return 0


def _table(finding, rows: int = 12) -> None:
    """About ``rows`` evenly spaced lines of rate and smoothed loss, with a bar."""
    if not finding.rates:
        return
    every = max(1, len(finding.rates) // rows)
    picked = list(range(0, len(finding.rates), every))
    low, high = min(finding.smoothed), max(finding.smoothed[i] for i in picked)
    print(f"{'rate':>10}  {'loss':>10}")
    for i in picked:
        width = 0 if high == low else round(30 * (finding.smoothed[i] - low) / (high - low))
        print(f"{finding.rates[i]:>10.2e}  {finding.smoothed[i]:>10.4f}  {'#' * width}")
