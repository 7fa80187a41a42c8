"""Shape rules, parameter counts and FLOPs of the attention layers, checked against
the torch modules they describe (built with batch_first=True and run on small
tensors): what torch accepts we accept with the same output shape and parameter
count, and what torch rejects is a ShapeError with a fix."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from layerloom.graph import REGISTRY, Graph, GraphError, ShapeError, TensorSpec, dumps, loads

FEW = settings(max_examples=25, deadline=None)
ATTENTION_IDS = ("embedding", "positional_encoding", "multi_head_attention", "transformer_encoder_layer")


def infer(type_id, params, **inputs):
    """(outputs, param count, flops) of one layer, as graph inference computes them."""
    spec = REGISTRY.get(type_id)
    p = spec.check_params(params)
    outs = spec.infer(p, inputs)
    return outs, spec.param_count(p, inputs, outs), spec.flops(p, inputs, outs)


def n_params(module: nn.Module) -> int:
    return sum(t.numel() for t in module.parameters())


def matmul_flops(module: nn.Module, *args, **kwargs) -> int:
    """Matmul FLOPs torch counts for one sample (attention in its math kernel,
    so the score and mixing products are counted too)."""
    with torch.no_grad(), sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        module(*args, **kwargs)
    return counter.get_total_flops()


def torch_mask(causal: bool, tq: int, tk: int):
    return torch.triu(torch.ones(tq, tk, dtype=torch.bool), diagonal=1) if causal else None


# --------------------------------------------------------------------- registry
def test_attention_layers_are_declared_in_their_category():
    for type_id in ATTENTION_IDS:
        spec = REGISTRY.get(type_id)
        assert spec.category == "Attention"
        assert spec.doc and spec.keywords
        assert 1 <= sum(p.key for p in spec.params) <= 3, type_id
        assert all(p.help for p in spec.params), type_id
    assert {s.type_id for s in REGISTRY.search("attention")} >= {"multi_head_attention"}


def test_attention_ports_follow_the_mode_and_refuse_to_drop_wires():
    g = Graph()
    g.add_node("input", {"shape": (4, 8)}, node_id="x")
    mha = g.add_node("multi_head_attention", {"num_heads": 2}, node_id="mha")
    assert mha.input_ports() == ("in",)
    g.connect("x", "out", "mha", "in")
    with pytest.raises(GraphError, match="in still have wires"):
        g.set_param("mha", "mode", "cross")
    g.remove_edge(g.incoming("mha")["in"])
    g.set_param("mha", "mode", "cross")
    assert mha.input_ports() == ("query", "key_value")


def test_cross_attention_wires_survive_save_and_load():
    g = Graph()
    g.add_node("input", {"shape": (5, 6)}, node_id="query")
    g.add_node("input", {"shape": (4, 3)}, node_id="memory")
    g.add_node("multi_head_attention", {"mode": "cross", "num_heads": 3}, node_id="cross")
    g.add_node("output", node_id="out")
    g.connect("query", "out", "cross", "query")
    g.connect("memory", "out", "cross", "key_value")
    g.connect("cross", "out", "out", "in")
    text = dumps(g)
    loaded = loads(text)
    assert dumps(loaded) == text
    assert loaded.analysis().nodes["cross"].out == TensorSpec((5, 6))


# -------------------------------------------------------------------- Embedding
@FEW
@given(
    vocab=st.integers(1, 30), dim=st.integers(1, 12), pad=st.integers(-1, 35),
    shape=st.lists(st.integers(1, 4), min_size=1, max_size=3),
)
def test_embedding_matches_torch(vocab, dim, pad, shape):
    params = {"num_embeddings": vocab, "embedding_dim": dim, "padding_idx": pad}
    tokens = TensorSpec(tuple(shape), "long")
    try:
        module = nn.Embedding(vocab, dim, padding_idx=None if pad == -1 else pad)
    except AssertionError:
        with pytest.raises(ShapeError) as err:
            infer("embedding", params, **{"in": tokens})
        assert str(vocab) in err.value.message and err.value.fix
        return
    outs, count, flops = infer("embedding", params, **{"in": tokens})
    y = module(torch.randint(0, vocab, (2, *shape)))
    assert outs["out"] == TensorSpec(tuple(y.shape[1:]), "float")
    assert count == n_params(module)
    assert flops == 0  # a lookup, no arithmetic


def test_embedding_refuses_float_values_and_says_to_use_token_ids():
    with pytest.raises(ShapeError) as err:
        infer("embedding", {}, **{"in": TensorSpec((12,), "float")})
    assert "float" in err.value.message and "(12,)" in err.value.message
    assert err.value.fix == "set the Input's dtype to long (token ids)"


def test_embedding_error_reaches_the_node_in_a_graph():
    g = Graph()
    g.add_node("input", {"shape": (12,)}, node_id="text")
    g.add_node("embedding", node_id="emb")
    g.add_node("output", node_id="out")
    g.connect("text", "out", "emb", "in")
    g.connect("emb", "out", "out", "in")
    errors = dict(g.analysis().errors)
    assert "long (token ids)" in errors["emb"]
    g.set_param("text", "dtype", "long")
    assert g.analysis().valid
    assert g.analysis().nodes["emb"].out == TensorSpec((12, 64))


# ----------------------------------------------------------- PositionalEncoding
@FEW
@given(t=st.integers(1, 20), d=st.integers(1, 9), max_len=st.integers(1, 20),
       kind=st.sampled_from(["sinusoidal", "learned"]))
def test_positional_encoding_keeps_the_shape_up_to_max_len(t, d, max_len, kind):
    params = {"kind": kind, "max_len": max_len}
    x = TensorSpec((t, d))
    if t > max_len:
        with pytest.raises(ShapeError) as err:
            infer("positional_encoding", params, **{"in": x})
        assert f"{t} positions" in err.value.message
        assert err.value.fix == f"raise max_len to at least {t}"
        return
    outs, count, flops = infer("positional_encoding", params, **{"in": x})
    assert outs["out"] == x  # odd d included: the sinusoidal table handles it
    # learned positions are one trained vector per position, like an embedding table
    assert count == (n_params(nn.Embedding(max_len, d)) if kind == "learned" else 0)
    assert flops == t * d


@pytest.mark.parametrize("spec", [TensorSpec((8,)), TensorSpec((2, 3, 4)), TensorSpec((4, 8), "long")])
def test_positional_encoding_needs_a_float_sequence(spec):
    with pytest.raises(ShapeError) as err:
        infer("positional_encoding", {}, **{"in": spec})
    assert err.value.fix and ("Reshape" in err.value.fix or "Embedding" in err.value.fix)


# ---------------------------------------------------------- MultiHeadAttention
@FEW
@given(
    mode=st.sampled_from(["self", "cross"]), e=st.integers(1, 12), ekv=st.integers(1, 9),
    tq=st.integers(1, 5), tk=st.integers(1, 5), heads=st.integers(1, 6),
    bias=st.booleans(), causal=st.booleans(),
)
def test_multi_head_attention_matches_torch(mode, e, ekv, tq, tk, heads, bias, causal):
    params = {"mode": mode, "num_heads": heads, "bias": bias, "causal": causal}
    if mode == "self":
        tk, ekv = tq, e
        inputs = {"in": TensorSpec((tq, e))}
    else:
        inputs = {"query": TensorSpec((tq, e)), "key_value": TensorSpec((tk, ekv))}
    try:
        module = nn.MultiheadAttention(e, heads, bias=bias, kdim=ekv, vdim=ekv, batch_first=True)
    except AssertionError:  # torch: embed_dim must be divisible by num_heads
        with pytest.raises(ShapeError) as err:
            infer("multi_head_attention", params, **inputs)
        assert f"num_heads={heads}" in err.value.message
        return
    if causal and tq != tk:  # LayerLoom's own rule: a causal mask is square
        with pytest.raises(ShapeError, match="as many queries as keys"):
            infer("multi_head_attention", params, **inputs)
        return
    outs, count, flops = infer("multi_head_attention", params, **inputs)
    q, kv = torch.randn(1, tq, e), torch.randn(1, tk, ekv)
    kwargs = {"attn_mask": torch_mask(causal, tq, tk), "need_weights": False}
    y, _ = module(q, kv, kv, **kwargs)
    assert outs["out"] == TensorSpec(tuple(y.shape[1:]))
    assert count == n_params(module)
    counted = matmul_flops(module, q, kv, kv, **kwargs)
    assert counted <= flops <= counted + 5 * heads * tq * tk  # plus the softmax


@pytest.mark.parametrize(("e", "heads", "valid"), [(10, 4, "1, 2, 5, 10"), (12, 5, "1, 2, 3, 4, 6, 12"), (7, 2, "1, 7")])
def test_head_count_error_names_the_valid_counts(e, heads, valid):
    with pytest.raises(ShapeError) as err:
        infer("multi_head_attention", {"num_heads": heads}, **{"in": TensorSpec((3, e))})
    assert f"num_heads={heads}" in err.value.message and str(e) in err.value.message
    assert err.value.fix.endswith(f"divides {e}: {valid}")
    for h in map(int, valid.split(", ")):
        nn.MultiheadAttention(e, h)  # every suggested count works in torch


def test_cross_attention_checks_each_port():
    with pytest.raises(ShapeError, match="key_value"):
        infer("multi_head_attention", {"mode": "cross", "num_heads": 1},
              query=TensorSpec((3, 4)), key_value=TensorSpec((12,)))
    with pytest.raises(ShapeError, match="float values"):
        infer("multi_head_attention", {"mode": "cross", "num_heads": 1},
              query=TensorSpec((3,), "long"), key_value=TensorSpec((5, 4)))


# ----------------------------------------------------- TransformerEncoderLayer
@FEW
@given(
    d=st.integers(1, 12), nhead=st.integers(1, 6), ff=st.integers(1, 20), t=st.integers(1, 5),
    bias=st.booleans(), norm_first=st.booleans(), causal=st.booleans(),
    activation=st.sampled_from(["relu", "gelu"]),
)
def test_transformer_encoder_layer_matches_torch(d, nhead, ff, t, bias, norm_first, causal, activation):
    params = {"nhead": nhead, "dim_feedforward": ff, "bias": bias, "norm_first": norm_first,
              "causal": causal, "activation": activation}
    x = TensorSpec((t, d))
    try:
        module = nn.TransformerEncoderLayer(d, nhead, ff, activation=activation, bias=bias,
                                            norm_first=norm_first, batch_first=True)
    except AssertionError:
        with pytest.raises(ShapeError) as err:
            infer("transformer_encoder_layer", params, **{"in": x})
        assert f"nhead={nhead}" in err.value.message and str(d) in err.value.fix
        return
    outs, count, flops = infer("transformer_encoder_layer", params, **{"in": x})
    src = torch.randn(1, t, d)
    y = module(src, src_mask=torch_mask(causal, t, t))
    assert outs["out"] == TensorSpec(tuple(y.shape[1:]))
    assert count == n_params(module)
    counted = matmul_flops(module, src)
    assert counted <= flops <= counted + 5 * nhead * t * t


def test_transformer_encoder_layer_refuses_tokens_and_flat_vectors():
    with pytest.raises(ShapeError, match="Embedding"):
        infer("transformer_encoder_layer", {}, **{"in": TensorSpec((6,), "long")})
    with pytest.raises(ShapeError) as err:
        infer("transformer_encoder_layer", {"nhead": 1}, **{"in": TensorSpec((64,))})
    assert "(64,)" in err.value.message and "Reshape" in err.value.fix
