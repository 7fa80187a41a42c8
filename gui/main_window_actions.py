"""The main window's actions, menus and toolbar.

One table lists every command a user can give from the menus: its text, its
shortcut (Qt's standard keys where one exists, so each platform gets its own
convention) and what it does. Toolbar tooltips name the shortcut.

Every function takes the :class:`~layerloom.gui.main_window.MainWindow`, typed by its Qt
base (that module imports this one), and connects its slots by name.
"""

from __future__ import annotations

from pathlib import Path

import shiboken6
from PySide6.QtCore import QObject, QSize, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMainWindow, QMenu, QToolBar

from layerloom.gui.main_window_icons import icon

Key = QKeySequence.StandardKey

# name: (menu text, shortcuts, status tip)
ACTIONS: dict[str, tuple[str, tuple, str]] = {
    "new": ("&New", (Key.New,), "Start an empty graph"),
    "new_from_template": ("New from &Template…", ("Ctrl+Shift+N",), "Start from an example graph"),
    "open": ("&Open…", (Key.Open,), "Open a .loom graph"),
    "import_model": ("&Import Model…", ("Ctrl+I",),
                     "Open a PyTorch model (.py) or an ONNX file as a new graph with its weights"),
    "save": ("&Save", (Key.Save,), "Save the graph"),
    "save_as": ("Save &As…", (Key.SaveAs,), "Save the graph under a new name"),
    "quit": ("&Quit", (Key.Quit,), "Close LayerLoom"),
    "undo": ("&Undo", (Key.Undo,), "Undo the last edit"),
    "redo": ("&Redo", (Key.Redo,), "Redo the edit just undone"),
    "cut": ("Cu&t", (Key.Cut,), "Move the selected layers to the clipboard"),
    "copy": ("&Copy", (Key.Copy,), "Copy the selected layers"),
    "paste": ("&Paste", (Key.Paste,), "Paste layers from the clipboard"),
    "duplicate": ("D&uplicate", ("Ctrl+D",), "Copy the selected layers in place"),
    "delete": ("&Delete", (Key.Delete, "Backspace"), "Delete the selected layers and wires"),
    "select_all": ("Select &All", (Key.SelectAll,), "Select every layer"),
    "make_block": ("&Make Block…", ("Ctrl+G",),
                   "Replace the selected layers by one block; the wires crossing its border become its ports"),
    "ungroup": ("U&ngroup Block", ("Ctrl+Shift+G",), "Replace the selected block by the layers inside it"),
    "open_block": ("&Open Block", (), "Show the inside of the selected block (double-click or Enter)"),
    "leave_block": ("&Leave Block", (), "Go back out of the block shown (Esc)"),
    "save_block": ("Save Block to &Library…", (),
                   "Save the selected block node's definition to your block library (palette: My blocks)"),
    "zoom_in": ("Zoom &In", (Key.ZoomIn,), "Zoom in on the canvas"),
    "zoom_out": ("Zoom &Out", (Key.ZoomOut,), "Zoom out of the canvas"),
    "fit": ("&Fit to Window", ("Ctrl+0",), "Show the whole graph"),
    "auto_layout": ("Auto &Layout", ("Ctrl+L",), "Arrange the layers in columns, inputs at the left"),
    "about": ("&About LayerLoom", (), "About LayerLoom"),
}

TOOLBAR = (
    "new", "open", "save", None, "undo", "redo", None,
    "delete", None, "zoom_in", "zoom_out", "fit", "auto_layout",
)


def _key_text(action: QAction) -> str:
    return action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)


def sync_tooltip(action: QAction) -> None:
    """Tooltip = the action's text plus its shortcut, e.g. ``Save (Ctrl+S)``."""
    text = action.text().replace("&&", "\0").replace("&", "").replace("\0", "&").rstrip("…")
    keys = _key_text(action)
    tip = f"{text} ({keys})" if keys else text
    if action.toolTip() != tip:
        action.setToolTip(tip)


class _TooltipKeeper(QObject):
    """Keeps an action's tooltip in step with its text (undo/redo texts change).

    A child of the action, connected through a bound method, so the connection
    ends with the action (a lambda would outlive it).
    """

    def __init__(self, action: QAction) -> None:
        super().__init__(action)
        self._action = action
        action.changed.connect(self.sync)
        self.sync()

    def sync(self) -> None:
        if shiboken6.isValid(self._action):  # a dying action still says "changed"
            sync_tooltip(self._action)


def build_actions(window: QMainWindow) -> dict[str, QAction]:
    """Create every action of ``window`` and connect it; keyed by name."""
    slots = {
        "new": window.new_document, "new_from_template": window.new_from_template,
        "open": lambda: window.open_file(), "import_model": lambda: window.import_model(),
        "save": window.save, "save_as": window.save_as,
        "quit": window.close, "cut": window.cut, "copy": window.copy, "paste": window.paste,
        "duplicate": window.duplicate, "delete": window.delete, "select_all": window.select_all,
        "make_block": window.make_block, "ungroup": window.ungroup,
        "open_block": window.open_selected_block, "leave_block": window.navigator.leave,
        "save_block": lambda: window.block_library.save_selected(),
        "zoom_in": window.view.zoom_in, "zoom_out": window.view.zoom_out,
        "fit": window.view.fit_to_view, "auto_layout": window.auto_layout,
        "about": window.show_about,
    }
    actions: dict[str, QAction] = {}
    for name, (text, keys, tip) in ACTIONS.items():
        if name == "undo":
            action = window.undo_stack.createUndoAction(window, "&Undo")
        elif name == "redo":
            action = window.undo_stack.createRedoAction(window, "&Redo")
        else:
            action = QAction(text, window)
            action.triggered.connect(lambda _checked=False, slot=slots[name]: slot())
        action.setObjectName(f"action_{name}")
        action.setShortcuts([QKeySequence(k) for k in keys])
        action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        action.setStatusTip(tip)
        action.setIcon(icon(name))
        action.setIconVisibleInMenu(False)
        _TooltipKeeper(action)
        window.addAction(action)
        actions[name] = action
    actions["quit"].setMenuRole(QAction.MenuRole.QuitRole)
    actions["about"].setMenuRole(QAction.MenuRole.AboutRole)
    return actions


def build_menus(window: QMainWindow) -> None:
    a = window.actions
    bar = window.menuBar()
    file_menu = bar.addMenu("&File")
    file_menu.setObjectName("menu_file")
    file_menu.addActions([a["new"], a["new_from_template"], a["open"]])
    window.recent_menu = file_menu.addMenu("Open &Recent")
    window.recent_menu.setObjectName("menu_recent")
    window.recent_menu.aboutToShow.connect(lambda: fill_recent_menu(window))
    fill_recent_menu(window)
    file_menu.addAction(a["import_model"])
    file_menu.addSeparator()
    file_menu.addActions([a["save"], a["save_as"]])
    file_menu.addSeparator()
    file_menu.addAction(a["quit"])

    edit = bar.addMenu("&Edit")
    edit.setObjectName("menu_edit")
    edit.addActions([a["undo"], a["redo"]])
    edit.addSeparator()
    edit.addActions([a["cut"], a["copy"], a["paste"], a["duplicate"], a["delete"]])
    edit.addSeparator()
    edit.addAction(a["select_all"])
    edit.addSeparator()
    edit.addActions([a["make_block"], a["ungroup"], a["open_block"], a["leave_block"]])
    edit.addAction(a["save_block"])

    view = bar.addMenu("&View")
    view.setObjectName("menu_view")
    view.addActions([a["zoom_in"], a["zoom_out"], a["fit"]])
    view.addSeparator()
    view.addAction(a["auto_layout"])
    view.addSeparator()
    for dock in (window.palette_dock, window.inspector_dock):
        view.addAction(dock.toggleViewAction())

    help_menu = bar.addMenu("&Help")
    help_menu.setObjectName("menu_help")
    help_menu.addAction(a["about"])


def build_context_menu(window: QMainWindow) -> QMenu:
    """The canvas's right-click menu: the block commands first, then the edits."""
    a = window.actions
    menu = QMenu(window)
    menu.setObjectName("canvasMenu")
    selection = window.selected_ids()
    graph = window.scene.graph
    blocks = [nid for nid in selection if graph.node(nid).is_block]
    if len(selection) == 1 and blocks:
        menu.addActions([a["open_block"], a["ungroup"]])
    if selection:
        menu.addAction(a["make_block"])
    if window.navigator.levels:
        menu.addAction(a["leave_block"])
    if not menu.isEmpty():
        menu.addSeparator()
    if selection:
        menu.addActions([a["cut"], a["copy"], a["duplicate"], a["delete"]])
    menu.addAction(a["paste"])
    menu.addSeparator()
    menu.addActions([a["select_all"], a["auto_layout"]])
    return menu


def fill_recent_menu(window: QMainWindow) -> None:
    """List the recent files (newest first, numbered for keyboard access)."""
    menu: QMenu = window.recent_menu
    menu.clear()
    paths = window.recent.paths()
    for i, path in enumerate(paths, start=1):
        mnemonic = f"&{i % 10} " if i <= 10 else ""
        action = menu.addAction(f"{mnemonic}{path.name}   —   {_short_dir(path)}")
        action.setData(str(path))
        action.setToolTip(str(path))
        action.triggered.connect(lambda _checked=False, p=path: window.open_file(p))
    if not paths:
        empty = menu.addAction("No recent files")
        empty.setEnabled(False)
    menu.addSeparator()
    clear = menu.addAction("&Clear Menu")
    clear.setEnabled(bool(paths))
    clear.triggered.connect(window.recent.clear)


def _short_dir(path: Path) -> str:
    parent = path.parent
    try:
        return "~/" + str(parent.relative_to(Path.home()))
    except ValueError:
        return str(parent)


def build_toolbar(window: QMainWindow) -> QToolBar:
    bar = QToolBar("Main toolbar", window)
    bar.setObjectName("mainToolbar")
    bar.setMovable(False)
    bar.setIconSize(QSize(18, 18))
    bar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonIconOnly)
    for name in TOOLBAR:
        if name is None:
            bar.addSeparator()
        else:
            bar.addAction(window.actions[name])
    window.addToolBar(Qt.ToolBarArea.TopToolBarArea, bar)
    return bar
