"""A folder of images with one sub-folder per class (``cats/``, ``dogs/``, ...).

Class names are the sub-folder names in sorted order, so labels are stable from
one load to the next. Images are converted to grayscale or RGB, resized to one
size, and stored as ``(C, H, W)`` float32 in 0..1, the layout Conv2d takes. Files
whose suffix is not an image type (notes, ``.DS_Store``) and hidden entries are
skipped; a file that claims to be an image but cannot be decoded is an error
naming it, because silently dropping samples would change the class balance. The
kind is declared at the end (:data:`IMAGES`): the folder any other kind does not
claim, so that a folder without class sub-folders is told what it lacks.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from layerloom.backend.datasets.base import Dataset, DatasetError
from layerloom.backend.datasets.file_kinds import FileKind, check_size, register_file_kind
from layerloom.graph.params import Choice, Ints
from layerloom.graph.tensor import fmt_shape

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
MAX_SIDE = 4096


def _images_in(folder: Path) -> list[Path]:
    return sorted(
        p for p in folder.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_SUFFIXES
    )


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


def load_image_folder(path: Path, size: tuple[int, int] | None, mode: str) -> Dataset:
    """Read every image under ``path/<class>/`` with the options of :data:`IMAGES`."""
    from PIL import Image

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
    hw = (first.height, first.width) if size is None else tuple(size)
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


IMAGES = register_file_kind(FileKind(
    name="images",
    display_name="image folder",
    description="folders of images with one sub-folder per class",
    suffixes=(),
    loader=load_image_folder,
    options=(
        Ints("size", None, "The height and width every image is resized to", length=2, minimum=1,
             maximum=MAX_SIDE, unset="original size"),
        Choice("mode", "auto", ("auto", "grayscale", "rgb"), "auto: rgb if the first image has colour"),
    ),
    sniff=Path.is_dir,
    fallback=True,
))
