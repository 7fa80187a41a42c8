"""CSV tables: numeric feature columns and one target column (or several for regression).

The header row is detected (a first row of names above numbers), the separator
guessed, and the target's task inferred: text values or a few whole numbers are
classes, other numbers are a regression target; ``task=`` overrides. Rows are
numbered as in a text editor (the first line is row 1; a row whose quoted cell
spans lines is numbered by its first line), columns by name where the file has a
header, so an error message points at the exact cell. The kind is declared at
the end (:data:`CSV`).

The file is parsed with :mod:`csv` (quotes, separators and line breaks inside
quoted cells follow the CSV rules) and streamed: rows are converted in blocks
into growing float32 arrays, never kept as text, so memory stays a small multiple
of the final arrays, checked against the memory budget as they grow. A row longer
than :data:`MAX_ROW_BYTES` or a cell longer than the :mod:`csv` field limit is
refused, naming its row.
"""

from __future__ import annotations

import csv
import re
from array import array
from collections.abc import Iterator
from itertools import chain
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from layerloom.backend.datasets.base import Dataset, DatasetError
from layerloom.backend.datasets.file_kinds import (
    MAX_CLASSES,
    FileKind,
    open_data_file,
    register_file_kind,
    within_budget,
)
from layerloom.graph.params import Choice, Columns, Text

DELIMITERS = (",", ";", "\t", "|")
MAX_AUTO_CLASSES = 20  # auto: at most this many distinct whole numbers count as classes
MAX_ROW_BYTES = 1 << 20  # one row of a table: numbers and short labels, not megabytes
READ_BYTES = 1 << 16
BLOCK_ROWS = 4096  # rows converted to numbers at once
BLOCK_BYTES = 1 << 20  # ... or fewer, when they are long
FLOAT32_MAX = float(np.finfo(np.float32).max)
_NEWLINE = re.compile(rb"\r\n|\r|\n")


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


class _Lines:
    """The lines of a UTF-8 file as text with their line endings, for :mod:`csv`.

    Counts the lines handed out (``number``) and the bytes of the row being read
    (reset by :meth:`new_row`), so a row over :data:`MAX_ROW_BYTES` is refused and
    an error names the row's first line. Memory is bounded by the limit, whatever
    the file holds.
    """

    def __init__(self, path: Path, fh: BinaryIO) -> None:
        self.path = path
        self.number = 0  # lines handed out so far
        self.row_start = 1
        self._row_bytes = 0
        self._held: tuple[str, int] | None = None
        self._raw = self._split(fh)

    def new_row(self) -> None:
        """The next line handed out starts a row."""
        self.row_start, self._row_bytes = self.number + 1, 0

    def first_content(self) -> str | None:
        """The first line that is not blank, held back to be handed out next; the
        blank lines before it are skipped (and counted). ``None``: no such line."""
        while True:
            self.row_start = self.number + 1
            raw = next(self._raw, None)
            if raw is None:
                return None
            text = self._decode(raw, self.number + 1)
            if text.strip():
                self._held = (text, len(raw))
                return text
            self.number += 1

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        if self._held is not None:
            (text, size), self._held = self._held, None
        else:
            raw = next(self._raw)
            text, size = self._decode(raw, self.number + 1), len(raw)
        self.number += 1
        self._row_bytes += size
        if self._row_bytes > MAX_ROW_BYTES:
            self._too_long()
        return text

    def _decode(self, raw: bytes, number: int) -> str:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DatasetError(
                f"{self.path}: line {number} is not UTF-8 text (byte {exc.start + 1} of the line is "
                f"{raw[exc.start]:#04x}); save the table as UTF-8 CSV"
            ) from None
        return text.removeprefix("\ufeff") if number == 1 else text

    def _split(self, fh: BinaryIO) -> Iterator[bytes]:
        """Lines ending in ``\\n``, ``\\r\\n`` or ``\\r``, read in bounded chunks."""
        pending = b""
        while True:
            chunk = fh.read(READ_BYTES)
            data = pending + chunk
            if not chunk:
                if data:
                    yield data
                return
            start = 0
            for match in _NEWLINE.finditer(data):
                if match.end() == len(data) and match.group() == b"\r":
                    break  # the "\n" of a "\r\n" may start the next chunk
                yield data[start:match.end()]
                start = match.end()
            pending = data[start:]
            if len(pending) > MAX_ROW_BYTES:
                self._too_long()

    def _too_long(self) -> None:
        raise DatasetError(
            f"{self.path}: row {self.row_start} is longer than {MAX_ROW_BYTES:,} bytes (the "
            "limit for one row); a CSV table holds one row of numbers or short labels per "
            "line: check that this is a CSV table and that every quote is closed"
        )


def _rows(path: Path, lines: _Lines, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    """Non-blank rows as (number of the row's first line, stripped cells)."""
    reader = csv.reader(lines, delimiter=delimiter)
    while True:
        lines.new_row()
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            if "field larger than field limit" in str(exc):
                raise DatasetError(
                    f"{path}: row {lines.row_start} holds a cell longer than "
                    f"{csv.field_size_limit():,} characters (the limit for one cell); check "
                    "that every quote in the row is closed"
                ) from None
            raise DatasetError(f"{path}: row {lines.row_start}: {exc}") from None
        stripped = [c.strip() for c in cells]
        if any(stripped):
            yield lines.row_start, stripped


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


def _bad_cell(path: Path, line: int, name: str, role: str, cell: str, reason: str = "") -> None:
    """Raise for the cell of row ``line``, column ``name``, that is not a usable number."""
    if cell == "":
        what, fix = "is empty", "fill in the value or remove the row"
    else:
        broken = " (a quoted cell with a line break)" if "\n" in cell or "\r" in cell else ""
        what = f"holds {cell!r}{broken}, which is {reason or 'not a finite number'}"
        if role == "target":
            fix = "a regression target needs a number in every row; fix the value, or pass task='classification'"
        else:
            fix = "fix the value, or leave the column out of features"
    raise DatasetError(f"{path}: row {line}, column {name!r} ({role}) {what}; {fix}")


class _Table:
    """The numbers of the chosen columns, converted a block of rows at a time.

    Features go to a growing float32 array; a single target of an ``auto`` or
    ``classification`` task keeps its value (NaN for text) and, while it has at most
    :data:`MAX_CLASSES` distinct texts, their codes, so that text classes need no
    second pass over the file.
    """

    def __init__(self, path: Path, names: list[str], feats: list[int], targets: list[int],
                 task: str) -> None:
        self.path, self.names, self.feats, self.targets = path, names, feats, targets
        self.numeric_target = len(targets) > 1 or task == "regression"
        self.x = array("f")
        self.t = array("d")  # target values, row-major
        self.codes = array("l")  # a class target's codes in self.labels
        self.labels: dict[str, int] | None = None if self.numeric_target else {}
        self.first_text: tuple[int, str] | None = None  # a class target's first text cell
        self.first_bad: tuple[int, str] | None = None  # ... and its first non-finite number
        self.first_huge: tuple[int, str] | None = None  # ... and the first beyond float32
        self.rows = 0
        self.block: list[tuple[int, list[str]]] = []
        self.block_rows = max(1, min(BLOCK_ROWS, BLOCK_BYTES // (8 * len(names))))
        # memory per row: float32 features, float64 targets, codes, the final y
        self.row_bytes = 4 * len(feats) + 16 * len(targets) + 8

    def add(self, line: int, cells: list[str]) -> None:
        self.block.append((line, cells))
        if len(self.block) >= self.block_rows:
            self.flush()

    def flush(self) -> None:
        """Convert the rows of the block and append them to the arrays."""
        if not self.block:
            return
        block, self.block = self.block, []
        lines = [line for line, _ in block]
        within_budget(self.path, (self.rows + len(block)) * self.row_bytes,
                      f"the table as read so far ({self.rows + len(block):,} rows to line {lines[-1]:,}, "
                      f"{len(self.feats)} feature and {len(self.targets)} target columns)")
        x = self._numbers(lines, [[cells[j] for j in self.feats] for _, cells in block], self.feats,
                          "feature")
        self.x.frombytes(x.astype(np.float32).tobytes())
        if self.numeric_target:
            t = self._numbers(lines, [[cells[j] for j in self.targets] for _, cells in block],
                              self.targets, "target")
        else:
            t = self._class_target(lines, [cells[self.targets[0]] for _, cells in block])
        self.t.frombytes(t.tobytes())
        self.rows += len(block)

    def _numbers(self, lines: list[int], cells: list[list[str]], cols: list[int], role: str) -> np.ndarray:
        """The cells of the block's columns ``cols`` as float64; a cell that is empty,
        text, not finite or beyond float32 is an error naming its row and column."""
        try:
            values = np.array(cells, dtype=np.float64)
        except ValueError:
            for line, row in zip(lines, cells, strict=True):
                for j, cell in zip(cols, row, strict=True):
                    if not _is_number(cell):
                        _bad_cell(self.path, line, self.names[j], role, cell)
            values = np.array([[float(c) for c in row] for row in cells], dtype=np.float64)
        with np.errstate(invalid="ignore"):
            bad = ~np.isfinite(values) | (np.abs(values) > FLOAT32_MAX)
        if bad.any():
            i, k = (int(v) for v in np.argwhere(bad)[0])
            reason = "" if not np.isfinite(values[i, k]) else "beyond the float32 range (±3.4e38)"
            _bad_cell(self.path, lines[i], self.names[cols[k]], role, cells[i][k], reason)
        return values

    def _class_target(self, lines: list[int], cells: list[str]) -> np.ndarray:
        """The block's single target: its numbers (NaN for text), its codes noted."""
        col = self.names[self.targets[0]]
        if "" in cells:
            line = lines[cells.index("")]
            raise DatasetError(f"{self.path}: row {line}, column {col!r} (target) is empty; fill in "
                               "the value or remove the row")
        try:
            values = np.array(cells, dtype=np.float64)
        except ValueError:
            values = np.full(len(cells), np.nan)
            for i, cell in enumerate(cells):
                if _is_number(cell):
                    values[i] = float(cell)
                elif self.first_text is None:
                    self.first_text = (lines[i], cell)
        with np.errstate(invalid="ignore"):
            if self.first_bad is None:
                for i in np.flatnonzero(~np.isfinite(values)):
                    if _is_number(cells[i]):
                        self.first_bad = (lines[i], cells[i])
                        break
            if self.first_huge is None:
                huge = np.flatnonzero(np.abs(values) > FLOAT32_MAX)
                if len(huge):
                    self.first_huge = (lines[huge[0]], cells[huge[0]])
        if self.labels is not None:
            labels = self.labels
            self.codes.extend(labels.setdefault(cell, len(labels)) for cell in cells)
            if len(labels) > MAX_CLASSES:
                self.labels, self.codes = None, array("l")  # too many to be classes
        return values

    def features(self) -> np.ndarray:
        self.flush()
        return np.frombuffer(self.x, dtype=np.float32).reshape(self.rows, len(self.feats))

    def target_values(self) -> np.ndarray:
        return np.frombuffer(self.t, dtype=np.float64).reshape(self.rows, -1)


def _too_many_classes(path: Path, col: str, count: str) -> None:
    raise DatasetError(
        f"{path}: column {col!r} (target) has {count} distinct values, more "
        f"than {MAX_CLASSES} classes; if it is a measurement, pass task='regression'"
    )


def _first_rows(path: Path, lines: _Lines, delimiter: str | None) -> tuple[Iterator, list]:
    """The row iterator and its first (up to) two rows, which tell whether a header
    is there; the separator is guessed from the first line that is not blank."""
    first_line = lines.first_content()
    if first_line is None:
        raise DatasetError(f"{path}: the file is empty; a CSV needs rows of comma-separated values")
    rows = _rows(path, lines, delimiter or _guess_delimiter(path, first_line))
    head = [row for _, row in zip(range(2), rows, strict=False)]
    if not head:
        raise DatasetError(f"{path}: the file is empty; a CSV needs rows of comma-separated values")
    return rows, head


def load_csv(path: Path, features: Any, target: Any, task: str, header: Any, delimiter: str | None) -> Dataset:
    """Read a CSV table with the options of :data:`CSV`, checked and filled in."""
    with open_data_file(path) as fh:
        rows, head = _first_rows(path, _Lines(path, fh), delimiter)
        has_header = _has_header(head) if header == "auto" else bool(header)
        first_line, first = head[0]
        width = len(first)
        names = first if has_header else [str(i) for i in range(width)]
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
        if len(targets) > 1 and task == "classification":
            raise DatasetError(f"{path}: classification takes one target column, got {len(targets)}; pass a single target=")

        table = _Table(path, names, feats, targets, task)
        basis = "the header has" if has_header else f"row {first_line} has"
        for line, cells in chain(head[1:] if has_header else head, rows):
            if len(cells) != width:
                raise DatasetError(
                    f"{path}: row {line} has {len(cells)} values but {basis} {width} columns; "
                    "make every row the same length"
                )
            table.add(line, cells)
        x = table.features()
    if table.rows == 0:
        raise DatasetError(f"{path}: has a header row but no data rows; add rows of values below it")
    return _dataset(path, table, x, task, has_header)


def _dataset(path: Path, table: _Table, x: np.ndarray, task: str, has_header: bool) -> Dataset:
    """The dataset of a table read whole: the target's task and classes decided."""
    names, feats, targets = table.names, table.feats, table.targets
    common = dict(
        name=path.name, x=x, input_shape=(len(feats),),
        input_dtype="float", feature_names=[names[j] for j in feats] if has_header else None,
        description=f"{path.name}: {table.rows:,} rows, {len(feats)} feature column(s), "
        f"target {', '.join(repr(names[j]) for j in targets)}",
    )
    values = table.target_values()
    if table.numeric_target:
        return Dataset(y=values.astype(np.float32), task="regression", target_shape=(len(targets),),
                       num_classes=None, class_names=None, **common)

    col = names[targets[0]]
    if table.first_text is None:  # every value is a number
        if table.first_bad is not None:
            line, cell = table.first_bad
            _bad_cell(path, line, col, "target", cell)
        values = values[:, 0]
        distinct = np.unique(values)
        whole = bool(np.all(values == np.round(values)))
        if task == "auto" and not (whole and len(distinct) <= min(MAX_AUTO_CLASSES, max(2, len(values) // 2))):
            if table.first_huge is not None:
                line, cell = table.first_huge
                _bad_cell(path, line, col, "target", cell, "beyond the float32 range (±3.4e38)")
            return Dataset(y=values.reshape(-1, 1).astype(np.float32), task="regression",
                           target_shape=(1,), num_classes=None, class_names=None, **common)
        labels = [f"{v:g}" for v in distinct]
        y = np.searchsorted(distinct, values)
    elif table.labels is None:  # text, and more distinct values than classes
        _too_many_classes(path, col, f"more than {MAX_CLASSES:,}")
    else:
        labels = sorted(table.labels)
        rank = {label: i for i, label in enumerate(labels)}
        order = np.array([rank[label] for label in table.labels], dtype=np.int64)  # code -> class
        y = order[np.frombuffer(table.codes, dtype=f"i{table.codes.itemsize}")]
    if len(labels) > MAX_CLASSES:
        _too_many_classes(path, col, f"{len(labels):,}")
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
