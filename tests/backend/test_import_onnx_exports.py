"""Importing what torch's ONNX exporter writes for code people write: adaptive
average pooling whose windows overlap (a Transpose that moves the batch, GatherND,
ReduceMean) and learned query tokens attending with nn.MultiheadAttention."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from layerloom.backend.importers import ModelImportError, import_onnx


def _export(model: nn.Module, shape, path):
    batch = torch.export.Dim("batch")
    torch.onnx.export(model, (torch.randn(3, *shape),), path, dynamo=True, dynamic_shapes=({0: batch},))
    return path


def _types(result) -> list[str]:
    return [n.type for n in result.graph.nodes]


class PooledHead(nn.Module):
    """AlexNet's head: features of 3x3 pooled to 2x2 (overlapping windows)."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 4, 3, stride=2), nn.ReLU(inplace=True))
        self.avgpool = nn.AdaptiveAvgPool2d((2, 2))
        self.classifier = nn.Linear(4 * 2 * 2, 5)

    def forward(self, x):
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


class QueryPooler(nn.Module):
    """Learned queries repeated over the batch attend to the projected input."""

    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(6, 8)
        self.queries = nn.Parameter(torch.randn(3, 8))
        self.attn = nn.MultiheadAttention(8, 2, batch_first=True)
        self.out = nn.Linear(8, 2)

    def forward(self, x):
        kv = self.inp(x)
        q = self.queries.unsqueeze(0).repeat(x.size(0), 1, 1)
        out, _ = self.attn(q, kv, kv, need_weights=False)
        return self.out(out.mean(dim=1))


def test_overlapping_adaptive_average_pooling_comes_back_as_one_layer(tmp_path):
    model = PooledHead().eval()
    result = import_onnx(_export(model, (3, 7, 7), tmp_path / "head.onnx"))
    (pool,) = [n for n in result.graph.nodes if n.type == "adaptive_avg_pool2d"]
    assert tuple(pool.params["output_size"]) == (2, 2)
    assert "transpose" not in _types(result) and "permute" not in _types(result)
    x = torch.randn(4, 3, 7, 7)
    assert torch.allclose(result.model(x), model(x), atol=1e-5)


def test_a_gather_that_is_not_adaptive_pooling_is_refused(tmp_path):
    class Corners(nn.Module):
        def forward(self, x):  # spatial first, pick two rows, batch back in front, average
            y = x.permute(2, 3, 0, 1)[torch.tensor([0, 2])]
            return y.permute(2, 3, 0, 1).mean(dim=(3,))

    path = tmp_path / "corners.onnx"
    try:
        _export(Corners().eval(), (2, 3, 3), path)
    except Exception:
        pytest.skip("the exporter writes this model differently")
    with pytest.raises(ModelImportError, match="which is not adaptive average pooling"):
        import_onnx(path)


def test_learned_queries_are_the_attention_s_query_input(tmp_path):
    model = QueryPooler().eval()
    result = import_onnx(_export(model, (5, 6), tmp_path / "pooler.onnx"))
    (attn,) = [n for n in result.graph.nodes if n.type == "multi_head_attention"]
    assert attn.params["mode"] == "cross" and attn.params["num_heads"] == 2
    assert "parameter" in _types(result)  # the queries, learned
    assert result.graph.analysis().total_params == sum(p.numel() for p in model.parameters())
    x = torch.randn(4, 5, 6)
    assert torch.allclose(result.model(x), model(x), atol=1e-5)
