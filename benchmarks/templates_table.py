"""Train every teaching template with its saved settings and check its stated result.

Each template's ``meta["expected"]`` (syntax in :mod:`layerloom.backend.templates`) is what its
description promises: "val accuracy >= 97%", "diverges", ... This script trains the
template exactly as a user who opens it and presses Train would (saved dataset,
settings and seed; the device is forced to the one given here), measures the
metrics the clauses name, and prints one row per template::

    template              stated                      measured                 result   time

Usage::

    python -m benchmarks.templates_table                 # every template
    python -m benchmarks.templates_table cnn_digits ...  # only these
    python -m benchmarks.templates_table --fast          # skip those over --fast-limit
    python -m benchmarks.templates_table --device cuda

The exit status is 1 when any template misses its stated result.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from dataclasses import dataclass, field

import torch

from layerloom.backend.templates import (
    DIVERGES,
    Expectation,
    list_templates,
    load_template,
    parse_expected,
)
from layerloom.backend.training import DatasetSettings, Failed, Trainer, TrainSettings, prepare_data
from layerloom.backend.training.metrics import mean_iou

# Seconds each took on one CPU thread (measured once), so that --fast can skip the
# slow ones; templates not listed count as slow.
CPU_SECONDS = {
    "perceptron_linear": 0.2, "perceptron_xor": 0.4, "mlp_xor": 0.2, "mlp_two_moons": 0.4,
    "activation_relu": 0.3, "activation_sigmoid": 0.3, "activation_tanh": 0.3,
    "activation_gelu": 0.3, "loss_cross_entropy": 0.2, "loss_mse": 0.2,
    "batch_size_full": 0.1, "batch_size_32": 0.1, "batch_size_1": 2.1,
    "learning_rate_0.001": 0.2, "learning_rate_0.1": 0.2, "learning_rate_1": 0.1,
    "deep_sigmoid_mlp": 0.6, "deep_relu_mlp": 0.6, "deep_residual_mlp": 1.1,
    "overfitting_baseline": 2.0, "overfitting_dropout": 2.4, "overfitting_weight_decay": 1.7,
    "cnn_digits": 3.9, "rnn_sine": 3.8, "lstm_sine": 1.3, "gru_sine": 4.4,
    "transformer_sort": 9.9, "unet_shapes": 36.0, "mnist1d_mlp": 5.8, "mnist1d_cnn": 6.1, "mnist1d_gru": 62.0,
    "resnet_digits": 17.5, "mobilenet_digits": 24.5, "vit_digits": 24.7, "gpt_chars": 40.0,
    "single_neuron_line": 0.3, "width_2": 1.5, "width_8": 1.5, "width_64": 1.6, "early_stopping": 1.5,
    "optimiser_sgd": 1.0, "optimiser_momentum": 1.1, "optimiser_rmsprop": 1.6, "optimiser_adam": 1.4,
    "batch_norm_deep": 4.0, "dying_relu": 0.7, "init_zeros": 0.5, "init_small": 0.5, "init_he": 0.5, "word_embeddings": 3.0,
    "gan_mixture": 9.0, "dcgan_digits": 30.0,
    "vae_digits": 20.0,
}
STATS_POINTS = 50  # statistics events per run, for the gradient ratio


@dataclass
class Measurement:
    """What one run of a template gave."""

    name: str
    metrics: dict[str, float] = field(default_factory=dict)
    failed: str | None = None
    seconds: float = 0.0


def measure(name: str, device: str = "cpu", stats: bool = True, **overrides) -> Measurement:
    """Train template ``name`` with its saved settings (plus ``overrides``)."""
    return measure_graph(load_template(name), name, device, stats, **overrides)


def measure_graph(graph, name: str = "", device: str = "cpu", stats: bool = True,
                  **overrides) -> Measurement:
    """Train ``graph`` with its own dataset and training sections (plus ``overrides``);
    ``stats`` collects the per-layer statistics the gradient ratio needs."""
    if graph.training.get("task") == "gan":  # two networks: benchmarks/template_gan.py
        from benchmarks.template_gan import measure_gan

        metrics, failed, seconds = measure_gan(graph, device, **overrides)
        return Measurement(name, metrics, failed, seconds)
    settings = TrainSettings.from_dict(graph.training).replace(device=device, **overrides)
    data = prepare_data(DatasetSettings.from_dict(graph.dataset), seed=settings.seed)
    steps = settings.epochs * math.ceil(len(data.train) / (settings.batch_size or len(data.train)))
    collected: list = []
    epochs: list = []
    confusions: list = []

    def on_event(event) -> None:
        if event.kind == "stats":
            collected.append(event)
        elif event.kind == "epoch":
            epochs.append(event)
        elif event.kind == "confusion":
            confusions.append(event)

    trainer = Trainer(graph, data.train, data.val, settings, on_event=on_event,
                      stats_every=max(1, steps // STATS_POINTS) if stats else 0,
                      step_every=10**9)
    t0 = time.perf_counter()
    result = trainer.run()
    out = Measurement(name, seconds=time.perf_counter() - t0)
    if isinstance(result, Failed):
        out.failed = result.message
    if epochs:
        out.metrics.update({f"train {k}": v for k, v in epochs[-1].train.items()})
        out.metrics.update({f"val {k}": v for k, v in (epochs[-1].val or {}).items()})
    if data.test is not None and out.failed is None:
        for key, value in trainer.evaluate(data.test).items():
            out.metrics[f"test {key}"] = value
    val_losses = [e.val["loss"] for e in epochs if e.val]
    if val_losses:
        best = min(val_losses)
        out.metrics["val loss rise"] = val_losses[-1] / best - 1.0 if best > 0 else 0.0
    if confusions and data.train.task == "segmentation":
        iou = mean_iou(confusions[-1].matrix)
        if iou is not None:
            out.metrics["val mean iou"] = iou
    dead = dead_units(collected)
    if dead is not None:
        out.metrics["dead units"] = dead
    ratio = grad_ratio(graph, collected)
    if ratio is not None:
        out.metrics["grad ratio"] = ratio
    train_losses = [e.train["loss"] for e in epochs]
    rose = len(train_losses) >= 2 and train_losses[-1] > train_losses[0]
    out.metrics[DIVERGES] = float(rose or (out.failed is not None and "diverged" in out.failed))
    return out


def grad_ratio(graph, stats: list) -> float | None:
    """Median over the run of (gradient norm of the first layer with weights) /
    (that of the last): near 1 when gradients reach the input layers, tiny when
    they vanish on the way."""
    order = {nid: i for i, nid in enumerate(graph.topological_order())}
    ratios = []
    for event in stats:
        nodes = sorted((n for n in event.nodes if n.grad_norm is not None),
                       key=lambda n: order.get(n.node_id, 0))
        if len(nodes) >= 2 and nodes[-1].grad_norm > 0:
            ratios.append(nodes[0].grad_norm / nodes[-1].grad_norm)
    return statistics.median(ratios) if ratios else None


def dead_units(stats: list) -> float | None:
    """Mean share of dead units over the ReLU-followed layers, in the last statistics."""
    if not stats:
        return None
    shares = [n.dead_fraction for n in stats[-1].nodes if n.dead_fraction is not None]
    return statistics.fmean(shares) if shares else None


def measured_text(clauses: list[Expectation], m: Measurement) -> str:
    parts = []
    for c in clauses:
        value = m.metrics.get(c.metric)
        if c.metric == DIVERGES:
            parts.append("diverged" if value else "did not diverge")
        elif value is None:
            parts.append(f"{c.metric} n/a")
        elif "accuracy" in c.metric or "share" in c.metric:
            parts.append(f"{c.metric} {value:.1%}")
        elif c.metric in ("val loss rise", "dead units"):
            parts.append(f"{c.metric} {value:.0%}")
        else:
            parts.append(f"{c.metric} {value:.3g}")
    return "; ".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("names", nargs="*", help="templates to check (default: all)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, mps or auto (default cpu)")
    parser.add_argument("--fast", action="store_true", help="skip templates that take long on a CPU")
    parser.add_argument("--fast-limit", type=float, default=5.0,
                        help="seconds; --fast skips templates estimated above this")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: leave as is)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    names = args.names or [t.name for t in list_templates()]
    if args.fast:
        names = [n for n in names if CPU_SECONDS.get(n, math.inf) <= args.fast_limit]
    header = f"{'template':<26} {'stated':<44} {'measured':<52} {'result':<6} {'time':>7}"
    print(header)
    print("-" * len(header))
    failures = 0
    for name in names:
        meta = load_template(name).meta
        stated = meta.get("expected", "")
        clauses = parse_expected(stated) if stated else []
        m = measure(name, device=args.device, stats=any(c.metric in ("grad ratio", "dead units") for c in clauses))
        ok = bool(clauses) and all(c.holds(m.metrics.get(c.metric)) for c in clauses)
        if m.failed and not any(c.metric == DIVERGES for c in clauses):
            ok = False
        failures += not ok
        shown = measured_text(clauses, m) if clauses else "(no stated result)"
        print(f"{name:<26} {stated:<44} {shown:<52} {'pass' if ok else 'FAIL':<6} "
              f"{m.seconds:>6.1f}s", flush=True)
        if m.failed and not ok:
            print(f"    run failed: {m.failed}")
    print(f"\n{len(names) - failures} of {len(names)} templates reach their stated result")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
