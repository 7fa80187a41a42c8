"""Start the desktop application: ``layerloom [FILE]``.

The window is shown before anything slow happens: the file (or a sample project)
opens from the event loop right after, and torch is never imported on the way to
a visible window. Without a display, ``layerloom`` says so in one line and points
to ``xvfb-run`` or the headless commands instead of letting Qt abort.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from layerloom.gui.user_settings import APPLICATION, ORGANISATION
from layerloom.resources import DESKTOP_ID, STYLESHEET, examples_dir, icon_path, resource

EXIT_NO_DISPLAY = 2
EXIT_USAGE = 2

# Qt platform plugins that draw without a windowing system.
HEADLESS_PLATFORMS = frozenset(
    {"offscreen", "minimal", "minimalegl", "vnc", "eglfs", "linuxfb", "vkkhrdisplay"}
)
SAMPLE_NAMES = ("mlp_two_moons.loom", "cnn_digits.loom", "lstm_sine.loom")


def sample_project(directory: Path | None = None) -> Path | None:
    """The example opened when ``layerloom`` starts without a file, if any ships."""
    directory = examples_dir() if directory is None else directory
    for name in SAMPLE_NAMES:
        if (directory / name).is_file():
            return directory / name
    found = sorted(directory.glob("*.loom")) if directory.is_dir() else []
    return found[0] if found else None


def display_problem(env: dict[str, str] | None = None, platform: str | None = None) -> str | None:
    """One line explaining why no window can open here, or ``None`` when one can.

    Qt aborts the whole process (with a core dump) when the ``xcb`` or ``wayland``
    plugin finds no display, so the check runs before the application object
    exists. Only Linux and the BSDs need a display server; a headless platform
    plugin chosen with ``QT_QPA_PLATFORM`` (``offscreen``, ``minimal``, ...) is fine.
    """
    env = os.environ if env is None else env
    platform = sys.platform if platform is None else platform
    if not (platform.startswith("linux") or "bsd" in platform):
        return None
    wanted = [
        part.split(":", 1)[0].strip().lower()
        for part in env.get("QT_QPA_PLATFORM", "").split(";")
        if part.strip()
    ]
    has_x11 = bool(env.get("DISPLAY"))
    has_wayland = bool(env.get("WAYLAND_DISPLAY"))
    if any(name in HEADLESS_PLATFORMS for name in wanted):
        return None
    if wanted and not any(name == "xcb" or name.startswith("wayland") for name in wanted):
        return None  # a platform plugin we do not know: trust the user's choice
    if has_x11 or has_wayland:
        return None
    return (
        "layerloom: no display found (DISPLAY and WAYLAND_DISPLAY are not set), so the "
        "window cannot open; run `xvfb-run -a layerloom` for a virtual display, or use the "
        "headless commands (`layerloom --help`: validate, train, export)"
    )


def configure_application(app) -> None:
    """Names, style and stylesheet shared by the app, the tests and the screenshots."""
    app.setOrganizationName(ORGANISATION)
    app.setApplicationName(APPLICATION)
    app.setApplicationDisplayName(APPLICATION)
    app.setStyle("Fusion")
    from PySide6.QtGui import QIcon

    stylesheet = resource(STYLESHEET)
    if stylesheet.is_file():
        app.setStyleSheet(stylesheet.read_text(encoding="utf-8"))
    app.setWindowIcon(QIcon(str(icon_path())))
    app.setDesktopFileName(DESKTOP_ID)
    app.aboutToQuit.connect(release_clipboard)


def release_clipboard() -> None:
    """Drop clipboard data this process still owns before Qt shuts down.

    PySide6 crashes at interpreter exit when the application's clipboard still
    holds a QMimeData it set (reproduced with the offscreen platform): the data
    outlives the QApplication that owns it. Only LayerLoom's own data is dropped
    (``ownsClipboard`` is not reported by every platform, so the format decides);
    copied layers only make sense to a running LayerLoom.
    """
    from PySide6.QtGui import QClipboard
    from PySide6.QtWidgets import QApplication

    from layerloom.gui.clipboard import MIME_TYPE

    clipboard = QApplication.clipboard()
    if clipboard is None:
        return
    mime = clipboard.mimeData()
    if clipboard.ownsClipboard() or (mime is not None and mime.hasFormat(MIME_TYPE)):
        clipboard.clear(QClipboard.Mode.Clipboard)


def _split_args(argv: list[str]) -> tuple[list[str], list[str]]:
    """``(files, qt_options)``; options such as ``-style fusion`` go to Qt."""
    files, options = [], []
    takes_value = {"-platform", "-style", "-stylesheet", "-qwindowgeometry", "-qwindowtitle", "-display"}
    args = iter(argv)
    for arg in args:
        if arg.startswith("-") and arg != "-":
            options.append(arg)
            if arg in takes_value:
                options.append(next(args, ""))
        else:
            files.append(arg)
    return files, options


def _exec(app, window) -> int:
    """Run the event loop (replaced by the start-up test to probe the shown window)."""
    return app.exec()


def run_app(argv: list[str]) -> int:
    """Open the main window on ``argv[0]`` (a .loom file) or on a sample project.

    Returns the process exit code: 0 after a normal quit, 2 when there is no
    display or the arguments make no sense.
    """
    files, options = _split_args(list(argv))
    reset_layout = "--reset-layout" in options  # forget the saved mode and panel layout
    options = [o for o in options if o != "--reset-layout"]
    if len(files) > 1:
        print(
            f"error: layerloom opens one file at a time, got {len(files)}: {' '.join(files)} "
            "(see 'layerloom --help')",
            file=sys.stderr,
        )
        return EXIT_USAGE
    if "-platform" not in options:
        problem = display_problem()
        if problem:
            print(problem, file=sys.stderr)
            return EXIT_NO_DISPLAY

    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(["layerloom", *options])
    configure_application(app)
    from layerloom.gui.main_window import MainWindow

    if reset_layout:
        from layerloom.gui.user_settings import user_settings
        from layerloom.gui.workspace import forget_layout

        forget_layout(user_settings())
    window = MainWindow()
    window.show()
    window.start(Path(files[0]) if files else None, sample=sample_project())
    return _exec(app, window)
