"""``layerloom datasets [NAME|PATH]``: list the built-in datasets, or show one.

Without an argument, a table of every built-in (name, task, input shape, dtype,
classes, description), made from the registry without generating any data, and
one of the kinds of data file LayerLoom reads, from theirs. With a built-in's
name, its description and options; with ``--preview N`` also its first rows. With
a path to user data, the file is read with ``-o KEY=VALUE`` options and
summarised, with the options of its kind, which checks a CSV or image folder
before training on it.
"""

from __future__ import annotations

import json
from pathlib import Path

from layerloom.backend.cli import CommandError
from layerloom.backend.datasets import (
    DATASETS,
    DatasetError,
    file_kind,
    list_datasets,
    list_file_kinds,
    load_dataset,
)
from layerloom.graph.params import Param
from layerloom.graph.tensor import fmt_shape

DESCRIPTION_WIDTH = 70


def add_parser(subs, name: str) -> None:
    p = subs.add_parser(
        name, help="list the built-in datasets, or describe one (or a data file)",
        description="Without NAME, list the built-in datasets and the kinds of data file. "
        "With a built-in NAME, show its options; with a PATH to a data file or folder "
        "(.csv, .npz, IDX files, a folder of images, ...), read it and show what LayerLoom "
        "makes of it and the options of its kind.",
    )
    p.add_argument("name", nargs="?", metavar="NAME|PATH", help="a built-in dataset or a data file")
    p.add_argument(
        "-o", "--option", action="append", default=[], metavar="KEY=VALUE",
        help="a dataset option, e.g. -o n_samples=200 -o target=species (repeatable); "
        "values are read as JSON where they parse (numbers, true, [28, 28]), else as text",
    )
    p.add_argument("--preview", type=int, default=0, metavar="N", help="also print the first N samples")
    p.set_defaults(run=run)


def _short(text: str, width: int = DESCRIPTION_WIDTH) -> str:
    return text if len(text) <= width else text[: width - 1].rstrip() + "…"


def _aligned(rows: list[tuple[str, ...]]) -> list[str]:
    """Rows as lines of aligned columns, the first row a header underlined."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for i, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    return lines


def table() -> str:
    """The list of built-ins, one row each, then the kinds of data file."""
    rows = [("name", "task", "input shape", "dtype", "classes", "description")]
    for info in list_datasets():
        classes = "-" if info.num_classes is None else str(info.num_classes)
        rows.append((info.name, info.task, fmt_shape(info.input_shape), info.input_dtype,
                     classes, _short(info.description)))
    kinds = [("kind", "reads", "options")] + [
        (kind.name, kind.description, ", ".join(p.name for p in kind.options) or "none")
        for kind in list_file_kinds()
    ]
    return "\n".join([*_aligned(rows), "", "Your own data: give its PATH, options as -o KEY=VALUE",
                      *_aligned(kinds)])


def parse_options(items: list[str]) -> dict:
    """``["n_samples=200", "size=[28, 28]"]`` -> ``{"n_samples": 200, "size": [28, 28]}``."""
    options = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise CommandError(f"option {item!r} is not KEY=VALUE; write e.g. -o n_samples=200")
        try:
            value = json.loads(text)
        except ValueError:
            value = text
        options[key.strip()] = value
    return options


def describe(name: str) -> str:
    """Description and options of one built-in."""
    info = DATASETS[name]
    classes = "-" if info.num_classes is None else str(info.num_classes)
    lines = [
        f"{info.name} ({info.category}): {info.description}",
        f"task {info.task}, input {fmt_shape(info.input_shape)} {info.input_dtype}, "
        f"target {fmt_shape(info.target_shape)}, classes {classes} (with default options)",
    ]
    return "\n".join(lines + options_text(info.options))


def describe_file(path: str) -> str:
    """The kind of the data at ``path`` and the options that apply to it."""
    kind = file_kind(Path(path))
    return "\n".join([f"{kind.display_name} ({kind.name}): {kind.description}",
                      *options_text(kind.options_for(Path(path)))])


def options_text(params: tuple[Param, ...]) -> list[str]:
    """``options:`` and one aligned line per option: name=default, what it takes, help."""
    if not params:
        return ["options: none"]
    lines = ["options:"]
    width = max(len(_with_default(p)) for p in params)
    for p in params:
        if p.choices:
            allowed = " | ".join(_json(c) for c in p.choices)
        elif p.minimum is not None or p.maximum is not None:
            allowed = f"{_num(p.minimum)}..{_num(p.maximum)}"
        else:
            allowed = p.kind
        unset = f" (unset: {p.unset})" if p.optional and p.unset else ""
        lines.append(f"  {_with_default(p):<{width}}  {allowed:<16}  {p.help}{unset}")
    return lines


def _with_default(p: Param) -> str:
    return p.name if p.optional else f"{p.name}={_json(p.default)}"


def _json(value) -> str:
    """A value as typed after ``-o KEY=``: ``true`` for True, text as is."""
    if isinstance(value, str):
        return value
    return json.dumps(list(value) if isinstance(value, tuple) else value)


def _num(x) -> str:
    if x is None:
        return ""
    return f"{int(x):,}" if float(x).is_integer() else str(x)


def preview_text(dataset, n: int) -> str:
    data = dataset.preview(n)
    rows = [list(map(str, data["columns"]))] + [[str(v) for v in row] for row in data["rows"]]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows)


def run(args) -> int:
    options = parse_options(args.option)
    if args.name is None:
        if options or args.preview:
            raise CommandError("options and --preview need a dataset NAME or PATH")
        print(table())
        return 0
    if args.name in DATASETS:
        print(describe(args.name))
        if not (options or args.preview):
            return 0
    try:
        dataset = load_dataset(args.name, **options)
    except DatasetError as exc:
        raise CommandError(str(exc)) from None
    print(dataset.summary())
    if dataset.class_names:
        print("classes: " + ", ".join(dataset.class_names[:20]) + (" ..." if len(dataset.class_names) > 20 else ""))
    if dataset.test is not None:
        print(f"test split: {len(dataset.test):,} samples")
    if args.name not in DATASETS:
        print(describe_file(args.name))
    if args.preview > 0:
        print(preview_text(dataset, args.preview))
    return 0
