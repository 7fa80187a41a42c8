"""Does a compiled graph train as fast as the same model written by hand?

For an MLP, a CNN, an LSTM classifier, a Transformer-encoder classifier and a
GPT-style attention block written with tensor operations (split q/k/v, heads,
matmul, scale, causal masked_fill, softmax, matmul, projection), one
training step (forward, loss, backward) of the compiled graph is timed against the
hand-written module with the same weights, in the same run and interleaved (hand,
compiled, compiled, hand, ...) so that both see the same machine load. Each round
gives one paired ratio hand-written time / compiled time; the median ratio is
printed with the median step times. The target is >= 0.98 (the compiled model
is at most 2 % slower). On a shared machine use more rounds: the pairs cancel
slow drifts in load, the median the bursts.

Run: ``python benchmarks/compile_overhead.py [--rounds N] [--steps N] [--threads N]
[--clock wall|cpu]``.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from layerloom.backend.compile import compile_graph  # noqa: E402
from layerloom.graph import REGISTRY, Graph  # noqa: E402

TARGET = 0.98
BATCH = 64


def chain(shape, layers, dtype="float") -> Graph:
    """Input(shape) -> layers -> Output, through the public Graph API."""
    g = Graph()
    prev = g.add_node("input", {"shape": list(shape), "dtype": dtype}).id
    for type_id, params in layers:
        node = g.add_node(type_id, params).id
        g.connect(prev, "out", node, "in")
        prev = node
    g.connect(prev, "out", g.add_node("output").id, "in")
    return g


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2, self.fc3 = nn.Linear(784, 256), nn.Linear(256, 256), nn.Linear(256, 10)

    def forward(self, x):
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))


class CNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(1, 16, 3, padding=1), nn.Conv2d(16, 32, 3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.bn = nn.BatchNorm2d(32)
        self.fc = nn.Linear(32 * 7 * 7, 10)

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(self.bn(F.relu(self.conv2(x))))
        return self.fc(torch.flatten(x, 1))


class LSTMClassifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(1000, 64)
        self.lstm = nn.LSTM(64, 128, batch_first=True)
        self.fc = nn.Linear(128, 10)

    def forward(self, tokens):
        output, _ = self.lstm(self.embed(tokens))
        return self.fc(output[:, -1])


class TransformerClassifier(nn.Module):
    def __init__(self, d_model=64, max_len=64):
        super().__init__()
        self.embed = nn.Embedding(1000, d_model)
        position = torch.arange(max_len, dtype=torch.float64).unsqueeze(1)
        rate = torch.pow(10000.0, -torch.arange(0, d_model, 2, dtype=torch.float64) / d_model)
        pe = torch.zeros(max_len, d_model, dtype=torch.float64)
        pe[:, 0::2], pe[:, 1::2] = torch.sin(position * rate), torch.cos(position * rate)
        self.register_buffer("pe", pe.float(), persistent=False)
        self.drop = nn.Dropout(0.1)
        self.encoder = nn.TransformerEncoderLayer(d_model, 4, 256, dropout=0.1, batch_first=True)
        self.fc = nn.Linear(32 * d_model, 10)

    def forward(self, tokens):
        x = self.embed(tokens)
        x = self.encoder(self.drop(x + self.pe[: x.size(1)]))
        return self.fc(torch.flatten(x, 1))


class GPTAttention(nn.Module):
    """Causal self-attention as GPT code writes it, then a classifier head."""

    def __init__(self, embed=64, heads=4, seq=32):
        super().__init__()
        self.heads = heads
        self.embed = nn.Embedding(1000, embed)
        self.qkv = nn.Linear(embed, 3 * embed)
        self.proj = nn.Linear(embed, embed)
        self.fc = nn.Linear(seq * embed, 10)
        self.register_buffer("mask", torch.ones(seq, seq, dtype=torch.bool).triu(1), persistent=False)

    def forward(self, tokens):
        x = self.embed(tokens)
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)
        q = q.reshape(B, T, self.heads, C // self.heads).transpose(1, 2)
        k = k.reshape(B, T, self.heads, C // self.heads).transpose(1, 2)
        v = v.reshape(B, T, self.heads, C // self.heads).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) / math.sqrt(C // self.heads)
        att = att.masked_fill(self.mask[:T, :T], float("-inf"))
        y = (F.softmax(att, dim=-1) @ v).transpose(1, 2).reshape(B, T, C)
        return self.fc(torch.flatten(self.proj(y), 1))


def gpt_attention_graph(embed=64, heads=4, seq=32) -> Graph:
    """The same block from LayerLoom's Math and Tensor layers."""
    g = Graph()
    width = embed // heads

    def node(type_id, params, *sources):
        made = g.add_node(type_id, params).id
        ports = g.node(made).input_ports()
        for port, (source, out) in zip(ports, sources, strict=True):
            g.connect(source, out, made, port)
        return made

    def heads_of(source, port):
        split = node("reshape", {"shape": [seq, heads, width]}, (source, port))
        return node("transpose", {"dim0": 1, "dim1": 2}, (split, "out"))

    tokens = node("input", {"shape": [seq], "dtype": "long"})
    x = node("embedding", {"num_embeddings": 1000, "embedding_dim": embed}, (tokens, "out"))
    qkv = node("dense", {"units": 3 * embed}, (x, "out"))
    parts = node("split", {"sizes": [embed] * 3, "dim": -1}, (qkv, "out"))
    q, k, v = (heads_of(parts, f"out{i}") for i in (1, 2, 3))
    keys = node("transpose", {"dim0": -2, "dim1": -1}, (k, "out"))
    scores = node("matmul", {}, (q, "out"), (keys, "out"))
    scaled = node("divide_constant", {"value": math.sqrt(width)}, (scores, "out"))
    masked = node("masked_fill", {"mask": "causal", "fill": "-inf"}, (scaled, "out"))
    weights = node("softmax", {"dim": -1}, (masked, "out"))
    mixed = node("matmul", {}, (weights, "out"), (v, "out"))
    merged = node("transpose", {"dim0": 1, "dim1": 2}, (mixed, "out"))
    y = node("reshape", {"shape": [seq, embed]}, (merged, "out"))
    projected = node("dense", {"units": embed}, (y, "out"))
    flat = node("flatten", {}, (projected, "out"))
    head = node("dense", {"units": 10}, (flat, "out"))
    node("output", {}, (head, "out"))
    return g


# Layer types a case needs beyond the first ones (it is skipped until they exist).
NEEDS = {"GPT attention": ("split", "transpose", "matmul", "masked_fill")}

CASES = {
    "MLP": (MLP, chain((784,), [("dense", {"units": 256, "activation": "relu"}),
                                ("dense", {"units": 256, "activation": "relu"}),
                                ("dense", {"units": 10})]),
            lambda: torch.randn(BATCH, 784)),
    "CNN": (CNN, chain((1, 28, 28), [
        ("conv2d", {"channels": 16, "kernel_size": 3, "padding": 1, "activation": "relu"}),
        ("max_pool2d", {}),
        ("conv2d", {"channels": 32, "kernel_size": 3, "padding": 1, "activation": "relu"}),
        ("batch_norm", {}), ("max_pool2d", {}), ("flatten", {}), ("dense", {"units": 10}),
    ]), lambda: torch.randn(BATCH, 1, 28, 28)),
    "LSTM": (LSTMClassifier, chain((32,), [
        ("embedding", {"num_embeddings": 1000, "embedding_dim": 64}),
        ("lstm", {"hidden_size": 128, "return_sequences": False}), ("dense", {"units": 10}),
    ], dtype="long"), lambda: torch.randint(0, 1000, (BATCH, 32))),
    "Transformer": (TransformerClassifier, chain((32,), [
        ("embedding", {"num_embeddings": 1000, "embedding_dim": 64}),
        ("positional_encoding", {"max_len": 64, "dropout": 0.1}),
        ("transformer_encoder_layer", {"nhead": 4, "dim_feedforward": 256, "dropout": 0.1}),
        ("flatten", {}), ("dense", {"units": 10}),
    ], dtype="long"), lambda: torch.randint(0, 1000, (BATCH, 32))),
    "GPT attention": (GPTAttention, gpt_attention_graph, lambda: torch.randint(0, 1000, (BATCH, 32))),
}


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}
clock = time.perf_counter


def step_time(model: nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int) -> float:
    """Seconds per training step (forward, loss, backward, zeroed gradients)."""
    start = clock()
    for _ in range(steps):
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        model.zero_grad(set_to_none=True)
    return (clock() - start) / steps


def measure(name: str, rounds: int, steps: int) -> tuple[float, float, float]:
    """Median hand-written and compiled step times and the median paired ratio."""
    hand_cls, graph, make_input = CASES[name]
    graph = graph() if callable(graph) else graph
    torch.manual_seed(0)
    hand = hand_cls()
    compiled = compile_graph(graph, seed=0)
    source, target = hand.state_dict(), compiled.state_dict()
    assert [t.shape for t in source.values()] == [t.shape for t in target.values()], name
    compiled.load_state_dict(dict(zip(target, source.values(), strict=True)))
    hand.train()
    compiled.train()
    x, y = make_input(), torch.randint(0, 10, (BATCH,))
    for model in (hand, compiled):  # warm-up: allocator, kernels, caches
        step_time(model, x, y, 3)
    hand_times, compiled_times = [], []
    for i in range(rounds):
        order = [(hand, hand_times), (compiled, compiled_times)]
        for model, times in order if i % 2 == 0 else reversed(order):
            times.append(step_time(model, x, y, steps))
    ratios = [h / c for h, c in zip(hand_times, compiled_times, strict=True)]
    return statistics.median(hand_times), statistics.median(compiled_times), statistics.median(ratios)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15, help="interleaved rounds per model")
    parser.add_argument("--steps", type=int, default=5, help="training steps per round")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's)")
    parser.add_argument("--clock", choices=list(CLOCKS), default="wall",
                        help="wall time, or this process's CPU time (steadier on a busy machine)")
    args = parser.parse_args(argv)
    global clock
    clock = CLOCKS[args.clock]
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {BATCH}, "
          f"{args.clock} clock, {args.rounds} rounds of {args.steps} steps")
    print(f"{'model':<14} {'hand-written':>13} {'compiled':>10} {'ratio':>7}  target >= {TARGET}")
    worst = float("inf")
    for name in CASES:
        missing = [t for t in NEEDS.get(name, ()) if t not in REGISTRY]
        if missing:
            print(f"{name:<14} skipped: needs the layer types {', '.join(missing)}")
            continue
        hand, compiled, ratio = measure(name, args.rounds, args.steps)
        worst = min(worst, ratio)
        print(f"{name:<14} {hand * 1e3:>10.2f} ms {compiled * 1e3:>7.2f} ms {ratio:>7.3f}"
              f"  {'ok' if ratio >= TARGET else 'below target'}")
    print(f"lowest ratio: {worst:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
