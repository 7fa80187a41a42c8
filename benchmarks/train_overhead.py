"""How much the Trainer costs over a plain, hand-written PyTorch loop.

For an MLP, a CNN and an LSTM on MNIST-1D, both train the same compiled model from
the same initial weights on the same batches in the same order (a permutation per
epoch from a ``torch.Generator`` seeded with the run's seed, batches by slicing),
with Adam and cross-entropy. The script checks that both end with the same
training-set loss (to 5 decimals) and prints the time per step of each and the
Trainer's overhead; the target is at most 3 %.

The Trainer runs as the GUI drives it: step events thinned to one per 0.1 s,
training accuracy accumulated every step, no validation set (the plain loop has
none either). Times are CPU seconds of the process (so other programs on the machine
do not count) and the best of several alternating repeats.

Run: ``python benchmarks/train_overhead.py [--repeats N] [--epochs N] [--threads N]``.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from layerloom.backend.compile import compile_graph  # noqa: E402
from layerloom.backend.training import DatasetSettings, Trainer, TrainSettings, prepare_data  # noqa: E402
from layerloom.graph import Graph  # noqa: E402

TARGET = 0.03


def clock() -> float:
    """CPU seconds of this process: unlike wall time, not inflated when other
    programs share the machine (torch runs on one thread by default here)."""
    return time.process_time()


def chain(*layers) -> Graph:
    g = Graph()
    prev = None
    for type_id, params in layers:
        node = g.add_node(type_id, params)
        if prev is not None:
            g.connect(prev, "out", node.id, "in")
        prev = node.id
    return g


def models() -> dict[str, Graph]:
    mlp = chain(("input", {"shape": [1, 40]}), ("flatten", {}),
                ("dense", {"units": 256, "activation": "relu"}),
                ("dense", {"units": 256, "activation": "relu"}),
                ("dense", {"units": 10}), ("output", {}))
    cnn = chain(("input", {"shape": [1, 40]}),
                ("conv1d", {"channels": 32, "kernel_size": 5, "stride": 2, "padding": 1, "activation": "relu"}),
                ("conv1d", {"channels": 32, "kernel_size": 3, "stride": 2, "padding": 1, "activation": "relu"}),
                ("conv1d", {"channels": 32, "kernel_size": 3, "stride": 2, "padding": 1, "activation": "relu"}),
                ("flatten", {}), ("dense", {"units": 10}), ("output", {}))
    lstm = chain(("input", {"shape": [1, 40]}), ("permute", {"dims": [2, 1]}),
                 ("lstm", {"hidden_size": 64}), ("dense", {"units": 10}), ("output", {}))
    return {"MLP": mlp, "CNN": cnn, "LSTM": lstm}


def plain_loop(model, x, y, epochs: int, batch_size: int, lr: float, seed: int) -> float:
    """The hand-written reference: returns seconds spent in the loop."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    n = len(x)
    model.train()
    start = clock()
    for _ in range(epochs):
        perm = torch.randperm(n, generator=generator)
        for i in range(0, n, batch_size):
            idx = perm[i:i + batch_size]
            optimizer.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(x[idx]), y[idx])
            loss.backward()
            optimizer.step()
    return clock() - start


def trainer_loop(graph, model, data, settings) -> tuple[float, int]:
    """The Trainer on the same model: returns (seconds from first to last step, steps)."""
    marks = {}

    def on_event(event):
        if event.kind == "started":
            marks["start"] = clock()
        elif event.kind == "finished":
            marks["end"] = clock()

    trainer = Trainer(graph, data, None, settings, model=model, on_event=on_event,
                      min_step_interval=0.1)
    final = trainer.run()
    if final.kind != "finished":
        raise SystemExit(f"the trainer failed: {final.message}")
    return marks["end"] - marks["start"], final.steps


def full_loss(model, x, y) -> float:
    model.eval()
    with torch.no_grad():
        return float(F.cross_entropy(model(x), y))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (1: steadier timings on a shared machine)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    seed, lr = 0, 1e-3
    data = prepare_data(DatasetSettings("mnist1d", normalise="standard", val_split=0.0), seed=seed).train
    x, y = torch.as_tensor(data.x), torch.as_tensor(data.y)
    settings = TrainSettings(optimizer="adam", lr=lr, epochs=args.epochs, batch_size=args.batch_size,
                             seed=seed, device="cpu")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, MNIST-1D {len(data)} "
          f"samples, batch {args.batch_size}, {args.epochs} epochs, best of {args.repeats}")
    print(f"{'model':6} {'plain ms/step':>14} {'trainer ms/step':>16} {'overhead':>9} "
          f"{'final loss (plain / trainer)':>30}")
    worst, failed = 0.0, False
    for name, graph in models().items():
        initial = compile_graph(graph, seed=seed)
        plain_times, trainer_times, losses = [], [], []
        for _ in range(args.repeats):
            reference = copy.deepcopy(initial)
            seconds = plain_loop(reference, x, y, args.epochs, args.batch_size, lr, seed)
            steps = args.epochs * -(-len(x) // args.batch_size)
            plain_times.append(seconds / steps)
            trained = copy.deepcopy(initial)
            seconds, steps = trainer_loop(graph, trained, data, settings)
            trainer_times.append(seconds / steps)
            losses.append((round(full_loss(reference, x, y), 5), round(full_loss(trained, x, y), 5)))
        plain, ours = min(plain_times), min(trainer_times)
        overhead = ours / plain - 1.0
        worst = max(worst, overhead)
        a, b = losses[0]
        same = "equal" if all(pair == (a, a) for pair in losses) else "DIFFERENT"
        print(f"{name:6} {plain * 1e3:14.3f} {ours * 1e3:16.3f} {overhead:9.1%} "
              f"{a:>14.5f} / {b:.5f} {same}")
        if same != "equal":
            failed = True
            print(f"  losses over the repeats: {losses}")
        print(f"  median: plain {statistics.median(plain_times) * 1e3:.3f} ms, "
              f"trainer {statistics.median(trainer_times) * 1e3:.3f} ms")
    verdict = "within" if worst <= TARGET else "above"
    print(f"worst overhead {worst:.1%}: {verdict} the {TARGET:.0%} target")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
