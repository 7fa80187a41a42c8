"""Every view of the training dock is a live view declared in one table: the dock
builds, refreshes and shows a run in each view through that table alone."""

from __future__ import annotations

from collections.abc import Set

import pytest
from PySide6.QtWidgets import QLabel

from layerloom.gui.training import dock as dock_module
from layerloom.gui.training.views.live_view import LiveView, ViewRow
from tests.gui.test_training_helpers import make_host, one_thread, wait_for  # noqa: F401


class FakeView(QLabel):
    """A live view that records what the dock asks of it."""

    title = "Fake"

    def __init__(self):
        super().__init__("fake")
        self.runs: list = []
        self.refreshes: list[tuple[frozenset | None, bool]] = []

    def set_run(self, run) -> None:
        self.runs.append(run)

    def refresh(self, changed: Set[str] | None = None, full: bool = False) -> None:
        self.refreshes.append((None if changed is None else frozenset(changed), full))


def test_every_view_in_the_table_implements_the_protocol(qtbot):
    host = make_host(qtbot)
    dock = host.dock
    assert len(dock.views) == len(dock_module.VIEWS)
    for row, view in zip(dock_module.VIEWS, dock.views, strict=True):
        assert isinstance(view, LiveView), row.view
        assert isinstance(view, row.load())
        assert getattr(dock, row.attribute) is view
        assert isinstance(view.title, str) and view.title
    titles = [dock.tabs.tabText(i) for i in range(dock.tabs.count())]
    assert titles == [row.load().title for row in dock_module.VIEWS if row.tab]
    assert titles == ["Weights", "Gradients", "Boundary", "Confusion", "Inside", "Saliency", "Landscape",
                      "Embedding", "GAN", "Latent space", "Runs", "Try it"]
    assert dock.splitter.widget(1) is dock.loss_view  # the one view beside the set-up panel


def test_not_a_live_view():
    assert not isinstance(QLabel("plain"), LiveView)


@pytest.mark.usefixtures("one_thread")
@pytest.mark.parametrize("tab", [True, False])
def test_a_view_added_to_the_table_is_built_shown_and_refreshed(qtbot, monkeypatch, tab):
    row = ViewRow(f"{__name__}.FakeView", "fake_view", tab=tab)
    monkeypatch.setattr(dock_module, "VIEWS", (*dock_module.VIEWS, row))
    host = make_host(qtbot)
    dock = host.dock
    fake = dock.fake_view
    assert isinstance(fake, LiveView) and fake in dock.views
    if tab:
        assert dock.tabs.tabText(dock.tabs.indexOf(fake)) == "Fake"
        dock.tabs.setCurrentWidget(fake)
        assert fake.refreshes[-1] == (None, False)  # brought to the front: draw what is new
    else:
        assert dock.tabs.indexOf(fake) == -1 and dock.splitter.indexOf(fake) == 2

    run = dock.start()
    assert fake.runs[-1] is run
    wait_for(qtbot, lambda: any(changed and "loss" in changed for changed, _ in fake.refreshes))
    dock.stop()
    wait_for(qtbot, lambda: not dock.running)
    ended = [changed for changed, full in fake.refreshes if full]
    assert len(ended) == 1 and "status" in ended[0]  # the run has ended: drawn in full, once
    dock.show_run(None)
    assert fake.runs[-1] is None
    host.close()
