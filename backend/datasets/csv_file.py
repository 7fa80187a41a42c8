"""CSV tables: numeric feature columns and one target column (or several for regression).

The header row is detected (a first row of names above numbers), the separator
guessed, and the target's task inferred: text values or a few whole numbers are
classes, other numbers are a regression target; ``task=`` overrides. Rows are
numbered as in a text editor (the first line is row 1), columns by name where
the file has a header, so an error message points at the exact cell. The kind
is declared at the end (:data:`CSV`).
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np

from layerloom.backend.datasets.base import Dataset, DatasetError
from layerloom.backend.datasets.file_kinds import (
    MAX_CLASSES,
    FileKind,
    check_size,
    register_file_kind,
)
from layerloom.graph.params import Choice, Columns, Text

DELIMITERS = (",", ";", "\t", "|")
MAX_AUTO_CLASSES = 20  # auto: at most this many distinct whole numbers count as classes


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _guess_delimiter(path: Path, first_line: str) -> str:
    if path.suffix.lower() == ".tsv":
        return "\t"
    counts = [(first_line.count(d), d) for d in DELIMITERS]
    best = max(counts)
    return best[1] if best[0] > 0 else ","


def _read_rows(path: Path, delimiter: str | None) -> list[tuple[int, list[str]]]:
    """Non-blank rows as (line number, stripped cells)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DatasetError(
            f"{path}: not UTF-8 text (byte {exc.start} is {exc.object[exc.start]:#04x}); "
            "save the table as UTF-8 CSV"
        ) from None
    except OSError as exc:
        raise DatasetError(f"{path}: cannot be read ({exc.strerror})") from None
    if not text.strip():
        raise DatasetError(f"{path}: the file is empty; a CSV needs rows of comma-separated values")
    first_line = next(line for line in text.splitlines() if line.strip())
    if delimiter is None:
        delimiter = _guess_delimiter(path, first_line)
    reader = csv.reader(text.splitlines(), delimiter=delimiter)
    rows = []
    try:
        for cells in reader:
            if any(c.strip() for c in cells):
                rows.append((reader.line_num, [c.strip() for c in cells]))
    except csv.Error as exc:
        raise DatasetError(f"{path}: row {reader.line_num}: {exc}") from None
    return rows


def _has_header(rows: list[tuple[int, list[str]]]) -> bool:
    first = rows[0][1]
    text = [not _is_number(c) for c in first]
    if not any(text):
        return False
    if all(text):
        return True
    # Some first-row cells are text: a header if a text cell sits above a number.
    if len(rows) > 1:
        second = rows[1][1]
        return any(t and j < len(second) and _is_number(second[j]) for j, t in enumerate(text))
    return False


def _resolve(path: Path, spec: Any, names: list[str], has_header: bool) -> int:
    """Index of the column ``spec`` (a name, an index, or an index as text)."""
    n = len(names)
    if isinstance(spec, str) and spec in names:
        if names.count(spec) > 1:
            raise DatasetError(f"{path}: column name {spec!r} appears {names.count(spec)} times; rename one or use its index")
        return names.index(spec)
    if isinstance(spec, str) and spec.strip().lstrip("-").isdigit():
        spec = int(spec)
    if isinstance(spec, int) and not isinstance(spec, bool):
        if -n <= spec < n:
            return spec % n
        raise DatasetError(
            f"{path}: column index {spec} is out of range: the file has {n} columns (0..{n - 1})"
        )
    listed = ", ".join(names) if has_header else f"indices 0..{n - 1} (the file has no header)"
    raise DatasetError(f"{path}: no column {spec!r}; the columns are {listed}")


def _as_list(value: Any) -> list:
    if isinstance(value, str) and "," in value:
        return [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


def _numbers(path: Path, data: list[tuple[int, list[str]]], col: int, name: str, role: str) -> np.ndarray:
    """Column ``col`` as float64; the first empty, text or non-finite cell is an error."""
    cells = [cells[col] for _, cells in data]
    try:
        values = np.asarray(cells, dtype=np.float64)
        bad = np.flatnonzero(~np.isfinite(values))
    except ValueError:
        bad = [i for i, c in enumerate(cells) if not _is_number(c)]
    if len(bad):
        i = int(bad[0])
        line, cell = data[i][0], cells[i]
        what = "is empty" if cell == "" else f"holds {cell!r}, which is not a finite number"
        if cell == "":
            fix = "fill in the value or remove the row"
        elif role == "target":
            fix = "a regression target needs a number in every row; fix the value, or pass task='classification'"
        else:
            fix = "fix the value, or leave the column out of features"

        raise DatasetError(f"{path}: row {line}, column {name!r} ({role}) {what}; {fix}")
    return values


def load_csv(path: Path, features: Any, target: Any, task: str, header: Any, delimiter: str | None) -> Dataset:
    """Read a CSV table with the options of :data:`CSV`, checked and filled in."""
    rows = _read_rows(path, delimiter)
    has_header = _has_header(rows) if header == "auto" else bool(header)
    width = len(rows[0][1])
    names = rows[0][1] if has_header else [str(i) for i in range(width)]
    data = rows[1:] if has_header else rows
    if not data:
        raise DatasetError(f"{path}: has a header row but no data rows; add rows of values below it")
    for line, cells in data:
        if len(cells) != width:
            basis = "the header has" if has_header else f"row {rows[0][0]} has"
            raise DatasetError(
                f"{path}: row {line} has {len(cells)} values but {basis} {width} columns; "
                "make every row the same length"
            )
    if width < 2:
        raise DatasetError(f"{path}: has a single column; a CSV needs feature columns and a target column")

    targets = [_resolve(path, t, names, has_header) for t in _as_list(width - 1 if target is None else target)]
    if features is None:
        feats = [j for j in range(width) if j not in targets]
    else:
        feats = [_resolve(path, f, names, has_header) for f in _as_list(features)]
    if not feats:
        raise DatasetError(f"{path}: no feature columns are left; name some with features=")
    clash = [names[j] for j in feats if j in targets]
    if clash:
        raise DatasetError(f"{path}: column {clash[0]!r} is both a feature and the target; choose one")
    check_size(path, (len(data), len(feats)))
    x = np.stack([_numbers(path, data, j, names[j], "feature") for j in feats], axis=1)

    common = dict(
        name=path.name, x=np.ascontiguousarray(x, dtype=np.float32), input_shape=(len(feats),),
        input_dtype="float", feature_names=[names[j] for j in feats] if has_header else None,
        description=f"{path.name}: {len(data):,} rows, {len(feats)} feature column(s), "
        f"target {', '.join(repr(names[j]) for j in targets)}",
    )
    if len(targets) > 1 or task == "regression":
        if task == "classification":
            raise DatasetError(f"{path}: classification takes one target column, got {len(targets)}; pass a single target=")
        y = np.stack([_numbers(path, data, j, names[j], "target") for j in targets], axis=1)
        return Dataset(y=y.astype(np.float32), task="regression", target_shape=(len(targets),),
                       num_classes=None, class_names=None, **common)

    col = targets[0]
    cells = [cells[col] for _, cells in data]
    for (line, _), cell in zip(data, cells, strict=True):
        if cell == "":
            raise DatasetError(f"{path}: row {line}, column {names[col]!r} (target) is empty; fill in the value or remove the row")
    numeric = all(_is_number(c) for c in cells)
    if numeric:
        values = _numbers(path, data, col, names[col], "target")
        distinct = np.unique(values)
        whole = bool(np.all(values == np.round(values)))
        if task == "auto" and not (whole and len(distinct) <= min(MAX_AUTO_CLASSES, max(2, len(values) // 2))):
            return Dataset(y=values.reshape(-1, 1).astype(np.float32), task="regression",
                           target_shape=(1,), num_classes=None, class_names=None, **common)
        labels = [f"{v:g}" for v in distinct]
        y = np.searchsorted(distinct, values)
    else:
        labels = sorted(set(cells))
        y = np.searchsorted(np.asarray(labels), np.asarray(cells))
    if len(labels) > MAX_CLASSES:
        raise DatasetError(
            f"{path}: column {names[col]!r} (target) has {len(labels):,} distinct values, more "
            f"than {MAX_CLASSES} classes; if it is a measurement, pass task='regression'"
        )
    return Dataset(y=np.asarray(y, dtype=np.int64), task="classification", target_shape=(),
                   num_classes=len(labels), class_names=labels, **common)


CSV = register_file_kind(FileKind(
    name="csv",
    display_name="CSV table",
    description="CSV tables (.csv, .tsv, .txt)",
    suffixes=(".csv", ".tsv", ".txt"),
    loader=load_csv,
    options=(
        Columns("features", None, "The columns used as inputs: names or 0-based indices",
                unset="all but the target"),
        Columns("target", None, "The column to predict, a name or 0-based index; several "
                "numeric columns make a multi-output regression", unset="last column"),
        Choice("task", "auto", ("auto", "classification", "regression"),
               "auto: text or a few whole-number values are classes, other numbers a regression target"),
        Choice("header", "auto", ("auto", True, False), "Whether the first row holds column names "
               "(auto: when it has names above numbers)"),
        Text("delimiter", None, "The separator character", length=1, unset="guessed from , ; tab |"),
    ),
))
