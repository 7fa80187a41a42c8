"""Importer rules of the Recurrent and Attention families: LayerLoom's own classes
copied into a Python export, attention and a plain RNN folded back from their
ONNX decomposition, and nn.Embedding(max_norm), nn.EmbeddingBag, nn.Bilinear."""

from __future__ import annotations

import sys
import types

import pytest
import torch
from torch import nn

from layerloom.backend.compile import compile_graph
from layerloom.backend.export.onnx_export import export_onnx
from layerloom.backend.export.python_source import python_source
from layerloom.backend.importers import ModelImportError, import_module, import_onnx
from layerloom.backend.importers.bundled import twin_of
from layerloom.backend.lowerings import attention as ll_attention
from layerloom.graph import Graph
from tests.graph.helpers import chain


def _types(result) -> list[str]:
    return sorted(n.type for n in result.graph.nodes if n.type not in ("input", "output"))


def _load(text: str) -> types.ModuleType:
    module = types.ModuleType("attention_family_export")
    module.__file__ = "<export>"
    sys.modules[module.__name__] = module
    try:
        exec(compile(text, "<export>", "exec"), module.__dict__)
    finally:
        del sys.modules[module.__name__]
    return module


def test_an_unchanged_copy_of_a_layerloom_class_is_recognised_and_an_edited_one_is_not():
    g = Graph()
    chain(g, ("input", {"shape": [5, 8]}), ("multi_head_attention", {"num_heads": 2, "causal": True}), "output")
    model = compile_graph(g, seed=0)
    text = python_source(g, model, "w.safetensors")
    copied = _load(text).SelfAttention
    assert twin_of(copied, [ll_attention.SelfAttention, ll_attention.CrossAttention]) is ll_attention.SelfAttention
    edited = _load(text.replace("diagonal=1)", "diagonal=2)")).SelfAttention
    assert twin_of(edited, [ll_attention.SelfAttention]) is None


def test_a_python_export_imports_back_as_the_same_layers():
    g = Graph()
    g.meta = {"title": "Stack"}
    chain(g, ("input", {"shape": [5, 8]}), ("positional_encoding", {"max_len": 16}),
          ("transformer_encoder_layer", {"nhead": 2, "dim_feedforward": 16, "causal": True}),
          ("rnn", {"hidden_size": 4}), "output")
    model = compile_graph(g, seed=0).eval()
    namespace = _load(python_source(g, model, "w.safetensors"))
    module = namespace.Stack()
    module.load_state_dict(model.state_dict())
    result = import_module(module, [(5, 8)])
    assert _types(result) == ["positional_encoding", "rnn", "transformer_encoder_layer"]
    node = next(n for n in result.graph.nodes if n.type == "transformer_encoder_layer")
    assert node.params["causal"] is True


LAYERS = [
    ("multi_head_attention", {"num_heads": 4, "causal": True}),
    ("transformer_encoder_layer", {"nhead": 2, "dim_feedforward": 12, "norm_first": True, "activation": "gelu"}),
]  # the plain RNN's unrolled export is slow; the parity test folds it back


def test_onnx_decompositions_fold_back_into_one_layer_each(tmp_path):
    g = Graph()
    for layer in LAYERS:
        chain(g, ("input", {"shape": [5, 8]}), (layer[0], {**layer[1], "dropout": 0.0}), "output")
    model = compile_graph(g, seed=1).eval()
    export_onnx(g, model, tmp_path / "m.onnx")
    result = import_onnx(tmp_path / "m.onnx", [(5, 8)] * len(LAYERS))
    assert _types(result) == sorted(t for t, _ in LAYERS)
    for type_id, params in LAYERS:
        node = next(n for n in result.graph.nodes if n.type == type_id)
        assert {k: node.params[k] for k in params} == params
    assert result.max_difference <= 1e-5


class _Lookups(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(10, 4, max_norm=1.0, padding_idx=0)
        self.bag = nn.EmbeddingBag(10, 4, mode="sum")
        self.bil = nn.Bilinear(4, 4, 3)

    def forward(self, tokens):
        return self.bil(self.emb(tokens).mean(1), self.bag(tokens))


def test_embedding_max_norm_embedding_bag_and_bilinear_import_from_pytorch():
    result = import_module(_Lookups(), [(6,)], ["long"])
    assert {"bilinear", "embedding", "embedding_bag"} <= set(_types(result))
    emb = next(n for n in result.graph.nodes if n.type == "embedding")
    assert emb.params["max_norm"] == 1.0 and emb.params["padding_idx"] == 0


def test_embedding_bag_with_offsets_is_refused_with_the_reason():
    class Offsets(nn.Module):
        def __init__(self):
            super().__init__()
            self.bag = nn.EmbeddingBag(10, 4)

        def forward(self, tokens):
            return self.bag(tokens.flatten(), torch.arange(0, tokens.numel(), 3))

    with pytest.raises(ModelImportError):
        import_module(Offsets(), [(6,)], ["long"])
