"""Write the README screenshots: ``python -m layerloom.gui.screenshots [OUT_DIR]``.

Renders the real main window off screen (no display needed) at a fixed size:
an empty window, the CNN example with a convolution selected, and the same
graph with an error (a flat input fed to a convolution) so that the error
marking, the inspector's message and the status bar's count are visible. User
settings go to a temporary folder, so recent files and window state of the
person running it are neither used nor changed.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from layerloom.resources import SCREENSHOTS, examples_dir, resource_path

SIZE = (1280, 800)


def _settle(app, rounds: int = 5) -> None:
    for _ in range(rounds):
        app.processEvents()


def _save(window, path: Path) -> Path:
    """Grab ``window`` and write it as a compressed PNG."""
    from PySide6.QtGui import QImage

    image = window.grab().toImage().convertToFormat(QImage.Format.Format_RGB32)
    image.save(str(path), "PNG", 9)
    return path


def _window(app):
    from layerloom.gui.main_window import MainWindow

    window = MainWindow()
    window.setWindowState(window.windowState())
    window.resize(*SIZE)
    window.show()
    _settle(app)
    return window


def _wrap_rows(graph, per_row: int = 3, dx: float = 250.0, dy: float = 170.0) -> None:
    """Fold a long chain into rows so that it is readable at a screenshot's width."""
    order = graph.topological_order()
    if len(order) <= per_row:
        return
    graph.move_nodes({
        nid: ((i % per_row) * dx, (i // per_row) * dy)
        for i, nid in enumerate(order)
    })


def _open_example(window, app, name: str) -> bool:
    path = examples_dir() / name
    if not path.exists():
        return False
    window.document.open_copy(path)
    _wrap_rows(window.graph)
    window.document.undo_stack.setClean()
    _settle(app)
    window.view.fit_to_view()
    window.view.set_zoom(window.view.zoom * 0.92)  # room for the wire that folds the rows
    _settle(app)
    return True


def take(out_dir: Path) -> list[Path]:
    """Render the screenshots into ``out_dir``; returns the files written."""
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from layerloom.gui.app import configure_application

    settings_dir = tempfile.mkdtemp(prefix="layerloom-shots-")
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, settings_dir)
    app = QApplication.instance() or QApplication(["layerloom"])
    configure_application(app)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []

    window = _window(app)
    written.append(_save(window, out_dir / "window_empty.png"))
    window.close()

    window = _window(app)
    if _open_example(window, app, "cnn_digits.loom"):
        first_conv = next(n.id for n in window.graph.nodes if n.type == "conv2d")
        window.scene.select_nodes([first_conv])
        _settle(app)
        written.append(_save(window, out_dir / "window_cnn.png"))

        # The classic mistake: a flat 64-value input wired into a convolution.
        from layerloom.gui.commands import Rename, SetParams

        source = window.graph.inputs()[0]
        window.undo_stack.push(SetParams(window.graph, [source.id], {"shape": (64,)}))
        window.undo_stack.push(Rename(window.graph, source.id, "Digit pixels (64)"))
        window.scene.select_nodes([first_conv])
        _settle(app)
        written.append(_save(window, out_dir / "window_error.png"))
    window.document.undo_stack.setClean()
    window.close()
    return written


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    out_dir = Path(argv[0]) if argv else resource_path(SCREENSHOTS)
    for path in take(out_dir):
        print(f"{path}  {path.stat().st_size / 1024:.0f} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
