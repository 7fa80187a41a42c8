"""NumPy ``.npz`` archives holding arrays ``x`` (inputs) and ``y`` (targets).

Read with ``allow_pickle=False``: an object array would be unpickled, which can run
code, so it is refused with a message saying how to save the data instead. The
task follows from the arrays unless ``task=`` says otherwise:

- ``y`` integer, one value per sample -> classification (classes ``0..max(y)``);
- ``y`` float -> regression, ``(n,)`` read as ``(n, 1)``;
- ``x`` and ``y`` integer, ``y`` of shape ``(n, T)`` -> sequence (token ids).

An optional string array ``class_names`` names the classes. The kind is declared
at the end (:data:`NPZ`).
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from layerloom.backend.datasets.base import Dataset, DatasetError
from layerloom.backend.datasets.file_kinds import (
    FileKind,
    class_labels,
    first_non_finite,
    register_file_kind,
)
from layerloom.graph.params import Choice
from layerloom.graph.tensor import fmt_shape

NUMERIC_KINDS = "biuf"  # bool, signed, unsigned, float
MAX_VOCAB = 100_000


def _array(path: Path, npz, key: str) -> np.ndarray:
    try:
        a = npz[key]
    except ValueError:
        raise DatasetError(
            f"{path}: array {key!r} holds Python objects (dtype object), which LayerLoom "
            "does not load because reading them could run code; save it with a numeric "
            f"dtype, e.g. np.savez(file, {key}=np.asarray({key}, dtype='float32'))"
        ) from None
    except (OSError, zipfile.BadZipFile, EOFError) as exc:
        raise DatasetError(f"{path}: array {key!r} cannot be read ({exc}); the file is damaged") from None
    return a


def load_npz(path: Path, task: str) -> Dataset:
    """Read ``x`` and ``y`` from an ``.npz`` archive (``allow_pickle=False``)."""
    try:
        npz = np.load(path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise DatasetError(
            f"{path}: not a readable .npz archive ({exc}); save it with np.savez(path, x=..., y=...)"
        ) from None
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise DatasetError(f"{path}: holds a single array, not an archive; save it with np.savez(path, x=..., y=...)")
    with npz:
        missing = [k for k in ("x", "y") if k not in npz.files]
        if missing:
            found = ", ".join(repr(k) for k in npz.files) or "none"
            raise DatasetError(
                f"{path}: no array {missing[0]!r} (arrays found: {found}); save the inputs as x "
                "and the targets as y: np.savez(path, x=inputs, y=targets)"
            )
        x, y = _array(path, npz, "x"), _array(path, npz, "y")
        names = _array(path, npz, "class_names") if "class_names" in npz.files else None

    for key, a in (("x", x), ("y", y)):
        if a.dtype.kind not in NUMERIC_KINDS:
            raise DatasetError(f"{path}: array {key!r} has dtype {a.dtype}, not numbers; store numbers (float or int)")
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
    # classification
    if y.ndim != 1:
        raise DatasetError(f"{path}: class labels y must be one per sample (n,), got {fmt_shape(y.shape)}")
    if not integer_y:
        off = np.flatnonzero(y != np.round(y))
        if len(off):
            raise DatasetError(
                f"{path}: y[{off[0]}] is {y[off[0]].item()!r}, not a whole number; class labels must be "
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
    return Dataset(x=xf, y=labels, task="classification", input_shape=x.shape[1:],
                   input_dtype="float", target_shape=(), num_classes=count,
                   class_names=class_names, **common)


NPZ = register_file_kind(FileKind(
    name="npz",
    display_name="NumPy archive",
    description=".npz archives with arrays x and y",
    suffixes=(".npz",),
    loader=load_npz,
    options=(
        Choice("task", "auto", ("auto", "classification", "regression", "sequence"),
               "auto: from the dtypes and shapes of x and y"),
    ),
))
