"""The character-level GPT template, built with a block.

``gpt_chars`` is a decoder-only transformer on the locally generated ``text``
corpus: token embedding plus learned positions, one instance of the block
``gpt_block`` repeated :data:`LAYERS` times (each copy with its own weights), a
final LayerNorm and a Dense layer to the character vocabulary. The block is a
pre-norm transformer layer whose self-attention is causal (the attention node's
``causal`` option), so the prediction at position t reads only characters 0..t,
which is what lets the trained model generate text one character at a time.
"""

from __future__ import annotations

from benchmarks.template_parts import finish
from layerloom.backend.datasets.text_corpus import VOCABULARY
from layerloom.graph import Graph
from layerloom.graph.layout import auto_layout
from layerloom.graph.registry import BLOCK_TYPE

CONTEXT = 32  # characters the model sees (the dataset's length option)
WIDTH = 64
HEADS = 4
LAYERS = 2
FF_WIDTH = 4 * WIDTH
BLOCK = "gpt_block"

TEXT_DATA = {"name": "text", "options": {"length": CONTEXT, "n_samples": 3000, "seed": 0},
             "normalise": "none", "val_split": 0.2}
GPT_TRAINING = {"optimizer": "adamw", "lr": 0.003, "epochs": 12, "batch_size": 32,
                "weight_decay": 0.01}


def add_causal_block(graph: Graph, name: str = BLOCK, width: int = WIDTH, heads: int = HEADS,
                     ff_width: int = FF_WIDTH) -> None:
    """Define ``name`` in ``graph``: a pre-norm transformer layer with causal
    self-attention, ``(T, width) -> (T, width)``, its feed-forward width exposed
    as the block parameter ``ff_width``."""
    body = graph.blocks.add(name).body
    head_dim = width // heads

    def node(node_id: str, type_id: str, params: dict | None = None, label: str = "") -> str:
        return body.add_node(type_id, params or {}, label=label, node_id=node_id).id

    def wire(source: str, target: str, source_port: str = "out", target_port: str = "in") -> None:
        body.connect(source, source_port, target, target_port)

    node("x", "input", {"shape": [CONTEXT, width], "dtype": "float"}, "x")
    node("norm_1", "layer_norm", {}, "Norm 1")
    node("qkv", "dense", {"units": 3 * width}, "q, k, v")
    node("split_heads", "reshape", {"shape": [-1, 3, heads, head_dim]}, f"Split into {heads} heads")
    node("heads_first", "permute", {"dims": [2, 3, 1, 4]}, "Heads first")
    node("q_k_v", "chunk", {"chunks": 3, "dim": 1}, "q | k | v")
    for part in ("q", "k", "v"):
        node(part, "squeeze", {"dim": 1}, part)
    node("attention", "scaled_dot_product_attention", {"causal": True},
         "Causal attention")
    node("positions_first", "transpose", {"dim0": 1, "dim1": 2}, "Positions first")
    node("merge_heads", "flatten_dims", {"start_dim": 2, "end_dim": 3}, "Merge heads")
    node("out_proj", "dense", {"units": width}, "Attention output")
    node("add_1", "add", {"inputs": 2}, "Residual 1")
    node("norm_2", "layer_norm", {}, "Norm 2")
    node("ff_1", "dense", {"units": ff_width, "activation": "gelu"}, "Feed-forward GELU")
    node("ff_2", "dense", {"units": width}, "Feed-forward back")
    node("add_2", "add", {"inputs": 2}, "Residual 2")
    node("y", "output", {}, "y")
    for source, target in (("x", "norm_1"), ("norm_1", "qkv"), ("qkv", "split_heads"),
                           ("split_heads", "heads_first"), ("heads_first", "q_k_v"),
                           ("attention", "positions_first"), ("positions_first", "merge_heads"),
                           ("merge_heads", "out_proj"), ("add_1", "norm_2"), ("norm_2", "ff_1"),
                           ("ff_1", "ff_2"), ("add_2", "y")):
        wire(source, target)
    for i, part in enumerate(("q", "k", "v"), start=1):
        wire("q_k_v", part, source_port=f"out{i}")
        wire(part, "attention", target_port=part)
    wire("x", "add_1", target_port="in1")
    wire("out_proj", "add_1", target_port="in2")
    wire("add_1", "add_2", target_port="in1")
    wire("ff_2", "add_2", target_port="in2")
    graph.blocks.expose(name, "ff_width", "ff_1", "units")
    auto_layout(body)


def gpt_chars() -> Graph:

    graph = Graph()
    add_causal_block(graph)
    vocab = len(VOCABULARY)
    steps = [
        ("input", {"shape": [CONTEXT], "dtype": "long"}, f"Characters ({CONTEXT})"),
        ("embedding", {"num_embeddings": vocab, "embedding_dim": WIDTH}, "Character embedding"),
        ("positional_encoding", {"kind": "learned", "max_len": CONTEXT, "dropout": 0.0},
         "Learned positions"),
        (BLOCK_TYPE, {"block": BLOCK, "repeat": LAYERS}, f"Transformer blocks (x{LAYERS})"),
        ("layer_norm", {}, "Final norm"),
        ("dense", {"units": vocab}, "Next-character scores"),
        ("output", {}, "Prediction"),
    ]
    source = None
    for type_id, params, label in steps:
        node = graph.add_node(type_id, params, label=label)
        if source is not None:
            graph.connect(source, "out" if graph.node(source).type != BLOCK_TYPE else "y",
                          node.id, "in" if type_id != BLOCK_TYPE else "x")
        source = node.id
    return finish(graph, {
        "title": "Character-level GPT that writes sentences",
        "group": "Architectures",
        "description": (
            "A small decoder-only transformer (the GPT recipe) learns to continue text one "
            "character at a time. The corpus is generated locally from a little English grammar "
            f"(\"the old fox chased a red ball near the river.\"); each sample is a window of "
            f"{CONTEXT} characters and the target at every position is the next character. "
            f"Characters are embedded, learned position vectors are added, and one block node, "
            f"'{BLOCK}' repeated {LAYERS} times, holds the transformer layers: double-click it to "
            "see a layer written out, with the attention node's causal option set so position t "
            "reads only characters 0..t. Read the accuracy curve (next character, per position; "
            "guessing the commonest character scores about 19%) and then open Try it: type a "
            "prompt and press Generate to sample text. Try a lower temperature for safer "
            "text, a repeat of 1, or untick causal inside the block: accuracy climbs to about "
            "98% because every position can read the character it should predict, and the "
            "model is useless for generating."
        ),
        "expected": "val accuracy >= 70%",
    }, TEXT_DATA, GPT_TRAINING)


TEMPLATES = {"gpt_chars": gpt_chars}
