"""Shared set-up for the main-window tests (no tests here).

Every window gets user settings and recovery files in the test's temporary
folder, never the real user's, and every dialog method replaced: a question
that a test did not expect fails it instead of blocking on a modal box.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication

REPO = Path(__file__).resolve().parents[2]


def isolate_settings(folder: Path) -> Path:
    """Send ``QSettings`` (INI format) into ``folder``; returns the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(folder))
    return folder


class UnexpectedDialog(AssertionError):
    pass


def _unexpected(name: str):
    def ask(*args, **kwargs):
        raise UnexpectedDialog(f"the window asked {name}{args!r} but the test did not expect it")

    return ask


def make_window(qtbot, tmp_path: Path, show: bool = True):
    """A :class:`MainWindow` with isolated settings and scripted dialogs.

    ``window.errors`` collects ``(title, message)`` of every error shown.
    """
    from layerloom.gui.app import configure_application
    from layerloom.gui.main_window import MainWindow

    isolate_settings(tmp_path / "settings")
    configure_application(QApplication.instance())
    window = MainWindow()
    window.errors = []
    window.show_error = lambda title, message: window.errors.append((title, message))
    for name in ("ask_save_discard_cancel", "ask_open_path", "ask_save_path", "ask_template", "ask_restore"):
        setattr(window, name, _unexpected(name))
    window.training_dock.ask_unsaved_runs = _unexpected("ask_unsaved_runs")

    def before_close(_widget):
        window.ask_save_discard_cancel = lambda: "discard"
        window.training_dock.ask_unsaved_runs = lambda labels: "discard"

    qtbot.addWidget(window, before_close_func=before_close)
    if show:
        window.show()
        qtbot.waitExposed(window)
    return window


def subprocess_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """A minimal environment for a child LayerLoom: no display, settings in tmp."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "XDG_RUNTIME_DIR": str(tmp_path),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    env.update(extra)
    return env


PYTHON = sys.executable
