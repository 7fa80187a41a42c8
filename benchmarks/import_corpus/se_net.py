"""Squeeze-and-excitation: channel statistics by x.mean((2, 3)), a bottleneck of
two linear layers, a sigmoid gate viewed back to (b, c, 1, 1) and multiplied in;
a small CNN built from such blocks with a Dropout2d."""

import torch.nn as nn


class SEBlock(nn.Module):
    def __init__(self, channels, reduction=4):
        super().__init__()
        self.fc = nn.Sequential(
            nn.Linear(channels, channels // reduction, bias=False),
            nn.ReLU(inplace=True),
            nn.Linear(channels // reduction, channels, bias=False),
            nn.Sigmoid(),
        )

    def forward(self, x):
        b, c, _, _ = x.size()
        y = x.mean((2, 3))
        y = self.fc(y).view(b, c, 1, 1)
        return x * y.expand_as(x)


class SENet(nn.Module):
    def __init__(self, classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, padding=1)
        self.se1 = SEBlock(16)
        self.conv2 = nn.Conv2d(16, 32, 3, stride=2, padding=1)
        self.se2 = SEBlock(32)
        self.drop = nn.Dropout2d(0.1)
        self.fc = nn.Linear(32, classes)

    def forward(self, x):
        x = self.se1(self.conv1(x).relu())
        x = self.drop(self.se2(self.conv2(x).relu()))
        return self.fc(x.mean(dim=(2, 3)))
