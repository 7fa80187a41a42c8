"""The small faults found by trying the app as a new user (issue 19), each with
the check that failed before its fix."""

from __future__ import annotations

import re

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from tests.gui.test_training_helpers import make_host, moons_mlp, one_thread, wait_for  # noqa: F401

pytestmark = pytest.mark.usefixtures("one_thread")


def test_weights_after_a_short_run_fit_the_plot_and_keep_every_layer(qtbot):
    graph = moons_mlp()
    graph.set_settings("training", {"epochs": 2})
    host = make_host(qtbot, graph)
    dock = host.dock
    dock.tabs.setCurrentWidget(dock.weights_view)
    QTest.mouseClick(dock.run_bar.start, Qt.MouseButton.LeftButton)
    run = dock.current
    wait_for(qtbot, lambda: not dock.running)
    assert run.status == "finished"
    # every layer with weights has a history, not only the one on screen
    assert set(run.hist) == {"dense_1", "dense_2"}
    assert all(len(h.steps) >= 1 for h in run.hist.values())
    # the histogram's view fits its weights at once (was left at the empty 0..1 view)
    view = dock.weights_view
    edges = run.hist[view.layer].edges[-1]
    (x0, x1), (_y0, y1) = view.hist_plot.getViewBox().viewRange()
    assert x0 <= edges[0] and x1 >= edges[-1]
    assert x0 < 0  # weights spread around zero, the empty view starts at 0
    assert y1 >= max(run.hist[view.layer].counts[-1])
    # another layer shows its own history without a new run
    view.select_layer("dense_2")
    assert "snapshots" in view.info.text()


def _numbers(text: str) -> list[float]:
    return [float(v) for v in re.findall(r"\d+(?:\.\d+)?(?:e-?\d+)?", text)]


def test_a_stopped_run_counts_its_epochs_and_loss_alike_and_draws_an_lr_step(qtbot):
    host = make_host(qtbot)
    dock = host.dock
    QTest.mouseClick(dock.run_bar.start, Qt.MouseButton.LeftButton)
    run = dock.current
    wait_for(qtbot, lambda: len(run.val_loss) >= 2)
    QTest.mouseClick(dock.run_bar.pause, Qt.MouseButton.LeftButton)
    wait_for(qtbot, lambda: run.status == "paused")
    paused_at = run.step
    dock.run_bar.lr_edit.setText("0.002")
    QTest.mouseClick(dock.run_bar.resume, Qt.MouseButton.LeftButton)
    wait_for(qtbot, lambda: run.step > paused_at + 20 and len(run.val_loss) >= 4)
    QTest.mouseClick(dock.run_bar.stop, Qt.MouseButton.LeftButton)
    wait_for(qtbot, lambda: not dock.running)
    assert run.status == "stopped"

    # one count of epochs: the progress bar and the message agree
    said = int(re.search(r"after (\d+) epoch", run.message).group(1))
    assert f"after {said} epoch" in dock.run_bar.progress.format()

    # one loss: the Runs table quotes what the loss header quotes
    header = re.search(r"loss ([\d.e-]+)", dock.loss_view.summary.text()).group(1)
    row = dock.runs_panel.table
    assert row.item(0, 2).text() == header

    # the learning rate changed during the pause is a step: straight up or down, no slope
    dock.loss_view.refresh(full=True)
    x, y = dock.loss_view.lr_curve.getOriginalDataset()
    assert set(np.round(y, 6)) == {0.01, 0.002}
    jump = [i for i in range(len(x) - 1) if y[i] != y[i + 1]]
    assert len(jump) == 1 and x[jump[0]] == x[jump[0] + 1]


def test_a_step_series_stays_a_step_after_decimation():
    from layerloom.gui.training.views.series import BoundedSeries, step_arrays

    series = BoundedSeries(capacity=8, keep="first")
    for step in range(1, 101):
        series.append(step, 0.01 if step <= 37 else 0.002)
    x, y = series.arrays()
    assert set(y) == {0.01, 0.002}  # no averaged value between the two
    assert series.last() == (100, 0.002)
    xs, ys = step_arrays(x, y)
    rise = [i for i in range(len(xs) - 1) if ys[i] != ys[i + 1]]
    assert len(rise) == 1 and xs[rise[0]] == xs[rise[0] + 1]
    averaged = BoundedSeries(capacity=8)
    averaged.extend(range(1, 101), [0.01 if s <= 37 else 0.002 for s in range(1, 101)])
    assert len(set(averaged.arrays()[1])) > 2  # why the learning rate keeps firsts


def test_the_first_histogram_fits_the_weights_view_at_once(qtbot):
    """A run shorter than the view's once-a-second fitting: its histogram came after
    the view had fitted its empty plot, and stayed drawn in the empty 0..1 view."""
    from layerloom.gui.training.runs.run_record import HistHistory, Run
    from layerloom.gui.training.views.weights_view import WeightsView

    view = WeightsView()
    qtbot.addWidget(view)
    view.resize(700, 300)
    view.show()
    run = Run(1, moons_mlp(), {}, {}, "", "#2563eb")
    view.set_layers([("dense_1", "Dense 1")])
    view.set_run(run)  # fitted now, to nothing
    edges = np.linspace(-0.7, 0.6, 13)
    run.hist["dense_1"] = history = HistHistory()
    history.add(12, edges, np.arange(12.0) + 1)
    view.refresh({"stats"})
    (x0, x1), (_y0, y1) = view.hist_plot.getViewBox().viewRange()
    assert x0 <= -0.7 and x1 >= 0.6 and y1 >= 12
