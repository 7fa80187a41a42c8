"""Compiled graphs equal hand-written PyTorch models.

Each case builds a graph through the public Graph API and writes the same network
by hand, as a user would in plain PyTorch. After copying the weights (in
state_dict order, shape by shape) both must have the same parameter count, give
the same outputs (eval mode, max abs diff <= 1e-6) and the same gradients.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from layerloom.backend.compile import compile_graph
from tests.backend.helpers import Builder, layer, sequential


# ------------------------------------------------------------ hand-written
class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(20, 32)
        self.drop = nn.Dropout(0.3)
        self.fc2 = nn.Linear(32, 16)
        self.fc3 = nn.Linear(16, 4)

    def forward(self, x):
        x = self.drop(F.relu(self.fc1(x)))
        return self.fc3(torch.tanh(self.fc2(x)))


class LeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5, padding=2)
        self.pool1 = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.pool2 = nn.AvgPool2d(2)
        self.fc1 = nn.Linear(16 * 2 * 2, 32)
        self.fc2 = nn.Linear(32, 10)

    def forward(self, x):
        x = self.pool1(F.relu(self.conv1(x)))
        x = self.pool2(F.relu(self.conv2(x)))
        return self.fc2(F.relu(self.fc1(torch.flatten(x, 1))))


class ResidualBlock(nn.Module):
    def __init__(self, channels=4, classes=3):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.fc = nn.Linear(channels, classes)

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        y = F.relu(y + x)
        return self.fc(y.mean(dim=(2, 3)))


class LSTMClassifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(20, 8)
        self.lstm = nn.LSTM(8, 16, batch_first=True)
        self.fc = nn.Linear(16, 3)

    def forward(self, tokens):
        _, (h, _) = self.lstm(self.embed(tokens))
        return self.fc(h[-1])


class BiGRU(nn.Module):
    def __init__(self):
        super().__init__()
        self.gru = nn.GRU(5, 8, num_layers=2, batch_first=True, bidirectional=True)
        self.fc = nn.Linear(16, 2)

    def forward(self, x):
        _, h = self.gru(x)
        return self.fc(torch.cat((h[-2], h[-1]), dim=1))


class SinusoidalEncoding(nn.Module):
    def __init__(self, d_model, max_len, dropout):
        super().__init__()
        position = torch.arange(max_len, dtype=torch.float64).unsqueeze(1)
        rate = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float64) * (-math.log(10000.0) / d_model))
        pe = torch.zeros(max_len, d_model, dtype=torch.float64)
        pe[:, 0::2] = torch.sin(position * rate)
        pe[:, 1::2] = torch.cos(position * rate)
        self.register_buffer("pe", pe.float(), persistent=False)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        return self.dropout(x + self.pe[: x.size(1)])


class TransformerClassifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(20, 16)
        self.position = SinusoidalEncoding(16, 32, 0.1)
        self.encoder = nn.TransformerEncoderLayer(16, 2, dim_feedforward=32, dropout=0.1, batch_first=True)
        self.fc = nn.Linear(16, 3)

    def forward(self, tokens):
        x = self.encoder(self.position(self.embed(tokens)))
        return self.fc(x.mean(dim=1))


class ConvAutoencoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc1 = nn.Conv2d(1, 4, 3, padding=1)
        self.enc2 = nn.Conv2d(4, 8, 3, padding=1)
        self.dec1 = nn.ConvTranspose2d(8, 4, 2, stride=2)
        self.dec2 = nn.ConvTranspose2d(4, 1, 2, stride=2)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.enc1(x)), 2)
        x = F.max_pool2d(F.relu(self.enc2(x)), 2)
        return torch.sigmoid(self.dec2(F.relu(self.dec1(x))))


class TwoInputs(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3)
        self.image_fc = nn.Linear(2 * 6 * 6, 8)
        self.meta_fc = nn.Linear(5, 8)
        self.head = nn.Linear(16, 3)
        self.aux = nn.Linear(8, 1)

    def forward(self, image, meta):
        a = F.relu(self.image_fc(torch.flatten(F.relu(self.conv(image)), 1)))
        b = F.relu(self.meta_fc(meta))
        return self.head(torch.cat((a, b), dim=1)), self.aux(b)


# ------------------------------------------------------------------ graphs
def mlp_graph():
    return sequential(
        (20,),
        layer("dense", units=32, activation="relu"), layer("dropout", p=0.3),
        layer("dense", units=16, activation="tanh"), layer("dense", units=4),
    )


def lenet_graph():
    return sequential(
        (1, 16, 16),
        layer("conv2d", channels=6, kernel_size=5, padding=2, activation="relu"), layer("max_pool2d"),
        layer("conv2d", channels=16, kernel_size=5, activation="relu"), layer("avg_pool2d"),
        layer("flatten"), layer("dense", units=32, activation="relu"), layer("dense", units=10),
    )


def residual_graph():
    b = Builder()
    x = b.input(4, 6, 6)
    y = b.chain(
        x,
        layer("conv2d", channels=4, kernel_size=3, padding=1, bias=False), layer("batch_norm"), layer("relu"),
        layer("conv2d", channels=4, kernel_size=3, padding=1, bias=False), layer("batch_norm"),
    )
    y = b.chain(b.node("add", y, x), layer("relu"), layer("global_avg_pool"), layer("dense", units=3))
    b.output(y)
    return b.graph


def lstm_graph():
    return sequential(
        (7,),
        layer("embedding", num_embeddings=20, embedding_dim=8),
        layer("lstm", hidden_size=16, return_sequences=False), layer("dense", units=3),
        dtype="long",
    )


def bigru_graph():
    return sequential(
        (6, 5),
        layer("gru", hidden_size=8, num_layers=2, bidirectional=True, return_sequences=False),
        layer("dense", units=2),
    )


def transformer_graph():
    return sequential(
        (9,),
        layer("embedding", num_embeddings=20, embedding_dim=16),
        layer("positional_encoding", max_len=32, dropout=0.1),
        layer("transformer_encoder_layer", nhead=2, dim_feedforward=32, dropout=0.1),
        layer("permute", dims=(2, 1)), layer("global_avg_pool"), layer("dense", units=3),
        dtype="long",
    )


def autoencoder_graph():
    return sequential(
        (1, 8, 8),
        layer("conv2d", channels=4, kernel_size=3, padding=1, activation="relu"), layer("max_pool2d"),
        layer("conv2d", channels=8, kernel_size=3, padding=1, activation="relu"), layer("max_pool2d"),
        layer("conv_transpose2d", channels=4, kernel_size=2, stride=2), layer("relu"),
        layer("conv_transpose2d", channels=1, kernel_size=2, stride=2), layer("sigmoid"),
    )


def two_input_graph():
    b = Builder()
    image, meta = b.input(1, 8, 8, label="image"), b.input(5, label="meta")
    a = b.chain(image, layer("conv2d", channels=2, kernel_size=3, activation="relu"), layer("flatten"),
                layer("dense", units=8, activation="relu"))
    m = b.node("dense", meta, units=8, activation="relu")
    b.output(b.node("dense", b.node("concat", a, m), units=3), label="logits")
    b.output(b.node("dense", m, units=1), label="aux")
    return b.graph


def tokens(*shape):
    return lambda: (torch.randint(0, 20, shape),)


CASES = {
    "mlp": (MLP, mlp_graph, lambda: (torch.randn(4, 20),)),
    "lenet": (LeNet, lenet_graph, lambda: (torch.randn(3, 1, 16, 16),)),
    "residual": (ResidualBlock, residual_graph, lambda: (torch.randn(3, 4, 6, 6),)),
    "lstm": (LSTMClassifier, lstm_graph, tokens(3, 7)),
    "bigru": (BiGRU, bigru_graph, lambda: (torch.randn(3, 6, 5),)),
    "transformer": (TransformerClassifier, transformer_graph, tokens(3, 9)),
    "autoencoder": (ConvAutoencoder, autoencoder_graph, lambda: (torch.randn(2, 1, 8, 8),)),
    "two_inputs": (TwoInputs, two_input_graph, lambda: (torch.randn(3, 1, 8, 8), torch.randn(3, 5))),
}


def copy_weights(source: nn.Module, target: nn.Module) -> None:
    """Copy by state_dict order; the two must list the same shapes in that order."""
    src, dst = source.state_dict(), target.state_dict()
    assert [tuple(t.shape) for t in src.values()] == [tuple(t.shape) for t in dst.values()]
    target.load_state_dict(dict(zip(dst, src.values(), strict=True)))


def as_tuple(out):
    return out if isinstance(out, tuple) else (out,)


@pytest.mark.parametrize("case", list(CASES))
def test_compiled_graph_equals_the_hand_written_model(case):
    hand_cls, make_graph, make_inputs = CASES[case]
    torch.manual_seed(0)
    hand = hand_cls()
    graph = make_graph()
    compiled = compile_graph(graph, seed=1)
    count = sum(p.numel() for p in hand.parameters())
    assert sum(p.numel() for p in compiled.parameters()) == count == graph.analysis().total_params
    with torch.no_grad():  # give BatchNorm non-trivial running statistics
        for buffer_name, buffer in hand.named_buffers():
            if buffer.is_floating_point() and buffer_name.endswith(("running_mean", "running_var")):
                buffer.uniform_(0.5, 1.5)
    copy_weights(hand, compiled)
    hand.eval()
    compiled.eval()

    inputs = make_inputs()
    expected, got = as_tuple(hand(*inputs)), as_tuple(compiled(*inputs))
    assert len(expected) == len(got)
    for e, g in zip(expected, got, strict=True):
        assert e.shape == g.shape
        assert (e - g).abs().max() <= 1e-6

    weights = [torch.randn_like(e) for e in expected]
    sum((e * w).sum() for e, w in zip(expected, weights, strict=True)).backward()
    sum((g * w).sum() for g, w in zip(got, weights, strict=True)).backward()
    hand_grads = [p.grad for p in hand.parameters()]
    compiled_grads = [p.grad for p in compiled.parameters()]
    assert all(g is not None for g in compiled_grads)
    for h, c in zip(hand_grads, compiled_grads, strict=True):
        torch.testing.assert_close(c, h, rtol=1e-5, atol=1e-6)
