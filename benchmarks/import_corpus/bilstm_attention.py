"""A bidirectional LSTM with attention pooling: a score per step, softmax over
time, the weighted sum of the steps."""

import torch
import torch.nn as nn
import torch.nn.functional as F


class BiLSTMAttention(nn.Module):
    def __init__(self, vocab_size=150, embed_dim=16, hidden=12, num_classes=2):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_dim)
        self.lstm = nn.LSTM(embed_dim, hidden, batch_first=True, bidirectional=True)
        self.attn = nn.Linear(2 * hidden, 1)
        self.fc = nn.Linear(2 * hidden, num_classes)

    def forward(self, tokens):
        out, _ = self.lstm(self.embedding(tokens))      # (B, T, 2H)
        scores = self.attn(torch.tanh(out)).squeeze(-1)  # (B, T)
        weights = F.softmax(scores, dim=1)
        context = (weights.unsqueeze(-1) * out).sum(dim=1)
        return self.fc(context)
