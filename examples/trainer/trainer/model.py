"""The model: a two-layer perceptron, small enough that a checkpoint is a few hundred bytes."""

from __future__ import annotations

import torch
from torch import nn


class TinyRegressor(nn.Module):
    """Maps ``in_features`` inputs to one output through a small hidden layer."""

    def __init__(self, in_features: int = 4, hidden: int = 8) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(in_features, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.net(x)
        return out
