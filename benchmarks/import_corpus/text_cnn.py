"""A CNN for sentence classification: embeddings transposed to channels, several
kernel sizes in an nn.ModuleList, max-pool over the whole length with the size
read from the tensor, concatenation, dropout and a linear head."""

import torch
import torch.nn as nn
import torch.nn.functional as F


class TextCNN(nn.Module):
    def __init__(self, vocab_size=300, embed_dim=24, num_filters=8, kernel_sizes=(2, 3, 4), num_classes=2):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_dim)
        self.convs = nn.ModuleList([nn.Conv1d(embed_dim, num_filters, k) for k in kernel_sizes])
        self.dropout = nn.Dropout(0.5)
        self.fc = nn.Linear(num_filters * len(kernel_sizes), num_classes)

    def forward(self, x):
        x = self.embedding(x).permute(0, 2, 1)
        pooled = []
        for conv in self.convs:
            h = F.relu(conv(x))
            h = F.max_pool1d(h, h.size(2)).squeeze(2)
            pooled.append(h)
        x = torch.cat(pooled, 1)
        return self.fc(self.dropout(x))
