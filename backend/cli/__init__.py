"""The headless command line: ``layerloom validate|export|train|datasets|...``.

Nothing here imports Qt, so every sub-command runs on a server without a display.
Each sub-command lives in its own module with ``add_parser(subparsers)`` and
``run(args) -> int``. Bad input ends in one ``error:`` line on stderr and a non-zero
exit, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# Sub-command name -> module under backend.cli, in the order `--help` lists them.
COMMANDS = {
    "validate": "validate",
    "datasets": "datasets",
    "train": "train",
    "runs": "runs",
    "lr-find": "lr_find",
    "sweep": "sweep",
    "export": "export",
    "sample": "sample",
    "plot": "plot",
    "new": "new",
    "import": "import_cmd",
    "layers": "layers",
    "help": "help_cmd",
    "blocks": "blocks",
    "install-desktop": "desktop",
}

EXIT_INVALID = 1  # the graph has errors
EXIT_UNREADABLE = 2  # the input cannot be read / bad usage


class CommandError(Exception):
    """A user-facing failure: printed as ``error: <message>``; ``code`` is the exit."""

    def __init__(self, message: str, code: int = EXIT_UNREADABLE):
        super().__init__(message)
        self.code = code


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2, as argparse does, without usage spam
        self.exit(EXIT_UNREADABLE, f"error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="layerloom",
        description="LayerLoom: build, train and export neural networks. "
        "Without a sub-command, opens the desktop app (optionally on FILE; "
        "--reset-layout first puts its panels back as they were at the first start).",
    )
    parser.add_argument("--version", action="version", version=f"LayerLoom {version()}",
                        help="print LayerLoom's version and exit")
    subs = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, module in COMMANDS.items():
        importlib.import_module(f"{__name__}.{module}").add_parser(subs, name)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_UNREADABLE
    try:
        return int(args.run(args) or 0)
    except CommandError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


def is_command(argv: list[str]) -> bool:
    """True when ``argv`` asks for a headless sub-command (or help, or the version),
    not the app."""
    return bool(argv) and (argv[0] in COMMANDS or argv[0] in ("-h", "--help", "--version"))


def version() -> str:
    """The installed distribution's version (from its metadata)."""
    from importlib import metadata

    try:
        return metadata.version("layerloom")
    except metadata.PackageNotFoundError:
        return "unknown (not installed)"
