"""The registry of built-in datasets and the one entry point, :func:`load_dataset`.

Each built-in is declared once with a :class:`DatasetInfo`: its name, what it is,
its task, the shapes it produces and its options as ``layerloom.graph.params.Param`` schemas
(the same kind of schema layers use, so the GUI builds the options form the same
way). The GUI lists and describes built-ins from the registry without generating
any data; :func:`load_dataset` validates the options and then generates.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from layerloom.backend.datasets.base import Dataset, DatasetError
from layerloom.backend.datasets.file_kinds import check_data_path, load_file
from layerloom.graph.errors import ParamError
from layerloom.graph.params import Param

# (options) -> (input_shape, target_shape, num_classes) for the chosen options.
ShapeRule = Callable[[Mapping[str, Any]], tuple[tuple[int, ...], tuple[int, ...], int | None]]
Loader = Callable[..., Dataset]

# Groups the GUI and the command line list built-ins under, in this order.
CATEGORIES = ("2-D toys", "Tables", "Signals and images", "Sequences")


@dataclass(frozen=True)
class DatasetInfo:
    """Declaration of one built-in dataset.

    Parameters
    ----------
    name : str
        Registry name, used in files and on the command line (``"moons"``).
    description : str
        One or two sentences: what the data is and what it teaches.
    task : str
        ``"classification"``, ``"regression"``, ``"sequence"`` or ``"segmentation"``.
    input_shape : tuple of int
        Per-sample input shape with the default options.
    input_dtype : str
        ``"float"`` or ``"long"``.
    num_classes : int or None
        Classes (or vocabulary size) with the default options; ``None`` for regression.
    options : tuple of Param
        Accepted options with defaults, ranges and help; nothing else is accepted.
    target_shape : tuple of int
        Per-sample target shape with the default options.
    loader : callable
        ``loader(**options) -> Dataset`` with every option given and checked.
    shapes : callable, optional
        ``shapes(options) -> (input_shape, target_shape, num_classes)`` where
        options change them (sequence length, number of classes).
    category : str
        One of :data:`CATEGORIES`, for grouping in lists.
    """

    name: str
    description: str
    task: str
    input_shape: tuple[int, ...]
    input_dtype: str
    num_classes: int | None
    options: tuple[Param, ...] = ()
    target_shape: tuple[int, ...] = ()
    loader: Loader | None = None
    shapes: ShapeRule | None = None
    category: str = CATEGORIES[0]

    @property
    def defaults(self) -> dict[str, Any]:
        """Option name -> default value."""
        return {p.name: p.default for p in self.options}

    def check_options(self, options: Mapping[str, Any]) -> dict[str, Any]:
        """Every option in canonical form, defaults filled in.

        Raises
        ------
        DatasetError
            For an unknown option name (listing the accepted ones) or a value
            outside the option's schema (quoting it).
        """
        known = {p.name: p for p in self.options}
        unknown = [k for k in options if k not in known]
        if unknown:
            accepted = ", ".join(known) if known else "no options"
            raise DatasetError(
                f"dataset {self.name!r} has no option {unknown[0]!r}; it accepts {accepted}"
            )
        values = self.defaults
        for key, value in options.items():
            try:
                values[key] = known[key].coerce(value)
            except ParamError as exc:
                raise DatasetError(f"dataset {self.name!r}: {exc}") from None
        return values

    def describe(self, **options: Any) -> DatasetInfo:
        """This info with shapes and classes resolved for ``options``, no data made.

        The GUI uses it to fill in Input and Output nodes as soon as an option
        changes (``describe(length=50)`` of ``copy`` has input shape ``(50,)``).
        """
        values = self.check_options(options)
        if self.shapes is None:
            return self
        input_shape, target_shape, num_classes = self.shapes(values)
        return replace(
            self, input_shape=tuple(input_shape), target_shape=tuple(target_shape),
            num_classes=num_classes,
        )


DATASETS: dict[str, DatasetInfo] = {}


def register(info: DatasetInfo) -> DatasetInfo:
    """Add a built-in; names are unique and lower-case."""
    if info.category not in CATEGORIES:
        raise ValueError(f"dataset {info.name!r}: category must be one of {CATEGORIES}")
    if info.name in DATASETS:
        raise ValueError(f"dataset {info.name!r} is registered twice")
    if info.name != info.name.lower() or not info.name.replace("_", "").isalnum():
        raise ValueError(f"dataset name {info.name!r} must be lower-case letters, digits and _")
    DATASETS[info.name] = info
    return info


def list_datasets() -> list[DatasetInfo]:
    """All built-ins grouped by :data:`CATEGORIES`, in registration order within a group."""
    return sorted(DATASETS.values(), key=lambda info: CATEGORIES.index(info.category))


def load_dataset(name_or_path: str | os.PathLike, **options: Any) -> Dataset:
    """A built-in by name, or user data from a path.

    Parameters
    ----------
    name_or_path : str or path
        A name from :data:`DATASETS` (``"moons"``), or a path to user data of a
        registered kind (:data:`~layerloom.backend.datasets.file_kinds.FILE_KINDS`): a
        ``.csv`` file, an ``.npz`` file with arrays ``x`` and ``y``, a folder of
        images with one sub-folder per class, or MNIST-format IDX files (the
        images file with ``labels=`` the labels file, or a folder holding the
        usual names).
    **options
        The dataset's options; see ``DATASETS[name].options`` for built-ins and
        ``file_kind(path).options`` for files.

    Raises
    ------
    DatasetError
        Unknown name or missing file, an unknown option or bad option value, or
        a file that cannot be used (the message names file and row/column).
    """
    if isinstance(name_or_path, str) and name_or_path in DATASETS:
        info = DATASETS[name_or_path]
        values = info.check_options(options)
        return info.loader(**values)
    path = Path(name_or_path).expanduser()
    check_data_path(path)  # a symlink loop is not "no such file"
    if not path.exists():
        raise DatasetError(
            f"no dataset {str(name_or_path)!r}: it is not a built-in "
            f"({', '.join(info.name for info in list_datasets())}) and there is no file or folder {str(path)!r}; "
            "check the spelling or the path"
        )
    return load_file(path, **options)
