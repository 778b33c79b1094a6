"""Heads that objectives put on top of an encoder's features."""

from __future__ import annotations

import torch
from torch import nn


class Projector(nn.Module):
    """Two-layer MLP head (Linear → BN → ReLU → Linear) mapping features to the loss space."""

    def __init__(self, in_dim: int, hidden: int, out_dim: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(in_dim, hidden), nn.BatchNorm1d(hidden), nn.ReLU(),
                                 nn.Linear(hidden, out_dim))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.net(h)
