"""A time-series regressor: a batch-first two-layer LSTM, the last step's
output through a linear layer; and a variant that reads the final hidden state
from the (h, c) tuple."""

import torch.nn as nn


class LSTMRegressor(nn.Module):
    def __init__(self, input_size=3, hidden_size=16, num_layers=2, output_size=1):
        super().__init__()
        self.lstm = nn.LSTM(input_size, hidden_size, num_layers, batch_first=True)
        self.fc = nn.Linear(hidden_size, output_size)

    def forward(self, x):
        out, _ = self.lstm(x)
        return self.fc(out[:, -1, :])


class LSTMLastHidden(nn.Module):
    def __init__(self, input_size=3, hidden_size=16, output_size=2):
        super().__init__()
        self.lstm = nn.LSTM(input_size, hidden_size, batch_first=True)
        self.head = nn.Linear(hidden_size, output_size)

    def forward(self, x):
        _, (h, c) = self.lstm(x)
        return self.head(h[-1])
