"""``layerloom sweep FILE --set lr=1e-4:1e-1:log:6``: a hyperparameter sweep, headless.

Each ``--set NAME=VALUES`` is one swept setting (a training setting, ``NODE.PARAM``
or ``BLOCK.PARAM``; see :mod:`layerloom.backend.training.sweep`); two make a grid.
Every trial trains a copy of the graph with its values, one after another or on
``--workers N`` processes; a line per trial on stderr follows them, and the end
prints a table (values, final and best metric, time, status) with the best trial
marked. ``--out results.csv`` (or ``.json``) writes the results. The other options
of ``layerloom train`` set every trial's defaults for this sweep.

Ctrl-C ends the sweep after the trial in progress (a second one stops that
trial too); the trials that ran are printed and written.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import signal
import sys
import threading
from pathlib import Path
from types import SimpleNamespace

from layerloom.backend.cli import EXIT_INVALID, CommandError
from layerloom.backend.cli.settings_options import add_options

EXIT_STOPPED = 130


def _workers(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if not 1 <= value <= 64:
        raise argparse.ArgumentTypeError(f"must be between 1 and 64, got {value}")
    return value


def add_parser(subs, name: str) -> None:
    p = subs.add_parser(
        name, help="sweep one or two settings: train once per value and compare a metric",
        description="Train the graph once per value of one or two settings (two make a grid) and "
        "print a table of the metric each trial reached. VALUES is a list (lr=0.001,0.01,0.1; "
        "optimizer=adam,sgd) or a range START:STOP:log|lin:COUNT (lr=1e-4:1e-1:log:6; "
        "batch_size=16:128:lin:4, rounded for whole numbers). NAME is a training setting, "
        "NODE.PARAM (dense_1.units) or BLOCK.PARAM (an exposed block parameter: every instance "
        "takes the value). The options of train below set every trial's defaults.",
    )
    p.add_argument("file", help="the .loom graph file")
    p.add_argument("--set", dest="sweep", action="append", default=[], metavar="NAME=VALUES",
                   help="a setting to sweep and its values (once or twice)")
    p.add_argument("--metric", metavar="METRIC",
                   help="what trials are compared by: loss, accuracy, mae or r2, with val_ for the "
                   "validation set (default: the file's monitor, val_loss unless set)")
    p.add_argument("--workers", type=_workers, default=1, metavar="N",
                   help="trials run side by side, each in its own process (default 1: one after another)")
    p.add_argument("--json", action="store_true", help="print the results as JSON instead of a table")
    p.add_argument("-o", "--out", metavar="PATH",
                   help="also write the results to PATH: .csv (a row per trial) or .json")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="a dataset option, as train's -o KEY=VALUE (repeatable)")
    add_options(p)
    p.set_defaults(run=run)


def run(args) -> int:
    from layerloom.backend.cli.train import _prepare
    from layerloom.backend.training.sweep import SweepError, check_metric, plan
    from layerloom.backend.training.sweep_run import Sweep

    out = Path(args.out) if args.out else None
    if out is not None and out.suffix.lower() not in (".csv", ".json"):
        raise CommandError(f"--out {args.out}: write .csv or .json")
    prepared = _prepare(SimpleNamespace(**vars(args), resume=None), make_out=False)
    graph = prepared.graph
    graph.training = prepared.settings.to_dict()
    graph.dataset = prepared.data_settings.to_dict()
    try:
        axes = plan(graph, args.sweep)
        metric = check_metric(args.metric or prepared.settings.monitor)
    except SweepError as exc:
        raise CommandError(str(exc)) from None
    base_dir = str(Path(args.file).resolve().parent)
    sweep = Sweep(graph, axes, metric, base_dir=base_dir)
    count = len(sweep.trials)
    how = f"on {args.workers} processes" if args.workers > 1 else "one after another"
    print(f"sweeping {' x '.join(f'{a.key} ({len(a.values)})' for a in axes)}: {count} trial(s) "
          f"{how}, compared by {metric}", file=sys.stderr, flush=True)
    with _stop_on_sigint(sweep):
        sweep.run(args.workers, on_trial=_report(sweep))
    if args.json:
        json.dump(sweep.to_dict(), sys.stdout, indent=1)
        print()
    else:
        print(table(sweep))
    if out is not None:
        _write(sweep, out)
        print(f"wrote {out}", file=sys.stderr)
    if sweep.stopping:
        return EXIT_STOPPED
    if not any(t.status == "completed" for t in sweep.trials):
        raise CommandError(f"every trial failed; the first: {sweep.trials[0].message}", EXIT_INVALID)
    return 0


def _report(sweep):
    """A line per trial on stderr as it starts and ends."""
    from layerloom.backend.training.sweep import format_value

    count = len(sweep.trials)

    def report(trial) -> None:
        values = ", ".join(f"{k}={format_value(v)}" for k, v in trial.values.items())
        if trial.status == "running":
            print(f"trial {trial.index + 1}/{count}: {values} ...", file=sys.stderr, flush=True)
            return
        result = f"{sweep.metric} {trial.final:.4g}" if trial.final is not None else trial.message
        print(f"trial {trial.index + 1}/{count}: {values}: {trial.status} in {trial.seconds:.1f} s"
              f"{': ' + result if result else ''}", file=sys.stderr, flush=True)

    return report


def table(sweep) -> str:
    """The results as aligned text columns; the best trial marked with ``*``."""
    from layerloom.backend.training.sweep import format_value

    best = sweep.best()
    head = [a.key for a in sweep.axes] + [f"final {sweep.metric}", "best (epoch)", "time", "status"]
    rows = []
    for t in sweep.trials:
        best_text = "" if t.best is None else f"{t.best:.4g} ({t.best_epoch})"
        status = t.status if not t.message or t.status != "failed" else f"failed: {t.message.splitlines()[0]}"
        rows.append([format_value(t.values[a.key]) for a in sweep.axes]
                    + ["" if t.final is None else f"{t.final:.4g}", best_text,
                       f"{t.seconds:.1f} s" if t.status != "skipped" else "", status])
    widths = [max(len(head[i]), *(len(r[i]) for r in rows)) for i in range(len(head) - 1)]
    lines = ["  " + "  ".join(h.rjust(w) for h, w in zip(head, widths, strict=False)) + "  " + head[-1]]
    for t, row in zip(sweep.trials, rows, strict=True):
        mark = "* " if best is not None and t is best else "  "
        lines.append(mark + "  ".join(c.rjust(w) for c, w in zip(row, widths, strict=False)) + "  " + row[-1])
    if best is not None:
        values = ", ".join(f"{k}={format_value(v)}" for k, v in best.values.items())
        lines.append(f"best: {values} ({sweep.metric} {best.final:.4g}); "
                     f"{len(sweep.trials)} trial(s) in {sweep.wall_time:.1f} s")
    return "\n".join(lines)


def _write(sweep, path: Path) -> None:
    from layerloom.graph.fileio import describe_write_error, write_atomic

    if path.suffix.lower() == ".json":
        text = json.dumps(sweep.to_dict(), indent=1) + "\n"
    else:
        buffer = io.StringIO()
        rows = sweep.rows()
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        text = buffer.getvalue()
    try:
        write_atomic(path, text.encode("utf-8"))
    except OSError as exc:
        raise CommandError(describe_write_error(exc, str(path))) from None


class _stop_on_sigint:
    """Ctrl-C ends the sweep after this trial; a second one stops the trial too."""

    def __init__(self, sweep):
        self.sweep = sweep
        self.old = None

    def _handler(self, signum, frame):
        cancel = self.sweep.stopping
        print("\nstopping this trial ..." if cancel else
              "\nstopping after this trial (Ctrl-C again to stop it now) ...", file=sys.stderr)
        self.sweep.stop(cancel=cancel)

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self.old = signal.signal(signal.SIGINT, self._handler)
        return self

    def __exit__(self, *exc):
        if self.old is not None:
            signal.signal(signal.SIGINT, self.old)
        return False
