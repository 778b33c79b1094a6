"""Feature extraction: an objective's encoder features for a split of a dataset, in chunks, in eval mode."""

from __future__ import annotations

import torch

from sslterm.data import Dataset
from sslterm.objectives.base import Objective

CHUNK = 512
"""Examples encoded per forward pass."""


@torch.no_grad()
def extract(objective: Objective, data: Dataset, split: str, n: int, device: torch.device) -> torch.Tensor:
    """Encoder features [n, D] of the first ``n`` examples of ``split``, in chunks, eval mode (restored after)."""
    was = objective.training
    objective.eval()
    try:
        idx = torch.arange(n, device=device)
        return torch.cat([objective.features(data.batch(split, chunk)) for chunk in idx.split(CHUNK)])
    finally:
        objective.train(was)
