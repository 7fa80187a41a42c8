"""User data from files: recognise the kind, check the options, hand to its reader.

Kinds: ``csv`` (``.csv``/``.tsv``/``.txt`` tables), ``npz`` (NumPy archives with
arrays ``x`` and ``y``), ``images`` (a folder with one sub-folder of images per
class) and ``idx`` (MNIST-format IDX files, raw or gzipped, or a folder holding
them under the usual names). Nothing in a file is ever executed or unpickled.
Every problem becomes a :class:`DatasetError` that names the file and the row,
column or element at fault.
"""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import numpy as np

from layerloom.backend.datasets.base import DatasetError

# kind -> option -> help. Every reader accepts exactly these keyword options.
FILE_OPTIONS: dict[str, dict[str, str]] = {
    "csv": {
        "features": "columns used as inputs: names or 0-based indices (default: all but the target)",
        "target": "the column to predict, name or index (default: the last column); "
                  "a list of numeric columns makes a multi-output regression",
        "task": "auto, classification or regression (auto: text or few whole-number "
                "values -> classification, else regression)",
        "header": "auto, True or False: whether the first row holds column names",
        "delimiter": "the separator character (default: guessed from , ; tab |)",
    },
    "npz": {
        "task": "auto, classification, regression or sequence (auto: from the dtypes "
                "and shapes of x and y)",
    },
    "images": {
        "size": "(H, W) every image is resized to (default: the first image's size)",
        "mode": "auto, grayscale or rgb (auto: rgb if the first image has colour)",
    },
    "idx": {
        "labels": "the IDX labels file that goes with an images file "
                  "(default: the same name with 'labels'/'idx1' for 'images'/'idx3')",
        "split": "train or test: which files of a folder to load (default train; "
                 "the test files ride along as .test)",
    },
}

# kind -> option -> the values the reader accepts for a choice option, its default
# first: the readers check values against them, the set-up panel offers them as combo boxes.
FILE_CHOICES: dict[str, dict[str, tuple]] = {
    "csv": {"task": ("auto", "classification", "regression"), "header": ("auto", True, False)},
    "npz": {"task": ("auto", "classification", "regression", "sequence")},
    "images": {"mode": ("auto", "grayscale", "rgb")},
    "idx": {"split": ("train", "test")},
}

CSV_SUFFIXES = (".csv", ".tsv", ".txt")
MAX_ELEMENTS = 500_000_000  # about 2 GB of float32: larger is a mistake, not a dataset
MAX_CLASSES = 1000


def file_kind(path: Path) -> str:
    """The kind of user data at ``path`` (``csv``, ``npz``, ``images`` or ``idx``)."""
    if path.is_dir():
        from layerloom.backend.datasets.idx_file import find_idx_pair

        return "idx" if find_idx_pair(path, "train") or find_idx_pair(path, "test") else "images"
    suffix = path.suffix.lower()
    if suffix in CSV_SUFFIXES:
        return "csv"
    if suffix == ".npz":
        return "npz"
    if looks_like_idx(path):
        return "idx"
    raise DatasetError(
        f"{path}: unknown kind of data file (suffix {suffix or 'none'!r}); LayerLoom reads "
        ".csv tables, .npz archives with arrays x and y, MNIST IDX files, and folders of "
        "images with one sub-folder per class"
    )


def open_maybe_gzip(path: Path):
    """A binary file object, transparently un-gzipped when the file starts with gzip magic."""
    with open(path, "rb") as fh:
        magic = fh.read(2)
    return gzip.open(path, "rb") if magic == b"\x1f\x8b" else open(path, "rb")


def looks_like_idx(path: Path) -> bool:
    """True when the first bytes are an IDX header: 0, 0, a known type code, 1..4 dims."""
    try:
        with open_maybe_gzip(path) as fh:
            head = fh.read(4)
    except (OSError, EOFError):
        return False
    return len(head) == 4 and head[0] == 0 and head[1] == 0 and head[2] in (8, 9, 11, 12, 13, 14) and 1 <= head[3] <= 4


def load_file(path: Path, **options: Any):
    """Read user data of any supported kind; see :func:`layerloom.backend.datasets.load_dataset`."""
    kind = file_kind(path)
    allowed = FILE_OPTIONS[kind]
    unknown = [k for k in options if k not in allowed]
    if unknown:
        raise DatasetError(
            f"{path}: {kind} data has no option {unknown[0]!r}; it accepts {', '.join(allowed)}"
        )
    if kind == "csv":
        from layerloom.backend.datasets.csv_file import load_csv as reader
    elif kind == "npz":
        from layerloom.backend.datasets.npz_file import load_npz as reader
    elif kind == "idx":
        from layerloom.backend.datasets.idx_file import load_idx as reader
    else:
        from layerloom.backend.datasets.image_folder import load_image_folder as reader
    return reader(path, **options)


# --------------------------------------------------------------- shared checks


def check_choice(path: Path, option: str, value: Any, choices: tuple) -> Any:
    if value not in choices:
        raise DatasetError(
            f"{path}: option {option} must be one of {', '.join(map(repr, choices))}, got {value!r}"
        )
    return value


def check_size(path: Path, shape: tuple[int, ...]) -> None:
    """Refuse data too large to hold in memory as float32, before allocating it."""
    total = 1
    for s in shape:
        total *= int(s)
    if total > MAX_ELEMENTS:
        raise DatasetError(
            f"{path}: {total:,} values ({'x'.join(map(str, shape))}) is more than LayerLoom "
            f"loads at once ({MAX_ELEMENTS:,}); use a smaller image size or fewer samples"
        )


def first_non_finite(path: Path, name: str, a: np.ndarray) -> None:
    """Raise naming the first NaN or infinite element of float array ``a``."""
    if a.dtype.kind == "f" and not np.isfinite(a).all():
        where = tuple(int(i) for i in np.argwhere(~np.isfinite(a))[0])
        raise DatasetError(
            f"{path}: {name}[{', '.join(map(str, where))}] is {a[where].item()!r}, not a finite number; "
            "replace missing or infinite values before loading"
        )


def class_labels(path: Path, what: str, labels: np.ndarray, limit: int = MAX_CLASSES) -> int:
    """Check integer class labels (0 or more, below ``limit``); return the class count."""
    if labels.size == 0:
        raise DatasetError(f"{path}: {what} holds no labels")
    if labels.min() < 0:
        where = tuple(int(i) for i in np.argwhere(labels < 0)[0])
        raise DatasetError(
            f"{path}: {what}[{', '.join(map(str, where))}] is {int(labels[where])}: labels must "
            "be 0 or more; renumber them from 0"
        )
    count = int(labels.max()) + 1
    if count > limit:
        raise DatasetError(
            f"{path}: {what} has labels up to {count - 1}, more than {limit:,} classes; "
            "if the values are measurements, load them as regression (task='regression')"
        )
    return count
