"""The ``layerloom`` entry point.

Sub-commands (``layerloom train ...``) go to :mod:`layerloom.backend.cli` without importing
Qt, so they work on servers; only the bare ``layerloom [FILE]`` starts the app.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    from layerloom.backend.cli import is_command
    from layerloom.backend.cli import main as cli_main

    if is_command(argv):
        return cli_main(argv)
    from layerloom.gui.app import run_app

    return run_app(argv)


if __name__ == "__main__":
    sys.exit(main())
