"""A convolutional autoencoder: encoder with strided convolutions, decoder with
F.interpolate (nearest, scale 2) and convolutions, a sigmoid output; the
reconstruction is returned with the latent code flattened."""

import torch
import torch.nn as nn
import torch.nn.functional as F


class ConvAutoencoder(nn.Module):
    def __init__(self, ch=8):
        super().__init__()
        self.enc1 = nn.Conv2d(1, ch, 3, stride=2, padding=1)
        self.enc2 = nn.Conv2d(ch, 2 * ch, 3, stride=2, padding=1)
        self.dec1 = nn.Conv2d(2 * ch, ch, 3, padding=1)
        self.dec2 = nn.Conv2d(ch, 1, 3, padding=1)

    def forward(self, x):
        z = F.relu(self.enc2(F.relu(self.enc1(x))))
        y = F.interpolate(z, scale_factor=2, mode="nearest")
        y = F.relu(self.dec1(y))
        y = F.interpolate(y, scale_factor=2, mode="nearest")
        y = torch.sigmoid(self.dec2(y))
        return y, torch.flatten(z, start_dim=1)
