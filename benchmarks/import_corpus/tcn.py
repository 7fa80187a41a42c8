"""A temporal convolutional network: dilated causal 1-d convolutions, causal
padding done with F.pad on the left, residual blocks with a 1x1 convolution when
the channels change, prediction from the last step."""

import torch.nn as nn
import torch.nn.functional as F


class CausalConvBlock(nn.Module):
    def __init__(self, cin, cout, kernel_size, dilation):
        super().__init__()
        self.pad = (kernel_size - 1) * dilation
        self.conv1 = nn.Conv1d(cin, cout, kernel_size, dilation=dilation)
        self.conv2 = nn.Conv1d(cout, cout, kernel_size, dilation=dilation)
        self.downsample = nn.Conv1d(cin, cout, 1) if cin != cout else None

    def forward(self, x):
        out = F.relu(self.conv1(F.pad(x, (self.pad, 0))))
        out = F.relu(self.conv2(F.pad(out, (self.pad, 0))))
        res = x if self.downsample is None else self.downsample(x)
        return F.relu(out + res)


class TCN(nn.Module):
    def __init__(self, in_ch=2, channels=(8, 8, 12), kernel_size=3, out_dim=1):
        super().__init__()
        layers = []
        for i, c in enumerate(channels):
            layers.append(CausalConvBlock(in_ch if i == 0 else channels[i - 1], c, kernel_size, 2 ** i))
        self.network = nn.Sequential(*layers)
        self.linear = nn.Linear(channels[-1], out_dim)

    def forward(self, x):
        # x: (batch, time, features) -> (batch, features, time)
        y = self.network(x.transpose(1, 2))
        return self.linear(y[:, :, -1])
