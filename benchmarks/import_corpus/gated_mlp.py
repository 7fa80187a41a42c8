"""A gated MLP with a residual scaled by a learned scalar: GLU-style gating by
chunk, a learned layer scale (nn.Parameter) multiplied in, and RMS-like
normalisation written with pow, mean and rsqrt."""

import torch
import torch.nn as nn
import torch.nn.functional as F


class RMSNorm(nn.Module):
    def __init__(self, dim, eps=1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


class GatedBlock(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.norm = RMSNorm(dim)
        self.w_in = nn.Linear(dim, 2 * hidden)
        self.w_out = nn.Linear(hidden, dim)
        self.gamma = nn.Parameter(torch.full((dim,), 0.5))

    def forward(self, x):
        a, b = self.w_in(self.norm(x)).chunk(2, dim=-1)
        return x + self.gamma * self.w_out(F.silu(a) * b)


class GatedMLP(nn.Module):
    def __init__(self, dim=24, hidden=48, depth=2, classes=3):
        super().__init__()
        self.blocks = nn.ModuleList(GatedBlock(dim, hidden) for _ in range(depth))
        self.head = nn.Linear(dim, classes)

    def forward(self, x):
        for block in self.blocks:
            x = block(x)
        return self.head(x)
