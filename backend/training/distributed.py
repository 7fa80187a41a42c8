"""Data-parallel training over several processes with torch.distributed.

Each process (a *rank*) holds the whole dataset in memory, compiles the same model
with the same seed and trains it wrapped in
:class:`~torch.nn.parallel.DistributedDataParallel`, which averages the gradients
after every backward pass, so every rank takes the same optimizer steps.

Batches keep the meaning they have in one process: ``batch_size`` is the *global*
batch. Every epoch draws the same seeded permutation of the training set as a
single process does and cuts it into the same batches; rank ``r`` of ``W`` takes
rows ``r, r + W, r + 2W, ...`` of each batch (DistributedSampler's striding). Its
loss is weighted by its share of the batch, so the averaged gradient is the mean
over the whole batch, exactly as in one process: the same file and seed learn the
same weights on 1, 2 or 8 processes, up to rounding. A rank left without rows by
a short last batch trains on a placeholder with weight 0 so that all ranks stay in
step. Epoch losses and metrics are summed over the ranks (an all-reduce of the
loss sums, correct counts and sample counts); validation is shared the same way.

Only rank 0 reports events, writes checkpoints and prints. Stopping (Ctrl-C) is
agreed on: each rank tells the others at every step whether it was asked to stop,
through a small all-reduce on a separate gloo group that does not wait for the
GPU, and all of them stop after the same step.

The processes are started by :mod:`layerloom.backend.training.launch` (``layerloom train
--nproc N``) or by ``torchrun``; either way torch.distributed's launcher sets
``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE`` and ``MASTER_ADDR``/``MASTER_PORT``,
which :func:`worker_env` reads.
"""

from __future__ import annotations

import gc
import os
import threading
import time
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from layerloom.backend.training.checks import TrainingError
from layerloom.backend.training.events import Note
from layerloom.backend.training.fast import compile_model, compile_pays
from layerloom.backend.training.metrics import wide_dtype
from layerloom.backend.training.trainer import KEEP_OUTPUT, Trainer

# A debug hook for tests of failure handling: "RANK" or "RANK:STEP" makes that rank
# raise at that optimizer step (step 1 when left out). Nothing else reads it.
DEBUG_FAIL_VAR = "LAYERLOOM_DEBUG_FAIL_RANK"

# Substrings of the errors a rank sees when another one went away mid-collective.
PEER_LOSS_MARKERS = (
    "connection closed by peer", "connection reset by peer", "broken pipe",
    "remote worker", "socket timeout", "timed out", "nccl communicator was aborted",
)


@dataclass(frozen=True)
class WorkerEnv:
    """Where this process sits in a distributed run (set by torch's launcher)."""

    rank: int
    local_rank: int
    world_size: int
    local_world_size: int

    @property
    def is_main(self) -> bool:
        """Rank 0: the process that reports, checkpoints and writes the outputs."""
        return self.rank == 0


def worker_env(environ: dict[str, str] | None = None) -> WorkerEnv | None:
    """The distributed position given by ``torchrun``'s environment, or ``None``.

    A process counts as a worker when ``WORLD_SIZE``, ``RANK`` and ``LOCAL_RANK``
    are all set, as torch.distributed's launcher (``torchrun``, ``elastic_launch``)
    sets them for every process it starts.

    Raises
    ------
    TrainingError
        The variables are set but unusable (not whole numbers, rank out of range).
    """
    env = os.environ if environ is None else environ
    names = ("WORLD_SIZE", "RANK", "LOCAL_RANK")
    if not all(name in env for name in names):
        return None
    values = {}
    for name in (*names, "LOCAL_WORLD_SIZE"):
        text = env.get(name)
        if text is None:
            continue
        try:
            values[name] = int(text)
        except ValueError:
            raise TrainingError(f"the environment variable {name} must be a whole number, "
                                f"got {text!r}; start the run with torchrun") from None
    world, rank, local = values["WORLD_SIZE"], values["RANK"], values["LOCAL_RANK"]
    local_world = values.get("LOCAL_WORLD_SIZE", world)
    if world < 1 or not 0 <= rank < world or not 0 <= local < local_world:
        raise TrainingError(
            f"inconsistent torchrun environment: RANK={rank}, LOCAL_RANK={local}, "
            f"WORLD_SIZE={world}, LOCAL_WORLD_SIZE={local_world}"
        )
    return WorkerEnv(rank, local, world, local_world)


def device_count(device: str = "auto") -> int:
    """How many training processes this machine can run with ``device``.

    One per CUDA GPU when ``device`` is ``auto`` with a GPU present, ``cuda`` or
    ``cuda:N``; otherwise the CPU cores this process may use (CPU processes share
    them). The GUI bounds its "processes" setting with this.
    """
    if device.startswith("cuda") or (device == "auto" and torch.cuda.is_available()):
        return torch.cuda.device_count()
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def plan_device(device: str, local_rank: int, local_world_size: int) -> tuple[str, str, list[str]]:
    """``(device, backend, notes)`` for the process with ``local_rank`` on a machine.

    CUDA (``auto`` with a GPU, ``cuda`` or ``cuda:N``) gives every process its own
    GPU, ``cuda:LOCAL_RANK``, and the nccl backend; the CPU trains with gloo.

    Raises
    ------
    TrainingError
        More processes than GPUs on this machine, a CUDA device without CUDA, or mps.
    """
    notes = []
    if device == "mps":
        raise TrainingError("Apple's mps device cannot train with several processes; "
                            "use device cpu, or train in one process")
    cuda = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
    if not cuda:
        return "cpu", "gloo", notes
    if not torch.cuda.is_available():
        raise TrainingError(f"device {device!r} was asked for, but no CUDA GPU is available to "
                            f"this PyTorch ({torch.__version__}); use device cpu or auto")
    gpus = torch.cuda.device_count()
    if local_world_size > gpus:
        raise TrainingError(
            f"{local_world_size} processes on this machine need one GPU each, but it has {gpus}; "
            f"start at most {gpus} (--nproc {gpus}), or train on the CPU (--device cpu)"
        )
    if device.startswith("cuda:") and local_world_size > 1:
        notes.append(f"device {device} is ignored with several processes: each uses its own GPU")
    return f"cuda:{local_rank}", "nccl", notes


@dataclass
class Groups:
    """The process groups of a run: ``main`` (gloo or nccl) for gradients and
    metrics, ``control`` (always gloo, on the CPU) for the stop flag."""

    env: WorkerEnv
    backend: str
    main: dist.ProcessGroup | None
    control: dist.ProcessGroup | None


def join_process_group(env: WorkerEnv, backend: str, device: str) -> Groups:
    """Join the run's process group (``env://``: MASTER_ADDR, MASTER_PORT); every
    rank calls it, and :func:`leave_process_group` at the end.

    nccl binds each process to its GPU first (``torch.cuda.set_device``, and
    ``device_id`` for an eagerly connected group), as the torch.distributed
    documentation asks, so that no collective lands on GPU 0 by default.
    """
    kwargs = {}
    if backend == "nccl":
        torch.cuda.set_device(torch.device(device))
        kwargs["device_id"] = torch.device(device)
    dist.init_process_group(backend=backend, init_method="env://", rank=env.rank,
                            world_size=env.world_size, **kwargs)
    control = dist.new_group(backend="gloo")
    return Groups(env, backend, dist.group.WORLD, control)


def leave_process_group() -> None:
    """Leave the process group joined by :func:`join_process_group` (if any).

    Objects that hold the group (a DistributedDataParallel wrapper: see
    :meth:`DistributedTrainer.close`) are collected first, so that the group's
    threads end now rather than while the interpreter shuts down.
    """
    gc.collect()
    if dist.is_initialized():
        dist.destroy_process_group()


def is_peer_loss(exc: BaseException | None) -> bool:
    """True when ``exc`` says that another rank went away (so this rank is not the
    cause of the failure)."""
    if exc is None:
        return False
    if isinstance(exc, getattr(dist, "DistNetworkError", ())):
        return True
    text = str(exc).lower()
    return any(marker in text for marker in PEER_LOSS_MARKERS)


def debug_failure_step(rank: int, environ: dict[str, str] | None = None) -> int | None:
    """The step at which :data:`DEBUG_FAIL_VAR` asks ``rank`` to fail, if it does."""
    value = (os.environ if environ is None else environ).get(DEBUG_FAIL_VAR, "").strip()
    if not value:
        return None
    target, _, step = value.partition(":")
    try:
        return int(step or 1) if int(target) == rank else None
    except ValueError:
        raise TrainingError(f"{DEBUG_FAIL_VAR} must be RANK or RANK:STEP, got {value!r}") from None


def has_unused_parameters(model: torch.nn.Module) -> bool:
    """True when some trainable parameter does not feed the model's outputs.

    DistributedDataParallel must then look for them after every forward pass
    (``find_unused_parameters``); otherwise it waits for their gradients forever.
    """
    graph = getattr(model, "graph", None)
    if graph is None:
        return True
    used, todo = set(), [n for n in graph.nodes if n.op == "output"]
    seen = set()
    while todo:
        node = todo.pop()
        if node in seen:
            continue
        seen.add(node)
        if node.op in ("call_module", "get_attr"):
            used.add(str(node.target).split(".", 1)[0])
        todo.extend(node.all_input_nodes)
    return any(p.requires_grad and name.split(".", 1)[0] not in used
               for name, p in model.named_parameters())


def batch_share(perm: torch.Tensor, lo: int, hi: int, rank: int, world: int
                ) -> tuple[torch.Tensor, float]:
    """Rank ``rank``'s rows of the batch ``perm[lo:hi]`` and the weight of its loss.

    The rows are every ``world``-th one from ``lo + rank``; the weight, the rank's
    share of the batch times ``world``, makes DistributedDataParallel's average of
    the ranks' gradients the mean gradient over the whole batch. A rank left
    without rows gets weight 0 (and no rows: the caller trains on a placeholder).
    """
    rows = perm[lo + rank:hi:world]
    return rows, len(rows) * world / (hi - lo)


class DistributedTrainer(Trainer):
    """A :class:`Trainer` that is one rank of a data-parallel run.

    Every rank constructs one with the same graph, data and settings (the data
    already split and normalised with the run's seed, so identical everywhere);
    ``settings.device`` is this rank's device (see :func:`plan_device`). Only the
    trainer of rank 0 should get an ``on_event`` consumer. ``checkpoint_dir`` must
    be given to every rank (they all take part in gathering a checkpoint's
    sums), but only rank 0 writes it.

    :meth:`stop` may be called from a signal handler on any rank: the ranks agree
    on it within one step and stop together. Pause and learning-rate changes are
    not offered (the command line does not use them).
    """

    def __init__(self, *args, groups: Groups, **kwargs):
        super().__init__(*args, **kwargs)
        self.groups = groups
        self.rank = groups.env.rank
        self.world_size = groups.env.world_size
        self._stop_wanted = threading.Event()
        self._flag_work = None
        self._gathered = False
        self._fail_at = debug_failure_step(self.rank)
        self.setup_notes.append(
            f"{self.world_size} processes ({groups.backend}) share every batch; "
            "batch_size is the global batch"
        )

    # ------------------------------------------------------------ control
    def stop(self) -> None:
        """Ask every rank to stop after the same step (thread- and signal-safe)."""
        self._stop_wanted.set()

    @property
    def stopping(self) -> bool:
        return self._stop_wanted.is_set() or self._stop.is_set()

    def pause(self) -> None:
        raise TrainingError("a distributed run cannot pause; stop it and resume from its checkpoint")

    def _control(self) -> bool:
        """Between steps: collect the last step's stop votes and send this one's."""
        work, self._flag_work = self._flag_work, None
        if work is not None:
            work.wait()
            if self._flag.item() > 0:
                self._stop.set()
                return True
        self._flag = torch.tensor([1 if self._stop_wanted.is_set() else 0], dtype=torch.int32)
        self._flag_work = dist.all_reduce(self._flag, group=self.groups.control, async_op=True)
        return False

    def _settle_control(self) -> None:
        work, self._flag_work = self._flag_work, None
        if work is not None:
            work.wait()

    # -------------------------------------------------------------- setup
    def _setup(self) -> None:
        super()._setup()
        device = self.device
        ids = [device.index] if device.type == "cuda" else None
        self._ddp = DistributedDataParallel(
            self.model, device_ids=ids, output_device=device.index if ids else None,
            find_unused_parameters=has_unused_parameters(self.model),
            process_group=self.groups.main,
        )
        # the fast path compiles the DDP wrapper, without CUDA graphs (they do not
        # capture DDP's gradient all-reduce)
        self._forward = self._eager_forward = self._ddp
        self._cuda_graphs, self._keep_output = False, KEEP_OUTPUT
        if self.settings.compile and compile_pays(device):
            self._forward, problem = compile_model(self._ddp, device, cuda_graphs=False)
            if problem is not None:
                self._emit(Note(self.step + 1, problem))
        if self.rank:  # dropout draws differ between ranks, reproducibly
            torch.manual_seed((self.settings.seed + 7919 * self.rank + self.step) % (2**63))

    def _restore(self, state) -> None:
        super()._restore(state)
        if self.rank:  # the checkpoint's partial sums are global; rank 0 keeps them
            self._loss_sum, self._loss_n = 0.0, 0
            self._reset_epoch()

    # --------------------------------------------------------------- loop
    def _train_batch(self, perm: torch.Tensor, b: int) -> None:
        if self._fail_at is not None and self.step + 1 == self._fail_at:
            raise RuntimeError(f"failure injected on rank {self.rank} at step {self._fail_at} "
                               f"by {DEBUG_FAIL_VAR}")
        self._gathered = False  # the sums grow again
        lo = b * self._bs
        rows, scale = batch_share(perm, lo, min(lo + self._bs, len(perm)), self.rank, self.world_size)
        if len(rows):
            self._train_step(rows, lo, scale=scale)
        else:  # a short last batch left this rank nothing: keep step with weight 0
            self._train_step(perm[:2], lo, scale=0.0, record=False)

    def _sum_across(self, tensor: torch.Tensor) -> None:
        dist.all_reduce(tensor, group=self.groups.main)

    def _gather_epoch(self) -> None:
        """Sum this epoch's running loss and metrics over the ranks (once)."""
        if self._gathered:
            return
        self._drain()
        self._settle()
        totals = torch.tensor([self._loss_sum, self._loss_n], dtype=wide_dtype(self.device),
                              device=self.device)
        self._sum_across(totals)
        self._loss_sum, self._loss_n = float(totals[0]), int(totals[1])
        self._sums.reduce(self._sum_across)
        self._gathered = True

    def _reset_epoch(self) -> None:
        super()._reset_epoch()
        self._gathered = False

    def _checkpoint_due(self) -> bool:
        """Every epoch: the ranks must agree on when, and their clocks differ."""
        return True

    def _train_metrics(self) -> dict[str, float]:
        self._gather_epoch()
        return super()._train_metrics()

    def _validate(self):
        x, y, y_loss, spread = self._val
        rows = slice(self.rank, None, self.world_size)
        loss_sum, sums = self._evaluate_sums(x, y, y_loss, spread, confusion=True, rows=rows)
        self._sum_across(loss_sum)
        sums.reduce(self._sum_across)
        return {"loss": float(loss_sum) / max(len(x), 1), **sums.result()}, sums.confusion()

    # ---------------------------------------------------------- end, save
    def save_checkpoint(self, folder=None):
        """Gather the epoch's sums from every rank; rank 0 writes the checkpoint
        (other ranks return ``None``). Every rank must call it at the same step."""
        self._gather_epoch()
        if self.rank:
            self._checkpointed = (self.step, time.perf_counter())
            return None
        return super().save_checkpoint(folder)

    def close(self) -> None:
        """After the run: wait until every rank is done with the group (a barrier)
        and drop the DistributedDataParallel wrapper, which holds it. Every rank
        calls it, and only after a run that did not fail."""
        self._settle_control()
        dist.barrier(group=self.groups.control)
        self._forward = self._eval_forward
        self._ddp = None

    def _finish(self, reason: str, save: bool = True):
        if save:  # the ranks agreed to end here: settle the collectives in flight
            self._settle_control()
            if reason == "stopped" and hasattr(self, "_sums"):
                self._gather_epoch()
        return super()._finish(reason, save)
