"""Text classifiers: a bag of embeddings (nn.EmbeddingBag, mean of each row of
token ids) and an nn.Embedding averaged over the sequence with .mean(dim=1)."""

import torch.nn as nn


class BagClassifier(nn.Module):
    def __init__(self, vocab_size=200, embed_dim=32, num_class=4):
        super().__init__()
        self.embedding = nn.EmbeddingBag(vocab_size, embed_dim, mode="mean")
        self.fc = nn.Linear(embed_dim, num_class)
        self.init_weights()

    def init_weights(self):
        initrange = 0.5
        self.embedding.weight.data.uniform_(-initrange, initrange)
        self.fc.weight.data.uniform_(-initrange, initrange)
        self.fc.bias.data.zero_()

    def forward(self, text):
        return self.fc(self.embedding(text))


class MeanEmbeddingClassifier(nn.Module):
    def __init__(self, vocab_size=200, embed_dim=32, hidden=32, num_class=3):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embed_dim)
        self.dropout = nn.Dropout(0.3)
        self.fc1 = nn.Linear(embed_dim, hidden)
        self.out = nn.Linear(hidden, num_class)

    def forward(self, tokens):
        emb = self.embed(tokens)          # (B, T, E)
        pooled = emb.mean(dim=1)          # (B, E)
        h = self.dropout(pooled).relu()
        return self.out(self.fc1(h).relu())
