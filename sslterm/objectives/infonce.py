"""Contrastive InfoNCE / NT-Xent loss (SimCLR).

Chen, Kornblith, Norouzi, Hinton, "A Simple Framework for Contrastive Learning of Visual
Representations", ICML 2020. For embeddings z1, z2 [B, D] of two views of the same B examples,
with u = normalise(concat(z1, z2)) [2B, D] and s_ij = u_i·u_j / τ,

    loss = -1/(2B) Σ_i log( exp(s_{i,p(i)}) / Σ_{k≠i} exp(s_ik) ),   p(i) = i ± B,

so each view's positive is the other view of its example and the 2B - 2 other embeddings are
its negatives.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def info_nce(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> tuple[torch.Tensor, torch.Tensor]:
    """NT-Xent over two views [B, D]: returns (loss, accuracy of picking the positive), no sync."""
    if z1.shape != z2.shape or z1.dim() != 2:
        raise ValueError(f"expected two [B, D] tensors of one shape, got {tuple(z1.shape)} and {tuple(z2.shape)}")
    b = z1.shape[0]
    if b < 2:
        raise ValueError("InfoNCE needs at least 2 examples per batch (the others are the negatives)")
    u = F.normalize(torch.cat([z1, z2]), dim=1)                     # [2B, D]
    logits = u @ u.T / temperature                                  # [2B, 2B]
    self_mask = torch.eye(2 * b, dtype=torch.bool, device=u.device)
    logits = logits.masked_fill(self_mask, float("-inf"))
    target = torch.cat([torch.arange(b, 2 * b), torch.arange(0, b)]).to(u.device)  # [2B]
    loss = F.cross_entropy(logits, target)
    acc = (logits.argmax(dim=1) == target).float().mean()
    return loss, acc


class InfoNCE(nn.Module):
    """SimCLR's NT-Xent loss with temperature τ; ``forward(z1, z2)`` → (loss, metrics)."""

    views = 2

    def __init__(self, temperature: float = 0.2) -> None:
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        self.temperature = temperature

    def forward(self, z1: torch.Tensor, z2: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        loss, acc = info_nce(z1, z2, self.temperature)
        return loss, {"pos_acc": acc}
