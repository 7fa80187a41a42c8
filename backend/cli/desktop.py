"""``layerloom install-desktop [--uninstall]``: LayerLoom in the desktop's menu.

Writes, into the user's data folder (``$XDG_DATA_HOME``, by default
``~/.local/share``), the three files the freedesktop specifications read:

- ``applications/layerloom.desktop``: the menu entry, which starts this installation's
  ``layerloom`` and declares that it opens ``.loom`` files;
- ``mime/packages/layerloom.xml``: the shared-mime-info type ``application/x-layerloom``
  for ``*.loom`` (JSON underneath);
- ``icons/hicolor/scalable/apps/layerloom.svg``: the icon, also used for the file type.

Then it refreshes the desktop's caches (``update-mime-database``,
``update-desktop-database``) when those programs exist. ``--uninstall`` removes the
same files. Nothing outside the data folder is touched and no root rights are needed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

from layerloom.backend.cli import CommandError
from layerloom.graph.fileio import write_atomic
from layerloom.resources import DESKTOP_ID, icon_path

MIME_TYPE = "application/x-layerloom"
DESKTOP_FILE = Path("applications") / f"{DESKTOP_ID}.desktop"
MIME_FILE = Path("mime") / "packages" / f"{DESKTOP_ID}.xml"
ICON_FILE = Path("icons") / "hicolor" / "scalable" / "apps" / f"{DESKTOP_ID}.svg"
MIME_ICON_FILE = Path("icons") / "hicolor" / "scalable" / "mimetypes" / (
    MIME_TYPE.replace("/", "-") + ".svg")
CACHE_TIMEOUT_S = 60


def add_parser(subs, name: str) -> None:
    p = subs.add_parser(
        name, help="add LayerLoom to the desktop's application menu and open .loom files with it",
        description="Write a freedesktop menu entry, a MIME type for *.loom files and the "
        "icon into the user's data folder ($XDG_DATA_HOME, default ~/.local/share). "
        "No root rights needed.",
    )
    p.add_argument("--uninstall", action="store_true", help="remove what install-desktop wrote")
    p.set_defaults(run=run)


def run(args) -> int:
    data = data_home()
    try:
        if args.uninstall:
            removed = uninstall(data)
            print(f"removed {len(removed)} file(s) of the LayerLoom desktop entry from {data}"
                  if removed else f"no LayerLoom desktop entry found in {data}")
        else:
            written = install(data, launcher_command())
            print(f"installed the LayerLoom desktop entry: {data / DESKTOP_FILE}")
            print(f"  .loom files open with LayerLoom ({MIME_TYPE}); files written: {len(written)}")
    except PermissionError as exc:
        raise CommandError(f"no permission to write to {exc.filename or data}: "
                           "choose another folder with XDG_DATA_HOME") from None
    except OSError as exc:
        where = exc.filename or data
        raise CommandError(f"cannot write to {where}: {exc.strerror or exc}") from None
    for problem in refresh_caches(data):
        print(f"note: {problem}", file=sys.stderr)
    return 0


def data_home(env: dict[str, str] | None = None) -> Path:
    """``$XDG_DATA_HOME`` if set to an absolute path (the spec ignores relative ones),
    else ``~/.local/share``."""
    env = os.environ if env is None else env
    value = env.get("XDG_DATA_HOME", "")
    if value and os.path.isabs(value):
        return Path(value)
    return Path.home() / ".local" / "share"


def launcher_command() -> list[str]:
    """How the menu entry starts this installation: its ``layerloom`` script when there
    is one beside the running interpreter, else the interpreter with the launcher."""
    scripts = Path(sysconfig.get_path("scripts"))
    for name in ("layerloom", "layerloom.exe"):
        if (scripts / name).is_file():
            return [str(scripts / name)]
    found = shutil.which("layerloom")
    if found:
        return [str(Path(found).resolve())]
    return [sys.executable, "-m", "layerloom.gui.launcher"]


def desktop_entry(command: list[str]) -> str:
    """The text of the ``.desktop`` file for ``command`` (quoted as the spec asks)."""
    # The string escape (a backslash doubled) applies on top of the Exec quoting.
    exec_line = (" ".join(_quote_exec(part) for part in command) + " %f").replace("\\", "\\\\")
    return (
        "[Desktop Entry]\n"
        "Type=Application\n"
        "Version=1.4\n"
        "Name=LayerLoom\n"
        "GenericName=Neural network editor\n"
        "Comment=Build, train and export neural networks visually\n"
        f"Exec={exec_line}\n"
        f"Icon={DESKTOP_ID}\n"
        "Terminal=false\n"
        "Categories=Science;ArtificialIntelligence;\n"
        "Keywords=neural network;deep learning;PyTorch;machine learning;\n"
        f"MimeType={MIME_TYPE};\n"
        f"StartupWMClass={DESKTOP_ID}\n"
    )


def mime_package() -> str:
    """The shared-mime-info package that names ``*.loom`` files."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<mime-info xmlns="http://www.freedesktop.org/standards/shared-mime-info">\n'
        f'  <mime-type type="{MIME_TYPE}">\n'
        "    <comment>LayerLoom graph</comment>\n"
        '    <sub-class-of type="application/json"/>\n'
        f'    <icon name="{MIME_TYPE.replace("/", "-")}"/>\n'
        '    <glob pattern="*.loom"/>\n'
        "  </mime-type>\n"
        "</mime-info>\n"
    )


def install(data: Path, command: list[str]) -> list[Path]:
    """Write the entry, the MIME package and the icons under ``data``; returns them."""
    icon = icon_path().read_bytes()
    files = {
        DESKTOP_FILE: desktop_entry(command).encode("utf-8"),
        MIME_FILE: mime_package().encode("utf-8"),
        ICON_FILE: icon,
        MIME_ICON_FILE: icon,
    }
    written = []
    for relative, content in files.items():
        target = data / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(target, content, mode=0o644)
        written.append(target)
    return written


def uninstall(data: Path) -> list[Path]:
    """Remove what :func:`install` wrote under ``data``; returns the removed files."""
    removed = []
    for relative in (DESKTOP_FILE, MIME_FILE, ICON_FILE, MIME_ICON_FILE):
        target = data / relative
        if target.is_file():
            target.unlink()
            removed.append(target)
    return removed


def refresh_caches(data: Path) -> list[str]:
    """Run the desktop's cache tools where installed; returns what went wrong.

    Without them the files still work once the desktop rescans; with them the menu
    and file managers see the change at once.
    """
    problems = []
    for program, folder in (("update-mime-database", data / "mime"),
                            ("update-desktop-database", data / "applications")):
        path = shutil.which(program)
        if path is None or not folder.is_dir():
            continue
        try:
            done = subprocess.run([path, str(folder)], capture_output=True, text=True,
                                  timeout=CACHE_TIMEOUT_S)
        except (OSError, subprocess.TimeoutExpired) as exc:
            problems.append(f"{program} did not run: {exc}")
            continue
        if done.returncode != 0:
            detail = (done.stderr or done.stdout).strip().splitlines()
            problems.append(f"{program} failed: {detail[-1] if detail else done.returncode}")
    return problems


def _quote_exec(arg: str) -> str:
    """One argument of an ``Exec`` key: quoted when it holds reserved characters, with
    ``"``, `` ` ``, ``$`` and ``\\`` escaped, and ``%`` doubled (the spec's rules)."""
    arg = arg.replace("%", "%%")
    if not any(c in arg for c in ' \t\n"\'\\><~|&;$*?#()`'):
        return arg
    escaped = "".join("\\" + c if c in '"`$\\' else c for c in arg)
    return f'"{escaped}"'
