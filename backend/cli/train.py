"""``layerloom train FILE``: train a graph headless and write the trained model.

Defaults come from the file's ``"dataset"`` and ``"training"`` sections; options on
the command line override them for this run only. A progress bar on stderr shows
steps, loss and the time left. The run writes into ``--out`` (default
``runs/<file name>``):

``model.safetensors``
    The trained weights with the graph embedded (and the input normalisation).
``metrics.json``
    Per-epoch training and validation loss and metrics, the final values, test
    metrics where the dataset ships a test split, wall time, device and settings.
``checkpoint/``
    The last checkpoint; ``--resume DIR/checkpoint`` continues from it.

Ctrl-C stops after the current step and keeps a checkpoint (a second Ctrl-C
aborts at once).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sys
import threading
import time
from pathlib import Path

from backend.cli import EXIT_INVALID, CommandError
from backend.training.settings import OPTIMIZERS, parse_batch_size

EXIT_STOPPED = 130
BAR_WIDTH = 24
BAR_INTERVAL = 0.1  # seconds between progress-bar redraws


def add_parser(subs, name: str) -> None:
    p = subs.add_parser(
        name, help="train a .loom graph on its dataset and write the trained model",
        description="Train a graph headless. Defaults come from the settings saved in "
        "the file; the options below override them for this run.",
    )
    p.add_argument("file", help="the .loom graph file")
    p.add_argument("--dataset", metavar="NAME|PATH",
                   help="a built-in dataset or a data file/folder (default: the file's)")
    p.add_argument("--epochs", type=_positive_int, metavar="N",
                   help="passes over the training set (default: the file's)")
    p.add_argument("--batch-size", type=_batch_size, metavar="B",
                   help="samples per step; 0 or 'full' for the whole training set")
    p.add_argument("--lr", type=_positive_float, metavar="LR", help="learning rate")
    p.add_argument("--optimizer", choices=OPTIMIZERS)
    p.add_argument("--device", metavar="auto|cpu|cuda|mps",
                   help="where to train (default: the file's, usually auto)")
    p.add_argument("--seed", type=_seed, metavar="S",
                   help="seeds initialisation, validation split, batch order and dropout")
    p.add_argument("--val-split", type=float, metavar="F",
                   help="share of the data held out for validation (0 for none)")
    p.add_argument("--out", metavar="DIR", help="output folder (default: runs/<file name>)")
    p.add_argument("--resume", metavar="CHECKPOINT",
                   help="continue from a checkpoint folder (DIR/checkpoint of an earlier run)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar, only epoch lines")
    p.set_defaults(run=run)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a number above 0, got {text!r}")
    return value


def _batch_size(text: str) -> int:
    from backend.training.settings import SettingsError

    try:
        return parse_batch_size(text)
    except SettingsError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


# ------------------------------------------------------------------ the command
def run(args) -> int:
    from backend.datasets import DatasetError
    from backend.training import (
        DatasetSettings,
        SettingsError,
        TrainingError,
        TrainSettings,
        plan_run,
        prepare_data,
        resolve_device,
    )
    from graph import GraphFileError, load_graph

    try:
        graph = load_graph(args.file)
    except GraphFileError as exc:
        raise CommandError(str(exc)) from None
    analysis = graph.analysis()
    if not analysis.valid:
        lines = "\n".join(f"  {nid}: {msg}" for nid, msg in analysis.errors)
        raise CommandError(
            f"{args.file}: the graph has {len(analysis.errors)} error(s); fix them first:\n{lines}",
            EXIT_INVALID,
        )
    try:
        settings = TrainSettings.from_dict(graph.training)
    except SettingsError as exc:
        raise CommandError(f"{args.file}: training settings: {exc}") from None
    try:
        data_settings = DatasetSettings.from_dict(graph.dataset)
    except SettingsError as exc:
        raise CommandError(f"{args.file}: dataset settings: {exc}") from None
    try:
        settings = settings.replace(
            epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
            optimizer=args.optimizer, device=args.device, seed=args.seed,
        )
        if args.dataset is not None and args.dataset != data_settings.name:
            data_settings = DatasetSettings(os.path.abspath(args.dataset) if os.path.exists(args.dataset)
                                            else args.dataset, {}, data_settings.normalise,
                                            data_settings.val_split)
        if args.val_split is not None:
            data_settings = DatasetSettings(data_settings.name, data_settings.options,
                                            data_settings.normalise, args.val_split)
    except SettingsError as exc:
        raise CommandError(str(exc)) from None
    base_dir = str(Path(args.file).resolve().parent)
    try:
        resolve_device(settings.device)
        data = prepare_data(data_settings, settings.seed, base_dir)
        plan_run(graph, data.train, settings)
    except DatasetError as exc:
        raise CommandError(str(exc)) from None
    except TrainingError as exc:
        raise CommandError(f"{args.file}: {exc}") from None
    out = Path(args.out) if args.out else Path("runs") / Path(args.file).stem
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CommandError(f"cannot create the output folder {out}: {exc.strerror or exc}") from None
    if args.resume and not Path(args.resume).is_dir():
        raise CommandError(f"--resume {args.resume}: no checkpoint folder there")
    return _train(args, graph, settings, data, data_settings, out)


def _train(args, graph, settings, data, data_settings, out: Path) -> int:
    from backend.export import save_weights
    from backend.training import Trainer

    progress = Progress(sys.stderr, enabled=not args.no_progress)
    trainer = Trainer(
        graph, data.train, data.val, settings, on_event=progress,
        checkpoint_dir=out / "checkpoint", resume_from=args.resume,
        min_step_interval=BAR_INTERVAL, normalisation=data.normalisation,
    )
    with _stop_on_sigint(trainer):
        final = trainer.run()
    progress.close()
    if final.kind == "failed":
        raise CommandError(final.message, EXIT_INVALID)
    test = trainer.evaluate(data.test) if data.test is not None and final.reason != "stopped" else None
    meta = {"layerloom.normalisation": json.dumps(data.normalisation.to_dict())}
    model_path = save_weights(graph, trainer.model, out / "model.safetensors", meta).path
    report = {
        "graph": str(args.file),
        "dataset": data_settings.to_dict(),
        "device": str(trainer.device),
        "settings": settings.to_dict(),
        "epochs": trainer.history,
        "final": final.metrics,
        "test": test,
        "stop_reason": final.reason,
        "steps": final.steps,
        "wall_time": round(final.wall_time, 4),
        "normalisation": data.normalisation.to_dict(),
    }
    metrics_path = out / "metrics.json"
    metrics_path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    values = ", ".join(f"{k} {v:.4g}" for k, v in final.metrics.items())
    print(f"{final.reason} after {final.epochs} epoch(s), {final.steps} steps in "
          f"{final.wall_time:.1f} s on {trainer.device}: {values or 'no metrics yet'}")
    if test:
        print("test: " + ", ".join(f"{k} {v:.4g}" for k, v in test.items()))
    print(f"wrote {model_path}, {metrics_path} and {out / 'checkpoint'}")
    if final.reason == "stopped":
        print(f"stopped: continue with --resume {out / 'checkpoint'}", file=sys.stderr)
        return EXIT_STOPPED
    return 0


class _stop_on_sigint:
    """Ctrl-C asks the trainer to stop (and checkpoint); a second one aborts."""

    def __init__(self, trainer):
        self.trainer = trainer
        self.old = None

    def _handler(self, signum, frame):
        if self.trainer.stopping:
            signal.signal(signal.SIGINT, signal.default_int_handler)
            raise KeyboardInterrupt
        print("\nstopping after this step (Ctrl-C again to abort) ...", file=sys.stderr)
        self.trainer.stop()

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self.old = signal.signal(signal.SIGINT, self._handler)
        return self

    def __exit__(self, *exc):
        if self.old is not None:
            signal.signal(signal.SIGINT, self.old)
        return False


# --------------------------------------------------------------- progress bar
class Progress:
    """A one-line progress bar on a terminal; plain epoch lines elsewhere.

    Receives the trainer's events. On a terminal it redraws one line with ``\\r``
    (at most every :data:`BAR_INTERVAL` seconds) and prints a line per epoch;
    when the stream is not a terminal (a log file, a pipe) only the epoch lines
    are written.
    """

    def __init__(self, stream, enabled: bool = True):
        self.stream = stream
        self.bar = enabled and hasattr(stream, "isatty") and stream.isatty()
        self.total = 0
        self.epochs = 0
        self.first_step = 1
        self.t0 = time.perf_counter()
        self.last_draw = 0.0
        self.drawn = False

    def __call__(self, event) -> None:
        kind = event.kind
        if kind == "started":
            self.total, self.epochs, self.first_step = event.total_steps, event.epochs, event.first_step
            self.t0 = time.perf_counter()
            self._line(f"training on {event.device}: {event.train_size:,} samples "
                       f"({event.val_size:,} for validation), {event.parameter_count:,} parameters, "
                       f"{event.steps_per_epoch} steps per epoch")
            for note in event.notes:
                self._line(f"note: {note}")
        elif kind == "step" and self.bar:
            now = time.perf_counter()
            if now - self.last_draw >= BAR_INTERVAL:
                self.last_draw = now
                self._draw(event, now)
        elif kind == "epoch":
            parts = [f"epoch {event.epoch}/{self.epochs}"]
            parts += [f"{k} {v:.4f}" for k, v in event.train.items()]
            parts += [f"val_{k} {v:.4f}" for k, v in (event.val or {}).items()]
            parts.append(f"({event.elapsed:.1f} s)")
            self._line("  ".join(parts))

    def _draw(self, event, now: float) -> None:
        done = event.step
        share = done / self.total if self.total else 1.0
        filled = int(BAR_WIDTH * share)
        bar = "#" * filled + "." * (BAR_WIDTH - filled)
        run_steps = done - self.first_step + 1
        eta = (now - self.t0) / run_steps * (self.total - done) if run_steps > 0 else 0.0
        text = (f"\repoch {event.epoch}/{self.epochs} [{bar}] {done}/{self.total}  "
                f"loss {event.loss:.4f}  ETA {_clock(eta)}")
        self.stream.write(text)
        self.stream.flush()
        self.drawn = True

    def _line(self, text: str) -> None:
        if self.drawn:
            self.stream.write("\r\033[K")
            self.drawn = False
        self.stream.write(text + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.drawn:
            self.stream.write("\r\033[K")
            self.stream.flush()
            self.drawn = False


def _clock(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"
