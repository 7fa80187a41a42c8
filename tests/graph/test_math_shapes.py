"""Shape rules of the Math layers and the broadcasting Merge layers: what they
refuse, with messages that quote the shapes and name a fix."""

from __future__ import annotations

import pytest

from layerloom.graph import REGISTRY, Graph, ShapeError, TensorSpec


def infer(type_id, params=None, **inputs):
    spec = REGISTRY.get(type_id)
    values = spec.check_params(params or {})
    ins = {port: t if isinstance(t, TensorSpec) else TensorSpec(t) for port, t in inputs.items()}
    return spec.infer(values, ins)["out"]


@pytest.mark.parametrize("type_id", ["subtract", "divide", "power", "maximum", "minimum"])
def test_two_inputs_broadcast_dims_of_size_one(type_id):
    assert infer(type_id, a=(2, 1, 4), b=(1, 3, 4)).shape == (2, 3, 4)
    with pytest.raises(ShapeError) as info:
        infer(type_id, a=(2, 3), b=(2, 4))
    assert "a (2, 3) and b (2, 4) do not broadcast: dim 2 is 3 against 4" in str(info.value)


def test_inputs_of_different_ranks_are_refused_with_the_fix():
    with pytest.raises(ShapeError) as info:
        infer("subtract", a=(4, 8), b=(8,))
    assert "a is (4, 8) but b is (8,), of another rank" in info.value.message
    assert "batch dim" in info.value.message
    assert "Unsqueeze" in info.value.fix and "Reshape" in info.value.fix


def test_add_and_multiply_broadcast_and_keep_equal_shapes():
    assert infer("add", in1=(3, 4, 4), in2=(3, 1, 1)).shape == (3, 4, 4)
    assert infer("multiply", {"inputs": 3}, in1=(1, 4), in2=(3, 1), in3=(3, 4)).shape == (3, 4)
    assert infer("add", in1=(8,), in2=(8,)).shape == (8,)
    with pytest.raises(ShapeError, match=r"Add needs equal shapes; in1 is \(4,\) but in2 is \(8,\)"):
        infer("add", in1=(4,), in2=(8,))
    with pytest.raises(ShapeError, match=r"in1 is \(4, 8\) but in2 is \(8,\)"):
        infer("multiply", in1=(4, 8), in2=(8,))


def test_old_files_with_equal_shapes_keep_their_meaning():
    g = Graph()
    a = g.add_node("input", {"shape": [5]})
    b = g.add_node("input", {"shape": [5]})
    add = g.add_node("add", {"inputs": 2})
    g.connect(a.id, "out", add.id, "in1")
    g.connect(b.id, "out", add.id, "in2")
    out = g.add_node("output")
    g.connect(add.id, "out", out.id, "in")
    assert g.analysis().valid
    assert g.analysis().nodes[add.id].outputs["out"] == TensorSpec((5,))


def test_matmul_names_the_inner_dims_and_both_shapes():
    assert infer("matmul", a=(2, 4, 8), b=(1, 8, 3)).shape == (2, 4, 3)
    with pytest.raises(ShapeError) as info:
        infer("matmul", a=(4, 8), b=(6, 3))
    assert info.value.message == "MatMul: inner dims differ: k=8 of (4, 8) and 6 of (6, 3)"
    assert "transpose" in info.value.fix


def test_matmul_needs_matrices_of_one_rank():
    with pytest.raises(ShapeError, match=r"b is \(8,\)"):
        infer("matmul", a=(4, 8), b=(8,))
    with pytest.raises(ShapeError, match="of another rank"):
        infer("matmul", a=(2, 4, 8), b=(8, 3))
    with pytest.raises(ShapeError, match=r"leading|do not broadcast"):
        infer("matmul", a=(2, 4, 8), b=(3, 8, 3))


def test_math_layers_need_float_values():
    with pytest.raises(ShapeError, match="Exp needs float values"):
        infer("exp", **{"in": TensorSpec((4,), "long")})
    with pytest.raises(ShapeError, match="MatMul needs float values"):
        infer("matmul", a=TensorSpec((2, 2), "long"), b=(2, 2))


def test_masked_fill_causal_needs_two_dims_and_the_input_mask_broadcasts():
    assert infer("masked_fill", **{"in": (2, 5, 5)}).shape == (2, 5, 5)
    with pytest.raises(ShapeError) as info:
        infer("masked_fill", **{"in": (5,)})
    assert "last two dims" in info.value.message and "(5,)" in info.value.message
    params = {"mask": "input"}
    assert infer("masked_fill", params, **{"in": (2, 5, 5), "mask": TensorSpec((1, 5, 5), "long")}).shape == (2, 5, 5)
    with pytest.raises(ShapeError, match=r"in \(2, 5, 5\) and mask \(1, 4, 5\) do not broadcast"):
        infer("masked_fill", params, **{"in": (2, 5, 5), "mask": (1, 4, 5)})
    assert REGISTRY.get("masked_fill").input_ports(params) == ("in", "mask")
    assert REGISTRY.get("masked_fill").input_ports({"mask": "causal"}) == ("in",)


def test_where_needs_one_dtype_for_its_choices():
    assert infer("where", cond=TensorSpec((3, 4), "long"), a=(3, 4), b=(1, 4)).shape == (3, 4)
    with pytest.raises(ShapeError, match="one dtype"):
        infer("where", cond=(3, 4), a=(3, 4), b=TensorSpec((3, 4), "long"))


def test_cumsum_keeps_the_dtype_and_refuses_the_batch():
    assert infer("cumsum", {"dim": 1}, **{"in": TensorSpec((6,), "long")}) == TensorSpec((6,), "long")
    with pytest.raises(ShapeError, match="batch dim"):
        infer("cumsum", {"dim": 0}, **{"in": (6,)})


def test_constants_are_checked_numbers():
    spec = REGISTRY.get("multiply_constant")
    with pytest.raises(Exception, match="finite"):
        spec.check_params({"value": float("inf")})
    clamp = REGISTRY.get("clamp")
    assert clamp.check_params({})["min"] is None  # unset: no bound
    masked = REGISTRY.get("masked_fill")
    with pytest.raises(Exception, match="fill must be one of"):
        masked.check_params({"fill": "nan"})
