"""Whole-graph shape inference and auto-layout on a 300-node graph.

Target (foundation issue): inference well under 20 ms. Prints the best of several
runs; run with `.venv/bin/python benchmarks/graph_inference.py`.
"""

from __future__ import annotations

import time

from layerloom.graph import Graph, layered_positions
from layerloom.graph.inference import analyse


def residual_mlp(blocks: int = 149) -> Graph:
    """Input, ``blocks`` x (Dense + residual Add), Output: 2 * blocks + 2 nodes."""
    g = Graph()
    prev = g.add_node("input", {"shape": [64]}).id
    for _ in range(blocks):
        d = g.add_node("dense", {"units": 64}).id
        g.connect(prev, "out", d, "in")
        a = g.add_node("add").id
        g.connect(prev, "out", a, "in1")
        g.connect(d, "out", a, "in2")
        prev = a
    out = g.add_node("output").id
    g.connect(prev, "out", out, "in")
    return g


def best_of(fn, *args, repeat: int = 20) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    g = residual_mlp()
    inference = best_of(analyse, g)
    layout = best_of(layered_positions, g)
    print(f"{len(g)} nodes, {len(g.edges)} edges")
    print(f"shape inference: {inference * 1000:.2f} ms (target < 20 ms)")
    print(f"auto-layout:     {layout * 1000:.2f} ms")


if __name__ == "__main__":
    main()
