"""The main window: palette | canvas | inspector, menus, toolbar and status bar.

Files are handled here as in every desktop editor: New / Open / Save / Save As /
Open Recent, a ``*`` in the title while there are unsaved changes, a Save /
Discard / Cancel question before anything would lose them, autosave with crash
recovery (those live in :mod:`layerloom.gui.main_window_files`). Every question
and file dialog goes through a small method
(``ask_save_discard_cancel``, ``ask_open_path``, ...) that tests replace, so no
test ever blocks on a modal dialog.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QAction, QCloseEvent
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QFileDialog,
    QInputDialog,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QVBoxLayout,
    QWidget,
)

from layerloom.graph import SUFFIX, Graph, GraphError
from layerloom.gui import heap
from layerloom.gui.autosave import INTERVAL_MS, Autosaver, Recovery
from layerloom.gui.block_catalog import key_block_name
from layerloom.gui.block_library_ui import BlockLibraryUi
from layerloom.gui.block_navigator import BlockNavigator
from layerloom.gui.canvas import GraphScene, GraphView
from layerloom.gui.canvas.breadcrumb import Breadcrumb
from layerloom.gui.clipboard import MIME_TYPE as CLIPBOARD_MIME
from layerloom.gui.clipboard import copy_selection, from_mime, to_mime
from layerloom.gui.document import Document, RecentFiles
from layerloom.gui.file_loading import FileLoad
from layerloom.gui.help_pages import HelpPages
from layerloom.gui.importing import IMPORT_FILTER, ImportRequest, ModelImport
from layerloom.gui.inspector import Inspector
from layerloom.gui.main_window_actions import (
    build_actions,
    build_context_menu,
    build_menus,
    build_toolbar,
)
from layerloom.gui.main_window_files import FileActions
from layerloom.gui.main_window_status import GraphStatus
from layerloom.gui.palette import Palette
from layerloom.gui.qt_util import qt_listener
from layerloom.gui.training import TrainingDock
from layerloom.gui.training.thumbnails import OutputThumbnails
from layerloom.gui.user_settings import user_settings
from layerloom.gui.workspace import Workspace
from layerloom.resources import examples_dir

FILE_FILTER = f"LayerLoom graphs (*{SUFFIX});;All files (*)"
PASTE_STEP = 40.0


class MainWindow(FileActions, QMainWindow):
    """The LayerLoom editor window (objectName ``mainWindow``).

    Parameters
    ----------
    recovery_dir : Path, optional
        Folder for autosave files; beside the user's settings by default.
    autosave_ms : int
        Autosave interval (two minutes).
    """

    def __init__(
        self,
        recovery_dir: Path | None = None,
        autosave_ms: int = INTERVAL_MS,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        heap.collect_on_gui_thread()  # never in a worker thread, where freeing a widget hangs
        self.setObjectName("mainWindow")
        self.settings = user_settings()
        self.recent = RecentFiles(self.settings)
        # The document is not a Qt child of the window: its undo stack must outlive
        # the actions and views that follow it while the window is torn down.
        self.document = Document()
        self.scene = GraphScene(self.graph, self.undo_stack)
        self.scene.setParent(self)
        self.view = GraphView(self.scene)
        self.view.setObjectName("canvas")
        self.breadcrumb = Breadcrumb()
        self.setCentralWidget(self._canvas_area())
        self.layer_palette = Palette(self)
        self.inspector = Inspector(self.graph, self.undo_stack, self)
        self.navigator = BlockNavigator(self.graph, self.scene, self.view, self.inspector, self.undo_stack,
                                        self.breadcrumb, self)
        self.context_menu: QMenu | None = None
        self.palette_dock = self._dock("Layers", "paletteDock", self.layer_palette, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.inspector_dock = self._dock(
            "Inspector", "inspectorDock", self.inspector, Qt.DockWidgetArea.RightDockWidgetArea
        )
        self.training_dock = TrainingDock(self.graph, self.undo_stack, self.scene, self.document, self)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.training_dock)
        self.canvas_hint = self._make_canvas_hint()
        self.autosaver = Autosaver(self.document, recovery_dir, autosave_ms, self)
        self.autosaver.failed.connect(self._autosave_failed)
        self._paste_count = 0

        self.block_library = BlockLibraryUi(self)
        self.actions = build_actions(self)
        build_menus(self)
        self.menuBar().insertMenu(self.findChild(QMenu, "menu_help").menuAction(),
                                  self.training_dock.train_menu(self))
        self.toolbar = build_toolbar(self)
        self.workspace = Workspace(self)  # Edit / Train mode, Reset Layout
        self.workspace.add_to_menu(self.findChild(QMenu, "menu_view"))
        self.workspace.add_to_toolbar(self.toolbar)
        self.output_thumbnails = OutputThumbnails(self)  # View ▸ Output Thumbnails
        self.findChild(QMenu, "menu_view").insertAction(self.actions["auto_layout"], self.output_thumbnails.action)
        self.help_pages = HelpPages(self)
        self.help_pages.add_to_menu(self.findChild(QMenu, "menu_help"))
        self.model_import = ModelImport(self)
        self.file_load = FileLoad(self)  # big files are read in the background
        self.graph_status = GraphStatus(self.graph, self.statusBar())
        self.graph_status.errorClicked.connect(self.select_node)

        self._listener = qt_listener(self._on_graph_event)
        self.graph.subscribe(self._listener)
        self.document.modifiedChanged.connect(self._update_title)
        self.document.pathChanged.connect(self._update_title)
        self.scene.selectionChangedIds.connect(self._on_selection_changed)
        self.scene.statusMessage.connect(self.show_status)
        self.navigator.statusMessage.connect(self.show_status)
        self.inspector.openBlockRequested.connect(self.navigator.open_block)
        self.navigator.graphChanged.connect(self._update_edit_actions)
        self.view.contextMenuRequested.connect(self.show_context_menu)
        self.view.fileDropped.connect(self.open_file)
        self.layer_palette.layerActivated.connect(self.add_layer)
        QApplication.clipboard().dataChanged.connect(self._update_edit_actions)
        self._update_title()
        self._update_edit_actions()
        self._initial_size()
        self._restore_window_state()

    def _dock(self, title: str, name: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(name)
        dock.setWidget(widget)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable  # floats only when asked:
                         | QDockWidget.DockWidgetFeature.DockWidgetClosable)  # gui.workspace
        self.addDockWidget(area, dock)
        return dock

    def _canvas_area(self) -> QWidget:
        """The canvas with the block path above it."""
        area = QWidget(self)
        area.setObjectName("canvasArea")
        layout = QVBoxLayout(area)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        self.breadcrumb.setParent(area)
        layout.addWidget(self.breadcrumb)
        layout.addWidget(self.view, 1)
        return area

    def _make_canvas_hint(self) -> QLabel:
        """A quiet line in the middle of an empty canvas saying how to begin."""
        hint = _CanvasHint(
            "Drag layers here from the palette\nor start from an example: File ▸ New from Template",
            self.view.viewport(),
        )
        hint.setObjectName("canvasHint")
        return hint

    def _on_graph_event(self, event) -> None:
        empty = len(self.graph) == 0 and not self.navigator.levels
        if self.canvas_hint.isHidden() == empty:
            self.canvas_hint.setVisible(empty)
            self.canvas_hint.centre()

    def show_status(self, text: str, msecs: int = 6000) -> None:
        """A passing message in the status bar (the canvas's, a refused edit's)."""
        self.statusBar().showMessage(text, msecs)

    # ----------------------------------------------------------------- model
    @property
    def graph(self) -> Graph:
        return self.document.graph

    @property
    def undo_stack(self):
        return self.document.undo_stack

    # ------------------------------------------------- questions (replaceable)
    def ask_save_discard_cancel(self) -> str:
        """``"save"``, ``"discard"`` or ``"cancel"`` for unsaved changes."""
        box = QMessageBox(QMessageBox.Icon.Warning, "Unsaved changes",
                          f"Save the changes to {self.document.display_name} before closing it?",
                          parent=self)
        box.setInformativeText("Your changes are lost if you don't save them.")
        box.setStandardButtons(
            QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard
            | QMessageBox.StandardButton.Cancel
        )
        box.setDefaultButton(QMessageBox.StandardButton.Save)
        answer = box.exec()
        return {QMessageBox.StandardButton.Save: "save",
                QMessageBox.StandardButton.Discard: "discard"}.get(answer, "cancel")

    def ask_block_name(self, default: str) -> str | None:
        """The name of a block being made; ``None`` to cancel."""
        name, ok = QInputDialog.getText(
            self, "Make block", "Name of the new block (letters, digits and _):", text=default)
        return name.strip() if ok else None

    def ask_open_path(self) -> str | None:
        path, _ = QFileDialog.getOpenFileName(self, "Open graph", self._dialog_dir(), FILE_FILTER)
        return path or None

    def ask_save_path(self) -> str | None:
        start = str(self.document.path or Path(self._dialog_dir()) / f"untitled{SUFFIX}")
        path, _ = QFileDialog.getSaveFileName(self, "Save graph as", start, FILE_FILTER)
        return path or None

    def ask_import_path(self) -> str | None:
        path, _ = QFileDialog.getOpenFileName(self, "Import model", self._dialog_dir(), IMPORT_FILTER)
        return path or None

    def ask_import_options(self, path: Path) -> ImportRequest | None:
        """The import options for ``path`` (class, input shapes, ...); ``None`` to cancel."""
        from layerloom.gui.import_dialog import ask_import_options

        return ask_import_options(path, self)

    def ask_template(self) -> Path | None:
        from layerloom.gui.template_gallery import TemplateGallery

        dialog = TemplateGallery(examples_dir(), self)
        return dialog.selected_path() if dialog.exec() else None

    def ask_restore(self, recovery: Recovery) -> bool:
        answer = QMessageBox.question(
            self, "Recover unsaved work",
            f"LayerLoom did not close normally. Restore the {recovery.describe()}?\n\n"
            "Discard deletes the recovered copy.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Discard,
            QMessageBox.StandardButton.Yes,
        )
        return answer == QMessageBox.StandardButton.Yes

    def show_error(self, title: str, message: str) -> None:
        QMessageBox.warning(self, title, message)

    def show_about(self) -> None:
        QMessageBox.about(
            self, "About LayerLoom",
            "<b>LayerLoom</b><br>Build, train and export neural networks visually."
            "<br><br>Drag layers from the palette, wire them, and read every tensor shape "
            "and parameter count as you edit.",
        )

    def _dialog_dir(self) -> str:
        if self.document.path:
            return str(self.document.path.parent)
        recent = self.recent.paths()
        return str(recent[0].parent) if recent else str(Path.home())

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self.training_dock.confirm_close():  # asks, then stops a running training
            event.ignore()
            return
        if not self.maybe_save():
            event.ignore()
            return
        self.output_thumbnails.shutdown()
        self.model_import.wait()  # its thread must end before the window goes
        self.file_load.wait()
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.workspace.save(self.settings)
        self.settings.sync()
        self.autosaver.stop()
        self.autosaver.discard()
        event.accept()

    def _initial_size(self) -> None:
        """1280 x 800, or 90 % of a smaller screen (replaced by the saved geometry)."""
        screen = self.screen().availableGeometry() if self.screen() else None
        width, height = 1280, 800
        if screen is not None and screen.width() > 0:
            width, height = min(width, int(screen.width() * 0.9)), min(height, int(screen.height() * 0.9))
        self.resize(width, height)

    def _restore_window_state(self) -> None:
        geometry = self.settings.value("window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        self.workspace.restore(self.settings)

    def _update_title(self, *_args) -> None:
        star = "*" if self.document.is_modified else ""
        origin = f" — imported from {self.document.origin}" if self.document.origin else ""
        self.setWindowTitle(f"{self.document.display_name}{star}{origin} — LayerLoom")

    # ------------------------------------------------------------------ edits
    def selected_ids(self) -> list[str]:
        return list(self.scene.selected_node_ids())

    def add_layer(self, type_id: str) -> str | None:
        """Add a layer in the middle of the view (palette double-click or Enter),
        select it, and return its id. A ``"block:NAME"`` key adds a built-in or
        library block."""
        name = key_block_name(type_id)
        if name is not None:
            return self.block_library.insert(name)
        return self.view.add_layer(type_id)

    def copy(self) -> bool:
        ids = self.selected_ids()
        if not ids:
            return False
        QApplication.clipboard().setMimeData(to_mime(copy_selection(self.scene.graph, ids)))
        self._paste_count = 0
        return True

    def cut(self) -> None:
        if self.copy():
            self.scene.delete_selection()

    def paste(self) -> list[str]:
        """Paste the clipboard's nodes, each paste a step further down-right."""
        try:
            data = from_mime(QApplication.clipboard().mimeData())
        except GraphError as exc:
            self.statusBar().showMessage(str(exc), 8000)
            return []
        if data is None:
            self.statusBar().showMessage("The clipboard holds no LayerLoom layers", 4000)
            return []
        self._paste_count += 1
        step = PASTE_STEP * self._paste_count
        return self.scene.paste(data, (step, step))

    def duplicate(self) -> list[str]:
        ids = self.selected_ids()
        if not ids:
            return []
        return self.scene.paste(copy_selection(self.scene.graph, ids), (PASTE_STEP, PASTE_STEP))

    def delete(self) -> None:
        self.scene.delete_selection()

    def select_all(self) -> None:
        self.scene.select_all()

    def select_node(self, node_id: str) -> None:
        """Select one node of the document and bring it into view (the status bar's
        error button)."""
        if not self.graph.has_node(node_id):
            return
        self.navigator.go_to(0)
        self.scene.select_nodes([node_id])
        self.view.centerOn(self.scene.node_item(node_id).sceneBoundingRect().center())

    def auto_layout(self) -> None:
        if len(self.graph):
            self.scene.auto_layout()
            self.view.fit_to_view()

    # ----------------------------------------------------------------- blocks
    def make_block(self) -> str | None:
        """Ctrl+G: group the selected layers into a block (asks its name)."""
        return self.navigator.make_block(self.ask_block_name)

    def ungroup(self) -> list[str]:
        """Ctrl+Shift+G: replace the selected block node by its inside."""
        return self.navigator.ungroup()

    def open_selected_block(self) -> bool:
        return self.navigator.open_selected()

    def show_context_menu(self, global_pos) -> QMenu:
        """The canvas menu at ``global_pos`` (not modal: tests read it while open)."""
        if self.context_menu is not None:
            self.context_menu.close()
            self.context_menu.deleteLater()
        self.context_menu = build_context_menu(self)
        self.context_menu.popup(global_pos)
        return self.context_menu

    def _on_selection_changed(self, ids: list[str]) -> None:
        self.inspector.set_selection(list(ids))
        self._update_edit_actions()

    def _update_edit_actions(self, *_args) -> None:
        ids = self.selected_ids()
        has_selection = bool(ids)
        for name in ("cut", "copy", "duplicate", "delete", "make_block"):
            self.actions[name].setEnabled(has_selection or name == "delete")
        one_block = len(ids) == 1 and self.scene.graph.node(ids[0]).is_block
        self.actions["ungroup"].setEnabled(one_block)
        self.actions["open_block"].setEnabled(one_block)
        self.actions["leave_block"].setEnabled(bool(self.navigator.levels))
        self.actions["save_block"].setEnabled(self.block_library.selected_block() is not None)
        mime = QApplication.clipboard().mimeData()
        self.actions["paste"].setEnabled(mime is not None and mime.hasFormat(CLIPBOARD_MIME))

    def action(self, name: str) -> QAction:
        return self.actions[name]


class _CanvasHint(QLabel):
    """Centred text over the canvas; lets every click and drop through to it."""

    def __init__(self, text: str, viewport: QWidget) -> None:
        super().__init__(text, viewport)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        viewport.installEventFilter(self)
        self.centre()

    def eventFilter(self, watched, event) -> bool:
        if event.type() == QEvent.Type.Resize:
            self.centre()
        return False

    def centre(self) -> None:
        self.adjustSize()
        area = self.parentWidget().rect()
        self.move(area.center().x() - self.width() // 2, area.center().y() - self.height() // 2)
