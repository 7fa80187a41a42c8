"""A Siamese network: one convolutional trunk applied to both images (the same
module called twice), the absolute difference of the embeddings, a linear
similarity head."""

import torch
import torch.nn as nn


class SiameseNet(nn.Module):
    def __init__(self, embed=16):
        super().__init__()
        self.trunk = nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(16 * 4 * 4, embed),
        )
        self.head = nn.Linear(embed, 1)

    def forward_one(self, x):
        return self.trunk(x)

    def forward(self, x1, x2):
        a = self.forward_one(x1)
        b = self.forward_one(x2)
        return torch.sigmoid(self.head(torch.abs(a - b)))
