"""Graphs of nested, repeated blocks for the benchmarks (no Qt, no torch).

:func:`gpt_graph` builds a GPT-like graph whose blocks expand to about 3,000 nodes;
``benchmarks/editor_scale.py`` opens and edits it in the window.
"""

from __future__ import annotations

from layerloom.graph import Graph

GPT_DEPTHS = (16, 20, 24, 24, 20, 24, 20, 18)  # layers per stage: 166 layers of 18 nodes


def gpt_graph(depths: tuple[int, ...] = GPT_DEPTHS, width: int = 64, seq: int = 64,
              hidden: int = 256) -> Graph:
    """A GPT-like graph built of nested blocks that expands to about 3,000 nodes
    (for the default ``depths``).

    Definitions: ``mlp`` (LayerNorm, Dense ``hidden`` with GELU, Dropout, Dense back
    to ``width``), ``attention`` (LayerNorm, q/k/v Dense, causal scaled dot-product
    attention, projection), ``layer`` (attention and mlp, each with its residual
    Add) and ``stage`` (a ``layer`` node whose repeat is exposed as ``depth``). The
    top level chains one ``stage`` instance per entry of ``depths``, each keeping
    two fewer positions of the sequence than the last (a Slice between stages), so
    every stage's instances are inferred from inputs of their own; then a Dense head.
    """
    g = Graph()
    lib = g.blocks

    def body(name: str, *layers: tuple[str, dict]) -> tuple[Graph, str, list[str]]:
        b = lib.add(name).body
        prev = first = b.add_node("input", {}, (0.0, 0.0), label="x").id
        ids = []
        for i, (kind, params) in enumerate(layers):
            ids.append(b.add_node(kind, params, (240.0 * (i + 1), 0.0)).id)
            b.connect(prev, "out", ids[-1], "in")
            prev = ids[-1]
        return b, first, ids

    mlp, _, (_, up, _, _) = body("mlp", ("layer_norm", {}), ("dense", {"units": hidden, "activation": "gelu"}),
                                 ("dropout", {"p": 0.1}), ("dense", {"units": width}))
    out = mlp.add_node("output", {}, (1200.0, 0.0), label="y").id
    mlp.connect([n.id for n in mlp.nodes if n.type == "dense"][-1], "out", out, "in")

    att, x, (norm,) = body("attention", ("layer_norm", {}))
    sdpa = att.add_node("scaled_dot_product_attention", {"causal": True}, (720.0, 0.0)).id
    for row, port in enumerate(("q", "k", "v")):
        proj = att.add_node("dense", {"units": width}, (480.0, 160.0 * (row - 1))).id
        att.connect(norm, "out", proj, "in")
        att.connect(proj, "out", sdpa, port)
    proj = att.add_node("dense", {"units": width}, (960.0, 0.0)).id
    att.connect(sdpa, "out", proj, "in")
    out = att.add_node("output", {}, (1200.0, 0.0), label="y").id
    att.connect(proj, "out", out, "in")

    layer, x, _ = body("layer")
    prev = x
    for i, part in enumerate(("attention", "mlp")):
        inner = layer.add_node("block", {"block": part}, (240.0 + 480 * i, 0.0), node_id=part).id
        add = layer.add_node("add", {}, (480.0 + 480 * i, 0.0)).id
        layer.connect(prev, "out", inner, "x")
        layer.connect(prev, "out", add, "in1")
        layer.connect(inner, "y", add, "in2")
        prev = add
    out = layer.add_node("output", {}, (1200.0, 0.0), label="y").id
    layer.connect(prev, "out", out, "in")

    stage, x, _ = body("stage")
    layers = stage.add_node("block", {"block": "layer", "repeat": depths[0]}, (240.0, 0.0), node_id="layers").id
    stage.connect(x, "out", layers, "x")
    out = stage.add_node("output", {}, (480.0, 0.0), label="y").id
    stage.connect(layers, "y", out, "in")
    lib.expose("stage", "depth", layers, "repeat")

    prev = (g.add_node("input", {"shape": [seq, width]}, (0.0, 0.0)).id, "out")
    for i, depth in enumerate(depths):
        if i:
            cut = g.add_node("slice", {"dim": 1, "start": 0, "end": -2}, (480.0 * i - 240, 160.0)).id
            g.connect(*prev, cut, "in")
            prev = (cut, "out")
        node = g.add_node("block", {"block": "stage", "depth": depth}, (480.0 * i, 0.0), node_id=f"stage{i + 1}").id
        g.connect(*prev, node, "x")
        prev = (node, "y")
    head = g.add_node("dense", {"units": 10}, (480.0 * len(depths), 0.0)).id
    g.connect(*prev, head, "in")
    out = g.add_node("output", {}, (480.0 * len(depths) + 240, 0.0)).id
    g.connect(head, "out", out, "in")
    return g


def expanded_size(graph: Graph) -> int:
    """Nodes ``graph`` expands to: every block replaced by its inside, repeats included."""
    analysis = graph.analysis()
    size = 0
    for n in graph.nodes:
        if n.is_block:
            inst = graph.blocks.instance(n.params["block"], n.params, analysis.nodes[n.id].inputs)
            size += n.params["repeat"] * inst.size
        else:
            size += 1
    return size
