"""A kind of data file declared the way a reader module declares one, for tests.

``.numbers`` files hold one sample per line: numbers separated by spaces, the last
one the sample's class (or, with ``task="regression"``, its target). The module
only declares the kind; :func:`numbers_kind` registers it for one test and takes
it out again, so that the rest of the suite sees the built-in kinds only.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from layerloom.backend.datasets import FILE_KINDS, Dataset, DatasetError, FileKind
from layerloom.backend.datasets.file_kinds import register_file_kind
from layerloom.graph.params import Choice, Float


def load_numbers(path: Path, scale: float, task: str) -> Dataset:
    """Read a ``.numbers`` file with the options of :data:`NUMBERS`."""
    rows = [line.split() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    try:
        values = np.asarray(rows, dtype=np.float64)
    except ValueError:
        raise DatasetError(f"{path}: every line must hold the same count of numbers") from None
    x = np.ascontiguousarray(values[:, :-1] * scale, dtype=np.float32)
    common = dict(name=path.name, x=x, input_shape=x.shape[1:], input_dtype="float",
                  description=f"{path.name}: {len(x)} lines of {x.shape[1]} numbers")
    if task == "regression":
        return Dataset(y=values[:, -1:].astype(np.float32), task="regression", target_shape=(1,),
                       num_classes=None, class_names=None, **common)
    y = values[:, -1].astype(np.int64)
    count = int(y.max()) + 1
    return Dataset(y=y, task="classification", target_shape=(), num_classes=count,
                   class_names=[str(i) for i in range(count)], **common)


NUMBERS = FileKind(
    name="numbers",
    display_name="number list",
    description="number lists (.numbers)",
    suffixes=(".numbers",),
    loader=load_numbers,
    options=(
        Float("scale", 1.0, "Every input is multiplied by this", minimum=0.01, maximum=100.0),
        Choice("task", "classification", ("classification", "regression"), "What the last number is"),
    ),
)


@contextmanager
def numbers_kind() -> Iterator[FileKind]:
    """:data:`NUMBERS` registered for the duration of the ``with`` block."""
    register_file_kind(NUMBERS)
    try:
        yield NUMBERS
    finally:
        del FILE_KINDS[NUMBERS.name]


def write_numbers(path: Path, n: int = 40) -> Path:
    """Two inputs and a class per line: class 1 where the inputs add up to more than 1."""
    rng = np.random.default_rng(0)
    points = rng.uniform(0, 1, size=(n, 2))
    path.write_text("".join(f"{a:.4f} {b:.4f} {int(a + b > 1)}\n" for a, b in points), encoding="utf-8")
    return path
