"""The pieces behind the training views: bounded curve histories, smoothing, the
weight-history image, gradient health, fitting the graph to data, run records and
the canvas badges."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from layerloom.backend.datasets import DATASETS
from layerloom.backend.training.events import (
    Epoch,
    Failed,
    Finished,
    NodeStats,
    Paused,
    Resumed,
    Started,
    Stats,
    Step,
)
from layerloom.graph import Graph
from layerloom.gui.training.runs.run_record import HIST_HISTORY, HistHistory, Run, graph_signature
from layerloom.gui.training.setup.fit import input_fix, last_dense, output_fix
from layerloom.gui.training.views.canvas_badges import (
    canvas_badges,
    clear_canvas_badges,
    set_canvas_badges,
)
from layerloom.gui.training.views.health import grad_health
from layerloom.gui.training.views.series import BoundedSeries, finite_range, smooth
from layerloom.gui.training.views.weights_view import history_image
from tests.gui.test_training_helpers import moons_mlp


# ------------------------------------------------------------------ series
@settings(max_examples=25, deadline=None)
@given(n=st.integers(0, 3000), capacity=st.sampled_from([4, 16, 64, 256]))
def test_series_stays_bounded_and_keeps_the_whole_run(n, capacity):
    series = BoundedSeries(capacity)
    size = series.nbytes()
    for i in range(n):
        series.append(i, 2.0 * i)
    x, y = series.arrays()
    assert len(series) <= capacity and series.nbytes() == size and series.total == n
    if n:
        assert np.all(np.diff(x) > 0)  # still in step order
        assert np.allclose(y, 2 * x)  # averaging keeps a straight line straight
        assert x[0] <= series.group and x[-1] >= n - 1 - series.group
    assert len(x) >= min(n, capacity // 2) - 1


def test_series_keeps_nan_as_a_gap_and_reports_the_newest_point():
    series = BoundedSeries(8)
    series.extend([1, 2, 3], [0.5, math.nan, 0.25])
    x, y = series.arrays()
    assert np.isnan(y[1]) and series.last() == (3.0, 0.25)
    with pytest.raises(ValueError, match="even number"):
        BoundedSeries(5)


def test_smoothing_follows_tensorboard():
    y = np.array([1.0, 3.0, 3.0, 3.0])
    assert np.array_equal(smooth(y, 0.0), y)
    out = smooth(y, 0.5)
    assert out[0] == pytest.approx(1.0)  # no start-up bias towards zero
    assert out[1] == pytest.approx((0.5 * 0.5 + 0.5 * 3) / (1 - 0.25))
    assert np.all(np.diff(out) > 0) and out[-1] < 3.0
    constant = smooth(np.full(50, 4.0), 0.9)
    assert np.allclose(constant, 4.0)
    gaps = smooth(np.array([1.0, math.nan, 1.0]), 0.9)
    assert np.isnan(gaps[1]) and gaps[2] == pytest.approx(1.0)
    assert finite_range(np.array([math.nan, -1.0, 2.0])) == (-1.0, 2.0)
    assert finite_range(np.array([-1.0, 0.0, 0.5]), log=True) == (0.5, 0.5)
    assert finite_range(np.array([math.nan])) is None


# ----------------------------------------------------------- weight history
def test_history_image_puts_each_snapshot_on_a_common_value_grid():
    history = HistHistory()
    history.add(10, np.linspace(-1, 1, 5), [0, 10, 0, 0])  # all weights in (-0.5, 0)
    history.add(20, np.linspace(0, 2, 5), [0, 0, 0, 10])  # all weights in (1.5, 2)
    image, (s0, s1), (lo, hi) = history_image(history, columns=10, rows=12)
    assert image.shape == (10, 12) and (s0, s1) == (10.0, 20.0) and (lo, hi) == (-1.0, 2.0)
    assert image.max() == pytest.approx(1.0)
    first, last = image[0], image[-1]
    assert first.argmax() < last.argmax()  # the distribution moved up
    centre = lambda v: lo + (v + 0.5) * (hi - lo) / 12  # noqa: E731
    assert -0.5 <= centre(first.argmax()) <= 0.0
    assert 1.5 <= centre(last.argmax()) <= 2.0
    assert history_image(HistHistory()) is None


def test_history_keeps_a_bounded_number_of_snapshots():
    history = HistHistory()
    for step in range(3 * HIST_HISTORY):
        history.add(step, [0.0, 1.0], [1.0])
    assert len(history.steps) <= HIST_HISTORY
    assert history.steps[-1] == 3 * HIST_HISTORY - 1 and history.steps[0] == 0


# ------------------------------------------------------------------ health
@pytest.mark.parametrize(("norm", "word"), [
    (None, "none"), (0.0, "vanishing"), (1e-7, "vanishing"), (1e-5, "weak"), (0.3, "healthy"),
    (500.0, "large"), (1e4, "exploding"), (math.inf, "exploding"), (math.nan, "exploding"),
])
def test_gradient_health_bands(norm, word):
    assert grad_health(norm) == word


# -------------------------------------------------------------------- fits
def test_fits_follow_the_dataset():
    g = moons_mlp()
    moons = DATASETS["moons"].describe()
    assert input_fix(g, moons) is None and output_fix(g, moons) is None
    spirals = DATASETS["spirals"].describe(classes=5)
    fix = output_fix(g, spirals)
    assert fix.node_id == "dense_2" and fix.values == {"units": 5}
    digits = DATASETS["digits"].describe()
    fix = input_fix(g, digits)
    assert fix.values == {"shape": (1, 8, 8), "dtype": "float"}
    copy_task = DATASETS["copy"].describe(vocab=7)
    assert input_fix(g, copy_task).values["dtype"] == "long"
    assert output_fix(g, copy_task).values == {"units": 7}
    regression = DATASETS["diabetes"].describe()
    assert output_fix(g, regression).values == {"units": 1}
    # through activations and dropout to the last Dense
    g2 = Graph()
    ids = [g2.add_node(t, p).id for t, p in [("input", {"shape": [2]}), ("dense", {"units": 3}),
                                                ("dropout", {"p": 0.1}), ("softmax", {}), ("output", {})]]
    for a, b in zip(ids, ids[1:], strict=False):
        g2.connect(a, "out", b, "in")
    assert last_dense(g2) == ids[1]
    g2.add_node("output")  # two outputs: nothing to offer
    assert last_dense(g2) is None and output_fix(g2, spirals) is None


def test_graph_signature_ignores_positions_and_labels():
    g = moons_mlp()
    before = graph_signature(g)
    g.move_node("dense_1", (500, 500))
    g.set_label("dense_1", "Hidden")
    assert graph_signature(g) == before
    g.set_param("dense_1", "units", 4)
    assert graph_signature(g) != before


# --------------------------------------------------------------------- runs
def test_run_record_folds_events_in_order():
    run = Run(1, moons_mlp(), {"optimizer": "sgd", "lr": 0.1}, {"name": "moons"}, "", "#000")
    assert run.label == "Run 1 · sgd, lr 0.1 · moons" and run.active
    changed = run.apply([Started(10, 100, 10, "cpu", 50, 80, 20, 8)])
    assert changed == {"status"} and run.status == "running"
    run.apply([Step(1, s, 1.0 / s, 0.1, 1000.0) for s in range(1, 11)])
    run.apply([Epoch(1, 10, {"loss": 0.3, "accuracy": 0.8}, {"loss": 0.4, "accuracy": 0.7}, 0.1, 1.0)])
    assert len(run.loss) == 10 and run.val_loss.last() == (10.0, 0.4)
    assert run.metrics["val_accuracy"].last()[1] == 0.7 and run.metric_name() == "accuracy"
    assert run.progress == pytest.approx(0.1)
    run.active_seconds = 2.0
    assert run.eta() == pytest.approx(18.0)  # 90 steps left at 5 steps/s
    stats = Stats(1, 10, (NodeStats("dense_1", (1.0, 2.0), (0.0, 0.5, 1.0), 1.0, 1e-3, 0.25),
                          NodeStats("dense_2", (), (), 1.0, None)))
    assert run.apply([stats]) == {"stats"}
    assert run.grad_norms() == {"dense_1": (1e-3, 0.25), "dense_2": (None, None)}
    assert set(run.hist) == {"dense_1"}
    run.apply([Paused(10)])
    seconds = run.active_seconds
    run.tick(run._tick + 100.0)  # a long pause does not count as training time
    assert run.status == "paused" and run.active_seconds == seconds
    run.apply([Resumed(10, 0.05), Finished("early_stopping", {"loss": 0.3}, 2.0, 1, 10)])
    assert run.status == "finished" and "stopped early" in run.message and not run.active
    failed = Run(2, Graph(), {}, {}, "", "#000")
    failed.apply([Failed("the loss became nan")])
    assert failed.status == "failed" and failed.message == "the loss became nan"


def test_a_note_during_a_run_joins_the_notes_the_run_bar_shows():
    from layerloom.backend.training.events import Note

    run = Run(1, moons_mlp(), {}, {"name": "moons"}, "", "#000")
    run.apply([Started(10, 100, 10, "cpu", 50, 80, 20, 8, notes=("fast path: fused adam",))])
    assert run.apply([Note(3, "torch.compile is not available here; training without it")]) == {"status"}
    assert run.notes == ("fast path: fused adam", "torch.compile is not available here; training without it")


# ----------------------------------------------------------------- badges
def test_canvas_badges_follow_the_values_given(qapp, undo_stack):
    from layerloom.gui.canvas import GraphScene

    g = moons_mlp()
    scene = GraphScene(g, undo_stack)
    try:
        shown = set_canvas_badges(scene, {"dense_1": (0.2, 0.25), "dense_2": (1e-8, None), "gone": (1.0, None)})
        assert shown == 2
        badges = canvas_badges(scene)
        assert badges["dense_1"].text.text() == "∇ 0.2 · 25% dead" and badges["dense_1"].health == "healthy"
        assert badges["dense_2"].health == "vanishing" and "vanishing" in badges["dense_2"].toolTip()
        node = scene.node_item("dense_1")
        assert badges["dense_1"].parentItem() is node
        assert badges["dense_1"].pos().y() > node.height  # under the card
        set_canvas_badges(scene, {"dense_1": (5e3, None)})
        badges = canvas_badges(scene)
        assert set(badges) == {"dense_1"} and badges["dense_1"].health == "exploding"
        g.remove_node("dense_1")  # the badge goes with its node
        assert canvas_badges(scene) == {}
        clear_canvas_badges(scene)
    finally:
        scene.detach()


def test_class_probabilities_follow_the_loss():
    import torch

    from layerloom.backend.training.probes import class_probabilities

    logits = torch.tensor([[2.0, 0.0, -1.0], [0.0, 0.0, 0.0]])
    ce = class_probabilities("cross_entropy", False, logits)
    assert torch.allclose(ce.sum(-1), torch.ones(2)) and ce[0].argmax() == 0
    nll = class_probabilities("nll", False, torch.log_softmax(logits, -1))
    assert torch.allclose(nll, ce, atol=1e-6)
    single = class_probabilities("bce_with_logits", True, torch.tensor([[0.0], [10.0]]))
    assert torch.allclose(single[0], torch.tensor([0.5, 0.5])) and single[1, 1] > 0.99
    mse = class_probabilities("mse", False, torch.tensor([[0.9, 0.1, -0.5]]))
    assert torch.allclose(mse.sum(-1), torch.ones(1)) and mse[0, 2] == 0


def test_interpreter_lock_hand_over_is_restored():
    import sys
    import threading

    from layerloom.gui.training.views.gil import (
        DRAW_SWITCH_INTERVAL,
        RUN_SWITCH_INTERVAL,
        RunSwitchInterval,
        gui_first,
    )

    before = sys.getswitchinterval()
    during_run = RunSwitchInterval()
    during_run.start()
    try:
        assert sys.getswitchinterval() == pytest.approx(min(before, RUN_SWITCH_INTERVAL))
        with gui_first():
            assert sys.getswitchinterval() == pytest.approx(DRAW_SWITCH_INTERVAL)
        assert sys.getswitchinterval() == pytest.approx(min(before, RUN_SWITCH_INTERVAL))
        seen = []
        worker = threading.Thread(target=lambda: seen.append(gui_first().__enter__() or sys.getswitchinterval()))
        worker.start()
        worker.join()
        assert seen == [pytest.approx(min(before, RUN_SWITCH_INTERVAL))]  # only the GUI thread draws
    finally:
        during_run.stop()
    assert sys.getswitchinterval() == pytest.approx(before)


def test_frame_pacer_slows_the_plots_when_drawing_costs_too_much(monkeypatch):
    from layerloom.gui.training.views import gil

    class Timer:
        def __init__(self):
            self.ms = 0

        def interval(self):
            return self.ms

        def setInterval(self, ms):  # noqa: N802 (Qt's name)
            self.ms = ms

    clock = {"wall": 0.0, "cpu": 0.0}
    monkeypatch.setattr(gil.time, "monotonic", lambda: clock["wall"])
    monkeypatch.setattr(gil.time, "thread_time", lambda: clock["cpu"])
    pacer, timer = gil.FramePacer(100, 250, 0.08), Timer()
    pacer.reset(timer)
    assert timer.ms == 100

    def frames(n, cpu_per_frame):
        for _ in range(n):
            clock["wall"] += timer.ms / 1000
            clock["cpu"] += cpu_per_frame
            pacer.pace(timer)

    frames(30, 0.002)  # 2 ms a frame: 2 % of a core, well under budget
    assert timer.ms == 100
    frames(30, 0.020)  # 20 ms a frame: slows down to the slowest rate
    assert timer.ms == 250 and pacer.share > 0.08
    frames(60, 0.002)  # cheap again: back to 10 Hz
    assert timer.ms == 100
    frames(30, 0.020)
    assert timer.ms == 250
    pacer.reset(timer)  # a new run starts at the rate the last one settled at
    assert timer.ms == 250


def test_live_curves_draw_about_one_point_per_pixel_column(qtbot):
    from layerloom.gui.training.views.loss_view import LossView

    view = LossView()
    qtbot.addWidget(view)
    view.resize(900, 360)
    view.show()
    qtbot.waitExposed(view)
    x = np.arange(50_000, dtype=float)
    y = np.exp(-x / 9000) + 0.05 * np.random.default_rng(0).random(len(x))
    view.loss_plot.setDownsampling(auto=False)  # the plot's own setting must not undo the curves'
    view.raw.setData(x, y)
    view.smoothed.setData(x, smooth(y, 0.9))
    view.loss_plot.getViewBox().setRange(xRange=(0, 50_000), padding=0)
    qtbot.wait(50)
    columns = view.loss_plot.getViewBox().width()
    raw, smoothed = len(view.raw.curve.xData), len(view.smoothed.curve.xData)
    assert columns / 2 < raw < 2.5 * columns  # peaks: a low and a high per column
    assert columns / 8 < smoothed <= columns / 2  # the wide line: one mean per four columns
    view.loss_plot.getViewBox().setRange(xRange=(0, 5_000), padding=0)
    qtbot.wait(50)
    assert len(view.raw.curve.xData) < 2.5 * columns  # clipped to the view (5,000 steps of 50,000)


def test_x_views_grow_into_the_run_and_y_views_start_at_zero():
    from layerloom.gui.training.views.plot_style import x_view_end
    from layerloom.gui.training.views.series import from_zero

    assert x_view_end(0, 100, 10_000) == 200  # room to double into
    assert x_view_end(0, 2_000, 10_000) == 4_000
    assert x_view_end(0, 2_500, 10_000) == 10_000  # the whole run from a quarter of it
    assert x_view_end(0, 12_000, 10_000) == 12_000  # never cuts data off
    assert x_view_end(0, 100, None) == 100  # a run that has ended: its data
    assert from_zero((0.2, 2.3)) == (0.0, 2.3)
    assert from_zero((0.4, 0.9), top=1.0) == (0.0, 1.0)
    assert from_zero((-1.5, 0.9)) == (-1.5, 0.9) and from_zero(None) is None


def test_a_followed_run_moves_its_x_view_a_few_times_and_shows_it_whole_from_half_way(qtbot):
    from layerloom.gui.training.views import plot_style as ps

    widget = ps.graphics_widget()
    qtbot.addWidget(widget)
    plot = ps.style_plot(widget.addPlot())
    end, data = 10_000, {"hi": 0.0}
    follower = ps.RangeFollower(plot, lambda: ((1.0, data["hi"]), (0.0, 1.0)), x_end=lambda: end)
    moves, now = 0, 0.0
    for step in range(37, end + 1, 37):  # a run reported once a second
        data["hi"], now = float(step), now + 1.0
        moves += follower.update(now=now)
        x0, x1 = plot.getViewBox().viewRange()[0]
        assert x0 <= 1.0 and step <= x1  # the data is always in view
        if step >= end / 2:
            assert x1 >= end  # the whole run
    assert 3 <= moves <= 10  # doublings, not a move a second
