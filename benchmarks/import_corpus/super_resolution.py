"""A super-resolution net: convolutions with instance norm and ReLU, a residual
body, and sub-pixel upsampling (Conv2d to C*r^2 channels, nn.PixelShuffle)."""

import torch.nn as nn
import torch.nn.functional as F


class ResidualBlock(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.in1 = nn.InstanceNorm2d(channels, affine=True)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.in2 = nn.InstanceNorm2d(channels, affine=True)

    def forward(self, x):
        residual = x
        out = F.relu(self.in1(self.conv1(x)))
        out = self.in2(self.conv2(out))
        return out + residual


class SuperResolutionNet(nn.Module):
    def __init__(self, upscale_factor=2, channels=16, blocks=2):
        super().__init__()
        self.head = nn.Sequential(nn.Conv2d(1, channels, 5, padding=2), nn.ReLU(inplace=True))
        self.body = nn.Sequential(*[ResidualBlock(channels) for _ in range(blocks)])
        self.tail = nn.Conv2d(channels, upscale_factor ** 2, 3, padding=1)
        self.pixel_shuffle = nn.PixelShuffle(upscale_factor)

    def forward(self, x):
        x = self.head(x)
        x = self.body(x)
        return self.pixel_shuffle(self.tail(x))
