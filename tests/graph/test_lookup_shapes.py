"""EmbeddingBag, Bilinear and Embedding's max_norm: what the parity test does not
check (messages that quote shapes and name a fix, params, old files)."""

from __future__ import annotations

import pytest

from layerloom.graph import REGISTRY, ShapeError, TensorSpec


def infer(type_id, params, **inputs):
    spec = REGISTRY.get(type_id)
    p = spec.check_params(params)
    outs = spec.infer(p, inputs)
    return outs, spec.param_count(p, inputs, outs)


def test_embedding_bag_gives_one_vector_per_bag():
    outs, count = infer("embedding_bag", {"num_embeddings": 10, "embedding_dim": 4}, **{"in": TensorSpec((7,), "long")})
    assert outs["out"] == TensorSpec((4,))
    assert count == 40


@pytest.mark.parametrize(("t", "words"), [
    (TensorSpec((7,)), ("token ids", "float", "(7,)", "long")),
    (TensorSpec((3, 7), "long"), ("one bag", "(3, 7)", "Embedding")),
])
def test_embedding_bag_refuses_with_the_shape_and_a_fix(t, words):
    with pytest.raises(ShapeError) as err:
        infer("embedding_bag", {"num_embeddings": 10}, **{"in": t})
    text = str(err.value) + " " + (err.value.fix or "")
    assert all(w in text for w in words), text


def test_embedding_bag_padding_idx_must_be_a_token():
    with pytest.raises(ShapeError, match=r"padding_idx 10 .*\(0..9\)"):
        infer("embedding_bag", {"num_embeddings": 10, "padding_idx": 10}, **{"in": TensorSpec((3,), "long")})


def test_bilinear_joins_two_inputs_with_equal_leading_dims():
    outs, count = infer("bilinear", {"out_features": 4}, in1=TensorSpec((6, 5)), in2=TensorSpec((6, 3)))
    assert outs["out"] == TensorSpec((6, 4))
    assert count == 4 * 5 * 3 + 4
    with pytest.raises(ShapeError, match=r"\(6, 5\).*\(2, 3\)"):
        infer("bilinear", {}, in1=TensorSpec((6, 5)), in2=TensorSpec((2, 3)))


def test_old_embedding_params_mean_no_max_norm():
    assert REGISTRY.get("embedding").check_params({"num_embeddings": 5})["max_norm"] == 0.0
    with pytest.raises(Exception, match="max_norm"):
        REGISTRY.get("embedding").check_params({"max_norm": -1.0})
