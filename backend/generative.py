"""The latent space of a variational autoencoder, drawn as a grid of decoded samples.

A VAE's encoder gives a mean and a log-variance, its Sampling node draws a code
``z`` from them, and the decoder turns ``z`` back into an image. With a code of two
numbers the whole latent space is a plane: decoding the points of a regular grid
over it (``-span..span`` on both axes, where the prior N(0, I) puts most of its
mass) and laying the images side by side shows what the model has learned to draw
where, and how one digit morphs into another between neighbours.

The decoder is cut from the compiled model with torch.fx: the Sampling node's
result becomes an input, and only what depends on it is kept. ``layerloom train``
writes the grid as ``latent_grid.png`` for such a graph; the app's Latent space
tab draws the same grid.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
import torch.fx as fx

GRID = 15  # decoded images per row and column
SPAN = 2.0  # the grid covers -SPAN..SPAN on both code axes (the prior's ±2 std)


class LatentError(ValueError):
    """The graph has no 2-D code to draw, or its decoder cannot run alone; the message says why."""


def latent_node(graph) -> str | None:
    """The id of the graph's Sampling node with a code of two values, or ``None``."""
    analysis = graph.analysis()
    for nid in analysis.order:
        node = graph.node(nid)
        if node.type == "sampling":
            info = analysis.nodes[nid]
            if info.out is not None and info.out.shape == (2,):
                return nid
    return None


def decoder(model, node_id: str) -> fx.GraphModule:
    """The part of the compiled ``model`` after the Sampling node ``node_id``, as a
    module from a batch of codes ``(N, 2)`` to the first Output that depends on it
    (sharing the model's weights)."""
    names = [name for name, nid in model.module_nodes.items() if nid == node_id]
    if not names:
        raise LatentError(f"the model has no module for the Sampling node {node_id!r}")
    source = next((n for n in model.graph.nodes if n.op == "call_module" and n.target == names[0]), None)
    if source is None:
        raise LatentError(f"the Sampling node {node_id!r} is not called by the model")
    new = fx.Graph()
    env = {source: new.placeholder("z")}
    for n in model.graph.nodes:
        if n.op == "output":
            results = n.args[0] if isinstance(n.args[0], (tuple, list)) else (n.args[0],)
            reached = [r for r in results if r in env]
            if not reached:
                raise LatentError("no Output depends on the Sampling node's code")
            new.output(env[reached[0]])
            break
        if n is source or not any(a in env for a in n.all_input_nodes):
            continue
        outside = [a.name for a in n.all_input_nodes if a not in env]
        if outside:
            raise LatentError(
                f"the decoder's {n.name} also uses {', '.join(outside)}, computed before the "
                "Sampling node, so it cannot decode a code alone")
        env[n] = new.node_copy(n, lambda a: env[a])
    return fx.GraphModule(model, new, class_name="Decoder")


def latent_grid(model, node_id: str, size: int = GRID, span: float = SPAN, gap: int = 1) -> np.ndarray:
    """Decoded images of a ``size`` x ``size`` grid of codes, tiled ``gap`` pixels
    apart: a 2-D float array (NaN in the gaps).

    Row ``i`` from the top holds codes with ``z₂`` from ``+span`` down to ``-span``,
    column ``j`` codes with ``z₁`` from ``-span`` to ``+span`` (a plot's orientation).
    Each decoded sample is shown as a square image: its values reshaped to
    (H, W) when it is an image (C, H, W) of one channel, or to the nearest square.
    """
    part = decoder(model, node_id)
    axis = np.linspace(-span, span, size, dtype=np.float32)
    z1, z2 = np.meshgrid(axis, axis[::-1])
    codes = torch.from_numpy(np.stack([z1.ravel(), z2.ravel()], axis=1))
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            images = part(codes.to(device)).float().cpu().numpy()
    finally:
        model.train(was_training)
    return tile(_squares(images.reshape(len(images), -1)), size, gap)


def tile(images: np.ndarray, columns: int, gap: int = 1) -> np.ndarray:
    """``(N, H, W)`` images side by side, ``columns`` per row, ``gap`` pixels apart
    (the gaps hold NaN: :func:`to_grey` draws them mid-grey)."""
    n, h, w = images.shape
    rows = math.ceil(n / columns)
    out = np.full((rows * (h + gap) - gap, columns * (w + gap) - gap), np.nan, np.float32)
    for i, image in enumerate(images):
        r, c = divmod(i, columns)
        out[r * (h + gap):r * (h + gap) + h, c * (w + gap):c * (w + gap) + w] = image
    return out


def _squares(flat: np.ndarray) -> np.ndarray:
    side = math.isqrt(flat.shape[1])
    if side * side != flat.shape[1]:
        side = math.ceil(math.sqrt(flat.shape[1]))
        flat = np.pad(flat, ((0, 0), (0, side * side - flat.shape[1])))
    return flat.reshape(len(flat), side, side)


def to_grey(image: np.ndarray) -> np.ndarray:
    """Values -> uint8 grey levels: [0, 1] as they are, other ranges stretched; NaN
    (the gaps between tiles) mid-grey."""
    gaps = np.isnan(image)
    values = image[~gaps] if gaps.any() else image
    lo, hi = (float(values.min()), float(values.max())) if values.size else (0.0, 1.0)
    if lo < 0 or hi > 1:
        image = (image - lo) / (hi - lo) if hi > lo else np.zeros_like(image)
    grey = (np.clip(np.nan_to_num(image, nan=0.5), 0, 1) * 255).round().astype(np.uint8)
    grey[gaps] = 96
    return grey


def write_latent_grid(graph, model, path: str | Path, size: int = GRID, scale: int = 5) -> Path | None:
    """Write the latent grid of ``model`` as a PNG (each pixel ``scale`` times
    larger); ``None`` when the graph has no 2-D code."""
    from PIL import Image

    node_id = latent_node(graph)
    if node_id is None:
        return None
    grey = to_grey(latent_grid(model, node_id, size))
    image = Image.fromarray(grey, mode="L")
    if scale > 1:
        image = image.resize((grey.shape[1] * scale, grey.shape[0] * scale), Image.NEAREST)
    path = Path(path)
    image.save(path)
    return path
