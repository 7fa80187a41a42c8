"""Shape rules of the transformer layers added for issue #14 (decoder layer, whole
Transformer, scaled dot-product attention), of MultiHeadAttention's mask and
weights ports, and of recurrent states: refusals quote the shapes and name a
fix; the new ports appear only when their parameter is set, so old files load
as before."""

from __future__ import annotations

import pytest

from layerloom.graph import REGISTRY, Graph, ShapeError, TensorSpec, dumps, loads


def infer(type_id, params, **inputs):
    spec = REGISTRY.get(type_id)
    return spec.infer(spec.check_params(params), inputs)


def refusal(type_id, params, **inputs) -> str:
    with pytest.raises(ShapeError) as info:
        infer(type_id, params, **inputs)
    return str(info.value)


S = TensorSpec


# ------------------------------------------------------------------ decoder, transformer
def test_decoder_layer_keeps_the_target_shape_and_refuses_a_memory_of_another_width():
    assert infer("transformer_decoder_layer", {"nhead": 2}, **{"in": S((4, 8)), "memory": S((7, 8))}) == {
        "out": S((4, 8))}
    message = refusal("transformer_decoder_layer", {"nhead": 2}, **{"in": S((4, 8)), "memory": S((7, 6))})
    assert "memory has 6 features but the target 8" in message and "Dense" in message


def test_decoder_layer_names_head_counts_that_divide_d_model():
    message = refusal("transformer_decoder_layer", {"nhead": 3}, **{"in": S((4, 8)), "memory": S((7, 8))})
    assert "nhead=3" in message and "1, 2, 4, 8" in message


def test_transformer_gives_the_target_length_and_needs_sequences():
    assert infer("transformer", {"nhead": 2}, src=S((9, 8)), tgt=S((3, 8))) == {"out": S((3, 8))}
    message = refusal("transformer", {"nhead": 2}, src=S((9,)), tgt=S((3, 8)))
    assert "(9,)" in message and "src" in message


# ------------------------------------------------------------------ scaled dot-product attention
def test_sdpa_broadcasts_leading_dims_and_takes_v_width():
    out = infer("scaled_dot_product_attention", {}, q=S((3, 4, 8)), k=S((1, 5, 8)), v=S((3, 5, 2)))
    assert out == {"out": S((3, 4, 2))}


@pytest.mark.parametrize(("shapes", "words"), [
    (((4, 8), (5, 6), (5, 6)), "same last dim E"),
    (((4, 8), (5, 8), (6, 8)), "as many positions"),
    (((2, 4, 8), (5, 8), (5, 8)), "same rank"),
    (((2, 4, 8), (3, 5, 8), (3, 5, 8)), "do not broadcast"),
    (((8,), (5, 8), (5, 8)), "(..., L, E)"),
])
def test_sdpa_refusals_quote_the_shapes(shapes, words):
    q, k, v = (S(s) for s in shapes)
    message = refusal("scaled_dot_product_attention", {}, q=q, k=k, v=v)
    assert words in message


def test_sdpa_mask_port_follows_the_param_and_must_broadcast_to_the_scores():
    spec = REGISTRY.get("scaled_dot_product_attention")
    assert spec.input_ports(spec.check_params({})) == ("q", "k", "v")
    assert spec.input_ports(spec.check_params({"mask": True})) == ("q", "k", "v", "mask")
    qkv = {"q": S((4, 8)), "k": S((5, 8)), "v": S((5, 8))}
    assert infer("scaled_dot_product_attention", {"mask": True}, mask=S((1, 5), "long"), **qkv)["out"] == S((4, 8))
    message = refusal("scaled_dot_product_attention", {"mask": True}, mask=S((4, 4)), **qkv)
    assert "(4, 4)" in message and "(4, 5)" in message
    message = refusal("scaled_dot_product_attention", {"mask": True, "causal": True}, mask=S((4, 5)), **qkv)
    assert "causal" in message


# ------------------------------------------------------------------ attention mask and weights
def test_attention_weights_port_is_averaged_or_per_head():
    ins = {"in": S((5, 8)), "mask": S((5,), "long")}
    outs = infer("multi_head_attention", {"num_heads": 2, "key_padding_mask": True, "need_weights": True}, **ins)
    assert outs == {"out": S((5, 8)), "weights": S((5, 5))}
    outs = infer("multi_head_attention", {"mode": "cross", "num_heads": 2, "need_weights": True,
                                          "average_attn_weights": False},
                 query=S((3, 8)), key_value=S((6, 4)))
    assert outs["weights"] == S((2, 3, 6))


def test_a_padding_mask_has_one_value_per_key():
    message = refusal("multi_head_attention", {"mode": "cross", "num_heads": 2, "key_padding_mask": True},
                      query=S((3, 8)), key_value=S((6, 8)), mask=S((3,)))
    assert "(6,)" in message and "(3,)" in message


def test_an_old_file_keeps_its_ports():
    g = Graph()
    x = g.add_node("input", {"shape": [5, 8]})
    a = g.add_node("multi_head_attention", {"num_heads": 2})
    r = g.add_node("lstm", {"hidden_size": 4})
    g.connect(x.id, "out", a.id, "in")
    g.connect(a.id, "out", r.id, "in")
    text = dumps(g)
    for key in ("key_padding_mask", "need_weights", "initial_state", "final_state"):
        text = text.replace(f'"{key}": false, ', "").replace(f', "{key}": false', "")
    again = loads(text)
    assert again.node(a.id).input_ports() == ("in",) and again.node(a.id).output_ports() == ("out",)
    assert again.node(r.id).input_ports() == ("in",) and again.node(r.id).output_ports() == ("out",)


# ------------------------------------------------------------------ recurrent states
def test_recurrent_states_are_batch_first_per_sample():
    outs = infer("lstm", {"hidden_size": 4, "num_layers": 2, "bidirectional": True, "final_state": True,
                          "initial_state": True},
                 **{"in": S((6, 3)), "h0": S((4, 4)), "c0": S((4, 4))})
    assert outs["h_n"] == S((4, 4)) and outs["c_n"] == S((4, 4)) and outs["out"] == S((8,))
    spec = REGISTRY.get("gru")
    p = spec.check_params({"initial_state": True, "final_state": True})
    assert spec.input_ports(p) == ("in", "h0") and spec.output_ports(p) == ("out", "h_n")


def test_a_state_of_the_wrong_shape_names_the_shape_wanted():
    message = refusal("gru", {"hidden_size": 4, "num_layers": 2, "initial_state": True},
                      **{"in": S((6, 3)), "h0": S((1, 4))})
    assert "(2, 4)" in message and "(1, 4)" in message and "h0" in message
