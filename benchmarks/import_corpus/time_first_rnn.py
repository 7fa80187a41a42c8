"""Recurrent models written time-first (the nn.GRU/nn.LSTM default,
batch_first=False): inputs (T, B, F), an initial state built from x.size(1),
the last step taken with output[-1]; and an LSTM whose state tuple is given."""

import torch
import torch.nn as nn


class TimeFirstGRU(nn.Module):
    def __init__(self, input_size=4, hidden_size=16, num_classes=3):
        super().__init__()
        self.hidden_size = hidden_size
        self.gru = nn.GRU(input_size, hidden_size)
        self.fc = nn.Linear(hidden_size, num_classes)

    def forward(self, x):
        h0 = torch.zeros(1, x.size(1), self.hidden_size, device=x.device)
        output, hidden = self.gru(x, h0)
        return self.fc(output[-1])


class StatefulLSTM(nn.Module):
    def __init__(self, input_size=4, hidden_size=12, output_size=2):
        super().__init__()
        self.lstm = nn.LSTM(input_size, hidden_size, batch_first=True)
        self.fc = nn.Linear(hidden_size, output_size)

    def forward(self, x, h0, c0):
        out, (h, c) = self.lstm(x, (h0, c0))
        return self.fc(out[:, -1])
