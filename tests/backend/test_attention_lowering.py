"""Attention graphs compile to models that compute exactly what hand-written torch
computes with the same weights, respect causal masks, and trace and export with a
dynamic batch and sequence length."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest
import torch
from torch import nn

from layerloom.backend.compile import compile_graph
from layerloom.backend.lowerings.attention import PositionalEncoding
from layerloom.graph import Graph

VOCAB, T, D = 17, 7, 8


def chain(g: Graph, *node_ids: str) -> None:
    for a, b in pairwise(node_ids):
        g.connect(a, "out", b, "in")


def language_model(causal: bool = True, kind: str = "sinusoidal", padding_idx: int = 0) -> Graph:
    """tokens -> Embedding -> PositionalEncoding -> 2 encoder layers -> attention -> logits."""
    g = Graph()
    g.add_node("input", {"shape": (T,), "dtype": "long"}, node_id="tokens")
    g.add_node("embedding", {"num_embeddings": VOCAB, "embedding_dim": D, "padding_idx": padding_idx},
               node_id="emb")
    g.add_node("positional_encoding", {"kind": kind, "max_len": 12}, node_id="pos")
    g.add_node("transformer_encoder_layer", {"nhead": 2, "dim_feedforward": 16, "causal": causal},
               node_id="enc1")
    g.add_node("transformer_encoder_layer",
               {"nhead": 1, "dim_feedforward": 12, "causal": causal, "activation": "gelu",
                "norm_first": True, "layer_norm_eps": 1e-6}, node_id="enc2")
    g.add_node("multi_head_attention", {"num_heads": 4, "causal": causal}, node_id="attn")
    g.add_node("dense", {"units": VOCAB}, node_id="logits")
    g.add_node("output", node_id="out")
    chain(g, "tokens", "emb", "pos", "enc1", "enc2", "attn", "logits", "out")
    return g


def sinusoid_table(length: int, d: int) -> np.ndarray:
    """Vaswani et al. (2017), in float64: sin on even columns, cos on odd ones."""
    pos = np.arange(length)[:, None]
    angle = pos / np.power(10000.0, 2 * (np.arange(d) // 2) / d)
    return np.where(np.arange(d) % 2 == 0, np.sin(angle), np.cos(angle))


class HandWritten(nn.Module):
    """The language model as one would write it with torch.nn."""

    def __init__(self, causal: bool, learned: bool, padding_idx: int | None):
        super().__init__()
        self.causal = causal
        self.emb = nn.Embedding(VOCAB, D, padding_idx=padding_idx)
        if learned:
            self.pe = nn.Parameter(torch.zeros(12, D))
        else:
            self.register_buffer("pe", torch.tensor(sinusoid_table(12, D), dtype=torch.float32))
        self.enc1 = nn.TransformerEncoderLayer(D, 2, 16, dropout=0.1, batch_first=True)
        self.enc2 = nn.TransformerEncoderLayer(D, 1, 12, activation="gelu", norm_first=True,
                                               layer_norm_eps=1e-6, batch_first=True)
        self.attn = nn.MultiheadAttention(D, 4, batch_first=True)
        self.logits = nn.Linear(D, VOCAB)

    def forward(self, tokens):
        t = tokens.size(1)
        mask = nn.Transformer.generate_square_subsequent_mask(t) if self.causal else None
        x = self.emb(tokens) + self.pe[:t]
        x = self.enc1(x, src_mask=mask, is_causal=self.causal)
        x = self.enc2(x, src_mask=mask, is_causal=self.causal)
        x, _ = self.attn(x, x, x, attn_mask=mask, need_weights=False)
        return self.logits(x)


def copy_weights(compiled: nn.Module, reference: nn.Module) -> None:
    """Load each compiled node's own state_dict into the same-named torch module."""
    for name in ("emb", "enc1", "enc2", "attn", "logits"):
        getattr(reference, name).load_state_dict(compiled.get_submodule(name).state_dict())
    if isinstance(reference.pe, nn.Parameter):
        reference.pe.data.copy_(compiled.pos.pe)


@pytest.mark.parametrize(("causal", "kind"), [(True, "sinusoidal"), (False, "learned")])
def test_language_model_equals_hand_written_torch(causal, kind):
    g = language_model(causal, kind)
    model = compile_graph(g, seed=1).eval()
    reference = HandWritten(causal, kind == "learned", padding_idx=0).eval()
    copy_weights(model, reference)
    assert g.analysis().total_params == sum(p.numel() for p in model.parameters())
    assert sum(p.numel() for p in model.parameters()) == sum(p.numel() for p in reference.parameters())
    tokens = torch.randint(0, VOCAB, (3, T))
    for grad in (True, False):  # torch's plain and fused ("fast path") attention
        with torch.set_grad_enabled(grad):
            torch.testing.assert_close(model(tokens), reference(tokens), rtol=0, atol=1e-6)
    shorter = tokens[:, :4]  # the causal masks follow the sequence length
    torch.testing.assert_close(model(shorter), reference(shorter), rtol=0, atol=1e-6)


@pytest.mark.parametrize("causal", [True, False])
def test_changing_a_future_token_changes_only_later_outputs_when_causal(causal):
    model = compile_graph(language_model(causal), seed=2).eval()
    tokens = torch.randint(1, VOCAB, (2, T))
    edited = tokens.clone()
    k = 4
    edited[:, k] = (tokens[:, k] % (VOCAB - 1)) + 1  # another non-padding token
    with torch.no_grad():
        before, after = model(tokens), model(edited)
    later_changed = (before[:, k:] - after[:, k:]).abs().amax() > 1e-4
    earlier_delta = (before[:, :k] - after[:, :k]).abs().amax()
    assert later_changed
    if causal:
        assert earlier_delta <= 1e-6
    else:
        assert earlier_delta > 1e-4  # without the mask every position sees the edit


def test_cross_attention_weights_load_into_plain_multihead_attention():
    g = Graph()
    g.add_node("input", {"shape": (5, 6)}, node_id="query")
    g.add_node("input", {"shape": (5, 3)}, node_id="memory")
    g.add_node("multi_head_attention", {"mode": "cross", "num_heads": 3, "causal": True}, node_id="cross")
    g.add_node("output", node_id="out")
    g.connect("query", "out", "cross", "query")
    g.connect("memory", "out", "cross", "key_value")
    g.connect("cross", "out", "out", "in")
    model = compile_graph(g, seed=3).eval()
    reference = nn.MultiheadAttention(6, 3, kdim=3, vdim=3, batch_first=True).eval()
    reference.load_state_dict(model.cross.state_dict())  # same names, strict
    q, kv = torch.randn(2, 5, 6), torch.randn(2, 5, 3)
    mask = torch.triu(torch.ones(5, 5, dtype=torch.bool), diagonal=1)
    expected, _ = reference(q, kv, kv, attn_mask=mask, need_weights=False)
    torch.testing.assert_close(model(q, kv), expected, rtol=0, atol=1e-6)
    kv_later = kv.clone()
    kv_later[:, 3:] += 1.0  # keys after query 2 are masked out for it
    torch.testing.assert_close(model(q, kv_later)[:, :3], model(q, kv)[:, :3], rtol=0, atol=1e-6)


@pytest.mark.parametrize("d", [6, 7])
def test_sinusoidal_table_is_exact_and_kept_out_of_the_state_dict(d):
    pe = PositionalEncoding(d, max_len=50)
    np.testing.assert_allclose(pe.pe.numpy(), sinusoid_table(50, d), rtol=0, atol=1e-7)
    assert "pe" not in pe.state_dict() and "pe" in dict(pe.named_buffers())
    learned = PositionalEncoding(d, max_len=50, learned=True)
    assert learned.state_dict()["pe"].shape == (50, d)


def test_padding_idx_minus_one_means_no_padding_token():
    for pad, expected in ((-1, None), (3, 3)):
        g = language_model(padding_idx=pad)
        emb = compile_graph(g, seed=0).emb
        assert emb.padding_idx == expected


@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning", "ignore::DeprecationWarning")
def test_trace_keeps_batch_and_sequence_dynamic():
    model = compile_graph(language_model(causal=True), seed=4).eval()
    with torch.no_grad():  # an inference trace: torch's attention takes its fused path
        traced = torch.jit.trace(model, (torch.randint(0, VOCAB, (2, T)),))
        other = torch.randint(0, VOCAB, (5, 10))
        torch.testing.assert_close(traced(other), model(other), rtol=0, atol=1e-6)


def test_onnx_export_with_dynamic_batch_and_sequence(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    model = compile_graph(language_model(causal=True, kind="learned"), seed=5).eval()
    batch, seq = torch.export.Dim("batch", max=4096), torch.export.Dim("seq", min=2, max=12)
    program = torch.onnx.export(model, (torch.randint(0, VOCAB, (2, T)),), dynamo=True,
                                dynamic_shapes=({0: batch, 1: seq},), verbose=False)
    path = tmp_path / "lm.onnx"
    program.save(str(path))
    session = ort.InferenceSession(str(path))
    name = session.get_inputs()[0].name
    for shape in ((1, 3), (6, 12)):
        tokens = torch.randint(0, VOCAB, shape)
        with torch.no_grad():
            expected = model(tokens).numpy()
        np.testing.assert_allclose(session.run(None, {name: tokens.numpy()})[0], expected, atol=1e-5)
