"""The editor at scale: open a 300-node graph, lay it out, render it, edit it.

Targets (issue "main window"): opening a 300-node file, inferring its shapes,
laying it out and rendering it takes < 1 s; one parameter edit in the inspector
(undo command, re-inference, canvas, inspector and status bar updates, repaint)
takes < 20 ms. Two edits are timed: a local one (a Dropout's p: one node's text
changes) and one that changes the shape seen by every later layer (the first
Dense's units in a residual chain: about 300 nodes change on the canvas). Runs
off screen; prints each phase and its ratio to the target.

Run: ``python benchmarks/editor_scale.py [--edits N]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QSettings  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from layerloom.graph import Graph, load_graph, save_graph  # noqa: E402
from layerloom.graph.inference import analyse  # noqa: E402

OPEN_TARGET = 1.0
EDIT_TARGET = 0.020


def residual_graph(blocks: int = 99) -> Graph:
    """Input, ``blocks`` x (Dense, Dropout, residual Add), a last Dense, Output:
    3 * blocks + 3 nodes (300 for 99 blocks), all at the origin (unlaid)."""
    g = Graph()
    prev = g.add_node("input", {"shape": [64]}).id
    for _ in range(blocks):
        dense = g.add_node("dense", {"units": 64, "activation": "relu"}).id
        g.connect(prev, "out", dense, "in")
        drop = g.add_node("dropout", {"p": 0.1}).id
        g.connect(dense, "out", drop, "in")
        add = g.add_node("add").id
        g.connect(prev, "out", add, "in1")
        g.connect(drop, "out", add, "in2")
        prev = add
    head = g.add_node("dense", {"units": 10}).id
    g.connect(prev, "out", head, "in")
    out = g.add_node("output").id
    g.connect(head, "out", out, "in")
    return g


def settle(app: QApplication) -> None:
    for _ in range(3):
        app.processEvents()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edits", type=int, default=40, help="parameter edits to time (median)")
    args = parser.parse_args(argv)

    scratch = Path(tempfile.mkdtemp(prefix="layerloom-bench-"))
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(scratch))
    app = QApplication.instance() or QApplication(["layerloom"])
    from layerloom.gui.app import configure_application
    from layerloom.gui.main_window import MainWindow

    configure_application(app)
    path = scratch / "big.loom"
    graph = residual_graph()
    save_graph(graph, path)
    window = MainWindow()
    window.resize(1280, 800)
    window.show()
    settle(app)
    window.view.viewport().repaint()  # warm fonts and style caches on the empty canvas

    t0 = time.perf_counter()
    window.load(path)
    settle(app)
    t1 = time.perf_counter()
    window.auto_layout()
    settle(app)
    t2 = time.perf_counter()
    window.view.viewport().repaint()
    t3 = time.perf_counter()
    total = t3 - t0

    read = min(_timed(load_graph, path) for _ in range(5))
    infer = min(_timed(analyse, window.graph) for _ in range(5))

    parts = {"canvas": 0.0, "panels": 0.0}
    _clock(window.scene, "refresh_analysis", parts, "canvas")
    _clock(window.inspector, "refresh", parts, "panels")
    _clock(window.graph_status, "refresh", parts, "panels")
    middle = [n.id for n in window.graph.nodes if n.type == "dropout"][len(window.graph) // 6]
    first_dense = next(n.id for n in window.graph.nodes if n.type == "dense")
    # A local edit (one node's text changes) and one that changes the shape seen by
    # every layer after it (the residual Adds then disagree all the way down).
    edits = {
        "local edit (Dropout p)": (middle, "p", (0.2, 0.3)),
        "edit that changes all shapes downstream": (first_dense, "units", (48, 64)),
    }
    results = {}
    for title, (node_id, name, values) in edits.items():
        window.scene.select_nodes([node_id])
        settle(app)
        parts["canvas"] = parts["panels"] = 0.0
        times = []
        for i in range(args.edits):
            start = time.perf_counter()
            window.inspector.apply(name, values[i % 2])
            app.processEvents()
            window.view.viewport().repaint()
            times.append(time.perf_counter() - start)
        results[title] = (statistics.median(times), max(times), parts["canvas"] / args.edits,
                          parts["panels"] / args.edits)
    assert window.undo_stack.count() == 1 + 2 * args.edits, "every edit is one undo step"
    edit = results["local edit (Dropout p)"][0]

    print(f"graph: {len(window.graph)} nodes, {len(window.graph.edges)} edges")
    print(f"open (read, build, canvas items, inference): {(t1 - t0) * 1000:7.1f} ms")
    print(f"  of which reading the file:                {read * 1000:7.1f} ms")
    print(f"  of which shape inference:                 {infer * 1000:7.1f} ms")
    print(f"auto-layout (one undo command):             {(t2 - t1) * 1000:7.1f} ms")
    print(f"first render of the whole graph:            {(t3 - t2) * 1000:7.1f} ms")
    print(f"open + infer + lay out + render:            {total * 1000:7.1f} ms   "
          f"target < {OPEN_TARGET * 1000:.0f} ms  ({total / OPEN_TARGET:.2f} of target)")
    for title, (median, worst, canvas, panels) in results.items():
        print(f"{title} (median of {args.edits}): {median * 1000:7.1f} ms   "
              f"target < {EDIT_TARGET * 1000:.0f} ms   ({median / EDIT_TARGET:.2f} of target)   "
              f"worst {worst * 1000:.1f} ms")
        print(f"  of which canvas refresh (mean):            {canvas * 1000:7.1f} ms")
        print(f"  of which inspector + status bar (mean):    {panels * 1000:7.1f} ms")
    for name, value, target in (("open", total, OPEN_TARGET), ("local edit", edit, EDIT_TARGET)):
        print(f"{name}: {'target met' if value < target else 'TARGET MISSED'}")
    window.document.undo_stack.setClean()
    window.close()
    return 0


def _clock(obj, name: str, totals: dict[str, float], key: str) -> None:
    """Wrap ``obj.name`` so that its run time adds up in ``totals[key]``."""
    original = getattr(obj, name)

    def timed(*args, **kwargs):
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            totals[key] += time.perf_counter() - start

    setattr(obj, name, timed)


def _timed(fn, *args) -> float:
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


if __name__ == "__main__":
    sys.exit(main())
