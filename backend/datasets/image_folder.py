"""A folder of images with one sub-folder per class (``cats/``, ``dogs/``, ...).

Class names are the sub-folder names in sorted order, so labels are stable from
one load to the next. Images are converted to grayscale or RGB, resized to one
size, and stored as ``(C, H, W)`` float32 in 0..1, the layout Conv2d takes. Files
whose suffix is not an image type (notes, ``.DS_Store``) and hidden entries are
skipped; a file that claims to be an image but cannot be decoded is an error
naming it, because silently dropping samples would change the class balance. So is
an entry named like an image that is not a regular file (a named pipe, a device,
a symbolic link loop or a link to nothing): it is never opened, so it cannot block
or read without end. An image's declared size, and the whole array, are checked
against the memory budget before they are decoded or allocated. The kind is
declared at the end (:data:`IMAGES`): the folder any other kind does not claim, so
that a folder without class sub-folders is told what it lacks.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import numpy as np

from layerloom.backend.datasets.base import Dataset, DatasetError
from layerloom.backend.datasets.file_kinds import (
    LOOP_FIX,
    SPECIAL_FIX,
    FileKind,
    check_size,
    open_data_file,
    register_file_kind,
    within_budget,
)
from layerloom.graph.fileio import kind_of
from layerloom.graph.params import Choice, Ints
from layerloom.graph.tensor import fmt_shape

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
MAX_SIDE = 4096
MAX_PIXELS = 50_000_000  # 50 megapixels: larger is a photo to scale down, not a training image


def _entries(folder: Path) -> list[Path]:
    """The entries of ``folder`` that are not hidden, sorted; listing errors are named."""
    try:
        return sorted(p for p in folder.iterdir() if not p.name.startswith("."))
    except OSError as exc:
        raise DatasetError(f"{folder}: cannot be listed ({exc.strerror or exc})") from None


def _mode(entry: Path) -> int:
    """``st_mode`` of what ``entry`` leads to; a link loop or a link to nothing is an error."""
    try:
        return os.stat(entry).st_mode
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise DatasetError(f"{entry}: a symbolic link loop (the link leads back to itself); "
                               f"{LOOP_FIX}, or remove it") from None
        if entry.is_symlink():
            raise DatasetError(f"{entry}: a symbolic link to {os.readlink(entry)!r}, which does not "
                               "exist; fix the link or remove it") from None
        raise DatasetError(f"{entry}: cannot be read ({exc.strerror or exc})") from None


def _images_in(folder: Path) -> list[Path]:
    """The image files of a class folder; an image name on a special file is an error."""
    found = []
    for entry in _entries(folder):
        if entry.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        mode = _mode(entry)
        if stat.S_ISDIR(mode):
            continue
        if not stat.S_ISREG(mode):
            raise DatasetError(f"{entry}: is {kind_of(mode)}, not an image file; {SPECIAL_FIX}, "
                               "or remove it")
        found.append(entry)
    return found


def _classes(path: Path) -> list[Path]:
    """The class sub-folders of ``path``; a link among them that loops or leads nowhere
    is an error (it may be a class that would silently go missing)."""
    classes = []
    for entry in _entries(path):
        if entry.is_symlink() or entry.is_dir():
            if stat.S_ISDIR(_mode(entry)):
                classes.append(entry)
    return classes


def _open(file: Path):
    """The decoded image; the size its header declares is checked first (at most
    :data:`MAX_PIXELS`, within the memory budget), and any decoding failure becomes an
    error naming the file."""
    from PIL import Image

    with open_data_file(file) as fh:
        try:
            im = Image.open(fh)
            pixels = im.width * im.height
            if pixels > MAX_PIXELS:
                raise DatasetError(
                    f"{file}: the image declares {im.width} x {im.height} pixels ({pixels:,}), more "
                    f"than LayerLoom decodes ({MAX_PIXELS:,}); scale it down, or remove the file"
                )
            # Pillow holds up to 4 bytes a pixel (RGB is stored as RGBX), then converts
            within_budget(file, 8 * pixels, f"the {im.width} x {im.height} {im.mode} image it declares")
            im.load()  # the decoded pixels stay with ``im`` once the file is closed
            return im
        except DatasetError:
            raise
        # A damaged file can make any of Pillow's decoders raise (OSError, SyntaxError,
        # ValueError, but also struct.error, IndexError, ...): all mean "not an image".
        except Exception as exc:
            raise DatasetError(
                f"{file}: not a readable image ({str(exc) or type(exc).__name__}); replace or remove the file"
            ) from None


def load_image_folder(path: Path, size: tuple[int, int] | None, mode: str) -> Dataset:
    """Read every image under ``path/<class>/`` with the options of :data:`IMAGES`."""
    from PIL import Image

    classes = _classes(path)
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
    within_budget(path, len(files) * channels * hw[0] * hw[1] * 4,
                  f"the array of {len(files):,} images of {channels} x {hw[0]} x {hw[1]} float32 values")
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
    """Whether a palette image uses a colour that is not a gray, from its palette."""
    palette = np.asarray(im.getpalette() or [], dtype=np.int16).reshape(-1, 3)
    used = np.unique(np.asarray(im))
    rgb = palette[used[used < len(palette)]]
    return bool(np.any(rgb[:, 0] != rgb[:, 1]) or np.any(rgb[:, 1] != rgb[:, 2]))


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
