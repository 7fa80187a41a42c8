"""How long one refresh of the node-output preview takes, against plain PyTorch.

A refresh is what the Inside tab does off the GUI thread for each new copy of the
weights (:func:`layerloom.gui.training.views.inside_view.compute_preview`): load
the weights into its own model, run the view on one validation sample (one
forward pass that keeps every node's output) and draw the figure with Pillow.
Measured on the digits CNN template for each of its nodes, against a plain
PyTorch forward pass of the same model on the same sample in the same run.
Target: a refresh under 50 ms.

Then the canvas's output thumbnails (View ▸ Output Thumbnails): one refresh loads
the weights, runs one forward pass that keeps every node's output and draws every
node's picture (:func:`layerloom.gui.training.thumbnails.compute` off the GUI
thread), against the same plain forward pass; the GUI thread then only turns the
pictures into images.

Run: ``.venv/bin/python benchmarks/view_preview.py [--repeat N] [--width PX]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

TARGET_MS = 50.0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--width", type=int, default=900)
    parser.add_argument("--template", default="cnn_digits")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)

    import torch

    from layerloom.backend.compile import compile_graph
    from layerloom.backend.templates import load_template
    from layerloom.backend.training import DatasetSettings, prepare_data
    from layerloom.backend.views import VIEWS, ViewContext
    from layerloom.backend.views.render import render

    torch.set_num_threads(args.threads)
    graph = load_template(args.template)
    data = prepare_data(DatasetSettings.from_dict(graph.dataset), 0).val
    trained = compile_graph(graph, seed=1)
    state = {k: v.clone() for k, v in trained.state_dict().items()}
    model = compile_graph(graph, seed=0).eval()
    x = torch.as_tensor(data.x[:1])
    report = {"template": args.template, "threads": args.threads, "nodes": {}}
    nodes = [nid for nid in graph.analysis().order if not graph.node(nid).spec.is_input]
    for nid in nodes:
        plain, refresh, parts, _ = _time_refresh(
            model, x, state, args.repeat, ("weights", "view", "draw"),
            lambda i, nid=nid: VIEWS["activations"].compute(ViewContext(graph, model, data, nid, i % len(data))),
            lambda figure: render(figure, args.width, 260))
        median = statistics.median(refresh)
        row = {"refresh_ms": median, "plain_forward_ms": statistics.median(plain),
               "refresh_over_forward": median / statistics.median(plain),
               **{f"{k}_ms": statistics.median(v) for k, v in parts.items()}}
        report["nodes"][nid] = row
        verdict = "ok" if median < TARGET_MS else f"over the {TARGET_MS:.0f} ms target"
        print(f"{nid:>12}: refresh {median:6.1f} ms ({row['weights_ms']:.1f} weights, {row['view_ms']:.1f} "
              f"view, {row['draw_ms']:.1f} draw) = {row['refresh_over_forward']:5.0f}x a plain forward pass "
              f"({row['plain_forward_ms']:.2f} ms) · {verdict}", flush=True)
    worst = max(r["refresh_ms"] for r in report["nodes"].values())
    report["worst_refresh_ms"] = worst
    print(f"slowest refresh {worst:.1f} ms (target < {TARGET_MS:.0f} ms)")
    report["thumbnails"] = thumbnails = _thumbnails(graph, model, data, state, x, args.repeat)
    print(f"  thumbnails: every node ({thumbnails['nodes']}) in {thumbnails['refresh_ms']:.1f} ms "
          f"({thumbnails['weights_ms']:.1f} weights, {thumbnails['pass_ms']:.1f} pass, {thumbnails['draw_ms']:.1f} "
          f"draw) = {thumbnails['refresh_over_forward']:.0f}x a plain forward pass", flush=True)
    worst = max(worst, thumbnails["refresh_ms"])
    print(json.dumps(report, indent=1))
    return 0 if worst < TARGET_MS else 1


def _thumbnails(graph, model, data, state, x, repeat: int) -> dict:
    """One refresh of the canvas's thumbnails, as the app computes it off the GUI thread."""
    from layerloom.backend.views.thumbnails import node_thumbnails, picture

    def draw(result):
        for thumb in result.items.values():
            picture(thumb)

    plain, _, parts, result = _time_refresh(model, x, state, repeat, ("weights", "pass", "draw"),
                                            lambda i: node_thumbnails(graph, model, data, i % len(data)), draw)
    row = {f"{k}_ms": statistics.median(v) for k, v in parts.items()}
    row["refresh_ms"] = sum(row.values())
    row["plain_forward_ms"] = statistics.median(plain)
    row["refresh_over_forward"] = row["refresh_ms"] / row["plain_forward_ms"]
    row["nodes"] = len(result.items)
    return row


def _time_refresh(model, x, state, repeat, names, compute, draw):
    """Time ``repeat`` refreshes after 3 for warm-up, each against a plain forward pass
    of ``x``: load ``state``, ``result = compute(round)``, ``draw(result)``. Returns
    the plain passes' and the refreshes' times (ms), each part's times by ``names``
    (load, compute, draw) and the last result."""
    import torch

    plain, refresh, parts = [], [], {name: [] for name in names}
    for i in range(repeat + 3):
        t0 = time.perf_counter()
        with torch.no_grad():
            model(x)
        t1 = time.perf_counter()
        model.load_state_dict(state)
        t2 = time.perf_counter()
        result = compute(i)
        t3 = time.perf_counter()
        draw(result)
        t4 = time.perf_counter()
        if i >= 3:  # after the first-use costs
            plain.append(1000 * (t1 - t0))
            refresh.append(1000 * (t4 - t1))
            for name, value in zip(names, (t2 - t1, t3 - t2, t4 - t3), strict=True):
                parts[name].append(1000 * value)
    return plain, refresh, parts, result


if __name__ == "__main__":
    raise SystemExit(main())
