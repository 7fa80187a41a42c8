"""Edit and Train modes, the minimum window, Reset Layout, docks that stay put,
and the layout kept for the next start."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QDockWidget, QMenu

from tests.gui.test_window_helpers import make_window

Area = Qt.DockWidgetArea


@pytest.fixture
def window(qtbot, tmp_path):
    w = make_window(qtbot, tmp_path)
    w.resize(1280, 800)
    w.training_dock._build()
    qtbot.wait(20)
    return w


def _settle(qtbot):
    qtbot.wait(30)


def test_train_mode_gives_the_plots_the_room_and_edit_mode_comes_back(window, qtbot):
    dock = window.training_dock
    assert window.workspace.mode == "edit"
    for menu in ("menu_view", "menu_train"):
        names = [a.objectName() for a in window.findChild(QMenu, menu).actions()]
        assert "action_train_mode" in names, menu
    assert "action_reset_layout" in [a.objectName() for a in window.findChild(QMenu, "menu_view").actions()]
    assert window.dockWidgetArea(dock) == Area.BottomDockWidgetArea
    assert window.palette_dock.isVisible() and window.inspector_dock.isVisible()

    QTest.keyClick(window, Qt.Key.Key_2, Qt.KeyboardModifier.ControlModifier)  # Ctrl+2
    _settle(qtbot)
    assert window.workspace.mode == "train"
    assert window.workspace.actions["train_mode"].isChecked()
    assert window.dockWidgetArea(dock) == Area.RightDockWidgetArea
    assert not window.palette_dock.isVisible() and not window.inspector_dock.isVisible()
    assert dock.width() >= 0.6 * window.width()  # the plots get most of the window ...
    assert window.view.isVisible() and window.view.width() >= 0.2 * window.width()  # ... the graph beside
    # the loss curves above the tabs, beside a set-up form as tall as the dock
    column = dock.plots_column
    assert column.orientation() == Qt.Orientation.Vertical
    assert column.indexOf(dock.loss_view) == 0 and column.indexOf(dock.tabs) == 1
    assert dock.loss_view.height() > 250 and dock.tabs.height() > 250
    assert dock.setup.height() > 0.7 * dock.height()
    nodes = window.scene.nodes_bounding_rect() if len(window.graph) else None
    if nodes is not None:
        assert window.view.mapToScene(window.view.viewport().rect()).boundingRect().contains(nodes)

    QTest.keyClick(window, Qt.Key.Key_1, Qt.KeyboardModifier.ControlModifier)  # Ctrl+1
    _settle(qtbot)
    assert window.workspace.mode == "edit"
    assert window.dockWidgetArea(dock) == Area.BottomDockWidgetArea
    assert window.palette_dock.isVisible() and window.inspector_dock.isVisible()
    assert dock.splitter.indexOf(dock.loss_view) == 1 and dock.splitter.indexOf(dock.tabs) == 2


def test_the_window_goes_down_to_800_by_600_in_both_modes(window, qtbot):
    for mode in ("edit", "train"):
        window.workspace.set_mode(mode)
        _settle(qtbot)
        hint = window.minimumSizeHint()
        assert hint.width() <= 800 and hint.height() <= 600, (mode, hint)
        assert window.minimumSize().width() <= 800 and window.minimumSize().height() <= 600
        window.resize(800, 600)
        _settle(qtbot)
        assert (window.width(), window.height()) == (800, 600), mode
        assert window.training_dock.run_bar.start.isVisible()
        window.resize(1280, 800)
        _settle(qtbot)
    assert window.minimumSize().width() >= 700  # not so small that nothing fits


def test_each_mode_keeps_its_own_layout_and_reset_layout_restores_it(window, qtbot):
    window.inspector_dock.hide()  # the user's own Edit layout
    window.workspace.set_mode("train")
    _settle(qtbot)
    window.workspace.set_mode("edit")
    _settle(qtbot)
    assert not window.inspector_dock.isVisible()  # kept while in Train mode

    window.addDockWidget(Area.LeftDockWidgetArea, window.training_dock)
    window.workspace.actions["reset_layout"].trigger()  # View > Reset Layout
    _settle(qtbot)
    assert window.inspector_dock.isVisible() and window.palette_dock.isVisible()
    assert window.dockWidgetArea(window.training_dock) == Area.BottomDockWidgetArea
    assert "Layout reset" in window.statusBar().currentMessage()


def test_docks_do_not_float_unless_asked(window, qtbot):
    float_ = QDockWidget.DockWidgetFeature.DockWidgetFloatable
    for dock in (window.palette_dock, window.inspector_dock, window.training_dock):
        assert not dock.features() & float_
        assert dock.features() & QDockWidget.DockWidgetFeature.DockWidgetMovable
    # a double-click on the title bar, which floats a floatable dock, leaves it docked
    title = window.inspector_dock
    QTest.mouseDClick(title, Qt.MouseButton.LeftButton, pos=QPoint(40, 8))
    _settle(qtbot)
    assert not window.inspector_dock.isFloating()

    window.workspace.actions["docks_float"].trigger()  # View > Docks Can Float
    assert window.inspector_dock.features() & float_
    window.inspector_dock.setFloating(True)
    window.workspace.actions["docks_float"].trigger()
    assert not window.inspector_dock.isFloating()  # turned off: docked again


def test_the_mode_and_layout_come_back_at_the_next_start(qtbot, tmp_path):
    first = make_window(qtbot, tmp_path)
    first.resize(1280, 800)
    first.workspace.set_mode("train")
    _settle(qtbot)
    first.workspace.set_mode("edit")
    first.inspector_dock.hide()  # an Edit layout of the user's own
    first.workspace.set_mode("train")
    first.workspace.actions["docks_float"].setChecked(True)
    _settle(qtbot)
    first.close()

    second = make_window(qtbot, tmp_path)
    _settle(qtbot)
    assert second.workspace.mode == "train"
    assert second.workspace.actions["train_mode"].isChecked()
    assert second.dockWidgetArea(second.training_dock) == Area.RightDockWidgetArea
    assert second.training_dock.roomy
    assert second.workspace.actions["docks_float"].isChecked()
    second.workspace.set_mode("edit")
    _settle(qtbot)
    assert not second.inspector_dock.isVisible() and second.palette_dock.isVisible()
    second.close()


def test_reset_layout_option_forgets_the_saved_layout(qtbot, tmp_path, monkeypatch):
    import layerloom.gui.app as app_module

    first = make_window(qtbot, tmp_path)
    first.workspace.set_mode("train")
    first.close()
    seen = {}

    def probe(app, window):
        seen["mode"] = window.workspace.mode
        seen["area"] = window.dockWidgetArea(window.training_dock)
        window.ask_save_discard_cancel = lambda: "discard"
        window.close()
        return 0

    monkeypatch.setattr(app_module, "_exec", probe)
    monkeypatch.setattr(app_module, "sample_project", lambda: None)
    assert app_module.run_app(["--reset-layout", "-platform", "offscreen"]) == 0
    assert seen == {"mode": "edit", "area": Area.BottomDockWidgetArea}


def test_a_resized_window_keeps_the_plots_share_in_train_mode(window, qtbot):
    window.workspace.set_mode("train")
    _settle(qtbot)
    share = window.training_dock.width() / window.width()
    window.resize(1920, 1080)
    _settle(qtbot)
    assert window.training_dock.width() / window.width() == pytest.approx(share, abs=0.03)
    window.resize(800, 600)
    _settle(qtbot)
    assert window.view.width() >= 0.18 * 800  # the graph keeps a place beside the plots


def test_a_train_layout_kept_from_a_wider_window_leaves_the_graph_its_share(qtbot, tmp_path):
    first = make_window(qtbot, tmp_path)
    first.resize(1920, 1080)
    first.workspace.set_mode("train")
    _settle(qtbot)
    first.workspace.set_mode("edit")
    first.close()  # the Train layout is kept with the dock some 1,380 px wide

    second = make_window(qtbot, tmp_path)
    second.resize(1280, 800)
    _settle(qtbot)
    second.workspace.set_mode("train")
    qtbot.waitUntil(lambda: second.view.width() >= 0.18 * second.width(), timeout=2000)
    second.close()
