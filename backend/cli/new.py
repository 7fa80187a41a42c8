"""``layerloom new TEMPLATE -o FILE``: start a graph from a teaching template.

The template file is copied byte for byte, so the new graph carries the template's
dataset and training settings and ``layerloom train FILE`` (or opening it in the app
and pressing Train) works at once. ``layerloom new --list`` lists the templates by
group with their titles.
"""

from __future__ import annotations

from pathlib import Path

from layerloom.backend.cli import CommandError
from layerloom.graph.fileio import describe_write_error, write_atomic


def add_parser(subs, name: str) -> None:
    p = subs.add_parser(
        name, help="create a .loom file from a teaching template (--list shows them)",
        description="Copy a template (an example graph with its dataset and training "
        "settings) to a new file, ready to train or edit.",
    )
    p.add_argument("template", nargs="?", help="template name, as 'layerloom new --list' shows it")
    p.add_argument("-o", "--output", metavar="FILE",
                   help="the file to create (default: TEMPLATE.loom in the current folder; "
                   "a folder puts TEMPLATE.loom in it)")
    p.add_argument("--list", action="store_true", help="list the templates and exit")
    p.add_argument("--force", action="store_true", help="overwrite FILE if it exists")
    p.set_defaults(run=run)


def run(args) -> int:
    from layerloom.backend import templates

    if args.list:
        print_list(templates)
        return 0
    if not args.template:
        raise CommandError("name a template to copy, or use --list to see them")
    try:
        source = templates.template_path(args.template)
    except templates.TemplateError as exc:
        raise CommandError(str(exc)) from None
    target = output_path(args.output, args.template)
    write(target, source.read_bytes(), args.force)
    title = templates.read_meta(args.template).get("title", "")
    print(f"created {target} from template {args.template}" + (f" ({title})" if title else ""))
    return 0


def print_list(templates) -> None:
    """Names and titles under group headings, in gallery order."""
    rows = templates.list_templates()
    width = max((len(t.name) for t in rows), default=0)
    group = None
    for t in rows:
        this = templates.group_of(templates.read_meta(t.name))
        if this != group:
            if group is not None:
                print()
            print(f"{this}:")
            group = this
        print(f"  {t.name.ljust(width)}  {t.title}")


def output_path(output: str | None, name: str) -> Path:
    """Where to write: ``-o`` as given, inside it when it is a folder, else the name."""
    from layerloom.graph import SUFFIX

    if not output:
        return Path(name + SUFFIX)
    path = Path(output).expanduser()
    if path.is_dir():
        return path / (name + SUFFIX)
    return path


def write(target: Path, data: bytes, force: bool) -> None:
    """Write ``data`` to ``target`` atomically, refusing to replace a file unless
    ``force``; errors become one ``error:`` line."""
    if target.exists() and not force:
        raise CommandError(f"{target} already exists; choose another name or add --force")
    folder = target.parent
    if not folder.is_dir():
        raise CommandError(f"cannot create {target}: the folder {folder} does not exist")
    try:
        write_atomic(target, data)
    except OSError as exc:
        raise CommandError(describe_write_error(exc, str(target))) from None
