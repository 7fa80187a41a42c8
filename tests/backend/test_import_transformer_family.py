"""Importer rules and exports of the layers added for issue #14: the decoder layer
and the whole Transformer with a causal target mask, attention with a
key-padding mask and its weights, scaled dot-product attention as a torch
function, and recurrent layers that start from another layer's final state."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from layerloom.backend.compile import compile_graph
from layerloom.backend.export.python_source import python_source
from layerloom.backend.importers import ModelImportError, import_module, import_onnx
from layerloom.graph import Graph


def _nodes(result, type_id: str):
    return [n for n in result.graph.nodes if n.type == type_id]


class Decoder(nn.Module):
    def __init__(self, causal_flag: bool = False):
        super().__init__()
        self.layer = nn.TransformerDecoderLayer(8, 2, 16, dropout=0.0, batch_first=True, norm_first=True)
        self.causal_flag = causal_flag

    def forward(self, tgt, memory):
        mask = nn.Transformer.generate_square_subsequent_mask(tgt.size(1))
        return self.layer(tgt, memory, tgt_mask=mask, tgt_is_causal=self.causal_flag)


@pytest.mark.parametrize("flag", [False, True])
def test_decoder_layer_with_the_causal_target_mask(flag):
    result = import_module(Decoder(flag), [(4, 8), (6, 8)])
    (node,) = _nodes(result, "transformer_decoder_layer")
    assert node.params["causal"] and node.params["norm_first"] and node.params["nhead"] == 2
    assert result.max_difference < 1e-5


class Seq2Seq(nn.Module):
    def __init__(self):
        super().__init__()
        self.t = nn.Transformer(8, 2, 1, 2, 16, dropout=0.0, activation="gelu", batch_first=True)

    def forward(self, src, tgt):
        mask = torch.triu(torch.ones(4, 4, dtype=torch.bool), diagonal=1)  # a constant of the trace
        return self.t(src, tgt, tgt_mask=mask)


def test_whole_transformer_with_a_boolean_causal_mask():
    result = import_module(Seq2Seq(), [(5, 8), (4, 8)])
    (node,) = _nodes(result, "transformer")
    assert node.params["causal"] and node.params["activation"] == "gelu"
    assert (node.params["num_encoder_layers"], node.params["num_decoder_layers"]) == (1, 2)
    assert result.max_difference < 1e-5


def test_a_padding_mask_of_the_transformer_is_refused_with_the_reason():
    class Padded(Seq2Seq):
        def forward(self, src, tgt):
            return self.t(src, tgt, src_key_padding_mask=src[..., 0] > 0)

    with pytest.raises(ModelImportError, match="src_key_padding_mask"):
        import_module(Padded(), [(5, 8), (4, 8)])


class Masked(nn.Module):
    def __init__(self):
        super().__init__()
        self.mha = nn.MultiheadAttention(8, 2, batch_first=True)

    def forward(self, x, tokens):
        out, weights = self.mha(x, x, x, key_padding_mask=tokens.bool(), average_attn_weights=False)
        return out, weights


def test_attention_with_a_key_padding_mask_and_its_weights():
    torch.manual_seed(0)
    # every sample keeps a key (tokens in [0, 2) with 8 keys), so torch gives no NaN
    result = import_module(Masked().eval(), [(8, 8), (8,)], ["float", "long"])
    (node,) = _nodes(result, "multi_head_attention")
    assert node.params["key_padding_mask"] and node.params["need_weights"]
    assert not node.params["average_attn_weights"]
    assert result.max_difference < 1e-5


def test_a_float_key_padding_mask_is_refused():
    class Additive(Masked):
        def forward(self, x, mask):
            return self.mha(x, x, x, key_padding_mask=mask, need_weights=False)[0]

    with pytest.raises(ModelImportError, match="float key_padding_mask"):
        import_module(Additive(), [(5, 8), (5,)])


class Sdpa(nn.Module):
    def forward(self, q, k, v, bias):
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, scale=0.25)
        return a + F.scaled_dot_product_attention(q, k, v, is_causal=True)


def test_scaled_dot_product_attention_function():
    result = import_module(Sdpa(), [(2, 4, 6), (2, 4, 6), (2, 4, 6), (2, 4, 4)])
    nodes = _nodes(result, "scaled_dot_product_attention")
    assert sorted((n.params["mask"], n.params["causal"], n.params["scale"]) for n in nodes) == [
        (False, True, 0.0), (True, False, 0.25)]
    assert result.max_difference < 1e-5


def test_the_python_export_calls_the_torch_function():
    g = Graph()
    ids = [g.add_node("input", {"shape": [4, 6]}).id for _ in range(3)]
    node = g.add_node("scaled_dot_product_attention", {"causal": True})
    for source, port in zip(ids, ("q", "k", "v"), strict=True):
        g.connect(source, "out", node.id, port)
    g.connect(node.id, "out", g.add_node("output").id, "in")
    text = python_source(g, compile_graph(g, seed=0), "w.safetensors")
    assert "F.scaled_dot_product_attention(" in text and "is_causal=True" in text


class EncoderDecoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.LSTM(3, 4, num_layers=2, batch_first=True)
        self.decoder = nn.LSTM(5, 4, num_layers=2, batch_first=True)

    def forward(self, x, y):
        _, (h, c) = self.encoder(x)
        out, (h2, _) = self.decoder(y, (h, c))
        return out, h2.transpose(0, 1)


def test_a_recurrent_layer_starting_from_another_layers_final_state():
    result = import_module(EncoderDecoder(), [(6, 3), (5, 5)])
    encoder, decoder = _nodes(result, "lstm")
    assert encoder.params["final_state"] and not encoder.params["initial_state"]
    assert decoder.params["initial_state"] and decoder.params["final_state"]
    assert result.max_difference < 1e-6


def test_a_state_in_torchs_layout_is_refused():
    class FromInput(nn.Module):
        def __init__(self):
            super().__init__()
            self.gru = nn.GRU(3, 4, batch_first=True)

        def forward(self, x, h):
            return self.gru(x, h.transpose(0, 1).contiguous())[0]

    with pytest.raises(ModelImportError, match="batch"):
        import_module(FromInput(), [(6, 3), (1, 4)])


class CausalAttention(nn.Module):
    def __init__(self):
        super().__init__()
        self.mha = nn.MultiheadAttention(8, 2, batch_first=True)

    def forward(self, x):
        mask = nn.Transformer.generate_square_subsequent_mask(x.size(1))
        return self.mha(x, x, x, attn_mask=mask)


class PlainDecoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.layer = nn.TransformerDecoderLayer(8, 2, 16, dropout=0.0, batch_first=True)

    def forward(self, tgt, memory):
        mask = nn.Transformer.generate_square_subsequent_mask(tgt.size(1))
        return self.layer(tgt, memory, tgt_mask=mask, tgt_is_causal=True)


@pytest.mark.parametrize(("model", "shapes", "type_id"), [
    (CausalAttention, [(5, 8)], "multi_head_attention"),
    (PlainDecoder, [(4, 8), (6, 8)], "transformer_decoder_layer"),
])
def test_torch_modules_exported_to_onnx_fold_back(model, shapes, type_id, tmp_path):
    path = tmp_path / "model.onnx"
    torch.onnx.export(model().eval(), tuple(torch.randn(2, *s) for s in shapes), path, dynamo=True)
    result = import_onnx(path, shapes)
    (node,) = _nodes(result, type_id)
    assert node.params["causal"]
    assert result.max_difference < 1e-5


def test_encoder_layer_with_the_causal_source_mask():
    class Encoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.layer = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True)

        def forward(self, x):
            return self.layer(x, src_mask=nn.Transformer.generate_square_subsequent_mask(x.size(1)), is_causal=True)

    result = import_module(Encoder(), [(5, 8)])
    (node,) = _nodes(result, "transformer_encoder_layer")
    assert node.params["causal"] and result.max_difference < 1e-5


class LearnedPositions(nn.Module):
    """GPT-style: token embeddings plus an Embedding looked up at torch.arange(t)."""

    def __init__(self, vocab=20, block_size=6, dim=8):
        super().__init__()
        self.wte = nn.Embedding(vocab, dim)
        self.wpe = nn.Embedding(block_size, dim)
        self.head = nn.Linear(dim, vocab)

    def forward(self, idx):
        b, t = idx.size()
        pos = torch.arange(0, t, dtype=torch.long, device=idx.device)
        return self.head(self.wte(idx) + self.wpe(pos))


@pytest.mark.parametrize("length", [6, 4])
def test_an_embedding_of_the_positions_is_a_learned_table(length):
    torch.manual_seed(0)
    model = LearnedPositions().eval()
    result = import_module(model, [(length,)], ["long"])
    types = [n.type for n in result.graph.nodes]
    assert "parameter" in types and types.count("embedding") == 1
    table = next(n for n in result.graph.nodes if n.type == "parameter")
    assert list(table.params["shape"]) == [length, 8]
    whole = length == 6  # every row, in order: the Embedding's weight itself
    assert ("wpe.weight" in result.key_map) is whole
    ids = torch.randint(0, 20, (5, length))
    assert torch.allclose(result.model(ids), model(ids), atol=1e-5)


class StackedQKV(nn.Module):
    """ViT-style: one projection viewed as (B, N, 3, heads, width) and permuted so
    that q, k and v come first and the batch second, then read part by part."""

    def __init__(self, dim=8, heads=2, unbind=True):
        super().__init__()
        self.heads, self.unbind = heads, unbind
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0) if self.unbind else (qkv[0], qkv[1], qkv[2])
        attn = ((q @ k.transpose(-2, -1)) * 0.5).softmax(dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(b, n, c))


@pytest.mark.parametrize("unbind", [True, False])
def test_stacked_parts_in_front_of_the_batch_import_part_by_part(unbind, tmp_path):
    torch.manual_seed(0)
    model = StackedQKV(unbind=unbind).eval()
    x = torch.randn(4, 5, 8)
    from_source = import_module(model, [(5, 8)])
    types = [n.type for n in from_source.graph.nodes]
    assert types.count("select") == 3 and "permute" in types
    assert torch.allclose(from_source.model(x), model(x), atol=1e-5)
    # In the ONNX file the parts are Slice and Squeeze (unbind) or Gather (indexing).
    path = tmp_path / "qkv.onnx"
    torch.onnx.export(model, (torch.randn(3, 5, 8),), path, dynamo=True,
                      dynamic_shapes=({0: torch.export.Dim("batch")},))
    from_onnx = import_onnx(path)
    assert [n.type for n in from_onnx.graph.nodes].count("select") == 3
    assert torch.allclose(from_onnx.model(x), model(x), atol=1e-5)


class LearnedQueries(nn.Module):
    """Learned tokens kept as (K, D), given a batch dim by unsqueeze(0) and repeated
    over the batch, then joined to the input sequence."""

    def __init__(self, dim=6, count=3):
        super().__init__()
        self.queries = nn.Parameter(torch.randn(count, dim))
        self.fc = nn.Linear(dim, 2)

    def forward(self, x):
        q = self.queries.unsqueeze(0).repeat(x.size(0), 1, 1)
        return self.fc(torch.cat([q, x], dim=1))


def test_a_held_tensor_reshaped_before_it_meets_the_batch_is_a_parameter():
    torch.manual_seed(0)
    model = LearnedQueries().eval()
    result = import_module(model, [(4, 6)])
    table = next(n for n in result.graph.nodes if n.type == "parameter")
    assert list(table.params["shape"]) == [3, 6]
    assert "queries" in result.key_map
    assert sum(p.numel() for p in result.model.parameters()) == sum(p.numel() for p in model.parameters())
    x = torch.randn(5, 4, 6)
    assert torch.allclose(result.model(x), model(x), atol=1e-5)
