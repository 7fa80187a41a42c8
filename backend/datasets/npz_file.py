"""NumPy ``.npz`` archives holding arrays ``x`` (inputs) and ``y`` (targets).

The archive is read member by member, never with ``np.load``: first each ``.npy``
header (shape and dtype), then the data. The zip member's inflated length and the
size the header declares are checked against the memory budget before anything is
allocated, so a small file that inflates to gigabytes (a zip bomb) or declares a
huge shape is refused with the sizes named. An object array is refused from its
header: its data is pickled, which can carry code, so it is never read. The task
follows from the arrays unless ``task=`` says otherwise:

- ``y`` integer, one value per sample -> classification (classes ``0..max(y)``);
- ``y`` float -> regression, ``(n,)`` read as ``(n, 1)``;
- ``x`` and ``y`` integer, ``y`` of shape ``(n, T)`` -> sequence (token ids).

An optional string array ``class_names`` names the classes. The kind is declared
at the end (:data:`NPZ`).
"""

from __future__ import annotations

import errno
import lzma
import math
import struct
import zipfile
import zlib
from pathlib import Path
from tokenize import TokenError
from typing import BinaryIO

import numpy as np

from layerloom.backend.datasets.base import Dataset, DatasetError
from layerloom.backend.datasets.file_kinds import (
    FileKind,
    class_labels,
    first_non_finite,
    open_data_file,
    register_file_kind,
    within_budget,
)
from layerloom.graph.fileio import human_bytes
from layerloom.graph.params import Choice
from layerloom.graph.tensor import fmt_shape

NUMERIC_KINDS = "biuf"  # bool, signed, unsigned, float
MAX_VOCAB = 100_000
NPY_MAGIC = b"\x93NUMPY"
CHUNK = 1 << 20
# What a damaged archive makes zipfile and its decompressors raise: a bad header or
# CRC, a stream cut short, an unknown compression method, an encrypted member.
DAMAGED = (OSError, EOFError, zipfile.BadZipFile, zlib.error, lzma.LZMAError, struct.error,
           NotImplementedError, RuntimeError, ValueError, OverflowError)
# Bytes of memory per value beyond the stored array: x becomes float32, y int64 labels.
CONVERTED = {"x": 4, "y": 8}
SAVE_HINT = "save it with np.savez(path, x=..., y=...)"


def _reason(exc: BaseException) -> str:
    """What went wrong, in words: a seek before the start of the file is an entry of
    the zip directory that points outside the file."""
    if isinstance(exc, OSError) and exc.errno == errno.EINVAL:
        return "an entry of its zip directory points outside the file"
    return str(exc) or type(exc).__name__


def _open_archive(path: Path, fh: BinaryIO) -> zipfile.ZipFile:
    """The zip archive in ``fh``; a lone ``.npy`` array or other bytes are refused."""
    head = fh.read(len(NPY_MAGIC))
    if head == NPY_MAGIC:
        raise DatasetError(f"{path}: holds a single array, not an archive; {SAVE_HINT}")
    fh.seek(0)
    try:
        return zipfile.ZipFile(fh)
    except DAMAGED as exc:
        raise DatasetError(f"{path}: not a readable .npz archive ({_reason(exc)}); {SAVE_HINT}") from None


def _member(archive: zipfile.ZipFile, key: str) -> zipfile.ZipInfo | None:
    """The member holding array ``key`` (``x.npy``, or ``x`` as np.load also takes)."""
    names = set(archive.namelist())
    for name in (f"{key}.npy", key):
        if name in names:
            return archive.getinfo(name)
    return None


def _array_names(archive: zipfile.ZipFile) -> list[str]:
    return [name.removesuffix(".npy") for name in archive.namelist()]


def _read_header(path: Path, key: str, f) -> tuple[tuple[int, ...], bool, np.dtype]:
    """Shape, Fortran order and dtype from the ``.npy`` header of member ``f``; numpy
    parses the header (a Python literal, at most 10,000 bytes) with ``tokenize`` and
    ``ast.literal_eval``, whose errors on a damaged one are caught here."""
    try:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            return np.lib.format.read_array_header_1_0(f)
        if version == (2, 0):
            return np.lib.format.read_array_header_2_0(f)
    except (ValueError, EOFError, SyntaxError, TokenError, RecursionError, MemoryError, TypeError) as exc:
        raise DatasetError(f"{path}: array {key!r} has no valid .npy header ({_reason(exc)}); "
                           f"the file is damaged; {SAVE_HINT}") from None
    raise DatasetError(f"{path}: array {key!r} is in .npy format version {version[0]}.{version[1]}, "
                       f"which LayerLoom does not read (1.0 and 2.0 hold numbers); {SAVE_HINT}")


def _check_dtype(path: Path, key: str, dtype: np.dtype, kinds: str) -> None:
    if dtype.hasobject:
        raise DatasetError(
            f"{path}: array {key!r} holds Python objects (dtype object), pickled data that can "
            "carry code; LayerLoom refused it without reading it. Save it with a numeric dtype, "
            f"e.g. np.savez(file, {key}=np.asarray({key}, dtype='float32'))"
        )
    if dtype.kind not in kinds:
        wanted = "numbers (float or int)" if kinds == NUMERIC_KINDS else "strings"
        raise DatasetError(f"{path}: array {key!r} has dtype {dtype}, not {wanted}; store {wanted}")


def _read_array(path: Path, archive: zipfile.ZipFile, info: zipfile.ZipInfo, key: str,
                kinds: str) -> np.ndarray:
    """Array ``key`` of member ``info``, its sizes checked against the budget first."""
    within_budget(path, info.file_size, f"member {info.filename!r} ({human_bytes(info.compress_size)} "
                  "compressed)")
    with archive.open(info) as f:
        shape, fortran, dtype = _read_header(path, key, f)
        _check_dtype(path, key, dtype, kinds)
        count = math.prod(shape)
        needed = count * dtype.itemsize
        within_budget(path, needed + count * CONVERTED.get(key, 0),
                      f"array {key!r} ({' x '.join(map(str, shape)) or 'scalar'} {dtype})")
        stored = info.file_size - f.tell()
        if stored != needed:
            raise DatasetError(
                f"{path}: array {key!r} declares {fmt_shape(shape)} {dtype} ({needed:,} bytes) but "
                f"its member holds {stored:,} bytes of data; the file is damaged; {SAVE_HINT}"
            )
        a = np.empty(count, dtype)
        view = memoryview(a.reshape(-1).view(np.uint8)) if needed else memoryview(b"")
        done = 0
        while done < needed:
            chunk = f.read(min(CHUNK, needed - done))
            if not chunk:
                raise DatasetError(f"{path}: array {key!r} ends after {done:,} of {needed:,} bytes; "
                                   "the file is truncated")
            view[done:done + len(chunk)] = chunk
            done += len(chunk)
        f.read(1)  # to the end of the member, where its checksum is checked
    if fortran:
        return a.reshape(shape[::-1]).transpose()
    return a.reshape(shape)


def _read_arrays(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """``x``, ``y`` and ``class_names`` (or ``None``) of the archive at ``path``."""
    with open_data_file(path) as fh, _open_archive(path, fh) as archive:
        members = {key: _member(archive, key) for key in ("x", "y", "class_names")}
        missing = [k for k in ("x", "y") if members[k] is None]
        if missing:
            found = ", ".join(repr(k) for k in _array_names(archive)) or "none"
            raise DatasetError(
                f"{path}: no array {missing[0]!r} (arrays found: {found}); save the inputs as x "
                "and the targets as y: np.savez(path, x=inputs, y=targets)"
            )
        arrays = {}
        for key, info in members.items():
            if info is None:
                continue
            kinds = "US" if key == "class_names" else NUMERIC_KINDS
            try:
                arrays[key] = _read_array(path, archive, info, key, kinds)
            except DAMAGED as exc:
                raise DatasetError(f"{path}: array {key!r} cannot be read ({_reason(exc)}); "
                                   "the file is damaged") from None
    return arrays["x"], arrays["y"], arrays.get("class_names")


def load_npz(path: Path, task: str) -> Dataset:
    """Read ``x`` and ``y`` from an ``.npz`` archive, sizes and dtypes checked first."""
    x, y, names = _read_arrays(path)
    for key, a in (("x", x), ("y", y)):
        if a.ndim == 0:
            raise DatasetError(f"{path}: array {key!r} is a single value; it needs one entry per sample")
    if len(x) != len(y):
        raise DatasetError(
            f"{path}: x has {len(x)} samples {fmt_shape(x.shape)} but y has {len(y)} "
            f"{fmt_shape(y.shape)}; both need the same first dim, one entry per sample"
        )
    if len(x) == 0:
        raise DatasetError(f"{path}: x and y hold no samples")
    if x.ndim == 1:
        x = x.reshape(-1, 1)  # one feature per sample
    first_non_finite(path, "x", x)
    first_non_finite(path, "y", y)
    integer_x, integer_y = x.dtype.kind in "biu", y.dtype.kind in "biu"

    if task == "auto":
        if integer_y and y.ndim == 1:
            task = "classification"
        elif integer_y and y.ndim == 3 and x.ndim == 4 and y.shape[1:] == x.shape[2:]:
            task = "segmentation"
        elif integer_x and integer_y and y.ndim == 2 and x.ndim == 2:
            task = "sequence"
        else:
            task = "regression"

    common = dict(name=path.name, description=f"{path.name}: {len(x):,} samples of {fmt_shape(x.shape[1:])}")
    if task == "sequence":
        if not (integer_x and integer_y) or x.ndim != 2 or y.ndim != 2:
            raise DatasetError(
                f"{path}: a sequence task needs integer token arrays x (n, T) and y (n, T), "
                f"got x {fmt_shape(x.shape)} {x.dtype} and y {fmt_shape(y.shape)} {y.dtype}"
            )
        vocab = max(class_labels(path, "x", x, MAX_VOCAB), class_labels(path, "y", y, MAX_VOCAB))
        return Dataset(x=x.astype(np.int64), y=y.astype(np.int64), task="sequence",
                       input_shape=x.shape[1:], input_dtype="long", target_shape=y.shape[1:],
                       num_classes=vocab, class_names=None, **common)
    xf = np.ascontiguousarray(x, dtype=np.float32)
    if task == "regression":
        if y.ndim > 2:
            raise DatasetError(f"{path}: regression targets y must be (n,) or (n, k), got {fmt_shape(y.shape)}")
        yf = y.reshape(len(y), -1).astype(np.float32)
        return Dataset(x=xf, y=yf, task="regression", input_shape=x.shape[1:], input_dtype="float",
                       target_shape=yf.shape[1:], num_classes=None, class_names=None, **common)
    # classification, or segmentation: a class per pixel
    if task == "segmentation":
        if x.ndim != 4 or y.ndim != 3 or y.shape[1:] != x.shape[2:]:
            raise DatasetError(
                f"{path}: a segmentation task needs images x (n, C, H, W) and masks y (n, H, W) of "
                f"the same height and width, got x {fmt_shape(x.shape)} and y {fmt_shape(y.shape)}"
            )
    elif y.ndim != 1:
        raise DatasetError(f"{path}: class labels y must be one per sample (n,), got {fmt_shape(y.shape)}")
    if not integer_y:
        off = np.argwhere(y != np.round(y))
        if len(off):
            at = tuple(int(i) for i in off[0])
            raise DatasetError(
                f"{path}: y[{', '.join(map(str, at))}] is {y[at].item()!r}, not a whole number; class labels must be "
                "0, 1, 2, ... (or pass task='regression')"
            )
    labels = y.astype(np.int64)
    count = class_labels(path, "y", labels)
    class_names = None
    if names is not None:
        if names.dtype.kind not in "US" or names.ndim != 1:
            raise DatasetError(f"{path}: class_names must be a 1-D array of strings, got {names.dtype} {fmt_shape(names.shape)}")
        if len(names) < count:
            raise DatasetError(f"{path}: class_names has {len(names)} names but y has labels up to {count - 1}; give one name per class")
        count = len(names)
        class_names = [n.decode() if isinstance(n, bytes) else str(n) for n in names.tolist()]
    return Dataset(x=xf, y=labels, task=task, input_shape=x.shape[1:],
                   input_dtype="float", target_shape=y.shape[1:], num_classes=count,
                   class_names=class_names, **common)


NPZ = register_file_kind(FileKind(
    name="npz",
    display_name="NumPy archive",
    description=".npz archives with arrays x and y",
    suffixes=(".npz",),
    loader=load_npz,
    options=(
        Choice("task", "auto", ("auto", "classification", "regression", "sequence", "segmentation"),
               "auto: from the dtypes and shapes of x and y (integer masks y (n, H, W) for "
               "images x (n, C, H, W) are segmentation)"),
    ),
))
