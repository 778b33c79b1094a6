"""The encoder interface every architecture implements."""

from __future__ import annotations

import torch
from torch import nn


class Encoder(nn.Module):
    """Maps a batch to features: ``encoder(**batch)`` → pooled features [B, out_dim].

    Sequence-like encoders (transformers over tokens, patches or frames) also give per-position
    features with :meth:`tokens`, which masked and next-token objectives need.
    """

    out_dim: int

    def tokens(self, x: torch.Tensor, **batch: torch.Tensor) -> torch.Tensor:
        """Per-position features [B, T, D]; not every encoder has them."""
        raise NotImplementedError(f"{type(self).__name__} has no per-position features")
