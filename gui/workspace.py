"""The main window's two layouts, Edit and Train, and View ▸ Reset Layout.

Edit mode is the editor: the palette at the left, the inspector at the right, the
training dock low below the canvas. Train mode gives training the room: the
palette and inspector step aside, the training dock takes about two thirds of the
window at the right with its plots stacked beside the set-up form, and the canvas
shows the whole graph, small, at the left. Ctrl+1 / Ctrl+2 (or the toolbar's Edit
and Train) switch; each mode keeps its own arrangement of docks as the user
leaves it, and View ▸ Reset Layout puts the current mode's back as it first was.

Docks do not tear off from a slip of the mouse: they move between the window's
sides but float only after View ▸ Docks Can Float. The mode, each mode's layout
and that choice are kept in the user's settings for the next start
(:func:`~layerloom.gui.user_settings.user_settings`); ``layerloom --reset-layout``
forgets them before the window opens.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, QPointF, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QDockWidget, QMainWindow, QMenu, QToolBar

MODES = ("edit", "train")
MODE_KEY = "window/mode"
STATE_KEY = "window/state/{mode}"
FLOAT_KEY = "window/docks_float"
LAYOUT_VERSION = 2  # saveState's version: layouts of older builds are not restored
TRAIN_SHARE = 0.72  # of the window's width for the training dock in Train mode
MIN_CANVAS_SHARE = 0.2  # ... of which the canvas keeps at least this much as the window resizes
EDIT_TRAIN_SHARE = 0.36  # of the window's height for it in Edit mode
SIDE_DOCKS = (250, 290)  # palette, inspector widths in Edit mode
MIN_WINDOW = (800, 600)

_MOVABLE = QDockWidget.DockWidgetFeature.DockWidgetMovable | QDockWidget.DockWidgetFeature.DockWidgetClosable
_FLOATABLE = QDockWidget.DockWidgetFeature.DockWidgetFloatable
_SIDES = (Qt.DockWidgetArea.LeftDockWidgetArea, Qt.DockWidgetArea.RightDockWidgetArea)


def forget_layout(settings) -> None:
    """Drop the saved mode and layouts (``layerloom --reset-layout``)."""
    for key in (MODE_KEY, FLOAT_KEY, "window/state", *(STATE_KEY.format(mode=m) for m in MODES)):
        settings.remove(key)
    settings.sync()


class Workspace(QObject):
    """Edit / Train mode and the dock layout of ``window`` (a MainWindow).

    Signals
    -------
    modeChanged(str)
        ``"edit"`` or ``"train"``.
    """

    modeChanged = Signal(str)

    def __init__(self, window: QMainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.mode = "edit"
        self._states: dict[str, object] = {}
        self._views: dict[str, tuple[float, QPointF]] = {}
        self.docks = (window.palette_dock, window.inspector_dock, window.training_dock)
        window.setMinimumSize(*MIN_WINDOW)
        window.setDockOptions(QMainWindow.DockOption.AnimatedDocks | QMainWindow.DockOption.AllowTabbedDocks)
        self.actions = self._build_actions()
        self.set_floatable(False)
        window.installEventFilter(self)

    def eventFilter(self, watched, event) -> bool:
        """A window resized in Train mode keeps the training dock's share of the
        width (Qt would give every pixel gained or lost to the graph alone)."""
        if event.type() == QEvent.Type.Resize and watched is self.window and self.mode == "train":
            old = event.oldSize().width()
            training = self.window.training_dock
            if old > 0 and training.isVisible() and not training.isFloating():
                share = min(training.width() / old, 1 - MIN_CANVAS_SHARE)
                QTimer.singleShot(0, lambda: self._keep_share(share))
        return False

    def _keep_share(self, share: float) -> None:
        w = self.window
        if self.mode == "train" and w.dockWidgetArea(w.training_dock) in _SIDES:
            w.resizeDocks([w.training_dock], [int(w.width() * share)], Qt.Orientation.Horizontal)

    def _canvas_room(self) -> None:
        """A Train layout kept from a wider window leaves the graph its share again
        (restoring keeps the dock's width in pixels)."""
        w = self.window
        if self.mode == "train" and w.width() > 0 and \
                w.training_dock.width() > (1 - MIN_CANVAS_SHARE) * w.width():
            self._keep_share(TRAIN_SHARE)

    # ---------------------------------------------------------------- actions
    def _build_actions(self) -> dict[str, QAction]:
        w = self.window
        group = QActionGroup(self)
        group.setExclusive(True)
        specs = {
            "edit_mode": ("&Edit Mode", "Ctrl+1", "Build the graph: palette, canvas and inspector"),
            "train_mode": ("&Train Mode", "Ctrl+2",
                           "Train the graph: the plots get most of the window, the graph stays beside them"),
            "reset_layout": ("&Reset Layout", "", "Put this mode's panels back where they first were"),
            "docks_float": ("Docks Can &Float", "",
                            "Let panels be dragged out of the window (off: they only move between its sides)"),
        }
        actions = {}
        for name, (text, key, tip) in specs.items():
            action = QAction(text, w)
            action.setObjectName(f"action_{name}")
            if key:
                action.setShortcut(QKeySequence(key))
            action.setStatusTip(tip)
            action.setToolTip(f"{tip} ({key})" if key else tip)
            w.addAction(action)
            actions[name] = action
        for name in ("edit_mode", "train_mode"):
            actions[name].setCheckable(True)
            group.addAction(actions[name])
        actions["edit_mode"].setChecked(True)
        actions["edit_mode"].triggered.connect(lambda: self.set_mode("edit"))
        actions["train_mode"].triggered.connect(lambda: self.set_mode("train"))
        actions["reset_layout"].triggered.connect(self.reset_layout)
        actions["docks_float"].setCheckable(True)
        actions["docks_float"].toggled.connect(self.set_floatable)
        return actions

    def add_to_menu(self, menu: QMenu) -> None:
        """The modes, Reset Layout and Docks Can Float at the end of ``menu`` (View);
        Train Mode at the end of the Train menu too."""
        train = self.window.findChild(QMenu, "menu_train")
        if train is not None:
            train.addSeparator()
            train.addAction(self.actions["train_mode"])
        menu.addSeparator()
        menu.addActions([self.actions["edit_mode"], self.actions["train_mode"]])
        menu.addAction(self.window.training_dock.toggleViewAction())
        menu.addSeparator()
        menu.addActions([self.actions["reset_layout"], self.actions["docks_float"]])

    def add_to_toolbar(self, bar: QToolBar) -> None:
        """Edit and Train as two text buttons at the toolbar's end."""
        bar.addSeparator()
        for name, text in (("edit_mode", "Edit"), ("train_mode", "Train")):
            bar.addAction(self.actions[name])
            self.actions[name].setIconText(text)  # the menu keeps "Edit Mode", the button says "Edit"
            button = bar.widgetForAction(self.actions[name])
            button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
            button.setObjectName(f"{name}Button")

    # ------------------------------------------------------------------ modes
    def set_mode(self, mode: str) -> None:
        """Switch to ``"edit"`` or ``"train"``; the mode left keeps its layout."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if mode == self.mode:
            self._check(mode)
            return
        w = self.window
        self._states[self.mode] = w.saveState(LAYOUT_VERSION)
        self._views[self.mode] = (w.view.zoom, w.view.mapToScene(w.view.viewport().rect().center()))
        self.mode = mode
        self._check(mode)
        w.training_dock.set_roomy(mode == "train")
        state = self._states.get(mode)
        if state is None or not w.restoreState(state, LAYOUT_VERSION):
            self._default_layout(mode)
        QTimer.singleShot(0, self._canvas_room)
        self._show_view(mode)
        w.show_status("Train mode: the plots get the room; Ctrl+1 goes back to editing" if mode == "train"
                      else "Edit mode: palette, canvas and inspector; Ctrl+2 for the training view", 4000)
        self.modeChanged.emit(mode)

    def _check(self, mode: str) -> None:
        self.actions[f"{mode}_mode"].setChecked(True)

    def _show_view(self, mode: str) -> None:
        view = self.window.view
        saved = self._views.get(mode)
        if saved is not None:
            view.set_zoom(saved[0])
            view.centerOn(saved[1])
        elif mode == "train":
            QTimer.singleShot(0, view.fit_to_view)  # the whole graph, small beside the plots

    def reset_layout(self) -> None:
        """View ▸ Reset Layout: this mode's panels as they first were."""
        self._states.pop(self.mode, None)
        self._default_layout(self.mode)
        self.window.show_status("Layout reset", 3000)

    def _default_layout(self, mode: str) -> None:
        w = self.window
        palette, inspector, training = self.docks
        for dock in self.docks:
            dock.setFloating(False)
        if mode == "train":
            w.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, training)
            palette.hide()
            inspector.hide()
            training.show()
            w.resizeDocks([training], [int(w.width() * TRAIN_SHARE)], Qt.Orientation.Horizontal)
        else:
            w.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, palette)
            w.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, inspector)
            w.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, training)
            for dock in self.docks:
                dock.show()
            w.resizeDocks([palette, inspector], list(SIDE_DOCKS), Qt.Orientation.Horizontal)
            w.resizeDocks([training], [int(w.height() * EDIT_TRAIN_SHARE)], Qt.Orientation.Vertical)

    def set_floatable(self, floatable: bool) -> None:
        """Docks Can Float: off, a dock moves between the window's sides only."""
        for dock in self.docks:
            dock.setFeatures(_MOVABLE | _FLOATABLE if floatable else _MOVABLE)
            if not floatable and dock.isFloating():
                dock.setFloating(False)
        action = self.actions["docks_float"]
        if action.isChecked() != floatable:
            action.setChecked(floatable)

    # --------------------------------------------------------------- settings
    def save(self, settings) -> None:
        w = self.window
        self._states[self.mode] = w.saveState(LAYOUT_VERSION)
        settings.setValue(MODE_KEY, self.mode)
        settings.setValue(FLOAT_KEY, self.actions["docks_float"].isChecked())
        for mode, state in self._states.items():
            settings.setValue(STATE_KEY.format(mode=mode), state)

    def restore(self, settings) -> None:
        """The saved mode and layouts, or the default Edit layout."""
        w = self.window
        self._default_layout("edit")
        self.set_floatable(str(settings.value(FLOAT_KEY, "false")).lower() == "true")
        for mode in MODES:
            state = settings.value(STATE_KEY.format(mode=mode))
            if state is not None:
                self._states[mode] = state
        mode = settings.value(MODE_KEY, "edit")
        mode = mode if mode in MODES else "edit"
        self.mode = mode
        self._check(mode)
        w.training_dock.set_roomy(mode == "train")
        state = self._states.get(mode)
        if state is None or not w.restoreState(state, LAYOUT_VERSION):
            self._default_layout(mode)
        QTimer.singleShot(0, self._canvas_room)
        if not self.actions["docks_float"].isChecked():
            for dock in self.docks:
                dock.setFloating(False)
