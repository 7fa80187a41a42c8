"""User data from files: the registry of file kinds and the checks readers share.

Each kind of data file is declared once, with its reader, as a :class:`FileKind`:
its name, how people call it, the name endings of its files, how to recognise one
(``sniff``), its options as ``layerloom.graph.params.Param`` schemas (the same kind of schema
layers and built-in datasets use) and its loader. Everything else reads that
declaration: :func:`file_kind` recognises a path, :func:`load_file` checks the
options and calls the loader, the set-up panel builds the options form from the
``Param``s, and the command line lists and loads the kinds.

The readers (``csv_file``, ``npz_file``, ``idx_file``, ``image_folder``) import this
module and register their kind; it imports none of them, so there is no cycle.
Nothing in a file is ever executed or unpickled. Every problem becomes a
:class:`DatasetError` that names the file and the row, column or element at fault.

Readers open only regular files (:func:`open_data_file`: a FIFO, a device or a
symlink loop is refused, never waited on or read without end), and check the sizes a
file declares against the memory budget before they allocate (:func:`within_budget`,
``$LAYERLOOM_MEMORY_BUDGET``), so a small file that inflates or declares a huge
array is refused with a message saying how much it would need.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from layerloom.backend.datasets.base import Dataset, DatasetError
from layerloom.graph.errors import ParamError
from layerloom.graph.fileio import OverBudget, ReadRefused, check_budget, kind_of, open_regular_file
from layerloom.graph.params import Param

MAX_ELEMENTS = 500_000_000  # about 2 GB of float32: larger is a mistake, not a dataset
MAX_CLASSES = 1000

FileLoader = Callable[..., Dataset]


@dataclass(frozen=True)
class FileKind:
    """Declaration of one kind of user data file.

    Parameters
    ----------
    name : str
        Registry name, lower-case (``"csv"``); messages name the kind by it
        (``csv data has no option 'size'``).
    display_name : str
        What the set-up panel calls a file of this kind (``"CSV table"``).
    description : str
        What LayerLoom reads, for lists and for the message about a file of no
        known kind (``".csv tables with a target column"``).
    suffixes : tuple of str
        Name endings of files of this kind (``".csv"``, ``"-ubyte"``): the Open
        Data dialog offers them, and without ``sniff`` a file ending in one is of
        this kind. Empty for a kind that is a folder.
    loader : callable
        ``loader(path, **options) -> Dataset`` with every option given, checked
        against ``options`` and in canonical form (see :meth:`check_options`).
    options : tuple of Param
        Accepted options with defaults and help; nothing else is accepted.
    sniff : callable, optional
        ``sniff(path) -> bool``: whether ``path`` (a file or a folder that exists)
        is of this kind, for kinds a suffix cannot tell (IDX files, folders).
    applies : callable, optional
        ``applies(path) -> names`` of the options that apply to this ``path``
        (a folder of IDX files takes ``split``, one IDX file its ``labels``);
        by default all do. The form shows only these; giving another is refused.
    fallback : bool
        Tried after every other kind: what a folder no other kind claims is
        taken for (an image folder), so that its reader explains what is wrong.
    """

    name: str
    display_name: str
    description: str
    suffixes: tuple[str, ...]
    loader: FileLoader
    options: tuple[Param, ...] = ()
    sniff: Callable[[Path], bool] | None = None
    applies: Callable[[Path], Collection[str]] | None = None
    fallback: bool = False

    @property
    def defaults(self) -> dict[str, Any]:
        """Option name -> default value."""
        return {p.name: p.default for p in self.options}

    def matches(self, path: Path) -> bool:
        """Whether ``path`` is of this kind: ``sniff``, else a file with one of the suffixes."""
        if self.sniff is not None:
            return bool(self.sniff(path))
        return path.is_file() and path.name.lower().endswith(tuple(s.lower() for s in self.suffixes))

    def options_for(self, path: Path) -> tuple[Param, ...]:
        """The options that apply to ``path``, in declaration order."""
        if self.applies is None:
            return self.options
        names = set(self.applies(path))
        return tuple(p for p in self.options if p.name in names)

    def check_options(self, path: Path, options: Mapping[str, Any]) -> dict[str, Any]:
        """Every option in canonical form, defaults filled in.

        Raises
        ------
        DatasetError
            For an option the kind does not have (listing the ones it has), one
            that does not apply to this ``path``, or a value outside the option's
            schema (quoting it); the message names the file.
        """
        known = {p.name: p for p in self.options}
        unknown = [k for k in options if k not in known]
        if unknown:
            accepted = ", ".join(known) if known else "no options"
            raise DatasetError(f"{path}: {self.name} data has no option {unknown[0]!r}; it accepts {accepted}")
        here = [p.name for p in self.options_for(path)]
        elsewhere = [k for k in options if k not in here]
        if elsewhere:
            what = "folder" if path.is_dir() else "single file"
            raise DatasetError(
                f"{path}: option {elsewhere[0]!r} is not for a {what} of {self.display_name}; "
                f"here it takes {', '.join(here) or 'no options'}"
            )
        values = self.defaults
        for key, value in options.items():
            try:
                values[key] = known[key].coerce(value)
            except ParamError as exc:
                raise DatasetError(f"{path}: {exc}") from None
        return values


FILE_KINDS: dict[str, FileKind] = {}


def register_file_kind(kind: FileKind) -> FileKind:
    """Add a kind of data file; names are unique and lower-case.

    Kinds are recognised in registration order, fallbacks last; a reader module
    calls this when it is imported (``layerloom.backend.datasets`` imports them all).
    """
    if kind.name in FILE_KINDS:
        raise ValueError(f"file kind {kind.name!r} is registered twice")
    if kind.name != kind.name.lower() or not kind.name.replace("_", "").isalnum():
        raise ValueError(f"file kind name {kind.name!r} must be lower-case letters, digits and _")
    if not kind.suffixes and kind.sniff is None:
        raise ValueError(f"file kind {kind.name!r} needs suffixes or a sniff function to be recognised")
    names = [p.name for p in kind.options]
    if len(set(names)) != len(names):
        raise ValueError(f"file kind {kind.name!r} declares an option twice: {names}")
    FILE_KINDS[kind.name] = kind
    return kind


def list_file_kinds() -> list[FileKind]:
    """Every kind in the order paths are tried: as registered, fallbacks last."""
    return sorted(FILE_KINDS.values(), key=lambda kind: kind.fallback)


def file_kind(path: str | os.PathLike) -> FileKind:
    """The kind of the user data at ``path`` (a file or folder that exists).

    Raises
    ------
    DatasetError
        When no kind recognises it; the message lists what LayerLoom reads.
    """
    path = Path(path)
    check_data_path(path)
    for kind in list_file_kinds():
        if kind.matches(path):
            return kind
    suffix = path.suffix.lower()
    known = [kind.description for kind in list_file_kinds()]
    listed = ", ".join(known[:-1]) + f" and {known[-1]}" if len(known) > 1 else "".join(known)
    raise DatasetError(
        f"{path}: unknown kind of data file (suffix {suffix or 'none'!r}); LayerLoom reads {listed}"
    )


def load_file(path: str | os.PathLike, **options: Any) -> Dataset:
    """Read user data of any registered kind; see :func:`layerloom.backend.datasets.load_dataset`."""
    path = Path(path)
    kind = file_kind(path)
    return kind.loader(path, **kind.check_options(path, options))


# --------------------------------------------------------------- shared checks

LOOP_FIX = "point the link at the data itself"
SPECIAL_FIX = ("LayerLoom reads data from regular files and folders only (reading a pipe or a "
               "device could wait or run without end); copy the data into a file")


def check_data_path(path: Path) -> None:
    """Refuse a path that is neither a regular file nor a folder, naming what it is.

    A symlink loop, a named pipe, a device or a socket is refused here, before any
    kind tries to recognise it (which would call it an unknown kind). A path that
    does not exist passes: the caller says it is missing.
    """
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise DatasetError(f"{path}: a symbolic link loop (the link leads back to itself); "
                               f"{LOOP_FIX}") from None
        return
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        raise DatasetError(f"{path}: is {kind_of(mode)}, not a regular file; {SPECIAL_FIX}")


def open_data_file(path: Path) -> BinaryIO:
    """``path`` opened for binary reading, if it is a regular file.

    Opened without blocking and checked on the open descriptor
    (:func:`layerloom.graph.fileio.open_regular_file`); the reader bounds what it
    reads. Every failure is a :class:`DatasetError` naming the file.
    """
    try:
        return open_regular_file(path)
    except FileNotFoundError:
        raise DatasetError(f"{path}: no such file; check the path") from None
    except IsADirectoryError:
        raise DatasetError(f"{path}: is a folder, not a data file; give the file inside it") from None
    except ReadRefused as exc:
        raise DatasetError(f"{path}: {exc.strerror}; {SPECIAL_FIX}") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise DatasetError(f"{path}: a symbolic link loop (the link leads back to itself); "
                               f"{LOOP_FIX}") from None
        raise DatasetError(f"{path}: cannot be read ({exc.strerror or exc})") from None


def within_budget(path: Path, needed: int, what: str) -> None:
    """Refuse ``what`` of ``path`` when it needs more than the memory budget.

    Readers call this with the size a file declares (an array's shape, a zip
    member's length) before they allocate it.

    Raises
    ------
    DatasetError
        Naming the file, what was refused, how much memory it needs and the budget.
    """
    try:
        check_budget(needed, what)
    except OverBudget as exc:
        raise DatasetError(f"{path}: {exc}") from None



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
