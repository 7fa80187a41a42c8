"""The training part of the standalone training script (``--format train-script``).

:mod:`layerloom.backend.export.train_script` copies this module's source, below the model
class of the Python export, into the script it writes; LayerLoom never runs it
itself (tests import it to check it). It must therefore need nothing but Python's
standard library and torch.

It trains the way LayerLoom's trainer does, so that a file trains alike on both:
the same seeded permutation per epoch cut into the same global batches, each
process taking every ``world``-th row of a batch with its loss weighted by its
share, DistributedDataParallel averaging the gradients, the same optimizers,
learning-rate schedules, loss layouts, gradient clipping and early stopping.
Under ``torchrun`` it joins the run torchrun started (gloo on the CPU, nccl with
one GPU per process); run by plain ``python`` it trains in one process.
"""

from __future__ import annotations

import argparse
import ast
import ctypes
import gc
import json
import math
import os
import struct
import sys
import time
import zipfile
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel

NPY_DTYPES = {
    "f2": torch.float16, "f4": torch.float32, "f8": torch.float64, "i1": torch.int8,
    "i2": torch.int16, "i4": torch.int32, "i8": torch.int64, "u1": torch.uint8, "b1": torch.bool,
}
SAFETENSORS_NAMES = {
    torch.float64: "F64", torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
    torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8",
    torch.uint8: "U8", torch.bool: "BOOL",
}
CLASS_LOSSES = ("cross_entropy", "nll")
EVAL_BATCH = 512


# ------------------------------------------------------------------- files
def read_npz(path: str | Path) -> dict[str, torch.Tensor]:
    """The arrays of a NumPy ``.npz`` file, read with zipfile and torch.

    Only plain numeric arrays are read (never pickled objects): little-endian
    floats, integers and booleans in C order, as ``numpy.savez`` writes them.
    """
    arrays = {}
    with zipfile.ZipFile(path) as archive:
        for member in archive.namelist():
            if member.endswith(".npy"):
                arrays[member[:-4]] = _read_npy(archive.read(member), f"{path}: {member}")
    return arrays


def _read_npy(data: bytes, where: str) -> torch.Tensor:
    if data[:6] != b"\x93NUMPY":
        raise ValueError(f"{where} is not a NumPy array")
    if data[6] == 1:
        (size,), start = struct.unpack("<H", data[8:10]), 10
    else:
        (size,), start = struct.unpack("<I", data[8:12]), 12
    header = ast.literal_eval(data[start:start + size].decode("latin1"))  # a dict literal
    descr, shape = header["descr"], tuple(header["shape"])
    code = descr[1:]
    if code not in NPY_DTYPES or descr[0] == ">" or header["fortran_order"]:
        raise ValueError(f"{where}: arrays of type {descr!r} (fortran order "
                         f"{header['fortran_order']}) cannot be read; save little-endian numbers")
    if sys.byteorder != "little" and descr[0] != "|":
        raise ValueError("this reader needs a little-endian machine")
    dtype = NPY_DTYPES[code]
    count = math.prod(shape)
    body = bytearray(data[start + size:start + size + count * dtype.itemsize])
    flat = torch.frombuffer(body, dtype=dtype, count=count) if count else torch.empty(0, dtype=dtype)
    return flat.clone().reshape(shape)


def read_safetensors_metadata(path: str | Path) -> dict[str, str]:
    """The ``__metadata__`` of a ``.safetensors`` file (LayerLoom keeps the graph there)."""
    with open(path, "rb") as handle:
        (size,) = struct.unpack("<Q", handle.read(8))
        return dict(json.loads(handle.read(size)).get("__metadata__", {}))


def write_safetensors(tensors: dict[str, torch.Tensor], path: str | Path,
                      metadata: dict[str, str] | None = None) -> None:
    """Write ``tensors`` as a ``.safetensors`` file (atomically: temporary name, rename)."""
    header: dict = {"__metadata__": dict(metadata or {})}
    blobs, offset = [], 0
    for name, tensor in tensors.items():
        t = tensor.detach().to("cpu").contiguous()
        size = t.numel() * t.element_size()
        header[name] = {"dtype": SAFETENSORS_NAMES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + size]}
        blobs.append(ctypes.string_at(t.data_ptr(), size) if size else b"")
        offset += size
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as handle:
        handle.write(struct.pack("<Q", len(text)) + text)
        for blob in blobs:
            handle.write(blob)
    os.replace(tmp, path)


# ----------------------------------------------------------------- training
def loss_function(objective: dict):
    """``(loss(out, target), targets(y), predictions(out))`` for the file's objective."""
    name, task = objective["loss"], objective["task"]
    single = objective["single_output"]
    classes = objective["num_classes"]
    if name in CLASS_LOSSES:
        base = F.cross_entropy if name == "cross_entropy" else F.nll_loss
        if len(objective["output_shape"]) > 1 and task != "segmentation":
            def loss(out, target):  # (N, T, V) -> (N, V, T): classes in dim 1
                return base(out.movedim(-1, 1), target)
        else:
            loss = base
    elif name == "huber":
        def loss(out, target):
            return F.huber_loss(out.float(), target, delta=objective["huber_delta"])
    else:
        base = {"mse": F.mse_loss, "l1": F.l1_loss,
                "bce_with_logits": F.binary_cross_entropy_with_logits}[name]

        def loss(out, target):
            return base(out.float(), target)

    def targets(y):
        if task == "regression" or name in CLASS_LOSSES:
            return y
        if single:
            return y.to(torch.float32).unsqueeze(-1)
        one_hot = F.one_hot(y, classes).to(torch.float32)
        return one_hot.movedim(-1, 1) if task == "segmentation" else one_hot  # (N, C, H, W)

    def predictions(out):
        if single:
            return (out[..., 0] > objective["threshold"]).long()
        return out.argmax(dim=1 if task == "segmentation" else -1)

    return loss, targets, predictions


def build_optimizer(s: dict, params) -> torch.optim.Optimizer:
    """The optimizer of the settings; with ``compile`` (the fast path) torch's fused
    kernel where there is one, else its ``foreach`` one."""
    params = list(params)
    kind, lr, decay = s["optimizer"], s["lr"], s["weight_decay"]
    if kind == "sgd":
        cls, options = torch.optim.SGD, {"momentum": s["momentum"], "nesterov": s["nesterov"]}
    elif kind in ("adam", "adamw"):
        cls, options = torch.optim.Adam if kind == "adam" else torch.optim.AdamW, {"betas": tuple(s["betas"])}
    elif kind == "rmsprop":
        cls, options = torch.optim.RMSprop, {"momentum": s["momentum"]}
    else:
        cls, options = torch.optim.Adagrad, {}
    if s.get("compile") and params:
        for fast in ("fused", "foreach"):
            try:
                return cls(params, lr=lr, weight_decay=decay, **options, **{fast: True})
            except (RuntimeError, TypeError, ValueError):
                continue
    return cls(params, lr=lr, weight_decay=decay, **options)


class Schedule:
    """The learning-rate schedule: per step (cosine, one_cycle), per epoch (step),
    on a plateau of the monitored value (plateau), or none."""

    def __init__(self, s: dict, optimizer, total_steps: int, mode: str):
        sched = torch.optim.lr_scheduler
        kind = s["schedule"]
        self.every = {"none": None, "step": "epoch", "cosine": "step", "one_cycle": "step",
                      "plateau": "plateau"}[kind]
        self.scheduler = None
        if kind == "step":
            self.scheduler = sched.StepLR(optimizer, step_size=s["lr_step_size"], gamma=s["lr_gamma"])
        elif kind == "cosine":
            self.scheduler = sched.CosineAnnealingLR(optimizer, T_max=max(total_steps, 1),
                                                     eta_min=s["min_lr"])
        elif kind == "one_cycle":
            self.scheduler = sched.OneCycleLR(optimizer, max_lr=s["lr"], total_steps=max(total_steps, 1),
                                              cycle_momentum=False)
        elif kind == "plateau":
            self.scheduler = sched.ReduceLROnPlateau(optimizer, mode=mode, factor=s["lr_gamma"],
                                                     patience=s["lr_patience"], min_lr=s["min_lr"])
        self.total_steps, self.steps = total_steps, 0

    def after_step(self) -> None:
        if self.every == "step" and self.steps < self.total_steps:
            self.steps += 1
            if self.steps < self.total_steps:
                self.scheduler.step()

    def after_epoch(self, monitored) -> None:
        if self.every == "epoch":
            self.scheduler.step()
        elif self.every == "plateau" and monitored is not None:
            self.scheduler.step(monitored)


class Sums:
    """Loss and metric sums of one pass, added up over the processes at the end."""

    def __init__(self, task: str, y_all: torch.Tensor, device):
        self.task = task
        self.values = torch.zeros(4, dtype=torch.float64, device=device)  # loss, n, |e|/hits, e^2
        self.regression = task == "regression"
        if self.regression:
            t = y_all.reshape(len(y_all), -1).double()
            self.sst = (t - t.mean(0)).square().sum(0) / max(len(t), 1)
            self.sq = torch.zeros(t.shape[1], dtype=torch.float64, device=device)
            self.width = t.shape[1]

    def add(self, loss: torch.Tensor, out: torch.Tensor, y: torch.Tensor, predict) -> None:
        n = len(y)
        self.values[0] += loss.detach().double() * n
        self.values[1] += n
        if self.regression:
            diff = out.detach().reshape(n, -1).double() - y.reshape(n, -1).double()
            self.values[2] += diff.abs().sum()
            self.sq += diff.square().sum(0)
        else:
            self.values[2] += (predict(out.detach()) == y).sum()
            self.values[3] += y.numel()

    def result(self, world: int) -> dict[str, float]:
        if world > 1:
            dist.all_reduce(self.values)
            if self.regression:
                dist.all_reduce(self.sq)
        loss, n, hits, count = self.values.tolist()
        out = {"loss": loss / max(n, 1)}
        if self.regression:
            sst = self.sst * n
            r2 = torch.where(sst > 0, 1 - self.sq / sst.clamp_min(1e-30), (self.sq == 0).double())
            out.update(mae=hits / max(n * self.width, 1), r2=float(r2.mean()))
        else:
            out["accuracy"] = hits / max(count, 1)
        return out


def parse_args(argv, config: dict, here: Path) -> argparse.Namespace:
    s = config["settings"]
    stem = here.stem
    p = argparse.ArgumentParser(
        description=f"Train {config['title']} (exported from LayerLoom). Run it with python for "
        "one process, or with torchrun --nproc-per-node N for N processes (one per GPU on CUDA); "
        "--batch-size is the global batch, split between the processes.")
    p.add_argument("--data", default=str(here.with_name(stem + ".npz")),
                   help="a .npz file with x and y (optionally x_val and y_val); default: %(default)s")
    p.add_argument("--init", default=str(here.with_name(stem + ".safetensors")),
                   help="initial weights (.safetensors), or 'none' for a fresh initialisation "
                   "drawn with the seed; default: %(default)s")
    p.add_argument("--out", default=str(Path("runs") / stem), help="output folder (default %(default)s)")
    p.add_argument("--epochs", type=int, default=s["epochs"])
    p.add_argument("--batch-size", type=int, default=s["batch_size"],
                   help="samples per step over all processes (0: the whole set); default %(default)s")
    p.add_argument("--lr", type=float, default=s["lr"])
    p.add_argument("--seed", type=int, default=s["seed"])
    p.add_argument("--device", default="auto", help="auto, cpu or cuda (default auto)")
    return p.parse_args(argv)


def main(argv, model_class, config: dict, script: str, load_state) -> int:
    """Train ``model_class`` with ``config``'s settings on ``--data``; returns the exit status.

    ``script`` is the script's path (defaults live next to it); ``load_state``
    reads a ``.safetensors`` file into a state dict (the loader of the export).
    """
    args = parse_args(argv, config, Path(script).resolve())
    s = dict(config["settings"], epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
             seed=args.seed)
    world, rank = int(os.environ.get("WORLD_SIZE", 1)), int(os.environ.get("RANK", 0))
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    cuda = args.device.startswith("cuda") or (args.device == "auto" and torch.cuda.is_available())
    device = torch.device(f"cuda:{local_rank}" if cuda else "cpu")
    if world > 1:
        if cuda:
            torch.cuda.set_device(device)
            dist.init_process_group("nccl", device_id=device)
        else:
            dist.init_process_group("gloo")
    try:
        code = _train(args, s, config, model_class, load_state, world, rank, device)
        if world > 1:
            dist.barrier()  # no process leaves while another still talks to it
        return code
    finally:
        # the DistributedDataParallel wrapper holds the process group: free it first
        gc.collect()
        if dist.is_initialized():
            dist.destroy_process_group()


def _train(args, s: dict, config: dict, model_class, load_state, world: int, rank: int,
           device) -> int:
    main_rank = rank == 0
    data = read_npz(args.data)
    if "x" not in data or "y" not in data:
        raise SystemExit(f"{args.data} needs arrays x and y; it has {', '.join(data) or 'none'}")
    x, y = data["x"].to(device), data["y"].to(device)
    val = (data["x_val"].to(device), data["y_val"].to(device)) if "x_val" in data else None
    if args.init != "none":
        metadata = read_safetensors_metadata(args.init)
        model = model_class()
        model.load_state_dict(load_state(args.init))
    else:
        metadata = {}
        torch.manual_seed(s["seed"])
        model = model_class()
    model.to(device).train()
    frozen = set(config.get("frozen", ()))
    for name, p in model.named_parameters():  # frozen nodes in LayerLoom stay frozen here
        if name in frozen:
            p.requires_grad_(False)
    loss_fn, targets, predict = loss_function(config["objective"])
    y_loss = targets(y)
    n = len(x)
    bs = min(s["batch_size"] or n, n)
    steps_per_epoch = math.ceil(n / bs)
    optimizer = build_optimizer(s, [p for p in model.parameters() if p.requires_grad])
    schedule = Schedule(s, optimizer, s["epochs"] * steps_per_epoch, config["monitor_mode"])
    amp = None
    if device.type == "cuda" and s["precision"] != "fp32":
        amp = torch.bfloat16 if s["precision"] == "bf16" else torch.float16
    scaler = torch.amp.GradScaler("cuda") if amp == torch.float16 else None
    trained = model
    if world > 1:
        trained = DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None,
            find_unused_parameters=config["find_unused_parameters"])
    # the fast path compiles on CUDA only: on a CPU small models ran slower compiled
    forward = torch.compile(trained) if s["compile"] and device.type == "cuda" else trained
    torch.manual_seed(s["seed"] + 7919 * rank)
    generator = torch.Generator().manual_seed(s["seed"])
    params = [p for p in model.parameters() if p.requires_grad]
    history, best, wait, reason, t0 = [], None, 0, "completed", time.perf_counter()
    # best weights (LayerLoom's keep_best): the weights of the epoch where monitor was best
    keep = s.get("keep_best", False) and (val is not None or not s["monitor"].startswith("val_"))
    kept = None  # (value, epoch, weights)
    task = config["objective"]["task"]
    if main_rank:
        print(f"training on {world} process(es) ({device.type}): {n} samples, batch {bs}, "
              f"{steps_per_epoch} steps per epoch", flush=True)
    for epoch in range(1, s["epochs"] + 1):
        perm = torch.randperm(n, generator=generator).to(device)
        sums = Sums(task, y, device)
        for b in range(steps_per_epoch):
            lo, hi = b * bs, min((b + 1) * bs, n)
            rows = perm[lo + rank:hi:world]
            scale = len(rows) * world / (hi - lo)
            if not len(rows):  # a short last batch left this process nothing: weight 0
                rows = perm[:2]
            optimizer.zero_grad(set_to_none=True)
            with torch.autocast(device.type, dtype=amp, enabled=amp is not None):
                out = forward(x[rows])
                loss = loss_fn(out, y_loss[rows])
            scaled = loss * scale if scale != 1.0 else loss
            if scaler is not None:
                scaler.scale(scaled).backward()
                if s["grad_clip"]:
                    scaler.unscale_(optimizer)
                    torch.nn.utils.clip_grad_norm_(params, s["grad_clip"])
                scaler.step(optimizer)
                scaler.update()
            else:
                scaled.backward()
                if s["grad_clip"]:
                    torch.nn.utils.clip_grad_norm_(params, s["grad_clip"])
                optimizer.step()
            schedule.after_step()
            if scale:
                sums.add(loss, out, y[rows], predict)
        train = sums.result(world)
        if not math.isfinite(train["loss"]):
            raise SystemExit(f"the loss became {train['loss']} in epoch {epoch}: training diverged; "
                             f"lower the learning rate (now {optimizer.param_groups[0]['lr']:g})")
        val_metrics = _evaluate(model, val, loss_fn, targets, predict, task, world, rank, amp) \
            if val is not None else None
        lr = optimizer.param_groups[0]["lr"]
        history.append({"epoch": epoch, "train": train, "val": val_metrics, "lr": lr,
                        "time": round(time.perf_counter() - t0, 4)})
        if main_rank:
            parts = [f"epoch {epoch}/{s['epochs']}", *(f"{k} {v:.4f}" for k, v in train.items()),
                     *(f"val_{k} {v:.4f}" for k, v in (val_metrics or {}).items())]
            print("  ".join(parts), flush=True)
        monitor = s["monitor"]
        source = val_metrics if monitor.startswith("val_") and val_metrics is not None else train
        monitored = source.get(monitor.removeprefix("val_"))
        schedule.after_epoch(monitored)
        if keep and monitored is not None and monitored == monitored and (kept is None or (
                monitored < kept[0] if config["monitor_mode"] == "min" else monitored > kept[0])):
            kept = (monitored, epoch, {k: v.detach().clone() for k, v in model.state_dict().items()})
        improved = monitored is not None and (best is None or (
            monitored < best - s["min_delta"] if config["monitor_mode"] == "min"
            else monitored > best + s["min_delta"]))
        if improved:
            best, wait = monitored, 0
        elif s["early_stopping"] and monitored is not None:
            wait += 1
            if wait >= s["patience"]:
                reason = "early_stopping"
                break
    if kept is not None:  # restored at the end, as LayerLoom does
        model.load_state_dict(kept[2])
        print(f"kept the weights of epoch {kept[1]} (best {s['monitor']} {kept[0]:.4g})", flush=True)
    if main_rank:
        out_dir = Path(args.out)
        out_dir.mkdir(parents=True, exist_ok=True)
        write_safetensors(model.state_dict(), out_dir / "model.safetensors", metadata)
        report = {"settings": s, "processes": world, "device": device.type, "epochs": history,
                  "stop_reason": reason, "wall_time": round(time.perf_counter() - t0, 4),
                  "best": {"metric": s["monitor"], "epoch": kept[1], "value": kept[0]} if kept else None}
        (out_dir / "metrics.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        print(f"{reason} after {len(history)} epoch(s); wrote {out_dir / 'model.safetensors'} "
              f"and {out_dir / 'metrics.json'}", flush=True)
    return 0


def _evaluate(model, val, loss_fn, targets, predict, task, world, rank, amp) -> dict[str, float]:
    """Validation metrics; each process takes every ``world``-th sample."""
    x_all, y_all = val
    x, y = x_all[rank::world], y_all[rank::world]
    sums = Sums(task, y_all, x_all.device)
    model.eval()
    with torch.no_grad(), torch.autocast(x.device.type, dtype=amp, enabled=amp is not None):
        for i in range(0, len(x), EVAL_BATCH):
            out = model(x[i:i + EVAL_BATCH])
            yb = y[i:i + EVAL_BATCH]
            sums.add(loss_fn(out, targets(yb)), out, yb, predict)
    model.train()
    return sums.result(world)
