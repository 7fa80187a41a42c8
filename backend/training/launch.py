"""Start the processes of a distributed run with torch.distributed's own launcher.

``layerloom train FILE --nproc N`` calls :func:`launch`, which does what
``torchrun --nproc-per-node N`` does: an elastic agent (torch's
:class:`~torch.distributed.launcher.api.elastic_launch` with a
:class:`~torch.distributed.launcher.api.LaunchConfig`) runs in this process,
starts N workers with ``RANK``/``LOCAL_RANK``/``WORLD_SIZE``/``MASTER_ADDR``/
``MASTER_PORT`` set, watches them, and when one fails stops the others. Several
machines use torchrun's static rendezvous with the same four options
(``--nnodes``, ``--node-rank``, ``--master-addr``, ``--master-port``), so a
command that works with torchrun works here.

A failing worker writes its message to the error file the agent gives it
(``TORCHELASTIC_ERROR_FILE``, the format torch's ``@record`` writes) and exits;
:func:`describe_failures` turns the agent's report into one line that names the
rank at fault, and tells it apart from ranks that only lost contact with it.

Ctrl-C: every worker stops after the same step (see
:class:`~layerloom.backend.training.distributed.DistributedTrainer`), rank 0 keeps a
checkpoint, and the command ends with status 130; a second Ctrl-C ends the workers
at once.
"""

from __future__ import annotations

import contextlib
import json
import logging
import multiprocessing
import os
import signal
import socket
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

ERROR_FILE_VAR = "TORCHELASTIC_ERROR_FILE"
DEFAULT_PORT = 29500  # torchrun's default --master-port
RENDEZVOUS_TIMEOUT_S = 900
PEER_LOSS_GRACE_S = 3.0  # a rank that lost a peer waits this long before it ends
LOG_NAMES = ("torch.distributed.elastic", "torch.multiprocessing")
_AGENT_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT")
                       if hasattr(signal, name))


class LaunchError(Exception):
    """The run could not start or a worker failed; the message says which and why."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class LaunchOptions:
    """torchrun's options: processes on this machine, machines, this machine's
    place and where rank 0's machine listens."""

    nproc: int = 1
    nnodes: int = 1
    node_rank: int = 0
    master_addr: str = "127.0.0.1"
    master_port: int | None = None  # None: a free port (one machine) or 29500

    def check(self) -> None:
        """Raise :class:`LaunchError` for impossible combinations, naming them."""
        if self.nproc < 1:
            raise LaunchError(f"--nproc must be at least 1, got {self.nproc}", 2)
        if self.nnodes < 1:
            raise LaunchError(f"--nnodes must be at least 1, got {self.nnodes}", 2)
        if not 0 <= self.node_rank < self.nnodes:
            raise LaunchError(
                f"--node-rank must be between 0 and {self.nnodes - 1} (--nnodes {self.nnodes}), "
                f"got {self.node_rank}", 2)
        if self.master_port is not None and not 1 <= self.master_port <= 65535:
            raise LaunchError(f"--master-port must be between 1 and 65535, got {self.master_port}", 2)
        if not self.master_addr.strip():
            raise LaunchError("--master-addr is empty; give the address of the machine of node rank 0", 2)

    @property
    def distributed(self) -> bool:
        return self.nproc > 1 or self.nnodes > 1


def train_command(path: str | os.PathLike, processes: int, out: str | os.PathLike | None = None,
                  events: str | os.PathLike | None = None, extra: tuple[str, ...] = ()) -> list[str]:
    """The command line that trains the ``.loom`` file ``path`` on ``processes``
    processes, for a child process (``subprocess.Popen``) started by the GUI.

    It runs ``python -m layerloom.backend.training`` (``layerloom train``) without a progress
    bar; with ``events`` it writes every training event of rank 0 to that file as
    JSON lines (:class:`dataclasses.asdict` of each event) for the caller to follow.
    Sending the child SIGINT stops every process after the same step, keeps a
    checkpoint and ends with status 130.
    """
    command = [sys.executable, "-m", "layerloom.backend.training", os.fspath(path),
               "--nproc", str(int(processes)), "--no-progress"]
    if out is not None:
        command += ["--out", os.fspath(out)]
    if events is not None:
        command += ["--events", os.fspath(events)]
    return command + list(extra)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on at ``host`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def launch(entrypoint: Callable[..., Any], payload: Any, options: LaunchOptions,
           *, threads: int | None = None, stream=None) -> dict[int, Any]:
    """Run ``entrypoint(payload)`` in ``options.nproc`` worker processes.

    Parameters
    ----------
    entrypoint : callable
        A module-level function (workers are started with ``spawn`` and import
        it); it reads its rank from the environment.
    payload
        Its argument (picklable plain data).
    options : LaunchOptions
        torchrun's options.
    threads : int, optional
        ``OMP_NUM_THREADS`` of each worker when the environment does not set it
        (default: this machine's cores shared between the processes).
    stream
        Where "stopping ..." notices go (default ``sys.stderr``).

    Returns
    -------
    dict
        Each local worker's return value by global rank.

    Raises
    ------
    LaunchError
        A worker failed (the message names the rank), the rendezvous failed, or
        the run was aborted with a second Ctrl-C (``code`` 130).
    """
    from torch.distributed.elastic.multiprocessing import DefaultLogsSpecs, Std
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    options.check()
    stream = stream or sys.stderr
    port = options.master_port
    if port is None:
        port = free_port(options.master_addr) if options.nnodes == 1 else DEFAULT_PORT
    env = {"TORCHELASTIC_SIGNALS_TO_HANDLE": os.environ.get("TORCHELASTIC_SIGNALS_TO_HANDLE")}
    if "OMP_NUM_THREADS" not in os.environ:
        env["OMP_NUM_THREADS"] = None
        os.environ["OMP_NUM_THREADS"] = str(threads or _threads_per_process(options.nproc))
    interrupts = _Interrupts(stream)
    with tempfile.TemporaryDirectory(prefix="layerloom-launch-") as logs, \
            _quiet_torch_logs(), interrupts.installed():
        config = LaunchConfig(
            min_nodes=options.nnodes, max_nodes=options.nnodes, nproc_per_node=options.nproc,
            run_id=f"layerloom-{uuid.uuid4().hex[:12]}" if options.nnodes == 1 else "layerloom",
            rdzv_backend="static", rdzv_endpoint=f"{options.master_addr}:{port}",
            rdzv_configs={"rank": options.node_rank, "timeout": RENDEZVOUS_TIMEOUT_S},
            max_restarts=0, monitor_interval=0.1, start_method="spawn",
            logs_specs=DefaultLogsSpecs(log_dir=logs, redirects=Std.NONE, tee=Std.NONE),
            # Ctrl-C is handled by _Interrupts (stop together), not by killing at once
            signals_to_handle="SIGTERM,SIGHUP,SIGQUIT",
        )
        try:
            return elastic_launch(config, entrypoint)(payload)
        except ChildFailedError as exc:
            if interrupts.count:
                raise LaunchError("stopped: the processes ended before they could save", 130) from None
            raise LaunchError(describe_failures(exc.failures, options)) from None
        except KeyboardInterrupt:
            raise LaunchError("aborted: every process was ended at once; the last checkpoint "
                              "written at an epoch's end is kept", 130) from None
        except Exception as exc:  # rendezvous: address in use, unreachable master, timeout
            raise LaunchError(_rendezvous_message(exc, options, port)) from None
        finally:
            for name, value in env.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


def _threads_per_process(nproc: int) -> int:
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    return max(1, cores // max(nproc, 1))


def _rendezvous_message(exc: Exception, options: LaunchOptions, port: int) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    where = f"{options.master_addr}:{port}"
    if options.nnodes > 1:
        return (f"the {options.nnodes} machines could not meet at {where} ({text}); start the same "
                "command on every machine with its --node-rank, and check that the machine of "
                "node rank 0 is reachable there and the port is free")
    return f"could not start the processes (rendezvous at {where}: {text}); try another --master-port"


class _Interrupts:
    """Ctrl-C in the launching process: the first asks every worker to stop after
    the current step (forwarding SIGINT to the workers it started, in case it was
    sent to this process alone); the second ends them at once."""

    def __init__(self, stream):
        self.stream = stream
        self.count = 0

    def _handler(self, signum, frame):
        self.count += 1
        if self.count > 1:
            raise KeyboardInterrupt
        print("\nstopping every process after this step (Ctrl-C again to abort) ...",
              file=self.stream, flush=True)
        for child in multiprocessing.active_children():
            with contextlib.suppress(OSError):
                os.kill(child.pid, signal.SIGINT)

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        # torch's agent installs its own SIGTERM/SIGHUP/SIGQUIT handlers and leaves them
        kept = {sig: signal.getsignal(sig) for sig in _AGENT_SIGNALS}
        signal.signal(signal.SIGINT, self._handler)
        try:
            yield
        finally:
            for sig, handler in kept.items():
                signal.signal(sig, handler)


@contextlib.contextmanager
def _quiet_torch_logs() -> Iterator[None]:
    """Hide the agent's own log lines (its tracebacks of failed workers); the
    failure is reported by :func:`describe_failures`. ``LOGLEVEL`` (torchrun's
    variable) set in the environment keeps them."""
    if os.environ.get("LOGLEVEL"):
        yield
        return
    manager = logging.Logger.manager
    touched = []
    for name in list(manager.loggerDict):
        logger = manager.loggerDict[name]
        if isinstance(logger, logging.Logger) and name.startswith(LOG_NAMES) and not logger.disabled:
            logger.disabled = True
            touched.append(logger)
    for name in LOG_NAMES:
        logger = logging.getLogger(name)
        if not logger.disabled:
            logger.disabled = True
            touched.append(logger)
    try:
        yield
    finally:
        for logger in touched:
            logger.disabled = False


# ------------------------------------------------------------------ failures
def write_error_file(message: str, lost_peer: bool = False) -> None:
    """Leave ``message`` for the launcher in the error file torch's agent named
    (nothing happens when there is none, e.g. outside a launched run)."""
    path = os.environ.get(ERROR_FILE_VAR)
    if not path:
        return
    data = {
        "message": {"message": message,
                    "extraInfo": {"py_callstack": "", "timestamp": str(int(time.time()))}},
        "layerloom": {"lost_peer": bool(lost_peer)},
    }
    with contextlib.suppress(OSError):
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(data, handle)


def describe_failures(failures: dict[int, Any], options: LaunchOptions | None = None) -> str:
    """One message for the agent's failed workers (``ProcessFailure`` by rank).

    The rank at fault is named first: one that reported its own error, else one
    that was killed by a signal or exited without a word, and only then one that
    merely lost contact with the others (whose cause is then on another machine).
    """
    ranked = []
    for rank, failure in failures.items():
        data = getattr(failure, "error_file_data", None) or {}
        message = failure.message.get("message") if isinstance(failure.message, dict) else failure.message
        own = isinstance(data, dict) and "layerloom" in data
        lost = own and bool(data["layerloom"].get("lost_peer"))
        order = 2 if lost else 0 if own else 1
        ranked.append((order, failure.timestamp, rank, failure, message))
    if not ranked:
        return "a worker process failed without saying why"
    ranked.sort(key=lambda item: item[:3])
    order, _, rank, failure, message = ranked[0]
    if order == 0:
        text = f"rank {rank} failed: {message}"
    elif order == 2:
        text = (f"rank {rank} lost contact with the other processes ({message}); the process at "
                "fault runs on another machine: see its output there")
    elif failure.exitcode < 0:
        name = failure.signal_name()
        text = f"rank {rank} (process {failure.pid}) was killed by signal {name}"
        if name == "SIGKILL":
            text += " (often the system running out of memory; try a smaller batch or fewer processes)"
    else:
        text = f"rank {rank} (process {failure.pid}) exited with status {failure.exitcode} without a message"
    others = sorted(r for r in failures if r != rank)
    if others:
        text += f"; rank{'s' if len(others) > 1 else ''} {', '.join(map(str, others))} stopped as well"
    return text + "; the other processes were ended"
