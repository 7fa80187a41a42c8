"""The ``attention`` view: where each head of an attention node looks, for one sample.

One heat map per head: a row per query position, a column per key position,
each row summing to 1; the tokens label both axes where the input is tokens
(characters for text). A node that computes attention more than once (a block
repeated, a layer with self- and cross-attention) has its computations numbered;
``layer`` picks one (default the first). The weights come from
:func:`~layerloom.backend.views.capture.record`, which finds attention whatever
layer computes it.
"""

from __future__ import annotations

from layerloom.backend.views.base import (
    SAMPLE_NEEDS,
    Figure,
    Heatmap,
    NotApplicable,
    View,
    ViewContext,
    register,
)
from layerloom.backend.views.common import token_labels

MAX_HEADS = 8
ATTENTION_TYPES = ("multi_head_attention", "transformer_encoder_layer", "transformer_decoder_layer",
                   "transformer", "scaled_dot_product_attention")


def might_attend(graph, nid: str) -> bool:
    """Whether the node may compute attention (the app offers the view there):
    an attention layer, or a block (whose inside may)."""
    node = graph.node(nid)
    return node.type in ATTENTION_TYPES or node.is_block


def compute(ctx: ViewContext) -> Figure:
    from layerloom.backend.views.capture import record

    model, data = ctx.need_model("attention"), ctx.need_data("attention")
    x, _, name = ctx.chosen_sample()
    recording = record(model, ctx.graph, x, attention=True)
    found = [nid for nid in ctx.graph.analysis().order if recording.attention.get(nid)]
    if not found:
        raise NotApplicable("The attention view needs a node that computes attention (Multi-head attention, "
                            "a Transformer layer, or a block with one); this model computes none")
    nid = ctx.node if ctx.node is not None else found[0]
    if not ctx.graph.has_node(nid):
        raise NotApplicable(f"no node {nid!r} in the graph; the attention nodes are "
                            f"{', '.join(found)}")
    node = ctx.graph.node(nid)
    if nid not in found:
        names = ", ".join(f"{ctx.title(n)} ({n})" for n in found)
        raise NotApplicable(f"{node.title} computes no attention; the nodes that do: {names}")
    computed = recording.attention[nid]
    layer = int(ctx.options.get("layer") or 0)
    if not 0 <= layer < len(computed):
        raise NotApplicable(f"{node.title} computes attention {len(computed)} time(s): layer is 0 to "
                            f"{len(computed) - 1}; got {layer}")
    weights = computed[layer]  # (heads, T, S)
    heads, t, s = weights.shape
    tokens = token_labels(data, x[0])
    rows = tokens if tokens is not None and len(tokens) == t else [str(k) for k in range(t)]
    cols = tokens if tokens is not None and len(tokens) == s else [str(k) for k in range(s)]
    head = ctx.options.get("head")
    picked = [int(head)] if head is not None else list(range(min(heads, MAX_HEADS)))
    if any(not 0 <= h < heads for h in picked):
        raise NotApplicable(f"{node.title} has heads 0 to {heads - 1}; got head {head}")
    panels = [Heatmap(f"Head {h}", weights[h], rows, cols, "query (attends from)", "key (attends to)")
              for h in picked]
    which = f" (attention {layer + 1} of {len(computed)})" if len(computed) > 1 else ""
    text = data.tokens_text(x[0]) if data.input_dtype == "long" else name
    note = (f"{heads} head(s) · {t} queries x {s} keys · each row sums to 1 · bright: where that position "
            f"looks · input {text}")
    return Figure(f"{node.title}: attention weights{which}", panels, note, columns=min(4, len(panels)),
                  data={"weights": weights, "found": found})


register(View(
    "attention", "Attention",
    "each head's attention weights for one validation sample, as a heat map over positions",
    compute, needs=SAMPLE_NEEDS, applies=might_attend,
    options={"head": (int, None, "draw this head only (default: every head, up to 8)"),
             "layer": (int, 0, "which attention of the node, where it computes several (a repeated block)")},
    order=30,
))
