"""The GAN templates: two networks that compete, each a block of its own.

Each template's graph is ``Noise -> generator -> discriminator -> Output``: the two
block nodes are instances of the ``generator`` and ``discriminator`` definitions
stored in the file, and the training section says ``"task": "gan"``
(:mod:`layerloom.backend.training.gan` trains it). :func:`measure_gan` trains one as
``benchmarks/templates_table.py`` does every template and measures what its
``expected`` text states (``modes covered``, ``classes covered``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from benchmarks.template_parts import Layer, chain, dense
from layerloom.graph import Graph

Finish = Callable[[Graph, dict[str, str], dict[str, Any], dict[str, Any]], Graph]

RING_DATA = {"name": "ring_mixture", "options": {"n_samples": 2000, "modes": 8, "radius": 2.0,
                                                 "std": 0.1, "seed": 0},
             "normalise": "none", "val_split": 0.0}
DIGITS_DATA = {"name": "digits", "options": {}, "normalise": "none", "val_split": 0.0}
RING_TRAINING = {"task": "gan", "gan_loss": "non_saturating", "d_steps": 1, "optimizer": "adam",
                 "lr": 0.001, "betas": [0.5, 0.999], "epochs": 100, "batch_size": 100}
DIGITS_TRAINING = {"task": "gan", "gan_loss": "non_saturating", "d_steps": 1, "optimizer": "adam",
                   "lr": 0.002, "d_lr": 0.001, "betas": [0.5, 0.999], "epochs": 60, "batch_size": 64}


def define_block(graph: Graph, name: str, shape: list[int], input_label: str,
                 layers: list[Layer], output_label: str) -> None:
    """A block definition ``name``: an Input of ``shape``, ``layers``, an Output."""
    body = graph.blocks.add(name).body
    inp = body.add_node("input", {"shape": shape, "dtype": "float"}, label=input_label)
    last = chain(body, inp.id, layers)
    out = body.add_node("output", label=output_label)
    body.connect(last, "out", out.id, "in")
    from layerloom.graph.layout import auto_layout

    auto_layout(body)


def gan_graph(noise: int, generator: list[Layer], sample: list[int], discriminator: list[Layer]) -> Graph:
    """Noise -> generator block -> discriminator block -> Output."""
    graph = Graph()
    define_block(graph, "generator", [noise], "noise", generator, "sample")
    define_block(graph, "discriminator", sample, "sample", discriminator, "score")
    z = graph.add_node("input", {"shape": [noise], "dtype": "float"}, label=f"Noise ({noise})").id
    g = graph.add_node("block", {"block": "generator"}, label="Generator").id
    d = graph.add_node("block", {"block": "discriminator"}, label="Discriminator").id
    out = graph.add_node("output", label="Real or fake (logit)").id
    graph.connect(z, "out", g, "noise")
    graph.connect(g, "sample", d, "sample")
    graph.connect(d, "score", out, "in")
    return graph


def leaky() -> Layer:
    return ("leaky_relu", {"negative_slope": 0.2}, "")


def _labelled(layers: list[Layer], prefix: str) -> list[Layer]:
    return [(t, p, label or f"{prefix} {i + 1}") for i, (t, p, label) in enumerate(layers)]


def gan_mixture(finish: Finish) -> Graph:
    """A GAN learning 8 Gaussians on a ring, where mode collapse shows."""
    generator = [dense(128, "relu", "Dense 128"), dense(128, "relu", "Dense 128 (2)"),
                 dense(2, label="Point (x, y)")]
    discriminator = _labelled([dense(128, label="Dense 128"), leaky(), dense(128, label="Dense 128 (2)"),
                               leaky(), dense(1, label="Score")], "LeakyReLU")
    graph = gan_graph(8, generator, [2], discriminator)
    meta = {
        "title": "GAN: a mixture of 8 Gaussians",
        "group": "Generative models",
        "description": (
            "Two networks that compete. The generator turns 8 random numbers into a point of the "
            "plane; the discriminator scores points: high for the real ones (drawn from 8 "
            "Gaussians on a ring), low for the generator's. They train in turns: the "
            "discriminator on a batch of real and a batch of generated points, then the "
            "generator through the discriminator, to make points it scores as real. "
            "Double-click a block to edit that network. Watch the GAN tab: the generated points "
            "(from the same fixed noise all run long) drawn over the real ones. Early on they "
            "sit in a blob, then spread along the ring and split into clusters. A generator "
            "that puts all its points on one or two of the 8 clusters has collapsed (mode "
            "collapse): the modes covered number (a point counts for the nearest cluster when "
            "within 3 standard deviations; a cluster is covered with 2% of the points) shows "
            "it. After 100 epochs (about 10 s on one CPU thread) it covers all 8 modes, with most of its points inside them (good share: those within 3 standard deviations of a cluster). Both "
            "losses stay near where neither wins (the discriminator's about 1.2-1.4, its "
            "accuracy near 50-70%). Try gan_loss minimax, or discriminator steps 5, and "
            "watch the coverage fall."
        ),
        "expected": "modes covered >= 6; good share >= 50%",
    }
    return finish(graph, meta, RING_DATA, RING_TRAINING)


def dcgan_digits(finish: Finish) -> Graph:
    """A DCGAN-style GAN drawing 8x8 digits with transposed convolutions."""
    generator = [
        dense(256, label="Dense 256"),
        ("reshape", {"shape": [64, 2, 2]}, "Reshape (64, 2, 2)"),
        ("batch_norm", {}, "BatchNorm 64"),
        ("relu", {}, "ReLU"),
        ("conv_transpose2d", {"channels": 32, "kernel_size": [4, 4], "stride": [2, 2],
                              "padding": [1, 1]}, "ConvTranspose 32 (4x4)"),
        ("batch_norm", {}, "BatchNorm 32"),
        ("relu", {}, "ReLU (2)"),
        ("conv_transpose2d", {"channels": 1, "kernel_size": [4, 4], "stride": [2, 2],
                              "padding": [1, 1]}, "ConvTranspose 1 (8x8)"),
        ("sigmoid", {}, "Pixels 0..1"),
    ]
    discriminator = [
        ("conv2d", {"channels": 32, "kernel_size": [4, 4], "stride": [2, 2], "padding": [1, 1]},
         "Conv 32 (4x4)"),
        ("leaky_relu", {"negative_slope": 0.2}, "LeakyReLU"),
        ("conv2d", {"channels": 64, "kernel_size": [4, 4], "stride": [2, 2], "padding": [1, 1]},
         "Conv 64 (2x2)"),
        ("leaky_relu", {"negative_slope": 0.2}, "LeakyReLU (2)"),
        ("flatten", {}, "Flatten"),
        dense(1, label="Score"),
    ]
    graph = gan_graph(16, generator, [1, 8, 8], discriminator)
    meta = {
        "title": "DCGAN: drawing digits",
        "group": "Generative models",
        "description": (
            "A DCGAN-style GAN on the 8x8 digits. The generator grows 16 random numbers into "
            "an image: a Dense layer makes a 2x2 map of 64 channels, two transposed "
            "convolutions (stride 2) double it to 4x4 and 8x8, and a sigmoid keeps pixels in "
            "0..1 like the data's. The discriminator is a small CNN that gives one score. "
            "Double-click a block to see inside. Watch the GAN tab's grid: the same 64 noise "
            "vectors redrawn twice a second: first grey blur, then strokes, then digits. The "
            "labels are never used for training; to judge the result, a classifier trained on "
            "the real digits names the class of 1,000 generated ones: after 60 epochs (about "
            "30 s on one CPU thread) they spread over all 10 classes (classes covered: a "
            "class counts with 2% of the samples), and about a quarter are named with a "
            "probability of 0.9 or more (confident share; real digits: over half). A "
            "collapsed generator draws one digit over and over. Try without the BatchNorm "
            "layers, or a higher discriminator learning rate."
        ),
        "expected": "classes covered >= 8; confident share >= 15%",
    }
    return finish(graph, meta, DIGITS_DATA, DIGITS_TRAINING)


def gan_templates(finish: Finish) -> dict[str, Callable[[], Graph]]:
    """The builders, for ``TEMPLATES.update``."""
    return {"gan_mixture": lambda: gan_mixture(finish), "dcgan_digits": lambda: dcgan_digits(finish)}


def measure_gan(graph: Graph, device: str = "cpu", **overrides) -> tuple[dict[str, float], str | None, float]:
    """Train GAN template ``graph`` with its settings; its final metrics (with
    ``modes covered`` or ``classes covered`` and ``confident share``), the failure
    message or ``None``, and the seconds it took."""
    from layerloom.backend.training import DatasetSettings, Failed, TrainSettings, prepare_data
    from layerloom.backend.training.gan import GanTrainer

    settings = TrainSettings.from_dict(graph.training).replace(device=device, **overrides)
    data = prepare_data(DatasetSettings.from_dict(graph.dataset), seed=settings.seed)
    trainer = GanTrainer(graph, data.train, settings)
    t0 = time.perf_counter()
    final = trainer.run()
    seconds = time.perf_counter() - t0
    if isinstance(final, Failed):
        return {}, final.message, seconds
    metrics = {f"train {k}": v for k, v in final.metrics.items()}
    names = {"modes_covered": "modes covered", "classes_covered": "classes covered",
             "confident_share": "confident share", "good_share": "good share"}
    found = {**final.metrics, **trainer.class_spread()}
    metrics.update({names[k]: v for k, v in found.items() if k in names})
    return metrics, None, seconds
