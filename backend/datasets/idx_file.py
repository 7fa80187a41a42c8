"""MNIST-format IDX files (raw or gzipped): an images file and a labels file.

An IDX file is a 4-byte magic number (two zero bytes, a type code, the number of
dims), the dims as big-endian 32-bit counts, then the values. The header is read
first and the size it declares checked against the memory budget, then exactly
that many bytes are read (inflated, for a gzipped file) into the array, and the
file must end there: a gzipped file that inflates to gigabytes, a header that
declares a huge array, a truncated download or a swapped file gives a message
naming it, never a garbled array or an exhausted memory. Only regular files are
opened, without blocking. Give the images file and ``labels=`` the labels file, or a folder
holding the usual names (``train-images-idx3-ubyte.gz`` and friends; the test
files, ``t10k-*``, then ride along as ``Dataset.test``). The kind is declared at
the end (:data:`IDX`); it is recognised by the header, whatever the file's name.
"""

from __future__ import annotations

import contextlib
import gzip
import math
import os
import struct
import zlib
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np

from layerloom.backend.datasets.base import Dataset, DatasetError
from layerloom.backend.datasets.file_kinds import (
    FileKind,
    check_data_path,
    class_labels,
    first_non_finite,
    open_data_file,
    register_file_kind,
    within_budget,
)
from layerloom.graph.params import Choice, FilePath
from layerloom.graph.tensor import fmt_shape

IDX_TYPES = {0x08: "u1", 0x09: "i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
TYPE_NAMES = {0x08: "ubyte", 0x09: "byte", 0x0B: "short", 0x0C: "int", 0x0D: "float", 0x0E: "double"}
PREFIXES = {"train": ("train",), "test": ("t10k", "test")}


CHUNK = 1 << 20
# What a damaged gzip stream makes the gzip module raise (BadGzipFile is an OSError).
DAMAGED = (OSError, EOFError, zlib.error, struct.error)


@contextlib.contextmanager
def open_maybe_gzip(path: Path) -> Iterator[BinaryIO]:
    """The file's bytes, un-gzipped when it starts with the gzip magic; a regular
    file only (:func:`~layerloom.backend.datasets.file_kinds.open_data_file`)."""
    with open_data_file(path) as fh:
        magic = fh.read(2)
        fh.seek(0)
        if magic != b"\x1f\x8b":
            yield fh
            return
        with gzip.GzipFile(fileobj=fh, mode="rb") as inflated:
            yield inflated


def _is_header(head: bytes) -> bool:
    return len(head) == 4 and head[0] == 0 and head[1] == 0 and head[2] in IDX_TYPES and 1 <= head[3] <= 4


def looks_like_idx(path: Path) -> bool:
    """True when the first bytes are an IDX header: 0, 0, a known type code, 1..4 dims."""
    try:
        with open_maybe_gzip(path) as fh:
            return _is_header(fh.read(4))
    except (DatasetError, *DAMAGED):
        return False


def _read_exactly(fh: BinaryIO, out: memoryview) -> int:
    """Fill ``out`` from ``fh`` in bounded chunks; the number of bytes read."""
    done = 0
    while done < len(out):
        chunk = fh.read(min(CHUNK, len(out) - done))
        if not chunk:
            break
        out[done:done + len(chunk)] = chunk
        done += len(chunk)
    return done


def read_idx(path: Path) -> np.ndarray:
    """The array stored in one IDX file, after checking header, dims, size and length."""
    try:
        with open_maybe_gzip(path) as fh:
            return _read_idx(path, fh)
    except DAMAGED as exc:
        raise DatasetError(f"{path}: cannot be read ({exc}); the file may be a truncated download") from None


def _read_idx(path: Path, fh: BinaryIO) -> np.ndarray:
    head = fh.read(4)
    if not _is_header(head):
        raise DatasetError(
            f"{path}: bad magic number 0x{head.hex() or 'empty'}; an IDX file starts with two "
            "zero bytes, a type code (08 ubyte, 09 byte, 0b short, 0c int, 0d float, 0e double) "
            "and its number of dims (e.g. 0x00000803 for images); is this an MNIST-format file?"
        )
    type_code, ndim = head[2], head[3]
    raw_dims = fh.read(4 * ndim)
    if len(raw_dims) < 4 * ndim:
        raise DatasetError(f"{path}: the header declares {ndim} dims but the file ends after "
                           f"{4 + len(raw_dims)} bytes")
    dims = struct.unpack(f">{ndim}I", raw_dims)
    dtype = np.dtype(IDX_TYPES[type_code])
    count = math.prod(dims)
    expected = count * dtype.itemsize
    declared = f"{' x '.join(map(str, dims))} {TYPE_NAMES[type_code]} values"
    # the values as stored, and as float32 for training
    within_budget(path, expected + 4 * count, f"the array its header declares ({' x '.join(map(str, dims))} "
                  f"{TYPE_NAMES[type_code]}, read and converted to float32)")
    if not isinstance(fh, gzip.GzipFile):  # a raw file's length is known before reading
        stored = os.fstat(fh.fileno()).st_size - 4 - 4 * ndim
        if stored != expected:
            raise DatasetError(
                f"{path}: the header declares {declared} ({expected:,} bytes) but the file holds "
                f"{stored:,} bytes after it; the file is truncated or damaged, download it again"
            )
    values = np.empty(count, dtype)
    got = _read_exactly(fh, memoryview(values.view(np.uint8)) if expected else memoryview(bytearray()))
    extra = fh.read(1)  # must be the end (for a gzipped file, where its checksum is checked)
    if got != expected or extra:
        holds = f"{got:,} bytes" if got < expected else "more bytes than that"
        raise DatasetError(
            f"{path}: the header declares {declared} ({expected:,} bytes) but the file holds "
            f"{holds} after it; the file is truncated or damaged, download it again"
        )
    return values.reshape(dims)


def find_idx_pair(folder: Path, split: str) -> tuple[Path, Path | None] | None:
    """The (images, labels) files of ``split`` in ``folder`` by the usual MNIST names.

    ``labels`` is ``None`` when only the images file is there; the whole result is
    ``None`` when there is no images file.
    """
    def first(prefix: str, what: str, idx: str) -> Path | None:
        for sep in ("-", "."):
            for gz in ("", ".gz"):
                p = folder / f"{prefix}-{what}{sep}{idx}-ubyte{gz}"
                if p.is_file():
                    return p
        return None

    for prefix in PREFIXES[split]:
        images = first(prefix, "images", "idx3")
        if images is not None:
            return images, first(prefix, "labels", "idx1")
    return None


def guess_labels(images: Path) -> Path | None:
    """``train-images-idx3-ubyte.gz`` -> ``train-labels-idx1-ubyte.gz`` if that exists."""
    name = images.name.replace("images", "labels").replace("idx3", "idx1")
    candidate = images.with_name(name)
    return candidate if name != images.name and candidate.is_file() else None


def _labels_path(images: Path, labels: str | Path) -> Path:
    """``labels`` as given; a relative path is taken next to the images file (so
    that a ``.loom`` file and its data can move together), unless it only exists
    relative to the working folder."""
    given = Path(labels).expanduser()
    if given.is_absolute():
        return given
    beside = images.parent / given
    return beside if beside.exists() or not given.exists() else given


def _build(images_path: Path, labels_path: Path, name: str, num_classes: int | None = None) -> Dataset:
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.ndim == 1:
        raise DatasetError(
            f"{images_path}: holds one value per item {fmt_shape(images.shape)}, like a labels "
            "file; give the images file as the path and the labels file as labels="
        )
    if images.ndim > 3:
        raise DatasetError(f"{images_path}: images must be (n, H, W) or (n, features), got {fmt_shape(images.shape)}")
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise DatasetError(
            f"{labels_path}: a labels file holds one whole number per image, got "
            f"{fmt_shape(labels.shape)} of {labels.dtype}; is it the images file?"
        )
    if len(images) != len(labels):
        raise DatasetError(
            f"{images_path} holds {len(images):,} images but {labels_path} holds "
            f"{len(labels):,} labels; give the labels file that belongs to these images"
        )
    x = images.astype(np.float32)
    if images.dtype == np.uint8:
        x /= 255.0
    first_non_finite(images_path, "images", x)
    if images.ndim == 3:
        x = x.reshape(len(x), 1, *images.shape[1:])
    y = labels.astype(np.int64)
    count = max(class_labels(labels_path, "labels", y), num_classes or 0)
    return Dataset(
        name=name, x=np.ascontiguousarray(x), y=y, task="classification", input_shape=x.shape[1:],
        input_dtype="float", target_shape=(), num_classes=count,
        class_names=[str(i) for i in range(count)],
        description=f"{name}: {len(x):,} IDX images of {fmt_shape(x.shape[1:])}, {count} classes",
    )


def load_idx(path: Path, labels: str | None, split: str) -> Dataset:
    """Read an IDX images file with its labels file, or a folder of MNIST-named files,
    with the options of :data:`IDX` (a folder takes ``split``, a file ``labels``)."""
    if not path.is_dir():
        labels_path = _labels_path(path, labels) if labels is not None else guess_labels(path)
        if labels_path is None:
            raise DatasetError(
                f"{path}: no labels file found next to it; give it with labels=PATH "
                "(e.g. train-labels-idx1-ubyte.gz)"
            )
        if not labels_path.is_file():
            check_data_path(labels_path)  # a pipe or a link loop is named as such
            raise DatasetError(f"{labels_path}: labels file not found (the labels of {path}); check the "
                               "labels= path (a relative path is taken next to the images file)")
        return _build(path, labels_path, path.name)

    pair = find_idx_pair(path, split)
    if pair is None or pair[1] is None:
        prefix = PREFIXES[split][0]
        what = "images" if pair is None else "labels"
        raise DatasetError(
            f"{path}: no {split} {what} file; expected {prefix}-images-idx3-ubyte and "
            f"{prefix}-labels-idx1-ubyte (optionally .gz) in this folder"
        )
    data = _build(pair[0], pair[1], path.name)
    if split == "train":
        test_pair = find_idx_pair(path, "test")
        if test_pair is not None and test_pair[1] is not None:
            test = _build(test_pair[0], test_pair[1], path.name, data.num_classes)
            if test.input_shape != data.input_shape:
                raise DatasetError(
                    f"{test_pair[0]}: test images are {fmt_shape(test.input_shape)} but training "
                    f"images are {fmt_shape(data.input_shape)}; the two sets must match"
                )
            if test.num_classes > data.num_classes:
                data = _build(pair[0], pair[1], path.name, test.num_classes)
            data.test = test
    return data



def _is_idx(path: Path) -> bool:
    """An IDX file, or a folder holding IDX files under the usual names."""
    if path.is_dir():
        return find_idx_pair(path, "train") is not None or find_idx_pair(path, "test") is not None
    return path.is_file() and looks_like_idx(path)


def _options_for(path: Path) -> Collection[str]:
    return ("split",) if path.is_dir() else ("labels",)


IDX = register_file_kind(FileKind(
    name="idx",
    display_name="IDX images",
    description="MNIST IDX files (raw or .gz)",
    suffixes=("-ubyte", ".idx1", ".idx3", ".gz"),
    loader=load_idx,
    options=(
        FilePath("labels", None, "The IDX labels file that goes with this images file; a relative "
                 "path is taken next to the images", label="labels file",
                 unset="found by name next to the images"),
        Choice("split", "train", ("train", "test"), "Which files of the folder to load: train (the "
               "test files ride along as the test split) or test"),
    ),
    sniff=_is_idx,
    applies=_options_for,
))
