"""Training in the app versus headless: speed, GUI responsiveness, memory.

For each workload the same run (graph, data, settings, seed) trains

- headless: the backend ``Trainer`` alone, as ``layerloom train`` runs it;
- in the app: through the training dock of a shown window, with every plot live:
  the loss, metric and learning-rate plots, gradient badges on the canvas, and the
  tabs (weights, gradient flow, decision boundary, confusion matrix) brought on top
  in turn every two seconds, so that each is drawn live during the run, as a user
  looking around would see them (``--hidden-views`` also redraws the views of the
  tabs that are not on top, which the app does not do).

and the script reports the app's throughput as a share of headless (target
>= 90 %), the lateness of a 10 ms QTimer on the GUI thread during the app run
(target p99 <= 20 ms), and, for a long run, the process memory over time (target:
flat; curve histories are decimated). Runs alternate headless / app and the median
is reported, because the machine may be shared.

Run: ``QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/gui_training.py``
(``--quick`` for a short check, ``--long SECONDS`` for the memory run; ``--preview``
keeps the Inside tab's live node-output preview on top for the whole app run
instead of cycling the tabs; ``--thumbnails`` trains in the full main window with
View ▸ Output Thumbnails on, so every node card's thumbnail follows the weights live).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

WORKLOADS = {
    # name: (graph layers, dataset section, training section)
    "moons-mlp": (
        [("input", {"shape": [2]}), ("dense", {"units": 32, "activation": "relu"}),
         ("dense", {"units": 32, "activation": "relu"}), ("dense", {"units": 2}), ("output", {})],
        {"name": "moons", "options": {"n_samples": 4000, "noise": 0.2}, "val_split": 0.2},
        {"epochs": 250, "batch_size": 32, "lr": 0.01, "device": "cpu"},
    ),
    "digits-cnn": (
        [("input", {"shape": [1, 8, 8]}),
         ("conv2d", {"channels": 16, "kernel_size": 3, "padding": 1, "activation": "relu"}),
         ("max_pool2d", {"kernel_size": 2}), ("flatten", {}),
         ("dense", {"units": 64, "activation": "relu"}), ("dense", {"units": 10}), ("output", {})],
        {"name": "digits", "options": {}, "val_split": 0.2},
        {"epochs": 250, "batch_size": 32, "lr": 0.003, "device": "cpu"},
    ),
}


def build_graph(layers):
    from layerloom.graph import Graph

    g = Graph()
    prev = None
    for i, (type_id, params) in enumerate(layers):
        node = g.add_node(type_id, params, position=(i * 240.0, 0.0))
        if prev is not None:
            g.connect(prev, "out", node.id, "in")
        prev = node.id
    return g


def rss_mib() -> float:
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


# ------------------------------------------------------------------ headless
def headless(name: str, epochs: int | None = None) -> dict:
    from layerloom.backend.training import (
        DatasetSettings,
        EventQueue,
        Trainer,
        TrainSettings,
        prepare_data,
    )

    layers, dataset, training = WORKLOADS[name]
    graph = build_graph(layers)
    graph.set_settings("dataset", dataset)
    settings = TrainSettings.from_dict({**training, **({"epochs": epochs} if epochs else {})})
    data = prepare_data(DatasetSettings.from_dict(dataset), seed=settings.seed)
    events = EventQueue()
    trainer = Trainer(graph, data.train, data.val, settings, on_event=events, step_every=1)
    final = trainer.run()
    assert final.kind == "finished", final
    samples = len(data.train) * final.epochs
    return {"samples_per_s": samples / final.wall_time, "seconds": final.wall_time,
            "val_loss": final.metrics.get("val_loss")}


# ----------------------------------------------------------------------- app
class AppBench:
    """One shown window with a canvas and the training dock."""

    def __init__(self, thumbnails: bool = False):
        from PySide6.QtCore import Qt
        from PySide6.QtGui import QUndoStack
        from PySide6.QtWidgets import QApplication, QMainWindow

        from layerloom.graph import Graph
        from layerloom.gui.app import configure_application
        from layerloom.gui.canvas import GraphScene, GraphView
        from layerloom.gui.training import TrainingDock

        self.app = QApplication.instance() or QApplication(["bench"])
        configure_application(self.app)
        self.thumbnails = None
        if thumbnails:  # the real main window, its canvas showing every node's output live
            import tempfile

            from PySide6.QtCore import QSettings

            from layerloom.gui.main_window import MainWindow

            QSettings.setDefaultFormat(QSettings.Format.IniFormat)  # not the user's settings
            QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope,
                              tempfile.mkdtemp(prefix="layerloom-bench-"))

            self.window = MainWindow()
            self.window.resize(1400, 900)
            self.window.show()
            self.graph, self.scene, self.dock = self.window.graph, self.window.scene, self.window.training_dock
            self.thumbnails = self.window.output_thumbnails
            self.thumbnails.action.setChecked(True)
            self.window.view.set_zoom(1.0)
            self.dock.preload()
            self.cycle_tabs, self.preview, self.tab_seconds = True, False, 2.0
            return
        self.graph = Graph()
        self.stack = QUndoStack()
        self.window = QMainWindow()
        self.scene = GraphScene(self.graph, self.stack)
        self.window.setCentralWidget(GraphView(self.scene))
        self.dock = TrainingDock(self.graph, self.stack, self.scene)
        self.window.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.dock)
        self.window.resize(1400, 900)
        self.window.show()
        self.dock.preload()
        self.cycle_tabs = True
        self.preview = False  # keep the Inside tab (live node outputs) on top instead
        self.tab_seconds = 2.0  # how long each tab stays on top while tabs cycle

    def spin(self, seconds: float, until=None) -> None:
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            self.app.processEvents()
            if until is not None and until():
                return
            time.sleep(0.001)

    def run(self, name: str, epochs: int | None = None, memory_every: float = 0.0,
            stop_after: float | None = None) -> dict:
        """Train ``name`` in the dock (stopped after ``stop_after`` seconds if given),
        sampling the process memory every ``memory_every`` seconds."""
        from PySide6.QtCore import QEventLoop, Qt, QTimer

        layers, dataset, training = WORKLOADS[name]
        self.graph.replace_with(build_graph(layers))
        self.graph.set_settings("dataset", dataset)
        self.graph.set_settings("training", {**training, **({"epochs": epochs} if epochs else {})})
        self.spin(0.2)
        self.spin(60, lambda: self.dock.setup.dataset_for_run() is not None)
        ticks: list[float] = []
        timer = QTimer()
        timer.setTimerType(Qt.TimerType.PreciseTimer)
        timer.setInterval(10)
        timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
        memory: list[tuple[float, float]] = []
        run = self.dock.start()
        assert run is not None, self.dock.run_bar.message.text()
        if stop_after:
            QTimer.singleShot(int(stop_after * 1000), self.dock.stop)
        t0 = time.perf_counter()
        loop = QEventLoop()  # a real event loop, as in the app: idle until a timer or event
        self.dock.runFinished.connect(loop.quit)
        side = QTimer()
        side.setInterval(250)
        tabs = iter(range(10**9))
        next_tab = [0.0]

        def side_work() -> None:
            now = time.perf_counter() - t0
            if self.cycle_tabs and not self.preview and now >= next_tab[0]:  # every view gets painted live in turn
                next_tab[0] = now + self.tab_seconds
                self.dock.tabs.setCurrentIndex(next(tabs) % 4)
            if memory_every and (not memory or now - memory[-1][0] >= memory_every):
                memory.append((now, rss_mib()))

        side.timeout.connect(side_work)
        side.start()
        drawn_before = self.dock.inside_view.drawn
        thumbs_before = self.thumbnails.refreshes if self.thumbnails is not None else 0
        if self.preview:
            self.dock.tabs.setCurrentWidget(self.dock.inside_view)
        timer.start()
        cpu0 = time.thread_time()
        if self.dock.running:
            loop.exec()
        gui_cpu = time.thread_time() - cpu0
        gui_wall = time.perf_counter() - t0
        self.dock.runFinished.disconnect(loop.quit)
        side.stop()
        timer.stop()
        self.spin(0.3)
        assert run.status == ("stopped" if stop_after else "finished"), run.message
        late = [1000 * (b - a) - 10.0 for a, b in zip(ticks, ticks[1:], strict=False)]
        late.sort()
        wall = run.wall_time
        samples = run.data.train_size * run.epoch if not stop_after else run.step * run.started.batch_size
        return {
            "samples_per_s": samples / wall, "seconds": wall,
            "lateness_p50_ms": late[len(late) // 2] if late else None,
            "lateness_p99_ms": late[int(len(late) * 0.99)] if late else None,
            "lateness_max_ms": late[-1] if late else None,
            "gui_thread_busy": gui_cpu / gui_wall, "drain_ms": self.dock.drain_timer.interval(),
            "steps": run.step, "loss_points": len(run.loss), "loss_group": run.loss.group,
            "previews": self.dock.inside_view.drawn - drawn_before if self.preview else None,
            "thumbnail_refreshes": self.thumbnails.refreshes - thumbs_before if self.thumbnails is not None else None,
            "memory": memory,
        }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one round of short runs, first workload only")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--long", type=float, default=120.0, help="seconds of the memory run (0: skip)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the same for both)")
    parser.add_argument("--screenshots", metavar="DIR", help="only save screenshots of the dock mid-run")
    parser.add_argument("--epochs", type=int, help="epochs of each run (default: about 15 s of training "
                        "each; 50 for three-second runs, where the start of a run weighs more)")
    parser.add_argument("--preview", action="store_true",
                        help="keep the Inside tab's live preview (node outputs) on top during the app runs")
    parser.add_argument("--thumbnails", action="store_true",
                        help="train in the main window with View > Output Thumbnails on (live on every card)")
    parser.add_argument("--hidden-views", action="store_true",
                        help="also redraw the views of the tabs that are not on top")
    args = parser.parse_args(argv)
    if args.screenshots:
        return screenshots(args.screenshots)

    import torch

    torch.set_num_threads(args.threads)
    names = ["moons-mlp"] if args.quick else list(WORKLOADS)
    if args.quick and not args.epochs:
        args.epochs = 20
    rounds = 1 if args.quick else args.rounds
    bench = AppBench(thumbnails=args.thumbnails)
    bench.dock.refresh_hidden_views = args.hidden_views
    bench.preview = args.preview
    report = {"threads": args.threads, "cpus": os.cpu_count(), "load_average": os.getloadavg(),
              "workloads": {}}
    for name in names:
        headless(name, 5)  # warm-up: first-use costs of torch
        bench.run(name, 5)
        pairs = []
        for _ in range(rounds):
            h = headless(name, args.epochs)
            a = bench.run(name, args.epochs)
            pairs.append((h, a))
        ratios = [a["samples_per_s"] / h["samples_per_s"] for h, a in pairs]
        ratio = statistics.median(ratios)
        report["workloads"][name] = {
            "headless_samples_per_s": statistics.median(h["samples_per_s"] for h, _ in pairs),
            "app_samples_per_s": statistics.median(a["samples_per_s"] for _, a in pairs),
            "app_over_headless": ratio,
            "app_over_headless_each": ratios,
            "gui_thread_busy": statistics.median(a["gui_thread_busy"] for _, a in pairs),
            "lateness_p50_ms": statistics.median(a["lateness_p50_ms"] for _, a in pairs),
            "lateness_p99_ms": statistics.median(a["lateness_p99_ms"] for _, a in pairs),
            "lateness_max_ms": max(a["lateness_max_ms"] for _, a in pairs),
            "plot_period_ms": statistics.median(a["drain_ms"] for _, a in pairs),
        }
        print(f"{name}: app {ratio:.1%} of headless "
              f"({report['workloads'][name]['app_samples_per_s']:,.0f} vs "
              f"{report['workloads'][name]['headless_samples_per_s']:,.0f} samples/s); "
              f"timer lateness p99 {report['workloads'][name]['lateness_p99_ms']:.1f} ms; GUI thread busy "
              f"{report['workloads'][name]['gui_thread_busy']:.0%}; plots every "
              f"{report['workloads'][name]['plot_period_ms']:.0f} ms; "
              + (f"live previews drawn per run: {pairs[-1][1]['previews']}; " if args.preview else "")
              + (f"thumbnail refreshes per run: {pairs[-1][1]['thumbnail_refreshes']}; " if args.thumbnails else "")
              + "rounds: "
              + ", ".join(f"{r:.0%}" for r in ratios), flush=True)
    if args.long:
        long_run = _long_run(bench, 1_000_000, args.long)
        report["long_run"] = long_run
        print(f"long run: {long_run['steps']:,} steps in {long_run['seconds']:.0f} s; memory "
              f"{long_run['rss_start_mib']:.1f} -> {long_run['rss_end_mib']:.1f} MiB after the first "
              f"quarter ({long_run['growth_mib']:+.1f} MiB); loss curve {long_run['loss_points']} points "
              f"(each averages {long_run['loss_group']} steps)")
    print(json.dumps(report, indent=1, default=float))
    return 0


def _long_run(bench: AppBench, epochs: int, seconds: float) -> dict:
    """Train for ``seconds`` (then stop), sampling memory every half second."""
    result = bench.run("moons-mlp", epochs=epochs, memory_every=0.5, stop_after=seconds)
    memory = result["memory"]
    after_quarter = [m for t, m in memory if t >= seconds / 4]
    return {
        "seconds": result["seconds"], "steps": result["steps"],
        "rss_start_mib": after_quarter[0], "rss_end_mib": after_quarter[-1],
        "growth_mib": after_quarter[-1] - after_quarter[0], "rss_peak_mib": max(m for _, m in memory),
        "loss_points": result["loss_points"], "loss_group": result["loss_group"],
        "lateness_p99_ms": result["lateness_p99_ms"],
        "memory": [(round(t, 1), round(m, 1)) for t, m in memory[:: max(1, len(memory) // 12)]],
    }


def screenshots(folder: str) -> int:
    """Save the dock mid-run (loss, weights, gradients, boundary) and the window
    with the canvas badges, as small PNGs in ``folder``."""
    import tempfile
    from pathlib import Path

    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from layerloom.gui.app import configure_application
    from layerloom.resources import examples_dir

    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, tempfile.mkdtemp())
    app = QApplication.instance() or QApplication(["layerloom"])
    configure_application(app)
    from layerloom.gui.main_window import MainWindow

    window = MainWindow(recovery_dir=Path(tempfile.mkdtemp()))
    window.resize(1400, 940)
    window.show()
    window.document.open_copy(examples_dir() / "mlp_two_moons.loom")
    dock = window.training_dock
    dock.preload()
    window.resizeDocks([dock], [470], __import__("PySide6.QtCore").QtCore.Qt.Orientation.Vertical)
    window.graph.set_settings("training", {"epochs": 2000, "batch_size": 32, "lr": 0.01, "seed": 1})
    end = time.monotonic() + 30
    while dock.setup.dataset_for_run() is None and time.monotonic() < end:
        app.processEvents()
    window.view.fit_to_view()
    run = dock.start()
    window.scene.select_nodes(["dense_2"])  # the layer whose weights the Weights tab shows
    def enough() -> bool:  # curves and a weight history worth looking at
        history = run.hist.get("dense_2")
        return run.step >= 3000 and history is not None and len(history.steps) >= 24

    while not enough() and dock.running:
        app.processEvents()
        time.sleep(0.005)
    dock.pause()
    while run.status != "paused":
        app.processEvents()
    for _ in range(30):
        app.processEvents()
        time.sleep(0.02)
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    for index, name in ((0, "weights"), (1, "gradients"), (2, "boundary")):
        dock.tabs.setCurrentIndex(index)
        for _ in range(10):
            app.processEvents()
            time.sleep(0.02)
        dock.grab().save(str(out / f"training_{name}.png"))
    dock.tabs.setCurrentIndex(3)
    for _ in range(10):
        app.processEvents()
    dock.loss_view.grab().save(str(out / "training_loss.png"))
    window.palette_dock.hide()  # room for the canvas, to show the gradient badges
    window.inspector_dock.hide()
    for _ in range(10):
        app.processEvents()
    window.view.fit_to_view()
    for _ in range(10):
        app.processEvents()
    window.grab().save(str(out / "training_window.png"))
    dock.stop()
    while dock.running:
        app.processEvents()
    window.ask_save_discard_cancel = lambda: "discard"
    window.close()
    print("saved", ", ".join(sorted(p.name for p in out.glob("training_*.png"))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
