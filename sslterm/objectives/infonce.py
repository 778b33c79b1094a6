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

from sslterm import catalog
from sslterm.data import Batch
from sslterm.models import Projector
from sslterm.objectives.base import Augment, Context, Loss, Objective
from sslterm.utils.dist import gather


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
    target = torch.cat([torch.arange(b, 2 * b, device=u.device), torch.arange(0, b, device=u.device)])
    loss = F.cross_entropy(logits, target)
    acc = (logits.argmax(dim=1) == target).float().mean()
    return loss, acc


def concat_views(v1: Batch, v2: Batch) -> Batch:
    """Two views of a batch as one batch of 2B (one encoder pass, batch norm over both)."""
    return {k: torch.cat([v1[k], v2[k]]) for k in v1}


_DEFAULTS = catalog.get("objective", "infonce").defaults()
"""InfoNCE's defaults: the catalog declares them, once."""


class InfoNCE(Objective):
    """SimCLR: two augmented views, encoder, projector, NT-Xent with temperature τ."""

    def __init__(self, ctx: Context, temperature: float = _DEFAULTS["temperature"]) -> None:
        super().__init__(ctx)
        catalog.check_args("objective", "infonce", temperature=temperature)
        self.temperature = temperature
        self.projector = Projector(ctx.encoder.out_dim, ctx.projector_hidden, ctx.projector_dim)

    def forward(self, batch: Batch, augment: Augment, gen: torch.Generator) -> Loss:
        views = concat_views(augment(batch, gen), augment(batch, gen))  # [2B, ...]
        z1, z2 = self.projector(self.encoder(**views)).chunk(2)          # [B, D] each
        loss, acc = info_nce(gather(z1), gather(z2), self.temperature)   # negatives from every process
        return loss, {"pos_acc": acc}

    @torch.no_grad()
    def embed(self, batch: Batch) -> torch.Tensor:
        return self.projector(self.encoder(**batch))
