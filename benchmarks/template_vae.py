"""The variational autoencoder template, ``vae_digits``.

:func:`vae_digits` builds the graph with its ``meta``, ``dataset`` and ``training``
sections (finished by :func:`benchmarks.template_parts.finish`);
:mod:`benchmarks.template_graphs` lists it in ``TEMPLATES``. The loss is wired in
the graph: a ReconstructionLoss node (binary cross-entropy of the decoded pixels
against the Input, summed over the 64 pixels) and a KLDivergence node on the
encoder's mean and log-variance; the Output only returns the reconstruction.
"""

from __future__ import annotations

from benchmarks.template_parts import chain, dense, finish
from layerloom.graph import Graph

CODE = 2  # the latent space is a plane, drawn as a grid of decoded digits
HIDDEN = 128
DIGITS = {"name": "digits", "normalise": "none", "val_split": 0.2}  # pixels in 0..1, as BCE wants
TRAINING = {"optimizer": "adam", "lr": 0.003, "epochs": 40, "batch_size": 32}


def vae_digits() -> Graph:
    graph = Graph()
    image = graph.add_node("input", {"shape": [1, 8, 8], "dtype": "float"}, label="Digit image (1, 8, 8)").id
    hidden = chain(graph, image, [("flatten", {}, "Flatten (64 pixels)"),
                                  dense(HIDDEN, "relu", f"Encoder {HIDDEN}")])
    mean = chain(graph, hidden, [dense(CODE, label=f"Mean ({CODE})")])
    logvar = chain(graph, hidden, [dense(CODE, label=f"Log-variance ({CODE})")])
    code = graph.add_node("sampling", label=f"Code z ({CODE})").id
    graph.connect(mean, "out", code, "mean")
    graph.connect(logvar, "out", code, "logvar")
    pixels = chain(graph, code, [dense(HIDDEN, "relu", f"Decoder {HIDDEN}"),
                                 dense(64, "sigmoid", "Pixels 0..1 (64)"),
                                 ("reshape", {"shape": [1, 8, 8]}, "Image (1, 8, 8)")])
    out = graph.add_node("output", {"loss": "none"}, label="Decoded image").id
    graph.connect(pixels, "out", out, "in")
    recon = graph.add_node("reconstruction_loss", {"kind": "bce", "reduction": "sum"},
                           label="Reconstruction").id
    graph.connect(pixels, "out", recon, "pred")
    graph.connect(image, "out", recon, "target")
    kl = graph.add_node("kl_divergence", label="KL").id
    graph.connect(mean, "out", kl, "mean")
    graph.connect(logvar, "out", kl, "logvar")
    return finish(graph, {
        "title": "Variational autoencoder on digits",
        "group": "Architectures",
        "description": (
            "A generative model: the encoder maps each 8x8 digit to a mean and a log-variance "
            "of a code of two numbers, the Sampling node draws a code from that normal "
            "distribution (mean + exp(0.5·logvar)·noise, so gradients reach both), and the "
            "decoder draws a digit from the code. The loss is wired in the graph and is the "
            "sum of two terms: Reconstruction (binary cross-entropy of the 64 decoded pixels "
            "against the input, summed over the pixels) and KL (how far the codes' "
            "distribution is from N(0, 1), which keeps the code space filled without holes). "
            "Read the loss plot: the total and both terms; reconstruction falls while KL rises "
            "from 0 as the codes spread out to carry information. Then open the Latent space "
            "tab (layerloom train writes latent_grid.png): codes from -2 to 2 on both axes, "
            "decoded; neighbouring digits morph into one another and every point decodes to "
            "something digit-like (after 40 epochs: 1s and 7s at the top, 0s in the middle, 6s "
            "at the bottom, 4s at the right). Try the KL node's weight at 0: nothing holds the "
            "codes near 0, they spread far beyond -2..2 (KL near 20) and the grid shows only a "
            "few digits. At 4 the code collapses: KL falls to 0, every code decodes to the same "
            "blurred average and the reconstruction loss stays near 27."
        ),
        "expected": "val loss_reconstruction <= 24",
    }, DIGITS, TRAINING)
