"""The U-Net template, built from the built-in U-Net blocks (``unet_down``, ``unet_up``).

:func:`unet_shapes` builds the graph with its ``meta``, ``dataset`` and ``training``
sections, finished (settings, layout) by the ``finish`` of
:mod:`benchmarks.template_graphs`, which lists it in ``TEMPLATES``; the stages are
then moved down a row per level, so the canvas shows the U. The blocks come from the built-in store exactly as a user
inserts them from the palette, so the template's file holds their definitions once
and each stage is one block node with its channels set.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from layerloom.graph import Graph
from layerloom.graph.block_store import find_block, insert_block
from layerloom.graph.layout import NODE_HEIGHT, V_GAP

ROW = NODE_HEIGHT + V_GAP
Finish = Callable[[Graph, dict[str, str], dict[str, Any], dict[str, Any]], Graph]

SIZE = 32  # image height and width: two 2x2 poolings take it to 8x8
CLASSES = 4  # background, disc, square, triangle
SHAPES_DATA = {"name": "shapes", "options": {"n_samples": 1500, "size": SIZE, "shapes": 3,
                                             "noise": 0.2, "masks": "kinds", "seed": 0},
               "normalise": "none", "val_split": 0.2}
UNET_TRAINING = {"optimizer": "adam", "lr": 0.005, "epochs": 8, "batch_size": 32}


def _block(graph: Graph, name: str, label: str, **params: Any) -> str:
    """Insert the built-in block ``name`` with its exposed ``params`` set."""
    node_id = insert_block(graph, find_block(name), label=label).node_id
    for key, value in params.items():
        graph.set_param(node_id, key, value)
    return node_id


def _conv(graph: Graph, source: str, port: str, channels: int, kernel: int, label: str,
          activation: str = "relu") -> str:
    node = graph.add_node("conv2d", {"channels": channels, "kernel_size": [kernel, kernel],
                                     "padding": "same", "activation": activation}, label=label)
    graph.connect(source, port, node.id, "in")
    return node.id


def unet_shapes(finish: Finish) -> Graph:
    """A two-stage U-Net segmenting the ``shapes`` images, finished by ``finish``."""
    graph = Graph()
    image = graph.add_node("input", {"shape": [1, SIZE, SIZE], "dtype": "float"},
                           label=f"Image (1, {SIZE}, {SIZE})").id
    down1 = _block(graph, "unet_down", "Down 1 (16 ch)", channels=16, mid_channels=16)
    down2 = _block(graph, "unet_down", "Down 2 (32 ch)", channels=32, mid_channels=32)
    graph.connect(image, "out", down1, "x")
    graph.connect(down1, "down", down2, "x")
    bottom = _conv(graph, down2, "down", 64, 3, "Bottom conv 64")
    up2 = _block(graph, "unet_up", "Up 2 (32 ch)", up_channels=32, mid_channels=32, channels=32)
    up1 = _block(graph, "unet_up", "Up 1 (16 ch)", up_channels=16, mid_channels=16, channels=16)
    graph.connect(bottom, "out", up2, "x")
    graph.connect(down2, "skip", up2, "skip")
    graph.connect(up2, "y", up1, "x")
    graph.connect(down1, "skip", up1, "skip")
    head = _conv(graph, up1, "y", CLASSES, 1, f"Scores ({CLASSES} per pixel)", "none")
    out = graph.add_node("output", label="Mask scores").id
    graph.connect(head, "out", out, "in")
    meta = {
        "title": "U-Net segmenting shapes",
        "group": "Architectures",
        "description": (
            "Segmentation: the model labels every pixel of a 32x32 image as background, disc, "
            "square or triangle, so its output is a score per class and pixel (4, 32, 32) and "
            "the loss is the cross-entropy averaged over the pixels. It is a U-Net built from "
            "the built-in blocks: two down stages (two 3x3 convolutions, then 2x2 pooling) "
            "shrink the image to 8x8 to see each shape whole, two up stages grow it back, and "
            "each up stage joins the down stage's output of the same size (the skip wire) to "
            "put the edges back in place. Double-click a block to see its inside. Each shape "
            "has a random brightness and the image is noisy, so only the outline tells a disc "
            "from a square. Read the accuracy (per pixel) with care: 81% of the "
            "pixels are background, so answering background everywhere already scores 81%, "
            "which is where the first epoch stands. After 8 epochs (about 35 s on one CPU "
            "thread) the U-Net gets over 99% of the pixels right, and its mean intersection "
            "over union (per class, the pixels both masks give it over those either does; "
            "shown on the Confusion tab) is about 0.96, where the background-only answer "
            "scores 0.20. Use Try it to see the predicted mask beside the true one, and "
            "the Confusion tab (counted over pixels) for which kinds it mixes up. Try fewer "
            "channels (select a block: its channels are block parameters), or the dataset's "
            "masks option set to foreground: background against shape is easy even for two "
            "plain convolutions, while telling the kinds apart needs the wider view the "
            "pooling gives."
        ),
        "expected": "val accuracy >= 98%; val mean iou >= 0.9",
    }
    graph = finish(graph, meta, SHAPES_DATA, UNET_TRAINING)
    # one row further down per level, as U-Nets are drawn: skip wires run level across
    graph.move_nodes({nid: (graph.node(nid).position[0], level * ROW) for nid, level in
                      ((down2, 1), (up2, 1), (bottom, 2))})
    return graph
