"""Steps per second of ``layerloom train``'s loop against a plain PyTorch loop.

Each case trains a template's model on the template's data (the two-moons MLP,
digits CNN and sine LSTM at batch 32, and the two-moons MLP at batch 1, where a step
is smallest) three ways, from the same initial weights on the same batches in the
same order (a permutation per epoch from a ``torch.Generator`` seeded with the run's
seed, batches by slicing in-memory tensors), with Adam:

``plain``
    What a user writes by hand: zero_grad, forward, loss, backward, step, the
    epoch's training loss (``loss.item()`` per step), and after every epoch the
    validation loss and accuracy (MAE for a regression) in eval mode.
``layerloom``
    The :class:`Trainer` as ``layerloom train`` builds it (its progress consumer,
    step events thinned to one per 0.1 s, checkpoints into a temporary folder,
    training metrics and the validation confusion matrix).
``fast``
    The same with the fast path (the ``compile`` setting, ``--compile``).

Loops run interleaved (plain, layerloom, fast, plain, ...) so that a busy machine
slows them alike; each figure is the median over the repeats of the steps per
second from the first step to the end of the last epoch's validation, as a ratio
to the plain loop's. Time is the CPU time of the process (torch runs on one
thread), so other programs on a shared machine do not count; ``--wall`` uses wall
time instead. The script also checks that ``layerloom`` ends with the plain
loop's validation loss (the same computation); ``fast`` uses a fused optimizer and
may differ by rounding.

``--compile-cpu`` adds a plain loop whose model and loss are wrapped in
``torch.compile`` (on the CPU the fast path leaves compiling out: this measures why).

Run: ``python -m benchmarks.train_overhead [--repeats N] [--epochs N] [--threads N]``.
"""

from __future__ import annotations

import argparse
import copy
import io
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from layerloom.backend.cli.train import Progress, trainer_options  # noqa: E402
from layerloom.backend.compile import compile_graph  # noqa: E402
from layerloom.backend.templates import load_template  # noqa: E402
from layerloom.backend.training import DatasetSettings, Trainer, TrainSettings, prepare_data  # noqa: E402

clock = time.process_time
TARGET = 0.97  # layerloom's steps per second over the plain loop's, at least
FAST_TARGET = 1.1  # the fast path's, on at least one case


@dataclass
class Case:
    label: str
    template: str
    batch_size: int
    epochs: int  # per run (scaled by --epochs)


CASES = [
    Case("two-moons MLP", "mlp_two_moons", 32, 4),
    Case("digits CNN", "cnn_digits", 32, 1),
    Case("sine LSTM", "lstm_sine", 32, 1),
    Case("two-moons MLP, batch 1", "mlp_two_moons", 1, 1),
]


def tensors(data):
    x, y = torch.as_tensor(data.x), torch.as_tensor(data.y)
    return x, y


def plain_loop(model, train, val, settings, task: str, step_fn=None) -> tuple[float, int, float]:
    """The hand-written loop: ``(seconds, steps, last validation loss)``."""
    torch.manual_seed(settings.seed)
    generator = torch.Generator().manual_seed(settings.seed)
    x, y = tensors(train)
    vx, vy = tensors(val)
    regression = task == "regression"
    loss_fn = F.mse_loss if regression else F.cross_entropy
    forward = step_fn or (lambda xb, yb: (lambda out: (out, loss_fn(out, yb)))(model(xb)))
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.lr, betas=settings.betas)
    n, bs = len(x), settings.batch_size
    steps, val_loss = 0, float("nan")
    start = clock()
    for _ in range(settings.epochs):
        model.train()
        perm = torch.randperm(n, generator=generator)
        total = 0.0
        for i in range(0, n, bs):
            idx = perm[i:i + bs]
            optimizer.zero_grad(set_to_none=True)
            _, loss = forward(x[idx], y[idx])
            loss.backward()
            optimizer.step()
            total += loss.item() * len(idx)
            steps += 1
        model.eval()
        with torch.no_grad():
            out = model(vx)
            val_loss = loss_fn(out, vy).item()
            if regression:
                (out - vy).abs().mean().item()
            else:
                (out.argmax(-1) == vy).float().mean().item()
    return clock() - start, steps, val_loss


def layerloom_loop(graph, model, train, val, settings) -> tuple[float, int, float]:
    """``layerloom train``'s trainer: ``(seconds, steps, last validation loss)``."""
    marks: dict[str, float] = {}
    progress = Progress(io.StringIO(), enabled=True)

    def on_event(event):
        progress(event)
        if event.kind == "started":
            marks["start"] = clock()
        elif event.kind == "epoch":
            marks["end"] = clock()

    with tempfile.TemporaryDirectory() as folder:
        trainer = Trainer(graph, train, val, settings, model=model, on_event=on_event,
                          checkpoint_dir=Path(folder) / "checkpoint", **trainer_options())
        final = trainer.run()
    if final.kind != "finished":
        raise SystemExit(f"the trainer failed: {final.message}")
    return marks["end"] - marks["start"], final.steps, trainer.history[-1]["val"]["loss"]


def measure(case: Case, repeats: int, epochs: int, compile_cpu: bool) -> dict[str, list[float]]:
    graph = load_template(case.template)
    settings = TrainSettings.from_dict(graph.training).replace(
        device="cpu", batch_size=case.batch_size, epochs=case.epochs * epochs, optimizer="adam")
    data = prepare_data(DatasetSettings.from_dict(graph.dataset), seed=settings.seed)
    train, val = data.train, data.val
    if train.task == "regression":  # the plain loop compares float targets as they are
        train.y, val.y = train.y.astype("float32"), val.y.astype("float32")
    initial = compile_graph(graph, seed=settings.seed)
    fast = settings.replace(compile=True)
    rates: dict[str, list[float]] = {"plain": [], "layerloom": [], "fast": []}
    losses: list[tuple[float, float]] = []
    compiled = None
    if compile_cpu:
        rates["compiled plain"] = []
        compiled_model = copy.deepcopy(initial)
        loss_fn = F.mse_loss if train.task == "regression" else F.cross_entropy

        def both(xb, yb):
            out = compiled_model(xb)
            return out, loss_fn(out, yb)

        compiled = (compiled_model, torch.compile(both))
    def run_plain():
        seconds, steps, loss = plain_loop(copy.deepcopy(initial), train, val, settings, train.task)
        found["plain"] = loss
        return steps / seconds

    def run_layerloom():
        seconds, steps, loss = layerloom_loop(graph, copy.deepcopy(initial), train, val, settings)
        found["layerloom"] = loss
        return steps / seconds

    def run_fast():
        seconds, steps, _ = layerloom_loop(graph, copy.deepcopy(initial), train, val, fast)
        return steps / seconds

    def run_compiled():
        model, step_fn = compiled
        model.load_state_dict(initial.state_dict())
        seconds, steps, _ = plain_loop(model, train, val, settings, train.task, step_fn)
        return steps / seconds

    loops = {"plain": run_plain, "layerloom": run_layerloom, "fast": run_fast}
    if compiled is not None:
        loops["compiled plain"] = run_compiled
    order = list(loops)
    found: dict[str, float] = {}
    for r in range(repeats + 1):  # the first round warms up and is not counted
        for key in order[r % len(order):] + order[:r % len(order)]:  # each goes first in turn
            rate = loops[key]()
            if r:
                rates[key].append(rate)
        losses.append((round(found["plain"], 5), round(found["layerloom"], 5)))
    same = all(a == b for a, b in losses)
    if not same:
        print(f"  {case.label}: validation losses differ (plain / layerloom): {losses}")
    rates["same"] = [float(same)]
    return rates


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--epochs", type=int, default=1, help="multiplies each case's epochs")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (1: steadier timings on a shared machine)")
    parser.add_argument("--cases", default="", help="comma-separated case numbers (1-based); all by default")
    parser.add_argument("--wall", action="store_true", help="time with the wall clock, not CPU time")
    parser.add_argument("--compile-cpu", action="store_true",
                        help="also time a plain loop under torch.compile (compiles for seconds per case)")
    args = parser.parse_args()
    global clock
    clock = time.perf_counter if args.wall else time.process_time
    torch.set_num_threads(args.threads)
    chosen = [CASES[int(i) - 1] for i in args.cases.split(",") if i] or CASES
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), median of {args.repeats} "
          f"interleaved repeats, {'wall' if args.wall else 'CPU'} time; steps per second relative to "
          "the plain loop")
    header = f"{'case':26} {'plain steps/s':>13} {'layerloom':>10} {'fast':>7}"
    if args.compile_cpu:
        header += f" {'compiled plain':>15}"
    print(header)
    worst, best_fast, failed = float("inf"), 0.0, False
    for case in chosen:
        rates = measure(case, args.repeats, args.epochs, args.compile_cpu)
        plain = statistics.median(rates["plain"])
        ratio = {k: statistics.median(v) / plain for k, v in rates.items() if k not in ("plain", "same")}
        worst = min(worst, ratio["layerloom"])
        best_fast = max(best_fast, ratio["fast"])
        failed |= not rates["same"][0]
        line = f"{case.label:26} {plain:13.0f} {ratio['layerloom']:10.3f} {ratio['fast']:7.3f}"
        if args.compile_cpu:
            line += f" {ratio['compiled plain']:15.3f}"
        print(line, flush=True)
    print(f"layerloom: worst {worst:.3f} of the plain loop ({'meets' if worst >= TARGET else 'below'} "
          f"the {TARGET} target); fast path: best {best_fast:.3f} "
          f"({'meets' if best_fast >= FAST_TARGET else 'below'} the {FAST_TARGET} target)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
