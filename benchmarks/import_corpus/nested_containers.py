"""Nested containers: an nn.ModuleDict of branches chosen by name, an
nn.ModuleList walked in a loop, nn.Sequential inside nn.Sequential, and the
branch outputs summed."""

import torch.nn as nn


class NestedNet(nn.Module):
    def __init__(self, dim=16, classes=5):
        super().__init__()
        self.stem = nn.Sequential(nn.Sequential(nn.Linear(dim, 32), nn.ReLU()), nn.LayerNorm(32))
        self.branches = nn.ModuleDict({
            "wide": nn.Sequential(nn.Linear(32, 48), nn.ReLU(), nn.Linear(48, 32)),
            "narrow": nn.Sequential(nn.Linear(32, 8), nn.Tanh(), nn.Linear(8, 32)),
        })
        self.refine = nn.ModuleList([nn.Sequential(nn.Linear(32, 32), nn.SiLU()) for _ in range(3)])
        self.head = nn.Linear(32, classes)

    def forward(self, x):
        x = self.stem(x)
        x = sum(branch(x) for branch in self.branches.values()) + x
        for layer in self.refine:
            x = x + layer(x)
        return self.head(x)
