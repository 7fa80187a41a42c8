"""Write the README screenshots: ``python -m layerloom.gui.screenshots [OUT_DIR]``.

Renders the real main window off screen (no display needed) at a fixed size:
an empty window, the CNN example with a convolution selected, and the same
graph with an error (a flat input fed to a convolution) so that the error
marking, the inspector's message and the status bar's count are visible; then
the workspace's two modes after a short real run of the two-moons MLP: Edit mode
at 1280 x 800, and Train mode at 1280 x 800 and at 1920 x 1080; the digits CNN
with its output thumbnails after a short run. User
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


def _open_example(window, app, name: str, per_row: int = 3) -> bool:
    path = examples_dir() / name
    if not path.exists():
        return False
    window.document.open_copy(path)
    _wrap_rows(window.graph, per_row)
    window.document.undo_stack.setClean()
    _settle(app)
    window.view.fit_to_view()
    window.view.set_zoom(window.view.zoom * 0.92)  # room for the wire that folds the rows
    _settle(app)
    return True


def _wait(app, done, seconds: float = 120.0) -> None:
    import time

    from PySide6.QtTest import QTest

    end = time.monotonic() + seconds
    while not done() and time.monotonic() < end:
        QTest.qWait(20)


def take_workspace(app, out_dir: Path) -> list[Path]:
    """Train the two-moons MLP briefly, then grab the Edit and Train modes."""
    window = _window(app)
    if not _open_example(window, app, "mlp_two_moons.loom", per_row=2):  # fits the narrow canvas
        window.close()
        return []
    dock = window.training_dock
    window.graph.set_settings("training", {"epochs": 25, "device": "cpu"})
    dock.preload()
    import torch

    torch.set_num_threads(1)  # a model this small trains fastest on one thread
    _wait(app, lambda: dock.setup.dataset_for_run() is not None)
    written = []
    window.workspace.set_mode("train")
    _settle(app, 20)
    dock.start()
    _wait(app, lambda: not dock.running)
    dock.tabs.setCurrentWidget(dock.boundary_view)
    window.scene.clearSelection()
    for size, name in ((SIZE, "workspace_train_1280.png"), ((1920, 1080), "workspace_train_1920.png")):
        window.resize(*size)
        _settle(app, 20)
        window.view.fit_to_view()
        _settle(app, 20)
        written.append(_save(window, out_dir / name))
    window.resize(*SIZE)
    window.workspace.set_mode("edit")
    _settle(app, 20)
    dock.tabs.setCurrentWidget(dock.weights_view)
    window.scene.select_nodes([window.graph.topological_order()[1]])
    _settle(app, 20)
    written.append(_save(window, out_dir / "workspace_edit_1280.png"))
    window.document.undo_stack.setClean()
    dock.forget_runs()
    window.close()
    return written


def take_thumbnails(app, out_dir: Path) -> Path | None:
    """The digits CNN after a short run, with View ▸ Output Thumbnails on."""
    window = _window(app)
    if not _open_example(window, app, "cnn_digits.loom"):
        window.close()
        return None
    dock = window.training_dock
    window.graph.set_settings("training", {**window.graph.training, "epochs": 3, "device": "cpu"})
    dock.preload()
    _wait(app, lambda: dock.setup.dataset_for_run() is not None)
    dock.start()
    _wait(app, lambda: not dock.running)
    dock.tabs.setCurrentWidget(dock.inside_view)
    dock.inside_view.sample.setValue(3)
    window.palette_dock.hide()
    thumbs = window.output_thumbnails
    thumbs.action.setChecked(True)
    _wait(app, lambda: thumbs.weights.startswith("the trained weights") and not thumbs._busy)
    _settle(app, 20)
    window.view.fit_to_view()
    window.view.set_zoom(window.view.zoom * 0.9)  # the cards fit; the thumbnails under them too
    _settle(app, 20)
    path = _save(window, out_dir / "canvas_thumbnails.png")
    thumbs.action.setChecked(False)
    window.document.undo_stack.setClean()
    dock.forget_runs()
    window.close()
    return path


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
    written += take_workspace(app, out_dir)
    written += [p for p in (take_thumbnails(app, out_dir),) if p is not None]
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
