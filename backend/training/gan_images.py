"""Pictures of what a generator makes: a grid of images, or points over the real ones.

:func:`sample_picture` turns a ``gan_samples`` event into an RGB array: for image
samples ``(C, H, W)`` (one or three channels) a grid, each sample scaled to its own
range's 0..1 across the grid; for 2-D points a scatter, the real points grey under
the generated ones orange. :func:`write_png` saves it (Pillow). ``layerloom train``
writes one per epoch; the app's GAN view draws the same data with its own widgets.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

CELL = 6  # pixels per image pixel in a grid (an 8x8 digit becomes 48x48)
GAP = 2
PLOT = 320  # side of a scatter picture
REAL = (190, 190, 190)
FAKE = (230, 120, 20)


def image_grid(images: np.ndarray, cell: int = CELL) -> np.ndarray:
    """``(N, C, H, W)`` images (C 1 or 3) as one ``uint8`` RGB grid, as square as it goes."""
    n, c, h, w = images.shape
    lo, hi = float(images.min()), float(images.max())
    scaled = (images - lo) / (hi - lo) if hi > lo else np.zeros_like(images)
    if c == 1:
        scaled = np.repeat(scaled, 3, axis=1)
    elif c != 3:
        scaled = np.repeat(scaled[:, :1], 3, axis=1)  # first channel only
    cols = max(1, math.ceil(math.sqrt(n)))
    rows = math.ceil(n / cols)
    ch, cw = h * cell + GAP, w * cell + GAP
    grid = np.full((rows * ch + GAP, cols * cw + GAP, 3), 40, np.uint8)
    for i in range(n):
        r, k = divmod(i, cols)
        tile = np.kron(np.moveaxis(scaled[i], 0, -1), np.ones((cell, cell, 1)))
        grid[GAP + r * ch:GAP + r * ch + h * cell, GAP + k * cw:GAP + k * cw + w * cell] = \
            np.clip(tile * 255, 0, 255).astype(np.uint8)
    return grid


def scatter(points: np.ndarray, real: np.ndarray, size: int = PLOT) -> np.ndarray:
    """Generated ``points`` (orange) over ``real`` ones (grey), both ``(N, 2)``, in
    a square picture framing the real points (and the generated ones near them)."""
    picture = np.full((size, size, 3), 255, np.uint8)
    frame = real if len(real) else points
    lo, hi = frame.min(axis=0), frame.max(axis=0)
    centre, half = (lo + hi) / 2, max(float((hi - lo).max()) / 2, 1e-6) * 1.25
    for data, colour in ((real, REAL), (points, FAKE)):
        if not len(data):
            continue
        px = ((data - centre) / half * 0.5 + 0.5) * (size - 1)
        inside = np.all((px >= 1) & (px <= size - 2), axis=1)
        for x, y in px[inside].astype(int):
            picture[size - 1 - y - 1:size - 1 - y + 2, x - 1:x + 2] = colour
    return picture


def sample_picture(event) -> np.ndarray:
    """The RGB picture of a ``gan_samples`` event."""
    samples = event.array()
    if tuple(event.shape) == (2,):
        real = np.asarray(event.real, np.float32).reshape(-1, 2)
        return scatter(samples, real)
    if len(event.shape) == 3:
        return image_grid(samples)
    if len(event.shape) == 2:
        return image_grid(samples[:, None])
    side = math.ceil(math.sqrt(math.prod(event.shape)))  # a vector: shown as a square
    flat = samples.reshape(len(samples), -1)
    padded = np.zeros((len(samples), side * side), np.float32)
    padded[:, :flat.shape[1]] = flat
    return image_grid(padded.reshape(-1, 1, side, side))


def write_png(picture: np.ndarray, path: str | Path) -> Path:
    """Save an RGB ``uint8`` array as a PNG file."""
    from PIL import Image

    path = Path(path)
    Image.fromarray(picture, "RGB").save(path, format="PNG")
    return path
