"""An actor-critic policy network: a shared body, a policy head giving action
probabilities and a value head, returned as a tuple."""

import torch.nn as nn
import torch.nn.functional as F


class ActorCritic(nn.Module):
    def __init__(self, obs_dim=8, n_actions=4, hidden=64):
        super().__init__()
        self.affine1 = nn.Linear(obs_dim, hidden)
        self.affine2 = nn.Linear(hidden, hidden)
        self.action_head = nn.Linear(hidden, n_actions)
        self.value_head = nn.Linear(hidden, 1)

    def forward(self, x):
        x = F.relu(self.affine1(x))
        x = F.tanh(self.affine2(x))
        action_prob = F.softmax(self.action_head(x), dim=-1)
        state_values = self.value_head(x)
        return action_prob, state_values
