"""A folder of images with one sub-folder per class (``cats/``, ``dogs/``, ...).

Class names are the sub-folder names in sorted order, so labels are stable from
one load to the next. Images are converted to grayscale or RGB, resized to one
size, and stored as ``(C, H, W)`` float32 in 0..1, the layout Conv2d takes. Files
whose suffix is not an image type (notes, ``.DS_Store``) and hidden entries are
skipped; a file that claims to be an image but cannot be decoded is an error
naming it, because silently dropping samples would change the class balance.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from layerloom.backend.datasets.base import Dataset, DatasetError
from layerloom.backend.datasets.files import FILE_CHOICES, check_choice, check_size
from layerloom.graph.tensor import fmt_shape

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
MAX_SIDE = 4096


def _images_in(folder: Path) -> list[Path]:
    return sorted(
        p for p in folder.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_SUFFIXES
    )


def _check_size_option(path: Path, size: Any) -> tuple[int, int] | None:
    if size is None:
        return None
    if isinstance(size, int) and not isinstance(size, bool):
        size = (size, size)
    ok = (
        isinstance(size, (list, tuple)) and len(size) == 2
        and all(isinstance(s, int) and not isinstance(s, bool) and 1 <= s <= MAX_SIDE for s in size)
    )
    if not ok:
        raise DatasetError(f"{path}: size must be (H, W) with whole numbers 1..{MAX_SIDE}, got {size!r}")
    return int(size[0]), int(size[1])


def _open(file: Path):
    """The decoded image; any decoding failure becomes an error naming the file."""
    from PIL import Image

    try:
        with Image.open(file) as im:
            im.load()
            return im.copy()
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise DatasetError(
            f"{file}: not a readable image ({exc}); replace or remove the file"
        ) from None


def load_image_folder(path: Path, size: Any = None, mode: str = "auto") -> Dataset:
    """Read every image under ``path/<class>/``; see ``FILE_OPTIONS['images']``."""
    from PIL import Image

    check_choice(path, "mode", mode, FILE_CHOICES["images"]["mode"])
    hw = _check_size_option(path, size)
    classes = sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise DatasetError(
            f"{path}: no class sub-folders; put each class's images in a sub-folder named "
            f"after the class ({path}/cats/1.png, {path}/dogs/1.png, ...)"
        )
    files: list[tuple[Path, int]] = []
    for label, folder in enumerate(classes):
        found = _images_in(folder)
        if not found:
            raise DatasetError(
                f"{folder}: the class folder {folder.name!r} holds no images "
                f"({', '.join(IMAGE_SUFFIXES)}); add images or remove the folder"
            )
        files.extend((f, label) for f in found)

    first = _open(files[0][0])
    if mode == "auto":
        colour = len(first.getbands()) >= 3 or (first.mode == "P" and _has_colour(first))
        mode = "rgb" if colour else "grayscale"
    if hw is None:
        hw = (first.height, first.width)
    channels = 3 if mode == "rgb" else 1
    check_size(path, (len(files), channels, *hw))
    x = np.empty((len(files), channels, *hw), dtype=np.float32)
    for i, (file, _) in enumerate(files):
        im = first if i == 0 else _open(file)
        im = im.convert("RGB" if mode == "rgb" else "L")
        if (im.height, im.width) != hw:
            im = im.resize((hw[1], hw[0]), Image.BILINEAR)
        a = np.asarray(im, dtype=np.float32) / 255.0
        x[i] = a.transpose(2, 0, 1) if channels == 3 else a[None]
    names = [c.name for c in classes]
    return Dataset(
        name=path.name, x=x, y=np.asarray([label for _, label in files], dtype=np.int64),
        task="classification", input_shape=x.shape[1:], input_dtype="float", target_shape=(),
        num_classes=len(names), class_names=names,
        description=f"{path.name}: {len(files):,} images of {fmt_shape(x.shape[1:])} in "
        f"{len(names)} classes ({', '.join(names[:5])}{', ...' if len(names) > 5 else ''})",
    )


def _has_colour(im) -> bool:
    rgb = np.asarray(im.convert("RGB"), dtype=np.int16)
    return bool(np.any(rgb[..., 0] != rgb[..., 1]) or np.any(rgb[..., 1] != rgb[..., 2]))
