"""Learned query tokens attending to the input sequence (a Perceiver-style
resampler): nn.Parameter queries repeated over the batch, nn.MultiheadAttention
with batch_first=True, and the mean of the attended tokens."""

import torch
import torch.nn as nn


class QueryPooler(nn.Module):
    def __init__(self, in_dim=6, dim=16, num_queries=4, heads=2, classes=3):
        super().__init__()
        self.inp = nn.Linear(in_dim, dim)
        self.queries = nn.Parameter(torch.randn(num_queries, dim) * 0.1)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.ff = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, classes))

    def forward(self, x):
        kv = self.inp(x)
        q = self.queries.unsqueeze(0).repeat(x.size(0), 1, 1)
        out, _ = self.attn(q, kv, kv, need_weights=False)
        return self.ff(out.mean(dim=1))
