"""``shapes``: a segmentation set generated locally, shapes on a noisy background.

Each sample is a grey image ``(1, H, W)`` with one to ``shapes`` filled discs,
squares and triangles on a dark background, and its target is the per-pixel mask
``(H, W)``: the class of every pixel (background 0, then disc, square, triangle; or
background and shape only with ``masks="foreground"``). Every shape has its own
random brightness and the whole image gets Gaussian noise, so a pixel's brightness
tells shape from background only roughly and says nothing about which kind of shape
it belongs to: a model must look at the neighbourhood (the outline) to label it,
which is what a U-Net's down path (context) and skip connections (exact position)
are for.

Shapes do not overlap (a shape that would is placed again, up to a few tries), so
the mask is exactly the set of painted pixels. Everything is drawn from one
``np.random.default_rng(seed)``: the same options give the same images, and the
global NumPy, ``random`` and torch states are never touched.
"""

from __future__ import annotations

import numpy as np

from layerloom.backend.datasets.base import Dataset, DatasetError
from layerloom.backend.datasets.registry import DatasetInfo, register
from layerloom.backend.datasets.synthetic import seed_param
from layerloom.graph.params import Choice, Float, Int

SHAPES_DOC = ("Segmentation: grey images (1, H, W) of random discs, squares and triangles on a "
              "noisy background; the target is the mask (H, W) giving each pixel's class "
              "(background or the kind of shape it lies in).")
KINDS = ("disc", "square", "triangle")
MASKS = ("kinds", "foreground")
MAX_PIXELS = 200_000_000  # n_samples x H x W above this is a typo, not a dataset
PLACE_TRIES = 20  # tries to place a shape clear of the others before leaving it out
MIN_RADIUS, MAX_RADIUS = 0.12, 0.25  # shape half-size as a share of the image size
MIN_BRIGHTNESS, MAX_BRIGHTNESS = 0.5, 1.0


def class_names(masks: str) -> list[str]:
    """The mask's classes, background first."""
    return ["background", *KINDS] if masks == "kinds" else ["background", "shape"]


def _footprint(kind: str, yy: np.ndarray, xx: np.ndarray, cy: float, cx: float, r: float) -> np.ndarray:
    """The pixels a shape of half-size ``r`` centred at ``(cy, cx)`` covers."""
    if kind == "disc":
        return (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
    if kind == "square":
        return (np.abs(yy - cy) <= r) & (np.abs(xx - cx) <= r)
    # an upright triangle: apex at the top, base of width 2r at the bottom
    depth = yy - (cy - r)
    return (depth >= 0) & (depth <= 2 * r) & (np.abs(xx - cx) <= depth / 2)


def make_shapes(n_samples: int, size: int, shapes: int, noise: float, masks: str, seed: int) -> Dataset:
    """Generate ``n_samples`` images of ``size`` x ``size`` pixels and their masks."""
    if n_samples * size * size > MAX_PIXELS:
        raise DatasetError(
            f"dataset 'shapes': n_samples={n_samples:,} x size={size}x{size} is "
            f"{n_samples * size * size:,} pixels, more than {MAX_PIXELS:,}; lower one of them"
        )
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    x = np.zeros((n_samples, 1, size, size), np.float32)
    y = np.zeros((n_samples, size, size), np.int64)
    for i in range(n_samples):
        image, mask = x[i, 0], y[i]
        for _ in range(int(rng.integers(1, shapes + 1))):
            kind = int(rng.integers(len(KINDS)))
            brightness = rng.uniform(MIN_BRIGHTNESS, MAX_BRIGHTNESS)
            for _ in range(PLACE_TRIES):
                r = rng.uniform(MIN_RADIUS, MAX_RADIUS) * size
                cy, cx = rng.uniform(r, size - 1 - r, size=2)
                # only the shape's bounding box is looked at: a tenth of the image or less
                box = (slice(max(int(cy - r), 0), int(cy + r) + 2), slice(max(int(cx - r), 0), int(cx + r) + 2))
                covered = _footprint(KINDS[kind], yy[box], xx[box], cy, cx, r)
                if covered.any() and not (mask[box][covered] > 0).any():
                    image[box][covered] = brightness
                    mask[box][covered] = kind + 1 if masks == "kinds" else 1
                    break
    if noise > 0:
        x += rng.normal(0.0, noise, size=x.shape).astype(np.float32)
    names = class_names(masks)
    return Dataset(
        name="shapes", x=x, y=y, task="segmentation", input_shape=(1, size, size),
        input_dtype="float", target_shape=(size, size), num_classes=len(names),
        class_names=names, description=SHAPES_DOC,
    )


def _shapes_of(options):
    size = options["size"]
    return (1, size, size), (size, size), len(class_names(options["masks"]))


register(DatasetInfo(
    name="shapes", description=SHAPES_DOC, task="segmentation", input_shape=(1, 32, 32),
    input_dtype="float", num_classes=len(KINDS) + 1,
    options=(
        Int("n_samples", 2000, "Number of images", minimum=2, maximum=1_000_000),
        Int("size", 32, "Height and width of the images in pixels (a multiple of 4 keeps the "
            "shapes of a two-stage U-Net matching)", minimum=8, maximum=256),
        Int("shapes", 3, "Most shapes in one image (each image has 1 to this many)",
            minimum=1, maximum=10),
        Float("noise", 0.2, "Standard deviation of the Gaussian noise added to every pixel "
              f"(shapes are {MIN_BRIGHTNESS:g} to {MAX_BRIGHTNESS:g} bright on a background of 0)",
              minimum=0.0, maximum=2.0),
        Choice("masks", "kinds", MASKS, "kinds: one class per kind of shape (background, disc, "
               "square, triangle); foreground: background and shape only"),
        seed_param(),
    ),
    target_shape=(32, 32), loader=make_shapes, shapes=_shapes_of, category="Signals and images",
))
