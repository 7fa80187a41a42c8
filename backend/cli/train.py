"""``layerloom train FILE``: train a graph headless and write the trained model.

Defaults come from the file's ``"dataset"`` and ``"training"`` sections; options on
the command line override them for this run only: ``--dataset`` names other data
and ``-o KEY=VALUE`` sets an option of the data (a built-in's or a data file's
kind's). A progress bar on stderr shows steps, loss and the time left. The run
writes into ``--out`` (default ``runs/<file name>``):

``model.safetensors``
    The trained weights with the graph embedded (and the input normalisation;
    for text data, the characters of the token ids, which ``layerloom sample`` reads).
``metrics.json``
    Per-epoch training and validation loss and metrics, the final values, test
    metrics where the dataset ships a test split, wall time, device and settings.
``checkpoint/``
    The last checkpoint, written after an epoch at most every
    :data:`CHECKPOINT_EVERY` seconds and when the run ends or stops;
    ``--resume DIR/checkpoint`` continues from it.

The run is also kept with the graph, as the app keeps its runs: ``NAME.runs/run-NNN/``
beside ``NAME.loom`` (settings, graph, curves, weights; see :mod:`layerloom.backend.runs`),
which ``layerloom runs`` lists; ``--no-record`` leaves it out.

Ctrl-C stops after the current step and keeps a checkpoint (a second Ctrl-C
aborts at once).

Several processes (``--nproc N``, or the file's ``processes`` setting) train with
DistributedDataParallel: this command becomes torch.distributed's launcher
(:mod:`layerloom.backend.training.launch`, what ``torchrun`` runs), and each worker it starts
trains one share of every batch (:mod:`layerloom.backend.training.distributed`). Started by
``torchrun`` itself, the command finds ``RANK``/``WORLD_SIZE``/``LOCAL_RANK`` in
its environment and joins the run instead of launching one. ``--batch-size`` is
always the global batch, split between the processes.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from dataclasses import replace

from layerloom.backend.cli import EXIT_INVALID, CommandError, finetune
from layerloom.backend.cli.prepare import Prepared, _prepare
from layerloom.backend.cli.settings_options import add_options
from layerloom.backend.cli.train_outputs import EXIT_STOPPED, _record_run, _write_outputs
from layerloom.backend.training.events import write_event
from layerloom.graph.fileio import describe_write_error

BAR_WIDTH = 24
BAR_INTERVAL = 0.1  # seconds between progress-bar redraws
CHECKPOINT_EVERY = 2.0  # seconds at least between two checkpoints written after an epoch


def add_parser(subs, name: str) -> None:
    p = subs.add_parser(
        name, help="train a .loom graph on its dataset and write the trained model",
        description="Train a graph headless. Defaults come from the settings saved in "
        "the file; the options below override them for this run.",
    )
    p.add_argument("file", help="the .loom graph file")
    p.add_argument("-o", "--option", action="append", default=[], metavar="KEY=VALUE",
                   help="a dataset option, e.g. -o target=species (repeatable; see layerloom datasets "
                   "NAME|PATH): over the file's options, or alone with --dataset")
    d = p.add_argument_group(
        "several processes and machines (DistributedDataParallel, as torchrun runs it)",
        "Each process trains on its share of every batch; --batch-size stays the global batch, "
        "so a run on N processes learns like one on a single process. CUDA: one GPU per process "
        "(nccl); CPU: gloo. On a cluster, run the same command on every machine with its "
        "--node-rank. Started by torchrun, the command joins that run instead.")
    # One option per setting with a flag, made from the settings' declaration (--nproc,
    # the processes setting, in the group above).
    add_options(p, groups={"processes": d})
    finetune.add_options(p)
    p.add_argument("--out", metavar="DIR", help="output folder (default: runs/<file name>)")
    p.add_argument("--resume", metavar="CHECKPOINT",
                   help="continue from a checkpoint folder (DIR/checkpoint of an earlier run)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar, only epoch lines")
    p.add_argument("--no-record", action="store_true",
                   help="do not keep this run in NAME.runs/ beside the graph (see layerloom runs)")
    p.add_argument("--events", metavar="PATH",
                   help="also write every training event as one JSON line to PATH ('-': stdout)")
    d.add_argument("--nnodes", type=_positive_int, default=1, metavar="M",
                   help="machines taking part (default 1)")
    d.add_argument("--node-rank", type=_non_negative, default=0, metavar="K",
                   help="this machine's place, 0..M-1 (default 0)")
    d.add_argument("--master-addr", default="127.0.0.1", metavar="ADDR",
                   help="address of the machine with node rank 0 (default 127.0.0.1)")
    d.add_argument("--master-port", type=_port, metavar="PORT",
                   help="its port (default: a free port on one machine, 29500 on several)")
    p.set_defaults(run=run)


def _whole_number(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None


def _positive_int(text: str) -> int:
    value = _whole_number(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _non_negative(text: str) -> int:
    value = _whole_number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def _port(text: str) -> int:
    value = _positive_int(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"must be a port number up to 65535, got {value}")
    return value


# ------------------------------------------------------------------ the command
def run(args) -> int:
    from layerloom.backend.cli.train_gan import is_gan_run
    from layerloom.backend.training import TrainingError

    if is_gan_run(args):  # two networks that compete
        return _train_gan(args)
    from layerloom.backend.training.distributed import worker_env

    try:
        env = worker_env()
    except TrainingError as exc:
        raise CommandError(str(exc)) from None
    if env is not None:  # started by torchrun: join its run
        if args.nproc not in (None, env.local_world_size):
            raise CommandError(
                f"this process is one of {env.local_world_size} on this machine started by "
                f"torchrun (LOCAL_WORLD_SIZE={env.local_world_size}); leave out --nproc {args.nproc}"
            )
        prepared = _prepare(args, make_out=env.is_main)
        return _train_worker(args, prepared, env, launched=False)
    prepared = _prepare(args)
    options = _launch_options(args, prepared.settings)
    if options.distributed:
        return _launch(args, prepared, options)
    return _train(args, prepared)


def _train_gan(args) -> int:
    """A GAN project, in this process (:mod:`layerloom.backend.cli.train_gan`)."""
    from layerloom.backend.cli import train_gan

    train_gan.check(args)
    prepared = _prepare(args, plan=False)
    events = _consumer(args)
    trainer, writer = train_gan.make_trainer(args, prepared, events, BAR_INTERVAL)
    with _stop_on_sigint(trainer):
        final = trainer.run()
    events.close()
    return train_gan.finish(args, prepared, trainer, final, writer)


def trainer_options() -> dict[str, float]:
    """How this command's single-process trainer reports and checkpoints (the
    benchmarks build theirs the same way)."""
    return {"min_step_interval": BAR_INTERVAL, "checkpoint_every": CHECKPOINT_EVERY}


def _train(args, p: Prepared) -> int:
    """Train in this process (one process)."""
    from layerloom.backend.training import Trainer

    events = _consumer(args)
    trainer = Trainer(
        p.graph, p.data.train, p.data.val, p.settings, model=p.model, on_event=events,
        checkpoint_dir=p.out / "checkpoint", resume_from=args.resume,
        normalisation=p.data.normalisation, **trainer_options(),
    )
    with _stop_on_sigint(trainer):
        final = trainer.run()
    events.close()
    if final.kind == "failed":
        _record_run(args, p, events.history, trainer, None)
        raise CommandError(final.message, EXIT_INVALID)
    return _write_outputs(args, p, trainer, final, history=events.history)


# ------------------------------------------------------------ several processes
_EARLY_STOP = threading.Event()  # Ctrl-C reached a worker before its trainer existed


def _launch_options(args, settings):
    from layerloom.backend.training.launch import LaunchOptions

    return LaunchOptions(
        nproc=args.nproc if args.nproc is not None else settings.processes,
        nnodes=args.nnodes, node_rank=args.node_rank, master_addr=args.master_addr,
        master_port=args.master_port,
    )


def _launch(args, prepared: Prepared, options) -> int:
    """Be torchrun: start the workers of this machine and wait for them."""
    from layerloom.backend.training import TrainingError
    from layerloom.backend.training.distributed import plan_device
    from layerloom.backend.training.launch import LaunchError, launch

    try:
        options.check()
        plan_device(prepared.settings.device, 0, options.nproc)  # enough GPUs?
    except LaunchError as exc:
        raise CommandError(str(exc), exc.code) from None
    except TrainingError as exc:
        raise CommandError(str(exc)) from None
    payload = {k: v for k, v in vars(args).items() if k != "run"}
    payload["nproc"] = options.nproc
    try:
        results = launch(_worker_entry, payload, options)
    except LaunchError as exc:
        raise CommandError(str(exc), exc.code) from None
    codes = [int(code or 0) for code in results.values()]
    return int(results.get(0) or 0) if 0 in results else max(codes, default=0)


def _worker_entry(payload: dict) -> int:
    """One worker started by :func:`_launch` (in a fresh, spawned process)."""
    signal.signal(signal.SIGINT, lambda signum, frame: _EARLY_STOP.set())
    from layerloom.backend.training import TrainingError
    from layerloom.backend.training.distributed import is_peer_loss, worker_env

    args = argparse.Namespace(**payload)
    env = None
    try:
        env = worker_env()
        prepared = _prepare(args, make_out=env.is_main)
        return _train_worker(args, prepared, env, launched=True)
    except (CommandError, TrainingError) as exc:
        _worker_failed(env, str(exc), lost_peer=False, launched=True)
    except Exception as exc:  # joining the process group, mostly: one line, no traceback
        _worker_failed(env, _describe(exc), is_peer_loss(exc), launched=True)


def _train_worker(args, prepared: Prepared, env, launched: bool) -> int:
    """Train as rank ``env.rank``: rank 0 reports and writes, all train."""
    from layerloom.backend.training import TrainingError
    from layerloom.backend.training.distributed import (
        DistributedTrainer,
        is_peer_loss,
        join_process_group,
        leave_process_group,
        plan_device,
    )

    p = prepared
    try:
        device, backend, notes = plan_device(p.settings.device, env.local_rank, env.local_world_size)
    except TrainingError as exc:
        raise CommandError(str(exc)) from None
    settings = p.settings.replace(device=device)
    events = _consumer(args) if env.is_main else None
    try:
        groups = join_process_group(env, backend, device)
    except Exception as exc:  # unreachable master, port taken, backend missing
        _worker_failed(env, f"cannot join the other processes: {_describe(exc)}",
                       is_peer_loss(exc), launched)
    try:
        trainer = DistributedTrainer(
            p.graph, p.data.train, p.data.val, settings, groups=groups, on_event=events, model=p.model,
            checkpoint_dir=p.out / "checkpoint", resume_from=args.resume,
            min_step_interval=BAR_INTERVAL, normalisation=p.data.normalisation,
        )
        trainer.setup_notes.extend(notes)
        with _stop_on_sigint(trainer, distributed=True, quiet=launched or not env.is_main):
            final = trainer.run()
        if events is not None:
            events.close()
        if final.kind == "failed":
            _worker_failed(env, final.message, is_peer_loss(trainer.exception), launched)
        trainer.close()
        if not env.is_main:
            return EXIT_STOPPED if final.reason == "stopped" else 0
        return _write_outputs(args, replace(p, settings=settings), trainer, final,
                              {"backend": backend}, history=events.history)
    finally:
        leave_process_group()


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__


def _worker_failed(env, message: str, lost_peer: bool, launched: bool):
    """End this worker with ``message`` for the launcher (and torchrun).

    A rank that only lost contact with another lingers a moment first: the
    launcher reports the first process to end, and that must be the one at
    fault (it ends this one meanwhile). ``os._exit`` skips tearing down the
    process group, which could wait on ranks stuck in a collective with this one.
    """
    from layerloom.backend.training.launch import PEER_LOSS_GRACE_S, write_error_file

    write_error_file(message, lost_peer)
    if lost_peer:
        time.sleep(PEER_LOSS_GRACE_S)
    if not launched:
        where = f"rank {env.rank} of {env.world_size}" if env is not None else "worker"
        print(f"error: {where}: {message}", file=sys.stderr)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(EXIT_INVALID)


class _Events:
    """The trainer's consumer: the progress bar, plus a JSON-lines log (``--events``).
    :meth:`close` ends both."""

    def __init__(self, progress, path: str | None):
        from layerloom.backend.runs import HistoryRecorder

        self.progress = progress
        self.history = HistoryRecorder()  # the curves kept with the run (NAME.runs/)
        self.handle = None
        self.error: str | None = None
        self.what = f"the events log {path}"
        if path == "-":
            self.handle = sys.stdout
        elif path:
            try:
                self.handle = open(path, "w", encoding="utf-8")  # noqa: SIM115 - closed in close()
            except OSError as exc:
                raise CommandError(f"--events {path}: {exc.strerror or exc}") from None

    def __call__(self, event) -> None:
        self.progress(event)
        self.history(event)
        if self.handle is not None:
            try:
                write_event(self.handle, event)
            except OSError as exc:  # a full disk: the run stops, close() says why
                self.error = describe_write_error(exc, self.what)
                self._drop_handle()
                raise

    def close(self) -> None:
        """End the bar and the log; a log that could not be written ends the command."""
        self.progress.close()
        self._drop_handle()
        if self.error:
            raise CommandError(self.error)

    def _drop_handle(self) -> None:
        handle, self.handle = self.handle, None
        if handle is None or handle is sys.stdout:
            return
        try:
            handle.close()
        except OSError as exc:
            self.error = self.error or describe_write_error(exc, self.what)


def _consumer(args) -> _Events:
    """The progress bar on stderr (unless ``--no-progress``) and the ``--events`` log."""
    return _Events(Progress(sys.stderr, enabled=not args.no_progress), getattr(args, "events", None))


class _stop_on_sigint:
    """Ctrl-C asks the trainer to stop (and checkpoint); a second one aborts.

    In a distributed run every Ctrl-C only asks to stop: the ranks agree on the
    step to stop at, and the launcher (or torchrun) ends them if they linger.
    ``quiet`` leaves the notice to the launcher.
    """

    def __init__(self, trainer, distributed: bool = False, quiet: bool = False):
        self.trainer = trainer
        self.distributed = distributed
        self.quiet = quiet
        self.old = None

    def _handler(self, signum, frame):
        if self.trainer.stopping:
            if self.distributed:
                return
            signal.signal(signal.SIGINT, signal.default_int_handler)
            raise KeyboardInterrupt
        if not self.quiet:
            print("\nstopping after this step (Ctrl-C again to abort) ...", file=sys.stderr)
        self.trainer.stop()

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self.old = signal.signal(signal.SIGINT, self._handler)
            if _EARLY_STOP.is_set():  # Ctrl-C while the worker was starting
                self.trainer.stop()
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
            where = event.device if event.processes == 1 else \
                f"{event.processes} processes ({event.device.split(':')[0]})"
            frozen = f" ({event.frozen_count:,} frozen)" if event.frozen_count else ""
            self._line(f"training on {where}: {event.train_size:,} samples "
                       f"({event.val_size:,} for validation), {event.parameter_count:,} parameters{frozen}, "
                       f"{event.steps_per_epoch} steps per epoch")
            for note in event.notes:
                self._line(f"note: {note}")
        elif kind == "note":
            self._line(f"note: {event.message}")
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
